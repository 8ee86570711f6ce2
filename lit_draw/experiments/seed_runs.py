"""One row's seeds as ``python -m lit_draw reproduce`` left them (``runs/<row>/seed<k>``): each seed's
logged scalars (``metrics.csv`` beside its W&B runs, see :mod:`lit_draw.cli.metrics_csv`;
``<seed>/wandb``: training, every resumed part in order; ``<seed>/test/wandb``: the newest test), its
test confusion matrix and its ``test_metrics.json``. Read by the figures and the study's claims.
"""

from __future__ import annotations

import csv
import json
import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lit_draw.cli.metrics_csv import read_metrics, run_folders

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


def load_seeds(runs: Path, row: str) -> list[SeedRuns]:
    """Every seed of ``row`` under ``runs`` (``runs/<row>/seed<k>``), by seed."""
    seeds = []
    for directory in sorted((runs / row).glob("seed*"), key=lambda p: int(p.name.removeprefix("seed"))):
        seed = SeedRuns(int(directory.name.removeprefix("seed")))
        seed.history = read_metrics(run_folders(directory / "wandb")) if (directory / "wandb").is_dir() else []
        tests = run_folders(directory / "test" / "wandb") if (directory / "test" / "wandb").is_dir() else []
        if tests:
            seed.test_history = read_metrics(tests[-1])
            confusion = tests[-1] / "files" / "test_confusion.csv"
            if confusion.is_file():
                seed.confusion = [[int(v) for v in line[1:]] for line in list(csv.reader(confusion.open()))[1:]]
        metrics = directory / "test_metrics.json"
        seed.record = json.loads(metrics.read_text()) if metrics.is_file() else None
        seeds.append(seed)
    return seeds


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
    return [[statistics.fmean(cells) for cells in zip(*rows)] for rows in zip(*matrices)]
