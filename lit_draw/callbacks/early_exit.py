"""Speed-accuracy trade-off: stop each sample once it is confident enough ("learning when to stop")."""

from __future__ import annotations

from collections.abc import Sequence

import torch
import wandb
from lightning.pytorch import LightningModule, Trainer
from torch import Tensor
from torchmetrics import Metric

from lit_draw.callbacks.base import EvalStatistic, log_media, log_reduced, wandb_logger
from lit_draw.models.trace import Trace
from lit_draw.stopping import first_reaching
from lit_draw.validation import LeftOpenUnitInterval, conforms, require


def early_exit(logits: Tensor, taus: Tensor) -> tuple[Tensor, Tensor]:
    """Stop at the first glimpse whose top class probability reaches ``tau`` (else at the last).

    Args:
        logits: ``[T, B, C]`` class scores after every glimpse.
        taus: ``[K]`` confidence thresholds.

    Returns:
        ``(glimpses, predictions)``, each ``[K, B]``: the number of glimpses used (``1..T``) and the
        class predicted at the stopping glimpse, for every threshold.
    """
    confidence, predicted = logits.softmax(-1).max(-1)  # [T, B], [T, B]
    used = first_reaching(confidence, taus)  # [K, B]
    return used, predicted.gather(0, used - 1)  # [K, B], [K, B]


class EarlyExitAccuracy(Metric):
    """For each threshold, the accuracy and the mean glimpses used when every sample stops early.

    ``update(trace, labels [B], boxes)`` reads ``trace.logits`` (``[T, B, C]``);
    ``compute() -> {"accuracy": [K], "glimpses": [K]}``. Sums across processes.

    Args:
        taus: ``K`` confidence thresholds.
    """

    full_state_update = False

    def __init__(self, taus: Sequence[float]) -> None:
        super().__init__()
        self.taus = list(taus)
        self.add_state("correct", default=torch.zeros(len(self.taus)), dist_reduce_fx="sum")
        self.add_state("glimpses", default=torch.zeros(len(self.taus)), dist_reduce_fx="sum")
        self.add_state("total", default=torch.tensor(0.0), dist_reduce_fx="sum")

    def update(self, trace: Trace, labels: Tensor, boxes: Tensor) -> None:
        glimpses, predictions = early_exit(trace.logits, trace.logits.new_tensor(self.taus))  # [K, B] each
        self.correct += (predictions == labels).sum(1).to(self.correct.dtype)  # [K]
        self.glimpses += glimpses.sum(1).to(self.glimpses.dtype)  # [K]
        self.total += labels.numel()

    def compute(self) -> dict[str, Tensor]:
        return {"accuracy": self.correct / self.total, "glimpses": self.glimpses / self.total}


class EarlyExit(EvalStatistic):
    """For each threshold ``tau``: accuracy and mean glimpses used when every sample stops early.

    Logs, per validation/test epoch, the scalars ``{stage}/early_exit/tau_{tau}/acc`` and
    ``{stage}/early_exit/tau_{tau}/glimpses`` and, with W&B, ``{stage}/early_exit``: a line plot of
    accuracy against mean glimpses whose table (``{stage}/early_exit_table``) has one row per tau.

    Args:
        taus: confidence thresholds, each in ``(0, 1]``.
    """

    def __init__(self, taus: Sequence[LeftOpenUnitInterval] = (0.5, 0.7, 0.9, 0.95, 0.99, 0.999)) -> None:
        super().__init__()
        ok = bool(taus) and all(conforms(LeftOpenUnitInterval, t) for t in taus)
        require("EarlyExit", "taus", ok, "a non-empty list of numbers in (0, 1]", taus)
        self.taus = sorted(float(t) for t in taus)

    def make_metric(self, trace: Trace) -> EarlyExitAccuracy:
        return EarlyExitAccuracy(self.taus)

    def report(self, trainer: Trainer, pl_module: LightningModule, stage: str, values: dict[str, Tensor]) -> None:
        accuracy = values["accuracy"].flatten().tolist()  # torchmetrics squeezes a one-element result
        glimpses = values["glimpses"].flatten().tolist()
        for tau, acc, used in zip(self.taus, accuracy, glimpses, strict=True):
            log_reduced(pl_module, f"{stage}/early_exit/tau_{tau:g}/acc", acc)
            log_reduced(pl_module, f"{stage}/early_exit/tau_{tau:g}/glimpses", used)
        if wandb_logger(trainer) is not None:
            rows = [list(row) for row in zip(self.taus, accuracy, glimpses, strict=True)]
            table = wandb.Table(columns=["tau", "accuracy", "mean_glimpses"], data=rows)
            title = f"{stage} early exit: accuracy vs glimpses used"
            chart = wandb.plot.line(table, "mean_glimpses", "accuracy", title=title)
            log_media(trainer, {f"{stage}/early_exit": chart})
