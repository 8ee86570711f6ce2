"""A halting head's stop threshold swept in one evaluation pass: accuracy against mean glimpses used.

The net's own stop is the first glimpse with ``lambda_t >= 0.5`` (:mod:`lit_draw.models.halting`);
here every canvas stops, for each threshold ``c``, at the first glimpse whose score reaches ``c``:

* ``lambda``: the head's own ``lambda_t``;
* ``cumulative``: the halting mass so far, ``sum_{s<=t} p_s`` with ``p_t = lambda_t prod_{s<t}
  (1 - lambda_s)`` (:func:`lit_draw.losses.halting_distribution`; PonderNet, Banino et al. 2021,
  sec. 2.1): ``c = 0.5`` stops at the median of the halting distribution.

Either rule stops at the last glimpse at the latest (``lambda_T = 1``; the mass sums to 1). Swept over
``c``, each rule draws a curve of (mean glimpses, accuracy), to set beside the confidence threshold of
:class:`~lit_draw.callbacks.EarlyExit` on the same net (``docs/halting.md``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

import torch
from lightning.pytorch import LightningModule, Trainer
from torch import Tensor
from torchmetrics import Metric

from lit_draw.callbacks.base import EvalStatistic, log_reduced
from lit_draw.errors import ConfigError
from lit_draw.losses import halting_distribution
from lit_draw.models.trace import Trace
from lit_draw.stopping import first_reaching
from lit_draw.validation import LeftOpenUnitInterval, conforms, one_of, require

#: What a threshold is compared with at each glimpse (see the module docstring).
Rule = Literal["lambda", "cumulative"]
RULES: tuple[str, ...] = get_args(Rule)
#: The default thresholds: log-spaced below 0.01, where a head trained on a frozen net puts its first
#: glimpses' ``lambda_t`` (5e-4 to 3e-2 on the quickstart net), so that the curve starts near 1 glimpse.
THRESHOLDS = (0.0001, 0.0003, 0.0005, 0.001, 0.002, 0.003, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7, 0.9, 0.99)


def stop_scores(lambdas: Tensor, rule: Rule) -> Tensor:
    """The score a threshold is compared with at each glimpse: ``lambdas [T, B]`` -> ``[T, B]``,
    ``lambda_t`` itself (``lambda``) or ``sum_{s<=t} p_s`` (``cumulative``)."""
    lambdas = lambdas.float()
    return lambdas if rule == "lambda" else halting_distribution(lambdas).cumsum(0)  # [T, B]


def threshold_stops(lambdas: Tensor, thresholds: Tensor, rule: Rule) -> Tensor:
    """Where each canvas stops under every threshold: ``lambdas [T, B]`` (``lambda_T = 1``),
    ``thresholds [K]`` -> glimpses used ``[K, B]`` in ``1..T``."""
    return first_reaching(stop_scores(lambdas, rule), thresholds.float())


class ThresholdStopAccuracy(Metric):
    """For each rule and threshold, the accuracy and the mean glimpses used when every canvas stops there.

    ``update(trace, labels [B], boxes)`` reads ``trace.logits [T, B, C]`` and ``trace.lambdas [T, B]``;
    ``compute() -> {"accuracy": [R, K], "glimpses": [R, K]}`` (rules by thresholds). Sums across processes.

    Args:
        rules: ``R`` rules of :data:`RULES`.
        thresholds: ``K`` thresholds.
    """

    full_state_update = False

    def __init__(self, rules: Sequence[Rule], thresholds: Sequence[float]) -> None:
        super().__init__()
        self.rules, self.thresholds = list(rules), list(thresholds)
        shape = (len(self.rules), len(self.thresholds))
        self.add_state("correct", default=torch.zeros(shape), dist_reduce_fx="sum")
        self.add_state("glimpses", default=torch.zeros(shape), dist_reduce_fx="sum")
        self.add_state("total", default=torch.tensor(0.0), dist_reduce_fx="sum")

    def update(self, trace: Trace, labels: Tensor, boxes: Tensor) -> None:
        predicted = trace.logits.argmax(-1)  # [T, B]
        thresholds = torch.tensor(self.thresholds, device=labels.device)
        for r, rule in enumerate(self.rules):
            used = threshold_stops(trace.lambdas, thresholds, rule)  # [K, B]
            right = predicted.gather(0, used - 1) == labels  # [K, B]
            self.correct[r] += right.sum(1).to(self.correct.dtype)
            self.glimpses[r] += used.sum(1).to(self.glimpses.dtype)
        self.total += labels.numel()

    def compute(self) -> dict[str, Tensor]:
        return {"accuracy": self.correct / self.total, "glimpses": self.glimpses / self.total}


class HaltingThresholds(EvalStatistic):
    """For each rule and threshold ``c``: accuracy and mean glimpses used when every canvas stops at
    its first glimpse whose score reaches ``c`` (see the module docstring).

    Logs, per validation/test epoch, the scalars ``{stage}/halt_threshold/{rule}_{c}/acc`` and
    ``{stage}/halt_threshold/{rule}_{c}/glimpses``, which ``python -m lit_draw halting-frontier`` reads.
    Needs a net with a halting head (``model.net.init_args.halting: true``).

    Args:
        thresholds: each in ``(0, 1]``.
        rules: a non-empty selection of ``lambda`` and ``cumulative``.
    """

    def __init__(
        self,
        thresholds: Sequence[LeftOpenUnitInterval] = THRESHOLDS,
        rules: Sequence[Rule] = RULES,
    ) -> None:
        super().__init__()
        ok = bool(thresholds) and all(conforms(LeftOpenUnitInterval, c) for c in thresholds)
        require("HaltingThresholds", "thresholds", ok, "a non-empty list of numbers in (0, 1]", thresholds)
        ok = bool(rules) and all(rule in RULES for rule in rules)
        require("HaltingThresholds", "rules", ok, f"a non-empty list, each {one_of(RULES)}", rules)
        self.thresholds = sorted(float(c) for c in thresholds)
        self.rules: list[Rule] = list(dict.fromkeys(rules))

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if pl_module.net.halting is None:
            raise ConfigError(
                "HaltingThresholds needs a net with a halting head (model.net.init_args.halting: true), "
                f"got a {type(pl_module.net).__name__} without one"
            )

    def make_metric(self, trace: Trace) -> ThresholdStopAccuracy:
        return ThresholdStopAccuracy(self.rules, self.thresholds)

    def report(self, trainer: Trainer, pl_module: LightningModule, stage: str, values: dict[str, Tensor]) -> None:
        shape = (len(self.rules), len(self.thresholds))  # torchmetrics squeezes a one-element result
        accuracy, glimpses = (values[key].reshape(shape).tolist() for key in ("accuracy", "glimpses"))
        for r, rule in enumerate(self.rules):
            for k, threshold in enumerate(self.thresholds):
                log_reduced(pl_module, f"{stage}/halt_threshold/{rule}_{threshold:g}/acc", accuracy[r][k])
                log_reduced(pl_module, f"{stage}/halt_threshold/{rule}_{threshold:g}/glimpses", glimpses[r][k])
