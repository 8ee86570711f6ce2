"""How long ``python -m lit_draw`` takes to answer: ``python benchmarks/startup.py [--repeats N]``.

Prints, for each command line below, the median wall time of ``N`` fresh processes (each run in an
empty temporary folder, W&B offline), and whether it answered as expected (its exit status). Issue 35
aims at under 1.5 s for each on an idle machine; run it on one (``nice`` and a loaded machine slow
every number alike).
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time

#: (what it is, the arguments, the exit status it should give)
CASES = (
    ("no command (refused)", [], 1),
    ("unknown command (refused)", ["frobnicate"], 1),
    ("--help", ["--help"], 0),
    ("fit --help", ["fit", "--help"], 0),
    ("reproduce --help", ["reproduce", "--help"], 0),
    ("a bad option (refused)", ["fit", "--data.batch_size=0"], 1),
)


def measure(args: list[str], repeats: int) -> tuple[float, int]:
    """The median seconds ``python -m lit_draw <args>`` takes, and its exit status."""
    times, status = [], 0
    env = {**os.environ, "WANDB_MODE": "offline"}
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as folder:
            start = time.perf_counter()
            status = subprocess.run([sys.executable, "-m", "lit_draw", *args], cwd=folder, env=env,
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
            times.append(time.perf_counter() - start)
    return statistics.median(times), status


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="processes per command line (default 3)")
    repeats = parser.parse_args().repeats
    print(f"python -m lit_draw start-up, median of {repeats} processes each ({os.cpu_count()} CPUs, load "
          f"{os.getloadavg()[0]:.1f}):")
    for name, args, expected in CASES:
        seconds, status = measure(args, repeats)
        flag = "" if status == expected else f"  (exit status {status}, expected {expected})"
        print(f"  {seconds:6.2f} s  {name}: python -m lit_draw {' '.join(args)}{flag}")


if __name__ == "__main__":
    main()
