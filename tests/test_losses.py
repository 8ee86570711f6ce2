"""Per-glimpse loss weightings."""

import pytest
import torch
import torch.nn.functional as F

from lit_draw.losses import glimpse_weights, weighted_cross_entropy


@pytest.fixture
def logits_labels():
    torch.manual_seed(0)
    return torch.randn(4, 6, 3), torch.randint(0, 3, (6,))


def test_last_equals_the_last_glimpse_cross_entropy(logits_labels):
    logits, labels = logits_labels
    loss = weighted_cross_entropy(logits, labels, glimpse_weights("last", 4))
    torch.testing.assert_close(loss, F.cross_entropy(logits[-1], labels))


def test_all_equals_the_mean_cross_entropy_over_glimpses(logits_labels):
    logits, labels = logits_labels
    loss = weighted_cross_entropy(logits, labels, glimpse_weights("all", 4))
    expected = torch.stack([F.cross_entropy(step, labels) for step in logits]).mean()
    torch.testing.assert_close(loss, expected)


def test_linear_and_exponential_and_list_weights():
    torch.testing.assert_close(glimpse_weights("linear", 4), torch.tensor([0.1, 0.2, 0.3, 0.4]))
    w = glimpse_weights("exponential", 3, gamma=0.5)
    torch.testing.assert_close(w, torch.tensor([0.25, 0.5, 1.0]) / 1.75)
    torch.testing.assert_close(glimpse_weights([0, 1, 3], 3), torch.tensor([0.0, 0.25, 0.75]))
    torch.testing.assert_close(glimpse_weights("exponential", 3, gamma=1.0), glimpse_weights("all", 3))


@pytest.mark.parametrize(
    ("weighting", "gamma", "message"),
    [
        (
            "mean",
            0.9,
            r"weighting must be one of last, all, linear, exponential or a list of 3 non-negative weights \(one per glimpse\)",
        ),
        ([1.0, 2.0], 0.9, r"one weight per glimpse: 3 values, got 2"),
        ([1.0, -1.0, 2.0], 0.9, r"weighting values must be non-negative"),
        ([0, 0, 0], 0.9, r"weighting values must not all be zero"),
        ([1.0, float("inf"), 1.0], 0.9, r"weighting values must be finite"),
        ([1.0, float("nan"), 1.0], 0.9, r"weighting values must be finite"),
        ("exponential", 0.0, r"gamma must be in \(0, 1\]"),
        ("exponential", 1.5, r"gamma must be in \(0, 1\]"),
    ],
)
def test_bad_weightings_name_the_field(weighting, gamma, message):
    with pytest.raises(ValueError, match=message):
        glimpse_weights(weighting, 3, gamma)
