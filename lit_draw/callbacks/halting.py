"""Where a net with a halting head stops: the distribution of halting glimpses and the accuracy at each.

The scalars ``{stage}/halt_acc`` and ``{stage}/halt_glimpses`` are logged by the LightningModule;
this callback adds, per validation/test epoch, the W&B bar charts behind them.
"""

from __future__ import annotations

from typing import Any

import torch
import wandb
from lightning.pytorch import Callback, LightningModule, Trainer
from torch import Tensor
from torchmetrics import Metric

from lit_draw.callbacks.base import log_media, wandb_logger


class HaltingCounts(Metric):
    """Per halting glimpse ``t = 1..T``: how many canvases stopped there and how many of them were right.

    ``update(halt [B] int in 1..T, right [B] bool)``; ``compute() -> (count [T], correct [T])``.
    Summed across processes.
    """

    full_state_update = False

    def __init__(self, num_glimpses: int) -> None:
        super().__init__()
        self.add_state("count", default=torch.zeros(num_glimpses), dist_reduce_fx="sum")
        self.add_state("correct", default=torch.zeros(num_glimpses), dist_reduce_fx="sum")

    def update(self, halt: Tensor, right: Tensor) -> None:
        index = halt - 1  # [B]
        self.count.index_add_(0, index, torch.ones_like(index, dtype=self.count.dtype))
        self.correct.index_add_(0, index, right.to(self.correct.dtype))

    def compute(self) -> tuple[Tensor, Tensor]:
        return self.count, self.correct


class HaltingDistribution(Callback):
    """Logs ``{stage}/halt_distribution`` (the fraction of canvases that stop after each glimpse) and
    ``{stage}/halt_acc_per_glimpse`` (the accuracy of the canvases that stop there) as W&B bar
    charts, from one table ``{stage}/halt_table`` (``glimpse``, ``fraction``, ``accuracy``,
    ``canvases``). Does nothing for a net without a halting head, or without a W&B logger.
    """

    def __init__(self) -> None:
        super().__init__()
        self.counts: HaltingCounts | None = None

    def _active(self, trainer: Trainer, pl_module: LightningModule) -> bool:
        return getattr(pl_module, "halts", False) and not trainer.sanity_checking

    def _start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self._active(trainer, pl_module):
            self.counts = HaltingCounts(pl_module.num_glimpses).to(pl_module.device)

    def _update(self, outputs: Any) -> None:
        if self.counts is None:
            return
        trace, labels = outputs["trace"], outputs["labels"]
        predicted = trace.logits.argmax(-1).gather(0, (trace.halt - 1)[None])[0]  # [B]
        self.counts.update(trace.halt, predicted == labels)

    def _finish(self, trainer: Trainer, stage: str) -> None:
        if self.counts is None:
            return
        count, correct = (value.tolist() for value in self.counts.compute())
        self.counts = None
        if wandb_logger(trainer) is None or not sum(count):
            return
        total = sum(count)
        rows = [
            [t + 1, n / total, c / n if n else 0.0, int(n)] for t, (n, c) in enumerate(zip(count, correct, strict=True))
        ]
        table = wandb.Table(columns=["glimpse", "fraction", "accuracy", "canvases"], data=rows)
        log_media(
            trainer,
            {
                f"{stage}/halt_distribution": wandb.plot.bar(
                    table, "glimpse", "fraction", title=f"{stage}: where canvases stop"
                ),
                f"{stage}/halt_acc_per_glimpse": wandb.plot.bar(
                    table, "glimpse", "accuracy", title=f"{stage}: accuracy of the canvases that stop at each glimpse"
                ),
            },
        )

    def on_validation_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._start(trainer, pl_module)

    def on_test_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._start(trainer, pl_module)

    def on_validation_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        self._update(outputs)

    def on_test_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        self._update(outputs)

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._finish(trainer, "val")

    def on_test_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._finish(trainer, "test")
