"""DDP on CPU (2 gloo processes, started in a subprocess): evaluation over the fixed sets is exact."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from lightning.pytorch import Callback, Trainer

from lit_draw.cli import main
from lit_draw.cli.metrics_csv import read_metrics, values
from tests.conftest import CONFIGS

T = 2


@pytest.fixture
def tiny(tiny_fit: Callable[..., list[str]]) -> list[str]:
    """A DRAW classifier small enough to train in seconds, with the analysis callbacks; the test set
    splits unevenly over 2 processes."""
    # 33 test canvases in batches of 16: process 0 gets 17 (2 batches), process 1 gets 16 (1 batch)
    args = tiny_fit(glimpses=T, batch_size=16, val_size=16, train_size=64, test_size=33)
    return [*args, f"--trainer.callbacks={CONFIGS / 'callbacks' / 'analysis.yaml'}"]


@pytest.mark.slow
def test_two_process_ddp_test_equals_single_process_test_on_one_checkpoint(tiny: list[str], tmp_path: Path):
    main(["fit", *tiny, "--trainer.max_steps=3", "--trainer.limit_val_batches=0"])
    checkpoint = "--ckpt_path=run/checkpoints/last.ckpt"
    single = main(["test", *tiny, checkpoint]).trainer.callback_metrics
    runs_before = set((tmp_path / "wandb").glob("offline-run-*"))

    ddp = [*tiny, "--trainer.accelerator=cpu", "--trainer.devices=2", "--trainer.strategy=ddp", checkpoint]
    env = {k: v for k, v in os.environ.items() if k != "WANDB_SERVICE"}  # its own W&B service, not this process's
    result = subprocess.run([sys.executable, "-m", "lit_draw", "test", *ddp], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]
    # the values logged are reduced over both processes, and logged so: Lightning asks for nothing (issue 34)
    assert "sync_dist" not in result.stderr, result.stderr[-3000:]

    (run_dir,) = set((tmp_path / "wandb").glob("offline-run-*")) - runs_before  # one W&B run for both processes
    logged = read_metrics(run_dir)
    for t in range(1, T + 1):
        (value,) = values(logged, f"test/acc_glimpse_{t}")
        assert value == pytest.approx(single[f"test/acc_glimpse_{t}"].item(), abs=1e-7)
    # 33 canvases counted once each (padding would count 34): accuracy is a multiple of 1/33
    assert values(logged, "test/acc")[0] * 33 == pytest.approx(round(single["test/acc"].item() * 33), abs=1e-5)
    (loss,) = values(logged, "test/loss")  # the mean over canvases, not a mean of per-process means
    assert loss == pytest.approx(single["test/loss"].item(), rel=1e-6)
    # the analysis callbacks' statistics, summed over both processes, are the single-process ones too
    statistics = [
        k for k in single if k.startswith(("test/hit_glimpse", "test/cell_drift", "test/gates", "test/early_exit"))
    ]
    assert len(statistics) > 10
    for key in statistics:
        (value,) = values(logged, key)
        assert value == pytest.approx(single[key].item(), rel=1e-5, abs=1e-7), key
    confusion = (run_dir / "files" / "test_confusion.csv").read_text().splitlines()[1:]
    assert sum(int(n) for line in confusion for n in line.split(",")[1:]) == 33


class KillRankAtStep(Callback):
    """SIGKILLs rank ``rank`` at ``step``'s batch end (built by each DDP process from the command line)."""

    def __init__(self, rank: int, step: int) -> None:
        self.rank, self.step = rank, step

    def on_train_batch_end(self, trainer: Trainer, *args: object) -> None:
        if trainer.global_rank == self.rank and trainer.global_step == self.step:
            os.kill(os.getpid(), signal.SIGKILL)


@pytest.mark.slow
def test_a_ddp_rank_that_dies_is_named_in_one_line_with_how_to_resume(tiny: list[str], tmp_path: Path):
    """Issue 35: rank 0 exited in 2 s with a gloo traceback when rank 1 was killed."""
    kill = "--trainer.callbacks+=tests.test_ddp.KillRankAtStep"
    ddp = [
        *tiny,
        "--trainer.accelerator=cpu",
        "--trainer.devices=2",
        "--trainer.strategy=ddp",
        "--trainer.limit_val_batches=0",
        "--trainer.max_steps=50",
        kill,
        "--trainer.callbacks.rank=1",
        "--trainer.callbacks.step=2",
    ]
    env = {k: v for k, v in os.environ.items() if k != "WANDB_SERVICE"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(Path(__file__).parents[1]), env.get("PYTHONPATH")]))
    result = subprocess.run(
        [sys.executable, "-m", "lit_draw", "fit", *ddp], env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 1, result.stderr[-3000:]
    assert result.stderr.strip().splitlines()[-1] == (
        "python -m lit_draw: error: fit: rank 1 (exit status -9) stopped, so rank 0 of 2 cannot go on; "
        "--ckpt_path last resumes the run from its last checkpoint"
    ), result.stderr[-3000:]
    assert "Traceback" not in result.stderr, result.stderr[-3000:]
