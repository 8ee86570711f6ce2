"""Did the attention find the digit: how often each glimpse's centre lies on the digit's box."""

from __future__ import annotations

import torch
from lightning.pytorch import LightningModule, Trainer
from torch import Tensor
from torchmetrics import Metric

from lit_draw.callbacks.base import EvalStatistic, log_reduced
from lit_draw.models.trace import Trace


def centre_in_box(center: Tensor, boxes: Tensor) -> Tensor:
    """Whether each window centre lies in its canvas's digit box (edges included).

    Args:
        center: ``[T, B, 2]`` window centres ``(x, y)`` in pixels.
        boxes: ``[B, 4]`` digit ink boxes ``(x_min, y_min, x_max, y_max)`` in pixels.

    Returns:
        ``[T, B]`` booleans.
    """
    x, y = center.unbind(-1)  # [T, B] each
    x_min, y_min, x_max, y_max = boxes.unbind(-1)  # [B] each
    return (x >= x_min) & (x <= x_max) & (y >= y_min) & (y <= y_max)


class HitRate(Metric):
    """Per glimpse, the fraction of window centres inside the digit's box.

    ``update(trace, labels, boxes [B, 4])`` reads ``trace.center`` (``[T, B, 2]``);
    ``compute() -> {"hits": [T]}`` in ``[0, 1]``. Sums across processes.
    """

    full_state_update = False

    def __init__(self, num_glimpses: int) -> None:
        super().__init__()
        self.add_state("hits", default=torch.zeros(num_glimpses), dist_reduce_fx="sum")
        self.add_state("total", default=torch.tensor(0.0), dist_reduce_fx="sum")

    def update(self, trace: Trace, labels: Tensor, boxes: Tensor) -> None:
        self.hits += centre_in_box(trace.center, boxes.to(trace.center.dtype)).sum(1).to(self.hits.dtype)  # [T]
        self.total += labels.numel()

    def compute(self) -> dict[str, Tensor]:
        return {"hits": self.hits / self.total}


class DigitHitRate(EvalStatistic):
    """Per glimpse, the fraction of windows centred inside the digit's box: ``{stage}/hit_glimpse_{t}``."""

    def make_metric(self, trace: Trace) -> HitRate:
        return HitRate(len(trace.logits))

    def report(self, trainer: Trainer, pl_module: LightningModule, stage: str, values: dict[str, Tensor]) -> None:
        for t, rate in enumerate(values["hits"].flatten().tolist(), start=1):
            log_reduced(pl_module, f"{stage}/hit_glimpse_{t}", rate)
