"""Collect what the viewer page shows: per-glimpse windows, probabilities, patches and summaries.

Everything here turns tensors into plain JSON-able dicts; :mod:`lit_draw.viewer.page` turns those
into the HTML page. Greyscale images travel as base64 of their uint8 pixels, row-major.
"""

from __future__ import annotations

import base64
import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from lit_draw.callbacks.confusion import confusion_counts
from lit_draw.callbacks.early_exit import early_exit
from lit_draw.data import CanvasMNIST
from lit_draw.models.trace import Trace
from lit_draw.yaml_files import load_yaml

#: Confidence thresholds of the speed-accuracy trade-off curve (see :func:`early_exit`).
TRADEOFF_TAUS = (0.3, 0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.999, 1.0)


def encode_pixels(image: Tensor, normalise: bool = False) -> str:
    """``[..., h, w]`` values in ``[0, 1]`` (or divided by their maximum) as base64 uint8, row-major."""
    x = image.detach().float().cpu()
    if normalise:
        x = x / x.max().clamp_min(1e-8)
    return base64.b64encode(x.clamp(0, 1).mul(255).round().to(torch.uint8).numpy().tobytes()).decode("ascii")


def _floats(x: Tensor | None, digits: int = 4) -> list | None:
    return None if x is None else torch.round(x.detach().float().cpu(), decimals=digits).tolist()


def sample_views(trace: Trace) -> list[dict[str, Any]]:
    """Per canvas of ``trace``'s batch, what each glimpse did (a trace from ``return_glimpses=True``).

    Returns:
        One dict per canvas: ``center`` ``[T][2]`` and ``size`` ``[T]`` in pixels, ``delta`` and
        ``sigma2`` ``[T]`` (DRAW; else ``None``), ``probs`` ``[T][C]``, ``patches``: ``None`` or
        ``{"shape": [scales, h, w], "pixels": [T] base64}`` with each glimpse scaled to its maximum,
        and ``halt``: the glimpse where the halting head stopped the canvas (``1..T``; ``None``
        without a head) with ``lambdas`` ``[T]``.
    """
    probs = trace.logits.detach().float().softmax(-1)  # [T, B, C]
    views = []
    for b in range(probs.shape[1]):
        patches = None
        if trace.glimpses is not None:
            g = trace.glimpses[:, b]
            g = g.reshape(g.shape[0], -1, *g.shape[-2:])  # [T, scales, h, w]
            patches = {"shape": list(g.shape[1:]), "pixels": [encode_pixels(p, normalise=True) for p in g]}
        views.append(
            {
                "center": _floats(trace.center[:, b], 2),
                "size": _floats(trace.size[:, b], 2),
                "delta": _floats(trace.delta[:, b] if trace.delta is not None else None, 3),
                "sigma2": _floats(trace.sigma2[:, b] if trace.sigma2 is not None else None, 3),
                "probs": _floats(probs[:, b]),
                "patches": patches,
                "halt": None if trace.halt is None else int(trace.halt[b]),
                "lambdas": _floats(trace.lambdas[:, b] if trace.lambdas is not None else None, 3),
            }
        )
    return views


def summarise(logits: Tensor, labels: Tensor, halt: Tensor | None = None) -> dict[str, Any]:
    """Accuracy per glimpse, the early-exit trade-off curve, the last glimpse's confusion matrix and,
    with a halting head, where it stops.

    Args:
        logits: ``[T, N, C]`` class scores after every glimpse on ``N`` canvases.
        labels: ``[N]`` true classes.
        halt: ``[N]`` the glimpse where the halting head stopped each canvas (``1..T``), or ``None``.

    Returns:
        ``{"count": N, "acc_glimpse": [T], "tradeoff": {"tau", "acc", "glimpses"} lists over
        :data:`TRADEOFF_TAUS`, "confusion": [C][C], "halting": None or {"acc", "glimpses"}}``
        (confusion rows true class, columns predicted; halting: accuracy where each canvas stopped
        and the mean glimpses used).
    """
    logits, labels = logits.detach().float().cpu(), labels.cpu()
    correct = logits.argmax(-1) == labels  # [T, N]
    used, predicted = early_exit(logits, torch.tensor(TRADEOFF_TAUS))  # [K, N], [K, N]
    halting = None
    if halt is not None:
        halt = halt.cpu()
        halting = {
            "acc": round(correct.gather(0, (halt - 1)[None]).float().mean().item(), 4),
            "glimpses": round(halt.float().mean().item(), 3),
        }
    return {
        "halting": halting,
        "count": len(labels),
        "acc_glimpse": _floats(correct.float().mean(1)),
        "tradeoff": {
            "tau": list(TRADEOFF_TAUS),
            "acc": _floats((predicted == labels).float().mean(1)),
            "glimpses": _floats(used.float().mean(1), 3),
        },
        "confusion": confusion_counts(logits[-1].argmax(-1), labels, logits.shape[-1]).tolist(),
    }


@torch.no_grad()
def checkpoint_view(
    net: torch.nn.Module, canvases: Tensor, labels: Tensor, samples: int, batch_size: int = 256, seed: int = 0
) -> dict[str, Any]:
    """Run ``net`` over a fixed set: :func:`summarise` on all of it, :func:`sample_views` on its first canvases.

    Args:
        net: a lit_draw model (returns a :class:`Trace`); put in eval mode here.
        canvases: ``[N, 1, H, W]`` in ``[0, 1]``; labels: ``[N]``.
        samples: how many of the first canvases to show glimpse by glimpse.
        batch_size: canvases per forward pass for the summary.
        seed: seeds torch before each pass, so a stochastic policy (RAM, WS-RAM) shows the same
            rollouts every time the page is built.

    Returns:
        ``{"glimpses": T, "n_scales", "summary", "samples"}``.
    """
    net.eval()
    device = next(net.parameters()).device
    torch.manual_seed(seed)
    trace = net(canvases[:samples].to(device), return_glimpses=True)
    torch.manual_seed(seed)
    traces = [net(chunk.to(device)) for chunk in canvases.split(batch_size)]
    logits = torch.cat([t.logits.cpu() for t in traces], 1)  # [T, N, C]
    halt = None if trace.halt is None else torch.cat([t.halt.cpu() for t in traces])  # [N]
    return trace_view(trace, logits, labels, halt)


def trace_view(trace: Trace, logits: Tensor, labels: Tensor, halt: Tensor | None = None) -> dict[str, Any]:
    """One checkpoint's part of the page: ``{"glimpses": T, "n_scales", "summary", "samples"}``.

    Args:
        trace: the model's trace on the shown canvases (with ``return_glimpses=True``).
        logits: ``[T, N, C]`` its class scores on the summarised set; labels: ``[N]``.
        halt: ``[N]`` where its halting head stopped each canvas of the set, or ``None``.
    """
    return {
        "glimpses": trace.num_glimpses,
        "n_scales": trace.n_scales,
        "summary": summarise(logits, labels, halt),
        "samples": sample_views(trace),
    }


def canvas_entries(canvases: Tensor, labels: Tensor) -> list[dict[str, Any]]:
    """The canvases shown in the picker: ``{"label", "pixels"}`` each (``canvases`` ``[K, 1, H, W]``)."""
    return [{"label": int(y), "pixels": encode_pixels(x[0])} for x, y in zip(canvases, labels.tolist(), strict=True)]


def confusion_difference(views: Sequence[dict[str, Any]]) -> list[list[int]] | None:
    """Second minus first checkpoint's confusion matrix (``None`` with fewer than two)."""
    if len(views) < 2:
        return None
    a, b = (torch.tensor(v["summary"]["confusion"]) for v in views[:2])
    return (b - a).tolist()


def short_names(paths: Sequence[str | Path]) -> list[str]:
    """Display names: the shortest path suffixes (file and at least its run) that tell ``paths`` apart.

    ``checkpoints`` folders are left out: ``runs/draw/checkpoints/last.ckpt`` is ``draw/last.ckpt``.
    """
    parts = [tuple(part for part in Path(p).parts if part != "checkpoints") for p in paths]
    depth = 2
    while depth < max(map(len, parts), default=1):
        names = ["/".join(p[-depth:]) for p in parts]
        if len(set(names)) == len(names):
            break
        depth += 1
    return ["/".join(p[-depth:]) for p in parts]


def data_settings(config: str | Path) -> dict[str, Any]:
    """``CanvasMNIST`` arguments from a data YAML or a run's ``config.yaml``.

    Accepts a data file (``canvas_size: 60 ...``), a run or experiment config whose ``data:`` is a
    mapping (optionally ``class_path`` / ``init_args``) or the name of a data file relative to the
    config. Keys ``CanvasMNIST`` does not take are dropped.
    """
    path = Path(config)
    if not path.is_file():
        raise ValueError(f"--data-config: no such file {str(path)!r}")
    settings = load_yaml(path, "--data-config") or {}
    if not isinstance(settings, dict):
        raise ValueError(f"--data-config {str(path)!r} must hold a mapping of data settings")
    if "data" in settings:
        settings = settings["data"]
        if isinstance(settings, str):
            return data_settings(path.parent / settings)
        settings = settings.get("init_args", settings) if isinstance(settings, dict) else {}
    accepted = inspect.signature(CanvasMNIST).parameters
    return {k: v for k, v in settings.items() if k in accepted}


def fixed_test_set(settings: dict[str, Any]) -> tuple[Tensor, Tensor]:
    """The data module's whole fixed test set: canvases ``[N, 1, H, W]`` in ``[0, 1]``, labels ``[N]``."""
    data = CanvasMNIST(**settings)
    data.prepare_data()
    data.setup("test")
    canvases, labels, _ = data.fixed_canvases("test")
    return canvases, labels


def load_checkpoint(path: str | Path, canvas_size: tuple[int, int]) -> torch.nn.Module:
    """The model of a lit_draw checkpoint, on CPU.

    Raises:
        ValueError: the file is missing or cannot be loaded (the reason given), or the model's
            ``canvas_size`` differs from the test canvases' ``(H, W)``.
    """
    from lit_draw.module import AttentionClassifier

    if not Path(path).is_file():
        raise ValueError("no such file")
    try:
        net = AttentionClassifier.load_from_checkpoint(path, map_location="cpu").net
    except Exception as error:  # a corrupt file or a foreign checkpoint: report it, build the rest
        reason = (str(error).splitlines() or [""])[0]
        reason = (
            reason if len(reason) <= 160 else reason.split(". ")[0][:160]
        )  # torch's long advice: its first sentence
        raise ValueError(f"cannot be loaded ({type(error).__name__}: {reason})") from error
    size = net.canvas_size  # an AttentionNet: AttentionClassifier checked it
    if (size, size) != tuple(canvas_size):
        raise ValueError(f"canvas_size {size} differs from the test canvases' {canvas_size[1]}x{canvas_size[0]}")
    return net


def page_data(
    checkpoints: Sequence[str | Path],
    canvases: Tensor,
    labels: Tensor,
    samples: int = 32,
    title: str = "lit_draw attention viewer",
    seed: int = 0,
) -> dict[str, Any]:
    """Everything the page shows, for checkpoints compared on one fixed set.

    Args:
        checkpoints: checkpoint paths; one that cannot be loaded, or whose canvas size differs, is
            listed under ``errors`` with the reason and the rest are still shown.
        canvases: ``[N, 1, H, W]`` the fixed test set in ``[0, 1]``; labels: ``[N]``.
        samples: how many of its first canvases the picker offers.
        title: the page title.
        seed: see :func:`checkpoint_view`.

    Returns:
        ``{"title", "canvas": {"height", "width"}, "num_classes", "canvases", "checkpoints",
        "errors": [{"name", "reason"}], "confusion_difference": None or {"first", "second",
        "matrix"}}``.
    """
    views, errors = [], []
    for name, path in zip(short_names(checkpoints), checkpoints, strict=True):
        try:
            net = load_checkpoint(path, canvases.shape[-2:])
        except ValueError as error:
            errors.append({"name": name, "reason": str(error)})
            continue
        views.append(
            {"name": name, "model": type(net).__name__, **checkpoint_view(net, canvases, labels, samples, seed=seed)}
        )
    return assemble(title, canvases[:samples], labels[:samples], views, errors)


def assemble(
    title: str, canvases: Tensor, labels: Tensor, views: list[dict[str, Any]], errors: list[dict[str, str]]
) -> dict[str, Any]:
    """The page's data from the shown canvases ``[K, 1, H, W]``, labels ``[K]`` and checkpoint views."""
    difference = confusion_difference(views)
    num_classes = len(views[0]["summary"]["confusion"]) if views else 10
    return {
        "title": title,
        "canvas": {"height": canvases.shape[-2], "width": canvases.shape[-1]},
        "num_classes": num_classes,
        "canvases": canvas_entries(canvases, labels),
        "checkpoints": views,
        "errors": errors,
        "confusion_difference": None
        if difference is None
        else {"first": views[0]["name"], "second": views[1]["name"], "matrix": difference},
    }
