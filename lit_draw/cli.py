"""``python -m lit_draw {fit,validate,test,predict}``: LightningCLI with lit_draw's defaults.

Defaults a researcher gets without writing them in YAML:

* a W&B logger, **offline** unless ``WANDB_MODE=online`` (or ``--trainer.logger.init_args.offline=false``);
  offline runs land under ``./wandb/`` and are uploaded later with ``wandb sync``;
* checkpoints under ``<trainer.default_root_dir>/checkpoints``: the best on ``val/acc`` and
  ``last.ckpt``, so ``fit --ckpt_path last`` resumes;
* the resolved config logged as the W&B run config and saved as ``config.yaml`` beside the
  checkpoints.
"""

from __future__ import annotations

import importlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback
from lightning.pytorch.loggers import Logger, WandbLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO
from jsonargparse import lazy_instance

from lit_draw import resume
from lit_draw.data import CanvasMNIST
from lit_draw.module import AttentionClassifier, canvas_size_mismatch
from lit_draw.sweep import SUMMARY_ENV


def checkpoint_dir(trainer: Trainer) -> Path:
    """Where checkpoints (and the resolved config) of a run live."""
    return Path(trainer.default_root_dir) / "checkpoints"


class LogConfigToRun(SaveConfigCallback):
    """Stores the resolved config with the run: as the W&B run config and as ``config.yaml``."""

    def save_config(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        config = self.config.as_dict()
        if isinstance(trainer.logger, Logger):
            trainer.logger.log_hyperparams({k: v for k, v in config.items() if k != "config"})
        directory = checkpoint_dir(trainer)
        directory.mkdir(parents=True, exist_ok=True)
        self.parser.save(self.config, directory / self.config_filename, skip_none=False, overwrite=True)


class ConfigError(ValueError):
    """A config value that lit_draw rejects; ``python -m lit_draw`` prints it without a traceback."""


class LitDrawCLI(LightningCLI):
    """LightningCLI over :class:`AttentionClassifier` and :class:`CanvasMNIST`.

    Checkpointing is its own config group (``checkpoint:``), always on, so that listing analysis
    callbacks under ``trainer.callbacks`` never drops it. Checkpoints are written atomically, carry
    the W&B run id, and are saved on SIGTERM / SIGUSR1 (see :mod:`lit_draw.resume`); ``fit`` from a
    checkpoint continues its W&B run.
    """

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        parser.add_lightning_class_args(ModelCheckpoint, "checkpoint")
        parser.set_defaults(
            {
                "checkpoint.monitor": "val/acc",
                "checkpoint.mode": "max",
                "checkpoint.save_last": True,
                "checkpoint.filename": "best-{epoch}-{step}",
                "checkpoint.auto_insert_metric_name": False,
            }
        )

    def instantiate_classes(self) -> None:
        """Build model, data and trainer; a bad value in the config becomes a :class:`ConfigError`."""
        try:
            super().instantiate_classes()
        except ValueError as error:
            raise ConfigError(str(error)) from error
        problem = canvas_size_mismatch(self.model.net, self.datamodule)
        if problem:
            raise ConfigError(problem)

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        trainer = super().instantiate_trainer(**kwargs)
        for callback in trainer.checkpoint_callbacks:
            if callback.dirpath is None:
                callback.dirpath = str(checkpoint_dir(trainer))
        if type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:
            trainer.strategy.checkpoint_io = resume.AtomicCheckpointIO()
        for logger in trainer.loggers:
            # Lightning's offline WandbLogger only sets WANDB_MODE, which W&B ignores once this
            # process has set W&B up (an earlier wandb.init in a notebook or test): say it explicitly.
            if isinstance(logger, WandbLogger) and logger._offline and logger._wandb_init.get("mode") is None:
                logger._wandb_init["mode"] = "offline"
        trainer.callbacks += [resume.KeepWandbRunId(), resume.CheckpointOnSignal()]
        if self.subcommand == "fit":
            resume.continue_wandb_run(trainer, self.config["fit"].get("ckpt_path"))
        return trainer

    def after_fit(self) -> None:
        """Under ``python -m lit_draw sweep``: write the last logged metrics where the sweep reads them."""
        path = os.environ.get(SUMMARY_ENV)
        if path and self.trainer.is_global_zero:
            metrics = {k: v.item() for k, v in self.trainer.callback_metrics.items() if v.numel() == 1}
            Path(path).write_text(json.dumps(metrics))


def trainer_defaults() -> dict[str, Any]:
    """The W&B logger every lit_draw run gets unless its config names another.

    Runs go under ``$WANDB_DIR/wandb`` (default: the working directory), made absolute here:
    W&B's service process writes relative paths from its own working directory, which differs
    from ours once a process has changed directory between two runs.
    """
    # Under ``wandb agent`` (which sets WANDB_SWEEP_ID) a run logs online to its sweep.
    offline = os.environ.get("WANDB_MODE", "online" if os.environ.get("WANDB_SWEEP_ID") else "offline") != "online"
    save_dir = os.path.abspath(os.environ.get("WANDB_DIR", "."))
    return {
        "default_root_dir": "runs/default",
        "logger": lazy_instance(WandbLogger, project="lit_draw", save_dir=save_dir, offline=offline),
    }


#: Commands beside LightningCLI's ``fit / validate / test / predict``: name -> module with ``main(args)``.
EXTRA_COMMANDS = {
    "bench": "lit_draw.bench",
    "sweep": "lit_draw.sweep",
    "reproduce": "lit_draw.reproduce",
    "view": "lit_draw.viewer",
}


_DESCRIPTION = (
    "Train and evaluate lit_draw's attention classifiers (fit / validate / test / predict, with "
    "--config configs/<experiment>.yaml). Further commands, each with its own --help: "
    "bench (speed table), sweep (run a W&B sweep file locally), view (the attention viewer page)."
)


def main(args: list[str] | None = None) -> Any:
    """Run one command, ``args`` as on the command line (``None`` reads ``sys.argv``).

    ``fit``, ``validate``, ``test`` and ``predict`` go to LightningCLI (and return it); the
    commands of :data:`EXTRA_COMMANDS` to their module's ``main``.
    """
    argv = sys.argv[1:] if args is None else list(args)
    if argv and argv[0] in EXTRA_COMMANDS:
        return importlib.import_module(EXTRA_COMMANDS[argv[0]]).main(argv[1:])
    run_id = os.environ.get("WANDB_RUN_ID")  # a resumed fit sets it (lit_draw.resume.continue_wandb_run)
    try:
        return LitDrawCLI(
            AttentionClassifier,
            CanvasMNIST,
            trainer_defaults=trainer_defaults(),
            save_config_callback=LogConfigToRun,
            save_config_kwargs={"save_to_log_dir": False},
            parser_kwargs={"prog": "python -m lit_draw", "description": _DESCRIPTION},
            args=args,
        )
    finally:
        _finish_wandb_run()
        if run_id is None:
            os.environ.pop("WANDB_RUN_ID", None)
        else:
            os.environ["WANDB_RUN_ID"] = run_id


def _finish_wandb_run() -> None:
    """Close the W&B run so its offline files are complete (a no-op when none is open).

    ``wandb.finish`` returns before W&B's service process has flushed the run's ``.wandb`` log;
    ``wandb.teardown`` waits for it, so a run is complete on disk when a command returns.
    """
    import wandb

    if wandb.run is not None:
        wandb.finish()
        wandb.teardown()
