"""How far the recurrent cell states move from glimpse to glimpse (study figs. 9-10)."""

from __future__ import annotations

import torch
import wandb
from lightning.pytorch import LightningModule, Trainer
from torch import Tensor
from torchmetrics import Metric

from lit_draw.callbacks.base import EvalStatistic, log_media, log_reduced, wandb_logger
from lit_draw.models.trace import Trace


class MeanDrift(Metric):
    """Mean ``||c_t - c_{t-1}||`` over samples, ``t = 2..T``, for each named cell.

    ``update(trace, labels, boxes)`` reads ``trace.cells`` (``{name: [T, B, H]}``);
    ``compute() -> {name: [T - 1]}``. Sums across processes.

    Args:
        cells: the cells' names.
        num_glimpses: ``T``.
    """

    full_state_update = False

    def __init__(self, cells: list[str], num_glimpses: int) -> None:
        super().__init__()
        self.cells = cells
        self.add_state("drift", default=torch.zeros(len(cells), num_glimpses - 1), dist_reduce_fx="sum")
        self.add_state("total", default=torch.tensor(0.0), dist_reduce_fx="sum")

    def update(self, trace: Trace, labels: Tensor, boxes: Tensor) -> None:
        for i, name in enumerate(self.cells):
            c = trace.cells[name]  # [T, B, H]
            self.drift[i] += (c[1:] - c[:-1]).norm(dim=-1).sum(1)  # [T - 1]
        self.total += labels.numel()

    def compute(self) -> dict[str, Tensor]:
        return {name: self.drift[i] / self.total for i, name in enumerate(self.cells)}


class CellStateDrift(EvalStatistic):
    """Mean ``||c_t - c_{t-1}||`` over the evaluation set, for ``t = 2..T``, per recurrent cell.

    Logs ``{stage}/cell_drift/{cell}/{t}`` for every cell of ``trace.cells``, under the model's own
    names (DRAW ``encoder``, ``decoder``; RAM ``core``; WS-RAM ``lower``, ``upper``) and, with W&B,
    the plot ``{stage}/cell_drift`` of drift against glimpse number, one line per cell. Needs
    ``T >= 2``.
    """

    def make_metric(self, trace: Trace) -> MeanDrift:
        glimpses = len(trace.logits)
        return MeanDrift(sorted(trace.cells or {}) if glimpses > 1 else [], glimpses)

    def report(self, trainer: Trainer, pl_module: LightningModule, stage: str, values: dict[str, Tensor]) -> None:
        drift = {name: value.flatten().tolist() for name, value in values.items()}  # one glimpse pair: squeezed
        for name, values in drift.items():
            for t, value in enumerate(values, start=2):
                log_reduced(pl_module, f"{stage}/cell_drift/{name}/{t}", value)
        if wandb_logger(trainer) is not None:
            glimpses = list(range(2, len(next(iter(drift.values()))) + 2))
            chart = wandb.plot.line_series(
                xs=glimpses,
                ys=list(drift.values()),
                keys=list(drift),
                title=f"{stage} cell-state drift",
                xname="glimpse",
            )
            log_media(trainer, {f"{stage}/cell_drift": chart})
