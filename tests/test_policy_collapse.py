"""The policy-collapse statistics: distances to the digit box, spread, policy std and zoom shares."""

from __future__ import annotations

import math

import pytest
import torch
from lightning.pytorch import Trainer
from torch.utils.data import DataLoader, TensorDataset

from lit_draw.callbacks import PolicyCollapse
from lit_draw.callbacks.policy_collapse import PolicyStatistics, box_distance
from lit_draw.models import RAM, WSRAM, DRAWClassifier
from lit_draw.models.trace import Trace
from lit_draw.module import AttentionClassifier
from lit_draw.objectives import CrossEntropy, Reinforce, WakeSleep


def test_box_distance_is_zero_inside_and_euclidean_outside():
    boxes = torch.tensor([[2.0, 3.0, 6.0, 9.0]])  # x 2..6, y 3..9
    center = torch.tensor([[[4.0, 5.0]], [[6.0, 3.0]], [[9.0, 5.0]], [[0.0, 0.0]], [[10.0, 13.0]]])  # [T=5, B=1, 2]
    expected = torch.tensor([[0.0], [0.0], [3.0], [math.hypot(2, 3)], [math.hypot(4, 4)]])
    torch.testing.assert_close(box_distance(center, boxes), expected)


def _trace(center, loc_std=None, zoom_logits=None) -> Trace:
    steps, batch = center.shape[:2]
    return Trace(
        logits=torch.zeros(steps, batch, 10),
        center=center,
        size=torch.ones(steps, batch),
        loc_std=loc_std,
        zoom_logits=zoom_logits,
    )


def test_statistics_over_two_batches_by_hand():
    metric = PolicyStatistics()
    boxes = torch.tensor([[0.0, 0.0, 2.0, 2.0]]).repeat(2, 1)
    # glimpse 1: centres (1, 1), (5, 1) | (1, 1), (1, 5); one glimpse only
    first = torch.tensor([[[1.0, 1.0], [5.0, 1.0]]])
    second = torch.tensor([[[1.0, 1.0], [1.0, 5.0]]])
    std = torch.tensor([[[0.1, 0.3], [0.2, 0.2], [0.4, 0.4], [0.0, 0.0]]])  # [T, N = 4 (M = 2 rollouts), 2]
    zoom = torch.log(
        torch.tensor([[[1.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]]]) + 1e-30
    )  # probs 1,0 | 1,0 | .5,.5 | 0,1
    metric.update(_trace(first, std, zoom), boxes)
    metric.update(_trace(second, std[:, :2], zoom[:, :2]), boxes)
    values = {name: value.reshape(-1) for name, value in metric.compute().items()}  # T = 1 comes back squeezed
    torch.testing.assert_close(values["box_distance"], torch.tensor([(0 + 3 + 0 + 3) / 4], dtype=torch.float64))
    # x: 1, 5, 1, 1 (var 3), y: 1, 1, 1, 5 (var 3): spread sqrt(6)
    torch.testing.assert_close(values["center_spread"], torch.tensor([math.sqrt(6)], dtype=torch.float64))
    # six policy rows: stds (mean over x, y) 0.2, 0.2, 0.4, 0, 0.2, 0.2
    torch.testing.assert_close(values["policy_std"], torch.tensor([1.2 / 6], dtype=torch.float64))
    torch.testing.assert_close(values["zoom"], torch.tensor([4.5 / 6, 1.5 / 6], dtype=torch.float64))


def test_a_trace_without_a_policy_gives_only_the_geometry():
    metric = PolicyStatistics()
    metric.update(_trace(torch.tensor([[[1.0, 1.0]], [[4.0, 1.0]]])), torch.tensor([[0.0, 0.0, 2.0, 2.0]]))
    values = metric.compute()
    assert set(values) == {"box_distance", "center_spread"}
    torch.testing.assert_close(values["box_distance"], torch.tensor([0.0, 2.0], dtype=torch.float64))
    torch.testing.assert_close(values["center_spread"], torch.zeros(2, dtype=torch.float64))


def _validate(net, objective, tmp_path):
    torch.manual_seed(0)
    size = net.canvas_size
    data = TensorDataset(
        torch.rand(8, 1, size, size), torch.randint(0, 10, (8,)), torch.tensor([[2.0, 2.0, 9.0, 9.0]]).repeat(8, 1)
    )
    trainer = Trainer(
        default_root_dir=tmp_path,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[PolicyCollapse()],
    )
    return trainer.validate(AttentionClassifier(net, objective), DataLoader(data, batch_size=4))[0]


@pytest.mark.parametrize("model", ["draw", "ram", "wsram"])
def test_every_model_logs_what_it_has_and_skips_the_rest(model, tmp_path):
    if model == "draw":
        net, objective = (
            DRAWClassifier(canvas_size=16, read_n=3, glimpses=2, enc_size=8, z_size=4, dec_size=8, hidden=8),
            CrossEntropy(),
        )
    elif model == "ram":
        net, objective = (
            RAM(canvas_size=16, patch=4, glimpses=2, core_size=8, what_hidden=8, where_hidden=8, glimpse_size=8),
            Reinforce(),
        )
    else:
        net = WSRAM(
            canvas_size=16,
            patch=4,
            zooms=[1, 2],
            glimpses=2,
            samples=2,
            coarse_size=4,
            what_hidden=8,
            where_hidden=8,
            glimpse_size=8,
            state_size=8,
            hidden=0,
        )
        objective = WakeSleep()
    metrics = _validate(net, objective, tmp_path)
    assert {"val/box_distance_glimpse_1", "val/box_distance_glimpse_2", "val/center_spread_glimpse_2"} <= metrics.keys()
    assert ("val/policy_std_glimpse_2" in metrics) == (model != "draw")
    assert ("val/zoom_1_glimpse_2" in metrics) == (model == "wsram")
    if model == "ram":  # the uniform start's std, then the fixed std of the policy
        assert metrics["val/policy_std_glimpse_1"] == pytest.approx(3**-0.5)
        assert metrics["val/policy_std_glimpse_2"] == pytest.approx(0.17)
    if model == "wsram":
        assert metrics["val/zoom_0_glimpse_1"] + metrics["val/zoom_1_glimpse_1"] == pytest.approx(1.0)
