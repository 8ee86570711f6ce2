"""Metrics over the per-glimpse trace."""

from __future__ import annotations

import torch
from torch import Tensor
from torchmetrics import Metric


class PerGlimpseAccuracy(Metric):
    """Accuracy of the prediction after every glimpse.

    ``update(logits [T, B, C], labels [B])``; ``compute() -> [T]`` accuracies in ``[0, 1]``.
    Counts are summed across processes, so under DDP the result over a full evaluation set equals
    the single-process result.
    """

    full_state_update = False

    def __init__(self, num_glimpses: int) -> None:
        super().__init__()
        self.add_state("correct", default=torch.zeros(num_glimpses), dist_reduce_fx="sum")
        self.add_state("total", default=torch.tensor(0.0), dist_reduce_fx="sum")

    def update(self, logits: Tensor, labels: Tensor) -> None:
        self.correct += (logits.argmax(-1) == labels).sum(1).to(self.correct.dtype)  # [T]
        self.total += labels.numel()

    def compute(self) -> Tensor:
        return self.correct / self.total.clamp_min(1)
