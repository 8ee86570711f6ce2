"""Small building blocks shared by the models."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def classifier_head(in_features: int, hidden: int, num_classes: int) -> nn.Sequential:
    """``Linear(in, hidden) -> ReLU -> Linear(hidden, C)``, applied at every glimpse."""
    return nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))


def stack_gates(steps: list[dict[str, dict[str, Tensor]]]) -> dict[str, Tensor]:
    """Turn per-step ``{cell: {gate: [B, H]}}`` into ``{"cell/gate": [T, B, H]}``."""
    return {
        f"{cell}/{gate}": torch.stack([step[cell][gate] for step in steps])
        for cell in steps[0]
        for gate in steps[0][cell]
    }


def require_positive_ints(owner: str, **values: object) -> None:
    """Raise ``ValueError("{owner}.{name} must be a positive int, got ...")`` for the first bad value
    (booleans are not ints here)."""
    for name, value in values.items():
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            raise ValueError(f"{owner}.{name} must be a positive int, got {value!r}")


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
