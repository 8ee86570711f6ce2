"""Mean LSTM gate activations per glimpse: what the study could not see."""

from __future__ import annotations

import wandb
from lightning.pytorch import LightningModule, Trainer
from torch import Tensor

from lit_draw.callbacks.base import EvalStatistic, log_media, wandb_logger
from lit_draw.models.trace import Trace


class GateActivity(EvalStatistic):
    """Mean input, forget and output gate activation of every LSTM at each glimpse.

    Asks the module for gates in its validation and test steps (``eval_options["return_gates"]``;
    training steps are untouched) and logs ``{stage}/gates/{cell}/{gate}/{t}`` for ``t = 1..T``,
    each the mean over units and samples in ``[0, 1]``, and, with W&B, one plot per cell
    (``{stage}/gates/{cell}``: a line per gate against glimpse number). A model that returns no
    gates is skipped.
    """

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        pl_module.eval_options["return_gates"] = True

    def teardown(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        pl_module.eval_options.pop("return_gates", None)

    def statistics(self, trace: Trace, labels: Tensor, boxes: Tensor) -> dict[str, Tensor]:
        if trace.gates is None:
            return {}
        return {key: gate.mean(-1).sum(1) for key, gate in trace.gates.items()}  # each [T]

    def report(self, trainer: Trainer, pl_module: LightningModule, stage: str, sums: dict[str, Tensor], count: int) -> None:
        means = {key: (total / count).tolist() for key, total in sums.items()}  # "{cell}/{gate}" -> [T]
        for key, values in means.items():
            for t, value in enumerate(values, start=1):
                pl_module.log(f"{stage}/gates/{key}/{t}", value)
        if wandb_logger(trainer) is None:
            return
        for cell in dict.fromkeys(key.split("/")[0] for key in means):
            gates = {key.split("/", 1)[1]: values for key, values in means.items() if key.startswith(f"{cell}/")}
            glimpses = list(range(1, len(next(iter(gates.values()))) + 1))
            chart = wandb.plot.line_series(
                xs=glimpses, ys=list(gates.values()), keys=list(gates), title=f"{stage} {cell} LSTM gates", xname="glimpse"
            )
            log_media(trainer, {f"{stage}/gates/{cell}": chart})
