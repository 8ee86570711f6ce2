"""What a run prints while it trains, and where its files went when it ends.

* On a terminal, Lightning's tqdm bar, redrawn in place (:class:`RunBar`).
* Written to a file or a pipe (``nohup``, a cluster job's log, ``| tee``), a redrawn bar leaves a
  copy of itself at every step: 55 KB for 300 quickstart steps, tens of MB for a study run. There
  :class:`ProgressLines` writes one plain line every ``trainer.log_every_n_steps`` steps and one
  after each validation instead (:func:`use_readable_progress` picks, by ``sys.stdout.isatty()``).
* Both show the run's name (its folder under ``trainer.default_root_dir``: the W&B run id) where
  Lightning shows ``v_num`` (the loggers' versions joined, cut to four characters: ``_csv``).
* :func:`run_files` names where a run's checkpoints, ``metrics.csv`` and pictures went, the block
  the CLI prints when a run ends.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import Any, TextIO

from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import ProgressBar, TQDMProgressBar
from lightning.pytorch.loggers import CSVLogger, WandbLogger

from lit_draw.cli.metrics_csv import METRICS_FILE


def run_name(trainer: Trainer) -> str | None:
    """The run's name: its W&B run id (the name of its folder under ``default_root_dir``), else the
    first logger's version; ``None`` without a logger."""
    wandb = next((logger for logger in trainer.loggers if isinstance(logger, WandbLogger)), None)
    logger = wandb or (trainer.loggers[0] if trainer.loggers else None)
    version = None if logger is None else logger.version
    return None if version in (None, "") else str(version)


def _with_run_name(trainer: Trainer, metrics: dict[str, Any]) -> dict[str, Any]:
    """``metrics`` (a progress bar's) with ``v_num`` the run's name (left out without one)."""
    metrics = dict(metrics)
    metrics.pop("v_num", None)
    name = run_name(trainer)
    return {"v_num": name, **metrics} if name is not None else metrics


class RunBar(TQDMProgressBar):
    """Lightning's tqdm bar, with the run's name as ``v_num``."""

    def get_metrics(self, trainer: Trainer, pl_module: LightningModule) -> dict[str, Any]:
        return _with_run_name(trainer, super().get_metrics(trainer, pl_module))


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}"


def _value(value: Any) -> str:
    value = value.item() if hasattr(value, "item") else value
    return f"{value:.4g}" if isinstance(value, float) else str(value)


class ProgressLines(ProgressBar):
    """Training progress as plain lines, for output that is not a terminal.

    A line every ``every`` optimiser steps (``None``: ``trainer.log_every_n_steps``) and at the
    last step, naming the run, epoch, step, elapsed time and speed, the training loss logged at that
    step and what the tqdm bar shows (the last validation's ``val/loss`` and ``val/acc``); and a line
    after each validation (not the sanity check) with its values::

        [y8201j87] epoch 0 step 40/300 0:00:12 3.3 steps/s train/loss=2.251 val/loss=2.31 val/acc=0.125
        [y8201j87] validation at step 300: val/loss=0.4211 val/acc=0.8732

    Args:
        every: steps between two lines (``None``: the trainer's ``log_every_n_steps``).
        stream: where the lines go (``None``: ``sys.stdout`` as it is when a line is written).
    """

    def __init__(self, every: int | None = None, stream: TextIO | None = None) -> None:
        super().__init__()
        if every is not None and every < 1:
            raise ValueError(f"ProgressLines.every must be an int >= 1 or None, got {every}")
        self.every = every
        self.stream = stream
        self._enabled = True
        self._started = 0.0
        self._start_step = 0
        self._total: int | float = float("inf")

    def disable(self) -> None:
        self._enabled = False

    def enable(self) -> None:
        self._enabled = True

    def print(self, *args: Any, **kwargs: Any) -> None:
        if self._enabled:
            print(*args, file=self.stream or sys.stdout, flush=True, **kwargs)

    def _prefix(self, trainer: Trainer) -> str:
        name = run_name(trainer)
        return f"[{name}] " if name else ""

    def _shown(self, trainer: Trainer, pl_module: LightningModule) -> str:
        metrics = self.get_metrics(trainer, pl_module)
        metrics.pop("v_num", None)
        return " ".join(f"{key}={_value(value)}" for key, value in metrics.items())

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._started, self._start_step = time.monotonic(), trainer.global_step
        self._total = trainer.estimated_stepping_batches  # max_steps, max_epochs and the data's length

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, *args: Any) -> None:
        step, every = trainer.global_step, self.every or trainer.log_every_n_steps or 50
        if step == self._start_step or (step % every and step != self._total):
            return
        elapsed = time.monotonic() - self._started
        speed = (step - self._start_step) / elapsed if elapsed > 0 else 0.0
        of = f"/{int(self._total)}" if self._total != float("inf") else ""
        logged = trainer.log_every_n_steps and step % trainer.log_every_n_steps == 0  # train/loss is of this step
        loss = trainer.callback_metrics.get("train/loss")
        loss = f" train/loss={_value(loss)}" if loss is not None and logged else ""
        shown = self._shown(trainer, pl_module)
        self.print(
            f"{self._prefix(trainer)}epoch {trainer.current_epoch} step {step}{of} {_duration(elapsed)} "
            f"{speed:.3g} steps/s{loss}{' ' + shown if shown else ''}"
        )

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit":
            return
        metrics = {k: v for k, v in trainer.progress_bar_metrics.items() if k.startswith("val/")}
        values = " ".join(f"{key}={_value(value)}" for key, value in metrics.items())
        self.print(f"{self._prefix(trainer)}validation at step {trainer.global_step}: {values}".rstrip(": "))

    def get_metrics(self, trainer: Trainer, pl_module: LightningModule) -> dict[str, Any]:
        return _with_run_name(trainer, super().get_metrics(trainer, pl_module))


def use_readable_progress(trainer: Trainer, configured: list[Callback], stream: TextIO | None = None) -> None:
    """Replace the progress bar Lightning added by default (``enable_progress_bar``, no bar among the
    config's callbacks ``configured``) with :class:`RunBar` on a terminal, :class:`ProgressLines` elsewhere
    (``stream``: what is tested, ``None``: ``sys.stdout``). A bar the config names is left as it is."""
    if any(isinstance(callback, ProgressBar) for callback in configured):
        return
    for index, callback in enumerate(trainer.callbacks):
        if type(callback) is TQDMProgressBar:  # exactly Lightning's default
            terminal = (stream or sys.stdout).isatty()
            trainer.callbacks[index] = RunBar(refresh_rate=callback.refresh_rate) if terminal else ProgressLines()
            return


def _shown_path(path: Path) -> str:
    """``path`` relative to the working directory when it is inside it, else absolute."""
    path = path.absolute()
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def run_files(trainer: Trainer) -> list[str]:
    """The lines of the block a run ends with: where its checkpoints (a fit's), ``metrics.csv`` and
    pictures (W&B's images: the attention pictures, plots) went; only files that exist are named."""
    lines = []
    callback = trainer.checkpoint_callback
    folder = Path(callback.dirpath) if trainer.state.fn == "fit" and callback and callback.dirpath else None
    if folder is not None and folder.is_dir():
        checkpoints = sorted(p.name for p in folder.glob("*.ckpt"))
        config = [p.name for p in folder.glob("config.yaml")]
        if checkpoints or config:
            lines.append(f"  checkpoints: {_shown_path(folder)}{os.sep} ({', '.join(checkpoints + config)})")
    for logger in trainer.loggers:
        if isinstance(logger, CSVLogger):
            metrics = Path(logger.log_dir) / METRICS_FILE
            if metrics.is_file():
                lines.append(f"  metrics:     {_shown_path(metrics)}")
    for logger in trainer.loggers:
        if isinstance(logger, WandbLogger) and getattr(logger, "_experiment", None) is not None:
            images = Path(logger.experiment.dir) / "media" / "images"
            pictures = sorted(images.rglob("*.png")) if images.is_dir() else []
            if pictures:
                lines.append(f"  pictures:    {_shown_path(images)}{os.sep} ({len(pictures)} images, W&B's media)")
    return lines


def run_end_block(trainer: Trainer) -> str | None:
    """The block a run ends with (see :func:`run_files`), or ``None`` when it wrote none of them."""
    lines = run_files(trainer)
    if not lines:
        return None
    name, command = run_name(trainer), str(getattr(trainer.state.fn, "value", trainer.state.fn))
    step = f" at step {trainer.global_step}" if command == "fit" else ""
    return "\n".join([f"lit_draw: {command} done{step}" + (f", run {name}:" if name else ":"), *lines])
