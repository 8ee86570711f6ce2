"""Shipping a trained run: ``checkpoints/<name>.ckpt`` (weights and hyperparameters only) and
``checkpoints/<name>.yaml`` (its resolved config, made portable), as ``python -m lit_draw reproduce``
and ``python -m lit_draw halting-frontier --ship`` leave them. The README's ``test`` command re-tests
a shipped pair to its number.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import yaml

#: Where the exported checkpoints and configs go, relative to the working directory.
CHECKPOINTS = Path("checkpoints")
#: Checkpoint entries an exported checkpoint keeps: what ``load_from_checkpoint`` and
#: ``trainer.test(ckpt_path=...)`` read. Optimiser, scheduler, loop and callback states are dropped.
EXPORTED_KEYS = (
    "state_dict",
    "hyper_parameters",
    "hparams_name",
    "datamodule_hyper_parameters",
    "datamodule_hparams_name",
    "pytorch-lightning_version",
    "epoch",
    "global_step",
)


def ship_checkpoint(checkpoint: Path, config: Path, name: str, origin: str) -> None:
    """Write ``checkpoints/<name>.ckpt`` (the entries of :data:`EXPORTED_KEYS` of ``checkpoint``) and
    ``checkpoints/<name>.yaml`` (the resolved ``fit`` config ``config``, made portable: W&B offline and
    saving under the working directory, the default MNIST root, no training time limit, runs under
    ``runs/checkpoints/<name>``), headed by where it came from (``origin``) and its re-test command."""
    CHECKPOINTS.mkdir(parents=True, exist_ok=True)
    strip_checkpoint(checkpoint, CHECKPOINTS / f"{name}.ckpt")
    resolved = evaluation_config(config, f"runs/checkpoints/{name}", save_dir=".", offline=True)
    resolved["data"]["root"] = None
    header = (
        f"# Resolved config of {origin}. Re-test the shipped checkpoint with\n"
        f"#   python -m lit_draw test --config checkpoints/{name}.yaml --ckpt_path checkpoints/{name}.ckpt\n"
    )
    (CHECKPOINTS / f"{name}.yaml").write_text(header + yaml.safe_dump(resolved, sort_keys=False))


def evaluation_config(config: Path, default_root_dir: str, **logger_args: Any) -> dict[str, Any]:
    """The resolved ``fit`` config ``config`` (sub-config files read in) as the config to evaluate
    its checkpoints with: the same model, data and callbacks, runs under ``default_root_dir``, the W&B
    logger's ``init_args`` (when it has one) updated with ``logger_args`` (``save_dir``, ``offline``),
    no training time limit, nothing to resume or start from (the checkpoint comes with ``--ckpt_path``)."""
    resolved = inline_config_files(config)
    resolved["trainer"].update(default_root_dir=default_root_dir, max_time=None)
    logger = resolved["trainer"].get("logger")
    if isinstance(logger, dict) and "init_args" in logger:
        logger["init_args"].update(logger_args)
    resolved.update(ckpt_path=None, init_from=None)
    return resolved


def inline_config_files(path: Path) -> dict[str, Any]:
    """A saved config with the sub-config files it names (``data: dram_cluttered100.yaml``, as a multi-file
    save leaves them beside it) read in, so that the exported config stands alone."""

    def inline(value: Any) -> Any:
        if isinstance(value, str) and value.endswith((".yaml", ".yml")) and (path.parent / value).is_file():
            return inline(yaml.safe_load((path.parent / value).read_text()))
        if isinstance(value, dict):
            return {key: inline(item) for key, item in value.items()}
        if isinstance(value, list):
            return [inline(item) for item in value]
        return value

    return inline(yaml.safe_load(path.read_text()))


def strip_checkpoint(source: Path, target: Path) -> None:
    """Copy a Lightning checkpoint keeping weights and hyperparameters only (:data:`EXPORTED_KEYS`)."""
    checkpoint = torch.load(source, map_location="cpu", weights_only=False)
    torch.save({key: checkpoint[key] for key in EXPORTED_KEYS if key in checkpoint}, target)
