"""``python -m lit_draw bench``: how fast one model trains and evaluates, and what the Trainer and the
analysis callbacks cost.

    python -m lit_draw bench --model {draw,ram,wsram} [--config FILE] [--batch-size B] [--steps S]
        [--warmup W] [--device cpu|cuda] [--precision 32-true|bf16-mixed] [--compile] [--root DIR]
        [--model.… / --data.… overrides, as for ``fit``]

The model and data come from ``--config`` (default: the model's reference config, see
:data:`DEFAULT_CONFIGS`). One run measures, after ``W`` warm-up steps each:

* canvas generation: training batches drawn by the data module on the device;
* training with a bare PyTorch loop (no Trainer, no logger, no callbacks): the same data, forward,
  :meth:`~lit_draw.module.AttentionClassifier.objective`, backward, gradient clipping, Adam, in
  plain eager PyTorch (the net's per-sequence weight gradients off, where it has them:
  :mod:`lit_draw.models.sequence_grad`), so ``Trainer / bare loop`` compares lit_draw's training
  step with a plain eager one of the same model;
* training with the Trainer and the W&B logger (offline, in a temporary folder), with the analysis
  callbacks of ``configs/callbacks/analysis.yaml`` off and on;
* evaluation (``Trainer.validate`` on the fixed validation canvases), callbacks off and on.

With ``--repeats R`` the measurements run ``R`` times, interleaved, and the best of each is shown
(for shared machines). ``--cpu-time`` runs torch on one thread and times it by that thread's CPU
clock, which other processes on the cores disturb far less than the wall clock. It prints one
markdown table. Overheads are ratios of time per sample: ``Trainer / bare loop`` and
``callbacks on / off`` (1.10 is 10% slower). WS-RAM's ``train/grad_variance`` is switched off
(``grad_variance_every = 0``) while timing, since the bare loop has no step counter to
space it out. Benchmarks are commands, not tests: nothing here asserts a speed.
"""

from __future__ import annotations

import argparse
import copy
import importlib
import os
import platform
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Any

import torch
import yaml
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.loggers import WandbLogger

from lit_draw.data import CanvasMNIST
from lit_draw.errors import ConfigError
from lit_draw.module import AttentionClassifier

CONFIGS = Path(__file__).resolve().parents[2] / "configs"
#: ``--model`` -> (the net's class name, its reference config under ``configs/``).
DEFAULT_CONFIGS = {
    "draw": ("DRAWClassifier", "draw_all_step.yaml"),
    "ram": ("RAM", "ram_cluttered100.yaml"),
    "wsram": ("WSRAM", "wsram_translated_scaled.yaml"),
}
PRECISIONS = ("32-true", "bf16-mixed")
#: Most validation canvases an evaluation timing generates (they are built on the CPU once).
MAX_EVAL_CANVASES = 20_000


def parse_args(args: list[str]) -> tuple[argparse.Namespace, list[str]]:
    """The bench's own options, and the remaining ``--model.…`` / ``--data.…`` config overrides."""
    parser = argparse.ArgumentParser(prog="python -m lit_draw bench", description=__doc__.splitlines()[0])
    parser.add_argument("--model", required=True, choices=sorted(DEFAULT_CONFIGS))
    parser.add_argument("--config", help="experiment config (default: the model's reference config)")
    parser.add_argument("--batch-size", type=int, help="canvases per step (default: 1024 on cuda, 128 on cpu)")
    parser.add_argument("--steps", type=int, default=30, help="timed steps per measurement")
    parser.add_argument("--warmup", type=int, default=5, help="untimed steps before each measurement")
    parser.add_argument("--repeats", type=int, default=1, help="rounds of all measurements; the best of each is shown")
    parser.add_argument("--device", choices=("cpu", "cuda"), help="default: cuda when available")
    parser.add_argument("--precision", choices=PRECISIONS, default="32-true")
    parser.add_argument("--compile", action="store_true", help="wrap the net with torch.compile")
    parser.add_argument(
        "--cpu-time",
        action="store_true",
        help="one torch thread, timed by its own CPU clock instead of the wall clock (cpu only: steadier on a shared machine)",
    )
    parser.add_argument("--root", help="MNIST data root (default: as for fit)")
    options, overrides = parser.parse_known_args(args)
    if options.device is None:
        options.device = "cpu" if options.cpu_time or not torch.cuda.is_available() else "cuda"
    if options.cpu_time and options.device != "cpu":
        raise ConfigError(f"--cpu-time times the CPU only, got --device {options.device}")
    if options.device == "cuda" and not torch.cuda.is_available():
        raise ConfigError("--device cuda needs a CUDA GPU, and torch.cuda.is_available() is False; use --device cpu")
    if options.batch_size is None:
        options.batch_size = 1024 if options.device == "cuda" else 128
    for name in ("batch_size", "steps", "warmup", "repeats"):
        if getattr(options, name) < 1:
            raise ConfigError(f"--{name.replace('_', '-')} must be a positive int, got {getattr(options, name)}")
    bad = [o for o in overrides if not o.startswith(("--model.", "--data.", "--seed_everything"))]
    if bad:
        raise ConfigError(f"unknown bench options {bad}: overrides must start with --model. or --data.")
    return options, overrides


def build(options: argparse.Namespace, overrides: list[str]) -> tuple[AttentionClassifier, CanvasMNIST, dict[str, Any]]:
    """Model, data module and the config's trainer settings, from the config and the overrides."""
    from lit_draw.cli import LitDrawCLI

    class_name, default = DEFAULT_CONFIGS[options.model]
    config = options.config or str(CONFIGS / default)
    eval_batches = max(2, min(options.warmup + options.steps, MAX_EVAL_CANVASES // options.batch_size))
    args = [
        "--config",
        config,
        f"--data.batch_size={options.batch_size}",
        f"--data.eval_batch_size={options.batch_size}",
        f"--data.val_size={eval_batches * options.batch_size}",
        f"--model.compile={options.compile}",
        *([f"--data.root={options.root}"] if options.root else []),
        *overrides,
        "--trainer.logger=false",  # the CLI's trainer is not used: the bench builds its own
    ]
    cli = LitDrawCLI(AttentionClassifier, CanvasMNIST, run=False, args=args, save_config_callback=None)
    if hasattr(cli.model.objective, "grad_variance_every"):
        cli.model.objective.grad_variance_every = 0
    if type(cli.model.net).__name__ != class_name:
        raise ConfigError(
            f"--model {options.model} times {class_name}, but {config} builds {type(cli.model.net).__name__}; "
            "pass the matching --model"
        )
    return cli.model, cli.datamodule, cli.config.as_dict()["trainer"]


class Stopwatch(Callback):
    """Wall time of the training or validation batches after the first ``warmup`` of a run.

    Put it last among the callbacks, so the time includes what the others do at each batch and at
    the end of the epoch.
    """

    def __init__(self, warmup: int) -> None:
        self.warmup = warmup
        self.batches = 0
        self.start = self.seconds = 0.0

    def _batch_end(self, device: torch.device) -> None:
        self.batches += 1
        if self.batches == self.warmup:
            self.start = _now(device)

    def _end(self, device: torch.device) -> None:
        self.seconds = _now(device) - self.start

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, *args: Any) -> None:
        self._batch_end(pl_module.device)
        if trainer.global_step >= trainer.max_steps:
            self._end(pl_module.device)

    def on_validation_batch_end(self, trainer: Trainer, pl_module: LightningModule, *args: Any) -> None:
        self._batch_end(pl_module.device)

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        self._end(pl_module.device)

    @property
    def timed(self) -> int:
        return self.batches - self.warmup


#: The clock of every measurement: the wall clock, or this thread's CPU clock under ``--cpu-time``.
_clock = time.perf_counter


def _now(device: torch.device) -> float:
    """The clock's reading once the device has finished its queued work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return _clock()


def analysis_callbacks() -> list[Callback]:
    """A fresh instance of every callback listed in ``configs/callbacks/analysis.yaml``."""
    entries = yaml.safe_load((CONFIGS / "callbacks" / "analysis.yaml").read_text())
    callbacks = []
    for entry in entries:
        module, _, name = entry["class_path"].rpartition(".")
        callbacks.append(getattr(importlib.import_module(module), name)(**(entry.get("init_args") or {})))
    return callbacks


def _index_batches(data: CanvasMNIST) -> Iterator[torch.Tensor]:
    while True:
        yield from data.train_dataloader()


def canvas_rate(data: CanvasMNIST, options: argparse.Namespace) -> float:
    """Training canvases generated per second on the device (index batches already there)."""
    device = torch.device(options.device)
    batches = _index_batches(data)
    indices = [next(batches).to(device) for _ in range(options.warmup + options.steps)]
    for idx in indices[: options.warmup]:
        data.on_after_batch_transfer(idx, 0)
    start = _now(device)
    for idx in indices[options.warmup :]:
        data.on_after_batch_transfer(idx, 0)
    return options.steps * options.batch_size / (_now(device) - start)


def bare_loop_rate(
    model: AttentionClassifier, data: CanvasMNIST, options: argparse.Namespace, clip: float | None
) -> float:
    """Training samples per second of a plain loop over the same model, data and optimiser."""
    device = torch.device(options.device)
    configured = model.built_optimizers()[0]  # the config's optimizer, over model's parameters
    model = copy.deepcopy(model).to(device).train()
    if hasattr(model.net, "sequence_grads"):
        model.net.sequence_grads = False  # plain autograd: a plain eager PyTorch step
    optimizer = type(configured)(model.parameters(), **configured.defaults)
    batches = _index_batches(data)
    bf16 = options.precision == "bf16-mixed"
    start = 0.0
    for step in range(options.warmup + options.steps):
        if step == options.warmup:
            start = _now(device)
        images, labels, _ = data.on_after_batch_transfer(next(batches).to(device, non_blocking=True), 0)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = model.objective(model(images, labels), labels)["loss"]
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), clip)
        optimizer.step()
    return options.steps * options.batch_size / (_now(device) - start)


def trainer_rates(
    model: AttentionClassifier,
    data: CanvasMNIST,
    options: argparse.Namespace,
    trainer_config: dict[str, Any],
    logger: WandbLogger,
    callbacks: list[Callback],
) -> tuple[float, float]:
    """Training and evaluation samples per second with the Trainer and these callbacks."""
    model = copy.deepcopy(model)
    settings = dict(
        accelerator=options.device,
        devices=1,
        precision=options.precision,
        logger=logger,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        gradient_clip_val=trainer_config.get("gradient_clip_val"),
        log_every_n_steps=trainer_config.get("log_every_n_steps") or 50,
    )
    train_watch = Stopwatch(options.warmup)
    fit = Trainer(
        max_steps=options.warmup + options.steps, limit_val_batches=0, callbacks=[*callbacks, train_watch], **settings
    )
    fit.fit(model, datamodule=data)
    eval_watch = Stopwatch(1)
    validate = Trainer(callbacks=[*callbacks, eval_watch], **settings)
    validate.validate(model, datamodule=data, verbose=False)
    batch = options.batch_size
    return train_watch.timed * batch / train_watch.seconds, eval_watch.timed * batch / eval_watch.seconds


def device_name(device: torch.device | str, processes: int = 1) -> str:
    """The accelerator: the GPU's name (``N x name`` for N processes), else the CPU's model with its core count."""
    device = torch.device(device)
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        return f"{processes} x {name}" if processes > 1 else name
    cpuinfo = Path("/proc/cpuinfo")
    lines = cpuinfo.read_text().splitlines() if cpuinfo.is_file() else []
    model = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), None)
    return f"{model or platform.processor() or 'CPU'} ({os.cpu_count()} cores)"


def versions() -> str:
    parts = [
        f"python {platform.python_version()}",
        f"torch {torch.__version__}",
        f"lightning {metadata.version('lightning')}",
    ]
    if torch.cuda.is_available():
        parts.append(f"cuda {torch.version.cuda}")
    try:
        parts.append(f"lit_draw {metadata.version('lit_draw')}")
    except metadata.PackageNotFoundError:
        pass
    return ", ".join(parts)


def peak_memory(device: str) -> str:
    if device == "cuda":
        return f"{torch.cuda.max_memory_allocated() / 2**20:,.0f} MiB (CUDA, allocated)"
    return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**10:,.0f} MiB (process peak RSS)"


def _ratio(slow_rate: float, fast_rate: float) -> str:
    """Time per sample of the first over the second: ``1.04x (+4%)``."""
    ratio = fast_rate / slow_rate
    return f"{ratio:.2f}x ({100 * (ratio - 1):+.0f}%)"


def run(options: argparse.Namespace, overrides: list[str]) -> dict[str, str]:
    """Measure everything; returns the table's rows, in order."""
    model, data, trainer_config = build(options, overrides)
    data.prepare_data()
    data.setup("fit")
    if options.device == "cuda":
        torch.cuda.reset_peak_memory_stats()
    # Each round measures everything once, interleaved; the best of each over the rounds is kept,
    # so a slow spell on a shared machine does not land on one side of a ratio only.
    rounds = []
    with tempfile.TemporaryDirectory() as directory:
        logger = WandbLogger(project="lit_draw_bench", save_dir=directory, offline=True)
        for _ in range(options.repeats):
            generated = canvas_rate(data, options)
            bare = bare_loop_rate(model, data, options, trainer_config.get("gradient_clip_val"))
            train_off, eval_off = trainer_rates(model, data, options, trainer_config, logger, [])
            train_on, eval_on = trainer_rates(model, data, options, trainer_config, logger, analysis_callbacks())
            rounds.append((generated, bare, train_off, eval_off, train_on, eval_on))
        _finish_wandb()
    memory = peak_memory(options.device)
    generated, bare, train_off, eval_off, train_on, eval_on = (max(rates) for rates in zip(*rounds, strict=True))
    net = model.net
    return {
        "model": f"{options.model}: {type(net).__module__}.{type(net).__name__}, "
        f"{sum(p.numel() for p in net.parameters()):,} parameters, T = {net.glimpses}, {net.canvas_size}x{net.canvas_size}",
        "config": f"{options.config or 'configs/' + DEFAULT_CONFIGS[options.model][1]} {' '.join(overrides)}".strip(),
        "device": f"{options.device}: {device_name(options.device)}, {torch.get_num_threads()} threads"
        + (", timed by its CPU clock" if options.cpu_time else ""),
        "versions": versions(),
        "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "batch size / precision / compile": f"{options.batch_size} / {options.precision} / {'on' if options.compile else 'off'}",
        "timed steps (after warm-up) x rounds": f"{options.steps} (after {options.warmup}) x {options.repeats}",
        "training, Trainer (samples/s)": f"{train_off:,.0f}",
        "ms per training step": f"{1000 * options.batch_size / train_off:,.1f}",
        "evaluation, Trainer (samples/s)": f"{eval_off:,.0f}",
        "peak memory": memory,
        "canvas generation (canvases/s)": f"{generated:,.0f}",
        "training, bare PyTorch loop (samples/s)": f"{bare:,.0f}",
        "Trainer overhead (Trainer / bare loop, time)": _ratio(train_off, bare),
        "training, analysis callbacks on (samples/s)": f"{train_on:,.0f}",
        "evaluation, analysis callbacks on (samples/s)": f"{eval_on:,.0f}",
        "analysis callbacks, training (on / off, time)": _ratio(train_on, train_off),
        "analysis callbacks, evaluation (on / off, time)": _ratio(eval_on, eval_off),
    }


def _finish_wandb() -> None:
    """Close the W&B run and tear W&B down: a W&B left set up keeps the settings it read then
    (a later ``WANDB_RUN_ID`` is ignored) and hands its service to child processes."""
    import wandb

    if wandb.run is not None:
        wandb.finish()
    wandb.teardown()


def format_table(rows: dict[str, str]) -> str:
    """The rows as a two-column markdown table."""
    return "\n".join(["| quantity | value |", "| --- | --- |", *(f"| {k} | {v} |" for k, v in rows.items())])


def main(args: list[str] | None = None) -> dict[str, str]:
    """Run the benchmark, print its table and return its rows (``args`` as on the command line)."""
    options, overrides = parse_args(sys.argv[1:] if args is None else list(args))
    os.environ.setdefault("WANDB_SILENT", "true")
    global _clock
    threads = torch.get_num_threads()
    if options.cpu_time:
        torch.set_num_threads(1)  # all work on this thread, so its CPU clock sees all of it
        _clock = time.thread_time
    try:
        rows = run(options, overrides)
    finally:
        _clock = time.perf_counter
        torch.set_num_threads(threads)
    print(format_table(rows))
    return rows
