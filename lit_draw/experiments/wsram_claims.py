"""Ba et al. 2015's claims about the six estimators of Figure 2 (sec. 5.1, Figures 2-3), measured on
our runs: one number per measure and seed, then each claim as a comparison of two estimators' means.

``python -m lit_draw figures`` writes the tables to ``docs/wsram_claims.md``. Each measure is a plain
function of one seed's logged history (:class:`~lit_draw.experiments.seed_runs.SeedRuns`):

* :func:`final_error` and :func:`updates_to_error`: validation error (rollouts from the prior p, the
  same for every estimator) at the end, and the first update at which it reaches :data:`LEVEL`
  (Figure 2, left: convergence speed);
* :func:`median_logged` of ``train/grad_variance`` (Figure 2, middle) and of ``train/ess``
  (Figure 2, right: effective sample size, at most M = 5), over the whole run, so that every
  estimator is measured over the same updates;
* :func:`collapse`: at the last validation, the largest share of glimpses one zoom level gets, the
  first glimpse's location-policy std and the mean distance of glimpses 2..T from the digit's box
  (Figure 3: "the variational method quickly fell into a local minimum where the model predicted
  only one glimpse scale"; the exploration heuristics of sec. 4.5 are meant to prevent it).

A claim compares two estimators' means over seeds: it *holds* when the difference has the paper's
sign and is larger than the larger of the two seeds' standard deviations, is *reversed* when it is
that large the other way, and is *within spread* otherwise (always so with one seed per row:
no spread is known, so no claim is called).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from typing import Any

from lit_draw.experiments.seed_runs import SeedRuns, curve, last_values, row_label

#: Validation error (%) whose first crossing measures convergence speed.
LEVEL = 50.0


def final_error(history: list[dict[str, Any]]) -> float | None:
    """Validation error (%) at the last validation, ``None`` without one."""
    accuracy = curve(history, "val/acc")
    return 100 * (1 - accuracy[max(accuracy)]) if accuracy else None


def updates_to_error(history: list[dict[str, Any]], level: float = LEVEL) -> int | None:
    """The first validation step whose error (%) is at most ``level``, ``None`` if none is."""
    accuracy = curve(history, "val/acc")
    return next((s for s in sorted(accuracy) if 100 * (1 - accuracy[s]) <= level), None)


def median_logged(history: list[dict[str, Any]], key: str) -> float | None:
    """The median of every logged value of ``key``, ``None`` if it was never logged."""
    values = list(curve(history, key).values())
    return statistics.median(values) if values else None


@dataclass(frozen=True)
class Collapse:
    """What the last validation shows of the attention policy (:mod:`lit_draw.callbacks.policy_collapse`).

    Attributes:
        top_zoom_share: the largest share of one glimpse's choices that one zoom level gets (1: one
            level always, the collapse of Figure 3), ``None`` without zoom levels.
        first_std: the first glimpse's mean location-policy std, in ``[-1, 1]`` units.
        later_distance: mean distance in pixels from glimpses 2..T to the digit's box.
    """

    top_zoom_share: float | None
    first_std: float | None
    later_distance: float | None


def collapse(history: list[dict[str, Any]]) -> Collapse:
    """The :class:`Collapse` measures at the last validation that logged them."""
    zooms: dict[int, list[float]] = {}
    for row in history:
        found: dict[int, list[float]] = {}
        for key, value in row.items():
            if key.startswith("val/zoom_"):
                glimpse = int(key.rsplit("_glimpse_", 1)[1])
                found.setdefault(glimpse, []).append(value)
        zooms = found or zooms
    std = last_values(history, "val/policy_std_glimpse_")
    distance = last_values(history, "val/box_distance_glimpse_")
    later = [d for t, d in distance.items() if t >= 2]
    return Collapse(
        max((max(shares) for shares in zooms.values()), default=None),
        std.get(1),
        statistics.fmean(later) if later else None,
    )


def seed_measures(seed: SeedRuns) -> dict[str, float | None]:
    """Every measure of one seed, by the name the tables use."""
    shape = collapse(seed.history)
    return {
        "val error (%)": final_error(seed.history),
        f"updates to {LEVEL:.0f}% val error": updates_to_error(seed.history),
        "median grad variance": median_logged(seed.history, "train/grad_variance"),
        "median ESS": median_logged(seed.history, "train/ess"),
        "top zoom share": shape.top_zoom_share,
        "glimpse-1 std": shape.first_std,
        "glimpses 2..T from box (px)": shape.later_distance,
    }


@dataclass(frozen=True)
class Claim:
    """One of the paper's claims as a comparison: ``better`` has a lower (``lower=True``) or higher
    ``measure`` than ``worse``; without ``worse``, ``better``'s mean is below :data:`ONE_SCALE`."""

    text: str
    measure: str
    better: str
    worse: str | None = None
    lower: bool = True


#: The paper's claims (sec. 5.1, Figures 2-3), as comparisons of two rows.
CLAIMS = (
    Claim(
        "WS-RAM+q+c converges faster than VAR+c (Fig. 2 left)",
        "val error (%)",
        "wsram_figure2_ws_ram_q_c",
        "wsram_figure2_var_c",
    ),
    Claim(
        "WS-RAM beats VAR at equal samples (Fig. 2 left)", "val error (%)", "wsram_figure2_ws_ram", "wsram_figure2_var"
    ),
    Claim(
        "Control variates speed WS-RAM (Fig. 2 left)", "val error (%)", "wsram_figure2_ws_ram_c", "wsram_figure2_ws_ram"
    ),
    Claim(
        "The inference network speeds WS-RAM (Fig. 2 left)",
        "val error (%)",
        "wsram_figure2_ws_ram_q",
        "wsram_figure2_ws_ram",
    ),
    Claim(
        "The inference network lowers the gradient variance (Fig. 2 middle)",
        "median grad variance",
        "wsram_figure2_ws_ram_q",
        "wsram_figure2_ws_ram",
    ),
    Claim(
        "Control variates lower the gradient variance (Fig. 2 middle)",
        "median grad variance",
        "wsram_figure2_ws_ram_c",
        "wsram_figure2_ws_ram",
    ),
    Claim(
        "Control variates raise the ESS (Fig. 2 right)",
        "median ESS",
        "wsram_figure2_ws_ram_c",
        "wsram_figure2_ws_ram",
        lower=False,
    ),
    Claim("With exploration, VAR does not collapse to one scale (Fig. 3)", "top zoom share", "wsram_figure2_var"),
    Claim("With exploration, VAR+c does not collapse to one scale (Fig. 3)", "top zoom share", "wsram_figure2_var_c"),
)
#: A policy whose top zoom share is at least this has collapsed to one scale.
ONE_SCALE = 0.95


def _mean_sd(values: list[float]) -> tuple[float, float | None]:
    return statistics.fmean(values), (statistics.stdev(values) if len(values) > 1 else None)


def verdict(claim: Claim, better: list[float], worse: list[float]) -> str:
    """``holds``, ``reversed`` or ``within spread`` (module docstring) for two rows' seed values;
    a claim without a second row (Figure 3) compares the first's mean with :data:`ONE_SCALE`."""
    mean, sd = _mean_sd(better)
    if not claim.worse:
        return "holds" if mean < ONE_SCALE else "reversed"
    other, other_sd = _mean_sd(worse)
    if sd is None or other_sd is None:
        return "within spread"
    difference = (other - mean) if claim.lower else (mean - other)
    if abs(difference) <= max(sd, other_sd):
        return "within spread"
    return "holds" if difference > 0 else "reversed"


def _format(value: float | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, int) or abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def claims_table(rows: dict[str, list[SeedRuns]]) -> str:
    """The measures per estimator and seed, then the claims, as markdown tables."""
    measures = {row: [(s.seed, seed_measures(s)) for s in seeds if s.history] for row, seeds in rows.items()}
    names = list(seed_measures(SeedRuns(0)))
    lines = ["| Estimator | Seed | " + " | ".join(names) + " |", "|---|---|" + "---|" * len(names)]
    for row, seeds in measures.items():
        for seed, values in seeds:
            lines.append(f"| {row_label(row)} | {seed} | " + " | ".join(_format(values[n]) for n in names) + " |")
    lines += ["", "| Claim (Ba et al. 2015) | Measure | Ours (mean over seeds) | Verdict |", "|---|---|---|---|"]

    def values(row: str | None, name: str) -> list[float]:
        return [v[name] for _, v in measures.get(row, []) if v[name] is not None] if row else []

    for claim in CLAIMS:
        better, worse = values(claim.better, claim.measure), values(claim.worse, claim.measure)
        if not better or (claim.worse and not worse):
            continue
        ours = f"{row_label(claim.better)} {_format(statistics.fmean(better))}"
        if claim.worse:
            ours += f" vs {row_label(claim.worse)} {_format(statistics.fmean(worse))}"
        seeds = f" ({len(better)}{'/' + str(len(worse)) if claim.worse else ''} seeds)"
        lines.append(f"| {claim.text} | {claim.measure} | {ours}{seeds} | {verdict(claim, better, worse)} |")
    return "\n".join(lines) + "\n"
