"""Mean LSTM gate activations per glimpse: what the study could not see."""

from __future__ import annotations

import torch
import wandb
from lightning.pytorch import LightningModule, Trainer
from torch import Tensor
from torchmetrics import Metric

from lit_draw.callbacks.base import EvalStatistic, log_media, log_reduced, wandb_logger
from lit_draw.models.trace import Trace


class MeanGates(Metric):
    """Mean activation of each gate at each glimpse, over units and samples.

    ``update(trace, labels, boxes)`` reads ``trace.gates`` (``{"{cell}/{gate}": [T, B, H]}``);
    ``compute() -> {"{cell}/{gate}": [T]}`` in ``[0, 1]``. Sums across processes.

    Args:
        keys: the gates' keys, ``"{cell}/{gate}"``.
        num_glimpses: ``T``.
    """

    full_state_update = False

    def __init__(self, keys: list[str], num_glimpses: int) -> None:
        super().__init__()
        self.keys = keys
        self.add_state("gates", default=torch.zeros(len(keys), num_glimpses), dist_reduce_fx="sum")
        self.add_state("total", default=torch.tensor(0.0), dist_reduce_fx="sum")

    def update(self, trace: Trace, labels: Tensor, boxes: Tensor) -> None:
        for i, key in enumerate(self.keys):
            self.gates[i] += trace.gates[key].mean(-1).sum(1)  # [T]
        self.total += labels.numel()

    def compute(self) -> dict[str, Tensor]:
        return {key: self.gates[i] / self.total for i, key in enumerate(self.keys)}


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

    def make_metric(self, trace: Trace) -> MeanGates:
        return MeanGates(list(trace.gates or {}), len(trace.logits))

    def report(self, trainer: Trainer, pl_module: LightningModule, stage: str, values: dict[str, Tensor]) -> None:
        means = {key: value.flatten().tolist() for key, value in values.items()}  # "{cell}/{gate}" -> [T]
        for key, values in means.items():
            for t, value in enumerate(values, start=1):
                log_reduced(pl_module, f"{stage}/gates/{key}/{t}", value)
        if wandb_logger(trainer) is None:
            return
        for cell in dict.fromkeys(key.split("/")[0] for key in means):
            gates = {key.split("/", 1)[1]: values for key, values in means.items() if key.startswith(f"{cell}/")}
            glimpses = list(range(1, len(next(iter(gates.values()))) + 1))
            chart = wandb.plot.line_series(
                xs=glimpses,
                ys=list(gates.values()),
                keys=list(gates),
                title=f"{stage} {cell} LSTM gates",
                xname="glimpse",
            )
            log_media(trainer, {f"{stage}/gates/{cell}": chart})
