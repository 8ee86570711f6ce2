"""``python -m lit_draw plateau``: each probe's exit and setting, read from what the run saved."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import yaml

from lit_draw.__main__ import main
from lit_draw.errors import ConfigError
from lit_draw.experiments import plateau
from tests.conftest import tiny_draw_args

STUDY = {
    "seed_everything": 1,
    "model": {
        "net": {"class_path": "lit_draw.models.DRAWClassifier", "init_args": {"filter": "paper"}},
        "objective": {"class_path": "lit_draw.objectives.CrossEntropy", "init_args": {"weighting": "last"}},
    },
    "optimizer": {"init_args": {"lr": 0.0001}},
    "data": {"batch_size": 1, "clutter": 8, "translate": True},
}


def _probe(root: Path, config: dict, curve: dict[int, float]) -> Path:
    """A fit's folder as the CLI leaves it: ``<root>/<id>/checkpoints/config.yaml`` and the W&B run's metrics.csv."""
    (root / "abc123" / "checkpoints").mkdir(parents=True)
    (root / "abc123" / "checkpoints" / "config.yaml").write_text(yaml.safe_dump(config))
    metrics = root / "wandb" / "offline-run-20261207_120000-abc123" / "csv" / "metrics.csv"
    metrics.parent.mkdir(parents=True)
    with metrics.open("w", newline="") as file:
        writer = csv.DictWriter(file, ["step", "epoch", "val/acc"])
        writer.writeheader()
        writer.writerows({"step": step - 1, "epoch": 0, "val/acc": acc} for step, acc in curve.items())
    return root


def test_the_exit_is_the_first_validation_at_30_percent_and_the_setting_is_read_from_the_config(tmp_path: Path):
    changed = {
        **STUDY,
        "init_from": "runs/probes/pre/checkpoints/last.ckpt",
        "reinit": ["classifier"],
        "model": {
            **STUDY["model"],
            "net": {**STUDY["model"]["net"], "init_args": {"init": "tf", "forget_bias": 1.0, "filter": "dram"}},
            "clip_per_tensor": True,
            "trainable": ["classifier"],
        },
        "data": {**STUDY["data"], "clutter": 0, "translate_curriculum": 2500, "translate_hold": 1000},
    }
    run = _probe(tmp_path / "p", changed, {1000: 0.12, 2000: 0.31, 3000: 0.29, 30000: 0.5})
    probe = plateau.load_probe(run)
    assert (probe.weighting, probe.seed, probe.exit(), probe.updates) == ("last", 1, 2000, 30000)
    assert probe.setting == (
        "lr 0.0001, tf init, forget bias 1, dram filter, per-tensor clip, clutter 0, "
        "placement centred for 1k, then widened over 2.5k canvases, from pre, trains classifier, fresh classifier"
    )
    flat = plateau.load_probe(_probe(tmp_path / "q", STUDY, {1000: 0.12, 2000: 0.18}))
    assert flat.exit() is None and flat.setting == "lr 0.0001"
    table = plateau.table([probe, flat])
    assert "| lr 0.0001 | last | 1 | 2,000 | none | - | 18.0% |" in table
    assert "| 30,000 | 2,000 | 50.0% | 50.0% |" in table


def test_a_kept_probe_reads_as_its_run(tmp_path: Path):
    run = _probe(tmp_path / "runs" / "p", STUDY, {1000: 0.12, 2000: 0.31})
    kept = plateau.keep_probe(run, tmp_path / "records")
    assert kept == tmp_path / "records" / "p"
    assert plateau.load_probe(kept).curve == plateau.load_probe(run).curve == {1000: 0.12, 2000: 0.31}
    assert plateau.load_probe(kept).setting == plateau.load_probe(run).setting


def test_a_seed_kept_by_reproduce_is_described_by_the_config_kept_beside_it(tmp_path: Path):
    """A reproduce row's seed (``records/<row>/seed<k>``, seed_runs.keep_seed) reads as a probe: its
    setting from the kept config and the row's name (a curriculum row is not "the study's setup"),
    and, kept before configs were kept, the study's setup with the weighting in the row's name."""
    from lit_draw.cli.metrics_csv import write_rows
    from lit_draw.experiments.results import write_json
    from lit_draw.experiments.seed_runs import CONFIG_FILE, RECORD_FILE, TRAIN_FILE, keep_seed

    run = _probe(tmp_path / "runs" / "study_last_step_curriculum" / "seed2", STUDY, {1000: 0.12, 2000: 0.31})
    curriculum = {**STUDY, "data": {**STUDY["data"], "translate_hold": 10000, "translate_curriculum": 50000}}
    (run / "checkpoints").symlink_to("abc123/checkpoints")  # the link a fit leaves to its folder
    (run / "abc123" / "checkpoints" / "config.yaml").write_text(yaml.safe_dump(curriculum))
    write_json(run / RECORD_FILE, {"row": "study_last_step_curriculum", "seed": 2})
    kept = tmp_path / "records" / "study_last_step_curriculum" / "seed2"
    keep_seed(run, kept)
    assert yaml.safe_load((kept / CONFIG_FILE).read_text()) == curriculum
    probe = plateau.load_probe(kept)
    assert probe.setting == (
        "lr 0.0001, placement centred for 10k, then widened over 50k canvases (row study_last_step_curriculum)"
    )
    assert (probe.weighting, probe.seed, probe.curve) == ("last", 2, {1000: 0.12, 2000: 0.31})

    old = tmp_path / "records" / "study_all_step" / "seed0"
    old.mkdir(parents=True)
    write_rows(old / TRAIN_FILE, [{"step": 999, "val/acc": 0.11}])
    write_json(old / RECORD_FILE, {"row": "study_all_step", "seed": 0})
    probe = plateau.load_probe(old)
    assert (probe.setting, probe.weighting) == ("the study's setup (row study_all_step)", "all")


def test_a_folder_without_a_fit_is_one_line(tmp_path: Path):
    with pytest.raises(ConfigError, match=r"^plateau: .* holds no fit"):
        plateau.load_probe(tmp_path)


def test_spreads_score_a_probes_last_checkpoint_on_digits_placed_ever_wider(
    synthetic_mnist_root: Path, offline_in_tmp: Path
):
    """``--spreads``: a real (tiny) fit's last checkpoint scored on validation digits centred and anywhere."""
    tiny = tiny_draw_args(
        synthetic_mnist_root, canvas=40, glimpses=2, read_n=3, width=8, batch_size=8, val_size=64, train_size=32
    )
    main(
        [
            "fit",
            *tiny,
            "--trainer.callbacks=[]",
            "--trainer.max_steps=2",
            "--trainer.log_every_n_steps=1",
            "--trainer.default_root_dir=probe",
            "--trainer.enable_model_summary=false",
        ]
    )
    text = plateau.main(["probe", "--spreads", "0", "1"])
    row = next(line for line in text.splitlines() if line.startswith("| `probe` |"))
    cells = row.strip("|").split("|")
    assert cells[1].strip() == "2" and all(cell.strip().endswith("%") for cell in cells[2:])
    step, (centred, anywhere) = plateau.accuracy_by_spread(Path("probe"), [0.0, 1.0], count=64)
    assert step == 2 and 0 <= centred <= 1 and 0 <= anywhere <= 1
    with pytest.raises(ConfigError, match="holds no last.ckpt"):
        plateau.accuracy_by_spread(Path("nothing"), [0.0])
