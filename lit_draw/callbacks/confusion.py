"""The test confusion matrix (study fig. 8), as a W&B chart and as a CSV file in the run."""

from __future__ import annotations

from pathlib import Path

import torch
import wandb
from lightning.pytorch import LightningModule, Trainer
from torch import Tensor
from torchmetrics import Metric
from torchmetrics.functional.classification import multiclass_confusion_matrix

from lit_draw.callbacks.base import EvalStatistic, log_media, wandb_logger
from lit_draw.models.trace import Trace


def confusion_counts(predictions: Tensor, labels: Tensor, num_classes: int) -> Tensor:
    """``[C, C]`` counts: row = true class, column = predicted class (torchmetrics' convention)."""
    return multiclass_confusion_matrix(predictions, labels, num_classes, validate_args=False)


def save_confusion_csv(matrix: Tensor, path: Path) -> None:
    """Write ``matrix`` (rows true, columns predicted) as CSV with a header row and a label column."""
    classes = range(len(matrix))
    lines = ["true\\predicted," + ",".join(map(str, classes))]
    lines += [f"{c}," + ",".join(map(str, row)) for c, row in zip(classes, matrix.tolist(), strict=True)]
    path.write_text("\n".join(lines) + "\n")


class LastGlimpseConfusion(Metric):
    """Confusion counts of the last glimpse's predictions.

    ``update(trace, labels [B], boxes)`` reads ``trace.logits`` (``[T, B, C]``);
    ``compute() -> {"counts": [C, C]}`` (rows true, columns predicted). Sums across processes.
    """

    full_state_update = False

    def __init__(self, num_classes: int) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.add_state("counts", default=torch.zeros(num_classes, num_classes, dtype=torch.long), dist_reduce_fx="sum")

    def update(self, trace: Trace, labels: Tensor, boxes: Tensor) -> None:
        self.counts += confusion_counts(trace.logits[-1].argmax(-1), labels, self.num_classes)

    def compute(self) -> dict[str, Tensor]:
        return {"counts": self.counts}


class ConfusionMatrix(EvalStatistic):
    """At the end of testing, the confusion matrix of the last glimpse's predictions.

    Logs the W&B chart ``test/confusion`` and writes the raw counts to ``test_confusion.csv`` in the
    run directory (the W&B run's ``files/``, uploaded with it; without W&B,
    ``trainer.default_root_dir``), so two runs' matrices can be differenced.
    """

    stages = ("test",)

    def make_metric(self, trace: Trace) -> LastGlimpseConfusion:
        return LastGlimpseConfusion(trace.logits.shape[-1])

    def report(self, trainer: Trainer, pl_module: LightningModule, stage: str, values: dict[str, Tensor]) -> None:
        if not trainer.is_global_zero:
            return
        matrix = values["counts"].cpu()  # [C, C]
        logger = wandb_logger(trainer)
        directory = Path(logger.experiment.dir) if logger is not None else Path(trainer.default_root_dir)
        directory.mkdir(parents=True, exist_ok=True)
        save_confusion_csv(matrix, directory / f"{stage}_confusion.csv")
        if logger is not None:
            classes = torch.arange(len(matrix))
            y_true = classes.repeat_interleave(matrix.sum(1)).tolist()
            preds = classes.repeat(len(matrix)).repeat_interleave(matrix.flatten()).tolist()
            chart = wandb.plot.confusion_matrix(
                y_true=y_true, preds=preds, class_names=[str(c) for c in classes.tolist()], title=f"{stage} confusion"
            )
            log_media(trainer, {f"{stage}/confusion": chart})
