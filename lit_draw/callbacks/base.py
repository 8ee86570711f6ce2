"""What the analysis callbacks share: W&B media logging and sums over an evaluation epoch."""

from __future__ import annotations

from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.loggers import WandbLogger
from torch import Tensor

from lit_draw.models.trace import Trace


def wandb_logger(trainer: Trainer) -> WandbLogger | None:
    """The trainer's W&B logger on rank zero; ``None`` without one (rich media are then skipped)."""
    if not trainer.is_global_zero:
        return None
    return next((logger for logger in trainer.loggers if isinstance(logger, WandbLogger)), None)


def log_media(trainer: Trainer, media: dict[str, Any]) -> None:
    """Log W&B objects (plots, tables, images) at the current global step."""
    logger = wandb_logger(trainer)
    if logger is not None:
        logger.log_metrics(media, step=trainer.global_step)


class EvalStatistic(Callback):
    """Sums per-sample statistics of the traces over a validation or test epoch, then reports them.

    Subclasses give :meth:`statistics` (sums over the batch of one eval step's outputs) and
    :meth:`report` (log the totals). Sums stay on the model's device until the epoch ends, where they
    are summed across processes once. Sanity-check batches are ignored.
    """

    stages: tuple[str, ...] = ("val", "test")

    def __init__(self) -> None:
        super().__init__()
        self._sums: dict[str, Tensor] = {}
        self._count = 0

    def statistics(self, trace: Trace, labels: Tensor, boxes: Tensor) -> dict[str, Tensor]:
        """Per-batch sums, ``{name: tensor}``; skip what the trace does not have."""
        raise NotImplementedError

    def report(self, trainer: Trainer, pl_module: LightningModule, stage: str, sums: dict[str, Tensor], count: int) -> None:
        """Log the epoch's totals (``count`` samples seen, over all processes)."""
        raise NotImplementedError

    def _start(self) -> None:
        self._sums, self._count = {}, 0

    def _update(self, trainer: Trainer, stage: str, outputs: Any) -> None:
        if trainer.sanity_checking or stage not in self.stages:
            return
        for name, value in self.statistics(outputs["trace"], outputs["labels"], outputs["boxes"]).items():
            self._sums[name] = self._sums[name] + value if name in self._sums else value
        self._count += len(outputs["labels"])

    def _finish(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if trainer.sanity_checking or stage not in self.stages:
            return
        sums = {name: trainer.strategy.reduce(value, reduce_op="sum") for name, value in sorted(self._sums.items())}
        count = int(trainer.strategy.reduce(torch.tensor(float(self._count), device=pl_module.device), reduce_op="sum"))
        if count and sums:
            self.report(trainer, pl_module, stage, sums, count)
        self._start()

    def on_validation_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._start()

    def on_test_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._start()

    def on_validation_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        self._update(trainer, "val", outputs)

    def on_test_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int, dataloader_idx: int = 0
    ) -> None:
        self._update(trainer, "test", outputs)

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._finish(trainer, pl_module, "val")

    def on_test_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._finish(trainer, pl_module, "test")
