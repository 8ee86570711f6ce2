"""Where a canvas stops: the first glimpse whose stop decision is true, the last glimpse always stopping.

One rule for every stop lit_draw scores: a halting head's own ``lambda_t >= 0.5`` and its sampled stop
(:mod:`lit_draw.models.halting`), the swept thresholds on ``lambda_t`` or the halting mass so far
(:class:`~lit_draw.callbacks.HaltingThresholds`) and the confidence threshold on the top class
probability (:class:`~lit_draw.callbacks.EarlyExit`). Plain torch: models and callbacks both import it.
"""

from __future__ import annotations

from torch import Tensor


def first_reaching(scores: Tensor, thresholds: Tensor) -> Tensor:
    """Stop at the first glimpse whose score reaches each threshold, else at the last.

    Args:
        scores: ``[T, B]``, one per glimpse and canvas (``lambda_t``, the halting mass so far, the top
            class probability).
        thresholds: ``[K]``.

    Returns:
        ``[K, B]`` int64 in ``1..T``: the glimpses used, ``min {t : scores[t] >= threshold}``, or ``T``
        where no glimpse reaches it.
    """
    return first_stop(scores[None] >= thresholds[:, None, None])  # [K, B]


def first_stop(stops: Tensor) -> Tensor:
    """The first glimpse whose stop decision is true, the last glimpse always stopping: ``stops
    [..., T, B]`` bool (modified in place) -> glimpses used ``[..., B]``, int64 in ``1..T``."""
    stops[..., -1, :] = True
    return stops.int().argmax(-2) + 1  # argmax takes the first maximum
