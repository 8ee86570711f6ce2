"""Checkpoints that are what they claim: one folder per run, atomic saves, a checkpoint on SIGTERM / SIGUSR1.

* **One folder per run.** Every ``fit`` writes into ``<default_root_dir>/<run>/checkpoints/``
  (``<run>``: the W&B run id, else a timestamp), with the run's ``config.yaml`` beside its
  checkpoints; :class:`RunFolder` picks it. ``<default_root_dir>/checkpoints`` is a link to the
  newest fit that has saved a checkpoint (it moves at a fit's first save, so a fit that dies during
  start-up leaves it where it was), and ``--ckpt_path last`` (:func:`resolve_last`) names the newest
  ``last.ckpt`` saved under ``<default_root_dir>``, whatever the link says. A resumed fit writes
  on into the folder of the checkpoint it resumes from (the CLI tells :class:`RunFolder` which),
  and ``last.ckpt`` is overwritten, never versioned to ``last-v1.ckpt``.
* **One process per run.** The process training a run names itself in its checkpoint folder's
  ``.lock`` (:func:`lock_run`); a second ``fit --ckpt_path last`` into that run is refused while the
  first lives (two such fits both trained the same epoch into one folder, overwriting each other's
  checkpoints and sharing one log). A lock left by a killed process is taken over.
* :class:`NewestLast` is the CLI's checkpoint callback: ``ModelCheckpoint`` whose ``last.ckpt`` is
  rewritten at every validation and at the end of every training epoch and of the fit, whatever
  the monitored metric did (Lightning's own rewrites it only when a top-k checkpoint was saved at
  that step, so a run on a plateau kept an old ``last.ckpt`` and a resume lost the steps since).
* :class:`AtomicCheckpointIO` writes every checkpoint to a temporary file *beside* it and renames
  it into place. Lightning's own save is atomic only when the system temp folder and the
  checkpoint folder share a filesystem (fsspec writes to ``tempfile.mkstemp()``, then
  ``shutil.move``, which copies across filesystems); on a cluster ``/tmp`` is rarely where
  checkpoints go, and a kill mid-copy would leave a truncated ``last.ckpt``.
* :class:`CheckpointOnSignal` saves ``last.ckpt`` when a fit stops on SIGTERM (Lightning finishes
  the current batch, then raises ``SIGTERMException``) and treats SIGUSR1 and a first SIGINT
  (Ctrl-C; a second one stops at once, without saving) as SIGTERM; the process then exits with
  ``128 + signal number`` (143 for SIGTERM, 138 for SIGUSR1, 130 for SIGINT), the status a shell
  reports for a process stopped by that signal, so ``fit && test`` does not go on. Under SLURM,
  SIGUSR1 is left to Lightning's own handler, which saves ``hpc_ckpt_<n>.ckpt`` and requeues the
  job; SLURM then stops the job with SIGTERM (exit 143), and the requeued job resumes from the
  ``hpc`` checkpoint without ``--ckpt_path``.
* :class:`KeepWandbRunId` stores the W&B run id in every checkpoint; the CLI passes it back to
  the W&B logger (its ``id`` argument) when ``fit`` resumes, so the resumed run logs to the same W&B run.
* :func:`changed_optimizer`: a resumed fit restores the optimiser's state, settings included, so a
  learning rate (or any other optimiser setting) the config changed would be recorded but not
  used; the CLI stops such a fit with the reason before it starts.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import shutil
import signal
import socket
import time
import warnings
import zipfile
from collections.abc import Callable
from functools import wraps
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import torch
from lightning.fabric.plugins.environments import SLURMEnvironment
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import WandbLogger
from lightning.pytorch.plugins.io import TorchCheckpointIO
from lightning.pytorch.utilities import rank_zero_info
from lightning.pytorch.utilities.exceptions import SIGTERMException

from lit_draw.errors import ConfigError

#: Checkpoint key holding the W&B run id of the run that wrote it.
WANDB_RUN_ID_KEY = "wandb_run_id"
#: The folder, inside ``default_root_dir`` and inside each run's folder, that holds checkpoints.
CHECKPOINTS = "checkpoints"
LAST = "last.ckpt"


class AtomicCheckpointIO(TorchCheckpointIO):
    """``TorchCheckpointIO`` that never leaves a half-written checkpoint behind (a temporary file
    beside the checkpoint, renamed into place: atomic on every filesystem, see the module docstring)."""

    def save_checkpoint(self, checkpoint: dict[str, Any], path: str | Path, storage_options: Any | None = None) -> None:
        path = Path(path)
        partial = path.with_name(f".{path.name}.partial")
        try:
            super().save_checkpoint(checkpoint, partial, storage_options)
            os.replace(partial, path)
        finally:
            partial.unlink(missing_ok=True)


_Hook = TypeVar("_Hook", bound=Callable[..., Any])


def _own_saves(hook: _Hook) -> _Hook:
    """Mark a :class:`NewestLast` method as its own: a checkpoint the trainer saves while it runs is
    the callback's (its top-k or ``last.ckpt``), seen by :meth:`NewestLast.on_save_checkpoint`."""

    @wraps(hook)
    def marked(self: NewestLast, *args: Any, **kwargs: Any) -> Any:
        outer, self._saving = self._saving, True
        try:
            return hook(self, *args, **kwargs)
        finally:
            self._saving = outer

    return marked  # type: ignore[return-value]


class NewestLast(ModelCheckpoint):
    """``ModelCheckpoint`` whose ``last.ckpt`` always holds the newest state (with ``save_last``).

    Lightning saves ``last.ckpt`` only at a step where it also saved a top-k checkpoint. Here it is
    saved after every validation and every training epoch, and once more when the fit ends (at
    ``max_steps`` / ``max_time`` between two validations), unless it already holds that state.

    A fit stopped inside an epoch (``max_time``, or a callback's ``trainer.should_stop``) saves
    ``last.ckpt`` there, before the epoch's end hooks: saved at the epoch's end, the checkpoint says
    the epoch is over and a resume starts the next one, skipping the rest of this one (Lightning's
    own ``save_last`` does that: each ``reproduce --max-time`` part lost up to an epoch of its budget).
    Lightning validates once more on such a stop; ``last.ckpt`` saved after that validation keeps the
    loops' state of the stop's batch end, which a resume continues from exactly (with the state after
    the validation, a resume would log every later step one step early).

    Also: the ``<default_root_dir>/checkpoints`` link (``latest_link``, set by :class:`RunFolder`)
    moves to this fit's folder at its first save; the monitored key is checked against what the
    model logs at the sanity check, before training; Lightning's warnings about a non-empty folder
    (a new fit's holds only its ``config.yaml``) and a changed ``dirpath`` (an evaluation has no
    folder) are left out where they are not true.

    A save is seen through Lightning's public ``on_save_checkpoint`` hook, counted as this callback's
    when it comes inside one of its own hooks (:func:`_own_saves`): a SLURM ``hpc_ckpt`` saved from a
    signal handler is not ``last.ckpt``. With ``save_weights_only`` Lightning calls no callback at a
    save, so ``last.ckpt`` may be written twice at one step and the link moves at the fit's end.
    """

    _newest_last = (-1, -1)  # the (global step, validations run) last.ckpt holds ((-1, -1): none written by this fit)
    _validations = 0  # validations run by this fit (not counting the sanity check)
    _loops_at_stop: dict[str, Any] | None = None  # the loops' state saved at a mid-epoch stop's batch end
    latest_link: Path | None = None  # the root whose ``checkpoints`` link moves here at the first save
    _stage: str | None = None
    _saving = False  # inside this callback's own hooks, where a save is this callback's (top-k or last.ckpt)

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        self._stage = stage
        with warnings.catch_warnings():
            folder = Path(self.dirpath) if self.dirpath else None
            if folder is None or not any(folder.glob("*.ckpt")) or _resumes_from(trainer, folder):
                warnings.filterwarnings("ignore", "Checkpoint directory .* exists and is not empty")
            super().setup(trainer, pl_module, stage)

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        if self._stage not in (None, "fit"):  # validate / test / predict keep no checkpoints
            self.best_model_path = state_dict.get("best_model_path", self.best_model_path)
            return
        super().load_state_dict(state_dict)

    @_own_saves
    def save_newest_last(self, trainer: Trainer) -> None:
        """Save ``last.ckpt`` unless it holds this state already (or nothing may be saved now)."""
        if (
            not self.save_last
            or trainer.fast_dev_run
            or trainer.sanity_checking
            or trainer.state.fn != "fit"
            or trainer.global_step == 0
            or self._newest_last == (trainer.global_step, self._validations)
        ):
            return
        # ModelCheckpoint's own "save last.ckpt now" (no public equivalent: lit_draw.private_uses)
        self._save_last_checkpoint(trainer, self._monitor_candidates(trainer))

    @_own_saves
    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, *args: Any) -> None:
        super().on_train_batch_end(trainer, pl_module, *args)
        if _stops_mid_epoch(trainer):  # saved again after the validation Lightning runs on a stop, if it does
            self.save_newest_last(trainer)

    def on_save_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
        if self._saving:  # a save of this callback's: Lightning saves last.ckpt after every top-k save of a hook
            self._newest_last = (trainer.global_step, self._validations)
            self._point_latest(trainer)
        if not _stops_mid_epoch(trainer):
            return
        if trainer.training:  # the stop's batch end (see the class docstring)
            self._loops_at_stop = checkpoint["loops"]
        elif self._loops_at_stop is not None:  # the validation Lightning runs on a stop
            checkpoint["loops"] = self._loops_at_stop

    def _point_latest(self, trainer: Trainer) -> None:
        """Move the ``checkpoints`` link to this fit's folder, once (at its first save)."""
        if self.latest_link is not None and trainer.is_global_zero and self.dirpath is not None:
            point_latest(self.latest_link, Path(self.dirpath))
            self.latest_link = None

    @_own_saves
    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if trainer.sanity_checking:
            self._check_monitor(trainer)
        else:
            self._validations += 1
        super().on_validation_end(trainer, pl_module)
        if not self._should_save_on_train_epoch_end(trainer) or _stops_mid_epoch(trainer):
            self.save_newest_last(trainer)

    def _check_monitor(self, trainer: Trainer) -> None:
        """Refuse a monitored key the model does not log (Lightning raises only after the first
        epoch has trained). Keys logged in training are not known yet and are let through."""
        logged = sorted(k for k in trainer.callback_metrics if not k.startswith("train/"))
        if self.monitor is not None and not self.monitor.startswith("train/") and self.monitor not in logged:
            undo_new_run(trainer)
            raise ConfigError(
                f"checkpoint.monitor must be a key the model logs ({', '.join(logged)}), got {self.monitor!r}"
            )

    @_own_saves
    def on_train_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # a fit that ends before its first validation (max_steps within an epoch) has nothing to rank
        # on the monitored key yet: last.ckpt only, where Lightning warned that it could not find the key
        unranked = self.monitor is not None and self.monitor not in trainer.callback_metrics and self._validations == 0
        if not unranked:
            super().on_train_epoch_end(trainer, pl_module)
        self.save_newest_last(trainer)

    @_own_saves
    def on_train_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        super().on_train_end(trainer, pl_module)
        self.save_newest_last(trainer)
        if self.save_weights_only and self.dirpath is not None and any(Path(self.dirpath).glob("*.ckpt")):
            self._point_latest(trainer)  # no on_save_checkpoint came (see the class docstring)


#: Offline W&B run folders of refused fits, removed once the W&B run is closed (:func:`remove_undone`).
_undone: list[Path] = []


def undo_new_run(trainer: Trainer) -> None:
    """Remove what a new fit refused at its sanity check made: its run folder (``config.yaml``, no
    checkpoint yet) now, and its offline W&B run folder once the W&B run is closed
    (:func:`remove_undone`). A resumed run's folder is left as it is."""
    run_folder = next((c for c in trainer.callbacks if isinstance(c, RunFolder)), None)
    created = run_folder.created if run_folder is not None else None
    if created is not None and not any(created.glob("*.ckpt")):
        shutil.rmtree(created, ignore_errors=True)
        with contextlib.suppress(OSError):
            created.parent.rmdir()  # <root>/<run id>, when nothing else is in it
    for logger in trainer.loggers:
        experiment = getattr(logger, "_experiment", None) if isinstance(logger, WandbLogger) else None
        folder = Path(experiment.dir).parent if experiment is not None and getattr(experiment, "dir", None) else None
        if folder is not None and folder.name.startswith("offline-run-"):
            _undone.append(folder)


def remove_undone() -> None:
    """Remove the W&B run folders :func:`undo_new_run` named (call after the W&B run is closed)."""
    while _undone:
        folder = _undone.pop()
        shutil.rmtree(folder, ignore_errors=True)
        with contextlib.suppress(OSError):
            for link in folder.parent.glob("latest-run"):  # W&B's link to the newest run, now to nothing
                if link.is_symlink() and not link.exists():
                    link.unlink()


def _stops_mid_epoch(trainer: Trainer) -> bool:
    """Whether the fit is stopping before its epoch's last batch (``max_time``, or ``trainer.should_stop``
    set by a callback once ``min_epochs`` / ``min_steps`` allow it)."""
    loop = trainer.fit_loop  # public attributes only: what FitLoop._can_stop_early and
    # _TrainingEpochLoop._num_ready_batches_reached compute from them
    met_min_epochs = not loop.min_epochs or loop.epoch_progress.current.processed >= loop.min_epochs
    met_min_steps = not loop.min_steps or trainer.global_step >= loop.min_steps
    batches = loop.epoch_loop.batch_progress
    last_batch = batches.current.ready == trainer.num_training_batches or batches.is_last_batch
    return trainer.should_stop and met_min_epochs and met_min_steps and not last_batch


def _resumes_from(trainer: Trainer, folder: Path) -> bool:
    """Whether this fit resumes from a checkpoint in ``folder`` (:class:`RunFolder` knows)."""
    run_folder = next((c for c in trainer.callbacks if isinstance(c, RunFolder)), None)
    resumed = run_folder.resume_from if run_folder is not None else None
    return resumed is not None and resumed.parent == folder.resolve()


class KeepWandbRunId(Callback):
    """Writes the W&B run id into every checkpoint (``checkpoint["wandb_run_id"]``)."""

    def on_save_checkpoint(self, trainer: Trainer, pl_module: LightningModule, checkpoint: dict[str, Any]) -> None:
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger) and logger.version is not None:
                checkpoint[WANDB_RUN_ID_KEY] = logger.version


def resolve_last(root: str | Path) -> Path | None:
    """``--ckpt_path last``: the newest ``last.ckpt`` saved under ``root`` (``default_root_dir``), or ``None``.

    Every fit's folder is looked at (``root/<run>/checkpoints/last.ckpt``, and ``root/checkpoints``
    as an earlier lit_draw's folder), not only the one the ``checkpoints`` link names: a fit that
    died before its first save must not hide the run before it. Returned as the file itself (the
    link resolved), so that it still names the same file when a fit moves the link.
    """
    root = Path(root)
    found = {p.resolve(): p for p in [*root.glob(f"*/{CHECKPOINTS}/{LAST}"), root / CHECKPOINTS / LAST] if p.is_file()}
    if not found:
        return None
    newest = max(found, key=lambda p: p.stat().st_mtime_ns)
    return Path(os.path.relpath(newest)) if not root.is_absolute() else newest


def resolve_best(root: str | Path) -> Path | None:
    """``--ckpt_path best`` outside the fit that saved it: the best checkpoint (on the monitored
    key) of the run whose ``last.ckpt`` is newest under ``root``, or ``None``."""
    last = resolve_last(root)
    if last is None:
        return None
    states = read_checkpoint(last).get("callbacks") or {}
    paths = [
        Path(s["best_model_path"]) for k, s in states.items() if "ModelCheckpoint" in k and s.get("best_model_path")
    ]
    paths += sorted(last.parent.glob("best-*.ckpt"))
    return next((p for p in paths if p.is_file()), None)


def _run_name(trainer: Trainer) -> str:
    """The W&B run id of this fit (starting the W&B run), else the logger's string version, else a timestamp."""
    logger = trainer.logger
    if isinstance(logger, WandbLogger):
        return logger.experiment.id
    if logger is not None and isinstance(logger.version, str) and logger.version.strip("."):
        return logger.version
    return time.strftime("%Y%m%d-%H%M%S") + f"-{os.getpid()}"


def _check_latest_link(root: Path) -> None:
    """Refuse a ``root/checkpoints`` that is a folder of checkpoints rather than the link (an empty one is removed)."""
    link = root / CHECKPOINTS
    if link.is_dir() and not link.is_symlink() and not any(link.iterdir()):
        link.rmdir()  # an empty folder holds nothing to keep
    if link.exists() and not link.is_symlink():
        raise ConfigError(
            f"{link} is a folder of an earlier lit_draw (one folder for every run); move it away "
            f"(e.g. to {root / 'earlier' / CHECKPOINTS}) or resume from it with --ckpt_path {link / LAST}"
        )


def point_latest(root: Path, folder: Path) -> None:
    """Make ``root/checkpoints`` a link to ``folder`` (replaced atomically)."""
    link = root / CHECKPOINTS
    if link.resolve() == folder.resolve():
        return
    _check_latest_link(root)
    temporary = root / f".{CHECKPOINTS}.{os.getpid()}.link"
    temporary.unlink(missing_ok=True)
    temporary.symlink_to(os.path.relpath(folder, root))
    os.replace(temporary, link)


class RunFolder(Callback):
    """Gives each ``fit`` its own checkpoint folder (see the module docstring); must run before the
    config callback (which writes ``config.yaml`` into it) and the checkpoint callbacks.

    Args:
        resume_from: the checkpoint this fit resumes from (``None``: a new run). Lightning sets
            ``trainer.ckpt_path`` only after the ``setup`` hooks, so the caller says it here.
    """

    def __init__(self, resume_from: str | Path | None = None) -> None:
        self.resume_from = None if resume_from is None else Path(resume_from).resolve()
        self.created: Path | None = None  # the folder a new run made (on rank 0)

    def setup(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        if stage != "fit":
            return
        callbacks = [c for c in trainer.checkpoint_callbacks if getattr(c, "dirpath", None) is None]
        if not callbacks:
            return
        folder = None
        if trainer.is_global_zero:
            root = Path(trainer.default_root_dir)
            if root.exists() and not root.is_dir():
                raise ConfigError(f"trainer.default_root_dir must be a folder, got {root} (a file)")
            _check_latest_link(root)
            resumed = self.resume_from
            if resumed is not None and resumed.parent.name == CHECKPOINTS:
                folder = resumed.parent  # resume writes on into the run it resumes
            else:
                folder = (root / _run_name(trainer) / CHECKPOINTS).resolve()
                self.created = None if folder.exists() else folder
            folder.mkdir(parents=True, exist_ok=True)
            lock_run(folder)
            folder = str(folder)
        folder = trainer.strategy.broadcast(folder)
        for callback in callbacks:
            callback.dirpath = folder
            if isinstance(callback, NewestLast):  # the link moves at the first save, not before
                callback.latest_link = Path(trainer.default_root_dir)
        rank_zero_info(f"lit_draw: this fit's checkpoints and config.yaml go to {folder}")


#: The file in a run's checkpoint folder that names the process training the run (see :func:`lock_run`).
LOCK = ".lock"
_held: set[Path] = set()  # the locks this process holds


def _process_start(pid: int) -> str:
    """When process ``pid`` started (clock ticks since boot; ``""`` where ``/proc`` does not say),
    so that a pid used again by another process is not taken for the run's."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


def _this_process() -> str:
    return f"{os.getpid()} {socket.gethostname()} {_process_start(os.getpid())}"


def run_holder(folder: str | Path) -> str | None:
    """``"process <pid> on <host>"`` while another process than this one trains the run whose
    checkpoint folder is ``folder`` (its :data:`LOCK` names it), else ``None`` (no lock, or one left
    by a process that is gone: killed, so it could not remove it). A lock from another machine
    cannot be checked from here and counts as held."""
    try:
        pid, host, *start = (Path(folder) / LOCK).read_text().split()
        pid = int(pid)
    except (OSError, ValueError):
        return None
    if host == socket.gethostname():
        if pid == os.getpid():
            return None
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            pass  # alive, another user's
        if start and _process_start(pid) and start[0] != _process_start(pid):
            return None  # the pid is another process's now
    return f"process {pid} on {host}"


def lock_run(folder: str | Path) -> None:
    """Mark the run whose checkpoint folder is ``folder`` as trained by this process, or refuse
    while another live process does (two fits resuming one run overwrote each other's checkpoints
    and shared one log). Released by :func:`release_runs` (``python -m lit_draw`` calls it as a
    command ends, however it ends); a lock left by a killed process is taken over.

    Raises:
        ConfigError: another process holds the run.
    """
    lock = Path(folder) / LOCK
    for _ in range(2):
        try:
            descriptor = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            holder = run_holder(folder)
            if holder is not None:
                raise ConfigError(busy_message(folder, holder)) from None
            lock.unlink(missing_ok=True)  # stale: its process is gone
            continue
        with os.fdopen(descriptor, "w") as file:
            file.write(_this_process() + "\n")
        _held.add(lock)
        return
    raise ConfigError(busy_message(folder, run_holder(folder) or "another process"))


def busy_message(folder: str | Path, holder: str) -> str:
    """The refusal of a fit into the run ``holder`` trains (:func:`run_holder`)."""
    return (
        f"the run in {folder} is being trained by {holder} (its lock {Path(folder) / LOCK}); wait for it to end or "
        f"stop it, then --ckpt_path last resumes it (remove the lock only if that process is gone)"
    )


def release_runs() -> None:
    """Remove the locks this process holds (see :func:`lock_run`)."""
    for lock in list(_held):
        try:
            if lock.read_text().split()[:1] == [str(os.getpid())]:
                lock.unlink()
        except (OSError, IndexError):
            pass
        _held.discard(lock)


#: The logger of Lightning's signal handlers.
_SIGNAL_LOG = logging.getLogger("lightning.pytorch.trainer.connectors.signal_connector")


class CheckpointOnSignal(Callback):
    """Saves ``last.ckpt`` before a fit stops on SIGTERM, SIGUSR1 or a first SIGINT (Ctrl-C), and makes
    the process exit with ``128 + signal number`` (see the module docstring)."""

    def __init__(self) -> None:
        self.signum: int = signal.SIGTERM

    def filter(self, record: logging.LogRecord) -> bool:
        """Lightning's "Received SIGTERM: 15" names the signal that came (SIGINT, SIGUSR1), not the
        SIGTERM this callback turned it into."""
        if self.signum != signal.SIGTERM and "Received SIGTERM" in record.getMessage():
            name = signal.Signals(self.signum).name
            record.msg, record.args = record.getMessage().replace("SIGTERM: 15", f"{name}: {int(self.signum)}"), ()
        return True

    def teardown(self, trainer: Trainer, pl_module: LightningModule, stage: str) -> None:
        _SIGNAL_LOG.removeFilter(self)

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        _SIGNAL_LOG.addFilter(self)
        # After Lightning has registered its own handlers (whose teardown restores this one too).
        if hasattr(signal, "SIGUSR1") and not SLURMEnvironment.detect():
            if signal.getsignal(signal.SIGUSR1) in (signal.SIG_DFL, None):
                signal.signal(signal.SIGUSR1, self._as_sigterm)
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, self._first_sigint)

    def _first_sigint(self, signum: int, frame: FrameType | None) -> None:
        """SIGINT handler: Ctrl-C stops as SIGTERM does, at the end of the batch with ``last.ckpt`` saved
        (a ``KeyboardInterrupt`` raised mid-step would leave no consistent state to save); a second
        Ctrl-C is Python's own ``KeyboardInterrupt`` again, which stops at once without saving."""
        signal.signal(signal.SIGINT, signal.default_int_handler)
        rank_zero_info(
            "lit_draw: Ctrl-C: stopping after this batch and saving last.ckpt (Ctrl-C again stops at once, without saving)"
        )
        self._as_sigterm(signum, frame)

    def _as_sigterm(self, signum: int, frame: FrameType | None) -> None:
        """SIGUSR1 (and first SIGINT) handler: stop as on SIGTERM (Lightning's handler then ends the run cleanly)."""
        self.signum = signum
        os.kill(os.getpid(), signal.SIGTERM)

    def on_exception(self, trainer: Trainer, pl_module: LightningModule, exception: BaseException) -> None:
        _SIGNAL_LOG.removeFilter(self)
        if not isinstance(exception, SIGTERMException):
            return
        exception.code = 128 + int(self.signum)
        callback = trainer.checkpoint_callback
        if isinstance(callback, NewestLast) and callback.dirpath is not None:
            callback.save_newest_last(trainer)
        elif trainer.state.fn == "fit" and callback is not None and callback.dirpath is not None:
            path = Path(callback.dirpath) / f"{callback.CHECKPOINT_NAME_LAST}{callback.FILE_EXTENSION}"
            callback.last_model_path = str(path)  # the saved state names it: a resume overwrites it
            trainer.save_checkpoint(path)


def read_checkpoint(path: str | Path, flag: str = "--ckpt_path") -> dict[str, Any]:
    """Load a Lightning checkpoint's dict on CPU (memory-mapped), or raise a :class:`ConfigError`
    naming ``flag``, the file and what it is instead: missing, empty, not a file ``torch.save``
    wrote, or a torch file without the model's ``state_dict``."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{flag} {path}: no such file")
    if path.stat().st_size == 0:
        raise ConfigError(f"{flag} {path}: the file is empty, not a checkpoint")
    with path.open("rb") as file:
        zipped = file.read(4) == b"PK\x03\x04"
    if not zipped:
        raise ConfigError(f"{flag} {path}: not a checkpoint (torch.save writes a zip archive; this file is not one)")
    if not zipfile.is_zipfile(path):
        raise ConfigError(f"{flag} {path}: cannot be loaded (a truncated or corrupt zip archive)")
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=False, mmap=True)
    except Exception as error:  # truncated, ...: the file is what is wrong
        reason = " ".join(str(error).split())[:200]
        raise ConfigError(f"{flag} {path}: cannot be loaded ({type(error).__name__}: {reason})") from error
    if not isinstance(checkpoint, dict) or "state_dict" not in checkpoint:
        raise ConfigError(
            f"{flag} {path}: a torch file without a state_dict, not a Lightning checkpoint "
            "(lit_draw's fit writes them under <default_root_dir>/<run id>/checkpoints/)"
        )
    return checkpoint


def newer_last(path: str | Path, checkpoint: dict[str, Any]) -> Path | None:
    """The ``last.ckpt`` beside ``path`` (``checkpoint``, loaded) when it holds a later step: a fit
    resumed from ``path`` writes on into that folder and would overwrite it (``--ckpt_path best`` on
    a run whose newest state is past its best). ``None`` when there is none, or it is not newer."""
    path = Path(path)
    last = path.parent / LAST
    if path.resolve().parent.name != CHECKPOINTS or not last.is_file() or last.resolve() == path.resolve():
        return None
    try:
        step = read_checkpoint(last).get("global_step", -1)
    except ConfigError:  # a torn last.ckpt holds nothing to keep
        return None
    return last if step > checkpoint.get("global_step", -1) else None


def is_stripped(checkpoint: dict[str, Any]) -> bool:
    """Whether a checkpoint holds weights only (``reproduce``'s shipped ones): nothing a fit can resume."""
    return "state_dict" in checkpoint and "optimizer_states" not in checkpoint


def hpc_checkpoint(root: str | Path) -> Path | None:
    """The checkpoint Lightning resumes from under SLURM: the highest ``hpc_ckpt_<n>.ckpt`` in ``root``."""
    versions = [int(p.stem.removeprefix("hpc_ckpt_")) for p in Path(root).glob("hpc_ckpt_*.ckpt")]
    return Path(root) / f"hpc_ckpt_{max(versions)}.ckpt" if versions else None


def _settings(optimizer_state: dict[str, Any], scheduled: bool) -> list[dict[str, Any]]:
    """Each param group's settings, ``lr`` as the schedulers' ``initial_lr`` where they set it. With
    a scheduler that sets none (``ReduceLROnPlateau``) the current ``lr`` is the scheduler's, not
    the config's, and is left out."""
    groups = []
    for group in optimizer_state["param_groups"]:
        settings = {k: v for k, v in group.items() if k not in ("params", "initial_lr", "lr")}
        if "initial_lr" in group or not scheduled:
            settings["lr"] = group.get("initial_lr", group["lr"])
        groups.append(settings)
    return groups


def differs(a: Any, b: Any) -> bool:
    """Whether two config values differ (numbers up to rounding, lists and tuples alike)."""
    if isinstance(a, (int, float)) and isinstance(b, (int, float)) and not isinstance(a, bool):
        return not math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        return len(a) != len(b) or any(differs(x, y) for x, y in zip(a, b, strict=True))
    return a != b


def optimizer_change(asked: list[dict[str, Any]], stored: list[dict[str, Any]]) -> str | None:
    """The first optimiser setting the config asks for that differs from the checkpoint's, as a message."""
    if len(asked) != len(stored):
        return f"the config's optimiser has {len(asked)} param groups, the checkpoint's {len(stored)}"
    for index, (new, old) in enumerate(zip(asked, stored, strict=True)):
        for key in sorted(new.keys() | old.keys()):
            if key not in new or key not in old:
                return f"param group {index}: setting {key!r} is in only one of them (another optimiser class?)"
            if isinstance(new[key], (int, float, bool, str, list, tuple, type(None))) and differs(new[key], old[key]):
                return f"param group {index}: {key} is {new[key]!r} in the config, {old[key]!r} in the checkpoint"
    return None


def changed_optimizer(
    optimizers: list[torch.optim.Optimizer], checkpoint: dict[str, Any], ckpt_path: str | Path
) -> str | None:
    """The one-line reason a fit resumed from ``checkpoint`` (loaded from ``ckpt_path``) must not run
    with ``optimizers``, or ``None``: the settings of every param group, the learning rate as set
    before any scheduler step (``initial_lr``)."""
    scheduled = bool(checkpoint.get("lr_schedulers"))
    states = checkpoint.get("optimizer_states") or []  # another count: Lightning refuses it when it restores
    for index, (optimizer, state) in enumerate(zip(optimizers, states, strict=False)):
        problem = optimizer_change(_settings(optimizer.state_dict(), scheduled), _settings(state, scheduled))
        if problem:
            return (
                f"fit --ckpt_path {ckpt_path}: optimiser {index}: {problem}; a resumed fit "
                "keeps the checkpoint's optimiser, so resume with its settings or start a new fit"
            )
    return None
