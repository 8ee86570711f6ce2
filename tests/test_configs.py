"""Every shipped experiment config runs through ``fit`` and then ``test``, at tiny data sizes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from lit_draw.cli import LitDrawCLI, check_args, main, trainer_defaults
from lit_draw.data import CanvasMNIST
from lit_draw.module import AttentionClassifier

CONFIGS = Path(__file__).parents[1] / "configs"
EXPERIMENTS = sorted(p for p in CONFIGS.glob("*.yaml") if p.name != "reproduce.yaml")
SHIPPED = sorted((Path(__file__).parents[1] / "checkpoints").glob("*.yaml"))


OVERLAYS = {"threshold_exit_draw": "quickstart_halting", "threshold_exit_ram": "ram_mnist_halting"}
#: overlays of the study's configs (not threshold-exit baselines)
STUDY_OVERLAYS = {"placement_curriculum"}
#: overlays that train a halting head alone on a frozen All-Step net of the config beneath
HEAD_OVERLAYS = {"halting_head": "quickstart"}


def test_the_placement_curriculum_overlay_changes_only_the_training_placement_of_the_study_configs(capsys):
    resolved = {}
    for overlays in ([], ["placement_curriculum"]):
        args = ["fit", "--config", str(CONFIGS / "draw_last_step.yaml")]
        args += [arg for name in overlays for arg in ("--config", str(CONFIGS / "overlays" / f"{name}.yaml"))]
        with pytest.raises(SystemExit):
            main([*args, "--print_config"])
        resolved[bool(overlays)] = yaml.safe_load(capsys.readouterr().out)
    assert (resolved[True]["data"].pop("translate_hold"), resolved[True]["data"].pop("translate_curriculum")) == (
        10000,
        50000,
    )
    assert (resolved[False]["data"].pop("translate_hold"), resolved[False]["data"].pop("translate_curriculum")) == (
        0,
        0,
    )
    assert resolved[True] == resolved[False]


def test_each_overlay_lays_the_threshold_exit_baseline_over_its_halting_config(capsys):
    every = set(OVERLAYS) | STUDY_OVERLAYS | set(HEAD_OVERLAYS)
    assert {p.stem for p in (CONFIGS / "overlays").glob("*.yaml")} == every
    for overlay, base in OVERLAYS.items():
        with pytest.raises(SystemExit):
            main(
                [
                    "fit",
                    "--config",
                    str(CONFIGS / f"{base}.yaml"),
                    "--config",
                    str(CONFIGS / "overlays" / f"{overlay}.yaml"),
                    "--print_config",
                ]
            )
        config = yaml.safe_load(capsys.readouterr().out)
        assert config["model"]["net"]["init_args"]["halting"] is False  # no head: the threshold exit's net
        assert config["model"]["objective"]["init_args"]["weighting"] == "all"  # every glimpse's answer usable
        (early_exit,) = [c for c in config["trainer"]["callbacks"] if c["class_path"].endswith("EarlyExit")]
        assert len(early_exit["init_args"]["taus"]) >= 10  # a dense threshold curve
        assert config["trainer"]["default_root_dir"] != f"runs/{base}"  # never mixed with the halting runs


def test_the_halting_head_overlay_trains_only_a_head_on_its_configs_net_and_sweeps_both_thresholds(capsys):
    for overlay, base in HEAD_OVERLAYS.items():
        resolved = {}
        for overlays in ([], [overlay]):
            args = ["fit", "--config", str(CONFIGS / f"{base}.yaml")]
            args += [arg for name in overlays for arg in ("--config", str(CONFIGS / "overlays" / f"{name}.yaml"))]
            with pytest.raises(SystemExit):
                main([*args, "--print_config"])
            resolved[bool(overlays)] = yaml.safe_load(capsys.readouterr().out)
        head, net = resolved[True], resolved[False]
        assert head["model"]["net"]["init_args"].pop("halting") is True
        assert net["model"]["net"]["init_args"].pop("halting") is False
        assert head["model"]["net"] == net["model"]["net"]  # the same net, with a head
        assert head["data"] == net["data"] and head["optimizer"] == net["optimizer"]
        assert head["model"]["trainable"] == ["halting"]  # the rest stays the All-Step net's
        assert head["model"]["objective"]["class_path"] == "lit_draw.objectives.PonderNet"
        callbacks = {c["class_path"].rsplit(".", 1)[-1]: c.get("init_args") for c in head["trainer"]["callbacks"]}
        assert len(callbacks["EarlyExit"]["taus"]) >= 10  # the confidence threshold, densely, on the same net
        assert set(callbacks["HaltingThresholds"]["rules"]) == {"lambda", "cumulative"}
        assert min(callbacks["HaltingThresholds"]["thresholds"]) <= 1e-3  # the head's curve starts near 1 glimpse
        assert head["trainer"]["default_root_dir"] != net["trainer"]["default_root_dir"]


def test_every_experiment_config_is_listed():
    names = {p.stem for p in EXPERIMENTS}
    assert {
        "quickstart",
        "draw_all_step",
        "draw_last_step",
        "draw_cluttered100",
        "ram_mnist",
        "ram_translated60",
        "ram_cluttered60",
        "ram_cluttered100",
        "wsram_translated_scaled",
        "var_translated_scaled",
        "quickstart_halting",
        "ram_mnist_halting",
        "ram_mnist_7glimpses",
        "draw_pretrain",
    } == names


@pytest.mark.slow
@pytest.mark.parametrize("config", EXPERIMENTS, ids=lambda p: p.stem)
def test_the_config_fits_and_tests_as_shipped(config: Path, mnist_root: Path, tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "offline")
    common = [
        "--config",
        str(config),
        f"--data.root={mnist_root}",
        "--data.batch_size=4",
        "--data.train_size=8",
        "--data.val_size=8",
        "--data.test_size=8",
        "--trainer.default_root_dir=run",
        "--trainer.enable_progress_bar=false",
    ]
    fit = main(
        [
            "fit",
            *common,
            "--trainer.max_steps=2",
            "--trainer.limit_val_batches=1",
            "--trainer.log_every_n_steps=1",
            *(["--model.objective.init_args.grad_variance_every=1"] if "translated_scaled" in config.name else []),
        ]
    )
    assert fit.trainer.global_step == 2
    # the run's config is one file that stands alone (configs that name data/*.yaml included)
    folder = Path("run/checkpoints")
    assert isinstance(yaml.safe_load((folder / "config.yaml").read_text())["data"], dict)
    assert sorted(p.name for p in folder.glob("*.yaml")) == ["config.yaml"]
    tested = main(["test", *common, "--trainer.limit_test_batches=1", "--ckpt_path=last"])
    assert 0.0 <= float(tested.trainer.callback_metrics["test/acc"]) <= 1.0


class _Built(Exception):
    """Raised by :class:`_BuildOnly` once ``test`` has built its model, data and trainer."""


class _BuildOnly(LitDrawCLI):
    """``test`` up to the point where it would run: parsed, checked, built."""

    def before_test(self) -> None:
        raise _Built(self)


def test_the_shipped_checkpoints_are_all_there():
    assert {p.stem for p in SHIPPED} >= {"ram_mnist", "study_all_step", "study_last_step"}
    assert all(p.with_suffix(".ckpt").is_file() for p in SHIPPED)


@pytest.mark.parametrize("config", SHIPPED, ids=lambda p: p.stem)
def test_every_shipped_checkpoint_loads_into_its_configs_model_through_the_test_command(config: Path, tmp_path: Path):
    """What ``python -m lit_draw test --config checkpoints/X.yaml --ckpt_path checkpoints/X.ckpt`` does
    before it tests: every class_path the config and the checkpoint store still imports, the CLI's
    checkpoint checks pass, and the weights load strictly into the model the config builds."""
    args = ["test", "--config", str(config), "--ckpt_path", str(config.with_suffix(".ckpt"))]
    check_args(args)  # the parser and the start-up checks, which read the checkpoint's hyperparameters
    with pytest.raises(_Built) as built:
        _BuildOnly(
            AttentionClassifier,
            CanvasMNIST,
            trainer_defaults=trainer_defaults(),
            save_config_callback=None,
            args=[*args, "--trainer.logger=false", f"--trainer.default_root_dir={tmp_path}"],
        )
    model = built.value.args[0].model
    checkpoint = torch.load(config.with_suffix(".ckpt"), map_location="cpu", weights_only=True)
    net_class = f"{type(model.net).__module__.rsplit('.', 1)[0]}.{type(model.net).__name__}"
    assert net_class == checkpoint["hyper_parameters"]["net"]["class_path"]
    model.load_state_dict(checkpoint["state_dict"], strict=True)
