"""``python -m lit_draw reproduce`` end to end on a tiny row, and the results table from records."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml
from PIL import Image

from lit_draw import figures, plots, reproduce, results
from lit_draw.cli import ConfigError, main
from lit_draw.wandb_reader import read_run
from tests.conftest import tiny_draw_args

#: Callbacks of the tiny row: what the figure script reads, every step.
TINY_CALLBACKS = (
    "--trainer.callbacks=[{class_path: lit_draw.callbacks.WeightUpdateNorm, init_args: {every_n_steps: 1}}, "
    "{class_path: lit_draw.callbacks.CellStateDrift}, {class_path: lit_draw.callbacks.ConfusionMatrix}]"
)


def _tiny_rows(directory: Path, root: Path, budget: dict[str, int], seeds: int) -> Path:
    """A rows file with one tiny DRAW row (8 training steps an epoch, validation every 2 steps)."""
    sizes = dict(batch_size=8, val_size=16, train_size=64, test_size=48)
    args = tiny_draw_args(root, canvas=28, glimpses=2, read_n=3, width=8, **sizes)
    at = args.index("--config")
    config = args[at + 1]
    del args[at : at + 2]  # the row names the config
    args = [a for a in args if not a.startswith("--trainer.default_root_dir")]  # reproduce sets it per seed
    args += [TINY_CALLBACKS, "--trainer.log_every_n_steps=1", "--trainer.val_check_interval=2"]
    row = {
        "name": "tiny", "configs": [config], "args": [*args, "--trainer.enable_model_summary=false"],
        "published": [80.0, 90.0],
        "source": "a test", "budget": budget, "seeds": seeds, "group": "small",
    }
    path = directory / "rows.yaml"
    path.write_text(yaml.safe_dump([row]))
    return path


def _records(row: str = "tiny") -> dict[int, dict]:
    return {r["seed"]: r for r in (json.loads(p.read_text()) for p in Path(f"runs/reproduce/{row}").glob("seed*/test_metrics.json"))}


def test_list_prints_every_row_with_its_published_figure_budget_and_status(capsys: pytest.CaptureFixture[str]):
    reproduce.main(["--list"])
    out = capsys.readouterr().out
    rows = reproduce.load_rows()
    assert {"study_all_step", "study_last_step", "ram_cluttered100", "wsram_figure2_ws_ram_q_c"} <= rows.keys()
    assert len([line for line in out.splitlines() if not line.startswith(" ")]) == len(rows)
    assert "ram_cluttered100  [" in out and "10.83%" in out and "5.9%" in out and "200 epochs x 3 seeds" in out
    assert "4.04-5.23%" in out  # a published range
    for row in rows.values():  # every shipped row's config files exist
        assert all((reproduce.ROWS_FILE.parents[1] / path).is_file() for path in row.configs), row


def test_unknown_row_and_bad_budget_are_one_line_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path):
    with pytest.raises(SystemExit):
        reproduce.main(["no_such_row"])
    assert "ROW must be one of study_all_step" in capsys.readouterr().err
    rows = tmp_path / "rows.yaml"
    rows.write_text(yaml.safe_dump([{"name": "x", "configs": ["a.yaml"], "budget": {"steps": 3}}]))
    with pytest.raises(ConfigError, match=r"Row.budget must be \{epochs: N\} or \{updates: N\}.*got \{'steps': 3\}"):
        reproduce.load_rows(rows)


@pytest.mark.slow
def test_two_seeds_run_resume_regenerate_results_and_the_exported_checkpoint_retests_the_same(
    mnist_root: Path, offline_in_tmp: Path, capsys: pytest.CaptureFixture[str]
):
    rows = _tiny_rows(offline_in_tmp, mnist_root, {"updates": 4}, seeds=2)

    # stopped short: 2 of the 4 updates
    reproduce.main(["tiny", "--rows", str(rows), "--", "--trainer.max_steps=2"])
    first = _records()
    assert sorted(first) == [0, 1]
    assert [(r["status"], r["updates_done"], r["epochs_done"]) for r in first.values()] == [("partial", 2, 0.25)] * 2
    (entry,) = json.loads(Path("results.json").read_text())
    assert entry["status"] == "partial" and entry["updates_done"] == [2, 2]
    assert "partial: 2 of 2 seeds (0, 1); updates done 2, 2 of 4" in Path("RESULTS.md").read_text()

    # again: each seed continues from its last checkpoint, into the same W&B run
    reproduce.main(["tiny", "--rows", str(rows)])
    second = _records()
    assert [(r["status"], r["updates_done"]) for r in second.values()] == [("done", 4)] * 2
    for seed in (0, 1):
        runs = sorted(Path(f"runs/reproduce/tiny/seed{seed}/wandb").glob("offline-run-*"))
        assert len(runs) == 2 and runs[0].name[-8:] == runs[1].name[-8:]  # one W&B run id, resumed
        steps = [row["trainer/global_step"] for row in read_run(runs[1]).history if "train/loss" in row]
        assert steps == [2, 3], steps  # resumed at step 2, not restarted
        assert second[seed]["checkpoint"].endswith(".ckpt") and "best-" in second[seed]["checkpoint"]
        assert second[seed]["wall_time_s"] > first[seed]["wall_time_s"]  # accumulated over both runs
        assert second[seed]["metrics"]["test/acc"] == pytest.approx(1 - second[seed]["test_error"] / 100)
    assert second[0]["metrics"] != second[1]["metrics"]  # the seeds differ
    errors = [second[s]["test_error"] for s in (0, 1)]
    (entry,) = json.loads(Path("results.json").read_text())
    assert entry["status"] == "done" and entry["seeds"] == [0, 1]
    assert entry["test_error"] == pytest.approx(sum(errors) / 2, abs=1e-3)
    assert entry["test_error_sd"] == pytest.approx(abs(errors[0] - errors[1]) / 2**0.5, abs=1e-3)
    assert entry["vs_published"] == pytest.approx(entry["test_error"] - 80.0, abs=0.01)
    assert len(entry["acc_per_glimpse"]) == 2 and entry["test_error_mc"] is None  # DRAW samples nothing
    assert entry["checkpoint"] == "checkpoints/tiny.ckpt" and entry["checkpoint_seed"] in (0, 1)
    markdown = Path("RESULTS.md").read_text()
    assert "| `tiny` | 80-90% |" in markdown and "done, 2 seeds" in markdown and "| t=1 | t=2 |" in markdown

    # a finished row does nothing more
    assert reproduce.main(["small", "--rows", str(rows)]) == {"tiny": []}
    assert _records() == second
    reproduce.main(["--list", "--rows", str(rows)])
    assert "tiny  [done, 2 seeds]" in capsys.readouterr().out

    # the exported checkpoint: weights and hyperparameters only, and it re-tests to the same error
    exported = torch.load("checkpoints/tiny.ckpt", weights_only=False)
    assert set(exported) <= set(reproduce.EXPORTED_KEYS) and "optimizer_states" not in exported
    assert {"state_dict", "hyper_parameters"} <= set(exported)
    config = yaml.safe_load(Path("checkpoints/tiny.yaml").read_text())
    assert config["trainer"]["logger"]["init_args"]["offline"] is True and config["data"]["root"] is None
    cli = main(["test", "--config", "checkpoints/tiny.yaml", "--ckpt_path", "checkpoints/tiny.ckpt"])
    retested = 100 * (1 - cli.trainer.callback_metrics["test/acc"].item())
    assert retested == pytest.approx(second[entry["checkpoint_seed"]]["test_error"], abs=1e-6)

    # the figure script reads these runs: both resumed parts of training, the test run and its files
    seeds = figures.load_seeds(Path("runs/reproduce"), "tiny")
    assert [s.seed for s in seeds] == [0, 1]
    for s in seeds:
        assert len(figures.curve(s.history, "val/acc")) == 2  # validated every 2 of the 4 steps
        assert len(figures.curve(s.history, "weight_update/decoder.weight_hh")) == 4  # every step, both parts
        assert sum(map(sum, s.confusion)) == 48  # every test canvas once
        assert "test/cell_drift/decoder/2" in s.test_history[-1] and s.record["seed"] == s.seed
    shutil.copytree("runs/reproduce/tiny", "runs/reproduce/tiny_copy")
    written = figures.main(["--out", "figs", "--study", "tiny", "tiny_copy", "--wsram", "tiny"])
    assert sorted(p.name for p in written) == sorted(figures.FIGURES)


@pytest.mark.slow
def test_max_time_stops_a_seed_short_and_the_next_run_continues_it(mnist_root: Path, offline_in_tmp: Path):
    rows = _tiny_rows(offline_in_tmp, mnist_root, {"epochs": 1000}, seeds=1)
    # validation once an epoch, as in the shipped configs: Lightning then saves last.ckpt where the time ran out
    once_an_epoch = ["--", "--trainer.val_check_interval=1.0"]
    reproduce.main(["tiny", "--rows", str(rows), "--max-time", "00:00:02", *once_an_epoch])
    first = _records()[0]
    assert first["status"] == "partial" and 0 < first["updates_done"] < 8000
    reproduce.main(["tiny", "--rows", str(rows), "--max-time", "00:00:02", *once_an_epoch])
    second = _records()[0]
    # it got its own 2 s on top of the first run's: without them Lightning's Timer would stop it at once
    assert second["status"] == "partial" and second["updates_done"] > first["updates_done"]


def test_a_resumed_seed_gets_its_time_share_on_top_of_the_training_time_in_its_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(tmp_path)
    row = reproduce.Row(name="r", configs=("c.yaml",), budget={"updates": 10}, args=("--data.batch_size=8",))
    run = reproduce.SeedRun(row, seed=2, overrides=["--trainer.precision=bf16-mixed"])
    assert run.fit_args(max_time_s=None) == [
        "fit", "--config", "c.yaml", "--data.batch_size=8", "--trainer.max_steps=10", "--trainer.max_epochs=-1",
        "--trainer.precision=bf16-mixed", "--seed_everything=2", "--trainer.default_root_dir=runs/reproduce/r/seed2",
    ]
    last = tmp_path / "runs/reproduce/r/seed2/checkpoints/last.ckpt"
    last.parent.mkdir(parents=True)
    torch.save({"callbacks": {"Timer": {"time_elapsed": {"train": 100.2, "validate": 7.0}}}}, last)
    assert run.fit_args(max_time_s=3600)[-2:] == [
        "--ckpt_path=runs/reproduce/r/seed2/checkpoints/last.ckpt", "--trainer.max_time=00:01:01:41",  # 3700.2 s, rounded up
    ]
    assert reproduce.parse_max_time("26:00:05") == 93605.0


def test_a_row_with_no_seeds_here_keeps_its_results_entry_from_another_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(tmp_path)
    rows = {name: reproduce.Row(name=name, configs=("c.yaml",), budget={"epochs": 1}) for name in ("here", "elsewhere")}
    elsewhere = {**results.summarise(rows["elsewhere"], [_record(0, 2.0)]), "checkpoint_seed": 0}
    Path("results.json").write_text(json.dumps([elsewhere]))
    reproduce.write_results(rows, {})
    entries = json.loads(Path("results.json").read_text())
    assert [e["row"] for e in entries] == ["here", "elsewhere"]
    assert entries[0]["status"] == "not run" and entries[1] == elsewhere
    assert "| `elsewhere` | none given |  | 2.00% |" in Path("RESULTS.md").read_text()


def _record(seed: int, error: float, status: str = "done", mc: float | None = None) -> dict:
    return {
        "seed": seed, "status": status, "budget": {"epochs": 10}, "epochs_done": 10.0 if status == "done" else 4.0,
        "updates_done": 100, "test_error": error, "test_error_mc": mc, "acc_per_glimpse": [50.0 + seed, 100 - error],
        "device": "cpu", "wall_time_s": 60.0, "date": f"2026-11-2{seed}T00:00:00+00:00", "commit": "abc",
    }


def test_summary_means_and_sds_over_seeds_and_marks_short_rows_partial():
    row = reproduce.Row(name="r", configs=("c.yaml",), budget={"epochs": 10}, published=[1.0, 2.0], seeds=3)
    assert results.summarise(row, [])["status"] == "not run"
    records = [_record(0, 2.0, mc=1.0), _record(1, 4.0, mc=3.0), _record(2, 9.0, mc=2.0)]
    entry = results.summarise(row, records)
    assert entry["status"] == "done" and entry["test_error"] == 5.0 and entry["test_error_sd"] == pytest.approx(3.606, abs=1e-3)
    assert entry["test_error_mc"] == 2.0 and entry["vs_published"] == 4.0  # against the range's low end
    assert entry["acc_per_glimpse"] == [51.0, 95.0] and entry["wall_time_s"] == 180.0 and entry["date"].startswith("2026-11-22")
    assert results.closest_to_mean(records)["seed"] == 1  # |4 - 5| is the smallest
    assert results.summarise(row, records[:2])["status"] == "partial"  # 2 of 3 seeds
    short = results.summarise(row, [*records[:2], _record(2, 9.0, status="partial")])
    assert results.describe_status(short) == "partial: 3 of 3 seeds (0, 1, 2); epochs done 10, 10, 4 of 10"
    markdown = results.render_markdown([entry])
    assert "| `r` | 1-2% |  | 5.00 ± 3.61% | 2.00 ± 1.00% | +4.00 pp | 10 epochs | done, 3 seeds |" in markdown
    assert "| `r` | 51.0 | 95.0 |" in markdown


def test_errors_from_test_metrics_are_percent():
    metrics = {"test/acc": 0.9, "test/acc_mc": 0.95, "test/acc_glimpse_1": 0.5, "test/acc_glimpse_2": 0.9, "test/loss": 0.3}
    errors = results.errors_from_metrics(metrics)
    assert errors["test_error"] == pytest.approx(10.0) and errors["test_error_mc"] == pytest.approx(5.0)
    assert errors["acc_per_glimpse"] == pytest.approx([50.0, 90.0])
    assert results.errors_from_metrics({"test/acc": 1.0})["test_error_mc"] is None


def _mean_row_of(image: Image.Image, colour: tuple[int, int, int]) -> float:
    """Mean pixel row of the pixels of exactly ``colour`` (a line's height in the chart)."""
    pixels = image.load()
    rows = [y for y in range(image.height) for x in range(image.width) if pixels[x, y] == colour]
    assert rows, f"no pixel of {colour}"
    return sum(rows) / len(rows)


def _synthetic_seed(seed: int, good: bool) -> figures.SeedRuns:
    """A seed whose accuracy is high (``good``) or low, with every key the figures read."""
    acc = 0.9 if good else 0.2
    history = [{"trainer/global_step": s, "val/acc": acc + 0.01 * seed, "train/acc": acc, "train/ess": 2.0 + seed,
                "train/grad_variance": 10.0 ** (1 - s), "weight_update/decoder.weight_hh": 0.1 / (s + 1)} for s in range(1, 6)]
    drift = {f"test/cell_drift/{cell}/{t}": (0.1 if good else 1.0) * t for cell in ("decoder", "encoder") for t in (2, 3)}
    confusion = [[5 if i == j else 0 for j in range(10)] for i in range(10)]
    if not good:
        confusion[1][3], confusion[1][1] = 3, 2  # true 1 predicted as 3
    record = {"acc_per_glimpse": [100 * acc - 10, 100 * acc + seed]}
    return figures.SeedRuns(seed, history, [drift], record, confusion)


def test_figures_from_synthetic_runs_put_each_row_where_its_numbers_are(tmp_path: Path):
    rows = {"study_all_step": [_synthetic_seed(s, good=True) for s in (0, 1)],
            "study_last_step": [_synthetic_seed(s, good=False) for s in (0, 1)]}
    made = figures.study_figures(rows)
    assert set(made) == set(figures.FIGURES) - {"wsram_figure2.png"}
    blue, red = plots.PALETTE[:2]  # All-Step first, Last-Step second
    for name in ("study_glimpse_accuracy.png", "study_val_accuracy.png"):
        assert _mean_row_of(made[name], blue) < _mean_row_of(made[name], red), name  # higher accuracy is higher up
    assert _mean_row_of(made["study_cell_drift.png"], blue) > _mean_row_of(made["study_cell_drift.png"], red)
    assert made["study_cell_drift.png"].width == 2 * 640  # decoder and encoder panels
    difference = made["study_confusion_difference.png"]  # Last-Step minus All-Step: +3 at (1, 3), -3 at (1, 1)
    cell, left, top = 40, 56, 52
    r, g, b = difference.getpixel((left + 3 * cell + 3, top + 1 * cell + 3))
    assert r > 200 and g < 100, (r, g, b)  # red: positive
    r, g, b = difference.getpixel((left + 1 * cell + 3, top + 1 * cell + 3))
    assert b > 150 and r < 100, (r, g, b)  # blue: negative
    figure2 = figures.wsram_figure2({row: [_synthetic_seed(0, good=i % 2 == 0)] for i, row in enumerate(figures.WSRAM_ROWS)})
    assert figure2.size == (4 * 640, 420)
    assert figures.wsram_figure2({row: [] for row in figures.WSRAM_ROWS}) is None


def test_training_error_of_an_estimator_with_q_comes_from_q():
    plain = _synthetic_seed(0, good=True)
    with_q = figures.SeedRuns(0, [{**{k: v for k, v in h.items() if k != "train/acc"}, "train/acc_q": 0.75}
                                  for h in plain.history], [], None, None)
    series, from_q = figures.training_error("wsram_figure2_ws_ram_c", [plain])
    assert (series.label, from_q) == ("WS-RAM+c", False)
    assert series.ys == pytest.approx([10.0] * 5)
    series, from_q = figures.training_error("wsram_figure2_ws_ram_q_c", [with_q])
    assert (series.label, from_q) == ("WS-RAM+q+c", True)
    assert series.ys == pytest.approx([25.0] * 5)


def test_nice_ticks_cover_the_range_in_round_steps():
    assert plots.nice_ticks(0.0, 1.0) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert plots.nice_ticks(3.0, 97.0) == [0.0, 20.0, 40.0, 60.0, 80.0, 100.0]
    assert plots.nice_ticks(5.0, 5.0) == [4.4, 4.6, 4.8, 5.0, 5.2, 5.4, 5.6]  # a flat line gets a range
