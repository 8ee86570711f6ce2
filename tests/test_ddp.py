"""DDP on CPU (2 gloo processes, started in a subprocess): evaluation over the fixed sets is exact."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

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
    statistics = [k for k in single if k.startswith(("test/hit_glimpse", "test/cell_drift", "test/gates", "test/early_exit"))]
    assert len(statistics) > 10
    for key in statistics:
        (value,) = values(logged, key)
        assert value == pytest.approx(single[key].item(), rel=1e-5, abs=1e-7), key
    confusion = (run_dir / "files" / "test_confusion.csv").read_text().splitlines()[1:]
    assert sum(int(n) for line in confusion for n in line.split(",")[1:]) == 33
