"""Did the attention find the digit: how often each glimpse's centre lies on the digit's box."""

from __future__ import annotations

from lightning.pytorch import LightningModule, Trainer
from torch import Tensor

from lit_draw.callbacks.base import EvalStatistic
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


class DigitHitRate(EvalStatistic):
    """Per glimpse, the fraction of windows centred inside the digit's box: ``{stage}/hit_glimpse_{t}``."""

    def statistics(self, trace: Trace, labels: Tensor, boxes: Tensor) -> dict[str, Tensor]:
        return {"hits": centre_in_box(trace.center, boxes.to(trace.center.dtype)).sum(1).float()}  # [T]

    def report(self, trainer: Trainer, pl_module: LightningModule, stage: str, sums: dict[str, Tensor], count: int) -> None:
        for t, rate in enumerate((sums["hits"] / count).tolist(), start=1):
            pl_module.log(f"{stage}/hit_glimpse_{t}", rate)
