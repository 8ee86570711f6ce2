"""W&B sweeps: the files in sweeps/, the argv the agent gives each run, and a local sweep end to end."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from lit_draw.__main__ import main  # the program: fit and the registered sweep
from lit_draw.cli import LitDrawCLI, resolved_config, trainer_defaults
from lit_draw.cli.checks import flatten
from lit_draw.cli.metrics_csv import read_metrics, run_folders, values
from lit_draw.data import CanvasMNIST
from lit_draw.experiments import sweep as sweep_module
from lit_draw.experiments.sweep import (
    INSTALL_HINT,
    INSTALL_RECIPE,
    agent_argv,
    engine_available,
    grid_points,
    lit_draw_args,
    load_sweep,
    run_sweep,
    summary_argument,
)
from lit_draw.module import AttentionClassifier
from tests.conftest import tiny_draw_args

# not pytest.importorskip("sweeps"): without the engine that imports the repository's sweeps/ folder
needs_engine = pytest.mark.skipif(
    not engine_available(), reason="W&B's sweep engine is the optional extra lit_draw[sweep]"
)

ROOT = Path(__file__).parents[1]
#: The project's sweep files and the size of each one's grid: 6 weightings x 3 seeds; 5 policy stds x
#: fixed or learned; 6 estimators x 3 seeds; 6 estimators x 3 rates; 2 KL weights x 4 prior halting
#: probabilities; 3 step costs; 2 policy stds for each larger RAM row, and 5 wider ones for 100x100,
#: then fixed against learned.
#: Only these are checked: a user's own file in sweeps/ is not the project's design.
DESIGNED_GRIDS = {
    "loss_weighting.yaml": 15,
    "ram_location_std.yaml": 10,
    "wsram_ablation.yaml": 18,
    "wsram_lr_probe.yaml": 18,
    "halting_draw.yaml": 8,
    "halting_ram.yaml": 3,
    "ram_translated60_std.yaml": 2,
    "ram_cluttered60_std.yaml": 2,
    "ram_cluttered100_std.yaml": 2,
    "ram_cluttered100_wide_std.yaml": 5,
    "ram_cluttered100_learned_std.yaml": 3,
    "loss_weighting_quick_probe.yaml": 6,
    "loss_weighting_quick.yaml": 25,
}


def project_sweeps(folder: Path) -> list[Path]:
    """The project's sweep files in ``folder`` (every one of :data:`DESIGNED_GRIDS` must be there),
    whatever else the folder holds."""
    missing = [name for name in DESIGNED_GRIDS if not (folder / name).is_file()]
    assert not missing, f"the project's sweep files are missing from {folder}: {missing}"
    return [folder / name for name in sorted(DESIGNED_GRIDS)]


SWEEP_FILES = project_sweeps(ROOT / "sweeps")
AGENT_PREFIX = ["/usr/bin/env", sys.executable, "-m", "lit_draw", "fit"]


@needs_engine
def test_the_shipped_sweeps_exist_and_validate_against_wandb_schema():
    assert {p.name for p in SWEEP_FILES} >= {"loss_weighting.yaml", "ram_location_std.yaml", "wsram_ablation.yaml"}
    for path in SWEEP_FILES:
        sweep = load_sweep(path)
        # the halting sweeps rank a run by its accuracy where each canvas stopped; the std probes and
        # the quick weighting sweeps by val/acc averaged over the last 5 validations (TrailingMean, on
        # in every config's callbacks)
        metric = (
            "val/halt_acc"
            if path.name.startswith("halting_")
            else "val/acc_last5"
            if path.name.endswith("_std.yaml") or path.name.startswith("loss_weighting_quick")
            else "val/acc"
        )
        assert sweep["metric"]["name"] == metric, path
        assert sweep["command"][:4] == ["${env}", "${interpreter}", "-m", "lit_draw"], path
        assert sweep["command"][-1] == "${args}" and "fit" in sweep["command"], path
        assert all("parameters" not in spec for spec in sweep["parameters"].values()), f"{path}: keys must be flat"


@needs_engine
def test_an_invalid_sweep_names_its_violation(tmp_path: Path):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"method": "grid", "parameters": {"optimizer.init_args.lr": {"valuez": [1]}}}))
    with pytest.raises(ValueError, match=r"bad.yaml is not a valid W&B sweep config: .*optimizer.init_args.lr"):
        load_sweep(path)


@needs_engine
def test_grid_sizes_are_the_designed_ones():
    assert {path.name: len(grid_points(load_sweep(path))) for path in SWEEP_FILES} == DESIGNED_GRIDS


def test_a_users_own_sweep_file_beside_the_projects_is_not_checked_as_one_of_them(tmp_path: Path):
    for name in DESIGNED_GRIDS:
        (tmp_path / name).write_text((ROOT / "sweeps" / name).read_text())
    (tmp_path / "my_sweep.yaml").write_text("method: random\nparameters: {}\n")  # not a grid, not the project's
    assert [path.name for path in project_sweeps(tmp_path)] == sorted(DESIGNED_GRIDS)
    (tmp_path / "halting_ram.yaml").unlink()
    with pytest.raises(AssertionError, match=r"missing from .*\['halting_ram.yaml'\]"):
        project_sweeps(tmp_path)


#: ``Cost (an estimate): <runs> runs x about <time> each ..., about <total> in all`` in a sweep file's header
COST = re.compile(
    r"Cost \(an estimate\): (\d+) runs? x about [^,]+ each on one thread of a 2-core CPU, about [\d.]+ (min|h) in all"
)


def test_every_project_sweep_states_its_cost_for_its_grid_in_its_header():
    for path in SWEEP_FILES:
        header = " ".join(line.lstrip("#").strip() for line in path.read_text().split("\nname:")[0].splitlines())
        stated = COST.search(header)
        assert stated, (
            f"{path.name}: no 'Cost (an estimate): N runs x about T each on one thread of a 2-core CPU, about X in all'"
        )
        assert int(stated.group(1)) == DESIGNED_GRIDS[path.name], path.name


@needs_engine
@pytest.mark.slow
def test_every_grid_point_is_accepted_by_the_cli_and_lands_in_the_resolved_config(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.chdir(ROOT)  # sweep files name configs relative to the repository root
    points = {path: grid_points(load_sweep(path)) for path in SWEEP_FILES}
    first = agent_argv(load_sweep(SWEEP_FILES[0]), points[SWEEP_FILES[0]][0])
    # one parser, as `main` builds it, for every argv (parsing only: nothing is trained)
    parser = LitDrawCLI(
        AttentionClassifier, CanvasMNIST, trainer_defaults=trainer_defaults(), run=False, args=first[5:]
    ).parser
    checked = 0
    for path, grid in points.items():
        sweep = load_sweep(path)
        for params in grid:
            argv = agent_argv(sweep, params)
            assert argv[:5] == AGENT_PREFIX
            fixed = len(sweep["command"]) - 1  # the command's own words before ${args}: --config <config>, ...
            assert argv[5:fixed] == sweep["command"][5:fixed]
            assert argv[fixed:] == [f"--{key}={value}" for key, value in params.items()]
            config = parser.parse_args(argv[5:])
            for key, value in params.items():
                if key == "config":  # a variant file: every value it sets is in the resolved config
                    expected = flatten(yaml.safe_load(Path(value).read_text()))
                else:
                    expected = {key: value}
                for dotted, want in expected.items():
                    assert config[dotted] == want, (path.name, params, dotted)
                    checked += 1
    assert checked >= 18 * 2 + 15 * 2 + 18 * 4


@needs_engine
@pytest.mark.slow
def test_random_and_bayes_sweeps_need_a_count(tmp_path: Path):
    path = tmp_path / "random.yaml"
    path.write_text(
        yaml.safe_dump({"method": "random", "parameters": {"optimizer.init_args.lr": {"min": 0.0001, "max": 0.01}}})
    )
    with pytest.raises(ValueError, match="--count is required for method 'random'"):
        main(["sweep", str(path)])


@needs_engine
@pytest.mark.slow
def test_local_sweep_runs_each_grid_point_with_the_agents_argv_grouped_in_wandb(
    mnist_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("TINY_RUNS", "tiny_runs")
    tiny = [
        *tiny_draw_args(mnist_root, canvas=28, glimpses=2, read_n=3, width=8, batch_size=8, val_size=16, train_size=32),
        "--trainer.callbacks=[]",
        "--trainer.max_steps=2",
        "--trainer.val_check_interval=2",
        "--trainer.enable_model_summary=false",
        "--trainer.default_root_dir=${envvar:TINY_RUNS}",
    ]
    sweep = {
        "name": "tiny",
        "method": "grid",
        "metric": {"name": "val/acc", "goal": "maximize"},
        "parameters": {"model.objective.init_args.weighting": {"values": ["last", "all"]}},
        "command": ["${env}", "${interpreter}", "-m", "lit_draw", "fit", *tiny, "${args}"],
    }
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(sweep))

    runs = main(["sweep", "tiny.yaml"])

    assert [run.params["model.objective.init_args.weighting"] for run in runs] == ["last", "all"]
    assert [run.state for run in runs] == ["finished", "finished"]
    # The W&B run config and group come from W&B's own variables (WANDB_SWEEP_PARAM_PATH,
    # WANDB_RUN_GROUP), as under the agent; an offline run keeps them only in W&B's binary log, which
    # lit_draw does not decode. Checked here: the parameter file W&B reads, what the CLI resolved
    # (the run's config.yaml) and the scalars (metrics.csv), in the folders named by the agent's run id.
    for run in runs:
        assert 0.0 <= run.summary_metrics["val/acc"] <= 1.0  # read back by the sweep, as bayes needs
        (directory,) = (tmp_path / "wandb").glob(f"offline-run-*-{run.name}")  # the agent's WANDB_RUN_ID
        assert values(read_metrics(directory), "val/acc") == [pytest.approx(run.summary_metrics["val/acc"])]
        weighting = run.params["model.objective.init_args.weighting"]
        (parameters,) = (tmp_path / "wandb").glob(f"sweep-*/config-{run.name}.yaml")
        assert yaml.safe_load(parameters.read_text())["model.objective.init_args.weighting"]["value"] == weighting
        resolved = yaml.safe_load((tmp_path / "tiny_runs" / run.name / "checkpoints" / "config.yaml").read_text())
        assert resolved["model"]["objective"]["init_args"]["weighting"] == weighting
    assert (tmp_path / "tiny_runs" / "checkpoints" / "last.ckpt").is_file()  # ${envvar:TINY_RUNS} expanded
    assert len(list((tmp_path / "tiny_runs").glob("*/checkpoints/last.ckpt"))) == 2  # one folder per run
    started = [line for line in capsys.readouterr().out.splitlines() if line.startswith("sweep tiny-")]
    assert len(started) == 2 and len({line.split(":")[0] for line in started}) == 1  # one group, named after the sweep


@needs_engine
def test_arguments_after_a_double_dash_end_every_runs_command_line_and_win_over_the_sweep(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """A trial run: ``sweep FILE -- --trainer.max_steps=20`` shrinks every run's budget, even one the
    sweep's parameters set (runs are recorded here, not started)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    sweep = {
        "name": "trial",
        "method": "grid",
        "metric": {"name": "val/acc", "goal": "maximize"},
        "parameters": {"optimizer.init_args.lr": {"values": [0.01, 0.02]}, "trainer.max_steps": {"value": 1500}},
        "command": [
            "${env}",
            "${interpreter}",
            "-m",
            "lit_draw",
            "fit",
            "--config",
            str(ROOT / "configs" / "quickstart.yaml"),
            "${args}",
        ],
    }
    (tmp_path / "trial.yaml").write_text(yaml.safe_dump(sweep))
    started: list[list[str]] = []
    monkeypatch.setattr(
        sweep_module.subprocess,
        "Popen",
        lambda argv, env: started.append(argv) or SimpleNamespace(poll=lambda: 0, returncode=0),
    )
    trial = ["--trainer.max_steps=20", "--trainer.default_root_dir=runs/trial"]
    main(["sweep", "trial.yaml", "--", *trial])
    assert len(started) == 2
    for argv, lr in zip(started, (0.01, 0.02), strict=True):
        assert argv[7:] == [f"--optimizer.init_args.lr={lr}", "--trainer.max_steps=1500", *trial, argv[-1]]
        assert argv[-1].startswith("--trainer.callbacks+=")  # the summary callback, still last
    config = resolved_config(started[0][4:])
    assert config["trainer"]["max_steps"] == 20 and config["trainer"]["default_root_dir"] == "runs/trial"
    assert config["optimizer"]["init_args"]["lr"] == 0.01
    assert " ".join(trial) in capsys.readouterr().out  # each run's printed command line shows them

    started.clear()
    with pytest.raises(ValueError, match=r"trial.yaml: its runs would fail: .*trainer.max_stepz"):
        main(["sweep", "trial.yaml", "--", "--trainer.max_stepz=20"])  # checked before the first run
    assert started == []


@needs_engine
def test_jobs_run_side_by_side_and_a_grid_gives_each_point_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``--jobs 2``: two runs at a time, the next one started as soon as one ends, each grid point once
    (the engine is told which runs are still running), a failed run recorded as failed."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    sweep = {
        "name": "jobs",
        "method": "grid",
        "metric": {"name": "val/acc", "goal": "maximize"},
        "parameters": {"seed_everything": {"values": [0, 1, 2, 3, 4]}},
        "command": [
            "${env}",
            "${interpreter}",
            "-m",
            "lit_draw",
            "fit",
            "--config",
            str(ROOT / "configs" / "quickstart.yaml"),
            "${args}",
        ],
    }
    (tmp_path / "jobs.yaml").write_text(yaml.safe_dump(sweep))
    alive: list[SimpleNamespace] = []  # started and not ended, oldest first
    most = 0

    def start(argv: list[str], env: dict[str, str]) -> SimpleNamespace:
        nonlocal most
        seed = int(next(a for a in argv if a.startswith("--seed_everything=")).split("=")[1])
        process = SimpleNamespace(seed=seed, returncode=None)

        def poll() -> int | None:  # the oldest run ends each time the sweep looks
            if process is alive[0]:
                alive.pop(0)
                process.returncode = 1 if seed == 3 else 0
            return process.returncode

        process.poll = poll
        alive.append(process)
        most = max(most, len(alive))
        return process

    monkeypatch.setattr(sweep_module.subprocess, "Popen", start)
    monkeypatch.setattr(sweep_module.time, "sleep", lambda seconds: None)
    runs = run_sweep("jobs.yaml", jobs=2)
    assert sorted(run.params["seed_everything"] for run in runs) == [0, 1, 2, 3, 4]
    assert most == 2
    assert [run.state for run in sorted(runs, key=lambda r: r.params["seed_everything"])] == [
        "finished",
        "finished",
        "finished",
        "failed",
        "finished",
    ]
    with pytest.raises(ValueError, match="--jobs must be >= 1, got 0"):
        run_sweep("jobs.yaml", jobs=0)


def test_the_engine_install_recipe_keeps_numpy_2_and_is_the_one_ci_and_the_hint_use():
    """The sweep extra cannot hold the engine itself (sweeps 0.3.0 pins numpy<2); it lists the
    engine's dependencies, and the recipe adds the engine with --no-deps."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["sweep"]
    names = {re.split(r"[<>=!~\[ ;]", requirement)[0].lower().replace("_", "-") for requirement in extra}
    assert "sweeps" not in names and "numpy" not in names
    assert {"scipy", "scikit-learn", "jsonschema", "jsonref", "pydantic"} <= names
    assert INSTALL_RECIPE == 'pip install -e ".[sweep]" && pip install --no-deps "sweeps==0.3.0"'
    assert INSTALL_RECIPE in INSTALL_HINT and INSTALL_RECIPE.split(" && ")[1] in sweep_module.__doc__
    ci = (ROOT / ".ci" / "run").read_text()
    assert 'pip install -q -e ".[sweep]" && pip install -q --no-deps "sweeps==0.3.0"' in ci
    if engine_available():  # every dependency the engine declares, but numpy's pin, is met by the extra or the core
        from importlib.metadata import requires

        core = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["dependencies"]
        ours = names | {re.split(r"[<>=!~\[ ;]", r)[0].lower().replace("_", "-") for r in core}
        declared = {re.split(r"[<>=!~\[ ;]", r)[0].lower().replace("_", "-") for r in requires("sweeps") or []}
        assert declared - ours == set(), declared - ours


def test_the_sweep_adds_its_summary_callback_only_to_runs_of_lit_draw():
    sweep = {"command": ["${env}", "${interpreter}", "-m", "lit_draw", "fit", "--config", "c.yaml", "${args}"]}
    argv = agent_argv(sweep, {"optimizer.init_args.lr": 0.01})
    assert lit_draw_args(argv) == ["fit", "--config", "c.yaml", "--optimizer.init_args.lr=0.01"]
    assert (
        lit_draw_args(agent_argv({"command": ["${env}", "${interpreter}", "train.py", "${args}"]}, {"lr": 0.01}))
        is None
    )
    assert lit_draw_args(["lit_draw", "fit"]) is None  # a program named lit_draw, not python -m lit_draw
    flag, value = summary_argument("s.json").split("=", 1)
    assert flag == "--trainer.callbacks+"
    assert json.loads(value) == {
        "class_path": "lit_draw.experiments.sweep.SweepSummary",
        "init_args": {"path": "s.json"},
    }


@pytest.mark.slow
def test_the_summary_callback_writes_the_last_logged_metrics_where_the_sweep_reads_them(
    mnist_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    summary = tmp_path / "summary.json"
    main(
        [
            "fit",
            *tiny_draw_args(
                mnist_root, canvas=28, glimpses=2, read_n=3, width=8, batch_size=8, val_size=16, train_size=32
            ),
            "--trainer.callbacks=[]",
            "--trainer.max_steps=2",
            "--trainer.val_check_interval=2",
            "--trainer.enable_model_summary=false",
            f"--trainer.default_root_dir={tmp_path / 'run'}",
            summary_argument(summary),
        ]
    )
    metrics = json.loads(summary.read_text())
    (logged_acc,) = values(read_metrics(run_folders(tmp_path / "wandb")[-1]), "val/acc")
    assert metrics["val/acc"] == pytest.approx(logged_acc) and 0.0 <= logged_acc <= 1.0
    assert {"val/loss", "val/acc_glimpse_1", "val/acc_glimpse_2"} <= set(metrics)
    resolved = yaml.safe_load((tmp_path / "run" / "checkpoints" / "config.yaml").read_text())
    assert resolved["trainer"]["callbacks"] == [
        {"class_path": "lit_draw.experiments.sweep.SweepSummary", "init_args": {"path": str(summary)}}
    ]


def test_only_the_adapter_imports_wandbs_sweep_engine_or_sdk_internals():
    """W&B's sweep engine (``sweeps``) and the SDK's ``wandb.sdk`` are not public APIs: one module,
    lit_draw.experiments.wandb_sweeps, reaches them (and lit_draw.private_uses lists each use)."""
    import ast

    for path in sorted((ROOT / "lit_draw").rglob("*.py")):
        imported: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported |= {alias.name for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module:
                imported.add(node.module)
        internal = {m for m in imported if m.split(".")[0] == "sweeps" or m.startswith("wandb.sdk")}
        if path.name != "wandb_sweeps.py":
            assert not internal, f"{path.relative_to(ROOT)} imports {internal}"


@pytest.mark.slow  # ten config resolutions: about a minute
@needs_engine
def test_each_point_of_the_study_weighting_sweep_is_the_protocol_of_a_reproduce_row():
    """A user runs sweeps/loss_weighting.yaml; lit_draw's results come from reproduce rows that train
    the same runs resumably. Each of the sweep's weightings must be a row's protocol (model, data,
    optimiser, budget, clipping, validation), so the two cannot drift apart."""
    from lit_draw.experiments.protocol import differences, protocol
    from lit_draw.experiments.reproduce import load_rows, row_protocol

    rows = load_rows(ROOT / "configs" / "reproduce.yaml")
    by_weighting = {
        "last": "study_last_step_curriculum",
        "all": "study_all_step_curriculum",
        "linear": "study_linear",
        "exponential_0.9": "study_exponential",
        "ponder_0.9": "study_ponder",
    }
    sweep = load_sweep(ROOT / "sweeps" / "loss_weighting.yaml")
    points = [p for p in grid_points(sweep) if p["seed_everything"] == 0]
    assert sorted(Path(p["config"]).stem for p in points) == sorted(by_weighting)
    for point in points:
        argv = lit_draw_args(agent_argv(sweep, point))
        ran = protocol(resolved_config([arg.replace("configs/", f"{ROOT}/configs/", 1) for arg in argv]))
        row = rows[by_weighting[Path(point["config"]).stem]]
        assert differences(ran, row_protocol(row)) == [], row.name
