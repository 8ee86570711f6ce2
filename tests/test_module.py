"""The LightningModule on its own: per-glimpse metrics and objectives through a real Trainer."""

from __future__ import annotations

import pytest
import torch
from lightning.pytorch import Trainer
from torch.utils.data import DataLoader, TensorDataset

from lit_draw.metrics import PerGlimpseAccuracy
from lit_draw.models import DRAWClassifier
from lit_draw.module import AttentionClassifier


def _loader(n: int = 8, size: int = 16) -> DataLoader:
    torch.manual_seed(0)
    data = TensorDataset(torch.rand(n, 1, size, size), torch.randint(0, 10, (n,)), torch.zeros(n, 4))
    return DataLoader(data, batch_size=4)


def test_per_glimpse_accuracy_counts_every_glimpse():
    metric = PerGlimpseAccuracy(3)
    logits = torch.zeros(3, 4, 2)
    logits[0, :, 1] = 1  # glimpse 1 predicts class 1 everywhere
    logits[1, :2, 1] = 1  # glimpse 2 predicts class 1 for the first two
    labels = torch.tensor([1, 1, 0, 0])
    metric.update(logits, labels)
    torch.testing.assert_close(metric.compute(), torch.tensor([0.5, 1.0, 0.5]))


@pytest.mark.parametrize("glimpses", [1, 3])
def test_validation_logs_accuracy_after_every_glimpse(glimpses: int, tmp_path):
    net = DRAWClassifier(canvas_size=16, read_n=3, glimpses=glimpses, enc_size=8, z_size=4, dec_size=8, hidden=8)
    model = AttentionClassifier(net, weighting="last")
    trainer = Trainer(default_root_dir=tmp_path, logger=False, enable_checkpointing=False,
                      enable_progress_bar=False, enable_model_summary=False, max_steps=2)
    trainer.fit(model, _loader(), _loader())
    metrics = trainer.callback_metrics
    keys = [f"val/acc_glimpse_{t}" for t in range(1, glimpses + 1)]
    assert all(0.0 <= metrics[k] <= 1.0 for k in keys)
    assert f"val/acc_glimpse_{glimpses + 1}" not in metrics
    assert metrics["val/acc"] == metrics[keys[-1]]


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (dict(lr=0.0), r"lr must be a finite number > 0, got 0.0"),
        (dict(lr=float("nan")), r"lr must be a finite number > 0, got nan"),
        (dict(betas=(2.0, 3.0)), r"betas must be two numbers in \[0, 1\), got \(2.0, 3.0\)"),
        (dict(weight_decay=-1.0), r"weight_decay must be a finite number >= 0"),
        (dict(entropy_bonus=-0.1), r"entropy_bonus must be a finite number >= 0"),
        (dict(reward="sometimes"), r"reward must be one of final, weighted"),
    ],
)
def test_bad_optimiser_and_objective_options_name_the_field(option, message):
    net = DRAWClassifier(canvas_size=16, read_n=3, glimpses=1, enc_size=8, z_size=4, dec_size=8, hidden=8)
    with pytest.raises(ValueError, match=message):
        AttentionClassifier(net, **option)
