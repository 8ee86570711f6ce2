"""``python -m lit_draw view``: compare checkpoints glimpse by glimpse in one self-contained HTML page.

    python -m lit_draw view --ckpt runs/a/checkpoints/last.ckpt --ckpt runs/b/checkpoints/last.ckpt \\
        [--data-config configs/data/translated60.yaml] [--samples 32] --out view.html

The page (see :mod:`lit_draw.viewer.page`) needs no server and no network. :class:`ViewerPanel`
logs the same page to W&B at the end of testing.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from lit_draw.errors import ConfigError
from lit_draw.viewer.build import data_settings, fixed_test_set, page_data
from lit_draw.viewer.callback import ViewerPanel
from lit_draw.viewer.page import render_page

__all__ = ["ViewerPanel", "main", "page_data", "render_page"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m lit_draw view",
        description="Write one self-contained HTML page comparing checkpoints glimpse by glimpse on fixed test canvases.",
    )
    parser.add_argument(
        "--ckpt",
        action="append",
        required=True,
        metavar="PATH",
        help="a checkpoint; repeat for several (two models, or one run at several epochs)",
    )
    parser.add_argument(
        "--data-config",
        metavar="YAML",
        help="data settings: a data YAML (configs/data/*.yaml) or a run's config.yaml "
        "(default: config.yaml beside the first checkpoint)",
    )
    parser.add_argument("--data-root", metavar="DIR", help="MNIST root, overriding the data settings' root")
    parser.add_argument("--samples", type=int, default=32, help="test canvases in the picker (default 32)")
    parser.add_argument(
        "--summary-size",
        type=int,
        default=None,
        metavar="N",
        help="summarise on the first N test canvases (default: the whole fixed test set)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for stochastic policies (RAM, WS-RAM)")
    parser.add_argument("--title", default="lit_draw attention viewer", help="the page's title")
    parser.add_argument("--out", required=True, metavar="HTML", help="the page to write")
    return parser


def _default_data_config(checkpoints: list[str]) -> Path:
    if not Path(checkpoints[0]).is_file():
        raise ConfigError(f"--ckpt {checkpoints[0]}: no such file")
    candidate = Path(checkpoints[0]).parent / "config.yaml"
    if not candidate.is_file():
        raise ConfigError(f"--data-config is needed: there is no config.yaml beside {checkpoints[0]}")
    return candidate


def main(args: list[str] | None = None) -> dict[str, Any]:
    """Build the page; return its data. Unloadable checkpoints are reported on stderr and on the page.

    Raises:
        ConfigError: bad ``--samples`` / ``--summary-size``, a missing first checkpoint (without
            ``--data-config``) or unusable data settings.
        SystemExit: (after writing the page) when no checkpoint could be loaded.
    """
    options = _parser().parse_args(args)
    if options.samples < 1:
        raise ConfigError(f"--samples must be an int >= 1, got {options.samples}")
    if options.summary_size is not None and options.summary_size < options.samples:
        raise ConfigError(f"--summary-size must be >= --samples ({options.samples}), got {options.summary_size}")
    out = Path(options.out)
    if out.is_dir():
        raise ConfigError(f"--out must be the HTML file to write, got {out} (a folder; e.g. --out {out / 'view.html'})")
    try:
        settings = data_settings(options.data_config or _default_data_config(options.ckpt))
    except ValueError as error:
        raise ConfigError(str(error)) from error
    if options.data_root is not None:
        settings["root"] = options.data_root
    canvases, labels = fixed_test_set(settings)
    if options.summary_size is not None:
        canvases, labels = canvases[: options.summary_size], labels[: options.summary_size]
    data = page_data(options.ckpt, canvases, labels, options.samples, options.title, options.seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_page(data), encoding="utf-8")
    for error in data["errors"]:
        print(f"view: {error['name']} not shown: {error['reason']}", file=sys.stderr)
    if not data["checkpoints"]:
        raise SystemExit(f"view: no checkpoint could be loaded; wrote {out} with the reasons")
    print(f"view: wrote {out} ({len(data['checkpoints'])} checkpoints, {len(data['canvases'])} canvases)")
    return data
