"""Training objectives: per-glimpse loss weightings (and, beside them, the estimators for
stochastic attention).

The All-Step / Last-Step study scores either only the final glimpse (``last``) or the mean over
glimpses (``all``). Any per-glimpse weighting ``w_t >= 0`` with ``sum_t w_t = 1`` generalises both:
``loss = sum_t w_t * CE(logits_t, y)``.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor

WEIGHTINGS = ("last", "all", "linear", "exponential")


def glimpse_weights(
    weighting: str | Sequence[float], num_glimpses: int, gamma: float = 0.9
) -> Tensor:
    """Per-glimpse loss weights ``w_t``, normalised to sum to 1.

    Args:
        weighting: ``"last"`` (Last-Step: only ``t = T``), ``"all"`` (All-Step: uniform),
            ``"linear"`` (``w_t`` proportional to ``t``), ``"exponential"`` (``w_t`` proportional to
            ``gamma ** (T - t)``), or an explicit list of ``T`` non-negative weights.
        num_glimpses: ``T``.
        gamma: decay of the exponential weighting, in ``(0, 1]``.

    Returns:
        ``[T]`` float tensor.

    Raises:
        ValueError: naming the field and what it allows.
    """
    t = torch.arange(1, num_glimpses + 1, dtype=torch.float64)
    if isinstance(weighting, str):
        if weighting == "last":
            w = (t == num_glimpses).double()
        elif weighting == "all":
            w = torch.ones_like(t)
        elif weighting == "linear":
            w = t
        elif weighting == "exponential":
            if not 0 < gamma <= 1:
                raise ValueError(f"gamma must be in (0, 1] for the exponential weighting, got {gamma}")
            w = gamma ** (num_glimpses - t)
        else:
            raise ValueError(
                f"weighting must be one of {', '.join(WEIGHTINGS)} or a list of {num_glimpses} "
                f"non-negative weights, got {weighting!r}"
            )
    else:
        w = torch.tensor([float(v) for v in weighting], dtype=torch.float64)
        if w.numel() != num_glimpses:
            raise ValueError(
                f"weighting as a list needs one weight per glimpse: {num_glimpses} values, got {w.numel()}"
            )
        if (w < 0).any():
            raise ValueError(f"weighting values must be non-negative, got {list(weighting)}")
        if w.sum() == 0:
            raise ValueError(f"weighting values must not all be zero, got {list(weighting)}")
    return (w / w.sum()).float()


def per_glimpse_cross_entropy(logits: Tensor, labels: Tensor) -> Tensor:
    """Cross-entropy at every glimpse.

    Args:
        logits: ``[T, B, C]``.
        labels: ``[B]`` class indices.

    Returns:
        ``[T]`` mean cross-entropy over the batch at each glimpse.
    """
    steps, batch, classes = logits.shape
    ce = F.cross_entropy(logits.reshape(steps * batch, classes).float(), labels.repeat(steps), reduction="none")
    return ce.view(steps, batch).mean(1)


def weighted_cross_entropy(logits: Tensor, labels: Tensor, weights: Tensor) -> Tensor:
    """``sum_t w_t * CE(logits_t, y)``: ``logits [T, B, C]``, ``labels [B]``, ``weights [T]`` -> scalar."""
    return (weights.to(logits.device) * per_glimpse_cross_entropy(logits, labels)).sum()
