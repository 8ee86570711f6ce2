"""``python -m lit_draw {fit,validate,test,predict}``: LightningCLI with lit_draw's defaults.

Defaults a researcher gets without writing them in YAML:

* a W&B logger, **offline** unless ``WANDB_MODE=online`` (or ``--trainer.logger.init_args.offline=false``);
  offline runs land under ``./wandb/`` and are uploaded later with ``wandb sync``;
* one folder per fit, ``<trainer.default_root_dir>/<W&B run id>/checkpoints``, holding the best
  checkpoint on ``val/acc``, ``last.ckpt`` and the run's resolved ``config.yaml``;
  ``<trainer.default_root_dir>/checkpoints`` links to the newest fit's folder and
  ``--ckpt_path last`` names its ``last.ckpt`` (see :mod:`lit_draw.cli.resume`);
* the resolved config logged as the W&B run config;
* ``validate`` / ``test`` / ``predict`` need ``--ckpt_path`` (or ``--untrained`` to score the
  untrained model on purpose), and refuse a checkpoint whose model settings differ from the config's;
* ``predict`` writes the per-glimpse probabilities to a file (see :mod:`lit_draw.cli.predictions`);
* ``fit --init_from <checkpoint>`` trains on from a checkpoint's weights with a fresh optimiser
  (a shipped, weights-only checkpoint cannot be resumed).

Added by the CLI outside the config (they are not in ``--print_config``, so they are listed here and
in ``--help``): the callbacks :class:`~lit_draw.cli.resume.RunFolder`,
:class:`~lit_draw.cli.resume.KeepWandbRunId` and :class:`~lit_draw.cli.resume.CheckpointOnSignal` (every
command), a ``LearningRateMonitor`` with an ``lr_scheduler``, ``PredictionFile`` for ``predict``,
the plugin :class:`~lit_draw.cli.resume.AtomicCheckpointIO` (unless ``trainer.plugins`` names a
checkpoint IO), and beside a W&B logger the CSV logger :class:`~lit_draw.cli.metrics_csv.WandbRunCSV`
(every scalar again in ``<W&B run folder>/csv/metrics.csv``). The W&B logger gets
``mode="offline"`` when it is offline, and a resumed fit's
W&B run id as ``id``: both through its public arguments, not written into the saved config.

Ordinary mistakes (a missing or unreadable config or checkpoint, a bad value) raise
:class:`~lit_draw.errors.ConfigError`, which ``python -m lit_draw`` prints in one line.
"""

from __future__ import annotations

import contextlib
import io
import os
import re
import sys
import warnings
from collections.abc import Mapping
from itertools import pairwise
from pathlib import Path
from typing import Any, get_args

import yaml
from jsonargparse import ArgumentError, lazy_instance
from lightning.fabric.plugins.environments import SLURMEnvironment
from lightning.fabric.plugins.io import CheckpointIO
from lightning.pytorch import LightningModule, Trainer
from lightning.pytorch.callbacks import LearningRateMonitor
from lightning.pytorch.cli import LightningArgumentParser, LightningCLI, SaveConfigCallback
from lightning.pytorch.loggers import Logger, WandbLogger
from lightning.pytorch.utilities import rank_zero_info
from lightning.pytorch.utilities.exceptions import MisconfigurationException

from lit_draw.cli import init_from, progress, quiet, resume
from lit_draw.cli.checks import check_config_files, check_trainer_values, model_mismatch, unclippable, unwritable
from lit_draw.cli.metrics_csv import WandbRunCSV
from lit_draw.cli.names import EVALUATING, LIGHTNING_COMMANDS, Command, check_command
from lit_draw.cli.predictions import PredictionFile
from lit_draw.data import CanvasMNIST
from lit_draw.errors import ConfigError, ProcessLost
from lit_draw.module import AttentionClassifier

__all__ = ["ConfigError", "LitDrawCLI", "check_args", "main", "resolved_config"]

#: The largest seed numpy accepts (``seed_everything``).
MAX_SEED = 2**32 - 1


class LogConfigToRun(SaveConfigCallback):
    """Stores the resolved config with the run: as the W&B run config and, for ``fit``, as
    ``config.yaml`` beside the run's checkpoints (evaluations never touch a run's folder).

    ``config.yaml`` holds the run's setup, never the checkpoint it resumed from (``ckpt_path: null``):
    ``fit --config <it>`` starts the run again, and ``test --config <it>`` still needs ``--ckpt_path``.
    """

    def save_config(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        config = self.config.as_dict()
        if isinstance(trainer.logger, Logger):
            trainer.logger.log_hyperparams({k: v for k, v in config.items() if k != "config"})
        callback = trainer.checkpoint_callback
        if stage == "fit" and callback is not None and callback.dirpath is not None:
            directory = Path(callback.dirpath)
            directory.mkdir(parents=True, exist_ok=True)
            setup = self.config.clone()
            setup["ckpt_path"] = None
            self.parser.save(  # one self-contained file: no sub-config files written beside it
                setup, directory / self.config_filename, skip_none=False, overwrite=True, multifile=False
            )


class LitDrawCLI(LightningCLI):
    """LightningCLI over :class:`AttentionClassifier` and :class:`CanvasMNIST`.

    Checkpointing is its own config group (``checkpoint:``), always on, so that listing analysis
    callbacks under ``trainer.callbacks`` never drops it. Each fit writes into its own folder;
    checkpoints are written atomically, carry the W&B run id, and are saved on SIGTERM / SIGUSR1
    (see :mod:`lit_draw.cli.resume`); ``fit`` from a checkpoint continues its W&B run and its folder.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        with quiet.known_noise():  # the libraries' messages a user can do nothing about (lit_draw.cli.quiet)
            super().__init__(*args, **kwargs)

    def add_arguments_to_parser(self, parser: LightningArgumentParser) -> None:
        # what must agree is stated once, in the data: the net is built for the data's canvases
        parser.link_arguments("data.canvas_size", "model.net.init_args.canvas_size")
        parser.link_arguments("data.num_classes", "model.net.init_args.num_classes", apply_on="instantiate")
        clip = parser._option_string_actions.get("--trainer.gradient_clip_val")
        if clip is not None:  # refused below 0 (lit_draw.cli.checks.check_trainer_values)
            clip.help = (
                "The value at which to clip gradients, >= 0; 0 or null: no clipping (a negative value is refused)."
            )
        _int_before_float(parser, [f"--trainer.limit_{split}_batches" for split in ("train", "val", "test", "predict")])
        parser.add_lightning_class_args(resume.NewestLast, "checkpoint")
        parser.set_defaults(
            {
                "checkpoint.monitor": "val/acc",
                "checkpoint.mode": "max",
                "checkpoint.save_last": True,
                "checkpoint.filename": "best-{epoch}-{step}",
                "checkpoint.auto_insert_metric_name": False,
                # each fit has its own folder (lit_draw.cli.resume.RunFolder): last.ckpt is overwritten, never last-v1.ckpt
                "checkpoint.enable_version_counter": False,
            }
        )
        parser.add_argument(
            "--untrained",
            type=bool,
            nargs="?",
            const=True,
            default=False,  # --untrained, as --untrained=true
            help="validate / test / predict: score the untrained model on purpose (else --ckpt_path is required)",
        )
        parser.add_argument(
            "--init_from",
            type=str | None,
            default=None,
            help="fit: start from this checkpoint's weights with a fresh optimiser at epoch 0 "
            "(e.g. a shipped checkpoints/<row>.ckpt, which holds weights only and cannot be resumed, "
            "or a reconstruction pre-training's last.ckpt: its objective may differ, its net may not, "
            "but for a write or halting head that one of the two lacks)",
        )
        parser.add_argument(
            "--reinit",
            type=list[str] | None,
            default=None,
            help="fit, with --init_from: draw these groups of the net afresh after loading the weights "
            "(DRAW: window, encoder, bottleneck, decoder, classifier, write; jlindsey15/DRAM's "
            "start_non_restored_from_random)",
        )

    _argv: list[str] | None = None  # the command line parsed (None: not a list)
    _checkpoint: dict[str, Any] | None = None  # the --ckpt_path checkpoint, read once
    _initial: dict[str, Any] | None = None  # the --init_from checkpoint

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        """Parse, then check the request before Lightning reads the checkpoint's hyperparameters."""
        self._argv = sys.argv[1:] if args is None else list(args) if isinstance(args, (list, tuple)) else None
        with warnings.catch_warnings():  # lit_draw's own commands (reproduce, sweep, bench) pass a whole
            # command line as ``args``; LightningCLI would warn that sys.argv (theirs) is not what it parses
            warnings.filterwarnings("ignore", "LightningCLI's args parameter")
            super().parse_arguments(parser, args)
        subcommand = self.config.get("subcommand")
        if subcommand:
            self._check_request(subcommand)

    def _check_request(self, subcommand: str) -> None:
        """Check what the parser lets through but would fail later: the seed, the root folder and
        the checkpoint (see :meth:`_check_checkpoint_request`)."""
        config = self.config[subcommand]
        seed = config.get("seed_everything")
        if isinstance(seed, int) and not isinstance(seed, bool) and not 0 <= seed <= MAX_SEED:
            raise ConfigError(f"seed_everything must be an int in 0 .. {MAX_SEED} (or true: a random one), got {seed}")
        root = Path(config["trainer"]["default_root_dir"] or ".")
        if root.exists() and not root.is_dir():
            raise ConfigError(f"trainer.default_root_dir must be a folder, got {root} (a file)")
        if subcommand in ("fit", "predict"):  # fit writes its run's folder there, predict its predictions
            problem = unwritable(root)
            if problem:
                raise ConfigError(
                    f"trainer.default_root_dir must be a folder lit_draw can write, got {root} ({problem})"
                )
        check_trainer_values(config["trainer"])
        self._check_checkpoint_request(subcommand)

    def _check_checkpoint_request(self, subcommand: str) -> None:
        """Resolve ``--ckpt_path last / best / hpc`` to a file; require a checkpoint for evaluation;
        refuse one that is missing, unreadable, holds another model than the config asks for (see
        :func:`model_mismatch`) or, for ``fit``, holds weights only. Reads it once, here."""
        config = self.config[subcommand]
        ckpt_path, untrained = config.get("ckpt_path"), config.get("untrained")
        asked = ckpt_path  # as given: last / best / hpc are resolved to a file below
        root = config["trainer"]["default_root_dir"] or "."
        if untrained and subcommand == "fit":
            raise ConfigError(
                "--untrained is for validate, test and predict (fit starts from untrained weights anyway)"
            )
        given = self._argv is None or any(arg == "--ckpt_path" or arg.startswith("--ckpt_path=") for arg in self._argv)
        if ckpt_path is not None and not given:  # a run's config.yaml from before it left ckpt_path out
            files = [v for f, v in pairwise(self._argv) if f in ("--config", "-c")]
            files += [a.split("=", 1)[1] for a in self._argv if a.startswith("--config=")]
            files = [f for f in files if _names_ckpt_path(f, subcommand)] or files
            raise ConfigError(
                f"ckpt_path must come from the command line, got {ckpt_path!r} from --config {', '.join(files) or '?'}: "
                f"a config gives a run's setup, not the checkpoint to {'resume' if subcommand == 'fit' else 'evaluate'} "
                f"(give --ckpt_path {ckpt_path} to mean it, or --ckpt_path=null to leave it out)"
            )
        if config.get("init_from") is not None:
            if subcommand != "fit":
                typed = self._argv is None or any(
                    a == "--init_from" or a.startswith("--init_from=") for a in self._argv
                )
                hint = (
                    ""
                    if typed
                    else " (a config.yaml of a fit started --init_from names its start: add --init_from=null)"
                )
                raise ConfigError(
                    f"--init_from is for fit; {subcommand} evaluates a checkpoint given as --ckpt_path{hint}"
                )
            if ckpt_path is not None:
                raise ConfigError(
                    "--init_from and --ckpt_path exclude each other (--ckpt_path resumes a run, --init_from starts a new one)"
                )
            self._initial = self._read_model_checkpoint(config["init_from"], config, "--init_from", net_only=True)
        elif config.get("reinit"):
            raise ConfigError(
                "--reinit re-initialises groups after --init_from loads a checkpoint; give --init_from too"
            )
        if ckpt_path == "registry" or str(ckpt_path).startswith("registry:"):
            raise ConfigError(
                f"--ckpt_path must be a checkpoint file, or last, best or hpc (lit_draw does not use Lightning's "
                f"online model registry), got {ckpt_path!r}"
            )
        if ckpt_path in ("last", "best", "hpc"):
            found = {"last": resume.resolve_last, "best": resume.resolve_best, "hpc": resume.hpc_checkpoint}[ckpt_path](
                root
            )
            if found is None:
                wanted = {"last": "last.ckpt", "best": "best checkpoint", "hpc": "hpc_ckpt_<n>.ckpt"}[ckpt_path]
                where = Path(root) / "*" / "checkpoints" if ckpt_path != "hpc" else Path(root)
                new_run = "; leave out --ckpt_path to start a new run" if subcommand == "fit" else ""
                raise ConfigError(f"{subcommand} --ckpt_path {ckpt_path}: no {wanted} saved under {where}{new_run}")
            ckpt_path = config["ckpt_path"] = str(found)
        if ckpt_path is None and subcommand == "fit" and SLURMEnvironment.detect():
            requeued = resume.hpc_checkpoint(root)  # Lightning resumes it without --ckpt_path
            if requeued is not None:
                self._checkpoint = resume.read_checkpoint(requeued)
            return
        if ckpt_path is None:
            if subcommand in EVALUATING and not untrained:
                raise ConfigError(
                    f"{subcommand} needs --ckpt_path (a checkpoint, or last: the newest under {root}); "
                    "--untrained scores the untrained model on purpose"
                )
            return
        if untrained:
            raise ConfigError(f"--untrained and --ckpt_path {ckpt_path} exclude each other")
        self._checkpoint = self._read_model_checkpoint(ckpt_path, config, "--ckpt_path")
        if subcommand == "fit" and resume.is_stripped(self._checkpoint):
            raise ConfigError(
                f"--ckpt_path {ckpt_path} holds weights only (no optimiser or loop state), so fit cannot resume it; "
                f"--init_from {ckpt_path} trains on from its weights with a fresh optimiser"
            )
        if subcommand == "fit":
            folder = Path(ckpt_path).resolve().parent
            first = all(os.environ.get(key, "0") == "0" for key in ("RANK", "LOCAL_RANK", "NODE_RANK", "SLURM_PROCID"))
            # rank 0 locks the run; its other ranks train the same run
            holder = resume.run_holder(folder) if first and folder.name == resume.CHECKPOINTS else None
            if holder is not None:  # refused before anything is made (a W&B run, a log)
                raise ConfigError(f"fit --ckpt_path {asked}: {resume.busy_message(folder, holder)}")
            newer = resume.newer_last(ckpt_path, self._checkpoint)
            if newer is not None:
                raise ConfigError(
                    f"fit --ckpt_path {asked}: {ckpt_path} holds step {self._checkpoint.get('global_step')} but its run's "
                    f"{newer} holds step {resume.read_checkpoint(newer).get('global_step')}, which resuming would overwrite "
                    f"with the older state; --ckpt_path {newer} resumes the newest, --init_from {ckpt_path} starts a new run "
                    "from these weights"
                )

    @staticmethod
    def _read_model_checkpoint(path: str, config: Any, flag: str, net_only: bool = False) -> dict[str, Any]:
        """The checkpoint at ``path``, refused (naming ``flag``) when its model (``net_only``: its
        net) is not the config's."""
        checkpoint = resume.read_checkpoint(path, flag)
        problem = model_mismatch(checkpoint.get("hyper_parameters") or {}, config["model"], net_only)
        if problem:
            raise ConfigError(f"{flag} {path}: {problem}")
        return checkpoint

    def instantiate_classes(self) -> None:
        """Build model, data and trainer; a bad value in the config becomes a :class:`ConfigError`.

        The W&B logger is built with ``mode="offline"`` when offline (W&B ignores the ``WANDB_MODE``
        Lightning sets once it was set up in this process) and, for a resumed fit, the checkpoint's
        run id as ``id``; the saved config keeps the values as given.
        """
        logger = self._wandb_logger_args()
        given = {key: logger.get(key) for key in ("mode", "id")} if logger is not None else {}
        try:
            if logger is not None:
                if logger.get("offline") and logger.get("mode") is None:
                    logger["mode"] = "offline"
                run_id = (self._checkpoint or {}).get(resume.WANDB_RUN_ID_KEY)
                if (
                    self.subcommand == "fit"
                    and run_id is not None
                    and logger.get("id") is None
                    and logger.get("version") is None
                ):
                    logger["id"] = run_id
            with warnings.catch_warnings():
                # the module's own Adam is the default for Python use; the config's optimizer replaces it
                warnings.filterwarnings("ignore", ".*configure_optimizers` will be overridden")
                super().instantiate_classes()
        except (ValueError, MisconfigurationException) as error:
            raise ConfigError(" ".join(str(error).split())) from error
        finally:
            for key, value in given.items():
                logger[key] = value

    def _wandb_logger_args(self) -> Any:
        """The ``init_args`` of the config's W&B logger (a jsonargparse Namespace), ``None`` without one."""
        config = self.config[self.subcommand] if self.subcommand else self.config
        logger = config["trainer"].get("logger")
        loggers = logger if isinstance(logger, list) else [logger]
        for entry in loggers:
            if getattr(entry, "class_path", None) == "lightning.pytorch.loggers.WandbLogger":
                return entry.init_args
        return None

    def instantiate_trainer(self, **kwargs: Any) -> Trainer:
        config = self.config[self.subcommand] if self.subcommand else self.config
        plugins = (
            (self.config_init[self.subcommand] if self.subcommand else self.config_init)
            .get("trainer", {})
            .get("plugins")
        )
        plugins = [] if plugins is None else list(plugins) if isinstance(plugins, list) else [plugins]
        if not any(isinstance(p, CheckpointIO) for p in plugins):
            plugins.append(resume.AtomicCheckpointIO())
        # the config's callbacks, before Lightning adds its own to the same list
        configured = (self.config_init[self.subcommand] if self.subcommand else self.config_init).get(
            "trainer", {}
        ).get("callbacks") or []
        configured = list(configured) if isinstance(configured, list) else [configured]
        trainer = super().instantiate_trainer(**kwargs, plugins=plugins)
        # first: it picks the run's folder before config.yaml and checkpoints are written into it
        resumed = config.get("ckpt_path") if self.subcommand == "fit" else None
        trainer.callbacks.insert(0, resume.RunFolder(resume_from=resumed))
        trainer.callbacks += [resume.KeepWandbRunId(), resume.CheckpointOnSignal()]
        # every scalar a second time, as CSV in the W&B run's folder (lit_draw.cli.metrics_csv)
        trainer.loggers += [WandbRunCSV(logger) for logger in trainer.loggers if isinstance(logger, WandbLogger)]
        if config.get("lr_scheduler") and trainer.loggers:
            trainer.callbacks.append(LearningRateMonitor(logging_interval="epoch"))
        if self.subcommand == "predict":
            trainer.callbacks.append(PredictionFile(Path(trainer.default_root_dir) / "predictions"))
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                quiet.drop_unset_wandb_arguments(logger)
        # a line every log_every_n_steps when stdout is not a terminal; the run's name as v_num
        progress.use_readable_progress(trainer, configured)
        return trainer

    def _run_subcommand(self, subcommand: str) -> None:
        """Run the subcommand; what Lightning finds wrong with the request only once the data is
        known (an int ``val_check_interval`` longer than an epoch) becomes a :class:`ConfigError`, and
        another DDP process's death a :class:`~lit_draw.errors.ProcessLost` naming it."""
        try:
            super()._run_subcommand(subcommand)
            block = progress.run_end_block(self.trainer) if self.trainer.is_global_zero else None
            if block is not None:
                _finish_wandb_run()  # W&B's closing lines first, so that the run ends with where its files went
                print(block, flush=True)
        except RuntimeError as error:
            lost = _lost_rank_message(self.trainer, subcommand, error)
            if lost is None:
                raise
            raise ProcessLost(lost) from error
        except ValueError as error:
            found = re.search(
                r"`val_check_interval` \((\d+)\) must be less than or equal to the number of the training "
                r"batches \((\d+)\)",
                str(error),
            )
            if found is None:
                raise
            interval, batches = found.groups()
            resume.undo_new_run(self.trainer)  # found after the new run's folder and W&B run were made
            raise ConfigError(
                f"trainer.val_check_interval must be at most the training batches of an epoch ({batches}), or a float "
                f"<= 1.0 (a fraction of an epoch), or come with trainer.check_val_every_n_epoch=null (every that many "
                f"batches across epochs), got {interval}"
            ) from error

    def before_fit(self) -> None:
        """Refuse what would fail or mislead later: a resume that asks for other optimiser
        settings, or clipping that the precision and optimiser cannot do; before the run's folder is
        touched."""
        optimizers = self.model.built_optimizers()  # the CLI's optimizer
        problem = unclippable(self.trainer.precision_plugin, self.trainer.gradient_clip_val, optimizers)
        problem = problem or self.model.clipping_problem(
            self.trainer.gradient_clip_val, self.trainer.gradient_clip_algorithm
        )
        if problem:
            raise ConfigError(problem)
        if self._checkpoint is not None:
            ckpt_path = self.config["fit"]["ckpt_path"] or resume.hpc_checkpoint(self.trainer.default_root_dir)
            problem = resume.changed_optimizer(optimizers, self._checkpoint, ckpt_path)
            self._checkpoint = None  # read: Lightning loads it again to resume
            if problem:
                raise ConfigError(problem)
        if self._initial is not None:
            start, reinit = self.config["fit"]["init_from"], self.config["fit"].get("reinit") or []
            problem = init_from.load_initial_weights(self.model, self._initial["state_dict"])
            self._initial = None
            if problem:
                raise ConfigError(f"--init_from {start}: {problem}")
            if reinit:
                try:
                    init_from.reinitialize(self.model.net, reinit)
                except ValueError as error:
                    raise ConfigError(f"--reinit: {error}") from error
            rank_zero_info(
                f"lit_draw: starting from the weights of {start} with a fresh optimiser at epoch 0 (a new run, "
                f"not a resume){'; drawn afresh: ' + ', '.join(reinit) if reinit else ''}"
            )


#: What a collective says when the process at the other end is gone (gloo; NCCL says its name).
_PEER_GONE = ("Connection closed by peer", "Connection reset by peer", "Broken pipe", "NCCL", "gloo")


def _lost_rank_message(trainer: Trainer, subcommand: str, error: RuntimeError) -> str | None:
    """The one line for a multi-process run whose other process stopped (``error``: what this rank's
    collective raised), or ``None`` when ``error`` is not that. Rank 0 of processes Lightning started
    names the rank that stopped and its exit status, and stops Lightning's watcher from killing this
    process before the line is printed (it stops the other ranks here instead)."""
    import threading
    import time

    import torch.distributed as dist

    if trainer.world_size <= 1 or not (
        isinstance(error, getattr(dist, "DistError", ())) or any(marker in str(error) for marker in _PEER_GONE)
    ):
        return None
    procs = list(getattr(trainer.strategy.launcher, "procs", None) or [])
    stopped: list[str] = []
    deadline = time.monotonic() + 2.0
    while procs and not stopped and time.monotonic() < deadline:
        stopped = [
            f"{rank} (exit status {p.returncode})" for rank, p in enumerate(procs, 1) if p.poll() not in (None, 0)
        ]
        time.sleep(0.1)
    for thread in threading.enumerate():  # Lightning's watcher would SIGKILL this process within 5 s
        if thread.name == "child-process-observer":
            thread._run = lambda: True  # type: ignore[attr-defined]
    for process in procs:
        if process.poll() is None:
            process.kill()
    who = f"rank {', '.join(stopped)} stopped" if stopped else "another rank stopped (its connection closed)"
    again = (
        "--ckpt_path last resumes the run from its last checkpoint"
        if subcommand == "fit"
        else f"run {subcommand} again"
    )
    return f"{subcommand}: {who}, so rank {trainer.global_rank} of {trainer.world_size} cannot go on; {again}"


def _int_before_float(parser: LightningArgumentParser, options: list[str]) -> None:
    """Read an int given to these options as an int: Lightning types them ``float | int`` (a fraction,
    or a number of batches), and jsonargparse tries a union's types in order, so ``1`` became ``1.0``
    (all batches) where it meant one batch. Sets the options' type (jsonargparse's ``_typehint``) to
    ``int | float | None``, the order they are tried in (a ``|`` union: ``typing`` caches its unions
    by equality, which ignores order, so ``Optional[Union[int, float]]`` can return Lightning's own)."""
    for option in options:
        action = parser._option_string_actions.get(option)
        if action is not None and set(get_args(getattr(action, "_typehint", None))) == {float, int, type(None)}:
            action._typehint = int | float | None


def _names_ckpt_path(path: str, subcommand: str) -> bool:
    """Whether the config file at ``path`` sets ``ckpt_path`` (at its top, or under ``subcommand:``)."""
    try:
        content = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError):
        return False
    inner = content.get(subcommand) if isinstance(content, dict) else None
    return isinstance(content, dict) and (
        content.get("ckpt_path") is not None or isinstance(inner, dict) and inner.get("ckpt_path") is not None
    )


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


#: ``python -m lit_draw --help``'s description; :func:`main` adds the further commands it was given.
_DESCRIPTION = (
    "Train and evaluate lit_draw's attention classifiers (fit / validate / test / predict, with "
    "--config configs/<experiment>.yaml).{commands} Added outside the config (not in --print_config): the "
    "callbacks lit_draw.cli.resume.RunFolder, KeepWandbRunId and CheckpointOnSignal, a LearningRateMonitor with an "
    "lr_scheduler, PredictionFile for predict, and the plugin lit_draw.cli.resume.AtomicCheckpointIO unless "
    "trainer.plugins names a checkpoint IO."
)


def _description(commands: Mapping[str, Command]) -> str:
    """:data:`_DESCRIPTION` naming ``commands`` with their summaries."""
    further = ", ".join(f"{name} ({command.summary})" for name, command in commands.items())
    return _DESCRIPTION.format(commands=f" Further commands, each with its own --help: {further}." if further else "")


def main(args: list[str] | None = None, commands: Mapping[str, Command] | None = None) -> Any:
    """Run one command, ``args`` as on the command line (``None`` reads ``sys.argv``).

    ``fit``, ``validate``, ``test`` and ``predict`` go to LightningCLI (and return it). ``commands``
    are the further commands the calling program registers beside them (name -> :class:`Command`;
    :mod:`lit_draw.__main__` registers the experiment tools and the viewer): one named first runs
    its ``main`` on the arguments after its name, and ``--help`` lists them.
    """
    argv = sys.argv[1:] if args is None else list(args)
    commands = dict(commands or {})
    if argv and argv[0] in commands:
        return commands[argv[0]].load()(argv[1:])
    check_command(argv, commands)
    check_config_files(argv)
    try:
        return LitDrawCLI(
            AttentionClassifier,
            CanvasMNIST,
            trainer_defaults=trainer_defaults(),
            save_config_callback=LogConfigToRun,
            save_config_kwargs={"save_to_log_dir": False},
            parser_kwargs={"prog": "python -m lit_draw", "description": _description(commands), "exit_on_error": False},
            args=args,
        )
    except ArgumentError as error:  # the one line that matters, not the usage of every option before it
        command = next((arg for arg in argv if arg in LIGHTNING_COMMANDS), "")
        message = " ".join(str(error).split())
        raise ConfigError(
            f"{message} (python -m lit_draw {command} --help lists every option)".replace("  ", " ")
        ) from None
    finally:
        resume.release_runs()
        _finish_wandb_run()
        resume.remove_undone()


class _Parsed(Exception):
    """Raised by :class:`_ParseOnly` once the arguments are parsed; ``config`` is the subcommand's
    resolved config (what ``fit`` writes to ``config.yaml``)."""

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.config = config


class _ParseOnly(LitDrawCLI):
    """The CLI's parser and checks, building nothing (see :func:`check_args`).

    Parsing seeds nothing, so the caller's random state is left as it was: the parsed config's
    ``seed_everything`` is set to ``false`` (LightningCLI then seeds nothing) until
    ``before_instantiate_classes``, which puts it back and stops. Public hooks only.
    """

    _seed: Any = None  # the parsed seed_everything, held while LightningCLI would seed with it

    def parse_arguments(self, parser: LightningArgumentParser, args: Any) -> None:
        super().parse_arguments(parser, args)
        subcommand = self.config.get("subcommand")
        config = self.config[subcommand] if subcommand else self.config
        self._seed, config["seed_everything"] = config.get("seed_everything"), False

    def before_instantiate_classes(self) -> None:
        self.config[self.subcommand]["seed_everything"] = self._seed
        raise _Parsed(yaml.safe_load(self.parser.dump(self.config, skip_none=False))[self.subcommand])


def resolved_config(args: list[str]) -> dict[str, Any]:
    """The resolved config of a command line (``["fit", "--config", ..., "--model.weighting=last"]``)
    as ``main`` would run it, in the form ``fit`` saves as ``config.yaml``; nothing is built or run.

    Raises:
        ConfigError: the parser's complaint (an unknown key, a bad value), in one line.
    """
    check_config_files(args)
    stderr = io.StringIO()
    try:
        with contextlib.redirect_stderr(stderr):
            _ParseOnly(
                AttentionClassifier,
                CanvasMNIST,
                trainer_defaults=trainer_defaults(),
                save_config_callback=None,
                parser_kwargs={"prog": "python -m lit_draw"},
                args=args,
            )
    except _Parsed as parsed:
        return parsed.config
    except SystemExit as error:
        message = stderr.getvalue()
        message = message[message.find("error:") + 6 :] if "error:" in message else f"exit status {error.code}"
        raise ConfigError(" ".join(message.split())) from error
    raise AssertionError("the parser returned without reaching before_instantiate_classes")


def check_args(args: list[str]) -> None:
    """Check a command line as ``main`` would, without building or running anything (see
    :func:`resolved_config`).

    Raises:
        ConfigError: the parser's complaint (an unknown key, a bad value), in one line.
    """
    resolved_config(args)


def _finish_wandb_run() -> None:
    """Close the W&B run so its offline files are complete (a no-op when none is open).

    ``wandb.finish`` returns before W&B's service process has flushed the run's ``.wandb`` log;
    ``wandb.teardown`` waits for it, so a run is complete on disk when a command returns.
    """
    import wandb

    if wandb.run is not None:
        wandb.finish()
        wandb.teardown()
