"""``python -m lit_draw figures``: the study's figures and WS-RAM's Figure 2 from the runs of
``python -m lit_draw reproduce``, and the loss weightings' from their kept sweeps, as PNG and vector
PDF (matplotlib).

    python -m lit_draw figures [--runs runs/reproduce] [--records records] [--out docs]
        [--study ROW ROW] [--wsram [ROW ...]] [--weightings [DIR ...]] [--module decoder]
        [--results results.json] [--allow-missing]

Reads each seed's logged scalars from the ``metrics.csv`` beside its W&B runs (see
:mod:`lit_draw.cli.metrics_csv`; ``<seed>/wandb``: training, every resumed part in order;
``<seed>/test/wandb``: the newest test), the test's ``test_confusion.csv`` and its
``test_metrics.json``; a seed whose run is not under ``--runs`` is read from the copy ``reproduce``
kept of it in the repository (``--records``, see :mod:`lit_draw.experiments.seed_runs`). Each figure
is written as ``<name>.png`` and ``<name>.pdf``:

* ``study_glimpse_accuracy.png``: test accuracy after every glimpse, mean ± sd over seeds, one line
  per weighting (the study's figs. 3-4);
* ``study_val_accuracy.png``: ``val/acc`` against training steps (fig. 5);
* ``study_weight_updates.png``: ``weight_update/<module>.*`` against steps, one panel per weight
  matrix (fig. 7);
* ``study_cell_drift.png``: ``test/cell_drift/<cell>/<t>`` against glimpse, one panel per cell
  (figs. 9-10);
* ``study_confusion_difference.png``: the second row's mean test confusion matrix minus the
  first's (fig. 8: Last-Step minus All-Step);
* ``study_claims.md``: the study's claims beside our measures, per seed
  (:mod:`lit_draw.experiments.study_claims`);
* ``wsram_figure2.png``: training error, gradient variance and effective sample size against
  updates for the six estimators (Ba et al. 2015, Figure 2), and their validation error;
* ``wsram_claims.md``: the paper's claims about them beside our measures, per seed
  (:mod:`lit_draw.experiments.wsram_claims`);
* ``weighting_<name>.png`` and ``weighting_<name>.md``: a loss-weighting sweep kept in
  ``records/weighting_<name>`` (``--weightings``; by default every one there): accuracy per glimpse,
  the anytime trade-off and final accuracy per weighting, and its table and statement
  (:mod:`lit_draw.experiments.weightings`, whose command draws the same from the runs).

A figure whose runs are missing is skipped with a message. A row shows the seeds ``results.json``
lists for it (``--results``; those of the row's protocol as its config gives it now, see
:mod:`lit_draw.experiments.protocol`), and of those the ones that finished their budget
stand for it (a seed stopped part-way is left out, with a message, when the row has a finished one;
:func:`lit_draw.experiments.seed_runs.finished_seeds`). Lines are the mean over those seeds that
logged a point, bands ± one standard deviation (with two seeds or more; a quantity that cannot be
negative has its band clipped at 0). When ``results.json`` lists a finished seed whose runs are not
here nor kept (a seed run before ``reproduce`` kept them), the figures of its group are not drawn
(``--allow-missing`` draws them from the seeds here): the ones in ``docs/`` stay those of the whole row.
"""

from __future__ import annotations

import argparse
import statistics
from collections.abc import Sequence
from pathlib import Path

from matplotlib.figure import Figure

from lit_draw.errors import ConfigError
from lit_draw.experiments import study_claims, weightings, wsram_claims
from lit_draw.experiments.plots import Series, heatmap, line_chart, panels, save, twin_line
from lit_draw.experiments.results import RESULTS_JSON, read_json
from lit_draw.experiments.seed_runs import (
    KEPT,
    LABELS,
    SeedRuns,
    curve,
    finished_seeds,
    last_values,
    load_seeds,
    mean_confusion,
    row_label,
)

STUDY_ROWS = ("study_all_step", "study_last_step")
WSRAM_ROWS = tuple(name for name in LABELS if name.startswith("wsram_figure2"))
#: Every PNG the script can write (each with a PDF beside it).
FIGURES = (
    "study_glimpse_accuracy.png",
    "study_val_accuracy.png",
    "study_weight_updates.png",
    "study_cell_drift.png",
    "study_confusion_difference.png",
    "wsram_figure2.png",
)
#: The claims tables, in ``--out``: the study's (:mod:`lit_draw.experiments.study_claims`) and
#: WS-RAM's (:mod:`lit_draw.experiments.wsram_claims`), by file name -> title.
CLAIMS = {
    "study_claims.md": ("The study's claims, measured on our runs", "study_claims"),
    "wsram_claims.md": ("Ba et al. 2015's Figure 2 claims, measured on our runs", "wsram_claims"),
}


def claims_document(name: str, table: str) -> str:
    """A claims table with its title and where it comes from."""
    title, module = CLAIMS[name]
    return (
        f"# {title}\n\nWritten by `python -m lit_draw figures` from `runs/reproduce` and `records/`; the measures are "
        f"defined in `lit_draw/experiments/{module}.py`.\n\n{table}"
    )


def mean_series(label: str, curves: Sequence[dict[float, float]], scale: float = 1.0, offset: float = 0.0) -> Series:
    """Mean ± sd over seeds of ``offset + scale * value`` at every x some seed has."""
    xs = sorted({x for c in curves for x in c})
    values = [[offset + scale * c[x] for c in curves if x in c] for x in xs]
    return Series(
        label,
        xs,
        [statistics.fmean(v) for v in values],
        [statistics.stdev(v) if len(v) > 1 else 0.0 for v in values],
    )


def glimpse_accuracy(rows: dict[str, list[SeedRuns]]) -> Figure | None:
    """Test accuracy after every glimpse, mean ± sd over seeds, one line per row."""
    series = [
        mean_series(row_label(row), [dict(enumerate(s.record["acc_per_glimpse"], start=1)) for s in seeds if s.record])
        for row, seeds in rows.items()
        if any(s.record for s in seeds)
    ]
    if not series:
        return None
    figure, (ax,) = panels(1)
    line_chart(ax, series, "Test accuracy after every glimpse", "glimpse", "accuracy (%)", nonnegative=True)
    return figure


def val_accuracy(rows: dict[str, list[SeedRuns]]) -> Figure | None:
    """``val/acc`` in percent against training steps."""
    series = [
        mean_series(row_label(row), [curve(s.history, "val/acc") for s in seeds], scale=100)
        for row, seeds in rows.items()
        if any(curve(s.history, "val/acc") for s in seeds)
    ]
    if not series:
        return None
    figure, (ax,) = panels(1)
    line_chart(ax, series, "Validation accuracy during training", "training step", "val accuracy (%)", nonnegative=True)
    return figure


def weight_updates(rows: dict[str, list[SeedRuns]], module: str) -> Figure | None:
    """``weight_update/<module>.*`` against steps, one panel per weight matrix, one line per row; beside
    them, on a second axis, the last row's ``val/acc`` (the study's fig. 7: Last-Step's decoder
    weight-update spikes before its accuracy dips)."""
    prefix = f"weight_update/{module}."
    keys = sorted({k for seeds in rows.values() for s in seeds for h in s.history for k in h if k.startswith(prefix)})
    if not keys:
        return None
    figure, axes = panels(len(keys), "Weight updates: ||W - W_prev|| / numel(W)")
    row, seeds = list(rows.items())[-1]
    accuracy = mean_series(f"{row_label(row)} val accuracy", [curve(s.history, "val/acc") for s in seeds], scale=100)
    for ax, key in zip(axes, keys, strict=True):
        series = [mean_series(row_label(row), [curve(s.history, key) for s in seeds]) for row, seeds in rows.items()]
        line_chart(
            ax, series, key.removeprefix("weight_update/"), "training step", "update per element", nonnegative=True
        )
        if len(accuracy.xs):
            twin_line(ax, accuracy, "val accuracy (%)")
    return figure


def cell_drift(rows: dict[str, list[SeedRuns]]) -> Figure | None:
    """Mean ``||c_t - c_{t-1}||`` on the test set against glimpse ``t``, one panel per cell."""
    prefix = "test/cell_drift/"
    keys = {k for seeds in rows.values() for s in seeds for h in s.test_history for k in h if k.startswith(prefix)}
    cells = sorted({k.removeprefix(prefix).rsplit("/", 1)[0] for k in keys}, key=lambda c: (c != "decoder", c))
    if not cells:
        return None
    figure, axes = panels(len(cells), "Cell-state drift on the test set")
    for ax, cell in zip(axes, cells, strict=True):
        series = []
        for row, seeds in rows.items():
            drifts = [last_values(s.test_history, f"{prefix}{cell}/") for s in seeds]
            series.append(mean_series(row_label(row), [d for d in drifts if d]))
        line_chart(ax, series, cell, "glimpse t", "||c_t - c_(t-1)||", nonnegative=True)
    return figure


def confusion_difference(rows: dict[str, list[SeedRuns]]) -> Figure | None:
    """The second row's mean test confusion matrix minus the first's (mean over seeds of counts)."""
    means = [mean_confusion(seeds) for seeds in rows.values()]
    if len(means) != 2 or None in means:
        return None
    first, second = list(rows)
    difference = [[round(b - a, 1) for a, b in zip(ra, rb, strict=True)] for ra, rb in zip(*means, strict=True)]
    figure = Figure(figsize=(5.2, 4.4), layout="constrained")
    heatmap(
        figure.subplots(),
        difference,
        f"Test confusion: {row_label(second)} minus {row_label(first)} (mean counts)",
        "predicted class",
        "true class",
    )
    return figure


def training_error(row: str, seeds: list[SeedRuns]) -> tuple[Series, bool]:
    """Training error in percent against updates, and whether it comes from the inference network:
    ``train/acc``, or ``train/acc_q`` for an estimator whose training rollouts are q's."""
    from_q = not any("train/acc" in h for s in seeds for h in s.history)
    key = "train/acc_q" if from_q else "train/acc"
    return mean_series(row_label(row), [curve(s.history, key) for s in seeds], scale=-100.0, offset=100.0), from_q


def wsram_figure2(rows: dict[str, list[SeedRuns]]) -> Figure | None:
    """Training error, gradient variance and ESS against updates, one line per estimator, and the
    validation error beside them.

    An estimator with an inference network logs its training accuracy as ``train/acc_q`` (rollouts
    from q, which sees the label); the panel's title says so. The validation error samples the prior p for
    every estimator alike, so it is the panel that compares them on equal terms.
    """
    present = {row: seeds for row, seeds in rows.items() if any(s.history for s in seeds)}
    if not present:
        return None
    error = dict(scale=-100.0, offset=100.0)
    train = [training_error(row, seeds) for row, seeds in present.items()]
    train_title = "Training error" + (" (+q: q's rollouts)" if any(from_q for _, from_q in train) else "")

    def series(key: str, **scaling: float) -> list[Series]:
        return [
            mean_series(row_label(row), [curve(s.history, key) for s in seeds], **scaling)
            for row, seeds in present.items()
        ]

    figure, axes = panels(4)
    shared = dict(legend=False)  # one legend for the four panels
    line_chart(
        axes[0], [series for series, _ in train], train_title, "updates", "error (%)", nonnegative=True, **shared
    )
    line_chart(axes[1], series("train/grad_variance"), "Gradient variance", "updates", "variance", log_y=True, **shared)
    line_chart(
        axes[2], series("train/ess"), "Effective sample size (max = M)", "updates", "ESS", nonnegative=True, **shared
    )
    line_chart(
        axes[3],
        series("val/acc", **error),
        "Validation error (rollouts from p)",
        "updates",
        "error (%)",
        nonnegative=True,
        **shared,
    )
    figure.legend(*axes[0].get_legend_handles_labels(), loc="outside right center", frameon=False)
    return figure


def study_figures(rows: dict[str, list[SeedRuns]], module: str = "decoder") -> dict[str, Figure]:
    """The study's figures that ``rows`` (All-Step first, then Last-Step) have data for, by PNG name."""
    figures = {
        "study_glimpse_accuracy.png": glimpse_accuracy(rows),
        "study_val_accuracy.png": val_accuracy(rows),
        "study_weight_updates.png": weight_updates(rows, module),
        "study_cell_drift.png": cell_drift(rows),
        "study_confusion_difference.png": confusion_difference(rows),
    }
    return {name: figure for name, figure in figures.items() if figure is not None}


def seeds_shown(runs: Path, row: str, listed: set[int] | None = None, kept: Path | None = KEPT) -> list[SeedRuns]:
    """The seeds of ``row`` that the figures and the claims show; says which were left out.

    Args:
        kept: where the seeds whose run is not under ``runs`` are kept (:func:`load_seeds`).
        listed: the row's seeds in ``results.json``, whose protocol is the row's now (a seed
            trained before the row's config changed is not among them); ``None``: every seed.
            Of those, the finished ones (:func:`finished_seeds`).
    """
    seeds = load_seeds(runs, row, kept)
    if listed is not None:
        if other := sorted({s.seed for s in seeds} - listed):
            print(
                f"{row}: left out seed(s) {', '.join(map(str, other))}: not the row's in results.json (another protocol)"
            )
        seeds = [s for s in seeds if s.seed in listed]
    shown = finished_seeds(seeds)
    if left := sorted({s.seed for s in seeds} - {s.seed for s in shown}):
        print(f"{row}: left out seed(s) {', '.join(map(str, left))}: not finished, and the row has a finished seed")
    return shown


def missing_seeds(runs: Path, row: str, statuses: dict[int, str] | None, kept: Path | None = KEPT) -> list[int]:
    """The seeds ``results.json`` records as finished for ``row`` (``statuses``: seed -> status)
    whose runs are neither under ``runs`` nor kept under ``kept`` (a fresh checkout of seeds run
    before ``reproduce`` kept them): drawn without them, a figure would not be the row's that
    ``RESULTS.md`` gives."""
    here = {s.seed for s in load_seeds(runs, row, kept)}
    return sorted(seed for seed, status in (statuses or {}).items() if status == "done" and seed not in here)


def _complete(
    group: str,
    runs: Path,
    kept: Path,
    rows: Sequence[str],
    listed: dict[str, dict[int, str]],
    allow: bool,
) -> bool:
    """Whether the figures of ``group`` may be drawn: every finished seed ``results.json`` lists for
    its rows is here, or ``allow`` (``--allow-missing``); says what is missing either way."""
    missing = {row: seeds for row in rows if (seeds := missing_seeds(runs, row, listed.get(row), kept))}
    for row, seeds in missing.items():
        print(
            f"{row}: results.json lists finished seed(s) {', '.join(map(str, seeds))} whose runs are neither "
            f"under {runs} nor kept under {kept}"
        )
    if missing and not allow:
        print(
            f"skipped the {group} figures and claims: drawn from the seeds here they would not be the rows' "
            "(--allow-missing draws them anyway)"
        )
    return allow or not missing


def weighting_pages(folders: Sequence[Path]) -> dict[str, tuple[Figure, str]]:
    """Each kept weighting sweep's figure and page (its table and statement), by name: a folder
    ``weighting_<name>`` (any other name ``<name>``) is ``weighting_<name>``."""
    pages = {}
    for folder in folders:
        groups = weightings.by_weighting([weightings.load_run(run) for run in weightings.kept_runs(folder)])
        name = folder.name if folder.name.startswith(weightings.PREFIX) else weightings.PREFIX + folder.name
        page = weightings.document(groups, folder.as_posix(), weightings.read_about(folder), by="figures")
        pages[name] = (weightings.figure(groups), page)
    return pages


def main(args: list[str] | None = None) -> list[Path]:
    """Write the figures, each as PNG and PDF; returns the paths written."""
    parser = argparse.ArgumentParser(prog="python -m lit_draw figures", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--runs", type=Path, default=Path("runs/reproduce"), help="runs of reproduce (default: %(default)s)"
    )
    parser.add_argument(
        "--records",
        type=Path,
        default=KEPT,
        help="seeds kept by reproduce, read when their run is not under --runs (default: %(default)s)",
    )
    parser.add_argument("--out", type=Path, default=Path("docs"), help="folder for the figures (default: %(default)s)")
    parser.add_argument("--study", nargs=2, default=list(STUDY_ROWS), metavar="ROW", help="the two rows compared")
    parser.add_argument(
        "--wsram", nargs="*", default=list(WSRAM_ROWS), metavar="ROW", help="the estimators' rows (none: no Figure 2)"
    )
    parser.add_argument(
        "--weightings",
        nargs="*",
        type=Path,
        metavar="DIR",
        help="weighting sweeps kept by `weightings --keep` (default: every weighting_* folder under --records "
        "that holds kept runs; none: no weighting figure)",
    )
    parser.add_argument("--module", default="decoder", help="module whose weight updates are plotted")
    parser.add_argument(
        "--results",
        type=Path,
        help=f"rows' seeds as reproduce lists them; rows it lacks show every seed (default: {RESULTS_JSON} "
        "when there is one, else every seed)",
    )
    parser.add_argument(
        "--allow-missing",
        action="store_true",
        help="draw a group's figures even when results.json lists finished seeds whose runs are not here",
    )
    options = parser.parse_args(args)
    if options.results is not None and not options.results.is_file():
        parser.error(f"--results must be a results file, got {str(options.results)!r}: no such file")
    entries = read_json(options.results or RESULTS_JSON) or []
    listed = {
        e["row"]: dict(zip(e["seeds"], e.get("seed_status") or ["done"] * len(e["seeds"]), strict=True))
        for e in entries
    }
    for flag, names in (("--study", options.study), ("--wsram", options.wsram)):
        _check_rows(flag, names, options.runs, options.records, listed)
    sweeps = weightings.kept_sweeps(options.records) if options.weightings is None else options.weightings
    pages = weighting_pages(sweeps)  # first: a folder without kept runs is an error before anything is drawn
    study = {row: seeds_shown(options.runs, row, _keys(listed.get(row)), options.records) for row in options.study}
    wsram = {row: seeds_shown(options.runs, row, _keys(listed.get(row)), options.records) for row in options.wsram}
    if not _complete("study", options.runs, options.records, options.study, listed, options.allow_missing):
        study = {row: [] for row in study}
    if not _complete("WS-RAM", options.runs, options.records, options.wsram, listed, options.allow_missing):
        wsram = {row: [] for row in wsram}
    figures = study_figures(study, options.module)
    figure2 = wsram_figure2(wsram)
    if figure2 is not None:
        figures["wsram_figure2.png"] = figure2
    figures |= {f"{name}.png": figure for name, (figure, _) in pages.items()}
    options.out.mkdir(parents=True, exist_ok=True)
    written = []
    for name, figure in figures.items():
        written += save(figure, options.out / name)
        print(f"wrote {options.out / name} and {Path(name).with_suffix('.pdf')}")
    for name in FIGURES:
        if name not in figures and (options.wsram or not name.startswith("wsram_")):
            print(f"skipped {name}: no runs with its data under {options.runs} or {options.records}")
    if options.weightings is None and not pages:
        print(
            f"skipped {weightings.PREFIX}*.png: no weighting sweep kept under {options.records} "
            f"({weightings.PREFIX}<name>/, by python -m lit_draw weightings ROOT --keep)"
        )
    tables = {
        "study_claims.md": (study, lambda: study_claims.claims_table(study, options.module)),
        "wsram_claims.md": (wsram, lambda: wsram_claims.claims_table(wsram)),
    }
    for name, (rows, table) in tables.items():
        if any(s.history for seeds in rows.values() for s in seeds):
            path = options.out / name
            path.write_text(claims_document(name, table()))
            print(f"wrote {path}:\n{path.read_text()}")
            written.append(path)
    for name, (_, page) in pages.items():
        path = options.out / f"{name}.md"
        path.write_text(page)
        print(f"wrote {path}")
        written.append(path)
    return written


def _check_rows(flag: str, names: Sequence[str], runs: Path, kept: Path, listed: dict[str, dict[int, str]]) -> None:
    """Refuse a row that is none of reproduce's (``configs/reproduce.yaml``), nor in ``results.json``,
    nor has seeds under ``runs`` or ``kept``: its figures would be drawn empty without a word.

    Raises:
        ConfigError: naming the flag, the unknown rows and the rows there are.
    """
    from lit_draw.experiments.reproduce import ROWS_FILE, load_rows

    shipped = list(load_rows(ROWS_FILE)) if ROWS_FILE.is_file() else []
    unknown = [
        name
        for name in names
        if name not in shipped and name not in listed and not (runs / name).is_dir() and not (kept / name).is_dir()
    ]
    if unknown:
        raise ConfigError(
            f"{flag} must name rows of {ROWS_FILE.name} or rows with seeds under {runs} or {kept} "
            f"({', '.join(shipped)}), got {', '.join(unknown)}"
        )


def _keys(statuses: dict[int, str] | None) -> set[int] | None:
    return None if statuses is None else set(statuses)


if __name__ == "__main__":
    main()
