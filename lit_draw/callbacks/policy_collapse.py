"""Has the attention policy collapsed: where each glimpse lands, how spread out, at which zoom.

A collapsed policy reads every canvas the same way: one zoom level all the time, a location std at
its floor, glimpses far from the digit. Logged per glimpse ``t`` under ``{stage}/`` (val and test):

=============================  ===================================================================
``box_distance_glimpse_{t}``   mean distance in pixels from the glimpse's centre to the digit's box
                               (0 inside it); every model (DRAW's window centre too)
``center_spread_glimpse_{t}``  spread of the centres across canvases, in pixels:
                               ``sqrt(Var[x] + Var[y])`` (0: every canvas read at one place)
``policy_std_glimpse_{t}``     mean standard deviation of the location policy, in ``[-1, 1]`` units
                               (RAM, WS-RAM's prior; skipped without ``trace.loc_std``)
``zoom_{k}_glimpse_{t}``       share of the glimpses the policy sends to zoom level ``k`` (0-based):
                               its probability averaged over the policy's states, the expected
                               histogram of the choices (WS-RAM; skipped without ``trace.zoom_logits``)
=============================  ===================================================================
"""

from __future__ import annotations

from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.utilities import dim_zero_cat

from lit_draw.callbacks.base import log_reduced
from lit_draw.models.trace import Trace


def box_distance(center: Tensor, boxes: Tensor) -> Tensor:
    """Euclidean distance from each centre to its canvas's digit box, 0 inside or on the box.

    Args:
        center: ``[T, B, 2]`` centres ``(x, y)`` in pixels.
        boxes: ``[B, 4]`` digit boxes ``(x_min, y_min, x_max, y_max)`` in pixels.

    Returns:
        ``[T, B]``.
    """
    low, high = boxes[:, :2], boxes[:, 2:]  # [B, 2] each
    outside = (low - center).clamp_min(0) + (center - high).clamp_min(0)  # [T, B, 2]: one side is 0
    return outside.norm(dim=-1)


class PolicyStatistics(Metric):
    """Per-glimpse sums over an evaluation epoch of what :class:`PolicyCollapse` logs; summed across
    processes by torchmetrics. A field the trace lacks stays empty and is not reported."""

    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        for name in ("canvases", "distance", "center", "center_sq", "policy_rows", "std", "zoom"):
            self.add_state(name, default=[], dist_reduce_fx="cat")  # per batch: [1, T, ...]

    def update(self, trace: Trace, boxes: Tensor) -> None:
        center = trace.center.double()  # [T, B, 2]; float64: the sums of squares cancel in the variance
        batch = {
            "canvases": center.new_full((1,), center.shape[1]),
            "distance": box_distance(center, boxes.to(center)).sum(1),  # [T]
            "center": center.sum(1),  # [T, 2]
            "center_sq": (center**2).sum(1),
        }
        if trace.loc_std is not None:
            batch["policy_rows"] = center.new_full((1,), trace.loc_std.shape[1])
            batch["std"] = trace.loc_std.double().mean(-1).sum(1)  # [T]
        if trace.zoom_logits is not None:
            batch["zoom"] = trace.zoom_logits.double().softmax(-1).sum(1)  # [T, K]
        for name, value in batch.items():
            getattr(self, name).append(value[None])

    def compute(self) -> dict[str, Tensor]:
        """``{"box_distance": [T], "center_spread": [T], "policy_std": [T], "zoom": [T, K]}`` (the
        last two only when the traces had them; torchmetrics squeezes a one-element tensor to ``[]``)."""
        sums = {name: dim_zero_cat(state).sum(0) for name, state in self.metric_state.items() if len(state)}
        count = sums["canvases"]
        mean = sums["center"] / count  # [T, 2]
        variance = (sums["center_sq"] / count - mean**2).clamp_min(0).sum(-1)  # [T]
        result = {"box_distance": sums["distance"] / count, "center_spread": variance.sqrt()}
        if "std" in sums:
            result["policy_std"] = sums["std"] / sums["policy_rows"]
        if "zoom" in sums:
            result["zoom"] = sums["zoom"] / sums["policy_rows"]
        return result


class PolicyCollapse(Callback):
    """Logs, per glimpse, what shows a collapsed attention policy (see the module docstring).

    Reads only each evaluation step's trace and digit boxes; sanity-check batches are ignored.
    """

    def __init__(self) -> None:
        super().__init__()
        self.statistics = {"val": PolicyStatistics(), "test": PolicyStatistics()}

    def _update(self, trainer: Trainer, pl_module: LightningModule, stage: str, outputs: Any) -> None:
        if trainer.sanity_checking:
            return
        metric = self.statistics[stage].to(pl_module.device)
        metric.update(outputs["trace"], outputs["boxes"])

    def _report(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        metric = self.statistics[stage]
        if trainer.sanity_checking or not len(metric.canvases):
            metric.reset()
            return
        values = metric.compute()  # torchmetrics squeezes a one-element result: reshape to [T] / [T, K]
        metric.reset()
        steps = values["box_distance"].numel()
        for name in ("box_distance", "center_spread", "policy_std"):
            for t, value in enumerate(values[name].reshape(steps).tolist() if name in values else [], start=1):
                log_reduced(pl_module, f"{stage}/{name}_glimpse_{t}", value)
        for t, shares in enumerate(values["zoom"].reshape(steps, -1).tolist() if "zoom" in values else [], start=1):
            for k, share in enumerate(shares):
                log_reduced(pl_module, f"{stage}/zoom_{k}_glimpse_{t}", share)

    def on_validation_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        self._update(trainer, pl_module, "val", outputs)

    def on_test_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        self._update(trainer, pl_module, "test", outputs)

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._report(trainer, pl_module, "val")

    def on_test_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._report(trainer, pl_module, "test")
