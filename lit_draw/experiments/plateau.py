"""The study's plateau probes: when each short run leaves chance, as a table (issue 31).

Each probe is a ``fit`` of the study's DRAW classifier with one setting changed (a learning rate,
an initialisation, a start from a reconstruction pre-training, ...), validated every 1000 updates.
A run's *exit* is the first validation whose accuracy after the final glimpse reaches
``--threshold`` (30%; chance is 10%, the plateau sits at 11-18%). The setting is read from the
config the run saved beside its checkpoints, so the table cannot mislabel a run::

    python -m lit_draw plateau runs/probes/* --out docs/study_plateau_runs.md
    python -m lit_draw plateau runs/probes/* --keep records/study_plateau   # and keep their logs

A run dir is a ``trainer.default_root_dir`` whose fits logged W&B into ``<dir>/wandb`` (set
``WANDB_DIR=<dir>``), or into ``./wandb`` (then found by the fit's run id), or a seed kept by
``reproduce`` (``records/<row>/seed<k>``: the study rows' own seeds, today's setup). A pre-training
run (``objective: Reconstruction``) has no exit; its line gives its reconstruction loss instead.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from lit_draw.cli.metrics_csv import read_metrics, read_rows, run_folders, write_rows
from lit_draw.errors import ConfigError
from lit_draw.experiments.results import read_json
from lit_draw.experiments.seed_runs import CONFIG_FILE, RECORD_FILE, TRAIN_FILE

THRESHOLD = 0.30
#: a kept probe's files (:func:`keep_probe`)
KEPT_CONFIG, KEPT_ROWS = "config.yaml", TRAIN_FILE  # the rows under the name reproduce keeps a seed's by


@dataclass
class Probe:
    """One fit: its setting, its seed and its validation curve ``{update: accuracy}``."""

    run: str
    setting: str
    weighting: str
    seed: int
    curve: dict[int, float]
    losses: dict[int, float]
    reconstruction: bool

    def exit(self, threshold: float = THRESHOLD) -> int | None:
        """The first update at which validation accuracy reached ``threshold``, ``None`` if none did."""
        return next((step for step, acc in sorted(self.curve.items()) if acc >= threshold), None)

    @property
    def updates(self) -> int:
        return max(self.curve or self.losses, default=0)


def setting(config: dict[str, Any]) -> str:
    """What a resolved config changes from the study's setup (configs/draw_*_step.yaml), in words."""
    model, net = config["model"], config["model"]["net"]["init_args"]
    optimizer = config.get("optimizer", {}).get("init_args", {})
    parts = [f"lr {optimizer.get('lr', 1e-3):g}"]
    if config["data"].get("batch_size", 1) != 1:
        parts.append(f"batch {config['data']['batch_size']}")
    if net.get("init", "torch") != "torch":
        parts.append(f"{net['init']} init")
    if net.get("forget_bias") is not None:
        parts.append(f"forget bias {net['forget_bias']:g}")
    if net.get("filter", "paper") != "paper":
        parts.append(f"{net['filter']} filter")
    if model.get("clip_per_tensor"):
        parts.append("per-tensor clip")
    data = config["data"]
    if data.get("clutter", 8) != 8:
        parts.append(f"clutter {data['clutter']}")
    if not data.get("translate", True):
        parts.append("centred digit")
    if data.get("translate_curriculum"):
        held = f"centred for {data['translate_hold'] / 1000:g}k, then " if data.get("translate_hold") else ""
        parts.append(f"placement {held}widened over {data['translate_curriculum'] / 1000:g}k canvases")
    if config.get("init_from"):
        parts.append(f"from {_start_name(Path(config['init_from']))}")
    if model.get("trainable"):
        parts.append(f"trains {'+'.join(model['trainable'])}")
    if config.get("reinit"):
        parts.append(f"fresh {'+'.join(config['reinit'])}")
    return ", ".join(parts)


def _start_name(path: Path) -> str:
    """A pre-training's name: its file's stem, or the run folder of ``<run>/checkpoints/last.ckpt``."""
    return path.parent.parent.name if path.parent.name == "checkpoints" else path.stem


def fit_folders(root: Path) -> list[Path]:
    """The folder (``<root>/<run id>``, with ``checkpoints/config.yaml``) of every fit under a
    ``default_root_dir``, oldest first (the ``checkpoints`` link of the root itself is not one)."""
    configs = sorted(root.glob("*/checkpoints/config.yaml"), key=lambda p: p.stat().st_mtime)
    return [path.parents[1] for path in configs if not path.parents[1].is_symlink()]


def _kept_probe(folder: Path) -> Probe:
    """A study row's seed kept by ``reproduce`` (``records/<row>/seed<k>``), described by the config
    kept beside it (:func:`setting`, and the row's name); a seed kept before configs were kept is
    the study's setup as the row's config gave it."""
    record = read_json(folder / RECORD_FILE)
    rows = read_rows(folder / TRAIN_FILE)
    row = record["row"]
    config = yaml.safe_load((folder / CONFIG_FILE).read_text()) if (folder / CONFIG_FILE).is_file() else None
    if config is not None:
        described = f"{setting(config)} (row {row})"
        weighting = str((config["model"]["objective"].get("init_args") or {}).get("weighting", "-"))
    else:
        described, weighting = (
            f"the study's setup (row {row})",
            row.rsplit("_", 2)[-2] if row.endswith("_step") else "-",
        )
    return Probe(
        run=str(folder),
        setting=described,
        weighting=weighting,
        seed=int(record["seed"]),
        curve={r["step"] + 1: r["val/acc"] for r in rows if "val/acc" in r},
        losses={},
        reconstruction=False,
    )


def run_logs(root: Path) -> tuple[dict[str, Any], list[dict[str, float]]]:
    """The resolved config and logged rows of the newest fit in a run dir, or of a probe kept by
    :func:`keep_probe` (``config.yaml`` and ``train_metrics.csv.gz``).

    Raises:
        ConfigError: naming the dir, when it holds no fit or no logged rows.
    """
    if (root / KEPT_CONFIG).is_file() and (root / KEPT_ROWS).is_file():
        return yaml.safe_load((root / KEPT_CONFIG).read_text()), read_rows(root / KEPT_ROWS)
    fits = fit_folders(root)
    if not fits:
        raise ConfigError(f"plateau: {root} holds no fit (no */checkpoints/config.yaml)")
    folder = fits[-1]
    config = yaml.safe_load((folder / "checkpoints" / "config.yaml").read_text())
    run_id = folder.name
    wandb = [f for f in run_folders(root) if f.name.endswith(run_id)] or [
        f for f in run_folders(Path(".")) if f.name.endswith(f"-{run_id}")
    ]
    rows = read_metrics(wandb)
    if not rows:
        raise ConfigError(f"plateau: no metrics.csv for run {run_id} of {root} (in {root}/wandb or ./wandb)")
    return config, rows


def keep_probe(root: Path, into: Path) -> Path:
    """Copy a run dir's config and logged rows into ``into/<its name>``, where :func:`load_probe`
    reads them as it reads the run (``runs/`` does not survive a machine; the repository does)."""
    config, rows = run_logs(root)
    kept = into / root.name
    kept.mkdir(parents=True, exist_ok=True)
    (kept / KEPT_CONFIG).write_text(yaml.safe_dump(config, sort_keys=False))
    write_rows(kept / KEPT_ROWS, rows)
    return kept


def load_probe(root: Path) -> Probe:
    """The probe of one run dir (its fits' rows in order: a resumed fit continues its curve), of a
    probe kept by :func:`keep_probe`, or of a study row's seed kept by ``reproduce``."""
    if (root / KEPT_ROWS).is_file() and (root / RECORD_FILE).is_file():
        return _kept_probe(root)
    config, rows = run_logs(root)
    curve = {row["step"] + 1: row["val/acc"] for row in rows if "val/acc" in row}
    losses = {row["step"] + 1: row["val/loss"] for row in rows if "val/loss" in row}
    objective = config["model"]["objective"]
    return Probe(
        run=str(root),
        setting=setting(config),
        weighting=str((objective.get("init_args") or {}).get("weighting", "-")),
        seed=int(config.get("seed_everything") or 0),
        curve=curve,
        losses=losses,
        reconstruction=objective["class_path"].endswith("Reconstruction"),
    )


def table(probes: list[Probe], threshold: float = THRESHOLD) -> str:
    """A markdown table: setting, weighting, seed, updates trained, exit, accuracy at 30k and at the end."""
    lines = [
        f"| setting | weighting | seed | updates | exit (val acc >= {threshold:.0%}) | val acc at 30k | val acc at the end | run |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for p in probes:
        if p.reconstruction:
            first, last = (p.losses[min(p.losses)], p.losses[max(p.losses)]) if p.losses else (float("nan"),) * 2
            lines.append(
                f"| {p.setting} (pre-training) | - | {p.seed} | {p.updates:,} | - | - | "
                f"reconstruction loss {first:.0f} -> {last:.0f} nats | `{p.run}` |"
            )
            continue
        exit_ = p.exit(threshold)
        at_30k = p.curve.get(30000)
        end = p.curve[max(p.curve)] if p.curve else float("nan")
        lines.append(
            f"| {p.setting} | {p.weighting} | {p.seed} | {p.updates:,} | {f'{exit_:,}' if exit_ else 'none'} | "
            f"{f'{at_30k:.1%}' if at_30k is not None else '-'} | {end:.1%} | `{p.run}` |"
        )
    return "\n".join(lines) + "\n"


def accuracy_by_spread(root: Path, spreads: Sequence[float], count: int = 1000) -> tuple[int, list[float]]:
    """The accuracy after the final glimpse of a probe's newest ``last.ckpt`` on ``count`` validation
    digits (all of them, when fewer) placed within each of ``spreads`` (:meth:`~lit_draw.data.CanvasMNIST.placed_canvases`; 0:
    centred, 1: anywhere): whether a net looks for the digit or reads it where a centred one sits.

    Returns:
        ``(update of the checkpoint, [accuracy per spread])``.

    Raises:
        ConfigError: the run dir holds no ``last.ckpt`` (a kept probe has none).
    """
    import torch

    from lit_draw.cli.resume import resolve_last
    from lit_draw.data import CanvasMNIST
    from lit_draw.module import AttentionClassifier

    checkpoint = resolve_last(root)
    if checkpoint is None:
        raise ConfigError(f"plateau --spreads: {root} holds no last.ckpt (a kept probe keeps no checkpoint)")
    config, _ = run_logs(root)
    module = AttentionClassifier.load_from_checkpoint(checkpoint, map_location="cpu").eval()
    data = CanvasMNIST(
        **{**config["data"], "translate": True, "translate_curriculum": 0, "translate_hold": 0}
    )  # however it trained
    accuracies = []
    for spread in spreads:
        canvas, label, _ = data.placed_canvases(spread, min(count, data.val_size))
        with torch.no_grad():
            predicted = torch.cat([module(chunk).logits[-1].argmax(-1) for chunk in canvas.split(250)])
        accuracies.append((predicted == label).float().mean().item())
    return int(torch.load(checkpoint, map_location="cpu", weights_only=False)["global_step"]), accuracies


def spread_table(runs: list[Path], spreads: Sequence[float], count: int = 1000) -> str:
    """A markdown table: per run, its last checkpoint's accuracy on digits placed within each spread."""
    lines = [f"| run | updates | {' | '.join(f'spread {s:g}' for s in spreads)} |", "| --- " * (len(spreads) + 2) + "|"]
    for root in runs:
        step, accuracies = accuracy_by_spread(root, spreads, count)
        lines.append(f"| `{root}` | {step:,} | " + " | ".join(f"{a:.1%}" for a in accuracies) + " |")
    return "\n".join(lines) + "\n"


def main(args: list[str] | None = None) -> str:
    parser = argparse.ArgumentParser(prog="python -m lit_draw plateau", description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run dirs (trainer.default_root_dir of each probe)")
    parser.add_argument("--threshold", type=float, default=THRESHOLD, help="validation accuracy that counts as an exit")
    parser.add_argument("--out", type=Path, help="write the table here too (markdown)")
    parser.add_argument(
        "--spreads",
        type=float,
        nargs="+",
        metavar="S",
        help="also score each run's last checkpoint on 1000 validation digits placed within each spread "
        "(0: centred, 1: anywhere); run dirs only (a kept probe keeps no checkpoint)",
    )
    parser.add_argument(
        "--keep",
        type=Path,
        help="copy each run's config and logged rows into KEEP/<run dir's name> "
        "(e.g. records/study_plateau) and tabulate the kept copies",
    )
    options = parser.parse_args(args)
    runs = [root for root in options.runs if root.is_dir()]
    if options.keep:
        runs = [root if (root / RECORD_FILE).is_file() else keep_probe(root, options.keep) for root in runs]
    text = table([load_probe(root) for root in runs], options.threshold)
    if options.spreads:
        text += "\n" + spread_table([root for root in options.runs if root.is_dir()], options.spreads)
    print(text, end="")
    if options.out:
        options.out.write_text(text)
    return text
