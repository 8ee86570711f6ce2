"""The measures behind WS-RAM's Figure 2 claims table, on hand-made histories whose answers are known."""

from __future__ import annotations

import pytest

from lit_draw.experiments.seed_runs import SeedRuns
from lit_draw.experiments.wsram_claims import (
    CLAIMS,
    Claim,
    claims_table,
    collapse,
    final_error,
    median_logged,
    updates_to_error,
    verdict,
)


def _history(errors: dict[int, float], variance: float = 1.0, ess: float = 4.0) -> list[dict[str, float]]:
    """val/acc at the given steps (``errors`` in percent), and the training scalars every 100 steps."""
    train = [
        {"step": s, "train/grad_variance": variance * (1 + s / 1000), "train/ess": ess} for s in range(100, 1100, 100)
    ]
    return train + [{"step": s, "val/acc": 1 - e / 100} for s, e in errors.items()]


def test_convergence_is_the_last_validation_error_and_the_first_update_at_the_level():
    history = _history({250: 90.0, 500: 60.0, 750: 45.0, 1000: 30.0})
    assert final_error(history) == pytest.approx(30.0)
    assert updates_to_error(history) == 750  # the first at or below 50%
    assert updates_to_error(history, level=20.0) is None
    assert final_error([]) is None


def test_the_median_is_over_every_logged_value():
    history = _history({1000: 50.0})  # variance 1.1, 1.2, ..., 2.0: median 1.55
    assert median_logged(history, "train/grad_variance") == pytest.approx(1.55)
    assert median_logged(history, "train/ess") == 4.0
    assert median_logged(history, "train/missing") is None


def test_collapse_reads_the_last_validation_that_logged_the_policy():
    early = {"step": 250, "val/zoom_0_glimpse_1": 0.5, "val/zoom_1_glimpse_1": 0.5, "val/policy_std_glimpse_1": 0.3}
    late = {
        "step": 500,
        "val/zoom_0_glimpse_1": 0.2,
        "val/zoom_1_glimpse_1": 0.8,
        "val/zoom_0_glimpse_2": 1.0,
        "val/zoom_1_glimpse_2": 0.0,
        "val/policy_std_glimpse_1": 0.02,
        "val/box_distance_glimpse_1": 0.0,
        "val/box_distance_glimpse_2": 60.0,
        "val/box_distance_glimpse_3": 70.0,
    }
    shape = collapse([early, {"step": 400, "train/ess": 4.0}, late])
    assert shape.top_zoom_share == 1.0  # glimpse 2 always at zoom 0
    assert shape.first_std == 0.02 and shape.later_distance == pytest.approx(65.0)
    assert collapse([early]).later_distance is None and collapse([]).top_zoom_share is None


def test_a_claim_holds_only_beyond_the_seeds_spread():
    lower = Claim("a is lower", "m", "a", "b")
    assert verdict(lower, [1.0, 1.2], [3.0, 3.2]) == "holds"
    assert verdict(lower, [3.0, 3.2], [1.0, 1.2]) == "reversed"
    assert verdict(lower, [1.0, 3.0], [2.5, 2.7]) == "within spread"  # difference 1.1 < sd 1.41
    assert verdict(lower, [1.0], [3.0]) == "within spread"  # one seed: no spread known
    assert verdict(Claim("a is higher", "m", "a", "b", lower=False), [3.0, 3.2], [1.0, 1.2]) == "holds"
    one_scale = Claim("no collapse", "top zoom share", "a")
    assert verdict(one_scale, [0.6, 0.7], []) == "holds" and verdict(one_scale, [1.0, 0.99], []) == "reversed"


def test_the_table_has_a_row_per_seed_and_a_line_per_claim_with_data():
    rows = {
        "wsram_figure2_ws_ram": [SeedRuns(s, _history({1000: 40.0 + s}, variance=10.0)) for s in (0, 1)],
        "wsram_figure2_ws_ram_q": [SeedRuns(s, _history({1000: 20.0 + s}, variance=1.0)) for s in (0, 1)],
        "wsram_figure2_var": [SeedRuns(0)],  # not run: no line
    }
    table = claims_table(rows)
    assert "| WS-RAM | 1 | 41 | 1,000 | 15.5 | 4 | - | - | - |" in table
    assert "| WS-RAM+q | 0 | 20 |" in table and "| VAR |" not in table
    assert (
        "| The inference network speeds WS-RAM (Fig. 2 left) | val error (%) | WS-RAM+q 20.5 vs WS-RAM 40.5 "
        "(2/2 seeds) | holds |"
    ) in table
    assert "| The inference network lowers the gradient variance (Fig. 2 middle) | median grad variance | " in table
    claimed = [line for line in table.splitlines() if line.endswith(("holds |", "reversed |", "within spread |"))]
    assert len(claimed) == 2  # only the claims between the two rows that ran
    assert len(CLAIMS) == 9
