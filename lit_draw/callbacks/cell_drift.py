"""How far the recurrent cell states move from glimpse to glimpse (study figs. 9-10)."""

from __future__ import annotations

import wandb
from lightning.pytorch import LightningModule, Trainer
from torch import Tensor

from lit_draw.callbacks.base import EvalStatistic, log_media, wandb_logger
from lit_draw.models.trace import Trace


class CellStateDrift(EvalStatistic):
    """Mean ``||c_t - c_{t-1}||`` over the evaluation set, for ``t = 2..T``, per recurrent cell.

    Logs ``{stage}/cell_drift/{cell}/{t}`` for every cell of ``trace.cells``, under the model's own
    names (DRAW ``encoder``, ``decoder``; RAM ``core``; WS-RAM ``lower``, ``upper``) and, with W&B,
    the plot ``{stage}/cell_drift`` of drift against glimpse number, one line per cell. Needs
    ``T >= 2``.
    """

    def statistics(self, trace: Trace, labels: Tensor, boxes: Tensor) -> dict[str, Tensor]:
        return {
            name: (c[1:] - c[:-1]).norm(dim=-1).sum(1)  # [T - 1]
            for name, c in (trace.cells or {}).items()
            if len(c) > 1
        }

    def report(self, trainer: Trainer, pl_module: LightningModule, stage: str, sums: dict[str, Tensor], count: int) -> None:
        drift = {name: (total / count).tolist() for name, total in sums.items()}
        for name, values in drift.items():
            for t, value in enumerate(values, start=2):
                pl_module.log(f"{stage}/cell_drift/{name}/{t}", value)
        if wandb_logger(trainer) is not None:
            glimpses = list(range(2, len(next(iter(drift.values()))) + 2))
            chart = wandb.plot.line_series(
                xs=glimpses, ys=list(drift.values()), keys=list(drift), title=f"{stage} cell-state drift", xname="glimpse"
            )
            log_media(trainer, {f"{stage}/cell_drift": chart})
