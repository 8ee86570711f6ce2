"""DDP on CPU (2 gloo processes, started in a subprocess): evaluation over the fixed sets is exact."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from lit_draw.cli import main
from tests.wandb_reader import read_run

ROOT = Path(__file__).parents[1]
T = 2


@pytest.fixture
def tiny(mnist_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """A DRAW classifier small enough to train in seconds; the test set splits unevenly over 2 processes."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "offline")
    return [
        "--config", str(ROOT / "configs" / "quickstart.yaml"), f"--data.root={mnist_root}",
        # 33 test canvases in batches of 16: process 0 gets 17 (2 batches), process 1 gets 16 (1 batch)
        "--data.canvas_size=28", "--data.batch_size=16", "--data.val_size=16", "--data.train_size=64",
        "--data.test_size=33",
        "--model.net.init_args.canvas_size=28", f"--model.net.init_args.glimpses={T}", "--model.net.init_args.read_n=3",
        "--model.net.init_args.enc_size=8", "--model.net.init_args.dec_size=8", "--model.net.init_args.hidden=8",
        "--trainer.callbacks=[]", "--trainer.default_root_dir=run",
        "--trainer.enable_progress_bar=false", "--trainer.enable_model_summary=false",
    ]


def test_two_process_ddp_test_equals_single_process_test_on_one_checkpoint(tiny: list[str], tmp_path: Path):
    main(["fit", *tiny, "--trainer.max_steps=3", "--trainer.limit_val_batches=0"])
    checkpoint = "--ckpt_path=run/checkpoints/last.ckpt"
    single = main(["test", *tiny, checkpoint]).trainer.callback_metrics
    runs_before = set((tmp_path / "wandb").glob("offline-run-*"))

    ddp = [*tiny, "--trainer.accelerator=cpu", "--trainer.devices=2", "--trainer.strategy=ddp", checkpoint]
    env = {**os.environ, "WANDB_DIR": str(tmp_path)}
    result = subprocess.run([sys.executable, "-m", "lit_draw", "test", *ddp], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]

    (run_dir,) = set((tmp_path / "wandb").glob("offline-run-*")) - runs_before  # one W&B run for both processes
    logged = read_run(run_dir)
    for t in range(1, T + 1):
        (value,) = logged.values(f"test/acc_glimpse_{t}")
        assert value == pytest.approx(single[f"test/acc_glimpse_{t}"].item(), abs=1e-7)
    # 33 canvases counted once each (padding would count 34): accuracy is a multiple of 1/33
    assert logged.values("test/acc")[0] * 33 == pytest.approx(round(single["test/acc"].item() * 33), abs=1e-5)
    (loss,) = logged.values("test/loss")  # the mean over canvases, not a mean of per-process means
    assert loss == pytest.approx(single["test/loss"].item(), rel=1e-6)
