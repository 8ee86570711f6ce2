"""The CLI end to end on real MNIST: fit, read the offline W&B run back, resume, evaluate."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from lit_draw.cli import main
from tests.conftest import tiny_draw_args
from tests.wandb_reader import read_run

T = 2


@pytest.fixture
def tiny(mnist_root: Path, offline_in_tmp: Path) -> list[str]:
    """Arguments for a DRAW classifier small enough to fit in seconds, run inside ``tmp_path``."""
    sizes = dict(batch_size=16, val_size=64, train_size=256, test_size=64)
    return [
        *tiny_draw_args(mnist_root, canvas=32, glimpses=T, read_n=4, width=16, **sizes),
        "--trainer.log_every_n_steps=1", "--trainer.limit_val_batches=2",
    ]


def test_fit_logs_per_glimpse_accuracy_to_the_offline_run_and_resumes(tiny: list[str], tmp_path: Path):
    cli = main(["fit", *tiny, "--trainer.max_steps=4", "--trainer.val_check_interval=2"])
    assert cli.trainer.global_step == 4
    run = read_run(tmp_path / "wandb")
    for key in ("train/loss", "train/acc", "val/loss", "val/acc", *(f"val/acc_glimpse_{t}" for t in range(1, T + 1))):
        assert key in run.keys(), key
    for t in range(1, T + 1):
        assert all(0.0 <= v <= 1.0 for v in run.values(f"val/acc_glimpse_{t}"))
    # the resolved config is the W&B run config and is saved beside the checkpoints
    assert run.config["model"]["net"]["class_path"] == "lit_draw.models.DRAWClassifier"
    assert run.config["data"]["canvas_size"] == 32
    checkpoints = tmp_path / "run" / "checkpoints"
    assert (checkpoints / "last.ckpt").is_file() and (checkpoints / "config.yaml").is_file()
    assert any(checkpoints.glob("best-*.ckpt"))

    resumed = main(["fit", *tiny, "--trainer.max_steps=6", "--trainer.val_check_interval=2", "--ckpt_path=last"])
    assert resumed.trainer.global_step == 6
    state = torch.load(checkpoints / "last.ckpt", map_location="cpu", weights_only=False)
    assert state["global_step"] == 6


def test_test_command_evaluates_a_checkpoint_and_logs_test_keys(tiny: list[str], tmp_path: Path):
    main(["fit", *tiny, "--trainer.max_steps=2", "--trainer.limit_val_batches=0"])
    cli = main(["test", *tiny, "--ckpt_path=run/checkpoints/last.ckpt"])
    metrics = cli.trainer.callback_metrics
    for key in ("test/acc", "test/loss", *(f"test/acc_glimpse_{t}" for t in range(1, T + 1))):
        assert key in metrics, key
    assert "test/acc_glimpse_2" in read_run(tmp_path / "wandb").keys()


def test_checkpoint_rebuilds_its_own_model(tiny: list[str]):
    from lit_draw.module import AttentionClassifier

    main(["fit", *tiny, "--trainer.max_steps=1", "--trainer.limit_val_batches=0"])
    model = AttentionClassifier.load_from_checkpoint("run/checkpoints/last.ckpt")
    trace = model(torch.rand(3, 1, 32, 32))
    assert trace.logits.shape == (T, 3, 10)


def test_print_config_shows_the_resolved_config(tiny: list[str], capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", *tiny, "--print_config"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "lit_draw.models.DRAWClassifier" in out and "weighting: all" in out
    # a DRAW run carries no RAM or WS-RAM settings, and the canvas size is stated once, by the data
    assert "lit_draw.objectives.CrossEntropy" in out
    assert not any(key in out for key in ("reward:", "entropy_bonus:", "control_variates:", "grad_variance_every:"))
    assert out.count("canvas_size:") == 1


def test_the_data_canvas_size_reaches_the_net(tiny: list[str]):
    cli = main(["fit", *tiny, "--data.canvas_size=36", "--trainer.max_steps=1", "--trainer.limit_val_batches=0"])
    assert cli.model.net.canvas_size == 36 and cli.model.net.window.width == 36
    assert cli.model.hparams["net"]["init_args"]["canvas_size"] == 36  # and so does the checkpoint


def test_the_optimizer_comes_from_the_cli(tiny: list[str]):
    from torch.optim import SGD

    cli = main(["fit", *tiny, "--optimizer=SGD", "--optimizer.lr=0.05", "--trainer.max_steps=1",
                "--trainer.limit_val_batches=0"])
    optimizer = cli.trainer.optimizers[0]
    assert isinstance(optimizer, SGD) and optimizer.param_groups[0]["lr"] == 0.05


def test_a_scheduler_brings_a_learning_rate_monitor(tiny: list[str]):
    from lightning.pytorch.callbacks import LearningRateMonitor

    cli = main(["fit", *tiny, "--lr_scheduler=StepLR", "--lr_scheduler.step_size=1", "--trainer.max_steps=2",
                "--trainer.limit_val_batches=0"])
    assert any(isinstance(c, LearningRateMonitor) for c in cli.trainer.callbacks)
    assert "lr-Adam" in read_run(Path("wandb")).keys()


def test_an_objective_that_does_not_fit_the_net_is_one_line(tiny: list[str]):
    with pytest.raises(ValueError, match="Reinforce trains nets whose trace is 'policy', but DRAWClassifier"):
        main(["fit", *tiny, "--model.objective=lit_draw.objectives.Reinforce", "--trainer.max_steps=1"])


def test_bad_weighting_is_reported_by_name(tiny: list[str]):
    with pytest.raises(ValueError, match="weighting must be one of last, all, linear, exponential"):
        main(["fit", *tiny, "--model.objective.init_args.weighting=first", "--trainer.max_steps=1"])


def test_runs_stay_offline_after_wandb_was_set_up_in_the_same_process(
    tiny: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    import wandb

    monkeypatch.delenv("WANDB_MODE")  # W&B set up while the environment did not say offline
    run = wandb.init(project="earlier", mode="offline", dir=tmp_path)  # e.g. a notebook cell
    run.finish()
    monkeypatch.setenv("WANDB_MODE", "offline")
    cli = main(["fit", *tiny, "--trainer.max_steps=1", "--trainer.limit_val_batches=0"])
    assert cli.trainer.global_step == 1
    assert "train/loss" in read_run(tmp_path / "wandb").keys()  # the newest run: ours, offline
