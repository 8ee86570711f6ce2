"""What the analysis callbacks share: W&B media logging and a torchmetrics metric over an evaluation epoch."""

from __future__ import annotations

from typing import Any

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.loggers import WandbLogger
from torch import Tensor
from torchmetrics import Metric

from lit_draw.models.trace import Trace


def wandb_logger(trainer: Trainer) -> WandbLogger | None:
    """The trainer's W&B logger on rank zero; ``None`` without one (rich media are then skipped)."""
    if not trainer.is_global_zero:
        return None
    return next((logger for logger in trainer.loggers if isinstance(logger, WandbLogger)), None)


def log_reduced(pl_module: LightningModule, key: str, value: float | Tensor) -> None:
    """Log an evaluation epoch's value that is already the same on every process (a torchmetrics
    ``compute()``, reduced over all of them). ``sync_dist=True`` averages equal values, which leaves
    them as they are, and keeps Lightning from warning at every key that a per-process value is
    logged unreduced (57 warnings in a 2-process run); one process alone syncs nothing."""
    pl_module.log(key, value, sync_dist=True)


def log_media(trainer: Trainer, media: dict[str, Any]) -> None:
    """Log W&B objects (plots, tables, images) at the current global step."""
    logger = wandb_logger(trainer)
    if logger is not None:
        logger.log_metrics(media, step=trainer.global_step)


class EvalStatistic(Callback):
    """Accumulates a torchmetrics ``Metric`` over each validation or test epoch, then reports it.

    Subclasses give :meth:`make_metric` (a ``Metric`` whose ``update(trace, labels, boxes)`` adds one
    eval step's outputs and whose ``compute()`` gives the epoch's values; its states are sums with
    ``dist_reduce_fx="sum"``, so under DDP ``compute()`` sums them across processes and the values
    equal the single-process ones) and :meth:`report` (log them). The metric is built at the first
    batch of each epoch, for what that batch's trace holds, on its device. Sanity-check batches are
    ignored.
    """

    stages: tuple[str, ...] = ("val", "test")

    def __init__(self) -> None:
        super().__init__()
        self.metric: Metric | None = None

    def make_metric(self, trace: Trace) -> Metric:
        """A fresh metric for the traces of this model (``trace``: the epoch's first)."""
        raise NotImplementedError

    def report(self, trainer: Trainer, pl_module: LightningModule, stage: str, values: dict[str, Tensor]) -> None:
        """Log the epoch's values (``metric.compute()``, over all processes; never empty; torchmetrics
        squeezes a one-element tensor to a scalar)."""
        raise NotImplementedError

    def _update(self, trainer: Trainer, stage: str, outputs: Any) -> None:
        if trainer.sanity_checking or stage not in self.stages:
            return
        if self.metric is None:
            self.metric = self.make_metric(outputs["trace"]).to(outputs["labels"].device)
        self.metric.update(outputs["trace"], outputs["labels"], outputs["boxes"])

    def _finish(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if trainer.sanity_checking or stage not in self.stages or self.metric is None:
            return
        values = self.metric.compute()
        self.metric = None
        if values:
            self.report(trainer, pl_module, stage, values)

    def on_validation_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.metric = None

    def on_test_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self.metric = None

    def on_validation_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        self._update(trainer, "val", outputs)

    def on_test_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        self._update(trainer, "test", outputs)

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._finish(trainer, pl_module, "val")

    def on_test_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._finish(trainer, pl_module, "test")
