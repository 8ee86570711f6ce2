"""``python -m lit_draw weightings``: a weighting sweep's runs tested, as a table, a statement and a figure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from matplotlib.image import imread

from lit_draw.__main__ import main
from lit_draw.cli.metrics_csv import write_rows
from lit_draw.errors import ConfigError
from lit_draw.experiments import figures, reproduce, results, weightings
from lit_draw.experiments.plots import save
from tests.conftest import tiny_draw_args

ROOT = Path(__file__).parents[1]


def _config(seed: int, weighting: str, **objective) -> dict:
    if weighting == "ponder":
        objective_entry = {"class_path": "lit_draw.objectives.PonderNet", "init_args": objective}
    else:
        objective_entry = {
            "class_path": "lit_draw.objectives.CrossEntropy",
            "init_args": {"weighting": weighting, **objective},
        }
    return {"seed_everything": seed, "model": {"net": {"init_args": {}}, "objective": objective_entry}}


def _kept(
    root: Path, name: str, config: dict, per_glimpse: list[float], halting: tuple[float, float] | None = None
) -> Path:
    """A folder as ``--keep`` writes it: the resolved config and the test's rows."""
    folder = root / name
    folder.mkdir(parents=True)
    config["model"]["net"]["init_args"]["glimpses"] = len(per_glimpse)
    (folder / weightings.KEPT_CONFIG).write_text(yaml.safe_dump(config))
    row = {"step": 0.0, "epoch": 0.0, "test/acc": per_glimpse[-1]}
    row |= {f"test/acc_glimpse_{t + 1}": a for t, a in enumerate(per_glimpse)}
    row |= {
        "test/early_exit/tau_0.5/glimpses": 1.5,
        "test/early_exit/tau_0.5/acc": per_glimpse[0],
        "test/early_exit/tau_0.9/glimpses": 2.5,
        "test/early_exit/tau_0.9/acc": per_glimpse[-1],
    }
    if halting:
        row |= {"test/halt_glimpses": halting[0], "test/halt_acc": halting[1]}
    write_rows(folder / weightings.KEPT_TEST, [row])
    return folder


def test_labels_name_the_weighting_and_its_parameter():
    assert weightings.weighting_label(_config(0, "last")) == "last"
    assert weightings.weighting_label(_config(0, "exponential", gamma=0.7)) == "exponential (gamma 0.7)"
    assert weightings.weighting_label(_config(0, "ponder", prior_halt=0.5, beta=0.01)) == "PonderNet (prior 0.5)"


def test_measures_table_and_statement_by_hand(tmp_path: Path):
    _kept(tmp_path, "a", _config(1, "all"), [0.50, 0.80, 0.900])
    _kept(tmp_path, "b", _config(0, "all"), [0.60, 0.897, 0.900])
    _kept(tmp_path, "c", _config(0, "last"), [0.10, 0.20, 0.960])
    _kept(tmp_path, "d", _config(1, "last"), [0.10, 0.30, 0.940])
    _kept(tmp_path, "e", _config(0, "ponder", prior_halt=0.5), [0.70, 0.80, 0.800], halting=(1.8, 0.75))
    groups = weightings.main([str(tmp_path)])
    assert list(groups) == ["last", "all", "PonderNet (prior 0.5)"]  # the fixed order, not the folders'
    assert [r.seed for r in groups["all"]] == [0, 1]
    a, b = groups["all"][1], groups["all"][0]
    assert a.area == pytest.approx((0.5 + 0.8 + 0.9) / 3)
    assert (a.glimpses_to_final, b.glimpses_to_final) == (3, 2)  # 0.897 is within half a point of 0.900
    assert groups["PonderNet (prior 0.5)"][0].halting == (1.8, 0.75)
    table = weightings.table(groups)
    # last: finals 96 and 94 -> 95.00 ± 1.41; areas 42.00 and 44.67 -> 43.33 ± 1.89
    assert "| last | 2 | 95.00 ± 1.41 | 43.33 ± 1.89 | 3.0 ± 0.0 | 96.00 (s0), 94.00 (s1) |" in table
    # all: areas 73.33 and 79.90 -> 76.62 ± 4.64; glimpses 3 and 2 -> 2.5 ± 0.7
    assert "| all | 2 | 90.00 ± 0.00 | 76.62 ± 4.64 | 2.5 ± 0.7 | 90.00 (s0), 90.00 (s1) |" in table
    text = weightings.statement(groups)
    # final: last 95.00 leads all 90.00 by 5.00, more than either's spread (1.41, 0.00)
    assert "**final-glimpse accuracy**: last (95.00 ± 1.41), ahead of all (90.00 ± 0.00) by 5.00" in text
    # glimpses: PonderNet's 2 (one seed) leads all's 2.5 ± 0.7 by less than 0.7 (a tie), last's 3.0 ± 0.0 by more
    assert (
        "**glimpses to within 0.5 points of final**: a tie between PonderNet (prior 0.5) (2.0 ± 0.0) and all:" in text
    )
    # glimpses: last's 3.0 ± 0.0 is more than either spread behind PonderNet's 2.0 ± 0.0
    assert "and all: PonderNet (prior 0.5) leads all by 0.5, within the seeds' spread; last trails" in text
    paths = save(weightings.figure(groups, "test"), tmp_path / "w.png")
    assert [p.name for p in paths] == ["w.png", "w.pdf"] and all(p.stat().st_size > 1000 for p in paths)


def test_a_level_tie_says_so_and_the_setup_is_put_in_words():
    runs = [
        weightings.TestedRun(
            "a", "all", 0, [0.5, 0.9], [], None, "DRAW, 40x40 translated MNIST, 2 glimpses, 10 epochs"
        ),
        weightings.TestedRun(
            "b", "linear", 0, [0.6, 0.9], [], None, "DRAW, 40x40 translated MNIST, 2 glimpses, 10 epochs"
        ),
    ]
    groups = weightings.by_weighting(runs)
    assert "a tie between all (90.00 ± 0.00) and linear: all and linear are level." in weightings.statement(groups)
    assert weightings.setting(groups) == "DRAW, 40x40 translated MNIST, 2 glimpses, 10 epochs, 1 seed"
    config = _config(0, "last")
    config["model"]["net"] |= {"class_path": "lit_draw.models.DRAWClassifier", "init_args": {"glimpses": 4}}
    config |= {"data": {"canvas_size": 100, "clutter": 8}, "trainer": {"max_steps": 300000, "max_epochs": -1}}
    assert weightings.describe(config) == "DRAW, 100x100 cluttered MNIST, 4 glimpses, 300,000 updates"
    config |= {"data": {"canvas_size": 40, "translate": True}, "trainer": {"max_steps": -1, "max_epochs": 10}}
    assert weightings.describe(config) == "DRAW, 40x40 translated MNIST, 4 glimpses, 10 epochs"


def test_a_lead_within_the_seeds_spread_is_a_tie(tmp_path: Path):
    _kept(tmp_path, "a", _config(0, "all"), [0.5, 0.90])
    _kept(tmp_path, "b", _config(1, "all"), [0.5, 0.94])
    _kept(tmp_path, "c", _config(0, "linear"), [0.5, 0.91])
    _kept(tmp_path, "d", _config(1, "linear"), [0.5, 0.92])
    text = weightings.statement(weightings.by_weighting([weightings.load_run(p) for p in sorted(tmp_path.iterdir())]))
    assert "**final-glimpse accuracy**: a tie between all (92.00 ± 2.83) and linear" in text


def test_a_folder_without_runs_is_one_line(tmp_path: Path):
    with pytest.raises(ConfigError, match="is not a folder"):
        weightings.main([str(tmp_path / "missing")])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="empty holds no fit .* and no kept run"):
        weightings.main([str(tmp_path / "empty")])
    row = {"step": 0.0, "test/acc": 0.5}  # a test without the GlimpseAccuracy callback
    folder = _kept(tmp_path, "bare", _config(0, "all"), [0.5])
    write_rows(folder / weightings.KEPT_TEST, [row])
    with pytest.raises(ConfigError, match="bare logged no test/acc_glimpse_"):
        weightings.main([str(folder)])


def test_a_sweeps_fits_are_tested_once_kept_and_read_back_alike(
    synthetic_mnist_root: Path, offline_in_tmp: Path, capsys: pytest.CaptureFixture[str]
):
    """Two real fits under one root (as a sweep leaves them), tested by ``weightings`` with the
    ``test`` command under each fit's config; the kept copies give the same numbers."""
    tiny = tiny_draw_args(
        synthetic_mnist_root,
        canvas=28,
        glimpses=2,
        read_n=3,
        width=8,
        batch_size=8,
        val_size=16,
        train_size=32,
        test_size=40,
    )
    for weighting in ("last", "all"):
        main(
            [
                "fit",
                *tiny,
                "--trainer.callbacks=[{class_path: lit_draw.callbacks.EarlyExit}]",
                "--trainer.max_steps=2",
                "--trainer.default_root_dir=sweep",
                f"--model.objective.init_args.weighting={weighting}",
                "--trainer.enable_model_summary=false",
            ]
        )
    groups = main(["weightings", "sweep", "--keep", "kept", "--out", "w.md"])
    assert list(groups) == ["last", "all"]
    tested = sorted(Path("sweep").glob("*/test/wandb/offline-run-*"))
    assert len(tested) == 2  # one test per fit, in the fit's own folder
    again = main(["weightings", "sweep"])  # already tested: read, not tested again
    assert len(sorted(Path("sweep").glob("*/test/wandb/offline-run-*"))) == 2
    kept = main(["weightings", "kept"])
    for label in groups:
        assert (
            [r.per_glimpse for r in kept[label]]
            == [r.per_glimpse for r in groups[label]]
            == [r.per_glimpse for r in again[label]]
        )
        assert all(len(r.per_glimpse) == 2 and 0 <= r.final <= 1 for r in groups[label])
    page = Path("w.md").read_text()
    assert page.startswith(
        "# Loss weightings compared\n\nDRAW, 28x28 translated MNIST, 2 glimpses, 2 updates, 1 seed; 2 weightings, 2 runs. Written"
    )
    assert "\nTest set, the checkpoint chosen on validation of each run" in page


def _kept_sweep(records: Path, name: str, about: dict | None = None) -> Path:
    """A sweep kept as ``weightings --keep`` leaves it: two weightings, two seeds, and its sweep.yaml."""
    folder = records / name
    for seed in (0, 1):
        _kept(folder, f"last{seed}", _config(seed, "last"), [0.1, 0.3 + 0.01 * seed, 0.95])
        _kept(folder, f"all{seed}", _config(seed, "all"), [0.8, 0.9 + 0.01 * seed, 0.94])
    if about:
        (folder / weightings.ABOUT).write_text(yaml.safe_dump(about))
    return folder


def test_figures_draws_each_kept_sweep_as_the_weightings_command_does_and_results_md_carries_its_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.chdir(tmp_path)  # no results.json, no runs: the weightings alone
    about = {
        "title": "Toy weightings",
        "sweep": "sweeps/toy_quick.yaml",
        "quick_version_of": {"sweep": "sweeps/toy.yaml", "setup": "bigger"},
    }
    about |= {"trained": "2026-12-07", "device": "a toy CPU", "commit": "abc1234"}
    _kept_sweep(Path("records"), "weighting_toy", about)
    written = figures.main(["--runs", "runs", "--records", "records", "--out", "docs", "--wsram"])
    assert {"weighting_toy.png", "weighting_toy.pdf", "weighting_toy.md"} <= {p.name for p in written}
    page = Path("docs/weighting_toy.md").read_text()
    assert page.startswith(
        "# Toy weightings\n\n`sweeps/toy_quick.yaml`: 3 glimpses, 2 seeds; 2 weightings, 4 runs, trained 2026-12-07"
    )
    assert (
        "on a toy CPU from commit abc1234. It is the quick version of `sweeps/toy.yaml` (bigger), which has not run yet"
        in page
    )
    assert "Written by `python -m lit_draw figures` from `records/weighting_toy`" in page
    assert "| last | 2 | 95.00 ± 0.00 |" in page and "**final-glimpse accuracy**" in page
    groups = weightings.main(["records/weighting_toy", "--figure", "w.png"])  # the other command, the same figure
    assert np.array_equal(imread("w.png"), imread("docs/weighting_toy.png"))
    assert list(groups) == ["last", "all"]

    markdown = results.render_markdown(
        [], reproduce.docs_files(reproduce.SHOWN), reproduce.docs_files(reproduce.TABLES)
    )
    assert "![weighting_toy](docs/weighting_toy.png)" in markdown
    assert "## Toy weightings\n\n`sweeps/toy_quick.yaml`: 3 glimpses, 2 seeds;" in markdown
    assert weightings.table(groups) in markdown and weightings.statement(groups) in markdown

    _kept_sweep(Path("records"), "weighting_full", {"sweep": "sweeps/toy.yaml"})  # the full sweep, kept beside it
    figures.main(["--runs", "runs", "--records", "records", "--out", "docs", "--wsram"])
    assert (
        "It is the quick version of `sweeps/toy.yaml` (bigger), kept in `records/weighting_full`."
        in Path("docs/weighting_toy.md").read_text()
    )
    assert Path("docs/weighting_full.md").read_text().startswith("# Loss weightings compared\n")


def test_figures_without_kept_weighting_sweeps_says_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.chdir(tmp_path)
    common = ["--runs", "runs", "--records", "records", "--out", "docs", "--wsram"]
    assert figures.main(common) == []
    assert (
        "skipped weighting_*.png: no weighting sweep kept under records (weighting_<name>/, "
        "by python -m lit_draw weightings ROOT --keep)" in capsys.readouterr().out
    )
    with pytest.raises(
        ConfigError, match=r"weightings: records/weighting_quick holds no kept run \(no \*/test_metrics"
    ):
        figures.main([*common, "--weightings", "records/weighting_quick"])
    assert figures.main([*common, "--weightings"]) == []  # none asked for: none drawn, nothing said
    assert "weighting" not in capsys.readouterr().out


def test_the_quick_sweeps_table_is_what_its_records_give_in_its_page_the_weightings_doc_and_results_md():
    """docs/weighting_quick.md is what ``figures`` writes from records/weighting_quick, RESULTS.md carries
    it (``reproduce --results``) and docs/weightings.md quotes its table and statement."""
    if not weightings.kept_sweeps(ROOT / "records") or not (ROOT / "records" / "weighting_quick").is_dir():
        pytest.skip("records/weighting_quick holds no kept runs in this checkout: nothing to check the tables against")
    groups = weightings.by_weighting(
        [weightings.load_run(p) for p in weightings.kept_runs(ROOT / "records/weighting_quick")]
    )
    about = weightings.read_about(ROOT / "records/weighting_quick")
    page = weightings.document(groups, "records/weighting_quick", about, by="figures")
    assert (ROOT / "docs/weighting_quick.md").read_text() == page, "run python -m lit_draw figures"
    title, body = page.split("\n", 1)
    assert f"#{title}\n{body}" in (ROOT / "RESULTS.md").read_text(), "run python -m lit_draw reproduce --results"
    quoted = f"{weightings.table(groups)}\n{weightings.statement(groups)}"
    assert quoted in (ROOT / "docs/weightings.md").read_text(), "docs/weightings.md quotes another table"
