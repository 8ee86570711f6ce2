"""A learned halting head: after glimpse ``t``, the probability ``lambda_t`` of stopping there.

Used by every net as an option (``halting: true``; off by default). From the recurrent state
``h_t [B, H]`` after glimpse ``t``::

    lambda_t = sigmoid(w . h_t + b)                  # PonderNet's lambda_n (Banino et al. 2021, sec. 2.1)
    lambda_T = 1                                     # the last glimpse always halts

Read as a policy, the same ``lambda_t`` is DT-RAM's stop action (Li, Song, Sun, Chen, Zhang 2017,
sec. 3.2): ``stop_t ~ Bernoulli(lambda_t)``, and the canvas stops at the first ``t`` with
``stop_t = 1``. Either way the glimpse where a canvas stops is distributed as
``p_t = lambda_t prod_{s<t} (1 - lambda_s)`` (:func:`lit_draw.losses.halting_distribution`).

Where a canvas stops (``trace.halt``, the number of glimpses used, ``1..T``):

* ``sample=False`` (DRAW always; RAM at evaluation with ``deterministic_eval``): the first glimpse
  with ``lambda_t >= 0.5``, the mode of each step's stop decision;
* ``sample=True`` (RAM in training and at evaluation by default): the sampled stop.

Either is :func:`lit_draw.stopping.first_stop`, the rule every stop shares (the swept thresholds of
:class:`~lit_draw.callbacks.HaltingThresholds` and the confidence threshold of
:class:`~lit_draw.callbacks.EarlyExit` too).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from lit_draw.stopping import first_reaching, first_stop


class HaltingHead(nn.Module):
    """``h_t [B, in_features]`` -> ``lambda_t [B]`` in ``(0, 1)``.

    The bias starts at ``logit(1 / T)``, so an untrained head spreads its halting mass over all
    ``T`` glimpses instead of stopping most canvases at the first.

    Args:
        in_features: size of the state ``h_t``.
        glimpses: ``T``, the net's number of glimpses.
    """

    def __init__(self, in_features: int, glimpses: int) -> None:
        super().__init__()
        self.linear = nn.Linear(in_features, 1)
        start = 1 / max(glimpses, 2)
        nn.init.constant_(self.linear.bias, math.log(start / (1 - start)))

    def forward(self, h: Tensor) -> Tensor:
        return torch.sigmoid(self.linear(h))[:, 0]  # [B]

    @classmethod
    def trace_fields(cls, lambdas: Tensor, sample: bool) -> dict[str, Tensor]:
        """The :class:`~lit_draw.models.trace.Trace` fields from every glimpse's head output ``[T, B]``:
        ``lambdas [T, B]`` with ``lambda_T = 1`` (the last glimpse always halts) and ``halt [B]``
        (see :meth:`stop`)."""
        lambdas = torch.cat([lambdas[:-1], torch.ones_like(lambdas[-1:])])  # [T, B]
        return {"lambdas": lambdas, "halt": cls.stop(lambdas.detach(), sample)}

    @staticmethod
    def stop(lambdas: Tensor, sample: bool) -> Tensor:
        """Where each canvas stops: ``lambdas [T, B]`` (``lambda_T = 1``) -> glimpses used ``[B]``, int64 in ``1..T``.

        ``sample``: draw ``stop_t ~ Bernoulli(lambda_t)`` (DT-RAM); else stop at the first
        ``lambda_t >= 0.5``. Either way, the first glimpse whose stop decision is 1.
        """
        if sample:
            return first_stop(torch.rand_like(lambdas) < lambdas)  # [B]
        return first_reaching(lambdas, lambdas.new_tensor([0.5]))[0]  # [B]
