"""Preemption: resume after SIGKILL into the same W&B run, a checkpoint and exit status on SIGTERM / SIGUSR1,
atomic saves, last.ckpt always the newest state, ``--ckpt_path last`` finds the newest saved checkpoint,
a resume that would change the optimiser is refused, determinism."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.demos.boring_classes import BoringModel
from lightning.pytorch.plugins.io import TorchCheckpointIO

from lit_draw.cli import main, resume
from lit_draw.cli.metrics_csv import read_metrics
from lit_draw.errors import ConfigError
from tests.conftest import CONFIGS

pytestmark = pytest.mark.slow  # every test here trains


class SignalAtStep(Callback):
    """Sends ``signum`` to this process once training has reached ``step`` (a stand-in for a scheduler)."""

    def __init__(self, signum: int, step: int) -> None:
        self.signum, self.step = signum, step

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, *args: object) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), self.signum)


class StopAtStep(Callback):
    """Stops this process (SIGSTOP) at ``step``'s batch end, before that step's checkpoint is saved
    (Lightning runs checkpoint callbacks last): ``last.ckpt`` then holds ``step - 1``."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, *args: object) -> None:
        if trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGSTOP)


class TimeUpAtStep(Callback):
    """Stops the fit at ``step``'s batch end as ``--trainer.max_time`` does (Lightning's ``Timer`` sets
    ``trainer.should_stop`` there), at a known step."""

    def __init__(self, step: int) -> None:
        self.step = step

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, *args: object) -> None:
        if trainer.global_step == self.step:
            trainer.should_stop = True


@pytest.fixture
def tiny(tiny_fit: Callable[..., list[str]]) -> list[str]:
    """A DRAW classifier that trains in seconds, run inside ``tmp_path``, logging every step."""
    return [*tiny_fit(batch_size=8, val_size=16, train_size=8000), "--trainer.log_every_n_steps=1"]


def _subprocess_env() -> dict[str, str]:
    """This process's environment for a ``python -m lit_draw`` child that imports ``tests.*`` and
    starts its own W&B service (``WANDB_SERVICE`` would attach it to this process's)."""
    repo = str(Path(__file__).parents[1])
    env = {k: v for k, v in os.environ.items() if k not in ("WANDB_SERVICE", "WANDB_RUN_ID")}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [repo, os.environ.get("PYTHONPATH")]))
    return env


def _sigint_default() -> None:
    """``preexec_fn`` of a child that must take Ctrl-C: a background job of a non-interactive shell
    (``cmd &``, ``nohup``; how CI may start the suite) inherits SIGINT ignored, and a Python that
    starts with SIGINT ignored installs no ``KeyboardInterrupt`` handler, so lit_draw rightly leaves
    it ignored."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.fixture
def interruptible() -> Iterator[None]:
    """This process takes SIGINT as an interactive Python does (see :func:`_sigint_default`) for the test."""
    before = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, before)


def _checkpoint_step(path: Path) -> int | None:
    """``global_step`` of a checkpoint, ``None`` while it is missing (or, without atomic saves, half-written)."""
    try:
        return torch.load(path, map_location="cpu", weights_only=False)["global_step"]
    except (FileNotFoundError, RuntimeError, EOFError, KeyError):
        return None


def _train_steps(run_dir: Path) -> list[int]:
    """The step of every row of the run's ``metrics.csv`` that logged ``train/loss``."""
    return [row["step"] for row in read_metrics(run_dir) if "train/loss" in row]


def _logged_train_steps(run_dir: Path) -> list[int]:
    """:func:`_train_steps` of a run being written right now (nothing yet while its last line is half-written)."""
    try:
        return _train_steps(run_dir)
    except Exception:  # a log still being written: read it again later
        return []


def test_run_killed_mid_epoch_resumes_from_last_into_the_same_wandb_run(tiny: list[str], tmp_path: Path):
    """Deterministic: the child stops itself at a known step (no polling on checkpoints, no
    deadline on training), and a failure shows what the child printed."""
    # without validation there is no val/acc to rank checkpoints by: monitor nothing, keep the latest
    args = [*tiny, "--trainer.limit_val_batches=0", "--checkpoint.every_n_train_steps=1", "--checkpoint.monitor=null"]
    stop = "--trainer.callbacks=[{class_path: tests.test_resume.StopAtStep, init_args: {step: 5}}]"
    env = _subprocess_env()
    log = tmp_path / "child.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "lit_draw", "fit", *args, stop, "--trainer.max_steps=100000"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    _, status = os.waitpid(process.pid, os.WUNTRACED)  # returns once the child has stopped itself (or ended)
    assert os.WIFSTOPPED(status), log.read_text()[-3000:]
    killed_at = 4  # step 5's batch end stopped it before step 5's checkpoint
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"  # the link to this fit's folder
    assert _checkpoint_step(last) == killed_at, log.read_text()[-3000:]
    (first,) = (tmp_path / "wandb").glob("offline-run-*")
    # wait for the event (the steps before the checkpoint in metrics.csv);
    # the deadline only ends a test that would otherwise hang
    deadline = time.monotonic() + 300
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
    assert Path(resumed.trainer.checkpoint_callback.dirpath) == last.parent.resolve()  # on in the same folder
    before, after = _train_steps(first), _train_steps(second)
    # the resumed run logs each step after the checkpoint once, in order, starting right at it
    assert after == list(range(killed_at, killed_at + 4)), (killed_at, after)
    assert set(range(killed_at)) <= set(before), log.read_text()[-3000:]  # and nothing before the checkpoint was lost
    assert os.environ.get("WANDB_RUN_ID") is None  # the run id does not leak into the next command


def test_a_resume_finds_its_run_after_wandb_was_left_set_up_and_writes_on_into_its_folder(
    tiny: list[str], tmp_path: Path
):
    """The flaky test's cause: the resumed fit found its folder only through the W&B run id (Lightning
    sets ``trainer.ckpt_path`` after the setup hooks); with W&B left set up by an earlier command in
    the process (``bench`` did not tear it down) the id was ignored, a new folder was made, the
    ``checkpoints`` link moved to it and the relative ``last`` path pointed at nothing."""
    import wandb

    args = [*tiny, "--trainer.limit_val_batches=0"]
    main(["fit", *args, "--trainer.max_steps=2"])
    folder = (tmp_path / "run" / "checkpoints").resolve()
    wandb.init(project="earlier", mode="offline", dir=tmp_path).finish()  # set up, not torn down
    resumed = main(["fit", *args, "--trainer.max_steps=4", "--ckpt_path=last"])
    assert Path(resumed.trainer.checkpoint_callback.dirpath) == folder
    assert resumed.trainer.logger.version == folder.parent.name  # the same W&B run
    assert _checkpoint_step(folder / "last.ckpt") == 4


@pytest.mark.parametrize(
    "signum", [signal.SIGTERM, signal.SIGUSR1, signal.SIGINT], ids=["SIGTERM", "SIGUSR1", "SIGINT"]
)
def test_signal_saves_last_checkpoint_exits_128_plus_signum_and_the_resume_overwrites_it(
    tiny: list[str], tmp_path: Path, signum: int, interruptible: None
):
    handlers_before = signal.getsignal(signal.SIGUSR1), signal.getsignal(signal.SIGINT)
    callback = f"--trainer.callbacks=[{{class_path: tests.test_resume.SignalAtStep, init_args: {{signum: {int(signum)}, step: 3}}}}]"
    # no periodic checkpoint: the only one is the one the signal causes
    with pytest.raises(SystemExit) as stopped:
        main(["fit", *tiny, callback, "--trainer.limit_val_batches=0", "--trainer.max_steps=50"])
    assert stopped.value.code == 128 + signum  # not 0: `fit && test` and job wrappers see the stop
    folder = (tmp_path / "run" / "checkpoints").resolve()
    assert _checkpoint_step(folder / "last.ckpt") == 3
    assert (signal.getsignal(signal.SIGUSR1), signal.getsignal(signal.SIGINT)) == handlers_before

    resumed = main(["fit", *tiny, "--trainer.limit_val_batches=0", "--trainer.max_steps=5", "--ckpt_path=last"])
    assert Path(resumed.trainer.checkpoint_callback.dirpath) == folder  # on in the same run's folder
    assert sorted(p.name for p in folder.glob("last*.ckpt")) == ["last.ckpt"]  # not last-v1.ckpt beside a stale one
    assert _checkpoint_step(folder / "last.ckpt") == 5


def test_a_python_m_lit_draw_fit_stopped_by_sigterm_exits_143(tiny: list[str], tmp_path: Path):
    callback = "--trainer.callbacks=[{class_path: tests.test_resume.SignalAtStep, init_args: {signum: 15, step: 2}}]"
    args = [*tiny, callback, "--trainer.limit_val_batches=0", "--trainer.max_steps=50"]
    result = subprocess.run(
        [sys.executable, "-m", "lit_draw", "fit", *args], capture_output=True, env=_subprocess_env()
    )
    assert result.returncode == 143, result.stderr[-2000:]
    assert _checkpoint_step(tmp_path / "run" / "checkpoints" / "last.ckpt") == 2


def test_a_python_m_lit_draw_fit_stopped_by_ctrl_c_saves_last_and_exits_130(tiny: list[str], tmp_path: Path):
    """Ctrl-C mid-epoch: the batch ends, last.ckpt holds it, the console says so, exit status 130."""
    callback = "--trainer.callbacks=[{class_path: tests.test_resume.SignalAtStep, init_args: {signum: 2, step: 2}}]"
    args = [*tiny, callback, "--trainer.limit_val_batches=0", "--trainer.max_steps=50"]
    result = subprocess.run(
        [sys.executable, "-m", "lit_draw", "fit", *args],
        capture_output=True,
        text=True,
        env=_subprocess_env(),
        preexec_fn=_sigint_default,
    )
    assert result.returncode == 130, result.stderr[-2000:]
    assert "Ctrl-C: stopping after this batch and saving last.ckpt" in result.stdout + result.stderr
    assert (
        "Received SIGTERM" not in result.stdout + result.stderr
    )  # Lightning's line names the signal that came (issue 35)
    assert "Received SIGINT: 2" in result.stdout + result.stderr
    assert "Traceback" not in result.stderr, result.stderr[-2000:]
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
    first = Trainer(
        max_steps=2,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
        default_root_dir=tmp_path,
    )
    first.fit(_Model(lr=0.1, step_lr=step_lr))
    first.save_checkpoint(tmp_path / "a.ckpt")
    checkpoint = resume.read_checkpoint(tmp_path / "a.ckpt")

    def optimizers(lr: float) -> list[torch.optim.Optimizer]:
        configured = _Model(lr=lr, step_lr=step_lr).configure_optimizers()
        if step_lr:  # a scheduler has stepped: the current lr is the scheduler's, initial_lr the config's
            configured["lr_scheduler"]["scheduler"].step()
        return [configured["optimizer"]]

    assert resume.changed_optimizer(optimizers(0.1), checkpoint, "a.ckpt") is None  # the same settings resume
    problem = resume.changed_optimizer(optimizers(0.5), checkpoint, "a.ckpt")
    assert (
        problem is not None and "optimiser 0: param group 0: lr is 0.5 in the config, 0.1 in the checkpoint" in problem
    )


def test_same_seed_and_config_give_the_same_validation_metrics(tiny: list[str]):
    args = ["fit", *tiny, "--trainer.max_steps=3", "--trainer.val_check_interval=3", "--trainer.limit_val_batches=2"]
    first = {k: v.item() for k, v in main(args).trainer.callback_metrics.items() if k.startswith("val/")}
    second = {k: v.item() for k, v in main(args).trainer.callback_metrics.items() if k.startswith("val/")}
    assert {"val/acc", "val/loss", "val/acc_glimpse_1", "val/acc_glimpse_2"} <= first.keys()
    assert first == second
    different = main([*args, "--seed_everything=1"]).trainer.callback_metrics["val/loss"].item()
    assert different != first["val/loss"]  # the comparison can fail: the seed does change the model


# ------------------------------------------------- last.ckpt is the newest state, and `last` finds it


def test_last_checkpoint_holds_the_final_step_when_val_acc_never_improves(tiny: list[str], tmp_path: Path):
    # the case at tiny size: lr 0, so val/acc never improves after the first validation
    args = [
        "fit",
        *tiny,
        "--optimizer.lr=0.0",
        "--trainer.max_epochs=3",
        "--trainer.limit_train_batches=4",
        "--trainer.limit_val_batches=2",
    ]
    cli = main(args)
    folder = tmp_path / "run" / "checkpoints"
    assert cli.trainer.global_step == 12
    assert [p.name for p in folder.glob("best-*.ckpt")] == ["best-0-4.ckpt"]  # the monitored metric stood still
    assert _checkpoint_step(folder / "last.ckpt") == 12  # Lightning's own kept step 4


def test_a_max_steps_stop_between_two_validations_saves_last(tiny: list[str], tmp_path: Path):
    cli = main(
        [
            "fit",
            *tiny,
            "--optimizer.lr=0.0",
            "--trainer.max_steps=6",
            "--trainer.val_check_interval=4",
            "--trainer.limit_train_batches=10",
            "--trainer.limit_val_batches=2",
        ]
    )
    assert cli.trainer.global_step == 6
    assert _checkpoint_step(tmp_path / "run" / "checkpoints" / "last.ckpt") == 6


def test_a_resume_after_sigterm_keeps_the_newest_step_in_last(tiny: list[str], tmp_path: Path):
    args = [*tiny, "--optimizer.lr=0.0", "--trainer.limit_train_batches=4", "--trainer.limit_val_batches=2"]
    sigterm = "--trainer.callbacks=[{class_path: tests.test_resume.SignalAtStep, init_args: {signum: 15, step: 3}}]"
    with pytest.raises(SystemExit):
        main(["fit", *args, sigterm, "--trainer.max_epochs=3"])
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert _checkpoint_step(last) == 3
    resumed = main(["fit", *args, "--trainer.max_epochs=3", "--ckpt_path=last"])  # validates at 4, 8, 12; never better
    assert resumed.trainer.global_step == 12
    assert _checkpoint_step(last) == 12  # Lightning's own kept step 4


@pytest.mark.parametrize("val_check_interval", ["1.0", "2"], ids=["validating-each-epoch", "validating-at-the-stop"])
def test_a_max_time_stop_mid_epoch_resumes_inside_its_epoch_and_trains_the_whole_budget(
    tiny: list[str], tmp_path: Path, val_check_interval: str
):
    """Saved at the epoch's end hooks, a ``max_time`` stop's checkpoint said the epoch was over: the
    resume started the next epoch and the rest of this one was never trained (10 updates of 12 here)."""
    args = [
        *tiny,
        "--optimizer.lr=0.0",
        "--trainer.limit_train_batches=4",
        "--trainer.limit_val_batches=2",
        f"--trainer.val_check_interval={val_check_interval}",
    ]
    time_up = "--trainer.callbacks=[{class_path: tests.test_resume.TimeUpAtStep, init_args: {step: 2}}]"
    stopped = main(["fit", *args, time_up, "--trainer.max_epochs=3"])
    assert stopped.trainer.global_step == 2
    last = tmp_path / "run" / "checkpoints" / "last.ckpt"
    assert _checkpoint_step(last) == 2

    resumed = main(["fit", *args, "--trainer.max_epochs=3", "--ckpt_path=last"])

    assert resumed.trainer.global_step == 12  # 3 epochs of 4 batches
    (first, second) = sorted((tmp_path / "wandb").glob("offline-run-*"))
    # each step trained once, none skipped, and logged at its own step (the step before the global step)
    assert (_train_steps(first), _train_steps(second)) == ([0, 1], list(range(2, 12)))
    validated = [row["step"] for run in (first, second) for row in read_metrics(run) if "val/acc" in row]
    # as an uninterrupted fit validates, and once more at the stop (at step 2, which "2" validates anyway)
    assert validated == ([1, 3, 5, 7, 9, 11] if val_check_interval == "2" else [1, 3, 7, 11])


@pytest.mark.parametrize("config", ["quickstart.yaml", "ram_mnist.yaml"], ids=["DRAW", "RAM"])
def test_a_fit_stopped_inside_an_epoch_and_resumed_ends_with_the_weights_of_an_unbroken_fit(
    config: str, mnist_root: Path, offline_in_tmp: Path
):
    """The training digits' order, their canvases and the models' samples (RAM's glimpses) are drawn
    from the batch's place in the run, and the loader's place is in every checkpoint: stopped at step 5
    of 26 (inside the first epoch, with a validation at the stop that an unbroken fit does not make),
    the resumed fit ends bit for bit where the unbroken one does, and Lightning does not warn that
    the loader cannot resume."""
    args = [
        "--config",
        str(CONFIGS / config),
        f"--data.root={mnist_root}",
        "--data.canvas_size=28",
        "--data.train_size=100",
        "--data.val_size=16",
        "--data.batch_size=8",
        "--model.net.init_args.glimpses=2",
        "--trainer.max_epochs=2",
        "--trainer.limit_val_batches=2",
        "--trainer.callbacks=[]",
        "--trainer.enable_progress_bar=false",
        "--trainer.enable_model_summary=false",
    ]
    unbroken = main(["fit", *args, "--trainer.default_root_dir=unbroken"]).model.state_dict()
    time_up = "--trainer.callbacks=[{class_path: tests.test_resume.TimeUpAtStep, init_args: {step: 5}}]"
    assert main(["fit", *args, time_up, "--trainer.default_root_dir=run"]).trainer.global_step == 5
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        resumed = main(["fit", *args, "--trainer.default_root_dir=run", "--ckpt_path=last"])
    assert resumed.trainer.global_step == 26  # 2 epochs of 13 batches (100 digits, batches of 8)
    assert not [w for w in caught if "not resumable" in str(w.message)]
    for name, tensor in resumed.model.state_dict().items():
        assert torch.equal(tensor, unbroken[name]), name


def test_a_fit_that_dies_before_its_first_save_does_not_hide_the_run_before_it(tiny: list[str], tmp_path: Path):
    args = [*tiny, "--trainer.limit_val_batches=2"]
    main(["fit", *args, "--trainer.max_steps=2"])
    link = tmp_path / "run" / "checkpoints"
    earlier = link.resolve()
    # dies at start-up, after its folder was made: a monitored key the model does not log
    with pytest.raises(
        ConfigError, match=r"^checkpoint.monitor must be a key the model logs \(.*val/acc.*\), got 'val/acc_typo'$"
    ):
        main(["fit", *args, "--trainer.max_steps=2", "--checkpoint.monitor=val/acc_typo"])
    assert not [p for p in (tmp_path / "run").glob("*/checkpoints/*.ckpt") if p.parent != earlier]  # it trained nothing
    assert link.resolve() == earlier  # the link moves at a fit's first save, not before
    resumed = main(["fit", *args, "--trainer.max_steps=4", "--ckpt_path=last"])
    assert resumed.trainer.global_step == 4 and Path(resumed.trainer.checkpoint_callback.dirpath) == earlier
    assert "test/acc" in main(["test", *args, "--ckpt_path=last"]).trainer.callback_metrics
    # `last` is the newest *saved* last.ckpt under the root, whatever the link names
    link.unlink()
    link.symlink_to(tmp_path)  # a link left pointing anywhere else
    assert resume.resolve_last(tmp_path / "run") == earlier / "last.ckpt"


def test_a_weights_only_checkpoint_is_refused_for_resume_and_trains_on_with_init_from(
    tiny: list[str], tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    from lit_draw.experiments.shipping import strip_checkpoint

    args = [*tiny, "--trainer.limit_val_batches=0"]
    main(["fit", *args, "--trainer.max_steps=3"])
    strip_checkpoint(tmp_path / "run" / "checkpoints" / "last.ckpt", tmp_path / "shipped.ckpt")
    with pytest.raises(
        ConfigError, match=r"^--ckpt_path shipped.ckpt holds weights only .*--init_from shipped.ckpt trains on"
    ):
        main(["fit", *args, "--ckpt_path=shipped.ckpt", "--trainer.max_steps=5"])
    weights = torch.load(tmp_path / "shipped.ckpt", weights_only=False)["state_dict"]

    class Check(Callback):
        def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
            self.start = {k: v.clone() for k, v in pl_module.state_dict().items()}

    check = Check()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(resume, "CheckpointOnSignal", lambda: check)  # one more callback, to read the start
        cli = main(["fit", *args, "--init_from=shipped.ckpt", "--trainer.max_steps=2"])
    assert cli.trainer.global_step == 2  # a new run, from step 0
    assert all(torch.equal(check.start[k], v) for k, v in weights.items())
    assert "starting from the weights of shipped.ckpt with a fresh optimiser" in caplog.text  # said on the console


def test_a_resume_from_an_older_checkpoint_than_its_runs_last_is_refused(tiny: list[str], tmp_path: Path):
    """Issue 35, S1: fit --ckpt_path best on a run whose newest state is past its best rewrote last.ckpt
    back to the best's step, and the newer state was gone."""
    every = [
        "--trainer.limit_val_batches=0",
        "--checkpoint.monitor=null",
        "--checkpoint.save_top_k=-1",
        "--checkpoint.every_n_train_steps=2",
    ]
    main(["fit", *tiny, *every, "--trainer.max_steps=4"])
    folder = tmp_path / "run" / "checkpoints"
    older = folder / "best-0-2.ckpt"
    assert _checkpoint_step(older) == 2 and _checkpoint_step(folder / "last.ckpt") == 4
    with pytest.raises(
        ConfigError,
        match=rf"^fit --ckpt_path {older}: {older} holds step 2 but its run's {folder}/last.ckpt "
        r"holds step 4, which resuming would overwrite with the older state; --ckpt_path ",
    ):
        main(["fit", *tiny, *every, "--trainer.max_steps=6", f"--ckpt_path={older}"])
    assert _checkpoint_step(folder / "last.ckpt") == 4


def test_a_second_fit_into_a_run_another_process_trains_is_refused_and_a_killed_ones_lock_taken_over(
    tiny: list[str], tmp_path: Path
):
    """Issue 35, S5: two fits --ckpt_path last into one root at once both trained the same epoch into one
    folder, overwriting each other's checkpoints and sharing one W&B run and CSV log."""
    import socket

    args = [*tiny, "--trainer.limit_val_batches=0"]
    main(["fit", *args, "--trainer.max_steps=2"])
    folder = (tmp_path / "run" / "checkpoints").resolve()
    assert not (folder / resume.LOCK).exists()  # released when the fit ended
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        (folder / resume.LOCK).write_text(f"{other.pid} {socket.gethostname()} {resume._process_start(other.pid)}\n")
        with pytest.raises(
            ConfigError,
            match=rf"^fit --ckpt_path last: the run in {folder} is being trained by process "
            rf"{other.pid} on {socket.gethostname()} \(its lock {folder}/.lock\)",
        ):
            main(["fit", *args, "--trainer.max_steps=4", "--ckpt_path=last"])
        assert len(list((tmp_path / "wandb").glob("offline-run-*"))) == 1  # refused before a W&B run was started
    finally:
        other.kill()
        other.wait()
    # the holder was killed (SIGKILL: it could not remove its lock): the next resume takes the run over
    resumed = main(["fit", *args, "--trainer.max_steps=4", "--ckpt_path=last"])
    assert resumed.trainer.global_step == 4 and _checkpoint_step(folder / "last.ckpt") == 4
    assert not (folder / resume.LOCK).exists()
