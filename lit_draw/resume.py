"""Preemption-safe training: atomic checkpoints, a checkpoint on SIGTERM / SIGUSR1, one W&B run per resume.

* :class:`AtomicCheckpointIO` writes every checkpoint to a temporary file and renames it into
  place, so a run killed with SIGKILL mid-write leaves the previous ``last.ckpt`` intact.
* :class:`CheckpointOnSignal` saves ``last.ckpt`` when a run stops on SIGTERM (Lightning finishes
  the current batch, then raises ``SIGTERMException``) and treats SIGUSR1 as SIGTERM. Under SLURM,
  SIGUSR1 is left to Lightning's own handler, which saves ``hpc_ckpt_<n>.ckpt`` and requeues the
  job; the requeued job resumes from it without ``--ckpt_path``.
* :class:`KeepWandbRunId` stores the W&B run id in every checkpoint; :func:`continue_wandb_run`
  reads it back when ``fit`` resumes so that the resumed run logs to the same W&B run.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from types import FrameType
from typing import Any

import torch
from lightning.fabric.plugins.environments import SLURMEnvironment
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities.exceptions import SIGTERMException

#: Checkpoint key holding the W&B run id of the run that wrote it.
WANDB_RUN_ID_KEY = "wandb_run_id"


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` that never leaves a half-written checkpoint behind (temp file + rename)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None) -> None:
        path = Path(path)
        partial = path.with_name(f".{path.name}.partial")
        super().save_checkpoint(checkpoint, partial, storage_options)
        os.replace(partial, path)


class KeepWandbRunId(Callback):
    """Writes the W&B run id into every checkpoint (``checkpoint["wandb_run_id"]``)."""

    def on_save_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger) and logger.version is not None:
                checkpoint[WANDB_RUN_ID_KEY] = logger.version


class CheckpointOnSignal(Callback):
    """Saves ``last.ckpt`` before a run stops on SIGTERM or SIGUSR1 (see the module docstring)."""

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # After Lightning has registered its own handlers (whose teardown restores this one too).
        if hasattr(signal, "SIGUSR1") and not SLURMEnvironment.detect():
            if signal.getsignal(signal.SIGUSR1) in (signal.SIG_DFL, None):
                signal.signal(signal.SIGUSR1, _as_sigterm)

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        callback = trainer.checkpoint_callback
        if isinstance(exception, SIGTERMException) and callback is not None and callback.dirpath is not None:
            trainer.save_checkpoint(Path(callback.dirpath) / f"{callback.CHECKPOINT_NAME_LAST}{callback.FILE_EXTENSION}")


def _as_sigterm(signum: int, frame: FrameType | None) -> None:
    """SIGUSR1 handler: stop as on SIGTERM (Lightning's handler then ends the run cleanly)."""
    os.kill(os.getpid(), signal.SIGTERM)


def resume_path(trainer: Trainer, ckpt_path: str | None) -> Path | None:
    """The checkpoint that ``trainer.fit(ckpt_path=ckpt_path)`` will restore, or ``None``.

    ``"last"`` is the newest ``last*.ckpt`` of the trainer's checkpoint callbacks; ``"hpc"`` (and
    ``None`` under SLURM, as Lightning does) the highest ``hpc_ckpt_<n>.ckpt`` in
    ``default_root_dir``; any other string is a path. ``"best"`` (meaningless for resuming) gives
    ``None``.
    """
    if ckpt_path == "last":
        candidates = [
            path
            for callback in trainer.checkpoint_callbacks
            if callback.dirpath is not None
            for path in Path(callback.dirpath).glob(f"{callback.CHECKPOINT_NAME_LAST}*{callback.FILE_EXTENSION}")
        ]
        return max(candidates, key=lambda path: path.stat().st_mtime, default=None)
    if ckpt_path == "hpc" or (ckpt_path is None and SLURMEnvironment.detect()):
        versions = [int(p.stem.removeprefix("hpc_ckpt_")) for p in Path(trainer.default_root_dir).glob("hpc_ckpt_*.ckpt")]
        return Path(trainer.default_root_dir) / f"hpc_ckpt_{max(versions)}.ckpt" if versions else None
    if ckpt_path in (None, "best"):
        return None
    return Path(ckpt_path)


def continue_wandb_run(trainer: Trainer, ckpt_path: str | None) -> str | None:
    """Make the W&B logger continue the run that wrote the checkpoint ``fit`` resumes from.

    Sets ``WANDB_RUN_ID`` (read by ``wandb.init`` when the logger names no id; the logger already
    passes ``resume="allow"``) before the run starts. The caller restores the environment.

    Returns:
        The run id, or ``None`` when there is nothing to resume or the checkpoint holds no id.
    """
    path = resume_path(trainer, ckpt_path)
    if path is None or not path.is_file():
        return None
    run_id = torch.load(path, map_location="cpu", weights_only=False, mmap=True).get(WANDB_RUN_ID_KEY)
    if run_id is not None:
        os.environ["WANDB_RUN_ID"] = run_id
    return run_id
