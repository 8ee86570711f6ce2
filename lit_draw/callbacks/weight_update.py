"""How far the weights move between snapshots (study fig. 7)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from torch import Tensor, nn

from lit_draw.validation import PositiveInt, require_logged_period, require_positive_ints


class WeightUpdateNorm(Callback):
    """Every ``every_n_steps`` optimiser steps, ``||W - W_prev|| / numel(W)`` per tracked parameter.

    ``W_prev`` is the parameter's previous snapshot (taken when training starts, then at every log);
    the value is logged as ``weight_update/{name}`` with ``name`` the parameter's path in the net
    (``decoder.weight_hh``). Snapshots are copies of the tracked tensors only, kept on the model's
    device; nothing is read back to the host between logs.

    Args:
        every_n_steps: steps between snapshots, a positive multiple of ``trainer.log_every_n_steps``
            (Lightning drops step values logged between its logging steps).
        modules: paths in the net of modules whose weight matrices (parameters with two or more
            dimensions) are tracked, or of single parameters (``decoder``, ``encoder.weight_hh``);
            ``None``: every recurrent cell of the net (DRAW: encoder and decoder; RAM: its core).
    """

    def __init__(self, every_n_steps: PositiveInt = 100, modules: Sequence[str] | None = None) -> None:
        super().__init__()
        require_positive_ints("WeightUpdateNorm", every_n_steps=every_n_steps)
        self.every_n_steps = every_n_steps
        self.modules = None if modules is None else list(modules)
        self._tracked: dict[str, nn.Parameter] = {}
        self._snapshots: dict[str, Tensor] = {}
        self._last_step = -1

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        require_logged_period("WeightUpdateNorm.every_n_steps", self.every_n_steps, trainer.log_every_n_steps)
        self._tracked = tracked_parameters(pl_module.net, self.modules)

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._snapshots = {name: p.detach().clone() for name, p in self._tracked.items()}
        self._last_step = trainer.global_step

    @torch.no_grad()
    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        step = trainer.global_step
        if step == self._last_step or step % self.every_n_steps:
            return
        self._last_step = step
        for name, p in self._tracked.items():
            snapshot = self._snapshots[name]
            pl_module.log(f"weight_update/{name}", torch.linalg.vector_norm(p - snapshot) / p.numel(), on_step=True)
            snapshot.copy_(p)


def tracked_parameters(net: nn.Module, modules: Sequence[str] | None) -> dict[str, nn.Parameter]:
    """The parameters :class:`WeightUpdateNorm` tracks, by their path in ``net``.

    Raises:
        ValueError: when a path names nothing in ``net`` (the message lists its modules).
    """
    if modules is None:
        modules = [name for name, m in net.named_modules() if isinstance(m, nn.RNNCellBase)]
    parameters = dict(net.named_parameters())
    submodules = dict(net.named_modules())
    tracked = {}
    for path in modules:
        if path in parameters:
            tracked[path] = parameters[path]
        elif path in submodules and path:
            for name, p in submodules[path].named_parameters():
                if p.dim() >= 2:
                    tracked[f"{path}.{name}"] = p
        else:
            raise ValueError(
                f"WeightUpdateNorm.modules: {path!r} is neither a module nor a parameter of "
                f"{type(net).__name__}; its modules are {sorted(n for n in submodules if n)}"
            )
    if not tracked:
        raise ValueError(f"WeightUpdateNorm.modules {modules!r} hold no weight matrix in {type(net).__name__}")
    return tracked
