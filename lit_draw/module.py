"""The LightningModule: one attention model, its objective, per-glimpse metrics, the optimiser."""

from __future__ import annotations

import warnings
from typing import Any

import torch
from lightning.pytorch import LightningModule
from lightning.pytorch.plugins.precision import MixedPrecision
from torch import Tensor, nn
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassAccuracy

from lit_draw.metrics import PerGlimpseAccuracy
from lit_draw.models.net import require_net
from lit_draw.models.trace import Trace
from lit_draw.objectives import Objective
from lit_draw.seeding import seed_device, stream_seed
from lit_draw.validation import require, require_logged_period

Batch = tuple[Tensor, Tensor, Tensor]  # canvas [B, 1, H, W], label [B], digit box [B, 4]


class AttentionClassifier(LightningModule):
    """Trains any lit_draw model (``DRAWClassifier``, ``RAM``, ``WSRAM``) with an objective.

    Args:
        net: the model, a plain ``nn.Module`` that is a :class:`~lit_draw.models.net.AttentionNet`
            (``glimpses``, ``canvas_size``, ``num_classes``, ``trace_kind``, ``stochastic_policy``,
            ``halting``, ``groups``; ``forward(images, labels)`` returns a :class:`Trace`; checked
            here), chosen in YAML by ``class_path``.
        objective: the training objective and its per-glimpse weighting, one of
            :mod:`lit_draw.objectives` (``CrossEntropy``, ``Reinforce``, ``WakeSleep``,
            ``Variational``; chosen by ``class_path``); it must fit ``net`` (checked here).
        compile: compile ``net`` in place with ``torch.compile`` (``nn.Module.compile``: the
            parameter names, and so the checkpoints, stay those of the eager net). Off by default:
            the eager path is what runs on CPU and what a debugger steps through.
        trainable: train only these groups of the net's parameters (``net.groups``, e.g. DRAW's
            ``window, encoder, bottleneck, decoder, classifier``); the others stay frozen, bit for
            bit (jlindsey15/DRAM's ``rigid_pretrain``). ``None``: train everything.
        clip_per_tensor: clip each parameter's gradient to the norm ``trainer.gradient_clip_val``
            on its own (TensorFlow's ``clip_by_norm`` per variable, as the study's code did) instead
            of the global norm of all of them.

    The optimiser is LightningCLI's ``optimizer:`` / ``lr_scheduler:`` groups (every shipped
    config sets them); without them (from Python) it is Adam with the study's ``lr = 1e-3``,
    ``betas = (0.5, 0.999)``.
    """

    def __init__(
        self,
        net: nn.Module,
        objective: Objective,
        compile: bool = False,
        trainable: list[str] | None = None,
        clip_per_tensor: bool = False,
    ) -> None:
        super().__init__()
        # Under LightningCLI the hparams hold the class_path and init_args of ``net`` and
        # ``objective``, so a checkpoint rebuilds both; from Python they are live modules, which
        # the checkpoint's state dict already holds: drop them from the hparams.
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Attribute .* is an instance of `nn.Module`")
            self.save_hyperparameters(logger=False)
        for name in ("net", "objective"):
            if isinstance(self.hparams.get(name), nn.Module):
                self.hparams.pop(name)
        require_net("AttentionClassifier.net", net)  # after this, net's attributes are read directly
        objective.bind(net)
        if trainable is not None:
            freeze_all_but(net, trainable)
        require(
            "AttentionClassifier",
            "clip_per_tensor",
            isinstance(clip_per_tensor, bool),
            "true or false",
            clip_per_tensor,
        )
        self.clip_per_tensor = clip_per_tensor
        self.net = net
        self.objective = objective
        if compile:
            self.net.compile()
        self.num_glimpses: int = net.glimpses
        num_classes = net.num_classes
        # validate_args=False: torchmetrics' input checks read values back to the host every step.
        self.train_acc = MulticlassAccuracy(num_classes, average="micro", validate_args=False)
        self.val_acc = PerGlimpseAccuracy(self.num_glimpses)
        self.test_acc = PerGlimpseAccuracy(self.num_glimpses)
        # Optional trace fields for validation/test steps (``return_gates``, ``return_glimpses``),
        # switched on by the callbacks that read them; training never pays for them.
        self.eval_options: dict[str, bool] = {}
        self.val_acc_mc = MulticlassAccuracy(num_classes, average="micro", validate_args=False)
        self.test_acc_mc = MulticlassAccuracy(num_classes, average="micro", validate_args=False)
        # A net that draws its glimpses from a policy (RAM, WS-RAM: ``stochastic_policy``) is also
        # scored at the policy's mean, ``forward(..., mean_policy=True)``: a third evaluation.
        self.mean_policy = net.stochastic_policy
        if self.mean_policy:
            self.val_acc_mean_policy = MulticlassAccuracy(num_classes, average="micro", validate_args=False)
            self.test_acc_mean_policy = MulticlassAccuracy(num_classes, average="micro", validate_args=False)
        # Per-canvas mean losses, summed across processes: exact under DDP (see CanvasMNIST._eval_loader).
        self.val_loss = MeanMetric()
        self.test_loss = MeanMetric()
        # A net with a halting head (lit_draw.models.halting) stops each canvas where the head says:
        # accuracy at that glimpse and the glimpses used, per canvas.
        self.halts = net.halting is not None
        if self.halts:
            self.val_halt_acc, self.test_halt_acc = MeanMetric(), MeanMetric()
            self.val_halt_glimpses, self.test_halt_glimpses = MeanMetric(), MeanMetric()

    def forward(self, images: Tensor, labels: Tensor | None = None, **options: Any) -> Trace:
        return self.net(images, labels, **options)

    def on_fit_start(self) -> None:
        """Refuse a data module whose canvases are not the size the net was built for (the CLI
        links the two; this catches a mismatch made from Python), and a gradient-variance period
        whose values Lightning would never write."""
        problem = self.clipping_problem(self.trainer.gradient_clip_val, self.trainer.gradient_clip_algorithm)
        if problem:
            raise ValueError(problem)
        every = getattr(self.objective, "grad_variance_every", 0)
        require_logged_period("model.objective.init_args.grad_variance_every", every, self.trainer.log_every_n_steps)
        net_size = self.net.canvas_size
        data_size = getattr(getattr(self.trainer, "datamodule", None), "canvas_size", net_size)
        if net_size != data_size:
            raise ValueError(f"model.net.init_args.canvas_size ({net_size}) must equal data.canvas_size ({data_size})")

    def on_train_start(self) -> None:
        """Note the run's seed (``seed_everything``'s) for :meth:`on_train_batch_start`."""
        self._run_seed = torch.initial_seed()

    def on_train_batch_start(self, batch: Batch, batch_idx: int) -> None:
        """Seed the generator the models sample from (RAM's start locations, stochastic glimpses,
        WS-RAM's proposals) from the run's seed, the process's rank and the batch's place in the run
        (:mod:`lit_draw.seeding`): every process draws its own samples, and a resumed run draws
        those an unbroken one would, whatever validation drew in between."""
        place = (self.current_epoch, batch_idx)
        seed_device(stream_seed(self._run_seed, "glimpses", self.global_rank, *place), self.device)

    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        images, labels, _ = batch
        trace = self(images, labels)
        scored = {"images": images} if self.objective.reads_images else {}
        terms = self.objective(trace, labels, self.global_step, **scored)
        # Lightning writes training logs every log_every_n_steps only: the metric update and the
        # log calls (a measurable share of a small model's step) are skipped on the other steps
        every = self.trainer.log_every_n_steps
        if every and (self.global_step + 1) % every == 0:
            self.train_acc(trace.logits[-1], labels)
            self.log_dict({f"train/{k}": v for k, v in terms.items()}, prog_bar=False)
            # not in the progress bar: that reads it back every step
            self.log(f"train/{self.objective.train_accuracy_key}", self.train_acc)
        return terms["loss"]

    def _eval_step(self, batch: Batch, stage: str) -> dict[str, Any]:
        images, labels, boxes = batch
        trace = self(images, **self.eval_options)
        loss = self.objective.eval_loss(trace, labels, images)
        getattr(self, f"{stage}_acc").update(trace.logits, labels)
        if trace.mc_logits is not None:  # Monte-Carlo averaged prediction, beside the single sample
            metric = getattr(self, f"{stage}_acc_mc")
            metric(trace.mc_logits[-1], labels)
            self.log(f"{stage}/acc_mc", metric)
        if self.mean_policy:
            metric = getattr(self, f"{stage}_acc_mean_policy")
            metric(self(images, mean_policy=True).logits[-1], labels)
            self.log(f"{stage}/acc_mean_policy", metric)
        mean_loss = getattr(self, f"{stage}_loss")
        mean_loss.update(loss, weight=labels.numel())
        self.log(f"{stage}/loss", mean_loss, prog_bar=stage == "val")
        if self.halts:
            self._log_halting(trace, labels, stage)
        return {"trace": trace.detach(), "labels": labels, "boxes": boxes}

    def _log_halting(self, trace: Trace, labels: Tensor, stage: str) -> None:
        """``{stage}/halt_acc``: accuracy at the glimpse where each canvas stops (``trace.halt``: the
        first ``lambda_t >= 0.5``, or the sampled stop of a stochastic policy); ``{stage}/halt_glimpses``:
        the mean number of glimpses used."""
        predicted = trace.logits.argmax(-1).gather(0, (trace.halt - 1)[None])[0]  # [B]
        for name, value in (("halt_acc", predicted == labels), ("halt_glimpses", trace.halt)):
            metric = getattr(self, f"{stage}_{name}")
            metric.update(value.float())
            self.log(f"{stage}/{name}", metric)

    def validation_step(self, batch: Batch, batch_idx: int) -> dict[str, Any]:
        return self._eval_step(batch, "val")

    def test_step(self, batch: Batch, batch_idx: int) -> dict[str, Any]:
        return self._eval_step(batch, "test")

    def predict_step(self, batch: Batch, batch_idx: int) -> dict[str, Tensor]:
        """Per glimpse: class probabilities ``probs [T, B, C]``, window centres ``center [T, B, 2]``
        and sides ``size [T, B]`` in canvas pixels; with a halting head, per canvas the glimpses
        used ``halt [B]`` (``1..T``)."""
        trace = self(batch[0])
        halt = {"halt": trace.halt} if self.halts else {}
        return {"probs": trace.logits.softmax(-1), "center": trace.center, "size": trace.size, **halt}

    def _log_glimpse_accuracy(self, stage: str) -> None:
        metric: PerGlimpseAccuracy = getattr(self, f"{stage}_acc")
        acc = metric.compute().reshape(-1)  # [T] (torchmetrics squeezes T = 1 to a scalar)
        metric.reset()
        # compute() reduced the counts over all processes: sync_dist averages equal values, and keeps
        # Lightning from warning that a per-process value is logged unreduced
        self.log_dict({f"{stage}/acc_glimpse_{t + 1}": a for t, a in enumerate(acc)}, sync_dist=True)
        self.log(f"{stage}/acc", acc[-1], prog_bar=stage == "val", sync_dist=True)

    def on_validation_epoch_end(self) -> None:
        self._log_glimpse_accuracy("val")

    def on_test_epoch_end(self) -> None:
        self._log_glimpse_accuracy("test")

    def configure_optimizers(self) -> torch.optim.Optimizer:
        """Adam with the study's settings; LightningCLI's ``optimizer:`` group replaces it."""
        return torch.optim.Adam(self.parameters(), lr=1e-3, betas=(0.5, 0.999))

    def built_optimizers(self) -> list[torch.optim.Optimizer]:
        """The optimisers :meth:`configure_optimizers` builds (under LightningCLI: the config's),
        unwrapped from the dict, list or tuple Lightning accepts; scheduler aside."""
        configured = self.configure_optimizers()
        configured = configured["optimizer"] if isinstance(configured, dict) else configured
        return list(configured) if isinstance(configured, (list, tuple)) else [configured]

    def clipping_problem(self, gradient_clip_val: float | None, gradient_clip_algorithm: str | None) -> str | None:
        """Why the trainer's clipping settings cannot do ``clip_per_tensor``, or ``None``."""
        if not self.clip_per_tensor:
            return None
        if not gradient_clip_val:
            return "model.clip_per_tensor clips to trainer.gradient_clip_val, which is not set: set it (the study: 5.0)"
        algorithm = getattr(gradient_clip_algorithm, "value", gradient_clip_algorithm)  # Lightning's enum, or a str
        if algorithm not in (None, "norm"):
            return f"model.clip_per_tensor clips each gradient's norm; trainer.gradient_clip_algorithm must be norm, got {algorithm!r}"
        return None

    def configure_gradient_clipping(
        self,
        optimizer: torch.optim.Optimizer,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str | None = None,
    ) -> None:
        """Clip as Lightning does, except that bf16-mixed clips a fused optimiser's gradients too.

        Lightning refuses clipping whenever mixed precision meets an optimiser that unscales inside
        its step (``fused=True``, which the RAM and WS-RAM configs use). That matters only under a
        gradient scaler (16-mixed); bf16-mixed has none, so its gradients are already the true ones.
        """
        plugin = self.trainer.precision_plugin
        if gradient_clip_val and self.clip_per_tensor:
            if isinstance(plugin, MixedPrecision) and plugin.scaler is not None:
                plugin.scaler.unscale_(optimizer)
            for group in optimizer.param_groups:
                for p in group["params"]:
                    if p.grad is not None:
                        clip_by_norm_(p.grad, gradient_clip_val)
            return
        if gradient_clip_val and isinstance(plugin, MixedPrecision) and plugin.scaler is None:
            params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
            if gradient_clip_algorithm == "value":
                nn.utils.clip_grad_value_(params, gradient_clip_val)
            else:
                nn.utils.clip_grad_norm_(params, gradient_clip_val)
            return
        self.clip_gradients(optimizer, gradient_clip_val, gradient_clip_algorithm)


def freeze_all_but(net: nn.Module, trainable: list[str]) -> None:
    """Freeze every parameter of ``net`` outside the named groups (``net.groups`` that this instance
    has); a frozen parameter gets no gradient, so the optimiser leaves it as it is.

    Raises:
        ValueError: naming the field and the groups ``net`` has, for an unknown or empty group.
    """
    children = dict(net.named_children())
    groups = [name for name in net.groups if name in children]
    for name in trainable:
        require(
            "AttentionClassifier",
            "trainable",
            name in groups,
            f"a list of {type(net).__name__}'s groups ({', '.join(groups)})",
            name,
        )
    require(
        "AttentionClassifier",
        "trainable",
        len(trainable) > 0,
        f"a non-empty list of groups ({', '.join(groups)}) or null",
        trainable,
    )
    net.requires_grad_(False)
    for name in trainable:
        children[name].requires_grad_(True)


@torch.no_grad()
def clip_by_norm_(grad: Tensor, max_norm: float) -> None:
    """``grad *= max_norm / max(||grad||, max_norm)`` in place: TensorFlow's ``tf.clip_by_norm``, one tensor."""
    norm = torch.linalg.vector_norm(grad.float())
    grad.mul_((max_norm / torch.clamp(norm, min=max_norm)).to(grad.dtype))
