"""Log the viewer page of the model under test to W&B as an HTML panel."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import wandb
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor

from lit_draw.callbacks.base import log_media, wandb_logger
from lit_draw.validation import PositiveInt, require_positive_ints
from lit_draw.viewer.build import assemble, trace_view
from lit_draw.viewer.page import render_page


class ViewerPanel(Callback):
    """At the end of testing, logs ``test/viewer``: the viewer page (see :mod:`lit_draw.viewer`) of this model.

    The summaries are computed from the test steps' traces (no extra pass over the test set); the
    picker shows the first ``samples`` canvases of ``trainer.datamodule.fixed_canvases("test")``.
    Needs a W&B logger and a single process; does nothing without them. Switch it on with
    ``--trainer.callbacks+=lit_draw.viewer.ViewerPanel`` or in YAML under ``trainer.callbacks``.

    Args:
        samples: test canvases in the page's picker.
    """

    def __init__(self, samples: PositiveInt = 16) -> None:
        super().__init__()
        require_positive_ints("ViewerPanel", samples=samples)
        self.samples = samples
        self._logits: list[Tensor] = []
        self._labels: list[Tensor] = []

    def on_test_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._logits, self._labels = [], []

    def on_test_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        self._logits.append(outputs["trace"].logits.float().cpu())
        self._labels.append(outputs["labels"].cpu())

    def on_test_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if wandb_logger(trainer) is None or trainer.world_size > 1 or not self._logits:
            return
        fixed = getattr(trainer.datamodule, "fixed_canvases", None)
        if fixed is None:
            rank_zero_warn("ViewerPanel needs a data module with fixed_canvases('test'); no page logged")
            return
        canvases, labels, _ = fixed("test")
        canvases, labels = canvases[: self.samples], labels[: self.samples]
        with torch.no_grad():
            trace = pl_module.net(canvases.to(pl_module.device), return_glimpses=True)
        name = Path(trainer.ckpt_path).name if trainer.ckpt_path else "model under test"
        view = {
            "name": name,
            "model": type(pl_module.net).__name__,
            **trace_view(trace, torch.cat(self._logits, 1), torch.cat(self._labels)),  # logits [T, N, C]
        }
        page = render_page(assemble(f"lit_draw viewer: {name}", canvases, labels, [view], []))
        log_media(trainer, {"test/viewer": wandb.Html(page, inject=False)})
        self._logits, self._labels = [], []
