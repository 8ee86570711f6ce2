"""Stochastic glimpse actions: a Gaussian location and, optionally, a categorical zoom.

An action is ``a = (l, k)``: ``l [B, 2]`` the location ``(x, y)`` in ``[-1, 1]`` units (the
retina's; values outside are read at the border) and ``k [B]`` the index of the zoom in a set of
``K`` retina levels. ``pi(a | h) = N(l; mu(h), diag sigma(h)^2) * Cat(k; softmax(s(h)))``.
RAM's location policy is the Gaussian part alone (no zoom, Mnih et al. 2014 sec. 4); WS-RAM's has
both (Ba et al. 2015, sec. 5.1).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor, nn
from torch.distributions import Categorical, Normal

from lit_draw.models.common import sample_categorical, sample_gaussian
from lit_draw.validation import conforms, require, restricted

_LOG_STD_RANGE = (math.log(0.02), math.log(1.0))
#: an initial location standard deviation, in ``[0.02, 1]`` (the range the policy clamps its std to)
PolicyStd = restricted("PolicyStd", float, (">=", 0.02), ("<=", 1.0))


@dataclass
class GlimpseAction:
    """One drawn action: ``loc [B, 2]`` (unclamped, detached) and ``zoom [B]`` (int64 level index,
    ``None`` for a location-only policy)."""

    loc: Tensor
    zoom: Tensor | None = None


@dataclass
class ActionDistribution:
    """``pi(a | h)`` for a batch: location mean and std ``[B, 2]``, zoom logits ``[B, K]`` (or
    ``None``: location only)."""

    mean: Tensor
    std: Tensor
    zoom_logits: Tensor | None = None

    def tempered(self, temperature: float) -> ActionDistribution:
        """``pi_tau ∝ pi^(1/tau)``: std times ``sqrt(tau)``, zoom logits over ``tau`` (tau > 1 explores)."""
        zoom_logits = None if self.zoom_logits is None else self.zoom_logits / temperature
        return ActionDistribution(self.mean, self.std * math.sqrt(temperature), zoom_logits)

    def _where(self) -> Normal:
        # validate_args=False: the argument checks would read values back to the host every glimpse.
        return Normal(self.mean, self.std, validate_args=False)

    def _zoom(self) -> Categorical:
        return Categorical(logits=self.zoom_logits, validate_args=False)

    def sample(self) -> GlimpseAction:
        zoom = None if self.zoom_logits is None else sample_categorical(self.zoom_logits)
        return GlimpseAction(sample_gaussian(self.mean, self.std), zoom)

    def mode(self) -> GlimpseAction:
        """The most probable action: the location mean and the most probable zoom (detached)."""
        zoom = None if self.zoom_logits is None else self.zoom_logits.argmax(-1)
        return GlimpseAction(self.mean.detach(), zoom)

    def log_prob(self, action: GlimpseAction) -> Tensor:
        """``log pi(a | h)``, ``[B]``."""
        log_prob = self._where().log_prob(action.loc).sum(-1)
        return log_prob if self.zoom_logits is None else log_prob + self._zoom().log_prob(action.zoom)

    def entropy(self) -> Tensor:
        """``H[pi(. | h)]``, ``[B]`` (differential entropy for the location part)."""
        entropy = self._where().entropy().sum(-1)
        return entropy if self.zoom_logits is None else entropy + self._zoom().entropy()


class GlimpsePolicy(nn.Module):
    """Maps a state ``h [B, in_features]`` to :class:`ActionDistribution` over location and zoom.

    ``mu = tanh(W_mu h)``; ``log sigma = W_sigma h`` (starting at ``log std``, clamped to
    ``[0.02, 1]``); zoom logits ``s = W_s h``.

    Args:
        in_features: size of ``h``.
        zooms: number of zoom levels ``K`` (1: location only).
        std: initial location standard deviation in ``[-1, 1]`` units.
    """

    def __init__(self, in_features: int, zooms: int, std: PolicyStd = 0.2) -> None:
        super().__init__()
        require("GlimpsePolicy", "std", conforms(PolicyStd, std), "in [0.02, 1] (in [-1, 1] canvas units)", std)
        self.mean = nn.Linear(in_features, 2)
        self.log_std = nn.Linear(in_features, 2)
        nn.init.zeros_(self.log_std.weight)
        nn.init.constant_(self.log_std.bias, math.log(std))
        self.zoom = nn.Linear(in_features, zooms)

    def forward(self, h: Tensor) -> ActionDistribution:
        log_std = self.log_std(h).clamp(*_LOG_STD_RANGE)  # [B, 2]
        return ActionDistribution(torch.tanh(self.mean(h)), log_std.exp(), self.zoom(h))
