"""``python -m lit_draw sweep SWEEP.yaml [--count N] [--jobs N] [-- ARGS]``: run a W&B sweep on this machine, no W&B server.

A sweep file in ``sweeps/`` is a standard W&B sweep config: ``wandb sweep sweeps/x.yaml`` then
``wandb agent <id>`` runs it with W&B's servers choosing the parameters. Offline, or on a cluster
that cannot reach W&B, this command runs the same file locally, and mimics the agent:

* parameter values come from W&B's own sweep engine (the ``sweeps`` package: ``grid``, ``random``
  and ``bayes``; ``bayes`` is fitted to the ``metric`` of the runs so far);
* each run is a subprocess started with the argv the W&B agent would give it (the sweep's
  ``command`` with ``${env}``, ``${interpreter}``, ``${program}``, ``${args}`` and the other
  ``${args_*}`` macros expanded by wandb's own helpers; ``${interpreter}`` is this Python), with the
  agent's ``WANDB_RUN_ID`` and ``WANDB_SWEEP_PARAM_PATH`` (``wandb/sweep-<id>/config-<run>.yaml``),
  so each run's W&B config holds its sweep parameters as under the agent;
* all runs of one local sweep share the W&B group ``<sweep name>-<sweep id>`` (``WANDB_RUN_GROUP``);
* a run of ``python -m lit_draw`` gets one more argument, the callback :class:`SweepSummary`
  (``--trainer.callbacks+=...``, so it is in the printed command and the run's resolved config),
  which writes the run's last logged metrics where the sweep reads its ``metric`` (W&B's server
  keeps that summary under the agent).

``early_terminate`` is ignored: every run trains to the end. A failed run is recorded and the sweep
goes on; the command exits non-zero at the end if any run failed. Before the first run starts,
every parameter key is checked against ``python -m lit_draw``'s parser (one line names the first
key it rejects).

**A trial run.** Arguments after ``--`` go at the end of every run's command line, after the sweep's
own parameters, so they win over the sweep file and its config (the CLI takes the last value given),
and they are checked with the parameters before the first run starts::

    python -m lit_draw sweep sweeps/loss_weighting.yaml --count 2 -- --trainer.max_steps=20 \\
        --trainer.val_check_interval=10 --data.val_size=256 --trainer.default_root_dir=runs/trial

tries two points of the grid at 20 updates each (minutes, where the sweep takes hours; each sweep
file's header estimates its full cost). They are this command's own: ``wandb agent`` runs the file
as it is.

**Installing the engine** (W&B's ``sweeps`` package) keeps numpy 2 this way::

    pip install -e ".[sweep]"                  # the engine's dependencies (scipy, scikit-learn, ...)
    pip install --no-deps "sweeps==0.3.0"      # the engine itself, without its numpy<2 pin

``sweeps`` 0.3.0 declares ``numpy<2`` (pip would downgrade numpy to 1.26) but runs on numpy 2, as
this project's tests check; so the ``sweep`` extra lists only the engine's dependencies, and the
engine itself goes in with ``--no-deps``. The same recipe is :data:`INSTALL_RECIPE` (what the error
without the engine says) and what ``.ci/run`` installs.

The engine and the W&B SDK's agent helpers are not public APIs: this module reaches them only through
:mod:`lit_draw.experiments.wandb_sweeps`.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import yaml
from lightning.pytorch import Callback, LightningModule, Trainer

from lit_draw.errors import ConfigError
from lit_draw.experiments import wandb_sweeps
from lit_draw.experiments.wandb_sweeps import INSTALL_HINT, INSTALL_RECIPE, Trial, engine_available

__all__ = [
    "INSTALL_HINT",
    "INSTALL_RECIPE",
    "SweepSummary",
    "Trial",
    "agent_argv",
    "check_parameters",
    "engine_available",
    "grid_points",
    "lit_draw_args",
    "load_sweep",
    "main",
    "run_sweep",
    "summary_argument",
]

#: The ``method`` values W&B's engine runs here (``custom`` needs W&B's server).
LOCAL_METHODS = ("grid", "random", "bayes")


class SweepSummary(Callback):
    """Writes the scalars a fit logged last (``trainer.callback_metrics``) to ``path`` as JSON, on
    rank zero at the end of the fit: the local sweep reads the sweep's ``metric`` from it.

    Args:
        path: the JSON file (``wandb/sweep-<id>/summary-<run id>.json``).
    """

    def __init__(self, path: str) -> None:
        self.path = path

    def on_fit_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.is_global_zero:
            metrics = {key: value.item() for key, value in trainer.callback_metrics.items() if value.numel() == 1}
            Path(self.path).write_text(json.dumps(metrics))


def summary_argument(path: str | Path) -> str:
    """The ``python -m lit_draw fit`` argument that adds :class:`SweepSummary` writing to ``path``."""
    callback = {
        "class_path": f"{SweepSummary.__module__}.{SweepSummary.__qualname__}",
        "init_args": {"path": str(path)},
    }
    return f"--trainer.callbacks+={json.dumps(callback)}"


def lit_draw_args(argv: list[str]) -> list[str] | None:
    """The arguments after ``-m lit_draw`` in ``argv``; ``None`` when ``argv`` does not run ``python -m lit_draw``."""
    if "lit_draw" not in argv or argv.index("lit_draw") == 0 or argv[argv.index("lit_draw") - 1] != "-m":
        return None
    return argv[argv.index("lit_draw") + 1 :]


def load_sweep(path: str | Path) -> dict[str, Any]:
    """Read a sweep file and check it against W&B's sweep schema.

    Raises:
        ConfigError: the file is missing, is not YAML, or is not a valid W&B sweep config (every
            violation is named).
    """
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"sweep file {path}: no such file")
    try:
        config = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        raise ConfigError(f"sweep file {path}: not valid YAML ({' '.join(str(error).split())})") from error
    if not isinstance(config, dict):
        raise ConfigError(f"{path} must hold a W&B sweep config (a mapping), got {type(config).__name__}")
    violations = wandb_sweeps.schema_violations(config)
    if violations:
        raise ConfigError(f"{path} is not a valid W&B sweep config: " + "; ".join(violations))
    if config["method"] not in LOCAL_METHODS:
        raise ConfigError(
            f"{path}: method must be one of {', '.join(LOCAL_METHODS)} to run here, got {config['method']!r}"
        )
    return config


def check_parameters(sweep: dict[str, Any], path: str | Path, overrides: list[str] | None = None) -> None:
    """Check the sweep's parameter keys and the ``overrides`` against ``python -m lit_draw``'s
    parser, with the first values the engine proposes, before any run starts (a sweep whose command
    does not run ``-m lit_draw`` is not checked).

    Raises:
        ConfigError: naming the sweep file and the parser's complaint.
    """
    from lit_draw.cli import check_args

    trial = wandb_sweeps.next_trial(sweep, [])
    if trial is None:
        return
    args = lit_draw_args([*agent_argv(sweep, trial.params), *(overrides or [])])
    if args is None:
        return
    try:
        check_args([*args, summary_argument("summary.json")])
    except ConfigError as error:
        raise ConfigError(f"{path}: its runs would fail: {error}") from error


def agent_argv(sweep: dict[str, Any], params: dict[str, Any], args_json_file: str = "") -> list[str]:
    """The command W&B's agent starts for one run (``wandb.wandb_agent.Agent._command_run``).

    Args:
        sweep: the sweep config (its ``command`` and ``program``).
        params: parameter name -> value for this run (``{"model.objective.init_args.weighting": "last", ...}``).
        args_json_file: where ``${args_json_file}`` points (the caller writes it).

    Returns:
        The argv, e.g. ``[/usr/bin/env, <python>, -m, lit_draw, fit, --config, c.yaml,
        --model.objective.init_args.weighting=last]``.
    """
    macros = wandb_sweeps.args_macros(params)
    macros.update(
        interpreter=[sys.executable],
        program=[str(sweep["program"])] if "program" in sweep else [],
        args_json_file=[args_json_file],
        env=["/usr/bin/env"] if os.name != "nt" else [],
    )
    argv: list[str] = []
    for chunk in wandb_sweeps.agent_command(sweep):
        if chunk.startswith("${") and chunk.endswith("}"):
            argv += macros.get(chunk[2:-1]) or []
        else:
            argv.append(chunk)
    return argv


def grid_points(sweep: dict[str, Any]) -> list[dict[str, Any]]:
    """Every parameter set of a ``grid`` sweep, in the order W&B's engine proposes them."""
    if sweep.get("method") != "grid":
        raise ConfigError(f"method must be 'grid' to enumerate a sweep, got {sweep.get('method')!r}")
    trials: list[Trial] = []
    while (trial := wandb_sweeps.next_trial(sweep, trials)) is not None:
        trial.state = "finished"
        trials.append(trial)
    return [trial.params for trial in trials]


def run_sweep(
    path: str | Path, count: int | None = None, overrides: list[str] | None = None, jobs: int = 1
) -> list[Trial]:
    """Run the sweep of ``path`` here, ``jobs`` runs at a time (as that many W&B agents would).

    Args:
        path: a W&B sweep file.
        count: stop after this many runs; ``None`` runs a grid to its end (required for
            ``random`` and ``bayes``, which never end).
        overrides: arguments added at the end of every run's command line, after the sweep's
            parameters (so they win over them): a trial run's smaller budget.
        jobs: runs side by side, each a process of its own (give each one thread: ``OMP_NUM_THREADS``).
            The engine is asked for the next run whenever one ends, knowing which still run, so a
            grid gives each of its points once; ``bayes`` proposes without the running runs' metrics,
            as W&B's server does for agents side by side.

    Returns:
        One :class:`Trial` a run (``name`` is the W&B run id, ``state`` finished or failed,
        ``summary_metrics`` the run's last logged metrics).
    """
    sweep = load_sweep(path)  # the file first: a missing or bad file is named before the engine is asked for
    if count is None and sweep["method"] != "grid":
        raise ConfigError(f"--count is required for method {sweep['method']!r} (only a grid ends by itself)")
    if count is not None and count < 1:
        raise ConfigError(f"--count must be >= 1, got {count}")
    if jobs < 1:
        raise ConfigError(f"--jobs must be >= 1, got {jobs}")
    overrides = list(overrides or [])
    check_parameters(sweep, path, overrides)
    sweep_id = wandb_sweeps.new_run_id()
    group = f"{sweep.get('name') or Path(path).stem}-{sweep_id}"
    directory = Path(os.environ.get("WANDB_DIR", ".")).resolve() / "wandb" / f"sweep-{sweep_id}"
    directory.mkdir(parents=True, exist_ok=True)
    runs: list[Trial] = []  # in the order they started
    running: dict[str, subprocess.Popen] = {}
    while True:
        while len(running) < jobs and (count is None or len(runs) < count):
            run = wandb_sweeps.next_trial(sweep, runs)
            if run is None:
                break
            run.name, run.state = wandb_sweeps.new_run_id(), "running"
            running[run.name] = _start_run(sweep, run, directory, group, overrides, len(runs) + 1)
            runs.append(run)
        if not running:
            return runs
        _wait_for_one(runs, running, directory)


def _start_run(
    sweep: dict[str, Any], run: Trial, directory: Path, group: str, overrides: list[str], number: int
) -> subprocess.Popen:
    """Start one run as W&B's agent would (its parameters written where the agent writes them)."""
    param_path = directory / f"config-{run.name}.yaml"
    args_json = directory / f"config-{run.name}.json"
    wandb_sweeps.save_params(str(param_path), run.params)
    args_json.write_text(json.dumps(run.params))
    argv = [*agent_argv(sweep, run.params, str(args_json)), *overrides]
    if lit_draw_args(argv) is not None:
        argv.append(summary_argument(directory / f"summary-{run.name}.json"))
    env = {
        **os.environ,
        "WANDB_RUN_ID": run.name,
        "WANDB_RUN_GROUP": group,
        "WANDB_SWEEP_PARAM_PATH": str(param_path),
    }
    print(f"sweep {group}: run {number} ({run.name}): {' '.join(argv)}", flush=True)
    return subprocess.Popen(argv, env=env)


def _wait_for_one(runs: list[Trial], running: dict[str, subprocess.Popen], directory: Path) -> None:
    """Wait until one of the ``running`` runs ends; record its state and summary (from ``directory``)
    and drop it from ``running``."""
    while True:
        for name, process in list(running.items()):
            if process.poll() is None:
                continue
            run = next(r for r in runs if r.name == name)
            summary = directory / f"summary-{name}.json"
            run.state = "finished" if process.returncode == 0 else "failed"
            run.summary_metrics = json.loads(summary.read_text()) if summary.is_file() else {}
            del running[name]
            return
        time.sleep(0.5)


def main(args: list[str]) -> list[Trial]:
    """``python -m lit_draw sweep SWEEP.yaml [--count N] [--jobs N] [-- ARGS]``."""
    args = list(args)
    overrides = args[args.index("--") + 1 :] if "--" in args else []
    own = args[: args.index("--")] if "--" in args else args
    parser = argparse.ArgumentParser(
        prog="python -m lit_draw sweep",
        usage="%(prog)s SWEEP [--count N] [--jobs N] [-- ARGS]",
        description=__doc__.split("\n\n")[0],
        epilog="ARGS after -- go at the end of every run's command line, after the sweep's parameters, and win over "
        "them: a trial run, e.g. -- --trainer.max_steps=20 --trainer.default_root_dir=runs/trial",
    )
    parser.add_argument("sweep", help="a W&B sweep file, e.g. sweeps/loss_weighting.yaml")
    parser.add_argument("--count", type=int, default=None, help="number of runs (default: the whole grid)")
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="runs side by side, as that many W&B agents (default: 1); give each one thread: OMP_NUM_THREADS=1",
    )
    options = parser.parse_args(own)
    runs = run_sweep(options.sweep, options.count, overrides, options.jobs)
    failed = [run.name for run in runs if run.state != "finished"]
    metric = load_sweep(options.sweep).get("metric", {}).get("name")
    for run in runs:
        print(f"{run.name}  {run.state:8}  {metric}={run.summary_metrics.get(metric)}  {run.params}")
    if failed:
        raise SystemExit(f"{len(failed)} of {len(runs)} sweep runs failed: {', '.join(failed)}")
    return runs
