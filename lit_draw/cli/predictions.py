"""``python -m lit_draw predict``: the per-glimpse probabilities of every test canvas, written to one file.

:class:`PredictionFile` (added by the CLI for ``predict``) collects what ``predict_step`` returns
and writes one ``torch.save`` file, named on the console::

    {"probs":  float32 [T, N, C]  class probabilities after every glimpse,
     "labels": int64   [N]        true classes,
     "center": float32 [T, N, 2]  glimpse centres (x, y) in canvas pixels,   (when predict_step gives them)
     "size":   float32 [T, N]     glimpse window sides in canvas pixels,     (when predict_step gives them)
     "halt":   int64   [N]        glimpses used where the halting head stopped (nets with one)}

``predict_step`` may return the probabilities ``[T, B, C]`` alone or a dict holding ``probs``
and any of ``center`` / ``size`` / ``halt`` (from the model's Trace).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import BasePredictionWriter
from torch import Tensor

#: Fields with the batch on dimension 1 (``[T, B, ...]``), stacked along it.
GLIMPSE_FIELDS = ("probs", "center", "size")
#: Fields with the batch on dimension 0 (``[B]``), written as they are.
CANVAS_FIELDS = ("halt",)


class PredictionFile(BasePredictionWriter):
    """Writes the predictions of one ``predict`` run to ``<folder>/predictions-<time>.pt`` (see the module docstring).

    Args:
        folder: where the file goes (the CLI passes ``<default_root_dir>/predictions``).
    """

    def __init__(self, folder: str | Path) -> None:
        super().__init__(write_interval="batch")
        self.folder = Path(folder)
        self.parts: dict[str, list[Tensor]] = {}
        self.path: Path | None = None

    def write_on_batch_end(
        self,
        trainer: Trainer,
        pl_module: LightningModule,
        prediction: Tensor | dict[str, Tensor],
        batch_indices: Sequence[int] | None,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int,
    ) -> None:
        fields = prediction if isinstance(prediction, dict) else {"probs": prediction}
        for key, value in fields.items():
            if key in GLIMPSE_FIELDS and value is not None:
                self.parts.setdefault(key, []).append(value.detach().float().cpu())
            elif key in CANVAS_FIELDS and value is not None:
                self.parts.setdefault(key, []).append(value.detach().cpu())
        self.parts.setdefault("labels", []).append(batch[1].detach().cpu())

    def on_predict_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if not self.parts:
            return
        result = {key: torch.cat(parts, dim=1 if key in GLIMPSE_FIELDS else 0) for key, parts in self.parts.items()}
        self.parts = {}
        rank = f"-rank{trainer.global_rank}" if trainer.world_size > 1 else ""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / f"predictions-{time.strftime('%Y%m%d-%H%M%S')}{rank}.pt"
        torch.save(result, self.path)
        shape = "x".join(map(str, result["probs"].shape))
        print(f"predict: wrote {self.path} (probs [T, N, C] = {shape}; keys {', '.join(result)})")
