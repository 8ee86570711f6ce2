"""Pictures of where the model looked on a fixed set of validation canvases (study fig. 6)."""

from __future__ import annotations

import torch
import wandb
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.utilities import rank_zero_warn
from torch import Tensor

from lit_draw.callbacks.base import log_media, wandb_logger
from lit_draw.callbacks.render import attention_picture
from lit_draw.validation import PositiveInt, conforms, require, require_positive_ints


class AttentionPictures(Callback):
    """Every ``every_n_epochs`` validation epochs, logs ``val/attention``: one picture per canvas
    (see :func:`attention_picture`).

    The canvases are the first ``num_canvases`` of the data module's fixed validation set
    (``trainer.datamodule.fixed_canvases("val")``), the same every epoch. Needs a W&B logger; does
    nothing without one.

    Args:
        num_canvases: ``K``, how many canvases to draw.
        zoom: display pixels per canvas pixel; ``None`` scales the canvas to about 240 pixels.
        every_n_epochs: draw on epochs ``0, n, 2n, ...``; rendering is host-side work of fixed cost,
            which dominates a short GPU validation epoch (see benchmarks/RESULTS.md).
    """

    def __init__(
        self, num_canvases: PositiveInt = 8, zoom: PositiveInt | None = None, every_n_epochs: PositiveInt = 1
    ) -> None:
        super().__init__()
        require_positive_ints("AttentionPictures", num_canvases=num_canvases, every_n_epochs=every_n_epochs)
        require(
            "AttentionPictures", "zoom", zoom is None or conforms(PositiveInt, zoom), "a positive int or None", zoom
        )
        self.num_canvases = num_canvases
        self.every_n_epochs = every_n_epochs
        self.zoom = zoom
        self._canvases: tuple[Tensor, Tensor] | None = None

    def _fixed_canvases(self, trainer: Trainer) -> tuple[Tensor, Tensor] | None:
        """The first ``K`` fixed validation canvases ``[K, 1, H, W]`` and labels ``[K]``, on CPU."""
        if self._canvases is None:
            fixed = getattr(trainer.datamodule, "fixed_canvases", None)
            if fixed is None:
                rank_zero_warn("AttentionPictures needs a data module with fixed_canvases('val'); no pictures drawn")
                return None
            canvases, labels, _ = fixed("val")
            self._canvases = canvases[: self.num_canvases], labels[: self.num_canvases]
        return self._canvases

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking or wandb_logger(trainer) is None:
            return
        if trainer.current_epoch % self.every_n_epochs:
            return
        fixed = self._fixed_canvases(trainer)
        if fixed is None:
            return
        canvases, labels = fixed
        with torch.no_grad():
            trace = pl_module.net(canvases.to(pl_module.device), return_glimpses=True)
        zoom = self.zoom or max(1, round(240 / canvases.shape[-1]))
        pictures = []
        for b, label in enumerate(labels.tolist()):
            probs = trace.logits[-1, b].softmax(-1)
            caption = f"label {label}, predicted {int(probs.argmax())} ({float(probs.max()):.2f})"
            pictures.append(wandb.Image(attention_picture(canvases[b], trace, b, label, zoom), caption=caption))
        log_media(trainer, {"val/attention": pictures})
