"""Preemption: resume after SIGKILL into the same W&B run, a checkpoint and exit status on SIGTERM / SIGUSR1,
atomic saves, a resume that would change the optimiser is refused, determinism."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.demos.boring_classes import BoringModel
from lightning.pytorch.plugins.io import TorchCheckpointIO

from lit_draw import resume
from lit_draw.cli import main
from lit_draw.errors import ConfigError
from tests.conftest import tiny_draw_args
from tests.wandb_reader import read_run

pytestmark = pytest.mark.slow  # every test here trains


class SignalAtStep(Callback):
    """Sends ``signum`` to this process once training has reached ``step`` (a stand-in for a scheduler)."""

    def __init__(self, signum: int, step: int) -> None:
        self.signum, self.step = signum, step

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, *args: object) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), self.signum)


@pytest.fixture
def tiny(mnist_root: Path, offline_in_tmp: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A DRAW classifier that trains in seconds, run inside ``tmp_path``, logging every step."""
    monkeypatch.setenv("WANDB_DIR", str(offline_in_tmp))
    sizes = dict(batch_size=8, val_size=16, train_size=8000)
    return [
        *tiny_draw_args(mnist_root, canvas=28, glimpses=2, read_n=3, width=8, **sizes),
        "--trainer.callbacks=[]", "--trainer.log_every_n_steps=1", "--trainer.enable_model_summary=false",
    ]


def _checkpoint_step(path: Path) -> int | None:
    """``global_step`` of a checkpoint, ``None`` while it is missing (or, without atomic saves, half-written)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=False)["global_step"]
    except (FileNotFoundError, RuntimeError, EOFError, KeyError):
        return None


def _train_steps(run_dir: Path) -> list[int]:
    """``trainer/global_step`` of every row that logged ``train/loss``."""
    return [row["trainer/global_step"] for row in read_run(run_dir).history if "train/loss" in row]


def _logged_train_steps(run_dir: Path) -> list[int]:
    """:func:`_train_steps` of a run W&B may be writing right now (nothing yet while its log is unreadable)."""
    try:
        return _train_steps(run_dir)
    except Exception:  # a log still being written: read it again later
        return []


def test_run_killed_mid_epoch_resumes_from_last_into_the_same_wandb_run(tiny: list[str], tmp_path: Path):
    # without validation there is no val/acc to rank checkpoints by: monitor nothing, keep the latest
    args = [*tiny, "--trainer.limit_val_batches=0", "--checkpoint.every_n_train_steps=1", "--checkpoint.monitor=null"]
    # W&B writes an offline run's log every 15 s by default; every 0.2 s here, so that what the
    # killed process logged before the kill is on disk to compare with
    env = {**os.environ, "WANDB__TRANSACTION_LOG_FLUSH_INTERVAL": "0.2"}
    process = subprocess.Popen(
        [sys.executable, "-m", "lit_draw", "fit", *args, "--trainer.max_steps=100000"],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"  # the link to this fit's folder
    # waits on events (a checkpoint at step >= 3; W&B's log holding the steps before it), never on
    # elapsed time: the deadline only ends a test that would otherwise hang
    deadline = time.monotonic() + 300
    while (_checkpoint_step(last) or 0) < 3 and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGSTOP)  # frozen mid-epoch; W&B's writer (another process) flushes
    killed_at = _checkpoint_step(last)  # frozen: this is the checkpoint that survives the kill
    assert killed_at is not None and 3 <= killed_at < 1000, killed_at  # mid-epoch: 8000 / 8 = 1000 steps an epoch
    (first,) = (tmp_path / "wandb").glob("offline-run-*")
    while not set(range(killed_at)) <= set(_logged_train_steps(first)) and time.monotonic() < deadline:
        time.sleep(0.05)
    process.kill()  # SIGKILL: no handler runs
    process.wait()
    assert _checkpoint_step(last) == killed_at  # what survives on disk is a whole checkpoint

    resumed = main(["fit", *args, "--ckpt_path=last", f"--trainer.max_steps={killed_at + 4}"])

    assert resumed.trainer.global_step == killed_at + 4
    second = next(d for d in (tmp_path / "wandb").glob("offline-run-*") if d != first)
    run_id = first.name.rsplit("-", 1)[1]
    assert second.name.endswith(f"-{run_id}")  # the W&B run id came back from the checkpoint
    assert resumed.trainer.logger.version == run_id
    before, after = _train_steps(first), _train_steps(second)
    # the resumed run logs each step after the checkpoint once, in order, starting right at it
    assert after == list(range(killed_at, killed_at + 4)), (killed_at, after)
    assert set(range(killed_at)) <= set(before)  # and nothing before the checkpoint was lost
    assert os.environ.get("WANDB_RUN_ID") is None  # the run id does not leak into the next command


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGUSR1], ids=["SIGTERM", "SIGUSR1"])
def test_signal_saves_last_checkpoint_exits_128_plus_signum_and_the_resume_overwrites_it(
    tiny: list[str], tmp_path: Path, signum: int
):
    handler_before = signal.getsignal(signal.SIGUSR1)
    callback = f"--trainer.callbacks=[{{class_path: tests.test_resume.SignalAtStep, init_args: {{signum: {int(signum)}, step: 3}}}}]"
    # no periodic checkpoint: the only one is the one the signal causes
    with pytest.raises(SystemExit) as stopped:
        main(["fit", *tiny, callback, "--trainer.limit_val_batches=0", "--trainer.max_steps=50"])
    assert stopped.value.code == 128 + signum  # not 0: `fit && test` and job wrappers see the stop
    folder = (tmp_path / "run" / "checkpoints").resolve()
    assert _checkpoint_step(folder / "last.ckpt") == 3
    assert signal.getsignal(signal.SIGUSR1) == handler_before

    resumed = main(["fit", *tiny, "--trainer.limit_val_batches=0", "--trainer.max_steps=5", "--ckpt_path=last"])
    assert Path(resumed.trainer.checkpoint_callback.dirpath) == folder  # on in the same run's folder
    assert sorted(p.name for p in folder.glob("last*.ckpt")) == ["last.ckpt"]  # not last-v1.ckpt beside a stale one
    assert _checkpoint_step(folder / "last.ckpt") == 5


def test_a_python_m_lit_draw_fit_stopped_by_sigterm_exits_143(tiny: list[str], tmp_path: Path):
    callback = "--trainer.callbacks=[{class_path: tests.test_resume.SignalAtStep, init_args: {signum: 15, step: 2}}]"
    args = [*tiny, callback, "--trainer.limit_val_batches=0", "--trainer.max_steps=50"]
    repo = str(Path(__file__).parents[1])  # the subprocess imports tests.test_resume from the checkout
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")]))}
    result = subprocess.run([sys.executable, "-m", "lit_draw", "fit", *args], capture_output=True, env=env)
    assert result.returncode == 143, result.stderr[-2000:]
    assert _checkpoint_step(tmp_path / "run" / "checkpoints" / "last.ckpt") == 2


class _Torn(Exception):
    """The kill that tears a copy in half."""


def test_a_save_torn_mid_copy_across_filesystems_leaves_the_previous_checkpoint_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Lightning's own save writes to the system temp folder, then moves the file; across
    filesystems (``/tmp`` local, checkpoints on shared storage) the move is a copy onto the final
    name, which a kill can tear. AtomicCheckpointIO renames within the checkpoint's folder."""
    import shutil

    def cross_device_move(src: str, dst: str, *args: object, **kwargs: object) -> None:
        Path(dst).write_bytes(Path(src).read_bytes()[:100])  # the copy has begun ...
        raise _Torn  # ... and the process dies

    path = tmp_path / "last.ckpt"
    for io, torn in ((TorchCheckpointIO(), True), (resume.AtomicCheckpointIO(), False)):
        io.save_checkpoint({"global_step": 1}, path)
        with monkeypatch.context() as patch:
            patch.setattr(shutil, "move", cross_device_move)
            with pytest.raises(_Torn):
                io.save_checkpoint({"global_step": 2, "weights": torch.zeros(1000)}, path)
        assert (_checkpoint_step(path) is None) == torn, type(io).__name__  # Lightning's alone: torn
    assert _checkpoint_step(path) == 1 and [p.name for p in tmp_path.iterdir()] == ["last.ckpt"]


class _Model(BoringModel):
    def __init__(self, lr: float, step_lr: bool) -> None:
        super().__init__()
        self.lr, self.step_lr = lr, step_lr

    def configure_optimizers(self) -> dict:
        optimizer = torch.optim.SGD(self.parameters(), lr=self.lr)
        if not self.step_lr:
            return {"optimizer": optimizer}
        scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.1)
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}


@pytest.mark.parametrize("step_lr", [False, True], ids=["constant_lr", "scheduled_lr"])
def test_a_resume_whose_config_changes_the_optimiser_is_refused_with_the_reason(tmp_path: Path, step_lr: bool):
    def trainer(steps: int) -> Trainer:
        return Trainer(max_steps=steps, logger=False, enable_progress_bar=False, enable_model_summary=False,
                       enable_checkpointing=False, default_root_dir=tmp_path, callbacks=[resume.RefuseChangedOptimizer()])

    first = trainer(2)
    first.fit(_Model(lr=0.1, step_lr=step_lr))
    first.save_checkpoint(tmp_path / "a.ckpt")
    trainer(3).fit(_Model(lr=0.1, step_lr=step_lr), ckpt_path=tmp_path / "a.ckpt")  # the same settings resume
    with pytest.raises(ConfigError, match=r"optimiser 0: param group 0: lr is 0.5 in the config, 0.1 in the checkpoint"):
        trainer(3).fit(_Model(lr=0.5, step_lr=step_lr), ckpt_path=tmp_path / "a.ckpt")


def test_same_seed_and_config_give_the_same_validation_metrics(tiny: list[str]):
    args = ["fit", *tiny, "--trainer.max_steps=3", "--trainer.val_check_interval=3", "--trainer.limit_val_batches=2"]
    first = {k: v.item() for k, v in main(args).trainer.callback_metrics.items() if k.startswith("val/")}
    second = {k: v.item() for k, v in main(args).trainer.callback_metrics.items() if k.startswith("val/")}
    assert {"val/acc", "val/loss", "val/acc_glimpse_1", "val/acc_glimpse_2"} <= first.keys()
    assert first == second
    different = main([*args, "--seed_everything=1"]).trainer.callback_metrics["val/loss"].item()
    assert different != first["val/loss"]  # the comparison can fail: the seed does change the model
