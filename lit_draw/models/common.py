"""Small building blocks shared by the models."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from lit_draw.models.sequence_grad import SequenceLinear


def classifier_head(in_features: int, hidden: int, num_classes: int) -> nn.Module:
    """The per-glimpse classifier: ``Linear(in, hidden) -> ReLU -> Linear(hidden, C)``, or with
    ``hidden = 0`` one ``Linear(in, C)`` (RAM's action network: a linear softmax from ``h_t``,
    Mnih et al. 2014, sec. 4)."""
    if hidden == 0:
        return SequenceLinear(in_features, num_classes)
    return nn.Sequential(SequenceLinear(in_features, hidden), nn.ReLU(), SequenceLinear(hidden, num_classes))


def check_canvases(owner: str, images: Tensor, canvas_size: int) -> None:
    """Refuse ``images`` that are not ``[B, 1, canvas_size, canvas_size]``: a net built for another
    canvas would read it with windows and retina scales placed for its own size, silently.

    Raises:
        ValueError: naming ``owner``, the shape expected and the shape given.
    """
    if images.dim() != 4 or images.shape[1] != 1 or images.shape[2:] != (canvas_size, canvas_size):
        raise ValueError(
            f"{owner}: images must be [B, 1, {canvas_size}, {canvas_size}] (one channel; canvas_size "
            f"{canvas_size}, as the net was built), got {list(images.shape)}"
        )


Step = dict[str, "Tensor | Step"]


def stack_steps(steps: list[Step]) -> dict[str, Any]:
    """Stack what every glimpse recorded: ``[{key: [B, ...]}, ...]`` (``T`` dicts, nested dicts
    allowed) -> ``{key: [T, B, ...]}``.

    Raises:
        KeyError: when a step recorded other keys than the first (nothing is dropped silently).
    """
    keys = steps[0].keys()
    for t, step in enumerate(steps):
        if step.keys() != keys:
            raise KeyError(f"glimpse {t + 1} recorded {sorted(step)}, glimpse 1 recorded {sorted(keys)}")
    return {
        key: stack_steps([step[key] for step in steps])
        if isinstance(steps[0][key], dict)
        else torch.stack([step[key] for step in steps])
        for key in keys
    }


def flatten_gates(gates: dict[str, dict[str, Tensor] | None]) -> dict[str, Tensor]:
    """``{cell: {gate: [B, H]} or None}`` -> ``{"cell/gate": [B, H]}`` (cells without gates skipped)."""
    return {f"{cell}/{gate}": value for cell, per in gates.items() if per for gate, value in per.items()}


def log_mean_softmax(logits: Tensor, dim: int) -> Tensor:
    """``log mean_m softmax(logits_m)`` over ``dim``: the Monte-Carlo averaged prediction of ``M`` runs."""
    return torch.logsumexp(logits.log_softmax(-1), dim) - math.log(logits.shape[dim])


def sample_gaussian(mean: Tensor, std: Tensor) -> Tensor:
    """A draw of ``N(mean, std^2)``, detached, without a host sync.

    ``torch.normal`` with a tensor ``std`` checks ``std >= 0`` on the host (a CUDA sync per call).
    """
    return (mean + std * torch.randn_like(mean)).detach()


def sample_categorical(logits: Tensor) -> Tensor:
    """A draw of ``Cat(softmax(logits))`` over the last dim by the Gumbel-max trick, without a host sync.

    ``torch.multinomial`` validates its input on the host (a CUDA sync per call).
    """
    gumbel = -torch.empty_like(logits).exponential_().log()
    return (logits.detach() + gumbel).argmax(-1)
