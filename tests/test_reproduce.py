"""``python -m lit_draw reproduce`` end to end on a tiny row, and the results table from records."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import pytest
import torch
import yaml

from lit_draw.cli import ConfigError, main, resolved_config
from lit_draw.cli.metrics_csv import read_metrics
from lit_draw.experiments import figures, reproduce, results, shipping
from lit_draw.experiments.seed_runs import RECORD_FILE
from tests.conftest import CONFIGS, tiny_draw_args

#: Callbacks of the tiny row: what the figure script reads, every step.
TINY_CALLBACKS = (
    "--trainer.callbacks=[{class_path: lit_draw.callbacks.WeightUpdateNorm, init_args: {every_n_steps: 1}}, "
    "{class_path: lit_draw.callbacks.CellStateDrift}, {class_path: lit_draw.callbacks.ConfusionMatrix}]"
)


def _tiny_rows(directory: Path, root: Path, budget: dict[str, int], seeds: int, *extra: str) -> Path:
    """A rows file with one tiny DRAW row (8 training steps an epoch, validation every 2 steps), ``extra`` its further args."""
    sizes = dict(batch_size=8, val_size=16, train_size=64, test_size=48)
    args = tiny_draw_args(root, canvas=28, glimpses=2, read_n=3, width=8, **sizes)
    at = args.index("--config")
    config = args[at + 1]
    del args[at : at + 2]  # the row names the config
    args = [a for a in args if not a.startswith("--trainer.default_root_dir")]  # reproduce sets it per seed
    args += [TINY_CALLBACKS, "--trainer.log_every_n_steps=1", "--trainer.val_check_interval=2", *extra]
    row = {
        "name": "tiny",
        "configs": [config],
        "args": [*args, "--trainer.enable_model_summary=false"],
        "published": [80.0, 90.0],
        "source": "a test",
        "budget": budget,
        "seeds": seeds,
        "group": "small",
    }
    path = directory / "rows.yaml"
    path.write_text(yaml.safe_dump([row]))
    return path


def _records(row: str = "tiny", runs: str = "runs/reproduce") -> dict[int, dict]:
    return {
        r["seed"]: r for r in (json.loads(p.read_text()) for p in Path(f"{runs}/{row}").glob("seed*/test_metrics.json"))
    }


def test_list_prints_every_row_with_its_published_figure_budget_and_status(capsys: pytest.CaptureFixture[str]):
    reproduce.main(["--list"])
    out = capsys.readouterr().out
    rows = reproduce.load_rows()
    assert {"study_all_step", "study_last_step", "ram_cluttered100", "wsram_figure2_ws_ram_q_c"} <= rows.keys()
    assert [line.split("  [")[0] for line in out.splitlines() if "  [" in line and not line.startswith(" ")] == list(
        rows
    )
    assert "ram_cluttered100  [" in out and "10.83%" in out and "5.9%" in out and "200 epochs x 3 seeds" in out
    assert "ram_cluttered60  [" in out and "published: 4.04%  (" in out  # the NIPS proceedings' figure, not a range
    assert results.format_published([4.04, 5.23]) == "4.04-5.23%"  # a published range, as a row may give one
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
    rows = _tiny_rows(offline_in_tmp, mnist_root, {"updates": 4}, 2)

    # a debugging run: an override that changes the budget is a scratch run, beside the row's own
    reproduce.main(["tiny", "--rows", str(rows), "--", "--trainer.max_steps=2"])
    assert not Path("results.json").exists() and not Path("RESULTS.md").exists() and not Path("checkpoints").exists()
    assert _records() == {}
    (scratch,) = Path("runs/reproduce-scratch").iterdir()
    first = _records(runs=str(scratch))
    assert [(r["status"], r["updates_done"], r["epochs_done"]) for r in first.values()] == [("partial", 2, 0.25)] * 2
    (entry,) = json.loads(Path("results-scratch.json").read_text())
    assert entry["status"] == "partial" and entry["updates_done"] == [2, 2] and entry["checkpoint"] is None
    assert "partial: 2 of 2 seeds (0, 1); updates done 2, 2 of 4" in Path("RESULTS-scratch.md").read_text()
    assert "scratch run" in capsys.readouterr().out  # and it says so
    assert not Path("records").exists()  # nor is anything of it kept in the repository

    # the row's own run: its own seeds, from step 0 (not from the scratch run's checkpoints)
    reproduce.main(["tiny", "--rows", str(rows), "--", "--trainer.enable_progress_bar=false"])  # a harmless override
    second = _records()
    assert [(r["status"], r["updates_done"]) for r in second.values()] == [("done", 4)] * 2
    for seed in (0, 1):
        (run,) = Path(f"runs/reproduce/tiny/seed{seed}/wandb").glob("offline-run-*")
        steps = [row["step"] for row in read_metrics(run) if "train/loss" in row]
        assert steps == [0, 1, 2, 3], steps
        assert second[seed]["checkpoint"].endswith(".ckpt") and "best-" in second[seed]["checkpoint"]
        assert second[seed]["metrics"]["test/acc"] == pytest.approx(1 - second[seed]["test_error"] / 100)
        assert second[seed]["test_error_last_checkpoint"] is not None  # its end, tested beside its best
    assert second[0]["metrics"] != second[1]["metrics"]  # the seeds differ
    errors = [second[s]["test_error"] for s in (0, 1)]
    (entry,) = json.loads(Path("results.json").read_text())
    assert entry["status"] == "done" and entry["seeds"] == [0, 1]
    assert entry["test_error"] == pytest.approx(sum(errors) / 2, abs=1e-3)
    assert entry["test_error_sd"] == pytest.approx(abs(errors[0] - errors[1]) / 2**0.5, abs=1e-3)
    assert entry["vs_published"] == pytest.approx(entry["test_error"] - 80.0, abs=0.01)
    assert len(entry["acc_per_glimpse"]) == 2 and entry["test_error_mc"] is None  # DRAW samples nothing
    assert entry["checkpoint"] == "checkpoints/tiny.ckpt" and entry["checkpoint_seed"] in (0, 1)
    # every seed's own numbers, with the checkpoint (relative to the repository root, not this
    # machine's absolute layout) and commit it came from
    relative = {seed: str(Path(second[seed]["checkpoint"]).relative_to(Path.cwd())) for seed in (0, 1)}
    assert relative[0] == f"runs/reproduce/tiny/seed0/{Path(relative[0]).parts[4]}/checkpoints/best-0-2.ckpt"
    assert [(s["seed"], s["test_error"], s["checkpoint"]) for s in entry["per_seed"]] == [
        (seed, round(second[seed]["test_error"], 3), relative[seed]) for seed in (0, 1)
    ]
    markdown = Path("RESULTS.md").read_text()
    assert "| `tiny` | 80-90% |" in markdown and "done, 2 seeds" in markdown and "| t=1 | t=2 |" in markdown
    assert f"| `tiny` | 1 | {second[1]['test_error']:.2f}% |  |  | done | `{relative[1]}` |" in markdown

    # a finished row does nothing more
    assert reproduce.main(["small", "--rows", str(rows)]) == {"tiny": []}
    assert _records() == second
    reproduce.main(["--list", "--rows", str(rows)])
    assert "tiny  [done, 2 seeds]" in capsys.readouterr().out

    # the exported checkpoint: weights and hyperparameters only, and it re-tests to the same error
    exported = torch.load("checkpoints/tiny.ckpt", weights_only=False)
    assert set(exported) <= set(shipping.EXPORTED_KEYS) and "optimizer_states" not in exported
    assert {"state_dict", "hyper_parameters"} <= set(exported)
    config = yaml.safe_load(Path("checkpoints/tiny.yaml").read_text())
    assert config["trainer"]["logger"]["init_args"]["offline"] is True and config["data"]["root"] is None
    cli = main(["test", "--config", "checkpoints/tiny.yaml", "--ckpt_path", "checkpoints/tiny.ckpt"])
    retested = 100 * (1 - cli.trainer.callback_metrics["test/acc"].item())
    assert retested == pytest.approx(second[entry["checkpoint_seed"]]["test_error"], abs=1e-6)

    # a seed is tested under the config its fit resolved, not the row's files as they are by then
    row = reproduce.load_rows(rows)["tiny"]
    moved = reproduce.SeedRun(dataclasses.replace(row, configs=("gone.yaml",)), seed=1)
    cli = main(moved.test_args(Path(second[1]["checkpoint"])))
    assert 100 * (1 - cli.trainer.callback_metrics["test/acc"].item()) == pytest.approx(
        second[1]["test_error"], abs=1e-6
    )

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
    assert sorted(p.name for p in written) == sorted(
        [*figures.FIGURES, *(n.replace(".png", ".pdf") for n in figures.FIGURES), *figures.CLAIMS]
    )

    # and what they read of each seed is kept in the repository: a checkout without runs/ draws the same
    assert sorted(p.name for p in Path("records/tiny").iterdir()) == ["seed0", "seed1"]
    # (its record naming the checkpoint and config from the repository root)
    assert figures.load_seeds(Path("elsewhere"), "tiny") == [
        dataclasses.replace(s, record=results.portable_record(s.record)) for s in seeds
    ]
    assert all(not Path(s.record["checkpoint"]).is_absolute() for s in figures.load_seeds(Path("elsewhere"), "tiny"))


@pytest.mark.slow
def test_max_time_stops_a_seed_short_and_the_next_run_continues_it(mnist_root: Path, offline_in_tmp: Path):
    # validation once an epoch, as in the shipped configs
    rows = _tiny_rows(offline_in_tmp, mnist_root, {"epochs": 1000}, 1, "--trainer.val_check_interval=1.0")
    reproduce.main(["tiny", "--rows", str(rows), "--max-time", "00:00:02"])
    first = _records()[0]
    assert first["status"] == "partial" and 0 < first["updates_done"] < 8000
    reproduce.main(["tiny", "--rows", str(rows), "--max-time", "00:00:02"])
    second = _records()[0]
    # it got its own 2 s on top of the first run's: without them Lightning's Timer would stop it at once
    assert second["status"] == "partial" and second["updates_done"] > first["updates_done"]


@pytest.mark.slow
def test_a_seed_trained_before_the_rows_protocol_changed_is_left_out_and_not_resumed(
    mnist_root: Path, offline_in_tmp: Path, capsys: pytest.CaptureFixture[str]
):
    reproduce.main(["tiny", "--rows", str(_tiny_rows(offline_in_tmp, mnist_root, {"updates": 2}, 1))])
    assert [e["status"] for e in json.loads(Path("results.json").read_text())] == ["done"]

    # a change that does not alter what the row measures keeps the seed
    harmless = _tiny_rows(offline_in_tmp, mnist_root, {"updates": 2}, 1, "--trainer.log_every_n_steps=2")
    assert reproduce.main(["tiny", "--rows", str(harmless)]) == {"tiny": []}
    assert [r["seed"] for r in reproduce.seed_records(reproduce.load_rows(harmless)["tiny"])] == [0]

    # the row's learning rate changes after its seed ran: the seed measures something else now
    changed = _tiny_rows(offline_in_tmp, mnist_root, {"updates": 2}, 1, "--optimizer.lr=0.01")
    capsys.readouterr()
    reproduce.main(["--results", "--rows", str(changed)])
    assert (
        "reproduce tiny: seed 0 left out, it trained under another protocol (optimizer.init_args.lr: 0.002 -> 0.01)"
        in (capsys.readouterr().out)
    )
    assert [e["status"] for e in json.loads(Path("results.json").read_text())] == ["not run"]
    with pytest.raises(
        ConfigError,
        match=r"^runs/reproduce/tiny/seed0 holds a run of tiny under another protocol than the "
        r"row's now \(optimizer.init_args.lr: 0.002 -> 0.01\): move the folder away",
    ):
        reproduce.main(["tiny", "--rows", str(changed)])
    assert _records()[0]["updates_done"] == 2  # nothing trained into it


def test_a_resumed_seed_gets_its_time_share_on_top_of_the_training_time_in_its_checkpoint(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(tmp_path)
    row = results.Row(name="r", configs=("c.yaml",), budget={"updates": 10}, args=("--data.batch_size=8",))
    run = reproduce.SeedRun(row, seed=2, overrides=["--trainer.precision=bf16-mixed"])
    assert run.fit_args(max_time_s=None) == [
        "fit",
        "--config",
        "c.yaml",
        "--data.batch_size=8",
        "--trainer.max_steps=10",
        "--trainer.max_epochs=-1",
        "--trainer.precision=bf16-mixed",
        "--seed_everything=2",
        "--trainer.default_root_dir=runs/reproduce/r/seed2",
    ]
    last = tmp_path / "runs/reproduce/r/seed2/checkpoints/last.ckpt"
    last.parent.mkdir(parents=True)
    torch.save({"callbacks": {"Timer": {"time_elapsed": {"train": 100.2, "validate": 7.0}}}}, last)
    assert run.fit_args(max_time_s=3600)[-2:] == [
        "--ckpt_path=runs/reproduce/r/seed2/checkpoints/last.ckpt",
        "--trainer.max_time=00:01:01:41",  # 3700.2 s, rounded up
    ]
    assert reproduce.parse_max_time("26:00:05") == 93605.0


def test_a_row_with_no_seeds_here_keeps_its_results_entry_from_another_machine(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(tmp_path)
    rows = {name: results.Row(name=name, configs=("c.yaml",), budget={"epochs": 1}) for name in ("here", "elsewhere")}
    elsewhere = {**results.summarise(rows["elsewhere"], [_record(0, 2.0)]), "checkpoint_seed": 0}
    Path("results.json").write_text(json.dumps([elsewhere]))
    reproduce.write_results(rows, {})
    entries = json.loads(Path("results.json").read_text())
    assert [e["row"] for e in entries] == ["here", "elsewhere"]
    assert entries[0]["status"] == "not run" and entries[1] == elsewhere
    assert "| `elsewhere` | none given |  | 2.00% |" in Path("RESULTS.md").read_text()


def test_each_paragraph_of_a_rows_notes_is_a_bullet_of_its_own_in_results_md():
    row = results.Row(name="r", configs=("c.yaml",), budget={"epochs": 10}, notes="Seed 0: 2 h.\nSeed 1: resumed once.")
    markdown = results.render_markdown([results.summarise(row, [_record(0, 2.0)])])
    assert "  Notes:\n  - Seed 0: 2 h.\n  - Seed 1: resumed once.\n" in markdown


def test_an_entry_from_another_machine_under_another_protocol_is_dropped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.chdir(tmp_path)
    before = results.Row(name="r", configs=("c.yaml",), budget={"epochs": 10}, args=("--optimizer.init_args.lr=0.001",))
    elsewhere = {**results.summarise(before, [_record(0, 2.0)]), "checkpoint_seed": 0}
    Path("results.json").write_text(json.dumps([elsewhere]))
    for now in (
        dataclasses.replace(before, args=("--optimizer.init_args.lr=0.003",)),
        dataclasses.replace(before, budget={"epochs": 20}),
    ):
        (entry,) = reproduce.current_entries({"r": now}, {})
        assert entry["status"] == "not run"
        assert (
            "reproduce r: the results.json entry (c.yaml --optimizer.init_args.lr=0.001; {'epochs': 10}) is of another "
            "protocol than the row's now, so it is not the row's result"
        ) in capsys.readouterr().out
    assert reproduce.current_entries({"r": before}, {}) == [elsewhere]  # the same protocol: kept
    # with what the registry says of the row now (its numbers are the entry's)
    noted = dataclasses.replace(before, notes="seed 0 trained 9.9 epochs", source="a table")
    assert reproduce.current_entries({"r": noted}, {}) == [
        {**elsewhere, "notes": "seed 0 trained 9.9 epochs", "source": "a table"}
    ]


def _record(seed: int, error: float, status: str = "done", mc: float | None = None, mean: float | None = None) -> dict:
    return {
        "seed": seed,
        "status": status,
        "budget": {"epochs": 10},
        "epochs_done": 10.0 if status == "done" else 4.0,
        "updates_done": 100,
        "test_error": error,
        "test_error_mc": mc,
        "test_error_mean_policy": mean,
        "acc_per_glimpse": [50.0 + seed, 100 - error],
        "device": "cpu",
        "wall_time_s": 60.0,
        "date": f"2026-11-2{seed}T00:00:00+00:00",
        "commit": "abc",
    }


def test_an_epoch_budget_is_done_at_its_epochs_even_when_a_mid_epoch_resume_left_steps_short():
    epochs = results.Row(name="r", configs=("c.yaml",), budget={"epochs": 200})
    # 200 epochs of 430 batches, stopped at step 84,525 (mid-epoch 196) and resumed: the Trainer ends
    # at epoch 200 with 185 steps fewer than 200 x 430
    assert epochs.budget_done(200, 85_815) and not epochs.budget_done(196, 84_525)
    updates = results.Row(name="r", configs=("c.yaml",), budget={"updates": 300_000})
    assert updates.budget_done(3, 300_000) and not updates.budget_done(1000, 299_999)


def test_summary_means_and_sds_over_seeds_and_marks_short_rows_partial():
    row = results.Row(name="r", configs=("c.yaml",), budget={"epochs": 10}, published=[1.0, 2.0], seeds=3)
    assert results.summarise(row, [])["status"] == "not run"
    records = [_record(0, 2.0, mc=1.0, mean=1.5), _record(1, 4.0, mc=3.0, mean=2.5), _record(2, 9.0, mc=2.0, mean=0.5)]
    entry = results.summarise(row, records)
    assert (
        entry["status"] == "done"
        and entry["test_error"] == 5.0
        and entry["test_error_sd"] == pytest.approx(3.606, abs=1e-3)
    )
    assert entry["test_error_mc"] == 2.0 and entry["vs_published"] == 4.0  # against the range's low end
    assert entry["test_error_mean_policy"] == 1.5 and entry["test_error_mean_policy_sd"] == 1.0
    assert (
        entry["acc_per_glimpse"] == [51.0, 95.0]
        and entry["wall_time_s"] == 180.0
        and entry["date"].startswith("2026-11-22")
    )
    assert results.closest_to_mean(records)["seed"] == 1  # |4 - 5| is the smallest
    # a seed stopped part-way is never exported over a finished one, however close to the mean
    finished_and_partial = [
        _record(0, 22.0),
        *(_record(s, e, status="partial") for s, e in ((1, 80.0), (2, 55.0), (3, 50.0))),
    ]
    assert results.closest_to_mean(finished_and_partial)["seed"] == 0
    assert results.closest_to_mean(finished_and_partial[1:])["seed"] == 2  # none finished: 55 is closest to 61.7
    assert results.summarise(row, records[:2])["status"] == "partial"  # 2 of 3 seeds
    short = results.summarise(row, [*records[:2], _record(2, 9.0, status="partial")])
    assert results.describe_status(short) == "partial: 3 of 3 seeds (0, 1, 2); epochs done 10, 10, 4 of 10"
    assert short["test_error"] == 3.0 and short["acc_per_glimpse"] == [50.5, 97.0]  # the means are the finished seeds'
    assert [s["seed"] for s in short["per_seed"]] == [0, 1, 2]  # every seed's own numbers are still there
    markdown = results.render_markdown([entry])
    assert "| row | published | best public re-implementation | ours | MC | mean policy | vs published |" in markdown
    assert (
        "| `r` | 1-2% |  | 5.00 ± 3.61% | 2.00 ± 1.00% | 1.50 ± 1.00% | +4.00 pp | 10 epochs | done, 3 seeds |"
        in markdown
    )
    assert "| `r` | 51.0 | 95.0 |" in markdown


RAM_ROW = results.Row(name="r", configs=(str(CONFIGS / "ram_mnist.yaml"),), budget={"epochs": 10})


def test_overrides_that_change_what_a_row_measures_make_a_scratch_run_and_harmless_ones_do_not():
    changes = reproduce.protocol_changes(
        [RAM_ROW],
        [
            "--trainer.enable_progress_bar=false",
            "--data.test_size=500",
            "--trainer.limit_train_batches",
            "0.5",
            "--data.root=/d",
        ],
    )
    assert changes == ["data.test_size: None -> 500", "trainer.limit_train_batches: None -> 0.5"]
    harmless = [
        "--data.root",
        "/d",
        "--trainer.log_every_n_steps=5",
        "--trainer.max_time=00:01:00:00",
        "--trainer.accelerator=cpu",
        "--data.num_workers=2",
        "--optimizer.init_args.fused=false",
    ]
    assert reproduce.protocol_changes([RAM_ROW], harmless) == []
    scratch = reproduce.scratch_outputs(changes)
    assert (
        not scratch.export
        and scratch.runs.parent == reproduce.SCRATCH_RUNS
        and scratch.results_json.name == "results-scratch.json"
    )
    assert scratch != reproduce.scratch_outputs(["data.test_size: None -> 400"])  # one protocol per folder
    # issue 35, S2: a debug run's one-batch "epoch" landed in runs/reproduce/, and the next real run resumed it
    assert reproduce.protocol_changes([RAM_ROW], ["--trainer.fast_dev_run=true"]) == [
        "trainer.fast_dev_run: False -> True"
    ]


def test_a_record_made_with_protocol_overrides_is_not_one_of_the_rows_seeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(tmp_path)
    scratch = reproduce.scratch_outputs(["data.test_size: None -> 500"])
    for seed, overrides in ((0, ["--trainer.enable_progress_bar=false"]), (1, ["--data.test_size=500"])):
        for outputs in (reproduce.OFFICIAL, scratch):
            folder = reproduce.seed_dir(RAM_ROW, seed, outputs.runs)
            config = reproduce.run_config(folder)
            config.parent.mkdir(parents=True)
            args = ["fit", "--config", RAM_ROW.configs[0], *RAM_ROW.budget_args(), *overrides]
            config.write_text(yaml.safe_dump(resolved_config(args)))  # as the seed's fit wrote it
            record = {**_record(seed, 2.0), "overrides": overrides, "config": str(config)}
            (folder / RECORD_FILE).write_text(json.dumps(record))
    assert [r["seed"] for r in reproduce.seed_records(RAM_ROW)] == [0]
    assert [r["seed"] for r in reproduce.seed_records(RAM_ROW, scratch)] == [0, 1]  # each under its own overrides


NO_OTHER_CHECKPOINTS = {
    "test_error_last_checkpoint": None,
    "test_error_best_periodic": None,
    "best_periodic_step": None,
}


def test_the_best_periodic_test_is_the_first_best_score_and_has_its_own_table_beside_the_headline():
    rows = [
        {"step": 999, "periodic_test/acc": 0.5},
        {"step": 1999, "periodic_test/acc": 0.75},
        {"step": 2999, "periodic_test/acc": 0.75},
        {"step": 2999, "val/acc": 0.9},
    ]
    assert results.best_periodic_test(rows) == {"test_error_best_periodic": 25.0, "best_periodic_step": 2000}
    assert results.best_periodic_test([{"step": 5, "val/acc": 0.5}]) == {
        "test_error_best_periodic": None,
        "best_periodic_step": None,
    }
    row = results.Row(name="r", configs=("c.yaml",), budget={"epochs": 10}, seeds=2)
    three = {**_record(0, 22.0), "test_error_last_checkpoint": 30.5, **results.best_periodic_test(rows)}
    markdown = results.render_markdown([results.summarise(row, [three, _record(1, 20.0)])])
    assert "## Three numbers per seed" in markdown
    assert "| `r` | 0 | 22.00 | 30.50 | 25.00 | 2,000 |" in markdown
    assert (
        "| `r` | 1 |" not in markdown.split("## Three numbers per seed")[1]
    )  # a seed without them is not listed there
    assert "## Three numbers per seed" not in results.render_markdown([results.summarise(row, [_record(1, 20.0)])])


def test_every_seed_is_in_results_and_an_entry_written_before_per_seed_still_renders():
    row = results.Row(name="r", configs=("c.yaml",), budget={"epochs": 10}, seeds=2)
    records = [{**_record(0, 2.0, mc=1.0, mean=1.25), "checkpoint": "runs/a.ckpt"}, _record(1, 4.0)]
    del records[1]["test_error_mean_policy"]  # a record written before the mean-policy evaluation existed
    entry = results.summarise(row, records)
    assert entry["per_seed"] == [
        {
            "seed": 0,
            "status": "done",
            "test_error": 2.0,
            "test_error_mc": 1.0,
            "test_error_mean_policy": 1.25,
            "acc_per_glimpse": [50.0, 98.0],
            **NO_OTHER_CHECKPOINTS,
            "updates_done": 100,
            "epochs_done": 10.0,
            "checkpoint": "runs/a.ckpt",
            "commit": "abc",
            "device": "cpu",
            "wall_time_s": 60.0,
            "date": "2026-11-20T00:00:00+00:00",
        },
        {
            "seed": 1,
            "status": "done",
            "test_error": 4.0,
            "test_error_mc": None,
            "test_error_mean_policy": None,
            "acc_per_glimpse": [51.0, 96.0],
            **NO_OTHER_CHECKPOINTS,
            "updates_done": 100,
            "epochs_done": 10.0,
            "checkpoint": None,
            "commit": "abc",
            "device": "cpu",
            "wall_time_s": 60.0,
            "date": "2026-11-21T00:00:00+00:00",
        },
    ]
    # everything the entry was summarised from is kept per seed: summarised again, it is the same
    again = results.summarise(row, results.from_per_seed(entry))
    assert {k: v for k, v in again.items() if k != "per_seed"} == {k: v for k, v in entry.items() if k != "per_seed"}
    # a seed recorded before its glimpses and time were kept: no mean over the other seeds' glimpses alone
    legacy = [
        {**r, "acc_per_glimpse": None, "wall_time_s": None} if r["seed"] == 0 else r
        for r in results.from_per_seed(entry)
    ]
    partly = results.summarise(row, legacy)
    assert partly["acc_per_glimpse"] is None and partly["wall_time_s"] == 60.0
    assert "0.02 h in all (not counting seed 0, whose time was not recorded)" in results.render_markdown(
        [{**partly, "checkpoint_seed": 1}]
    )
    markdown = results.render_markdown([entry])
    assert "| `r` | 0 | 2.00% | 1.00% | 1.25% | done | `runs/a.ckpt` | `abc` |" in markdown
    assert "| `r` | 1 | 4.00% |  |  | done |  | `abc` |" in markdown
    old = {k: v for k, v in entry.items() if k != "per_seed"}  # as results.json holds it today
    assert "## Every seed" not in results.render_markdown([old]) and "| `r` |" in results.render_markdown([old])


def test_results_md_carries_each_measurement_table_under_its_own_title(tmp_path: Path):
    entry = results.summarise(
        results.Row(name="r", configs=("c.yaml",), budget={"epochs": 10}, seeds=1), [_record(0, 2.0)]
    )
    table = tmp_path / "frontier.md"
    table.write_text("# The halting frontier\n\nWritten by a command.\n\n| setting | x |\n| --- | --- |\n| toy | 1 |\n")
    markdown = results.render_markdown([entry], [], [str(table)])
    assert "## The halting frontier\n\nWritten by a command.\n\n| setting | x |" in markdown
    assert "# The halting frontier" not in markdown.replace(
        "## The halting frontier", ""
    )  # the title once, one level down
    assert markdown.index("## The halting frontier") < markdown.index("## Rows")


def test_results_md_puts_the_figures_and_tables_of_a_folder_of_docs_under_its_name(tmp_path: Path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for folder in ("docs", "docs/study_seed2"):
        Path(folder).mkdir(parents=True)
        for name in ("study_val_accuracy.png", "study_cell_drift.png"):
            (Path(folder) / name).write_bytes(b"png")
        (Path(folder) / "study_claims.md").write_text("# The study's claims\n\n| claim |\n")
    (Path("docs") / "viewer.png").write_bytes(b"png")  # not a figure of the rows
    shown = reproduce.docs_files(figures.FIGURES)
    assert shown == [
        "docs/study_val_accuracy.png",
        "docs/study_cell_drift.png",
        "docs/study_seed2/study_val_accuracy.png",
        "docs/study_seed2/study_cell_drift.png",
    ]
    entry = results.summarise(
        results.Row(name="r", configs=("c.yaml",), budget={"epochs": 10}, seeds=1), [_record(0, 2.0)]
    )
    markdown = results.render_markdown([entry], shown, reproduce.docs_files(("study_claims.md",)))
    assert (
        "![study_cell_drift](docs/study_cell_drift.png)\n\n### `docs/study_seed2/`\n\n"
        "![study_val_accuracy](docs/study_seed2/study_val_accuracy.png)"
    ) in markdown
    assert "## The study's claims\n" in markdown and "## The study's claims (`docs/study_seed2/`)\n" in markdown


def test_a_shipped_checkpoint_of_another_protocol_is_not_the_rows(tmp_path: Path, monkeypatch):
    row = reproduce.load_rows()["ram_mnist"]
    monkeypatch.setattr(reproduce, "CHECKPOINTS", tmp_path)
    monkeypatch.setattr(results, "RESULTS_JSON", tmp_path / "results.json")
    (tmp_path / "results.json").write_text(json.dumps([{"row": "ram_mnist", "checkpoint_seed": 1}]))
    (tmp_path / "ram_mnist.ckpt").write_bytes(b"weights")
    args = ["fit", *reproduce.SeedRun(row, 0).common_args(), *row.budget_args()]
    (tmp_path / "ram_mnist.yaml").write_text(yaml.safe_dump(resolved_config(args)))
    assert reproduce.shipped_seed(row) == 1
    (tmp_path / "ram_mnist.yaml").write_text(yaml.safe_dump(resolved_config([*args, "--model.net.init_args.std=0.3"])))
    assert reproduce.shipped_seed(row) is None  # trained before the row's std changed: to be replaced


def test_errors_from_test_metrics_are_percent():
    metrics = {
        "test/acc": 0.9,
        "test/acc_mc": 0.95,
        "test/acc_mean_policy": 0.96,
        "test/acc_glimpse_1": 0.5,
        "test/acc_glimpse_2": 0.9,
        "test/loss": 0.3,
    }
    errors = results.errors_from_metrics(metrics)
    assert errors["test_error"] == pytest.approx(10.0) and errors["test_error_mc"] == pytest.approx(5.0)
    assert errors["test_error_mean_policy"] == pytest.approx(4.0)
    assert errors["acc_per_glimpse"] == pytest.approx([50.0, 90.0])
    assert results.errors_from_metrics({"test/acc": 1.0})["test_error_mc"] is None
    with pytest.raises(KeyError, match="test/acc"):
        results.errors_from_metrics({"test/acc_mc": 1.0})


def test_the_exported_seed_is_the_closest_whose_checkpoint_is_here_or_the_one_shipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.chdir(tmp_path)
    shipped = []
    monkeypatch.setattr(reproduce, "ship_checkpoint", lambda checkpoint, *rest: shipped.append(checkpoint))
    row = results.Row(name="r", configs=("c.yaml",), budget={"epochs": 10})
    for seed in (1, 2):
        Path(f"s{seed}.ckpt").touch()
    here = {
        seed: {**_record(seed, error), "checkpoint": f"s{seed}.ckpt", "config": "c.yaml"}
        for seed, error in ((1, 2.0), (2, 9.0))
    }
    elsewhere = {**_record(0, 4.0), "checkpoint": "runs/gone.ckpt", "recorded": True}  # mean 5: seed 0 is closest
    assert (
        reproduce.export_checkpoint(row, [elsewhere, *here.values()], shipped=0) == 0 and shipped == []
    )  # shipped already
    assert capsys.readouterr().out == ""
    assert reproduce.export_checkpoint(row, [elsewhere, *here.values()], shipped=None) == 1 and shipped == [
        Path("s1.ckpt")
    ]
    assert (
        "reproduce r: seed 0 is closest to the mean, but its checkpoint is not on this machine, so checkpoints/r.ckpt is seed 1"
        in (capsys.readouterr().out)
    )
    assert reproduce.export_checkpoint(row, [elsewhere], shipped=None) is None  # nothing here to ship


@pytest.mark.slow
def test_a_fresh_checkout_keeps_the_seeds_results_json_records_and_trains_only_the_others(
    mnist_root: Path, offline_in_tmp: Path, capsys: pytest.CaptureFixture[str]
):
    rows = _tiny_rows(offline_in_tmp, mnist_root, {"updates": 2}, 2)
    reproduce.main(["tiny", "--rows", str(rows)])
    (before,) = json.loads(Path("results.json").read_text())
    assert before["seeds"] == [0, 1] and before["protocol"]["optimizer.init_args.lr"] == 0.002
    shutil.move("runs", "runs-elsewhere")  # a fresh checkout: results.json and checkpoints/, no runs/

    capsys.readouterr()
    reproduce.main(["tiny", "--rows", str(rows), "--seeds", "3"])
    out = capsys.readouterr().out
    assert "reproduce tiny: seed 0 is done in results.json (its run is not here), so it is not trained again" in out
    assert sorted(p.name for p in Path("runs/reproduce/tiny").iterdir()) == ["seed2"]  # only the new seed trained
    (entry,) = json.loads(Path("results.json").read_text())
    assert entry["seeds"] == [0, 1, 2] and entry["status"] == "done"
    assert entry["per_seed"][:2] == before["per_seed"]  # the recorded seeds' own numbers, as they were
    errors = [s["test_error"] for s in entry["per_seed"]]
    assert entry["test_error"] == pytest.approx(sum(errors) / 3, abs=1e-3)
    glimpses = [s["acc_per_glimpse"] for s in entry["per_seed"]]
    assert entry["acc_per_glimpse"] == pytest.approx([sum(g[t] for g in glimpses) / 3 for t in range(2)], abs=1e-3)
    # the shipped checkpoint is a seed whose number is in the row, and it re-tests to it
    cli = main(["test", "--config", "checkpoints/tiny.yaml", "--ckpt_path", "checkpoints/tiny.ckpt"])
    retested = 100 * (1 - cli.trainer.callback_metrics["test/acc"].item())
    assert retested == pytest.approx(errors[entry["checkpoint_seed"]], abs=1e-3)

    # the row's learning rate changes: neither the recorded seeds nor the one here are the row's now
    changed = _tiny_rows(offline_in_tmp, mnist_root, {"updates": 2}, 2, "--optimizer.lr=0.01")
    reproduce.main(["--results", "--rows", str(changed)])
    assert (
        "reproduce tiny: the seeds results.json records are of another protocol than the row's now "
        "(optimizer.init_args.lr: 0.002 -> 0.01), so they are not the row's" in capsys.readouterr().out
    )
    assert [e["status"] for e in json.loads(Path("results.json").read_text())] == ["not run"]
