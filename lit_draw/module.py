"""The LightningModule: one attention model, its objective, per-glimpse metrics, the optimiser."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from lightning.pytorch import LightningModule
from lightning.pytorch.core.mixins.hparams_mixin import _given_hyperparameters
from torch import Tensor, nn
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from lit_draw import losses
from lit_draw.metrics import PerGlimpseAccuracy
from lit_draw.models.trace import Trace

Batch = tuple[Tensor, Tensor, Tensor]  # canvas [B, 1, H, W], label [B], digit box [B, 4]


class AttentionClassifier(LightningModule):
    """Trains any lit_draw model (``DRAWClassifier``, ``RAM``, ``WSRAM``) from its :class:`Trace`.

    Args:
        net: the model, a plain ``nn.Module`` with ``glimpses`` and ``canvas_size`` attributes whose
            ``forward(images, labels)`` returns a :class:`Trace` (chosen in YAML by ``class_path``).
        weighting: per-glimpse loss weighting: ``last``, ``all``, ``linear``, ``exponential`` or a
            list of ``T`` non-negative weights (see :func:`lit_draw.losses.glimpse_weights`).
        gamma: decay of the ``exponential`` weighting, in ``(0, 1]``.
        lr: Adam learning rate.
        betas: Adam betas (the study uses ``beta1 = 0.5``).
        weight_decay: Adam weight decay.
        num_classes: number of classes ``C``.
        reward: for models with a location policy (``trace.log_pi``): ``final`` (1 when the last
            prediction is right, as in RAM) or ``weighted`` (every glimpse rewarded by its loss
            weight; see :func:`lit_draw.losses.classification_reward`).
        entropy_bonus: weight of the policy entropy added to the reward objective (0: none).
        control_variates: for models that weight ``M`` rollouts (``trace.log_p_actions``: WS-RAM
            and its VAR mode), use the estimators' control variates (see
            :func:`lit_draw.losses.wake_sleep_surrogate`, :func:`lit_draw.losses.variational_surrogate`).
        grad_variance_every: log ``train/grad_variance`` (the spread of the ``M`` single-rollout
            gradient estimates of all of ``net``'s parameters, see
            :func:`lit_draw.losses.rollout_gradient_variance`) every this many steps (0: never).
        compile: compile ``net`` in place with ``torch.compile`` (``nn.Module.compile``: the
            parameter names, and so the checkpoints, stay those of the eager net). Off by default:
            the eager path is what runs on CPU and what a debugger steps through.
    """

    def __init__(
        self,
        net: nn.Module,
        weighting: str | list[float] = "all",
        gamma: float = 0.9,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.5, 0.999),
        weight_decay: float = 0.0,
        num_classes: int = 10,
        reward: str = "final",
        entropy_bonus: float = 0.0,
        control_variates: bool = True,
        grad_variance_every: int = 50,
        compile: bool = False,
    ) -> None:
        super().__init__()
        # Under LightningCLI the hparams hold ``net``'s class_path and init_args, so a checkpoint
        # rebuilds its own model; a bare ``nn.Module`` passed from Python is not pickled into them.
        self.save_hyperparameters(ignore=None if _given_hyperparameters.get() else ["net"], logger=False)
        if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
        if len(betas) != 2 or not all(isinstance(b, (int, float)) and 0 <= b < 1 for b in betas):
            raise ValueError(f"betas must be two numbers in [0, 1), got {betas!r}")
        if not (math.isfinite(weight_decay) and weight_decay >= 0):
            raise ValueError(f"weight_decay must be a finite number >= 0, got {weight_decay!r}")
        if not (math.isfinite(entropy_bonus) and entropy_bonus >= 0):
            raise ValueError(f"entropy_bonus must be a finite number >= 0 (0: off), got {entropy_bonus!r}")
        if reward not in losses.REWARDS:
            raise ValueError(f"reward must be one of {', '.join(losses.REWARDS)}, got {reward!r}")
        if not isinstance(grad_variance_every, int) or grad_variance_every < 0:
            raise ValueError(f"grad_variance_every must be an int >= 0 (0: never), got {grad_variance_every!r}")
        self.net = net
        if compile:
            self.net.compile()
        self.num_glimpses: int = net.glimpses
        self.register_buffer("weights", losses.glimpse_weights(weighting, self.num_glimpses, gamma), persistent=False)
        # validate_args=False: torchmetrics' input checks read values back to the host every step.
        self.train_acc = MulticlassAccuracy(num_classes, average="micro", validate_args=False)
        self.val_acc = PerGlimpseAccuracy(self.num_glimpses)
        self.test_acc = PerGlimpseAccuracy(self.num_glimpses)
        # Optional trace fields for validation/test steps (``return_gates``, ``return_glimpses``),
        # switched on by the callbacks that read them; training never pays for them.
        self.eval_options: dict[str, bool] = {}
        self.val_acc_mc = MulticlassAccuracy(num_classes, average="micro", validate_args=False)
        self.test_acc_mc = MulticlassAccuracy(num_classes, average="micro", validate_args=False)
        # Per-canvas mean losses, summed across processes: exact under DDP (see CanvasMNIST._eval_loader).
        self.val_loss = MeanMetric()
        self.test_loss = MeanMetric()

    def forward(self, images: Tensor, labels: Tensor | None = None, **options: Any) -> Trace:
        return self.net(images, labels, **options)

    def objective(self, trace: Trace, labels: Tensor) -> dict[str, Tensor]:
        """The training loss and its logged parts, from a trace (``{"loss": scalar, ...}``).

        With a location policy (``trace.log_pi``) this is RAM's hybrid loss: the weighted
        cross-entropy + REINFORCE + the baseline's squared error (- the entropy bonus).
        """
        if trace.log_p_actions is not None:
            return self._rollout_objective(trace, labels)
        cross_entropy = losses.weighted_cross_entropy(trace.logits, labels, self.weights)
        if trace.log_pi is None:
            return {"loss": cross_entropy}
        weights = self.weights if self.hparams.reward == "weighted" else None
        reward = losses.classification_reward(trace.logits, labels, weights)
        terms = losses.reinforce_loss(trace.log_pi, reward, trace.baseline)
        loss = cross_entropy + terms["reinforce_loss"] + terms.get("baseline_mse", 0.0)
        if trace.entropy is not None:
            terms["entropy"] = trace.entropy.sum(0).mean()
            loss = loss - self.hparams.entropy_bonus * terms["entropy"]
        return {"loss": loss, "cross_entropy": cross_entropy, **terms}

    def _rollout_objective(self, trace: Trace, labels: Tensor) -> dict[str, Tensor]:
        """WS-RAM's estimator over ``M`` rollouts (importance-weighted when ``trace.log_q_actions``
        is set, else VAR's equal weights), with ``log p(y|a)`` scored by the glimpse weighting.

        Logged: ``bound`` (the log-likelihood bound), ``ess`` (effective sample size, in
        ``[1, M]``), ``log_likelihood`` (mean ``log p(y|a_m)``), ``entropy`` and, every
        ``grad_variance_every`` steps, ``grad_variance``.
        """
        log_likelihood = losses.rollout_log_likelihood(trace.sample_logits, labels, self.weights)  # [M, B]
        if trace.log_q_actions is None:
            surrogate = losses.variational_surrogate(log_likelihood, trace.log_p_actions, self.hparams.control_variates)
        else:
            surrogate = losses.wake_sleep_surrogate(
                log_likelihood, trace.log_p_actions, trace.log_q_actions, self.hparams.control_variates
            )
        loss = surrogate.loss()
        terms = {
            "bound": surrogate.bound.mean(),
            "ess": surrogate.ess.mean(),
            "log_likelihood": log_likelihood.detach().mean(),
        }
        if trace.entropy is not None:
            terms["entropy"] = trace.entropy.sum(0).mean()
            loss = loss - self.hparams.entropy_bonus * terms["entropy"]
        every = self.hparams.grad_variance_every
        if every and log_likelihood.shape[0] > 1 and self.global_step % every == 0:
            params = [p for p in self.net.parameters() if p.requires_grad]
            terms["grad_variance"] = losses.rollout_gradient_variance(surrogate.per_rollout(), params)
        return {"loss": loss, **terms}

    def on_fit_start(self) -> None:
        problem = canvas_size_mismatch(self.net, getattr(self.trainer, "datamodule", None))
        if problem:
            raise ValueError(problem)

    def on_train_start(self) -> None:
        """Give every process, and every resumed run, its own random stream (stochastic glimpses,
        RAM's start locations): ``seed_everything`` seeds all processes alike, and a run resumed at
        step ``k`` would otherwise replay the noise of step 0. A fresh single-process run keeps
        its stream unchanged."""
        if self.global_rank > 0 or self.global_step > 0:
            entropy = [torch.initial_seed(), self.global_rank, self.global_step]
            torch.manual_seed(int(np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint64)[0]))

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        images, labels, _ = batch
        trace = self(images, labels)
        terms = self.objective(trace, labels)
        self.train_acc(trace.logits[-1], labels)
        self.log_dict({f"train/{k}": v for k, v in terms.items()}, prog_bar=False)
        self.log("train/acc", self.train_acc)  # not in the progress bar: that reads it back every step
        return terms["loss"]

    def _eval_step(self, batch: Batch, stage: str) -> dict[str, Any]:
        images, labels, boxes = batch
        trace = self(images, **self.eval_options)
        loss = losses.weighted_cross_entropy(trace.logits, labels, self.weights)
        getattr(self, f"{stage}_acc").update(trace.logits, labels)
        if trace.mc_logits is not None:  # Monte-Carlo averaged prediction, beside the single sample
            metric = getattr(self, f"{stage}_acc_mc")
            metric(trace.mc_logits[-1], labels)
            self.log(f"{stage}/acc_mc", metric)
        mean_loss = getattr(self, f"{stage}_loss")
        mean_loss.update(loss, weight=labels.numel())
        self.log(f"{stage}/loss", mean_loss, prog_bar=stage == "val")
        return {"trace": trace.detach(), "labels": labels, "boxes": boxes}

    def validation_step(self, batch: Batch, batch_idx: int) -> dict[str, Any]:
        return self._eval_step(batch, "val")

    def test_step(self, batch: Batch, batch_idx: int) -> dict[str, Any]:
        return self._eval_step(batch, "test")

    def predict_step(self, batch: Batch, batch_idx: int) -> Tensor:
        """Class probabilities after every glimpse, ``[T, B, C]``."""
        return self(batch[0]).logits.softmax(-1)

    def _log_glimpse_accuracy(self, stage: str) -> None:
        metric: PerGlimpseAccuracy = getattr(self, f"{stage}_acc")
        acc = metric.compute().reshape(-1)  # [T] (torchmetrics squeezes T = 1 to a scalar)
        metric.reset()
        self.log_dict({f"{stage}/acc_glimpse_{t + 1}": a for t, a in enumerate(acc)})
        self.log(f"{stage}/acc", acc[-1], prog_bar=stage == "val")

    def on_validation_epoch_end(self) -> None:
        self._log_glimpse_accuracy("val")

    def on_test_epoch_end(self) -> None:
        self._log_glimpse_accuracy("test")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        hp = self.hparams
        return torch.optim.Adam(self.parameters(), lr=hp.lr, betas=tuple(hp.betas), weight_decay=hp.weight_decay)


def canvas_size_mismatch(net: nn.Module, datamodule: object) -> str | None:
    """The error message when ``net`` was built for another canvas size than ``datamodule`` makes."""
    net_size = getattr(net, "canvas_size", None)
    data_size = getattr(datamodule, "canvas_size", None)
    if net_size is None or data_size is None or net_size == data_size:
        return None
    return f"model.net.init_args.canvas_size ({net_size}) must equal data.canvas_size ({data_size})"
