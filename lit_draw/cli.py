"""``python -m lit_draw {fit,validate,test,predict}``: LightningCLI with lit_draw's defaults.

Defaults a researcher gets without writing them in YAML:

* a W&B logger, **offline** unless ``WANDB_MODE=online`` (or ``--trainer.logger.init_args.offline=false``);
  offline runs land under ``./wandb/`` and are uploaded later with ``wandb sync``;
* one folder per fit, ``<trainer.default_root_dir>/<W&B run id>/checkpoints``, holding the best
  checkpoint on ``val/acc``, ``last.ckpt`` and the run's resolved ``config.yaml``;
  ``<trainer.default_root_dir>/checkpoints`` links to the newest fit's folder and
  ``--ckpt_path last`` names its ``last.ckpt`` (see :mod:`lit_draw.resume`);
* the resolved config logged as the W&B run config;
* ``validate`` / ``test`` / ``predict`` need ``--ckpt_path`` (or ``--untrained`` to score the
  untrained model on purpose), and refuse a checkpoint whose model settings differ from the config's;
* ``predict`` writes the per-glimpse probabilities to a file (see :mod:`lit_draw.predictions`).

Ordinary mistakes (a missing or unreadable config or checkpoint, a bad value) raise
:class:`~lit_draw.errors.ConfigError`, which ``python -m lit_draw`` prints in one line.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import os
import sys
import warnings
from pathlib import Path
from typing import Any

from jsonargparse import lazy_instance
from lightning.fabric.plugins.environments import SLURMEnvironment
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import LearningRateMonitor, ModelCheckpoint
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback
from lightning.pytorch.loggers import Logger, WandbLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities import rank_zero_warn
from lightning.pytorch.utilities.exceptions import MisconfigurationException

from lit_draw import resume
from lit_draw.checks import check_config_files, glimpse_larger_than_canvas, model_mismatch, unclippable
from lit_draw.data import CanvasMNIST
from lit_draw.errors import ConfigError
from lit_draw.module import AttentionClassifier
from lit_draw.predictions import PredictionFile
from lit_draw.sweep import SUMMARY_ENV

__all__ = ["ConfigError", "LitDrawCLI", "check_args", "main"]

#: Subcommands that evaluate a model and so need a checkpoint (or ``--untrained``).
EVALUATING = ("validate", "test", "predict")


class LogConfigToRun(SaveConfigCallback):
    """Stores the resolved config with the run: as the W&B run config and, for ``fit``, as
    ``config.yaml`` beside the run's checkpoints (evaluations never touch a run's folder)."""

    def save_config(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        config = self.config.as_dict()
        if isinstance(trainer.logger, Logger):
            trainer.logger.log_hyperparams({k: v for k, v in config.items() if k != "config"})
        callback = trainer.checkpoint_callback
        if stage == "fit" and callback is not None and callback.dirpath is not None:
            directory = Path(callback.dirpath)
            directory.mkdir(parents=True, exist_ok=True)
            self.parser.save(  # one self-contained file: no sub-config files written beside it
                self.config, directory / self.config_filename, skip_none=False, overwrite=True, multifile=False
            )


def force_offline_mode(logger: WandbLogger) -> None:
    """Make an offline ``WandbLogger`` pass ``mode="offline"`` to ``wandb.init``.

    Lightning's offline logger only sets ``WANDB_MODE``, which W&B ignores once this process has
    set W&B up (an earlier ``wandb.init`` in a notebook or test). No public API reads the logger's
    ``offline`` flag or extends its init arguments, so this reads ``WandbLogger._offline`` and
    ``WandbLogger._wandb_init``, here only; it fails loudly when they change (tests/test_cli.py).
    """
    offline, init = getattr(logger, "_offline", None), getattr(logger, "_wandb_init", None)
    if not isinstance(offline, bool) or not isinstance(init, dict):
        raise RuntimeError(
            "lightning's WandbLogger no longer has the private _offline (bool) / _wandb_init (dict) "
            "that lit_draw.cli.force_offline_mode relies on: update it for this Lightning version"
        )
    if offline and init.get("mode") is None:
        init["mode"] = "offline"


class LitDrawCLI(LightningCLI):
    """LightningCLI over :class:`AttentionClassifier` and :class:`CanvasMNIST`.

    Checkpointing is its own config group (``checkpoint:``), always on, so that listing analysis
    callbacks under ``trainer.callbacks`` never drops it. Each fit writes into its own folder;
    checkpoints are written atomically, carry the W&B run id, and are saved on SIGTERM / SIGUSR1
    (see :mod:`lit_draw.resume`); ``fit`` from a checkpoint continues its W&B run and its folder.
    """

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        # what must agree is stated once, in the data: the net is built for the data's canvases
        parser.link_arguments("data.canvas_size", "model.net.init_args.canvas_size")
        parser.link_arguments("data.num_classes", "model.net.init_args.num_classes", apply_on="instantiate")
        parser.add_lightning_class_args(resume.NewestLast, "checkpoint")
        parser.set_defaults(
            {
                "checkpoint.monitor": "val/acc",
                "checkpoint.mode": "max",
                "checkpoint.save_last": True,
                "checkpoint.filename": "best-{epoch}-{step}",
                "checkpoint.auto_insert_metric_name": False,
                # each fit has its own folder (lit_draw.resume.RunFolder): last.ckpt is overwritten, never last-v1.ckpt
                "checkpoint.enable_version_counter": False,
            }
        )
        parser.add_argument(
            "--untrained", type=bool, default=False,
            help="validate / test / predict: score the untrained model on purpose (else --ckpt_path is required)",
        )

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        """Parse, then check the checkpoint request before Lightning reads the checkpoint's hyperparameters."""
        super().parse_arguments(parser, args)
        if self.config.get("subcommand"):
            self._check_checkpoint_request(self.config["subcommand"])

    def _check_checkpoint_request(self, subcommand: str) -> None:
        """Resolve ``--ckpt_path last``; require a checkpoint for evaluation; refuse one that is
        missing, unreadable or holds another model than the config asks for (see :func:`model_mismatch`)."""
        config = self.config[subcommand]
        ckpt_path, untrained = config.get("ckpt_path"), config.get("untrained")
        root = config["trainer"]["default_root_dir"] or "."
        if untrained and subcommand == "fit":
            raise ConfigError("--untrained is for validate, test and predict (fit starts from untrained weights anyway)")
        if ckpt_path == "last":
            last = resume.resolve_last(root)
            if last is None and subcommand == "fit":
                rank_zero_warn(f"--ckpt_path last: no {Path(root) / 'checkpoints' / 'last.ckpt'} yet, starting a new run")
            elif last is None:
                raise ConfigError(f"{subcommand} --ckpt_path last: there is no {Path(root) / 'checkpoints' / 'last.ckpt'}")
            ckpt_path = config["ckpt_path"] = None if last is None else str(last)
        if ckpt_path is None:
            if subcommand in EVALUATING and not untrained:
                raise ConfigError(
                    f"{subcommand} needs --ckpt_path (a checkpoint, or last: {Path(root) / 'checkpoints' / 'last.ckpt'}); "
                    "--untrained scores the untrained model on purpose"
                )
            return
        if untrained:
            raise ConfigError(f"--untrained and --ckpt_path {ckpt_path} exclude each other")
        if ckpt_path in ("best", "hpc", "registry") or ckpt_path.startswith("registry:"):
            return  # resolved by Lightning
        stored = resume.read_checkpoint(ckpt_path).get("hyper_parameters") or {}
        problem = model_mismatch(stored, config["model"])
        if problem:
            raise ConfigError(f"--ckpt_path {ckpt_path}: {problem}")

    def instantiate_classes(self) -> None:
        """Build model, data and trainer; a bad value in the config becomes a :class:`ConfigError`."""
        try:
            with warnings.catch_warnings():
                # the module's own Adam is the default for Python use; the config's optimizer replaces it
                warnings.filterwarnings("ignore", ".*configure_optimizers` will be overridden")
                super().instantiate_classes()
        except (ValueError, MisconfigurationException) as error:
            raise ConfigError(" ".join(str(error).split())) from error
        problem = glimpse_larger_than_canvas(self.model.net)
        if problem:
            raise ConfigError(problem)

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        trainer = super().instantiate_trainer(**kwargs)
        if type(trainer.strategy.checkpoint_io) is TorchCheckpointIO:
            trainer.strategy.checkpoint_io = resume.AtomicCheckpointIO()
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                force_offline_mode(logger)
        # first: it picks the run's folder before config.yaml and checkpoints are written into it
        trainer.callbacks.insert(0, resume.RunFolder())
        trainer.callbacks += [resume.KeepWandbRunId(), resume.CheckpointOnSignal(), resume.RefuseChangedOptimizer()]
        config = self.config[self.subcommand] if self.subcommand else self.config
        if config.get("lr_scheduler") and trainer.loggers:
            trainer.callbacks.append(LearningRateMonitor(logging_interval="epoch"))
        if self.subcommand == "predict":
            trainer.callbacks.append(PredictionFile(Path(trainer.default_root_dir) / "predictions"))
        if self.subcommand == "fit":
            ckpt_path = self.config["fit"].get("ckpt_path")
            if ckpt_path == "hpc" or (ckpt_path is None and SLURMEnvironment.detect()):
                resume.continue_wandb_run(resume.hpc_checkpoint(trainer.default_root_dir))
            elif ckpt_path not in (None, "best"):
                resume.continue_wandb_run(Path(ckpt_path))
        return trainer

    def before_fit(self) -> None:
        """Refuse what would fail or mislead later: a resume that asks for other optimiser
        settings, or clipping that the precision and optimiser cannot do; before the run's folder is
        touched."""
        optimizers = self.model.built_optimizers()  # the CLI's optimizer
        problem = unclippable(self.trainer.precision_plugin, self.trainer.gradient_clip_val, optimizers)
        if problem:
            raise ConfigError(problem)
        ckpt_path = self.config["fit"].get("ckpt_path")
        if ckpt_path and Path(ckpt_path).is_file():
            problem = resume.changed_optimizer(optimizers, ckpt_path)
            if problem:
                raise ConfigError(problem)

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
    "bench (speed table), reproduce (the published results over seeds), sweep (run a W&B sweep file "
    "locally), view (the attention viewer page)."
)


def main(args: list[str] | None = None) -> Any:
    """Run one command, ``args`` as on the command line (``None`` reads ``sys.argv``).

    ``fit``, ``validate``, ``test`` and ``predict`` go to LightningCLI (and return it); the
    commands of :data:`EXTRA_COMMANDS` to their module's ``main``.
    """
    argv = sys.argv[1:] if args is None else list(args)
    if argv and argv[0] in EXTRA_COMMANDS:
        return importlib.import_module(EXTRA_COMMANDS[argv[0]]).main(argv[1:])
    check_config_files(argv)
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


class _Parsed(Exception):
    """Raised by :class:`_ParseOnly` once the arguments are parsed."""


class _ParseOnly(LitDrawCLI):
    """The CLI's parser and checks, building nothing (see :func:`check_args`)."""

    def before_instantiate_classes(self) -> None:
        raise _Parsed


def check_args(args: list[str]) -> None:
    """Check a command line (``["fit", "--config", ..., "--model.weighting=last"]``) as ``main`` would,
    without building or running anything.

    Raises:
        ConfigError: the parser's complaint (an unknown key, a bad value), in one line.
    """
    check_config_files(args)
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            _ParseOnly(
                AttentionClassifier, CanvasMNIST, trainer_defaults=trainer_defaults(),
                save_config_callback=None, parser_kwargs={"prog": "python -m lit_draw"}, args=args,
            )
    except _Parsed:
        return
    except SystemExit as error:
        message = stderr.getvalue()
        message = message[message.find("error:") + 6 :] if "error:" in message else f"exit status {error.code}"
        raise ConfigError(" ".join(message.split())) from error


def _finish_wandb_run() -> None:
    """Close the W&B run so its offline files are complete (a no-op when none is open).

    ``wandb.finish`` returns before W&B's service process has flushed the run's ``.wandb`` log;
    ``wandb.teardown`` waits for it, so a run is complete on disk when a command returns.
    """
    import wandb

    if wandb.run is not None:
        wandb.finish()
        wandb.teardown()
