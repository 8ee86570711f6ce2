"""One row's seeds as ``python -m lit_draw reproduce`` left them (``runs/<row>/seed<k>``): each seed's
logged scalars (``metrics.csv`` beside its W&B runs, see :mod:`lit_draw.cli.metrics_csv`;
``<seed>/wandb``: training, every resumed part in order; ``<seed>/test/wandb``: the newest test), its
test confusion matrix and its ``test_metrics.json``. Read by the figures and the study's claims.

``runs/`` is a machine's working folder, not part of the repository: a fresh checkout has none. So
``reproduce`` also keeps, in the repository, a copy of what the figures read of each seed of the
rows' own results (:func:`keep_seed`)::

    records/<row>/seed<k>/train_metrics.csv.gz   every training part's rows, in order
    records/<row>/seed<k>/test_metrics.csv       the newest test's rows
    records/<row>/seed<k>/test_confusion.csv     its confusion matrix
    records/<row>/seed<k>/test_metrics.json      the seed's record (paths relative to the repository)
    records/<row>/seed<k>/config.yaml            the config its newest fit resolved

and :func:`load_seeds` reads a seed from there when its run is not under ``runs/``: the figures of a
row can be drawn again on any machine, from every seed it was given.
"""

from __future__ import annotations

import csv
import json
import shutil
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lit_draw.cli.metrics_csv import newest_per_step, read_metrics, read_rows, run_folders, write_rows
from lit_draw.errors import ConfigError
from lit_draw.experiments.results import portable_record, write_json

#: Row name -> label in the figures.
LABELS = {
    "study_all_step": "All-Step",
    "study_last_step": "Last-Step",
    "wsram_figure2_var": "VAR",
    "wsram_figure2_var_c": "VAR+c",
    "wsram_figure2_ws_ram": "WS-RAM",
    "wsram_figure2_ws_ram_c": "WS-RAM+c",
    "wsram_figure2_ws_ram_q": "WS-RAM+q",
    "wsram_figure2_ws_ram_q_c": "WS-RAM+q+c",
}
STEP = "step"
#: Where ``reproduce`` keeps each seed's logged scalars in the repository, relative to the working
#: directory (see the module docstring).
KEPT = Path("records")
TRAIN_FILE, TEST_FILE, CONFUSION_FILE, RECORD_FILE, CONFIG_FILE = (
    "train_metrics.csv.gz",
    "test_metrics.csv",
    "test_confusion.csv",
    "test_metrics.json",
    "config.yaml",
)


@dataclass
class SeedRuns:
    """What one seed of a row logged.

    Attributes:
        seed: the seed.
        history: the training run's logged rows (``metrics.csv``), every resumed part in order.
        test_history: the test run's logged rows.
        record: the seed's ``test_metrics.json`` (``acc_per_glimpse`` in percent), or ``None``.
        confusion: the test confusion matrix ``[C, C]`` (rows true, columns predicted), or ``None``.
    """

    seed: int
    history: list[dict[str, Any]] = field(default_factory=list)
    test_history: list[dict[str, Any]] = field(default_factory=list)
    record: dict[str, Any] | None = None
    confusion: list[list[int]] | None = None


def load_seeds(runs: Path, row: str, kept: Path | None = KEPT) -> list[SeedRuns]:
    """Every seed of ``row`` under ``runs`` (``runs/<row>/seed<k>``), and those kept under ``kept``
    (``kept/<row>/seed<k>``, see :func:`keep_seed`) whose run is not under ``runs``, by seed."""
    found = {seed: _load_run(seed, directory) for seed, directory in _seed_folders(runs / row).items()}
    if kept is not None:
        for seed, directory in _seed_folders(kept / row).items():
            if seed not in found:
                found[seed] = _load_kept(seed, directory)
    return [found[seed] for seed in sorted(found)]


def keep_seed(directory: Path, into: Path) -> None:
    """Copy what the figures read of the seed run in ``directory`` (``runs/<row>/seed<k>``) into
    ``into`` (``records/<row>/seed<k>``): its training rows, its newest test's rows and confusion
    matrix, its record with repository-relative paths and the config its newest fit resolved (see
    the module docstring). Files the seed lacks are removed from ``into``."""
    test = _newest_test(directory)
    seed = _load_run(int(directory.name.removeprefix("seed")), directory, test)
    into.mkdir(parents=True, exist_ok=True)
    for name, rows in ((TRAIN_FILE, seed.history), (TEST_FILE, seed.test_history)):
        write_rows(into / name, rows)
    confusion = test / "files" / CONFUSION_FILE if test else None
    if confusion is not None and confusion.is_file():
        shutil.copyfile(confusion, into / CONFUSION_FILE)
    else:
        (into / CONFUSION_FILE).unlink(missing_ok=True)
    if seed.record is not None:
        write_json(into / RECORD_FILE, portable_record(seed.record))
    else:
        (into / RECORD_FILE).unlink(missing_ok=True)
    config = directory / "checkpoints" / CONFIG_FILE  # the link to the newest fit's folder
    if config.is_file():
        shutil.copyfile(config, into / CONFIG_FILE)
    else:
        (into / CONFIG_FILE).unlink(missing_ok=True)


def _seed_folders(folder: Path) -> dict[int, Path]:
    """``seed -> folder`` of the ``seed<k>`` folders in ``folder``."""
    names = (p for p in folder.glob("seed*") if p.is_dir() and p.name.removeprefix("seed").isdigit())
    return {int(p.name.removeprefix("seed")): p for p in names}


def _newest_test(directory: Path) -> Path | None:
    """The W&B run folder of the newest test of the seed run in ``directory``, if it tested."""
    tests = run_folders(directory / "test" / "wandb") if (directory / "test" / "wandb").is_dir() else []
    return tests[-1] if tests else None


def _load_run(seed: int, directory: Path, test: Path | None = None) -> SeedRuns:
    """A seed as ``reproduce`` ran it, from its folder under ``runs/`` (``test``: its newest test's
    run folder, :func:`_newest_test`, when the caller has it)."""
    test = test or _newest_test(directory)
    return SeedRuns(
        seed,
        history=read_metrics(run_folders(directory / "wandb")) if (directory / "wandb").is_dir() else [],
        test_history=read_metrics(test) if test else [],
        record=_read_record(directory / RECORD_FILE),
        confusion=_read_confusion(test / "files" / CONFUSION_FILE if test else None),
    )


def _load_kept(seed: int, directory: Path) -> SeedRuns:
    """A seed as :func:`keep_seed` kept it."""

    def rows(name: str) -> list[dict[str, Any]]:
        # the newest value of each step: a record kept before read_metrics dropped a resume's repeats may hold them
        return newest_per_step(read_rows(directory / name)) if (directory / name).is_file() else []

    return SeedRuns(
        seed,
        rows(TRAIN_FILE),
        rows(TEST_FILE),
        _read_record(directory / RECORD_FILE),
        _read_confusion(directory / CONFUSION_FILE),
    )


def _read_record(path: Path) -> dict[str, Any] | None:
    return json.loads(path.read_text()) if path.is_file() else None


def _read_confusion(path: Path | None) -> list[list[int]] | None:
    """A ``test_confusion.csv`` (a header, then per true class its label and its counts), or ``None``."""
    if path is None or not path.is_file():
        return None
    try:
        with path.open(newline="") as file:
            lines = list(csv.reader(file))[1:]
    except (UnicodeDecodeError, csv.Error) as error:
        raise ConfigError(f"confusion matrix {path}: not a CSV text file ({error})") from error
    try:
        return [[int(v) for v in line[1:]] for line in lines]
    except ValueError as error:
        raise ConfigError(f"confusion matrix {path}: counts must be ints ({error})") from error


def finished_seeds(seeds: list[SeedRuns]) -> list[SeedRuns]:
    """The seeds of one row that finished their budget (``test_metrics.json`` with ``status: done``),
    or every seed when none has: a seed stopped part-way never enters a row's means beside a finished
    one (the rule of :func:`lit_draw.experiments.results.standing`, for a row's means and export)."""
    return [s for s in seeds if s.record is not None and s.record.get("status") == "done"] or seeds


def curve(history: list[dict[str, Any]], key: str) -> dict[int, float]:
    """``step -> value`` of ``key`` (a step logged again by a resumed run keeps its later value)."""
    return {row[STEP]: row[key] for row in history if key in row and STEP in row}


def row_label(row: str) -> str:
    """The figures' name for ``row`` (``study_last_step`` -> ``Last-Step``); unknown rows keep their name."""
    return LABELS.get(row, row)


def last_values(history: list[dict[str, Any]], prefix: str) -> dict[int, float]:
    """``t -> value`` of the keys ``<prefix><t>`` in the last history row holding them."""
    values: dict[int, float] = {}
    for row in history:
        found = {int(k.removeprefix(prefix)): v for k, v in row.items() if k.startswith(prefix)}
        values = found or values
    return values


def mean_confusion(seeds: list[SeedRuns]) -> list[list[float]] | None:
    """The mean over ``seeds`` of their test confusion matrices ``[C, C]`` (the seeds that have one),
    ``None`` when none has."""
    matrices = [s.confusion for s in seeds if s.confusion is not None]
    if not matrices:
        return None
    return [[statistics.fmean(cells) for cells in zip(*rows, strict=True)] for rows in zip(*matrices, strict=True)]
