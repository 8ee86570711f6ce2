"""The figure script: what it reads from a reproduce run's folders, and what each figure shows.

Figures are checked through matplotlib's own objects (the lines' data, the heatmap's values, the
bands' outlines), not through pixels. ``tests/test_reproduce.py`` runs the script on real runs of
``python -m lit_draw reproduce``.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from lit_draw.experiments import figures, plots
from lit_draw.experiments.seed_runs import keep_seed


def _synthetic_seed(seed: int, good: bool) -> figures.SeedRuns:
    """A seed whose accuracy is high (``good``) or low, with every key the figures read."""
    acc = 0.9 if good else 0.2
    history = [
        {
            "step": s,
            "val/acc": acc + 0.01 * seed,
            "train/acc": acc,
            "train/ess": 2.0 + seed,
            "train/grad_variance": 10.0 ** (1 - s),
            "weight_update/decoder.weight_hh": 0.1 / (s + 1),
        }
        for s in range(1, 6)
    ]
    drift = {
        f"test/cell_drift/{cell}/{t}": (0.1 if good else 1.0) * t for cell in ("decoder", "encoder") for t in (2, 3)
    }
    confusion = [[5 if i == j else 0 for j in range(10)] for i in range(10)]
    if not good:
        confusion[1][3], confusion[1][1] = 3, 2  # true 1 predicted as 3
    record = {"acc_per_glimpse": [100 * acc - 10, 100 * acc + seed]}
    return figures.SeedRuns(seed, history, [drift], record, confusion)


def _line(figure: Figure, label: str, panel: int = 0) -> np.ndarray:
    """The y values of the line labelled ``label`` in ``panel``."""
    (line,) = [line for line in figure.axes[panel].get_lines() if line.get_label() == label]
    return np.asarray(line.get_ydata())


def test_figures_from_synthetic_runs_put_each_row_where_its_numbers_are():
    rows = {
        "study_all_step": [_synthetic_seed(s, good=True) for s in (0, 1)],
        "study_last_step": [_synthetic_seed(s, good=False) for s in (0, 1)],
    }
    made = figures.study_figures(rows)
    assert set(made) == set(figures.FIGURES) - {"wsram_figure2.png"}
    glimpses = made["study_glimpse_accuracy.png"]
    assert _line(glimpses, "All-Step") == pytest.approx([80.0, 90.5])  # mean over seeds 0 and 1
    assert _line(glimpses, "Last-Step") == pytest.approx([10.0, 20.5])
    assert _line(made["study_val_accuracy.png"], "All-Step") == pytest.approx([90.5] * 5)  # percent
    updates = made["study_weight_updates.png"]  # fig. 7: beside the updates, Last-Step's accuracy on a twin axis
    (twin,) = [ax for ax in updates.axes if ax.get_ylabel() == "val accuracy (%)"]
    (accuracy,) = twin.get_lines()
    assert accuracy.get_label() == "Last-Step val accuracy" and list(accuracy.get_ydata()) == pytest.approx([20.5] * 5)
    drift = made["study_cell_drift.png"]
    assert [ax.get_title() for ax in drift.axes] == ["decoder", "encoder"]  # the decoder first
    assert _line(drift, "Last-Step", panel=1) == pytest.approx([2.0, 3.0])
    difference = made["study_confusion_difference.png"].axes[0].images[0].get_array()  # Last-Step minus All-Step
    assert difference[1, 3] == 3 and difference[1, 1] == -3 and np.count_nonzero(difference) == 2
    figure2 = figures.wsram_figure2(
        {row: [_synthetic_seed(0, good=i % 2 == 0)] for i, row in enumerate(figures.WSRAM_ROWS)}
    )
    assert len(figure2.axes) == 4 and figure2.axes[1].get_yscale() == "log"
    assert _line(figure2, "VAR", panel=3) == pytest.approx([10.0] * 5)  # validation error, percent
    assert figures.wsram_figure2({row: [] for row in figures.WSRAM_ROWS}) is None


def test_a_band_is_the_seeds_spread_and_a_nonnegative_quantitys_band_stops_at_zero():
    figure, (ax,) = plots.panels(1)
    series = figures.mean_series("drift", [{1: 0.1, 2: 0.4}, {1: 0.9, 2: 0.6}])
    assert series.ys == pytest.approx([0.5, 0.5]) and series.sd == pytest.approx([0.5657, 0.1414], abs=1e-4)
    plots.line_chart(ax, [series], "t", "x", "y", nonnegative=True)
    (band,) = ax.collections
    edges = sorted({round(y, 4) for y in band.get_paths()[0].vertices[:, 1]})
    assert edges == [0.0, 0.3586, 0.6414, 1.0657]  # 0.5 - 0.57 clipped at 0, 0.5 - 0.14, 0.5 + 0.14, 0.5 + 0.57


def test_figures_are_written_as_png_and_vector_pdf(tmp_path: Path):
    figure, (ax,) = plots.panels(1)
    plots.line_chart(ax, [plots.Series("a", [1, 2, 3], [1.0, 2.0, 1.5], [0.1, 0.2, 0.1])], "title", "x", "y")
    png, pdf = plots.save(figure, tmp_path / "chart.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    data = pdf.read_bytes()
    assert data[:5] == b"%PDF-" and b"/Subtype /Image" not in data  # lines and text, no raster image


def _write_metrics(folder: Path, rows: list[dict[str, float]]) -> None:
    """A ``metrics.csv`` as lit_draw's CSV logger writes it, in a W&B run folder."""
    (folder / "csv").mkdir(parents=True)
    keys = sorted({key for row in rows for key in row})
    with (folder / "csv" / "metrics.csv").open("w", newline="") as file:
        writer = csv.DictWriter(file, fieldnames=keys)
        writer.writeheader()
        writer.writerows(rows)


def test_load_seeds_reads_every_resumed_part_in_order_and_the_newest_test(tmp_path: Path):
    seed = tmp_path / "runs" / "row" / "seed0"
    _write_metrics(
        seed / "wandb" / "offline-run-20260101_120000-abc", [{"step": 1, "val/acc": 0.1}, {"step": 2, "val/acc": 0.2}]
    )
    # the resumed part (same run id, a later start) logs step 2 again, then step 3
    _write_metrics(
        seed / "wandb" / "offline-run-20260101_130000-abc", [{"step": 2, "val/acc": 0.25}, {"step": 3, "val/acc": 0.3}]
    )
    _write_metrics(
        seed / "test" / "wandb" / "offline-run-20260101_140000-old", [{"step": 0, "test/cell_drift/decoder/2": 9.0}]
    )
    newest = seed / "test" / "wandb" / "offline-run-20260101_150000-new"
    _write_metrics(newest, [{"step": 0, "test/cell_drift/decoder/2": 1.0}])
    (newest / "files").mkdir()
    (newest / "files" / "test_confusion.csv").write_text("true\\predicted,0,1\n0,3,1\n1,0,4\n")
    (seed / "test_metrics.json").write_text(json.dumps({"seed": 0, "acc_per_glimpse": [50.0, 87.5]}))

    (loaded,) = figures.load_seeds(tmp_path / "runs", "row")
    assert figures.curve(loaded.history, "val/acc") == {1: 0.1, 2: 0.25, 3: 0.3}  # a step logged again: its later value
    assert loaded.test_history == [{"step": 0, "test/cell_drift/decoder/2": 1.0}]
    assert loaded.confusion == [[3, 1], [0, 4]] and loaded.record["acc_per_glimpse"] == [50.0, 87.5]

    shutil.copytree(tmp_path / "runs" / "row", tmp_path / "runs" / "row2")
    written = figures.main(
        [
            *("--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "figs")),
            *("--study", "row", "row2", "--wsram", "row", "--weightings"),  # the study's and WS-RAM's alone
        ]
    )
    assert {p.name for p in written} == {
        f"{name}.{suffix}"
        for name in (
            "study_glimpse_accuracy",
            "study_val_accuracy",
            "study_cell_drift",
            "study_confusion_difference",
            "wsram_figure2",
        )
        for suffix in ("png", "pdf")
    } | {"study_claims.md", "wsram_claims.md"}
    assert all(p.stat().st_size > 0 for p in written)
    claims = (tmp_path / "figs" / "study_claims.md").read_text()  # both rows' seed 0, and the confusion difference
    assert "| row | 0 |" in claims and "| row2 | 0 |" in claims and "| row2 - row | mean |" in claims
    assert (
        "| row | 0 | 70 |" in (tmp_path / "figs" / "wsram_claims.md").read_text()
    )  # val error 70% at the last validation


def test_a_kept_seed_reads_back_as_its_run_and_stands_in_for_it_on_a_machine_without_runs(
    tmp_path: Path, capsys, monkeypatch
):
    monkeypatch.chdir(tmp_path)  # the repository root
    runs, kept = tmp_path / "runs", tmp_path / "records"
    seed = runs / "row" / "seed1"
    _write_metrics(
        seed / "wandb" / "offline-run-20260101_120000-abc",
        [{"step": 1, "epoch": 0, "val/acc": 0.1}, {"step": 2, "train/loss": 2.302585092994046}],
    )
    _write_metrics(seed / "wandb" / "offline-run-20260101_130000-abc", [{"step": 2, "val/acc": 1 / 3}])
    test = seed / "test" / "wandb" / "offline-run-20260101_140000-t"
    _write_metrics(test, [{"step": 0, "test/cell_drift/decoder/2": 0.5}])
    (test / "files").mkdir()
    (test / "files" / "test_confusion.csv").write_text("true\\predicted,0,1\n0,3,1\n1,0,4\n")
    (seed / "test_metrics.json").write_text(
        json.dumps(
            {
                "seed": 1,
                "status": "done",
                "acc_per_glimpse": [50.0, 87.5],
                "checkpoint": str(seed / "ckpts" / "best.ckpt"),
                "config": str(seed / "ckpts" / "config.yaml"),
            }
        )
    )
    (from_run,) = figures.load_seeds(runs, "row", kept=None)

    keep_seed(seed, kept / "row" / "seed1")
    assert sorted(p.name for p in (kept / "row" / "seed1").iterdir()) == sorted(
        ["train_metrics.csv.gz", "test_metrics.csv", "test_confusion.csv", "test_metrics.json"]
    )
    (kept_seed,) = figures.load_seeds(tmp_path / "elsewhere", "row", kept)
    # the record names its files from the repository root, not this machine's layout; all else exactly, in order
    assert kept_seed.record["checkpoint"] == "runs/row/seed1/ckpts/best.ckpt"
    assert kept_seed.record["config"] == "runs/row/seed1/ckpts/config.yaml"
    assert kept_seed == dataclasses.replace(
        from_run,
        record={**from_run.record, "checkpoint": kept_seed.record["checkpoint"], "config": kept_seed.record["config"]},
    )
    shutil.rmtree(runs)  # a fresh checkout: the figures draw the kept seed, and nothing is missing
    listed = tmp_path / "results.json"
    listed.write_text(json.dumps([{"row": "row", "seeds": [1], "seed_status": ["done"]}]))
    written = figures.main(
        [
            "--runs",
            str(runs),
            "--records",
            str(kept),
            "--out",
            str(tmp_path / "figs"),
            "--study",
            "row",
            "row",
            "--wsram",
            "row",
            "--results",
            str(listed),
        ]
    )
    assert "whose runs are neither" not in capsys.readouterr().out
    assert tmp_path / "figs" / "study_val_accuracy.png" in written
    assert "| row | 1 |" in (tmp_path / "figs" / "study_claims.md").read_text()

    # a seed both here and kept is read from its run (the newer); a seed that lost its test loses its kept files too
    _write_metrics(runs / "row" / "seed1" / "wandb" / "offline-run-20260102_120000-new", [{"step": 5, "val/acc": 0.9}])
    (here,) = figures.load_seeds(runs, "row", kept)
    assert figures.curve(here.history, "val/acc") == {5: 0.9} and here.record is None
    keep_seed(runs / "row" / "seed1", kept / "row" / "seed1")
    assert not (kept / "row" / "seed1" / "test_confusion.csv").exists()
    assert figures.load_seeds(tmp_path / "elsewhere", "row", kept) == [here]


def test_a_seed_stopped_part_way_is_left_out_of_a_row_that_has_a_finished_one(tmp_path: Path, capsys):
    done, partial = _synthetic_seed(0, good=True), _synthetic_seed(1, good=False)
    done.record["status"], partial.record["status"] = "done", "partial"
    assert figures.finished_seeds([done, partial]) == [done]
    assert figures.finished_seeds([partial]) == [partial]  # no finished seed: the partial one is all there is
    for seed, status, acc in ((0, "done", 0.8), (1, "partial", 0.1)):
        folder = tmp_path / "runs" / "row" / f"seed{seed}"
        _write_metrics(folder / "wandb" / "offline-run-20260101_120000-abc", [{"step": 1, "val/acc": acc}])
        (folder / "test_metrics.json").write_text(
            json.dumps({"seed": seed, "status": status, "acc_per_glimpse": [100 * acc]})
        )
    figures.main(
        ["--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "figs"), "--study", "row", "row", "--wsram", "row"]
    )
    assert "row: left out seed(s) 1: not finished, and the row has a finished seed" in capsys.readouterr().out
    claims = (tmp_path / "figs" / "study_claims.md").read_text()
    assert "| row | 0 |" in claims and "| row | 1 |" not in claims


def test_a_seed_that_results_json_does_not_list_for_its_row_is_left_out(tmp_path: Path, capsys):
    for seed, acc in ((0, 0.8), (1, 0.1), (2, 0.7)):  # seed 1 trained under the row's earlier protocol
        folder = tmp_path / "runs" / "row" / f"seed{seed}"
        _write_metrics(folder / "wandb" / "offline-run-20260101_120000-abc", [{"step": 1, "val/acc": acc}])
        (folder / "test_metrics.json").write_text(
            json.dumps({"seed": seed, "status": "done", "acc_per_glimpse": [100 * acc]})
        )
    listed = tmp_path / "results.json"
    listed.write_text(json.dumps([{"row": "row", "seeds": [0, 2]}, {"row": "elsewhere", "seeds": []}]))
    figures.main(
        [
            "--runs",
            str(tmp_path / "runs"),
            "--out",
            str(tmp_path / "figs"),
            "--study",
            "row",
            "row",
            "--wsram",
            "row",
            "--results",
            str(listed),
        ]
    )
    assert "row: left out seed(s) 1: not the row's in results.json (another protocol)" in capsys.readouterr().out
    claims = (tmp_path / "figs" / "study_claims.md").read_text()
    assert "| row | 0 |" in claims and "| row | 2 |" in claims and "| row | 1 |" not in claims


def test_training_error_of_an_estimator_with_q_comes_from_q():
    plain = _synthetic_seed(0, good=True)
    with_q = figures.SeedRuns(
        0,
        [{**{k: v for k, v in h.items() if k != "train/acc"}, "train/acc_q": 0.75} for h in plain.history],
        [],
        None,
        None,
    )
    series, from_q = figures.training_error("wsram_figure2_ws_ram_c", [plain])
    assert (series.label, from_q) == ("WS-RAM+c", False)
    assert series.ys == pytest.approx([10.0] * 5)
    series, from_q = figures.training_error("wsram_figure2_ws_ram_q_c", [with_q])
    assert (series.label, from_q) == ("WS-RAM+q+c", True)
    assert series.ys == pytest.approx([25.0] * 5)


def test_a_row_whose_finished_seeds_are_not_all_here_is_not_drawn_unless_asked(tmp_path: Path, capsys):
    folder = tmp_path / "runs" / "row" / "seed2"  # a fresh checkout: seeds 0 and 1 ran elsewhere
    _write_metrics(folder / "wandb" / "offline-run-20260101_120000-abc", [{"step": 1, "val/acc": 0.7}])
    (folder / "test_metrics.json").write_text(json.dumps({"seed": 2, "status": "done", "acc_per_glimpse": [70.0]}))
    listed = tmp_path / "results.json"
    listed.write_text(json.dumps([{"row": "row", "seeds": [0, 1, 2], "seed_status": ["done", "partial", "done"]}]))
    common = [
        "--runs",
        str(tmp_path / "runs"),
        "--out",
        str(tmp_path / "figs"),
        "--study",
        "row",
        "row",
        "--wsram",
        "row",
        "--results",
        str(listed),
        "--weightings",  # the study's and WS-RAM's alone
    ]
    assert figures.main(common) == []
    out = capsys.readouterr().out
    assert (
        f"row: results.json lists finished seed(s) 0 whose runs are neither under {tmp_path / 'runs'} "
        f"nor kept under {figures.KEPT}"
    ) in out  # 1 is partial
    assert "skipped the study figures and claims: drawn from the seeds here they would not be the rows'" in out
    assert not (tmp_path / "figs" / "study_claims.md").exists()
    assert figures.main([*common, "--allow-missing"])  # asked: drawn from seed 2
    assert "| row | 2 |" in (tmp_path / "figs" / "study_claims.md").read_text()


def test_wsram_without_rows_draws_the_study_alone(tmp_path: Path, capsys):
    folder = tmp_path / "runs" / "row" / "seed0"
    _write_metrics(folder / "wandb" / "offline-run-20260101_120000-abc", [{"step": 1, "val/acc": 0.7}])
    written = figures.main(
        [
            "--runs",
            str(tmp_path / "runs"),
            "--records",
            str(tmp_path / "records"),
            "--out",
            str(tmp_path / "figs"),
            "--study",
            "row",
            "row",
            "--wsram",
        ]
    )
    assert {p.name for p in written} == {"study_val_accuracy.png", "study_val_accuracy.pdf", "study_claims.md"}
    assert "wsram_figure2" not in capsys.readouterr().out  # not drawn, and not reported as skipped


def test_a_results_file_named_but_missing_is_an_error(tmp_path: Path, capsys):
    with pytest.raises(SystemExit):
        figures.main(
            ["--runs", str(tmp_path), "--out", str(tmp_path / "figs"), "--results", str(tmp_path / "nope.json")]
        )
    assert f"--results must be a results file, got '{tmp_path / 'nope.json'}': no such file" in capsys.readouterr().err
