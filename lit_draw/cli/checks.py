"""Checks that turn silent mistakes into one-line errors: config files, a checkpoint's model, glimpse
sizes, gradient clipping under a gradient scaler.

Each returns (or raises) a message naming the file or field; :mod:`lit_draw.cli` raises them as
:class:`~lit_draw.errors.ConfigError`.
"""

from __future__ import annotations

import tempfile
from itertools import pairwise
from pathlib import Path
from typing import Any

import torch
from jsonargparse import Namespace
from lightning.pytorch.plugins.precision import MixedPrecision, Precision

from lit_draw.cli.resume import differs
from lit_draw.errors import ConfigError
from lit_draw.yaml_files import load_yaml

#: Model settings that change how a run is executed, not what the checkpoint computes.
RUNTIME_ONLY = ("compile", "grad_variance_every", "trainable", "clip_per_tensor", "init", "forget_bias")
#: Net settings a ``--init_from`` start may change: heads that only one of the two objectives uses.
INIT_FROM_FREE = ("write", "halting")


def check_config_files(argv: list[str]) -> None:
    """Name the file when a ``--config`` file is missing, is not YAML, is empty or is not a mapping.

    Raises:
        ConfigError: naming the file and what is wrong with it.
    """
    paths = [value for flag, value in pairwise(argv) if flag in ("--config", "-c")]
    paths += [arg.split("=", 1)[1] for arg in argv if arg.startswith("--config=")]
    for path in map(Path, paths):
        if not path.is_file():
            raise ConfigError(f"--config {path}: no such file")
        content = load_yaml(path, "--config")
        if content is None:
            raise ConfigError(f"--config {path} is empty: a config is a mapping of settings (trainer:, model:, data:)")
        if not isinstance(content, dict):
            raise ConfigError(f"--config {path} must hold a mapping of settings, got a {type(content).__name__}")


def _plain(value: Any) -> Any:
    """A config value as plain dicts and lists (jsonargparse Namespaces and tuples unpacked)."""
    if isinstance(value, Namespace):
        value = value.as_dict()
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def flatten(tree: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested settings as dotted keys: ``{"model": {"lr": 1}}`` -> ``{"model.lr": 1}``."""
    flat: dict[str, Any] = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            flat.update(flatten(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = value
    return flat


def model_mismatch(stored: dict[str, Any], asked: dict[str, Any], net_only: bool = False) -> str | None:
    """Why a checkpoint's model (its hyperparameters) is not the model the config asks for, or ``None``.

    Compared: the net's class, then every setting both name (``RUNTIME_ONLY`` ones aside); with
    ``net_only`` (a ``--init_from`` start: a new run, which may train another objective) only the
    net's settings, ``INIT_FROM_FREE`` ones aside.
    """
    stored, asked = _plain(stored), _plain(asked)
    stored_class = (stored.get("net") or {}).get("class_path")
    asked_class = (asked.get("net") or {}).get("class_path")
    if stored_class and asked_class and stored_class != asked_class:
        return (
            f"the checkpoint holds a {stored_class} model but the config asks for {asked_class}; "
            "evaluate it with the config it was trained with (config.yaml beside it)"
        )
    old = {
        k: v for k, v in flatten(stored).items() if not k.startswith("_") and k.rsplit(".", 1)[-1] not in RUNTIME_ONLY
    }
    new = flatten(asked)
    if net_only:
        old = {k: v for k, v in old.items() if k.startswith("net.") and k.rsplit(".", 1)[-1] not in INIT_FROM_FREE}
    for key in sorted(old.keys() & new.keys()):
        if differs(new[key], old[key]):
            return (
                f"the checkpoint's model.{key} is {old[key]!r} but the config asks for {new[key]!r}; a checkpoint "
                "runs with its own settings, so drop the override or use the config it was trained with"
            )
    return None


def unclippable(
    plugin: Precision, gradient_clip_val: float | None, optimizers: list[torch.optim.Optimizer]
) -> str | None:
    """Name the fields when gradients would be clipped while scaled: a gradient scaler (16-mixed on
    CUDA) with an optimiser that unscales inside its step (``fused=True``). Lightning would raise
    this at the first clipping step, mid-run; bf16-mixed has no scaler and is fine (see
    :meth:`lit_draw.module.AttentionClassifier.configure_gradient_clipping`).
    """
    scaled = isinstance(plugin, MixedPrecision) and plugin.scaler is not None
    if not (scaled and gradient_clip_val and any(o.defaults.get("fused") for o in optimizers)):
        return None
    return (
        f"trainer.precision={plugin.precision} scales the gradients and a fused optimizer unscales them "
        "inside its step, so trainer.gradient_clip_val cannot clip them: set --optimizer.init_args.fused=false, "
        "or --trainer.precision=bf16-mixed (no scaling)"
    )


def unwritable(folder: Path) -> str | None:
    """Why ``folder`` (made if missing) cannot be written, or ``None``: tried with a temporary folder in
    it, or in its nearest existing parent, removed at once (permissions alone do not stop root, and
    ``/proc`` or ``/sys`` refuse whatever they say)."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        return f"{existing} is a file"
    try:
        tempfile.TemporaryDirectory(dir=existing, prefix=".lit_draw-write-test-").cleanup()
    except OSError as error:
        return f"cannot write in {existing}: {error.strerror or error}"
    return None


def check_trainer_values(trainer: Any) -> None:
    """Refuse trainer values Lightning takes without a word (a negative ``gradient_clip_val``: no
    clipping) or divides by later (``val_check_interval`` or ``accumulate_grad_batches`` 0).

    Raises:
        ConfigError: naming the field, its rule and the value.
    """
    clip = trainer.get("gradient_clip_val")
    if isinstance(clip, (int, float)) and not isinstance(clip, bool) and clip < 0:
        raise ConfigError(f"trainer.gradient_clip_val must be >= 0 (0 or null: no clipping), got {clip}")
    accumulate = trainer.get("accumulate_grad_batches")
    if isinstance(accumulate, (int, float)) and not isinstance(accumulate, bool) and accumulate < 1:
        raise ConfigError(f"trainer.accumulate_grad_batches must be an int >= 1, got {accumulate}")
    interval = trainer.get("val_check_interval")  # also a time ("00:01:00") or a dict of one
    if isinstance(interval, (int, float)) and not isinstance(interval, bool) and interval <= 0:
        raise ConfigError(
            "trainer.val_check_interval must be > 0 (a float <= 1.0: a fraction of an epoch; an int: "
            f"every that many training batches), got {interval}"
        )
