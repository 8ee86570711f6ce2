"""The study's claims about All-Step against Last-Step, measured on our runs, one number per claim
and seed (Sec. 3.1-4.2 of "Accuracy and Time in RNN Attention Models": figs. 3-10).

``python -m lit_draw figures`` prints the table and writes it to ``docs/study_claims.md``. Each
measure is a plain function of one seed's logged history (:class:`~lit_draw.experiments.seed_runs.SeedRuns`),
so that a reader can check its definition here:

* :func:`climb_start`: the update at which validation accuracy leaves its starting plateau (fig. 5's
  S-curve: Last-Step about 6,500, All-Step about 110,000);
* :func:`swings` and :func:`jitter`: drops between consecutive validations after the climb, and the
  mean change between them late in training (fig. 5: Last-Step "all over the place", All-Step
  "relatively stable");
* :func:`spikes_before_dips`: how many of those drops follow a spike in the decoder's weight update
  (fig. 7: "large decoder updates occurred right before large dips in accuracy");
* :func:`overpredicted`: the classes the second row predicts more often than the first (fig. 8:
  Last-Step over-predicts 1, 3 and 5);
* the decoder's cell drift by glimpse (fig. 9: Last-Step's rises at glimpses 7-9, All-Step's falls).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

from lit_draw.experiments.seed_runs import STEP, SeedRuns, curve, last_values, mean_confusion, row_label

#: A drop of at least this much validation accuracy between consecutive validations is a swing.
SWING = 0.05
#: A validation interval whose weight update is at least this many times the median interval's spikes.
SPIKE = 2.0
#: Validation accuracy must rise this far above its plateau for the climb to have started.
RISE = 0.10


def climb_start(
    accuracy: dict[int, float], plateau_points: int = 10, window: int = 5, rise: float = RISE
) -> int | None:
    """The first validation step whose accuracy, and the median of the ``window`` validations from it,
    exceed the plateau (the mean of the first ``plateau_points`` validations) by ``rise``: the start of
    a lasting rise, not one lucky validation; ``None`` if there is none.

    Args:
        accuracy: ``step -> val/acc`` (a fraction).
    """
    steps = sorted(accuracy)
    if len(steps) < plateau_points + window:
        return None
    plateau = statistics.fmean(accuracy[s] for s in steps[:plateau_points])
    for i in range(plateau_points, len(steps) - window + 1):
        if min(accuracy[steps[i]], statistics.median(accuracy[s] for s in steps[i : i + window])) > plateau + rise:
            return steps[i]
    return None


def swings(accuracy: dict[int, float], start: int | None, drop: float = SWING) -> list[int]:
    """The validation steps at or after ``start`` whose accuracy is at least ``drop`` below the
    previous validation's (none if the climb never started)."""
    if start is None:
        return []
    steps = [s for s in sorted(accuracy) if s >= start]
    return [b for a, b in pairwise(steps) if accuracy[a] - accuracy[b] >= drop]


def jitter(accuracy: dict[int, float], span: int = 50_000) -> float | None:
    """Mean absolute change of accuracy between consecutive validations over the last ``span``
    updates logged (the same fixed validation canvases each time, so what changes is the model);
    ``None`` with fewer than two validations there."""
    last = max(accuracy, default=0)
    steps = [s for s in sorted(accuracy) if s > last - span]
    if len(steps) < 2:
        return None
    return statistics.fmean(abs(accuracy[b] - accuracy[a]) for a, b in pairwise(steps))


def update_per_interval(history: list[dict[str, Any]], module: str, steps: Sequence[int]) -> dict[int, float]:
    """For each validation step ``s``, the sum of the logged ``weight_update/<module>.*`` values at
    steps in ``(previous validation, s]``: how far the module's weights moved before that validation."""
    prefix = f"weight_update/{module}."
    logged: dict[int, float] = {}
    for row in history:
        values = [v for k, v in row.items() if k.startswith(prefix)]
        if values and STEP in row:
            logged[row[STEP]] = sum(values)
    intervals = {}
    for previous, step in pairwise(steps):
        intervals[step] = sum(v for s, v in logged.items() if previous < s <= step)
    return intervals


def spikes_before_dips(history: list[dict[str, Any]], module: str, start: int | None) -> tuple[int, int, float]:
    """``(dips after a spike, dips, spike share)``: of the swings after ``start``, how many have a
    spike, a ``module`` update at least :data:`SPIKE` times the median interval's, in their own or the
    previous validation interval; and the share of intervals after ``start`` that spike (what chance
    alone would give per interval)."""
    accuracy = curve(history, "val/acc")
    dips = swings(accuracy, start)
    steps = sorted(accuracy)
    updates = {s: v for s, v in update_per_interval(history, module, steps).items() if start is not None and s >= start}
    if not updates:
        return 0, len(dips), 0.0
    threshold = SPIKE * statistics.median(updates.values())
    spiked = {s for s, v in updates.items() if v >= threshold}
    index = {s: i for i, s in enumerate(steps)}
    before = sum(1 for d in dips if d in spiked or (index[d] > 0 and steps[index[d] - 1] in spiked))
    return before, len(dips), len(spiked) / len(updates)


def overpredicted(first: list[list[float]], second: list[list[float]]) -> list[tuple[int, float]]:
    """``(class, predictions of it by second minus by first)``, most over-predicted first: the column
    sums of the confusion difference (fig. 8), for the classes whose diagonal the second row lost."""
    columns = [sum(row[c] for row in second) - sum(row[c] for row in first) for c in range(len(first))]
    return sorted(((c, d) for c, d in enumerate(columns) if d > 0), key=lambda item: -item[1])


def claims_table(rows: dict[str, list[SeedRuns]], module: str = "decoder") -> str:
    """The study's claims beside our measures, as a markdown table: ``rows`` is All-Step first, then
    Last-Step, each a list of seeds."""
    lines = ["| Claim (study) | Row | Seed | Measured |", "|---|---|---|---|"]
    for row, seeds in rows.items():
        for seed in seeds:
            accuracy = curve(seed.history, "val/acc")
            if not accuracy:
                continue
            last = max(accuracy)
            start = climb_start(accuracy)
            after, dips, share = spikes_before_dips(seed.history, module, start)  # dips: the swings after start
            per_10k = 1e4 * dips / (last - start) if start is not None and last > start else 0.0
            late = jitter(accuracy)
            label = row_label(row)
            lines += [
                f"| Climb start (fig. 5: Last-Step ~6,500, All-Step ~110,000) | {label} | {seed.seed} | "
                + (f"{start:,} of {last:,} updates |" if start is not None else f"not yet, {last:,} updates |"),
                f"| Swings after the climb (fig. 5: Last-Step's, not All-Step's) | {label} | {seed.seed} | "
                f"{dips} drops of >= {100 * SWING:.0f} points ({per_10k:.1f} per 10k updates); mean change "
                f"between validations over the last 50k updates {'-' if late is None else f'{100 * late:.2f}'} points |",
                f"| {module} update spike before a dip (fig. 7) | {label} | {seed.seed} | "
                f"{after} of {dips} dips ({100 * share:.0f}% of intervals spike) |",
            ]
            drift = last_values(seed.test_history, f"test/cell_drift/{module}/")
            if drift:
                values = ", ".join(f"{drift[t]:.2f}" for t in sorted(drift))
                lines.append(f"| {module} cell drift, glimpses 2..T (fig. 9) | {label} | {seed.seed} | {values} |")
    confusions = [mean_confusion(seeds) for seeds in rows.values()]
    if len(confusions) == 2 and all(c is not None for c in confusions):
        first, second = confusions
        classes = ", ".join(f"{c} (+{d:.0f})" for c, d in overpredicted(first, second)[:3]) or "none"
        diagonal = sum(second[c][c] - first[c][c] for c in range(len(first)))
        names = [row_label(r) for r in rows]
        lines.append(
            f"| {names[1]} over-predicts 1, 3, 5 (fig. 8) | {names[1]} - {names[0]} | mean | "
            f"most over-predicted: {classes}; diagonal {diagonal:+.0f} |"
        )
    return "\n".join(lines) + "\n"
