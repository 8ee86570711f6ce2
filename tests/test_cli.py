"""The CLI end to end on real MNIST: fit, read the offline W&B run back, resume, evaluate."""

from __future__ import annotations

import os
import subprocess
import sys
import types
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import yaml

from lit_draw.__main__ import main  # the program: LightningCLI's commands and the registered ones
from lit_draw.cli import resolved_config
from lit_draw.cli.metrics_csv import read_metrics, run_folders, values
from lit_draw.data import mnist
from lit_draw.errors import ConfigError, LitDrawError
from tests.conftest import CONFIGS

pytestmark = pytest.mark.slow  # every test here builds the CLI, most train a few steps

T = 2


@pytest.fixture
def tiny(tiny_fit: Callable[..., list[str]]) -> list[str]:
    """Arguments for a DRAW classifier small enough to fit in seconds, run inside ``tmp_path``."""
    sizes = dict(batch_size=16, val_size=64, train_size=256, test_size=64)
    args = tiny_fit(canvas=32, glimpses=T, read_n=4, width=16, **sizes)
    return [*args, "--trainer.log_every_n_steps=1", "--trainer.limit_val_batches=2"]


def test_fit_logs_per_glimpse_accuracy_to_the_offline_run_and_resumes(tiny: list[str], tmp_path: Path):
    cli = main(["fit", *tiny, "--trainer.max_steps=4", "--trainer.val_check_interval=2"])
    assert cli.trainer.global_step == 4
    logged = read_metrics(run_folders(tmp_path / "wandb")[-1])  # the scalars, again as CSV beside the W&B run
    for key in ("train/loss", "train/acc", "val/loss", "val/acc", *(f"val/acc_glimpse_{t}" for t in range(1, T + 1))):
        assert values(logged, key), key
    for t in range(1, T + 1):
        assert all(0.0 <= v <= 1.0 for v in values(logged, f"val/acc_glimpse_{t}"))
    # the resolved config is the W&B run config (as W&B's own Run object holds it) and is saved beside the checkpoints
    config = cli.trainer.logger.experiment.config
    assert config["model"]["net"]["class_path"] == "lit_draw.models.DRAWClassifier"
    assert config["data"]["canvas_size"] == 32
    checkpoints = tmp_path / "run" / "checkpoints"
    assert (checkpoints / "last.ckpt").is_file() and (checkpoints / "config.yaml").is_file()
    assert any(checkpoints.glob("best-*.ckpt"))

    resumed = main(["fit", *tiny, "--trainer.max_steps=6", "--trainer.val_check_interval=2", "--ckpt_path=last"])
    assert resumed.trainer.global_step == 6
    state = torch.load(checkpoints / "last.ckpt", map_location="cpu", weights_only=False)
    assert state["global_step"] == 6
    # the run's config.yaml is its setup: `fit --config` with it starts the run anew, never resumes it (issue 35, S3)
    assert yaml.safe_load((checkpoints / "config.yaml").read_text())["ckpt_path"] is None


def test_test_command_evaluates_a_checkpoint_and_logs_test_keys(tiny: list[str], tmp_path: Path):
    main(["fit", *tiny, "--trainer.max_steps=2", "--trainer.limit_val_batches=0"])
    cli = main(["test", *tiny, "--ckpt_path=run/checkpoints/last.ckpt"])
    metrics = cli.trainer.callback_metrics
    for key in ("test/acc", "test/loss", *(f"test/acc_glimpse_{t}" for t in range(1, T + 1))):
        assert key in metrics, key
    assert values(read_metrics(run_folders(tmp_path / "wandb")[-1]), "test/acc_glimpse_2")


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

    cli = main(
        [
            "fit",
            *tiny,
            "--optimizer=SGD",
            "--optimizer.lr=0.05",
            "--trainer.max_steps=1",
            "--trainer.limit_val_batches=0",
        ]
    )
    optimizer = cli.trainer.optimizers[0]
    assert isinstance(optimizer, SGD) and optimizer.param_groups[0]["lr"] == 0.05


def test_a_scheduler_brings_a_learning_rate_monitor(tiny: list[str]):
    from lightning.pytorch.callbacks import LearningRateMonitor

    cli = main(
        [
            "fit",
            *tiny,
            "--lr_scheduler=StepLR",
            "--lr_scheduler.step_size=1",
            "--trainer.max_steps=2",
            "--trainer.limit_val_batches=0",
        ]
    )
    assert any(isinstance(c, LearningRateMonitor) for c in cli.trainer.callbacks)
    assert values(read_metrics(run_folders("wandb")[-1]), "lr-Adam")


def test_an_objective_that_does_not_fit_the_net_is_one_line(tiny: list[str]):
    with pytest.raises(ValueError, match="Reinforce trains nets whose trace is 'policy', but DRAWClassifier"):
        main(["fit", *tiny, "--model.objective=lit_draw.objectives.Reinforce", "--trainer.max_steps=1"])


def test_bad_weighting_is_reported_by_name(tiny: list[str]):
    # the parser refuses it against the field's annotation, naming the weightings it allows (a Python
    # caller gets the constructor's own message: tests/test_module.py)
    with pytest.raises(
        ConfigError,
        match=r'Parser key "weighting": .*Expected a typing.Literal\[\'last\', \'all\', '
        r"'linear', 'exponential'\].* Given value: first ",
    ):
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
    assert values(read_metrics(run_folders(tmp_path / "wandb")[-1]), "train/loss")  # the newest run: ours, offline


# ------------------------------------------------------------------ ordinary mistakes: one line each


def _truncated_checkpoint(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"state_dict": {"w": torch.zeros(1000)}}, path)
    path.write_bytes(path.read_bytes()[:2000])


def _truncated_last(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _truncated_checkpoint(tmp_path / "run" / "abc" / "checkpoints" / "last.ckpt")
    (tmp_path / "run" / "checkpoints").symlink_to("abc/checkpoints")


def _sweep_file(name: str, **fields: object) -> Callable[[Path, pytest.MonkeyPatch], None]:
    def write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        pytest.importorskip("sweeps.bayes_search", reason="W&B's sweep engine is the optional extra lit_draw[sweep]")
        command = [
            "${env}",
            "${interpreter}",
            "-m",
            "lit_draw",
            "fit",
            "--config",
            str(CONFIGS / "quickstart.yaml"),
            "${args}",
        ]
        parameters = {"model.objective.init_args.weighting": {"values": ["last"]}}
        sweep = {"method": "grid", "parameters": parameters, "command": command, **fields}
        (tmp_path / name).write_text(yaml.safe_dump(sweep))

    return write


def _no_sweep_engine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # what `import sweeps` gives without the engine: the repository's sweeps/ folder, a namespace package
    monkeypatch.setitem(sys.modules, "sweeps", types.ModuleType("sweeps"))
    (tmp_path / "s.yaml").write_text("method: grid\n")


def _write(name: str, text: str) -> Callable[[Path, pytest.MonkeyPatch], None]:
    return lambda tmp_path, monkeypatch: (tmp_path / name).write_text(text)


def _read_only_empty_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "empty").mkdir()
    monkeypatch.setattr(mnist, "_writable", lambda folder: False)  # chmod does not stop root, who runs CI


def _fit_without_test(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A default_root_dir ``root`` whose fit (run id abc) logged to ./wandb, and no test."""
    (tmp_path / "root" / "abc" / "checkpoints").mkdir(parents=True)
    run = tmp_path / "wandb" / "offline-run-20260101_000000-abc" / "csv"
    run.mkdir(parents=True)
    (run / "metrics.csv").write_text("step,epoch,val/acc\n2,0,0.5\n")


def _metrics_not_numbers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = tmp_path / "wandb" / "offline-run-20260101_000000-abc" / "csv"
    run.mkdir(parents=True)
    (run / "metrics.csv").write_text("step,epoch,test/acc\n2,0,0.5\n3,0,oops\n")


def _binary_metrics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = tmp_path / "wandb" / "offline-run-20260101_000000-abc" / "csv"
    run.mkdir(parents=True)
    (run / "metrics.csv").write_bytes(bytes(range(256)) * 4)


def _kept_seed(**files: bytes) -> Callable[[Path, pytest.MonkeyPatch], None]:
    def write(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        seed = tmp_path / "records" / "study_all_step" / "seed0"
        seed.mkdir(parents=True)
        for name, content in files.items():
            (seed / name.replace("__", ".")).write_bytes(content)

    return write


def _truncated_gzip() -> bytes:
    import gzip

    return gzip.compress(b"step,epoch,val/acc\n" + b"".join(b"%d,0,0.5\n" % s for s in range(2000)))[:300]


TINY = "tiny"  # the case's arguments follow the tiny DRAW run's
#: id -> (arguments, what the one line must say, setup in tmp_path). Each is an ordinary mistake that
#: once gave a traceback from deep inside a library, or named no file.
ONE_LINE_ERRORS: dict[str, tuple[list[str], str, Callable[[Path, pytest.MonkeyPatch], None] | None]] = {
    "test_without_ckpt_path": ([TINY, "test"], r"^test needs --ckpt_path .*--untrained scores the untrained", None),
    "validate_without_ckpt_path": ([TINY, "validate"], r"^validate needs --ckpt_path", None),
    "predict_without_ckpt_path": ([TINY, "predict"], r"^predict needs --ckpt_path", None),
    "fit_untrained": ([TINY, "fit", "--untrained=true"], r"^--untrained is for validate, test and predict", None),
    "fit_untrained_bare": ([TINY, "fit", "--untrained"], r"^--untrained is for validate, test and predict", None),
    "ckpt_missing": ([TINY, "test", "--ckpt_path=missing.ckpt"], r"^--ckpt_path missing.ckpt: no such file$", None),
    "fit_ckpt_missing": ([TINY, "fit", "--ckpt_path=missing.ckpt"], r"^--ckpt_path missing.ckpt: no such file$", None),
    "ckpt_truncated": (
        [TINY, "test", "--ckpt_path=bad.ckpt"],
        r"^--ckpt_path bad.ckpt: cannot be loaded \(",
        lambda tmp_path, monkeypatch: _truncated_checkpoint(tmp_path / "bad.ckpt"),
    ),
    "ckpt_empty": (
        [TINY, "test", "--ckpt_path=empty.ckpt"],
        r"^--ckpt_path empty.ckpt: the file is empty, not a checkpoint$",
        lambda tmp_path, monkeypatch: (tmp_path / "empty.ckpt").write_bytes(b""),
    ),
    "ckpt_text": (
        [TINY, "test", "--ckpt_path=notes.ckpt"],
        r"^--ckpt_path notes.ckpt: not a checkpoint \(torch.save writes a zip archive",
        lambda tmp_path, monkeypatch: (tmp_path / "notes.ckpt").write_text("not weights"),
    ),
    "ckpt_without_state_dict": (
        [TINY, "test", "--ckpt_path=plain.pt"],
        r"^--ckpt_path plain.pt: a torch file without a state_dict, not a Lightning checkpoint",
        lambda tmp_path, monkeypatch: torch.save({"w": torch.zeros(2)}, tmp_path / "plain.pt"),
    ),
    "init_from_missing": (
        [TINY, "fit", "--init_from=gone.ckpt"],
        r"^--init_from gone.ckpt: no such file$",
        None,
    ),
    "reinit_without_init_from": (
        [TINY, "fit", "--reinit=[classifier]"],
        r"^--reinit re-initialises groups after --init_from loads a checkpoint",
        None,
    ),
    "fit_last_truncated": (
        [TINY, "fit", "--ckpt_path=last"],
        r"^--ckpt_path run/abc/checkpoints/last.ckpt: cannot be loaded",
        _truncated_last,
    ),
    "fit_last_without_a_run": (
        [TINY, "fit", "--ckpt_path=last"],
        r"^fit --ckpt_path last: no last.ckpt saved under run/\*/checkpoints; leave out --ckpt_path to start a new run$",
        None,
    ),
    "test_best_without_a_run": (
        [TINY, "test", "--ckpt_path=best"],
        r"^test --ckpt_path best: no best checkpoint saved under run/\*/checkpoints$",
        None,
    ),
    "test_hpc_without_one": (
        [TINY, "test", "--ckpt_path=hpc"],
        r"^test --ckpt_path hpc: no hpc_ckpt_<n>.ckpt saved under run$",
        None,
    ),
    "seed_negative": (
        [TINY, "fit", "--seed_everything=-1"],
        r"^seed_everything must be an int in 0 .. 4294967295 \(or true: a random one\), got -1$",
        None,
    ),
    "root_dir_is_a_file": (
        [TINY, "fit", "--trainer.default_root_dir=afile"],
        r"^trainer.default_root_dir must be a folder, got afile \(a file\)$",
        _write("afile", "not a folder"),
    ),
    "monitor_not_logged": (
        [TINY, "fit", "--checkpoint.monitor=val/acc_typo", "--trainer.max_steps=2"],
        r"^checkpoint.monitor must be a key the model logs \(.*val/acc, .*\), got 'val/acc_typo'$",
        None,
    ),
    "unknown_command": (
        ["frobnicate"],
        r"^command must be one of fit, validate, test, predict, bench, sweep, reproduce, figures, halting-frontier, "
        r"plateau, weightings, view, got 'frobnicate'",
        None,
    ),
    # issue 35: trainer values Lightning took silently (S6) or divided by (ZeroDivisionError), a registry
    # checkpoint (FileNotFoundError after the run folder was made), a root nobody can write (PermissionError)
    "gradient_clip_negative": (
        [TINY, "fit", "--trainer.gradient_clip_val=-1"],
        r"^trainer.gradient_clip_val must be >= 0 \(0 or null: no clipping\), got -1",
        None,
    ),
    "val_check_interval_zero": (
        [TINY, "fit", "--trainer.val_check_interval=0"],
        r"^trainer.val_check_interval must be > 0 \(a float <= 1.0: .*\), got 0$",
        None,
    ),
    "accumulate_grad_batches_zero": (
        [TINY, "fit", "--trainer.accumulate_grad_batches=0"],
        r"^trainer.accumulate_grad_batches must be an int >= 1, got 0$",
        None,
    ),
    "val_check_interval_longer_than_an_epoch": (
        [TINY, "fit", "--trainer.val_check_interval=1000", "--trainer.max_steps=2"],
        r"^trainer.val_check_interval must be at most the training batches of an epoch \(16\), .*, got 1000$",
        None,
    ),
    "ckpt_path_registry": (
        [TINY, "fit", "--ckpt_path=registry"],
        r"^--ckpt_path must be a checkpoint file, or last, best or hpc \(.*model registry\), got 'registry'$",
        None,
    ),
    "root_dir_unwritable": (
        [TINY, "fit", "--trainer.default_root_dir=/proc/lit_draw_run"],
        r"^trainer.default_root_dir must be a folder lit_draw can write, got /proc/lit_draw_run \(cannot write in /proc: ",
        None,
    ),
    "predict_root_unwritable": (
        [TINY, "predict", "--untrained=true", "--trainer.default_root_dir=/sys/lit_draw_run"],
        r"^trainer.default_root_dir must be a folder lit_draw can write, got /sys/lit_draw_run \(cannot write in /sys: ",
        None,
    ),
    # S3 / S4: a run's config.yaml written before it left ckpt_path out resumed that run (fit) or tested its checkpoint
    "fit_ckpt_path_from_a_saved_config": (
        [TINY, "fit", "--config", "saved.yaml"],
        r"^ckpt_path must come from the command line, got '/old/run/checkpoints/last.ckpt' from --config saved.yaml: "
        r"a config gives a run's setup, not the checkpoint to resume \(give --ckpt_path /old",
        _write("saved.yaml", "ckpt_path: /old/run/checkpoints/last.ckpt\n"),
    ),
    "test_ckpt_path_from_a_saved_config": (
        [TINY, "test", "--config=saved.yaml"],
        r"^ckpt_path must come from the command line, got 'a.ckpt' from --config saved.yaml: .* checkpoint to evaluate",
        _write("saved.yaml", "ckpt_path: a.ckpt\n"),
    ),
    "no_command": (
        [],
        r"^a command is needed, one of fit, validate, test, predict, bench, sweep, reproduce, figures, "
        r"halting-frontier, plateau, weightings, view ",
        None,
    ),
    "bench_zero_steps": (
        ["bench", "--model", "draw", "--steps", "0"],
        r"^--steps must be a positive int, got 0$",
        None,
    ),
    "bench_negative_steps": (
        ["bench", "--model", "draw", "--steps=-1"],
        r"^--steps must be a positive int, got -1$",
        None,
    ),
    "bench_zero_batch": (
        ["bench", "--model", "draw", "--batch-size", "0"],
        r"^--batch-size must be a positive int, got 0$",
        None,
    ),
    "test_last_without_a_run": (
        [TINY, "test", "--ckpt_path=last"],
        r"^test --ckpt_path last: no last.ckpt saved under run/\*/checkpoints$",
        None,
    ),
    "config_missing": ([TINY, "fit", "--config", "none.yaml"], r"^--config none.yaml: no such file$", None),
    "config_not_yaml": (
        [TINY, "fit", "--config", "bad.yaml"],
        r"^--config bad.yaml: not valid YAML at line 2, column 1",
        _write("bad.yaml", "model: [\n"),
    ),
    "config_empty": ([TINY, "fit", "--config=empty.yaml"], r"^--config empty.yaml is empty", _write("empty.yaml", "")),
    "config_a_list": (
        [TINY, "fit", "--config", "list.yaml"],
        r"^--config list.yaml must hold a mapping of settings, got a list$",
        _write("list.yaml", "- 1\n- 2\n"),
    ),
    "checkpoint_combination": ([TINY, "fit", "--checkpoint.save_top_k=-2"], r"save_top_k.*-2", None),
    "ram_patch_larger_than_canvas": (
        ["fit", "--config", str(CONFIGS / "ram_mnist.yaml"), "--model.net.init_args.patch=32"],
        r"^RAM.patch must be <= canvas_size \(28\), got 32$",
        None,
    ),
    "ram_coarsest_view_larger_than_canvas": (
        ["fit", "--config", str(CONFIGS / "ram_mnist.yaml"), "--model.net.init_args.scales=6"],
        r"^RAM.scales must be <= 2 for patch 8 on a 28x28 canvas \(the coarsest view, patch \* 2\^\(scales-1\) = 256 px, "
        r"must fit the canvas\), got 6$",
        None,
    ),
    "draw_read_grid_larger_than_canvas": (
        ["fit", "--config", str(CONFIGS / "quickstart.yaml"), "--model.net.init_args.read_n=100"],
        r"^DRAWClassifier.read_n must be <= canvas_size \(40\) \(an N x N read grid of at most one filter per canvas "
        r"pixel\), got 100$",
        None,
    ),
    # a value outside a field's annotated type or choices: the parser's line, naming the field
    "ram_cell_not_a_choice": (
        ["fit", "--config", str(CONFIGS / "ram_mnist.yaml"), "--model.net.init_args.cell=gru"],
        r"^Parser key \"model.net\": Problem with given class_path 'lit_draw.models.RAM': Parser key \"cell\": Expected a "
        r"typing.Literal\['relu', 'lstm'\]. Got value: gru \(python -m lit_draw fit --help lists every option\)$",
        None,
    ),
    "ram_patch_not_positive": (
        ["fit", "--config", str(CONFIGS / "ram_mnist.yaml"), "--model.net.init_args.patch=0"],
        r"^Parser key \"model.net\": Problem with given class_path 'lit_draw.models.RAM': Parser key \"patch\": Not of type "
        r"PositiveInt: 0 does not conform to restriction v>0 \(python -m lit_draw fit --help lists every option\)$",
        None,
    ),
    "ram_std_not_positive": (
        ["fit", "--config", str(CONFIGS / "ram_mnist.yaml"), "--model.net.init_args.std=-0.1"],
        r'^Parser key "model.net": .*Parser key "std": Not of type PositiveFloat: -0.1 does not conform to restriction v>0 ',
        None,
    ),
    "data_batch_size_zero": (
        [TINY, "fit", "--data.batch_size=0"],
        r'^Parser key "data.batch_size": Not of type PositiveInt: 0 does not conform to restriction v>0 '
        r"\(python -m lit_draw fit --help lists every option\)$",
        None,
    ),
    "data_canvas_smaller_than_a_digit": (
        [TINY, "fit", "--data.canvas_size=20"],
        r'^Parser key "data.canvas_size": Not of type IntAtLeast28: 20 does not conform',
        None,
    ),
    "halting_prior_out_of_range": (
        ["fit", "--config", str(CONFIGS / "quickstart_halting.yaml"), "--model.objective.init_args.prior_halt=1"],
        r'^Parser key "model.objective": .*Parser key "prior_halt": Not of type OpenUnitInterval: 1 does not conform',
        None,
    ),
    "early_exit_tau_zero": (
        [TINY, "fit", "--trainer.callbacks+=lit_draw.callbacks.EarlyExit", "--trainer.callbacks.taus=[0, 0.5]"],
        r'^Parser key "trainer.callbacks": .*Parser key "taus": Not of type LeftOpenUnitInterval: 0 does not conform',
        None,
    ),
    "data_root_is_a_file": (
        [TINY, "fit", "--data.root=afile", "--trainer.max_steps=1"],
        r"^data root afile: cannot create afile/MNIST/raw",
        _write("afile", "not a folder"),
    ),
    "data_root_read_only_and_empty": (
        [TINY, "fit", "--data.root=empty", "--trainer.max_steps=1"],
        r"^data root empty: empty/MNIST/raw is read-only and lacks",
        _read_only_empty_root,
    ),
    "view_missing_checkpoint": (
        ["view", "--ckpt", "none.ckpt", "--out", "v.html"],
        r"^--ckpt none.ckpt: no such file$",
        None,
    ),
    "view_no_samples": (
        ["view", "--ckpt", "none.ckpt", "--samples", "0", "--out", "v.html"],
        r"^--samples must be an int >= 1, got 0$",
        None,
    ),
    "view_data_config_not_yaml": (
        ["view", "--ckpt", "none.ckpt", "--data-config", "bad.yaml", "--out", "v.html"],
        r"^--data-config bad.yaml: not valid YAML at line 2, column 1",
        _write("bad.yaml", "data: [\n"),
    ),
    "view_out_a_folder": (
        ["view", "--ckpt", "none.ckpt", "--data-config", "d.yaml", "--out", "pages"],
        r"^--out must be the HTML file to write, got pages \(a folder; e.g. --out pages/view.html\)$",
        lambda tmp_path, monkeypatch: (
            (tmp_path / "pages").mkdir(),
            (tmp_path / "d.yaml").write_text("canvas_size: 60\n"),
        ),
    ),
    "reproduce_rows_missing": (
        ["reproduce", "--rows", "none.yaml", "--list"],
        r"^--rows none.yaml: no such file$",
        None,
    ),
    "reproduce_rows_not_yaml": (
        ["reproduce", "--rows=bad.yaml", "--list"],
        r"^--rows bad.yaml: not valid YAML at line 2, column 1",
        _write("bad.yaml", "- name: [\n"),
    ),
    "figures_unknown_study_rows": (
        ["figures", "--study", "nope1", "nope2", "--wsram", "--out", "figs"],
        r"^--study must name rows of reproduce.yaml or rows with seeds under runs/reproduce or records "
        r"\(study_all_step, .*\), got nope1, nope2$",
        None,
    ),
    # halting-frontier and figures on what fit and test write, or on damaged files (issue 35)
    "halting_frontier_on_a_default_root_dir": (
        ["halting-frontier", "--title", "t", "--all-step", "root", "--halting", "root", "--out", "f.png"],
        r"^no W&B run folder under root, a trainer.default_root_dir: fit writes its W&B runs to \S*wandb \(WANDB_DIR=<folder> .*\); "
        r"its fit's are \S*wandb/offline-run-20260101_000000-abc; give the W&B run folder of the test run after fit",
        _fit_without_test,
    ),
    "halting_frontier_on_a_fit_without_its_test": (
        [
            "halting-frontier",
            "--title",
            "t",
            "--all-step",
            "wandb/offline-run-20260101_000000-abc",
            "--halting",
            "wandb/offline-run-20260101_000000-abc",
            "--out",
            "f.png",
        ],
        r"logged no test/halt_glimpses \(`python -m lit_draw test` logs to a W&B run of its own: give the test's W&B run folder",
        _fit_without_test,
    ),
    "halting_frontier_metrics_not_a_number": (
        ["halting-frontier", "--title", "t", "--all-step", "wandb", "--halting", "wandb", "--out", "f.png"],
        r"^metrics file .*offline-run-20260101_000000-abc/csv/metrics.csv: line 3, column test/acc: not a number, got 'oops'$",
        _metrics_not_numbers,
    ),
    "halting_frontier_metrics_binary": (
        ["halting-frontier", "--title", "t", "--all-step", "wandb", "--halting", "wandb", "--out", "f.png"],
        r"^metrics file .*/csv/metrics.csv: not a CSV text file \(byte \d+ is not UTF-8\)$",
        _binary_metrics,
    ),
    "figures_truncated_train_metrics": (
        ["figures", "--out", "figs", "--wsram"],
        r"^metrics file records/study_all_step/seed0/train_metrics.csv.gz: a truncated or corrupt gzip file",
        _kept_seed(train_metrics__csv__gz=_truncated_gzip()),
    ),
    "figures_binary_confusion": (
        ["figures", "--out", "figs", "--wsram"],
        r"^confusion matrix records/study_all_step/seed0/test_confusion.csv: not a CSV text file",
        _kept_seed(test_confusion__csv=bytes(range(128, 256)) * 4),
    ),
    "reproduce_fast_dev_run": (  # issue 35, S2: it trained into runs/reproduce/ and failed there with a traceback
        ["reproduce", "r", "--rows", "rows.yaml", "--", "--trainer.fast_dev_run=true"],
        r"^reproduce: --trainer.fast_dev_run must be left out \(it trains one batch and keeps no checkpoint to test\); ",
        _write("rows.yaml", f"- name: r\n  configs: [{CONFIGS / 'quickstart.yaml'}]\n  budget: {{epochs: 1}}\n"),
    ),
    "sweep_missing_file": (["sweep", "none.yaml"], r"^sweep file none.yaml: no such file$", _sweep_file("other.yaml")),
    "sweep_unknown_method": (
        ["sweep", "s.yaml"],
        r"^s.yaml is not a valid W&B sweep config: 'gird' is not one of",
        _sweep_file("s.yaml", method="gird"),
    ),
    "sweep_server_only_method": (
        ["sweep", "s.yaml"],
        r"^s.yaml: method must be one of grid, random, bayes to run here, got 'custom'$",
        _sweep_file("s.yaml", method="custom"),
    ),
    "sweep_key_the_cli_rejects": (
        ["sweep", "s.yaml"],
        r"^s.yaml: its runs would fail: .*--model.weightin=last",
        _sweep_file("s.yaml", parameters={"model.weightin": {"values": ["last"]}}),
    ),
    "sweep_missing_file_without_engine": (
        ["sweep", "none.yaml"],
        r"^sweep file none.yaml: no such file$",
        _no_sweep_engine,
    ),
    "sweep_engine_missing": (
        ["sweep", "s.yaml"],
        r"^python -m lit_draw sweep needs W&B's sweep engine: pip install",
        _no_sweep_engine,
    ),
}


@pytest.mark.parametrize("case", ONE_LINE_ERRORS)
def test_ordinary_mistakes_are_one_line_errors_naming_the_file_or_field(
    case: str, tiny: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    args, pattern, setup = ONE_LINE_ERRORS[case]
    if setup is not None:
        setup(tmp_path, monkeypatch)
    if args and args[0] == TINY:
        args = [args[1], *tiny, *args[2:]]
    with pytest.raises(LitDrawError, match=pattern) as info:
        main(args)
    assert "\n" not in str(info.value)


def test_python_m_lit_draw_prints_a_mistake_in_one_line_with_status_1(tmp_path: Path):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "lit_draw",
            "test",
            "--config",
            str(CONFIGS / "quickstart.yaml"),
            "--ckpt_path=gone.ckpt",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        env={**os.environ, "WANDB_MODE": "offline"},
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == "python -m lit_draw: error: --ckpt_path gone.ckpt: no such file"
    assert "Traceback" not in result.stderr


def test_a_missing_or_unknown_command_is_refused_before_torch_lightning_or_wandb_is_imported():
    """Issue 35 (a CLI that answers at once): benchmarks/startup.py measures it."""
    probe = (
        "import sys\nimport lit_draw.__main__ as entry\nsys.argv = ['lit_draw', *sys.argv[1:]]\n"
        "try:\n    entry.run()\nexcept SystemExit as stop:\n    print(stop.code, file=sys.stderr)\n"
        "print(sorted(m for m in ('torch', 'lightning', 'wandb', 'jsonargparse') if m in sys.modules))"
    )
    for args in ([], ["frobnicate"]):
        result = subprocess.run([sys.executable, "-c", probe, *args], capture_output=True, text=True)
        assert result.stdout.strip() == "[]", result.stderr
        assert result.stderr.startswith("python -m lit_draw: error: "), result.stderr


def test_a_resolved_config_is_what_fit_would_run_and_resolving_it_seeds_and_builds_nothing():
    torch.manual_seed(5)
    expected = torch.rand(3)
    torch.manual_seed(5)
    config = resolved_config(["fit", "--config", str(CONFIGS / "ram_mnist.yaml"), "--model.net.init_args.std=0.05"])
    assert torch.equal(torch.rand(3), expected)  # the caller's random state is untouched
    assert (
        config["model"]["net"]["class_path"] == "lit_draw.models.RAM"
        and config["model"]["net"]["init_args"]["std"] == 0.05
    )
    assert config["optimizer"]["init_args"]["betas"] == [0.9, 0.999]  # plain YAML values, as fit's config.yaml holds
    assert config["trainer"]["max_epochs"] == 200 and config["seed_everything"] == 0
    with pytest.raises(ConfigError, match="std"):
        resolved_config(["fit", "--config", str(CONFIGS / "ram_mnist.yaml"), "--model.net.init_args.std=big"])


def test_a_reader_that_stops_early_gets_no_traceback(tmp_path: Path):
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is gone before the first line, as `--list | head -1` is by the second
    try:
        result = subprocess.run(
            [sys.executable, "-m", "lit_draw", "reproduce", "--list"],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            cwd=CONFIGS.parent,
        )
    finally:
        os.close(write_end)
    assert result.returncode == 1
    assert result.stderr == "", result.stderr


# ------------------------------------------------- --help: each option's type and allowed values


def _help(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """``python -m lit_draw fit <args>``'s help, whitespace collapsed (argparse wraps its lines)."""
    with pytest.raises(SystemExit) as exit_info:
        main(["fit", *args])
    assert exit_info.value.code == 0
    return " ".join(capsys.readouterr().out.split())


def test_help_lists_the_allowed_values_of_a_choice_and_the_type_of_a_range(capsys: pytest.CaptureFixture[str]):
    from lit_draw.losses import REWARDS, WEIGHTINGS
    from lit_draw.models.cells import CELLS
    from lit_draw.models.ram import STARTS

    data = _help(capsys, "--help")
    assert (
        "--data.batch_size BATCH_SIZE canvases per training batch, an int >= 1. (type: PositiveInt, default: 128)"
        in data
    )
    assert "(type: IntAtLeast28, default: 60)" in data  # data.canvas_size
    assert "(type: PositiveInt | null, default: null)" in data  # data.eval_batch_size
    ram = _help(capsys, "--model.net.help", "lit_draw.models.RAM")
    # the choices are the tuples the constructors check against
    assert f"--model.net.cell {{{','.join(CELLS)}}}" in ram and f"--model.net.start {{{','.join(STARTS)}}}" in ram
    assert "retina patch side in pixels. (type: PositiveInt, default: 8)" in ram
    assert "(type: PositiveFloat, default: 0.17)" in ram and "(type: NonNegativeInt, default: 0)" in ram
    objective = _help(capsys, "--model.objective.help", "lit_draw.objectives.Reinforce")
    assert f"--model.objective.reward {{{','.join(REWARDS)}}}" in objective
    assert (
        f"(type: Union[Literal[{', '.join(map(repr, WEIGHTINGS))}], list[NonNegativeFloat]], default: last)"
        in objective
    )
    wsram = _help(capsys, "--model.net.help", "lit_draw.models.WSRAM")
    assert "(type: FloatAtLeast1, default: 1.0)" in wsram and "(type: PolicyStd, default: 0.2)" in wsram
    assert "(type: Sequence[LeftOpenUnitInterval]" in _help(
        capsys, "--trainer.callbacks.help", "lit_draw.callbacks.EarlyExit"
    )
    # issue 35, S6: a negative value is refused, and --help says what 0 means
    assert "The value at which to clip gradients, >= 0; 0 or null: no clipping (a negative value is refused)." in data


# ------------------------------------------------------------- checkpoints that are what they claim


def test_each_fit_has_its_own_folder_and_last_is_always_the_newest_runs_newest_checkpoint(
    tiny: list[str], tmp_path: Path
):
    first = main(
        [
            "fit",
            *tiny,
            "--trainer.max_steps=2",
            "--trainer.limit_val_batches=0",
            "--model.objective.init_args.weighting=all",
        ]
    )
    second = main(
        [
            "fit",
            *tiny,
            "--trainer.max_steps=3",
            "--trainer.limit_val_batches=0",
            "--model.objective.init_args.weighting=last",
        ]
    )
    folders = [Path(cli.trainer.checkpoint_callback.dirpath) for cli in (first, second)]
    assert folders[0] != folders[1] and all(f.parent.parent == tmp_path / "run" for f in folders)
    assert [f.parent.name for f in folders] == [cli.trainer.logger.version for cli in (first, second)]  # W&B run ids
    for folder, steps, weighting in zip(folders, (2, 3), ("all", "last"), strict=True):
        assert sorted(p.name for p in folder.glob("last*.ckpt")) == ["last.ckpt"]  # never last-v1.ckpt
        assert torch.load(folder / "last.ckpt", map_location="cpu", weights_only=False)["global_step"] == steps
        assert (
            yaml.safe_load((folder / "config.yaml").read_text())["model"]["objective"]["init_args"]["weighting"]
            == weighting
        )
    assert (tmp_path / "run" / "checkpoints").resolve() == folders[1]  # the link names the newest fit
    tested = main(["test", *tiny, "--model.objective.init_args.weighting=last", "--ckpt_path=last"])
    assert Path(tested.trainer.ckpt_path).resolve() == folders[1] / "last.ckpt"
    # a run's config.yaml evaluates its checkpoints as they are (the README's way)
    tested = main(["test", "--config", str(folders[0] / "config.yaml"), "--ckpt_path", str(folders[0] / "last.ckpt")])
    assert "test/acc" in tested.trainer.callback_metrics
    # evaluating writes nothing into the run's folder (its config.yaml stays the fit's)
    assert (
        yaml.safe_load((folders[1] / "config.yaml").read_text())["model"]["objective"]["init_args"]["weighting"]
        == "last"
    )


def test_a_checkpoint_of_another_model_or_other_settings_is_refused_and_its_config_kept(
    tiny: list[str], tmp_path: Path, mnist_root: Path
):
    main(["fit", *tiny, "--trainer.max_steps=1", "--trainer.limit_val_batches=0"])
    config = (tmp_path / "run" / "checkpoints" / "config.yaml").read_text()
    ram = ["--config", str(CONFIGS / "ram_mnist.yaml"), f"--data.root={mnist_root}", "--trainer.default_root_dir=run"]
    with pytest.raises(
        LitDrawError, match=r"holds a lit_draw.models.DRAWClassifier model but the config asks for lit_draw.models.RAM"
    ):
        main(["test", *ram, "--ckpt_path=last"])
    # resuming restores the checkpoint's settings: a changed one would be recorded but not used
    with pytest.raises(
        LitDrawError,
        match=r"the checkpoint's model.objective.init_args.weighting is 'all' but the config asks for 'last'",
    ):
        main(["fit", *tiny, "--ckpt_path=last", "--model.objective.init_args.weighting=last", "--trainer.max_steps=2"])
    with pytest.raises(LitDrawError, match=r"model.net.init_args.glimpses is 2 but the config asks for 3"):
        main(["test", *tiny, "--ckpt_path=last", "--model.net.init_args.glimpses=3"])
    # the optimiser's rate comes from the CLI's optimizer group: a resume cannot change it silently
    with pytest.raises(LitDrawError, match=r"lr is 0.5 in the config, 0.002 in the checkpoint"):
        main(["fit", *tiny, "--ckpt_path=last", "--optimizer.lr=0.5", "--trainer.max_steps=2"])
    assert (tmp_path / "run" / "checkpoints" / "config.yaml").read_text() == config


def test_untrained_evaluation_runs_only_when_asked_for(tiny: list[str]):
    # --untrained, as the README and the refusal without --ckpt_path write it (only --untrained=true parsed: issue 35)
    cli = main(["test", *tiny, "--untrained"])
    assert "test/acc" in cli.trainer.callback_metrics
    assert resolved_config(["validate", *tiny, "--untrained", "--trainer.limit_val_batches=1"])["untrained"] is True


def test_predict_writes_per_glimpse_probabilities_and_names_the_file(
    tiny: list[str], capsys: pytest.CaptureFixture[str]
):
    main(["fit", *tiny, "--trainer.max_steps=1", "--trainer.limit_val_batches=0"])
    capsys.readouterr()
    main(["predict", *tiny, "--ckpt_path=last", "--trainer.limit_predict_batches=2"])
    (line,) = [line for line in capsys.readouterr().out.splitlines() if line.startswith("predict: wrote ")]
    path = Path(line.removeprefix("predict: wrote ").split(" (")[0])
    result = torch.load(path, weights_only=True)
    assert result["probs"].shape == (T, 32, 10) and result["labels"].shape == (32,)
    assert torch.allclose(result["probs"].sum(-1), torch.ones(T, 32))
    assert result["labels"].min() >= 0 and result["labels"].max() <= 9


def test_a_fast_dev_run_gets_its_own_folder_and_a_later_fit_is_not_refused(tiny: list[str], tmp_path: Path):
    # Lightning saves last.ckpt at the end of a fast_dev_run too: it must not land in runs/<name>/checkpoints itself
    main(["fit", *tiny, "--trainer.fast_dev_run=1"])
    assert (tmp_path / "run" / "checkpoints").is_symlink()
    cli = main(["fit", *tiny, "--trainer.max_steps=1", "--trainer.limit_val_batches=0"])
    assert (tmp_path / "run" / "checkpoints").resolve() == Path(cli.trainer.checkpoint_callback.dirpath)


# ------------------------------------------------- metrics.csv across a resume (issue 35)


def _metrics_file(folder: Path, rows: list[dict[str, float]]) -> Path:
    from lit_draw.cli.metrics_csv import CSV_FOLDER, METRICS_FILE, write_rows

    (folder / CSV_FOLDER).mkdir(parents=True)
    write_rows(folder / CSV_FOLDER / METRICS_FILE, rows)
    return folder


def test_steps_logged_again_after_a_resume_keep_their_newest_value(tmp_path: Path):
    """A fit killed at step 5 whose last.ckpt held step 3 logs steps 3-5 again when resumed: read_metrics
    and the figures (a seed's history, and a kept record written before this fix) hold each step once,
    with the resumed run's value."""
    from lit_draw.cli.metrics_csv import write_rows
    from lit_draw.experiments.seed_runs import TRAIN_FILE, load_seeds

    first = [{"step": s, "epoch": 0, "train/loss": 10.0 + s} for s in range(6)] + [
        {"step": 4, "epoch": 0, "val/acc": 0.1}
    ]
    second = [{"step": s, "epoch": 0, "train/loss": float(s)} for s in range(3, 8)] + [
        {"step": 4, "epoch": 0, "val/acc": 0.2}
    ]
    folders = [
        _metrics_file(tmp_path / "wandb" / f"offline-run-2026010{i}_000000-abc", rows)
        for i, rows in ((1, first), (2, second))
    ]
    rows = read_metrics(run_folders(tmp_path / "wandb"))
    expected = [(0, 10.0), (1, 11.0), (2, 12.0), *((s, float(s)) for s in range(3, 8))]
    assert [(r["step"], r["train/loss"]) for r in rows if "train/loss" in r] == expected
    assert [(r["step"], r["val/acc"]) for r in rows if "val/acc" in r] == [(4, 0.2)]
    assert read_metrics(folders[0]) == first  # one run without repeats reads as written

    kept = tmp_path / "records" / "row" / "seed1"
    kept.mkdir(parents=True)
    write_rows(kept / TRAIN_FILE, first + second)
    (seed,) = load_seeds(tmp_path / "runs", "row", kept=tmp_path / "records")
    assert [r["step"] for r in seed.history if "train/loss" in r] == list(range(8))


def test_a_monitor_typo_or_a_too_long_val_check_interval_leaves_no_run_behind(tiny: list[str], tmp_path: Path):
    """Issue 35: the refusal of a monitored key the model does not log came after the run's folder, its
    config.yaml and a W&B run were made; it leaves none of them."""
    with pytest.raises(ConfigError, match=r"^checkpoint.monitor must be a key the model logs"):
        main(["fit", *tiny, "--checkpoint.monitor=val/acc_typo", "--trainer.max_steps=2"])
    assert list((tmp_path / "run").glob("*/checkpoints")) == [] and list((tmp_path / "run").iterdir()) == []
    assert list((tmp_path / "wandb").glob("*run-*")) == []
    # nor does a val_check_interval longer than an epoch, which Lightning finds once the data is known
    with pytest.raises(
        ConfigError, match=r"^trainer.val_check_interval must be at most the training batches of an epoch"
    ):
        main(["fit", *tiny, "--trainer.val_check_interval=1000", "--trainer.max_steps=2"])
    assert list((tmp_path / "run").iterdir()) == [] and list((tmp_path / "wandb").glob("*run-*")) == []
    cli = main(
        ["fit", *tiny, "--trainer.max_steps=1", "--trainer.limit_val_batches=0"]
    )  # the next fit is not disturbed
    assert len(list((tmp_path / "wandb").glob("offline-run-*"))) == 1 and cli.trainer.global_step == 1
