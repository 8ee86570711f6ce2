"""What a run prints: plain progress lines when stdout is not a terminal, the block naming where the
run's files went, none of the libraries' known noise, and ints read as ints by the trainer's limits."""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import re
import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from lightning.pytorch import Trainer
from lightning.pytorch.callbacks import ProgressBar, TQDMProgressBar, model_checkpoint
from lightning.pytorch.trainer.connectors.logger_connector import result

from lit_draw.cli import main, resolved_config
from lit_draw.cli.progress import ProgressLines, RunBar, use_readable_progress
from lit_draw.cli.quiet import RECORD_LOGGERS
from tests.conftest import CONFIGS, tiny_draw_args

#: What the libraries printed at every run before (issue 34): none may show now.
NOISE = (
    "Tip: For seamless cloud logging",  # Lightning's litlogger tip
    "anonymous setting has no effect",  # W&B, given Lightning's anonymous=None
    "isinstance(treespec, LeafSpec)` is deprecated",  # torch, at Lightning's pytree helper
    "could not find the monitored key",  # Lightning's checkpoint, on a fit shorter than an epoch
    "sync_dist=True",  # Lightning, at epoch-level values under DDP (asked of a single process too)
)


@pytest.fixture
def tiny(synthetic_mnist_root: Path, offline_in_tmp: Path) -> list[str]:
    """The quickstart config (its logging period, 20 steps, and its analysis callbacks) with a tiny
    net on generated digits, run in ``tmp_path``; the progress bar on, as a user gets it."""
    args = tiny_draw_args(
        synthetic_mnist_root,
        canvas=28,
        glimpses=2,
        read_n=3,
        width=8,
        batch_size=8,
        train_size=2400,
        val_size=16,
        test_size=16,
    )
    return [arg for arg in args if arg != "--trainer.enable_progress_bar=false"] + [
        "--trainer.enable_model_summary=false"
    ]


@contextlib.contextmanager
def heard() -> Iterator[list[str]]:
    """Every warning and every Lightning info record emitted inside the block, as text; the
    libraries' once-only caches emptied first, so that a message an earlier test printed shows again.
    (Entered in the test's body: pytest records warnings in a context of its own for each phase.)"""
    model_checkpoint.warning_cache.clear()
    result.warning_cache.clear()
    seen: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            seen.append(record.getMessage())

    keep, loggers = Keep(), [logging.getLogger(name) for name in RECORD_LOGGERS]
    for logger in loggers:
        logger.addHandler(keep)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            yield seen
        seen += [str(w.message) for w in caught]
    finally:
        for logger in loggers:
            logger.removeHandler(keep)


def test_a_fit_to_a_file_prints_a_line_per_logging_step_and_ends_naming_its_files(
    tiny: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    import wandb

    given: list[dict] = []  # what wandb.init is given: never the deprecated `anonymous`
    start = wandb.init

    @functools.wraps(start)  # its signature stays wandb.init's: the CLI reads the logger's options from it
    def init(*args, **kwargs):
        given.append(kwargs)
        return start(*args, **kwargs)

    monkeypatch.setattr(wandb, "init", init)
    with heard() as noise:
        cli = main(
            [
                "fit",
                *tiny,
                "--trainer.max_steps=300",
                "--trainer.val_check_interval=100",
                "--trainer.limit_val_batches=1",
            ]
        )
    out, err = capsys.readouterr()
    run = cli.trainer.loggers[0].version

    # under pytest stdout is no terminal: 300 steps are 15 lines and one per validation, not a redrawn bar
    assert isinstance(cli.trainer.progress_bar_callback, ProgressLines)
    assert len(out.encode()) < 20_000 and "\r" not in out and "it/s" not in out
    lines = out.splitlines()
    steps = [line for line in lines if re.fullmatch(rf"\[{run}\] epoch 0 step \d+/300 \S+ \S+ steps/s .*", line)]
    assert [int(re.search(r"step (\d+)/", line).group(1)) for line in steps] == list(range(20, 301, 20))
    assert all("train/loss=" in line for line in steps)
    validations = [line for line in lines if line.startswith(f"[{run}] validation at step ")]
    assert [line.split()[4].rstrip(":") for line in validations] == ["100", "200", "300"]
    assert all(re.search(r"val/loss=\S+ val/acc=\S+$", line) for line in validations)
    # limit_val_batches=1 is one batch, not all of them (1.0)
    assert cli.trainer.num_val_batches == [1]

    # the run ends with one block naming its checkpoints, metrics.csv and pictures, all of which exist
    block = out[out.index("lit_draw: fit done at step 300") :].splitlines()
    assert block[0] == f"lit_draw: fit done at step 300, run {run}:" and len(block) == 4 and block == lines[-4:]
    folder = Path(re.fullmatch(r"  checkpoints: (\S+)/ \((.*)\)", block[1]).group(1))
    named = re.fullmatch(r"  checkpoints: (\S+)/ \((.*)\)", block[1]).group(2).split(", ")
    assert folder == Path("run", run, "checkpoints") and "last.ckpt" in named and "config.yaml" in named
    assert sorted(named) == sorted(p.name for p in folder.iterdir() if p.suffix in (".ckpt", ".yaml"))
    metrics = Path(re.fullmatch(r"  metrics: +(\S+)", block[2]).group(1))
    assert metrics.name == "metrics.csv" and "val/acc" in metrics.read_text().splitlines()[0]
    pictures, count = re.fullmatch(r"  pictures: +(\S+)/ \((\d+) images, W&B's media\)", block[3]).groups()
    assert len(list(Path(pictures).rglob("*.png"))) == int(count) and list(Path(pictures).rglob("attention_*.png"))

    # none of the libraries' noise, and the W&B run was started without the deprecated argument
    assert not [text for text in [*noise, *err.splitlines()] if any(known in text for known in NOISE)]
    assert given and all("anonymous" not in kwargs for kwargs in given)
    # the progress bar names the run by its folder, not by the loggers' joined versions ("_csv")
    assert cli.trainer.progress_bar_callback.get_metrics(cli.trainer, cli.model)["v_num"] == run
    assert RunBar().get_metrics(cli.trainer, cli.model)["v_num"] == run


def test_a_fit_shorter_than_an_epoch_keeps_last_without_a_monitor_warning(
    tiny: list[str], capsys: pytest.CaptureFixture[str]
):
    with heard() as noise:
        cli = main(["fit", *tiny, "--trainer.max_steps=5", "--trainer.callbacks=[]"])
    folder = Path(cli.trainer.checkpoint_callback.dirpath)
    assert sorted(p.name for p in folder.glob("*.ckpt")) == ["last.ckpt"]  # nothing to rank on val/acc yet
    assert not [text for text in noise if "could not find the monitored key" in text]
    out = capsys.readouterr().out
    assert f"  checkpoints: {Path('run', folder.parent.name, 'checkpoints')}/ (last.ckpt, config.yaml)" in out


class _Stream(io.StringIO):
    def __init__(self, terminal: bool) -> None:
        super().__init__()
        self.terminal = terminal

    def isatty(self) -> bool:
        return self.terminal


@pytest.mark.parametrize("terminal, chosen", [(True, RunBar), (False, ProgressLines)])
def test_the_default_bar_is_tqdm_on_a_terminal_and_lines_elsewhere(terminal: bool, chosen: type[ProgressBar]):
    trainer = Trainer(logger=False, enable_checkpointing=False, enable_model_summary=False)
    assert type(trainer.progress_bar_callback) is TQDMProgressBar
    use_readable_progress(trainer, [], _Stream(terminal))
    assert type(trainer.progress_bar_callback) is chosen
    assert sum(isinstance(c, ProgressBar) for c in trainer.callbacks) == 1


def test_a_bar_the_config_names_and_no_bar_are_left_as_they_are():
    named = TQDMProgressBar(refresh_rate=7)
    trainer = Trainer(logger=False, enable_checkpointing=False, callbacks=[named])
    use_readable_progress(trainer, [named], _Stream(False))
    assert trainer.progress_bar_callback is named
    trainer = Trainer(logger=False, enable_checkpointing=False, enable_progress_bar=False)
    use_readable_progress(trainer, [], _Stream(False))
    assert trainer.progress_bar_callback is None


@pytest.mark.parametrize(
    "given, read", [(("1", "1.0", "0.25", "3"), (1, 1.0, 0.25, 3)), (("3", "1", "1.0", "0.25"), (3, 1, 1.0, 0.25))]
)
def test_an_int_batch_limit_is_a_number_of_batches_and_a_float_a_fraction(
    given: tuple[str, ...], read: tuple[float, ...]
):
    splits = ("train", "val", "test", "predict")
    limits = [f"--trainer.limit_{split}_batches={value}" for split, value in zip(splits, given, strict=True)]
    trainer = resolved_config(["fit", "--config", str(CONFIGS / "quickstart.yaml"), *limits])["trainer"]
    values = tuple(trainer[f"limit_{split}_batches"] for split in splits)
    assert values == read and [type(v) for v in values] == [type(v) for v in read]


def test_a_config_files_int_batch_limit_is_read_as_an_int():
    # configs/draw_pretrain.yaml means 1000 validation canvases (one batch); read as 1.0 it validated on all 5000
    assert (
        resolved_config(["fit", "--config", str(CONFIGS / "draw_pretrain.yaml")])["trainer"]["limit_val_batches"] == 1
    )


def test_importing_the_sweep_engine_prints_no_pydantic_warnings():
    from lit_draw.experiments.wandb_sweeps import engine_available

    if not engine_available():
        pytest.skip("W&B's sweep engine is not installed (docs/sweeps.md)")
    # a fresh process: the engine imports once, and pydantic warns at that import (every warning shown)
    code = "from lit_draw.experiments.wandb_sweeps import engine_available; assert engine_available()"
    done = subprocess.run([sys.executable, "-W", "default", "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "pydantic" not in done.stderr and "Warning" not in done.stderr, done.stderr
