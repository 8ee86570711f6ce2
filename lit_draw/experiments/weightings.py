"""The loss weightings compared (issue 32): every run of a weighting sweep, tested, in one table and one figure.

A weighting sweep (``sweeps/loss_weighting_quick.yaml``, ``sweeps/loss_weighting.yaml``) trains the
same net with several per-glimpse loss weightings and seeds, one ``fit`` each, all under one
``trainer.default_root_dir``. This command tests each fit's checkpoint chosen on validation with
``python -m lit_draw test`` (under the fit's own resolved config, in ``<fit>/test/``; a fit already
tested is not tested again), keeps what the figure needs, and reports per weighting, as mean ± sd over
seeds of the test set:

* **final**: the accuracy after the last glimpse;
* **area**: the area under the accuracy-per-glimpse curve, as the mean of the ``T`` per-glimpse
  accuracies (1 would be perfect from the first glimpse on);
* **glimpses to final - 0.5**: the first glimpse whose accuracy is within half a point of that run's final.

The figure has three panels: accuracy per glimpse (seed bands), the anytime trade-off (accuracy
against mean glimpses used when each canvas stops at its first glimpse whose top class probability
reaches tau, :class:`~lit_draw.callbacks.EarlyExit`, averaged over seeds per tau; a halting net's
own ``lambda >= 0.5`` stop as a point of its own) and the final accuracy with every seed as a point::

    python -m lit_draw sweep sweeps/loss_weighting_quick.yaml --jobs 2
    python -m lit_draw weightings runs/loss_weighting_quick --keep records/weighting_quick
    python -m lit_draw figures --weightings records/weighting_quick   # docs/weighting_quick.{png,pdf,md}

``--keep`` copies each tested run's resolved config and test metrics into ``KEEP/<run id>``; the
kept folders are read as the runs are (``python -m lit_draw weightings records/weighting_quick``
redraws from the repository alone). ``python -m lit_draw figures`` draws every sweep kept as
``records/weighting_<name>`` into ``docs/weighting_<name>.png`` (and PDF) with its table
``docs/weighting_<name>.md``, which ``RESULTS.md`` carries; a sweep's :data:`ABOUT` file, written by
hand beside its kept runs, says what its configs cannot: when, where and from which commit it trained.
"""

from __future__ import annotations

import argparse
import statistics
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from matplotlib.figure import Figure

from lit_draw.cli.metrics_csv import read_metrics, read_rows, run_folders, values, write_rows
from lit_draw.errors import ConfigError
from lit_draw.experiments.halting_frontier import KEPT_CONFIG, KEPT_TEST, LoggedRun, halting_point, threshold_curve
from lit_draw.experiments.plateau import fit_folders
from lit_draw.experiments.plots import PALETTE, Series, line_chart, panels, save, strip_chart
from lit_draw.experiments.shipping import evaluation_config

#: A run whose accuracy at a glimpse is within this of its final accuracy has "reached" it.
MARGIN = 0.005
#: Beside a sweep's kept runs, written by hand: ``title``, ``sweep`` (its file), ``trained`` (the date),
#: ``device``, ``commit`` and ``quick_version_of`` (the sweep it shrinks: ``{sweep: file, setup: words}``),
#: each optional.
ABOUT = "sweep.yaml"
#: A sweep kept as ``records/weighting_<name>`` is drawn by ``figures`` as ``docs/weighting_<name>.png``,
#: its table written as ``docs/weighting_<name>.md``.
PREFIX = "weighting_"
#: The nets' names in words, by class.
NETS = {"DRAWClassifier": "DRAW", "RAM": "RAM", "WSRAM": "WS-RAM"}


@dataclass
class TestedRun:
    """One tested fit: its weighting's label, its seed, the test accuracy after each glimpse, its
    threshold-exit curve ``[(mean glimpses, accuracy)]``, for a halting net its own stop, and what it
    trained in words (:func:`describe`)."""

    run: str
    label: str
    seed: int
    per_glimpse: list[float]
    threshold: list[tuple[float, float]]
    halting: tuple[float, float] | None
    setup: str

    @property
    def final(self) -> float:
        return self.per_glimpse[-1]

    @property
    def area(self) -> float:
        return statistics.fmean(self.per_glimpse)

    @property
    def glimpses_to_final(self) -> int:
        return next(t + 1 for t, acc in enumerate(self.per_glimpse) if acc >= self.final - MARGIN)


def weighting_label(config: dict[str, Any]) -> str:
    """The weighting a resolved config trains with, in words: ``last``, ``exponential (gamma 0.7)``,
    ``PonderNet (prior 0.5)``, or an explicit weight list."""
    objective = config["model"]["objective"]
    args = objective.get("init_args") or {}
    if objective["class_path"].endswith("PonderNet"):
        return f"PonderNet (prior {args.get('prior_halt', 0.5):g})"
    weighting = args.get("weighting", "all")
    if weighting == "exponential":
        return f"exponential (gamma {args.get('gamma', 0.5):g})"
    return str(weighting)


def describe(config: dict[str, Any]) -> str:
    """What a resolved config trains, in words: ``DRAW, 40x40 translated MNIST, 4 glimpses, 10 epochs``
    (a part the config does not give is left out)."""
    net, data, trainer = config["model"]["net"], config.get("data") or {}, config.get("trainer") or {}
    kind = "cluttered " if data.get("clutter") else "translated " if data.get("translate") else ""
    size = data.get("canvas_size")
    steps, epochs = trainer.get("max_steps") or -1, trainer.get("max_epochs")
    parts = [
        NETS.get(str(net.get("class_path", "")).rsplit(".", 1)[-1], ""),
        f"{size}x{size} {kind}MNIST" if size else "",
        f"{net['init_args']['glimpses']} glimpses",
        f"{steps:,} updates" if steps > 0 else f"{epochs} epochs" if epochs else "",
    ]
    return ", ".join(part for part in parts if part)


def _best_checkpoint(fit: Path) -> Path:
    """The checkpoint the fit chose on validation (``best-*.ckpt``), else its ``last.ckpt``."""
    best = sorted((fit / "checkpoints").glob("best-*.ckpt"))
    last = fit / "checkpoints" / "last.ckpt"
    if best:
        return best[-1]
    if last.is_file():
        return last
    raise ConfigError(f"weightings: {fit} saved no checkpoint to test")


def tested_rows(fit: Path) -> list[dict[str, float]]:
    """The rows ``test`` logged for ``fit``'s checkpoint chosen on validation, testing it first
    (in ``<fit>/test``, under the fit's resolved config) unless a test there logged ``test/acc``."""
    folder = fit / "test"
    rows = read_metrics(run_folders(folder)) if folder.is_dir() else []
    if values(rows, "test/acc"):
        return rows
    from lit_draw.cli import main as cli_main
    from lit_draw.experiments.reproduce import wandb_dir

    folder.mkdir(parents=True, exist_ok=True)
    config = evaluation_config(fit / "checkpoints" / "config.yaml", str(folder), save_dir=str(folder))
    (folder / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    with wandb_dir(folder):
        cli_main(["test", "--config", str(folder / "config.yaml"), f"--ckpt_path={_best_checkpoint(fit)}"])
    return read_metrics(run_folders(folder))


def load_run(path: Path, test: bool = True) -> TestedRun:
    """A fit folder (tested first when ``test``) or a folder :func:`keep_run` wrote."""
    if (path / KEPT_TEST).is_file():
        config, rows = yaml.safe_load((path / KEPT_CONFIG).read_text()), read_rows(path / KEPT_TEST)
    else:
        config = yaml.safe_load((path / "checkpoints" / "config.yaml").read_text())
        rows = tested_rows(path) if test else read_metrics(run_folders(path / "test"))
    glimpses = int(config["model"]["net"]["init_args"]["glimpses"])
    per_glimpse = [values(rows, f"test/acc_glimpse_{t}") for t in range(1, glimpses + 1)]
    if not all(per_glimpse):
        raise ConfigError(f"weightings: {path} logged no test/acc_glimpse_* (the GlimpseAccuracy callback)")
    logged = LoggedRun(path, rows)
    halting = halting_point(logged) if values(rows, "test/halt_acc") else None
    return TestedRun(
        str(path),
        weighting_label(config),
        int(config.get("seed_everything") or 0),
        [float(v[-1]) for v in per_glimpse],
        threshold_curve(logged),
        halting,
        describe(config),
    )


def kept_runs(folder: Path) -> list[Path]:
    """The runs :func:`keep_run` kept in ``folder``, by name.

    Raises:
        ConfigError: ``folder`` holds none (one line, saying how a sweep's runs are kept).
    """
    runs = sorted(p for p in folder.iterdir() if (p / KEPT_TEST).is_file()) if folder.is_dir() else []
    if not runs:
        raise ConfigError(
            f"weightings: {folder} holds no kept run (no */{KEPT_TEST}); "
            f"python -m lit_draw weightings ROOT --keep {folder} keeps a sweep's"
        )
    return runs


def kept_sweeps(records: Path) -> list[Path]:
    """The weighting sweeps kept under ``records``: its ``weighting_*`` folders that hold kept runs."""
    folders = sorted(p for p in records.glob(f"{PREFIX}*") if p.is_dir())
    return [p for p in folders if any((run / KEPT_TEST).is_file() for run in p.iterdir())]


def read_about(folder: Path) -> dict[str, Any]:
    """What ``folder``'s :data:`ABOUT` says of the sweep kept there (empty without one), and ``full_kept``:
    the folder beside it that keeps the sweep it is the quick version of, ``None`` when none does."""
    path = folder / ABOUT
    about = (yaml.safe_load(path.read_text()) or {}) if path.is_file() else {}
    full = (about.get("quick_version_of") or {}).get("sweep")
    beside = sorted(folder.parent.glob(f"*/{ABOUT}")) if full else []
    about["full_kept"] = next(
        (p.parent for p in beside if (yaml.safe_load(p.read_text()) or {}).get("sweep") == full), None
    )
    return about


def keep_run(fit: Path, into: Path) -> Path:
    """Copy a tested fit's resolved config and test rows into ``into/<run id>``."""
    kept = into / fit.name
    kept.mkdir(parents=True, exist_ok=True)
    (kept / KEPT_CONFIG).write_text((fit / "checkpoints" / "config.yaml").read_text())
    write_rows(kept / KEPT_TEST, tested_rows(fit))
    return kept


def _spread(numbers: list[float]) -> tuple[float, float]:
    return statistics.fmean(numbers), statistics.stdev(numbers) if len(numbers) > 1 else 0.0


#: The weightings' order in tables and figures (by the start of their label; others after, by name).
ORDER = ("last", "all", "linear", "exponential", "PonderNet")


def by_weighting(runs: list[TestedRun]) -> dict[str, list[TestedRun]]:
    """The runs grouped by weighting, in :data:`ORDER`, each group by seed."""
    groups: dict[str, list[TestedRun]] = {}
    for run in runs:
        groups.setdefault(run.label, []).append(run)

    def rank(label: str) -> tuple[int, str]:
        return next((i for i, start in enumerate(ORDER) if label.startswith(start)), len(ORDER)), label

    return {label: sorted(groups[label], key=lambda r: r.seed) for label in sorted(groups, key=rank)}


MEASURES = {  # name -> (value of a run, higher is better, format)
    "final-glimpse accuracy": (lambda r: 100 * r.final, True, ".2f"),
    "area under the per-glimpse curve": (lambda r: 100 * r.area, True, ".2f"),
    "glimpses to within 0.5 points of final": (lambda r: r.glimpses_to_final, False, ".1f"),
}


def table(groups: dict[str, list[TestedRun]]) -> str:
    """The markdown table: per weighting, each measure as mean ± sd over seeds, and every seed's final accuracy."""
    lines = [
        "| weighting | seeds | "
        + " | ".join(f"{name} (%)" if fmt == ".2f" else name for name, (_, _, fmt) in MEASURES.items())
        + " | each seed's final (%) |",
        "| --- " * (len(MEASURES) + 3) + "|",
    ]
    for label, runs in groups.items():
        cells = []
        for value, _, fmt in MEASURES.values():
            mean, sd = _spread([value(r) for r in runs])
            cells.append(f"{mean:{fmt}} ± {sd:{fmt}}")
        seeds = ", ".join(f"{100 * r.final:.2f} (s{r.seed})" for r in runs)
        lines.append(f"| {label} | {len(runs)} | " + " | ".join(cells) + f" | {seeds} |")
    return "\n".join(lines) + "\n"


def statement(groups: dict[str, list[TestedRun]]) -> str:
    """Per measure, which weighting wins, or a tie: a weighting ties with the leader when their means
    differ by no more than the larger of their two seeds' standard deviations. Beside a tie, the others
    are named as trailing the leader (each compared with the leader, not with each other)."""
    lines = []
    for name, (value, higher, fmt) in MEASURES.items():
        spread = {label: _spread([value(r) for r in runs]) for label, runs in groups.items()}
        ranked = sorted(spread, key=lambda label: spread[label][0], reverse=higher)
        if len(ranked) < 2:
            continue
        (first, (m1, s1)), (second, (m2, s2)) = (ranked[0], spread[ranked[0]]), (ranked[1], spread[ranked[1]])
        tied = [label for label in ranked[1:] if abs(spread[label][0] - m1) <= max(s1, spread[label][1])]
        if tied:
            margin = f"{abs(m1 - spread[tied[0]][0]):{fmt}}"
            level = [label for label in tied if f"{abs(m1 - spread[label][0]):{fmt}}" == margin]
            lead = (
                f"{_listed([first, *level])} are level"
                if float(margin) == 0
                else f"{first} leads {tied[0]} by {margin}, within the seeds' spread"
            )
            behind = [label for label in ranked[1:] if label not in tied]
            trail = (
                f"; {_listed(behind)} trail{'s' * (len(behind) == 1)} {first} by more than the seeds' spread"
                if behind
                else ""
            )
            tie = _listed([f"{first} ({m1:{fmt}} ± {s1:{fmt}})", *tied])
            lines.append(f"- **{name}**: a tie between {tie}: {lead}{trail}.")
        else:
            lines.append(
                f"- **{name}**: {first} ({m1:{fmt}} ± {s1:{fmt}}), ahead of {second} ({m2:{fmt}} ± {s2:{fmt}}) "
                f"by {abs(m1 - m2):{fmt}}, more than either's seed spread."
            )
    return "\n".join(lines) + "\n"


def _listed(words: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return " and ".join([", ".join(words[:-1]), words[-1]] if len(words) > 1 else words)


def setting(groups: dict[str, list[TestedRun]]) -> str:
    """What the runs trained and how many seeds, in words: ``DRAW, 40x40 translated MNIST, 4 glimpses,
    10 epochs, 5 seeds`` (setups that differ joined by ``;``)."""
    runs = [r for rs in groups.values() for r in rs]
    setups = "; ".join(dict.fromkeys(r.setup for r in runs))
    seeds = len({r.seed for r in runs})
    return f"{setups}, {seeds} seed{'s' * (seeds != 1)}" if setups else f"{seeds} seed{'s' * (seeds != 1)}"


def figure(groups: dict[str, list[TestedRun]], title: str | None = None) -> Figure:
    """The three panels (see the module docstring), titled ``title`` or the runs' :func:`setting`;
    ``python -m lit_draw figures`` and ``weightings --figure`` both draw it."""
    fig, (per_glimpse, anytime, finals) = panels(3, title or setting(groups))
    curves = []
    for label, runs in groups.items():
        accs = [[100 * a for a in r.per_glimpse] for r in runs]
        columns = list(zip(*accs, strict=True))
        curves.append(
            Series(
                label,
                range(1, len(columns) + 1),
                [statistics.fmean(c) for c in columns],
                [statistics.stdev(c) if len(c) > 1 else 0.0 for c in columns],
            )
        )
    line_chart(per_glimpse, curves, "Accuracy after each glimpse", "glimpse", "test accuracy (%)")
    frontier = []
    for label, runs in groups.items():
        points = list(zip(*(r.threshold for r in runs), strict=True))  # per tau, every seed's (glimpses, acc)
        frontier.append(
            Series(
                label,
                [statistics.fmean(g for g, _ in p) for p in points],
                [100 * statistics.fmean(a for _, a in p) for p in points],
            )
        )
    line_chart(
        anytime, frontier, "Anytime: stop at confidence tau", "mean glimpses used", "test accuracy (%)", legend=False
    )
    for index, runs in enumerate(groups.values()):  # a halting net's own stop (lambda >= 0.5), in its colour
        stops = [r.halting for r in runs if r.halting is not None]
        if stops:
            point = (statistics.fmean(g for g, _ in stops), 100 * statistics.fmean(a for _, a in stops))
            anytime.scatter(*point, marker="*", s=90, color=PALETTE[index % len(PALETTE)], zorder=3)
            anytime.annotate("own stop", point, textcoords="offset points", xytext=(-8, -14), ha="right", fontsize=8)
    strip_chart(
        finals,
        {label: [100 * r.final for r in runs] for label, runs in groups.items()},
        "Final-glimpse accuracy, every seed",
        "test accuracy (%)",
    )
    return fig


def provenance(groups: dict[str, list[TestedRun]], about: dict[str, Any]) -> str:
    """What the runs were, in a sentence: the sweep, its setup (:func:`setting`), the weightings and runs,
    and from ``about`` (:func:`read_about`) when, where and from which commit they trained, and whether
    the sweep it is the quick version of has run."""
    count = sum(len(runs) for runs in groups.values())
    text = f"{setting(groups)}; {len(groups)} weighting{'s' * (len(groups) != 1)}, {count} runs"
    if about.get("sweep"):
        text = f"`{about['sweep']}`: {text}"
    for key, words in (("trained", "trained"), ("device", "on"), ("commit", "from commit")):
        if about.get(key):
            text += f"{',' * (key == 'trained')} {words} {about[key]}"
    text += "."
    if full := about.get("quick_version_of"):
        kept, setup = about.get("full_kept"), f" ({full['setup']})" if full.get("setup") else ""
        text += f" It is the quick version of `{full['sweep']}`{setup}, " + (
            f"kept in `{kept.as_posix()}`." if kept else "which has not run yet (its runs are not kept beside these)."
        )
    return text


def document(
    groups: dict[str, list[TestedRun]], source: str, about: dict[str, Any] | None = None, by: str = "weightings"
) -> str:
    """The table and the statement as a markdown page: a title (``about``'s, see :data:`ABOUT`), what the
    runs were (:func:`provenance`) and what it was made from, by which command (``by``)."""
    about = about or {}
    seeds = sorted({r.seed for runs in groups.values() for r in runs})
    return (
        f"# {about.get('title') or 'Loss weightings compared'}\n\n{provenance(groups, about)} Written by "
        f"`python -m lit_draw {by}` from `{source}`; the measures are defined in `docs/weightings.md`.\n\n"
        f"Test set, the checkpoint chosen on validation of each run; mean ± sd over seeds {', '.join(map(str, seeds))}."
        f"\n\n{table(groups)}\n{statement(groups)}"
    )


def main(args: list[str] | None = None) -> dict[str, list[TestedRun]]:
    parser = argparse.ArgumentParser(prog="python -m lit_draw weightings", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "runs",
        nargs="+",
        type=Path,
        help="a sweep's trainer.default_root_dir (every fit under it), fit folders, or folders --keep wrote",
    )
    parser.add_argument("--keep", type=Path, help="copy each tested run's config and test metrics into KEEP/<run id>")
    parser.add_argument("--out", type=Path, help="write the table and the statement here (markdown)")
    parser.add_argument("--figure", type=Path, help="draw the three panels here (.png, and a .pdf beside it)")
    parser.add_argument("--title", help="the figure's title (default: the runs' setup and seeds)")
    options = parser.parse_args(args)
    folders: list[Path] = []
    for path in options.runs:
        if not path.is_dir():
            raise ConfigError(f"weightings: {path} is not a folder")
        own_fit = (path / "checkpoints" / "config.yaml").is_file() and not (path / "checkpoints").is_symlink()
        if (path / KEPT_TEST).is_file() or own_fit:  # (a root's checkpoints link names its newest fit's)
            folders.append(path)
            continue
        inside = fit_folders(path) or sorted(p for p in path.iterdir() if (p / KEPT_TEST).is_file())
        if not inside:
            raise ConfigError(
                f"weightings: {path} holds no fit (no */checkpoints/config.yaml) and no kept run (no */{KEPT_TEST})"
            )
        folders += inside
    if options.keep:
        folders = [f if (f / KEPT_TEST).is_file() else keep_run(f, options.keep) for f in folders]
    groups = by_weighting([load_run(f) for f in folders])
    about = next((read_about(p) for p in [*options.runs, options.keep] if p and (p / ABOUT).is_file()), {})
    text = document(groups, ", ".join(p.as_posix() for p in options.runs), about)
    print(text, end="")
    if options.out:
        options.out.write_text(text)
    if options.figure:
        for path in save(figure(groups, options.title), options.figure):
            print(f"wrote {path}")
    return groups
