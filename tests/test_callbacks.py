"""Analysis callbacks: their maths on hand-made traces, and every key they log read back: the scalars
from the run's ``metrics.csv``, tables and images from the files W&B writes under ``files/media/``."""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
import yaml
from lightning.pytorch import Trainer
from lightning.pytorch.loggers import WandbLogger
from torch import nn

from lit_draw.callbacks import (
    AttentionPictures,
    CellStateDrift,
    ConfusionMatrix,
    DigitHitRate,
    EarlyExit,
    GateActivity,
    GlimpseAccuracyPlot,
    WeightUpdateNorm,
)
from lit_draw.callbacks.confusion import confusion_counts
from lit_draw.callbacks.digit_hit import centre_in_box
from lit_draw.callbacks.early_exit import early_exit
from lit_draw.callbacks.render import attention_picture
from lit_draw.cli import main
from lit_draw.cli.metrics_csv import read_metrics, values
from lit_draw.data import CanvasMNIST
from lit_draw.models.trace import Trace
from lit_draw.module import AttentionClassifier
from lit_draw.objectives import CrossEntropy

T, CANVAS, TEST_SIZE, TAUS = 3, 32, 32, [0.3, 0.6, 0.99]
CELLS, GATES = ("encoder", "decoder"), ("input", "forget", "output")


# ----------------------------------------------------------------------------- maths, exact


def test_early_exit_stops_at_first_confident_glimpse_or_the_last():
    probs = torch.tensor(
        [  # [T=3, B=2, C=2]
            [[0.6, 0.4], [0.5, 0.5]],
            [[0.2, 0.8], [0.45, 0.55]],
            [[0.1, 0.9], [0.3, 0.7]],
        ]
    )
    glimpses, predictions = early_exit(probs.log(), torch.tensor([0.55, 0.7, 0.95]))
    assert glimpses.tolist() == [[1, 2], [2, 3], [3, 3]]
    assert predictions.tolist() == [[0, 1], [1, 1], [1, 1]]


def test_centre_in_box_counts_the_edges_as_inside():
    boxes = torch.tensor([[2.0, 3.0, 5.0, 7.0]])
    center = torch.tensor([[2.0, 3.0], [5.0, 7.0], [1.9, 5.0], [4.0, 7.1]])[:, None]  # [T=4, B=1, 2]
    assert centre_in_box(center, boxes)[:, 0].tolist() == [True, True, False, False]


def test_confusion_counts_rows_are_true_classes():
    counts = confusion_counts(torch.tensor([0, 2, 2, 1]), torch.tensor([0, 1, 2, 1]), 3)
    assert counts.tolist() == [[1, 0, 0], [0, 1, 1], [0, 0, 1]]


def test_weight_update_is_distance_to_previous_snapshot_over_numel():
    net = nn.Module()
    net.decoder = nn.LSTMCell(2, 3)
    pl_module = SimpleNamespace(net=net, logged={})
    pl_module.log = lambda name, value, **_: pl_module.logged.__setitem__(name, float(value))
    trainer = SimpleNamespace(global_step=0, log_every_n_steps=2)
    callback = WeightUpdateNorm(every_n_steps=4)
    callback.setup(trainer, pl_module, "fit")
    callback.on_train_start(trainer, pl_module)
    with torch.no_grad():
        net.decoder.weight_hh += 0.5  # [12, 3]: distance sqrt(36 * 0.25) = 3
    trainer.global_step = 2
    callback.on_train_batch_end(trainer, pl_module, None, None, 0)
    assert pl_module.logged == {}
    trainer.global_step = 4
    callback.on_train_batch_end(trainer, pl_module, None, None, 0)
    assert pl_module.logged == pytest.approx(
        {"weight_update/decoder.weight_ih": 0.0, "weight_update/decoder.weight_hh": 3 / 36}
    )
    trainer.global_step = 8  # nothing moved since the snapshot at step 4
    callback.on_train_batch_end(trainer, pl_module, None, None, 0)
    assert pl_module.logged["weight_update/decoder.weight_hh"] == 0.0


def test_bad_callback_arguments_raise_value_errors_naming_the_field():
    net = nn.Module()
    net.decoder = nn.LSTMCell(2, 3)
    with pytest.raises(ValueError, match=r"WeightUpdateNorm.modules: 'core' .* its modules are \['decoder'\]"):
        WeightUpdateNorm(modules=["core"]).setup(SimpleNamespace(log_every_n_steps=1), SimpleNamespace(net=net), "fit")
    with pytest.raises(
        ValueError, match=r"every_n_steps \(30\) must be a multiple of trainer.log_every_n_steps \(20\)"
    ):
        WeightUpdateNorm(every_n_steps=30).setup(SimpleNamespace(log_every_n_steps=20), SimpleNamespace(net=net), "fit")
    with pytest.raises(ValueError, match="EarlyExit.taus must be a non-empty list of numbers in"):
        EarlyExit(taus=[0.5, 1.5])


def test_attention_pictures_are_drawn_every_n_epochs():
    callback = AttentionPictures(every_n_epochs=2)
    drawn = []
    callback._fixed_canvases = lambda trainer: drawn.append(trainer.current_epoch)  # then stops: None
    logger = WandbLogger(offline=True)  # never started: the callback stops before logging
    for epoch in range(5):
        trainer = SimpleNamespace(sanity_checking=False, current_epoch=epoch, is_global_zero=True, loggers=[logger])
        callback.on_validation_epoch_end(trainer, None)
    assert drawn == [0, 2, 4]
    with pytest.raises(ValueError, match="AttentionPictures.every_n_epochs must be a positive int, got 0"):
        AttentionPictures(every_n_epochs=0)


def test_attention_picture_draws_a_trace_without_optional_fields():
    trace = Trace(
        logits=torch.randn(2, 1, 10), center=torch.tensor([[[3.0, 4.0]], [[40.0, -5.0]]]), size=torch.ones(2, 1)
    )
    image = attention_picture(torch.rand(16, 16), trace, 0, label=None, zoom=2)
    assert image.mode == "RGB" and image.width >= 2 * 56 and image.height > 32


# ------------------------------------------------------------------ a model with only the mandatory fields


class CentreNet(nn.Module):
    """Looks at the canvas centre and classifies its mean: a Trace with only the mandatory fields
    (an AttentionNet with no policy, no halting head and one group)."""

    trace_kind = "differentiable"
    stochastic_policy = False
    halting = None
    groups = ("head",)

    def __init__(self, canvas_size: int = CANVAS, glimpses: int = 2) -> None:
        super().__init__()
        self.canvas_size, self.glimpses, self.num_classes = canvas_size, glimpses, 10
        self.head = nn.Linear(1, 10)

    def forward(self, images, labels=None, *, return_glimpses=False, return_gates=False) -> Trace:
        batch = len(images)
        logits = self.head(images.mean((1, 2, 3))[:, None]).expand(self.glimpses, batch, 10)  # [T, B, C]
        center = images.new_full((self.glimpses, batch, 2), (self.canvas_size - 1) / 2)  # [T, B, 2]
        return Trace(logits=logits, center=center, size=images.new_full((self.glimpses, batch), 8.0))


@pytest.mark.slow
def test_callbacks_skip_missing_trace_fields_and_log_scalars_without_wandb(mnist_root, tmp_path):
    data = CanvasMNIST(
        root=str(mnist_root), canvas_size=CANVAS, batch_size=16, val_size=32, train_size=32, test_size=TEST_SIZE
    )
    callbacks = [
        GlimpseAccuracyPlot(),
        EarlyExit(TAUS),
        WeightUpdateNorm(every_n_steps=1, modules=["head"]),
        CellStateDrift(),
        GateActivity(),
        AttentionPictures(num_canvases=2),
        DigitHitRate(),
        ConfusionMatrix(),
    ]
    trainer = Trainer(
        max_epochs=1,
        logger=False,
        callbacks=callbacks,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        log_every_n_steps=1,
    )
    model = AttentionClassifier(CentreNet(), CrossEntropy())
    trainer.fit(model, data)
    metrics = dict(trainer.callback_metrics)
    _, _, boxes = data.fixed_canvases("val")
    centre = torch.full((1, len(boxes), 2), (CANVAS - 1) / 2)
    assert metrics["val/hit_glimpse_2"] == pytest.approx(centre_in_box(centre, boxes).float().mean().item())
    assert metrics["val/early_exit/tau_0.99/glimpses"] == 2.0  # never that confident: every sample runs T glimpses
    assert metrics["weight_update/head.weight"] > 0
    trainer.test(model, data)
    metrics.update(trainer.callback_metrics)
    assert "test/hit_glimpse_1" in metrics and "test/early_exit/tau_0.3/acc" in metrics
    assert not any("cell_drift" in key or "gates" in key for key in metrics)
    assert model.eval_options == {}  # GateActivity's request is withdrawn after the run
    with open(tmp_path / "test_confusion.csv") as f:
        assert sum(int(n) for row in list(csv.reader(f))[1:] for n in row[1:]) == TEST_SIZE


# ------------------------------------------------------------- fit + test through the CLI, read back


@dataclass
class Logged:
    """What one W&B run folder holds: the scalars (``csv/metrics.csv``) and W&B's media files."""

    folder: Path

    def values(self, key: str) -> list[float]:
        return values(read_metrics(self.folder), key)

    def keys(self) -> set[str]:
        return set().union(*read_metrics(self.folder))

    def media(self, key: str, kind: str) -> list[Path]:
        """The files W&B wrote for ``key`` (``kind``: ``table``, ``images``), in logging order: W&B names
        them ``<key>_<its step>_<hash>.<suffix>``."""
        directory, name = (self.folder / "files" / "media" / kind / key).parent, key.rsplit("/", 1)[-1]
        steps = {p: re.fullmatch(rf"{re.escape(name)}_(\d+)_[0-9a-f]+\..+", p.name) for p in directory.glob("*")}
        return sorted((p for p, match in steps.items() if match), key=lambda p: int(steps[p].group(1)))

    def table(self, key: str) -> tuple[list[str], list[list]]:
        """``(columns, rows)`` of the newest table logged under ``key`` (a chart's data: ``<chart>_table``)."""
        data = json.loads(self.media(key, "table")[-1].read_text())
        return data["columns"], data["data"]


def _config(tmp_path) -> str:
    with open(Path(__file__).parents[1] / "configs" / "callbacks" / "analysis.yaml") as f:
        callbacks = yaml.safe_load(f)
    for callback in callbacks:
        if callback["class_path"].endswith("WeightUpdateNorm"):
            callback["init_args"]["every_n_steps"] = 2
        if callback["class_path"].endswith("EarlyExit"):
            callback["init_args"]["taus"] = TAUS
        if callback["class_path"].endswith("AttentionPictures"):
            callback["init_args"]["num_canvases"] = 3
    config = {
        "seed_everything": 0,
        "model": {
            "net": {
                "class_path": "lit_draw.models.DRAWClassifier",
                "init_args": dict(read_n=4, glimpses=T, enc_size=16, z_size=4, dec_size=16, hidden=16),
            },
            "objective": {"class_path": "lit_draw.objectives.CrossEntropy"},
        },
        "optimizer": {"class_path": "torch.optim.Adam", "init_args": {"lr": 0.003}},
        "data": dict(canvas_size=CANVAS, batch_size=16, val_size=32, train_size=64, test_size=TEST_SIZE),
        "trainer": {
            "default_root_dir": str(tmp_path / "runs"),
            "max_epochs": 1,
            "log_every_n_steps": 2,
            "enable_progress_bar": False,
            "enable_model_summary": False,
            "callbacks": callbacks,
        },
    }
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


@pytest.fixture(scope="module")
def runs(mnist_root, tmp_path_factory):
    """A tiny DRAW fit and test with every callback on; the two offline W&B runs, read back."""
    tmp_path = tmp_path_factory.mktemp("callbacks")
    with pytest.MonkeyPatch.context() as mp:
        config = _config(tmp_path)
        mp.chdir(tmp_path)
        mp.setenv("WANDB_MODE", "offline")
        mp.setenv("WANDB_SILENT", "true")
        common = ["--config", config, "--data.root", str(mnist_root)]
        main(["fit", *common])
        (fit_dir,) = (tmp_path / "wandb").glob("offline-run-*")
        main(["test", *common, "--ckpt_path", str(tmp_path / "runs" / "checkpoints" / "last.ckpt")])
    # run directories are named to the second: tell the two apart by order of creation
    (test_dir,) = set((tmp_path / "wandb").glob("offline-run-*")) - {fit_dir}
    return Logged(fit_dir), Logged(test_dir)


def _scalars(run, key):
    values = run.values(key)
    assert values, f"{key} was not logged"
    return values


@pytest.mark.slow
def test_per_glimpse_accuracy_is_plotted_from_the_scalars_logged_once(runs):
    for run, stage in zip(runs, ("val", "test"), strict=True):
        accuracy = [_scalars(run, f"{stage}/acc_glimpse_{t}") for t in range(1, T + 1)]
        assert all(len(values) == 1 and 0 <= values[0] <= 1 for values in accuracy)  # one epoch, logged once
        columns, rows = run.table(f"{stage}/acc_per_glimpse_table")  # the line plot's data
        assert columns == ["glimpse", "accuracy"]
        assert rows == [[t, pytest.approx(values[0])] for t, values in enumerate(accuracy, start=1)]


@pytest.mark.slow
def test_early_exit_table_has_a_row_per_tau(runs):
    for run, stage in zip(runs, ("val", "test"), strict=True):
        columns, rows = run.table(f"{stage}/early_exit_table")
        assert columns == ["tau", "accuracy", "mean_glimpses"]
        assert [row[0] for row in rows] == TAUS
        assert all(0 <= acc <= 1 and 1 <= used <= T for _, acc, used in rows)
        assert [used for *_, used in rows] == sorted(used for *_, used in rows)  # a higher tau never stops sooner
        assert _scalars(run, f"{stage}/early_exit/tau_0.99/glimpses") == [pytest.approx(rows[-1][2])]


@pytest.mark.slow
def test_weight_update_norms_are_logged_every_n_steps(runs):
    fit = runs[0]
    for cell in CELLS:
        for matrix in ("weight_ih", "weight_hh"):
            values = _scalars(fit, f"weight_update/{cell}.{matrix}")
            assert len(values) == 2 and all(v > 0 for v in values)  # 4 steps, every 2


@pytest.mark.slow
def test_cell_drift_gates_and_hits_per_glimpse(runs):
    for run, stage in zip(runs, ("val", "test"), strict=True):
        for cell in CELLS:
            assert all(_scalars(run, f"{stage}/cell_drift/{cell}/{t}")[0] >= 0 for t in range(2, T + 1))
            for gate in GATES:
                assert all(0 <= _scalars(run, f"{stage}/gates/{cell}/{gate}/{t}")[0] <= 1 for t in range(1, T + 1))
            assert run.media(f"{stage}/gates/{cell}_table", "table")  # the plot's data
        assert f"{stage}/cell_drift/encoder/1" not in run.keys()
        assert run.media(f"{stage}/cell_drift_table", "table")
        assert all(0 <= _scalars(run, f"{stage}/hit_glimpse_{t}")[0] <= 1 for t in range(1, T + 1))


@pytest.mark.slow
def test_attention_pictures_are_saved_images(runs):
    paths = runs[0].media("val/attention", "images")  # one validation: 3 pictures (captions are in W&B's log only)
    assert len(paths) == 3 and all(p.suffix == ".png" and p.stat().st_size > 0 for p in paths)


@pytest.mark.slow
def test_confusion_matrix_chart_and_csv_agree_with_test_accuracy(runs):
    test = runs[1]
    columns, rows = test.table("test/confusion_table")
    assert columns == ["Actual", "Predicted", "nPredictions"]
    assert sum(n for *_, n in rows) == TEST_SIZE
    with open(test.folder / "files" / "test_confusion.csv") as f:
        matrix = [[int(n) for n in row[1:]] for row in list(csv.reader(f))[1:]]
    assert sum(map(sum, matrix)) == TEST_SIZE
    correct = sum(matrix[c][c] for c in range(10))
    assert math.isclose(correct / TEST_SIZE, _scalars(test, f"test/acc_glimpse_{T}")[0], rel_tol=1e-6)


@pytest.mark.slow
def test_periodic_test_scores_the_test_set_as_the_test_command_does(tiny_fit, tmp_path: Path):
    """The study's every-1000-updates test curve: its value at the last validation equals ``test``
    of the final weights, glimpse by glimpse."""
    args = [
        *tiny_fit(batch_size=8, val_size=16, train_size=64, test_size=40),
        "--data.eval_batch_size=16",
        "--trainer.max_steps=6",
        "--trainer.val_check_interval=3",
        "--trainer.log_every_n_steps=1",
        "--trainer.callbacks+=lit_draw.callbacks.PeriodicTest",
    ]
    main(["fit", *args])
    rows = read_metrics(sorted((tmp_path / "wandb").glob("*run-*")))
    curve = [(row["step"], row) for row in rows if "periodic_test/acc" in row]
    assert [step for step, _ in curve] == [2, 5]  # after each validation, not the sanity check
    tested = main(["test", *args, "--ckpt_path=last"]).trainer.callback_metrics
    last = curve[-1][1]
    assert last["periodic_test/acc"] == pytest.approx(tested["test/acc"].item())
    for t in (1, 2):
        assert last[f"periodic_test/acc_glimpse_{t}"] == pytest.approx(tested[f"test/acc_glimpse_{t}"].item())
