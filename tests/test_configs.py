"""Every shipped experiment config runs through ``fit`` and then ``test``, at tiny data sizes."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lit_draw.cli import main

CONFIGS = Path(__file__).parents[1] / "configs"
EXPERIMENTS = sorted(p for p in CONFIGS.glob("*.yaml") if p.name != "reproduce.yaml")


def test_every_experiment_config_is_listed():
    names = {p.stem for p in EXPERIMENTS}
    assert {"quickstart", "draw_all_step", "draw_last_step", "draw_cluttered100", "ram_mnist", "ram_translated60",
            "ram_cluttered60", "ram_cluttered100", "wsram_translated_scaled", "var_translated_scaled",
            "quickstart_halting", "ram_mnist_halting", "ram_mnist_7glimpses"} == names


@pytest.mark.slow
@pytest.mark.parametrize("config", EXPERIMENTS, ids=lambda p: p.stem)
def test_the_config_fits_and_tests_as_shipped(config: Path, mnist_root: Path, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "offline")
    common = [
        "--config", str(config), f"--data.root={mnist_root}", "--data.batch_size=4", "--data.train_size=8",
        "--data.val_size=8", "--data.test_size=8", "--trainer.default_root_dir=run", "--trainer.enable_progress_bar=false",
    ]
    fit = main(["fit", *common, "--trainer.max_steps=2", "--trainer.limit_val_batches=1", "--trainer.log_every_n_steps=1",
                *(["--model.objective.init_args.grad_variance_every=1"] if "translated_scaled" in config.name else [])])
    assert fit.trainer.global_step == 2
    # the run's config is one file that stands alone (configs that name data/*.yaml included)
    folder = Path("run/checkpoints")
    assert isinstance(yaml.safe_load((folder / "config.yaml").read_text())["data"], dict)
    assert sorted(p.name for p in folder.glob("*.yaml")) == ["config.yaml"]
    tested = main(["test", *common, "--trainer.limit_test_batches=1", "--ckpt_path=last"])
    assert 0.0 <= float(tested.trainer.callback_metrics["test/acc"]) <= 1.0
