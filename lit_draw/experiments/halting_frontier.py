"""The halting frontier: test accuracy against mean glimpses used, learned halting against the
confidence-threshold exit of the same architecture trained All-Step without halting.

Reads the ``metrics.csv`` of runs that ran ``test`` after ``fit`` (:mod:`lit_draw.cli.metrics_csv`; a run
dir is a ``trainer.default_root_dir``, its ``wandb`` folder or one W&B run folder, of which the newest
is read: the ``test``):

* each learned-halting run gives one point, ``(test/halt_glimpses, test/halt_acc)``;
* the All-Step run gives the threshold curve, ``(test/early_exit/tau_{tau}/glimpses,
  test/early_exit/tau_{tau}/acc)`` for every tau of :class:`~lit_draw.callbacks.EarlyExit`, and
  the fixed-T accuracy ``test/acc``, drawn as a horizontal line.

The number docs/halting.md reports per setting is :func:`glimpses_to_reach` of both at the fixed-T
accuracy minus half a point. With ``--ship NAME`` per setting, the learned-halting run chosen on
validation (:func:`choose_on_validation`) is exported as ``checkpoints/NAME.ckpt`` and ``.yaml``::

    python -m lit_draw halting-frontier --title "DRAW, 40x40" --all-step <run dir> \
        --halting <run dir> <run dir> ... [--ship NAME] --out docs/halting_frontier.png
"""

from __future__ import annotations

import argparse
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

from lit_draw.cli.metrics_csv import CSV_FOLDER, METRICS_FILE, read_metrics, run_folders, values
from lit_draw.cli.resume import CHECKPOINTS
from lit_draw.errors import ConfigError
from lit_draw.experiments.plots import panels, save
from lit_draw.experiments.shipping import ship_checkpoint


class MissingRun(ConfigError, KeyError):
    """A run dir given to ``halting-frontier`` without the runs, metrics or checkpoint it needs:
    one line from ``python -m lit_draw`` (a :class:`~lit_draw.errors.ConfigError`), and a
    ``KeyError`` for callers that look a metric up."""

    def __str__(self) -> str:  # the message itself, not KeyError's quoted repr of it
        return str(self.args[0])


#: The frontier's table in docs/, beside its figure (the default ``--out``), that RESULTS.md carries.
TABLE = "halting_frontier.md"
#: Learned halting and the threshold exit are compared where they reach the fixed-T accuracy minus this.
MARGIN = 0.005
_TAU = re.compile(r"^test/early_exit/tau_(?P<tau>[0-9.e-]+)/acc$")


@dataclass
class Frontier:
    """One setting: ``halting`` and ``threshold`` are ``[(mean glimpses, accuracy), ...]``; ``fixed_acc``
    the All-Step model's test accuracy after all ``T`` glimpses; ``names`` one per halting point."""

    title: str
    halting: list[tuple[float, float]]
    threshold: list[tuple[float, float]]
    fixed_acc: float
    names: list[str] = field(default_factory=list)


@dataclass
class LoggedRun:
    """The scalars one W&B run folder logged: ``rows`` as :func:`~lit_draw.cli.metrics_csv.read_metrics` reads them."""

    directory: Path
    rows: list[dict[str, float]]


def read_run(path: str | Path) -> LoggedRun:
    """The newest W&B run under ``path`` (a run dir, its ``wandb`` folder, or one W&B run folder)."""
    path = Path(path)
    folders = [path] if (path / CSV_FOLDER / METRICS_FILE).is_file() else run_folders(path)
    if not folders:
        raise MissingRun(_no_run_folder(path))
    return LoggedRun(folders[-1], read_metrics(folders[-1]))


def _no_run_folder(path: Path) -> str:
    """Why ``path`` holds no W&B run folder, and where its runs' W&B folders are when it is a
    ``trainer.default_root_dir`` (fit writes W&B runs to ``$WANDB_DIR/wandb``, ``./wandb`` by default)."""
    wandb = Path(os.environ.get("WANDB_DIR", ".")) / "wandb"
    ids = {folder.parent.name for folder in path.glob(f"*/{CHECKPOINTS}") if folder.is_dir()}
    if not ids:
        return f"no W&B run folder under {path}"
    fits = [str(f) for f in (run_folders(wandb) if wandb.is_dir() else []) if f.name.rsplit("-", 1)[-1] in ids]
    found = f"; its fit's are {', '.join(fits)}" if fits else ""
    return (
        f"no W&B run folder under {path}, a trainer.default_root_dir: fit writes its W&B runs to {wandb} "
        f"(WANDB_DIR=<folder> puts them in <folder>/wandb){found}; give the W&B run folder of the test run "
        "after fit (test logs to a W&B run of its own)"
    )


def read_every_run(run_dir: str | Path) -> LoggedRun:
    """Every W&B run under ``run_dir``, oldest first, as one: the ``fit`` (its validation values)
    and the ``test`` after it."""
    return LoggedRun(Path(run_dir), read_metrics(run_folders(run_dir)))


def _last(run: LoggedRun, key: str) -> float:
    logged = values(run.rows, key)
    if not logged:
        hint = (
            " (`python -m lit_draw test` logs to a W&B run of its own: give the test's W&B run folder, or a folder "
            "whose newest W&B run is the test after fit)"
            if key.startswith("test/")
            else ""
        )
        raise MissingRun(f"{run.directory} logged no {key}{hint}")
    return float(logged[-1])


def halting_point(run: LoggedRun) -> tuple[float, float]:
    """``(test/halt_glimpses, test/halt_acc)`` of a learned-halting run."""
    return _last(run, "test/halt_glimpses"), _last(run, "test/halt_acc")


def threshold_curve(run: LoggedRun) -> list[tuple[float, float]]:
    """The confidence-threshold exit of an All-Step run: ``(glimpses, acc)`` per tau, by glimpses."""
    taus = sorted({m["tau"] for row in run.rows for key in row if (m := _TAU.match(key))})
    if not taus:
        raise MissingRun(f"{run.directory} logged no test/early_exit/tau_*/acc (the EarlyExit callback)")
    return sorted(
        (_last(run, f"test/early_exit/tau_{tau}/glimpses"), _last(run, f"test/early_exit/tau_{tau}/acc"))
        for tau in taus
    )


def glimpses_to_reach(points: Sequence[tuple[float, float]], target: float) -> float | None:
    """The fewest mean glimpses at which the frontier of ``points`` reaches accuracy ``target``.

    ``points`` are ``(mean glimpses, accuracy)``. The frontier keeps the points that no point with as
    few glimpses beats (a run dominated by another counts for nothing); sorted by glimpses,
    consecutive frontier points are joined by straight lines, which mixing the two runs' stops
    canvas by canvas would achieve (a point alone counts only if it reaches ``target`` itself).
    ``None`` if no point or segment reaches it.
    """
    ordered = []
    for glimpses, accuracy in sorted(points, key=lambda p: (p[0], -p[1])):
        if not ordered or accuracy > ordered[-1][1]:
            ordered.append((glimpses, accuracy))
    best = None
    for (g0, a0), (g1, a1) in pairwise(ordered):
        if a0 < target <= a1:  # the segment crosses the target on its way up
            best = g0 + (g1 - g0) * (target - a0) / (a1 - a0)
            break
        if a0 >= target:
            best = g0
            break
    if best is None and ordered and ordered[-1][1] >= target:
        best = ordered[-1][0]
    return best


def read_frontier(title: str, all_step: str | Path, halting: Sequence[str | Path]) -> Frontier:
    """A :class:`Frontier` from the All-Step run and the learned-halting runs (run or ``wandb`` folders);
    each halting point is named after its run's folder."""
    baseline = read_run(all_step)
    points = sorted((*halting_point(read_run(path)), Path(path).name) for path in halting)
    return Frontier(
        title=title,
        halting=[(g, a) for g, a, _ in points],
        threshold=threshold_curve(baseline),
        fixed_acc=_last(baseline, "test/acc"),
        names=[name for _, _, name in points],
    )


def choose_on_validation(all_step: str | Path, halting: Sequence[str | Path], margin: float = MARGIN) -> Path:
    """The learned-halting run to ship, chosen on validation only: the fewest ``val/halt_glimpses``
    among the runs whose ``val/halt_acc`` is within ``margin`` of the All-Step run's ``val/acc``, or,
    if none is, the highest ``val/halt_acc``."""
    target = _last(read_every_run(all_step), "val/acc") - margin
    runs = [read_every_run(p) for p in halting]
    scored = [
        (_last(r, "val/halt_acc"), _last(r, "val/halt_glimpses"), Path(p)) for r, p in zip(runs, halting, strict=True)
    ]
    close = [s for s in scored if s[0] >= target]
    return min(close, key=lambda s: s[1])[2] if close else max(scored, key=lambda s: s[0])[2]


def draw(frontiers: Sequence[Frontier], path: str | Path, margin: float = MARGIN) -> list[Path]:
    """One panel per setting: learned-halting points (named), the threshold curve, the fixed-T
    accuracy as a line and the fixed-T accuracy minus ``margin`` dotted; written to ``path`` (PNG)
    and a vector PDF beside it. Returns both paths."""
    figure, axes = panels(len(frontiers))
    for ax, f in zip(axes, frontiers, strict=True):
        g, a = zip(*f.threshold, strict=True)
        ax.plot(g, a, "o-", color="tab:grey", label="confidence threshold (All-Step)")
        g, a = zip(*f.halting, strict=True)
        ax.plot(g, a, "s", color="tab:blue", label="learned halting")
        for name, x, y in zip(f.names, g, a, strict=True):  # the run folder's name less its first word (draw_, ram_)
            ax.annotate(
                name.split("_", 1)[-1],
                (x, y),
                textcoords="offset points",
                xytext=(4, -10),
                fontsize=6,
                color="tab:blue",
            )
        ax.axhline(f.fixed_acc, color="black", lw=1, label="all glimpses (All-Step)")
        ax.axhline(f.fixed_acc - margin, color="black", lw=1, ls=":", label=f"all glimpses - {100 * margin:g} points")
        ax.set(title=f.title, xlabel="mean glimpses used", ylabel="test accuracy")
        ax.legend(loc="lower right", fontsize=7)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    return save(figure, Path(path))


def frontier_table(frontiers: Sequence[Frontier]) -> str:
    """Markdown: per setting, the glimpses learned halting and the threshold exit need to come within
    :data:`MARGIN` of the fixed-T accuracy, then every learned-halting point."""
    lines = [
        "# The halting frontier",
        "",
        "Written by `python -m lit_draw halting-frontier` from the runs' test metrics (`docs/halting_frontier.png`).",
        "",
        f"| setting | fixed-T test accuracy | mean glimpses to reach it minus {100 * MARGIN:g} points: learned halting "
        "| threshold exit |",
        "| --- | --- | --- | --- |",
    ]
    for f in frontiers:
        reach = [glimpses_to_reach(points, f.fixed_acc - MARGIN) for points in (f.halting, f.threshold)]
        lines.append(
            f"| {f.title} | {100 * f.fixed_acc:.2f}% | "
            + " | ".join("not reached" if r is None else f"{r:.2f}" for r in reach)
            + " |"
        )
    lines += ["", "| setting | learned-halting run | mean glimpses | test accuracy |", "| --- | --- | --- | --- |"]
    lines += [
        f"| {f.title} | {name} | {g:.2f} | {100 * a:.2f}% |"
        for f in frontiers
        for name, (g, a) in zip(f.names, f.halting, strict=True)
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> list[Path]:
    """Draw the frontier, write and print its numbers (:func:`frontier_table`, beside the figure as
    ``.md``) and, with ``--ship``, export each setting's learned-halting run chosen on validation.
    Returns the paths written."""
    parser = argparse.ArgumentParser(prog="python -m lit_draw halting-frontier", description=__doc__.split("\n\n")[0])
    parser.add_argument("--title", action="append", required=True, help="one per setting, in order")
    parser.add_argument("--all-step", action="append", required=True, help="the All-Step run of each setting")
    parser.add_argument("--halting", action="append", nargs="+", required=True, help="the halting runs of each setting")
    parser.add_argument(
        "--ship",
        action="append",
        metavar="NAME",
        help="per setting: export its run chosen on validation as checkpoints/NAME.ckpt and .yaml",
    )
    parser.add_argument("--out", default=str(Path("docs", TABLE).with_suffix(".png")))
    args = parser.parse_args(argv)
    if not len(args.title) == len(args.all_step) == len(args.halting):
        parser.error("give --title, --all-step and --halting once per setting")
    if args.ship is not None and len(args.ship) != len(args.title):
        parser.error("give --ship once per setting, or not at all")
    frontiers = [read_frontier(*setting) for setting in zip(args.title, args.all_step, args.halting, strict=True)]
    written = draw(frontiers, args.out)
    table = Path(args.out).with_suffix(".md")
    table.write_text(frontier_table(frontiers))
    print(table.read_text())
    written.append(table)
    settings = zip(args.ship, args.all_step, args.halting, strict=True) if args.ship else ()
    shipped = {name: choose_on_validation(all_step, halting) for name, all_step, halting in settings}
    for name, chosen in shipped.items():  # every setting's run checked before any is shipped
        missing = [f for f in ("last.ckpt", "config.yaml") if not (chosen / "checkpoints" / f).is_file()]
        if missing:
            raise MissingRun(
                f"--ship {name}: {chosen}/checkpoints has no {' or '.join(missing)} (give each halting "
                "run as its fit's trainer.default_root_dir)"
            )
    for name, chosen in shipped.items():
        ship_checkpoint(
            chosen / "checkpoints" / "last.ckpt",
            chosen / "checkpoints" / "config.yaml",
            name,
            f"{chosen} (the learned-halting run chosen on validation: the fewest val/halt_glimpses\n"
            f"# within {100 * MARGIN:g} points of the All-Step run's val/acc)",
        )
        print(f"shipped {chosen} as checkpoints/{name}.ckpt and checkpoints/{name}.yaml")
    print(f"wrote {', '.join(map(str, written))}")
    return written


if __name__ == "__main__":
    main()
