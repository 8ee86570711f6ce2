"""The measures behind the study's claims table, on hand-made histories whose answers are known."""

from __future__ import annotations

import pytest

from lit_draw.experiments.seed_runs import SeedRuns
from lit_draw.experiments.study_claims import (
    claims_table,
    climb_start,
    jitter,
    overpredicted,
    spikes_before_dips,
    swings,
)


def _s_curve(start: int, level: float = 0.8) -> dict[int, float]:
    """val/acc every 1000 updates: 0.1 up to ``start``, then ``level``."""
    return {s: (0.1 if s < start else level) for s in range(1000, 41000, 1000)}


def test_the_climb_starts_at_the_first_lasting_rise_not_at_one_lucky_validation():
    accuracy = _s_curve(25000)
    assert climb_start(accuracy) == 25000
    accuracy[15000] = 0.9  # one lucky validation on the plateau
    assert climb_start(accuracy) == 25000
    assert climb_start(_s_curve(10**6)) is None  # never climbs
    assert climb_start({1000: 0.1, 2000: 0.9}) is None  # too short to tell


def test_swings_are_drops_of_five_points_between_consecutive_validations_after_the_climb():
    accuracy = _s_curve(20000)
    accuracy[5000] = 0.0  # before the climb: not counted
    accuracy[30000] = 0.76  # 4 points down: not a swing
    accuracy[33000] = 0.7  # 10 points down: a swing (and back up)
    assert swings(accuracy, climb_start(accuracy)) == [33000]
    assert swings(accuracy, None) == []


def test_jitter_is_the_mean_change_between_consecutive_validations_late_in_training():
    accuracy = {s: 0.5 for s in range(1000, 101000, 1000)}
    accuracy[20000] = 0.9  # early: outside the last 50k updates
    assert jitter(accuracy) == 0.0
    accuracy[80000] = 0.6  # up 10 points and back: 20 points over the 49 changes from 52k to 100k
    assert jitter(accuracy) == pytest.approx(0.2 / 49)
    assert jitter({1000: 0.5}) is None


def _history(accuracy: dict[int, float], spikes: set[int]) -> list[dict[str, float]]:
    """Decoder updates logged every 100 steps (0.01 each, 1.0 at ``spikes``) and val/acc every 1000."""
    rows = [
        {
            "step": s,
            "weight_update/decoder.weight_hh": 1.0 if s in spikes else 0.01,
            "weight_update/decoder.weight_ih": 0.0,
            "weight_update/encoder.weight_hh": 5.0,
        }
        for s in range(100, 41000, 100)
    ]
    return rows + [{"step": s, "val/acc": a} for s, a in accuracy.items()]


def test_a_dip_counts_as_following_a_spike_in_its_own_or_the_previous_validation_interval():
    accuracy = _s_curve(20000)
    accuracy[30000] = accuracy[36000] = 0.6  # two dips
    # a decoder spike in the interval before 30000's (28001-29000) and none near 36000; the encoder's
    # large constant updates are another module's and do not count
    before, dips, share = spikes_before_dips(_history(accuracy, {28500}), "decoder", climb_start(accuracy))
    assert (before, dips) == (1, 2)
    assert share == pytest.approx(1 / 21)  # one of the 21 intervals ending at 20000-40000 spikes
    assert spikes_before_dips(_history(accuracy, {28500}), "decoder", None) == (0, 0, 0.0)


def test_overpredicted_classes_are_the_positive_column_sums_of_the_confusion_difference():
    first = [[8, 1, 1], [0, 10, 0], [1, 0, 9]]
    second = [[6, 1, 3], [0, 9, 1], [1, 0, 9]]  # 3 more predictions of class 2, 2 fewer of 0, 1 fewer of 1
    assert overpredicted(first, second) == [(2, 3)]
    assert overpredicted(first, first) == []


def test_the_claims_table_has_each_claim_per_seed_and_the_confusion_difference():
    accuracy = _s_curve(20000)
    accuracy[30000] = 0.6
    test = [{"step": 0, **{f"test/cell_drift/decoder/{t}": 0.5 * t for t in (2, 3)}}]
    seeds = {
        "study_all_step": [SeedRuns(0, _history(_s_curve(30000), set()), test, None, [[5, 0], [0, 5]])],
        "study_last_step": [SeedRuns(0, _history(accuracy, {29500}), test, None, [[3, 2], [0, 5]])],
    }
    table = claims_table(seeds)
    assert "| All-Step | 0 | 30,000 of 40,000 updates |" in table
    assert "| Last-Step | 0 | 20,000 of 40,000 updates |" in table
    assert (
        "| Last-Step | 0 | 1 drops of >= 5 points (0.5 per 10k updates); mean change between validations over the last "
        "50k updates 2.82 points |" in table
    )  # the climb's 70 points and the 20 down and back up, over 39 changes
    assert "| Last-Step | 0 | 1 of 1 dips" in table
    assert "| decoder cell drift, glimpses 2..T (fig. 9) | All-Step | 0 | 1.00, 1.50 |" in table
    assert "most over-predicted: 1 (+2); diagonal -2 |" in table
