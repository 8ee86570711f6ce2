"""Accuracy against glimpse number as one W&B line plot (study figs. 3-4)."""

from __future__ import annotations

import wandb
from lightning.pytorch import Callback, LightningModule, Trainer

from lit_draw.callbacks.base import log_media, wandb_logger


class GlimpseAccuracyPlot(Callback):
    """Plots ``{stage}/acc_per_glimpse``: accuracy (y) against glimpse number ``t = 1..T`` (x).

    The points are the scalars ``{stage}/acc_glimpse_{t}`` that :class:`~lit_draw.module.AttentionClassifier`
    has just logged for the epoch (read back from ``trainer.callback_metrics``), so they are neither
    computed nor logged twice. Needs a W&B logger; does nothing without one.
    """

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._plot(trainer, "val")

    def on_test_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._plot(trainer, "test")

    def _plot(self, trainer: Trainer, stage: str) -> None:
        if trainer.sanity_checking or wandb_logger(trainer) is None:
            return
        metrics = trainer.callback_metrics
        rows = []
        while (key := f"{stage}/acc_glimpse_{len(rows) + 1}") in metrics:
            rows.append([len(rows) + 1, float(metrics[key])])
        if not rows:
            return
        table = wandb.Table(columns=["glimpse", "accuracy"], data=rows)
        chart = wandb.plot.line(table, "glimpse", "accuracy", title=f"{stage} accuracy per glimpse")
        log_media(trainer, {f"{stage}/acc_per_glimpse": chart})
