"""RAM: the Recurrent Attention Model, a hard-attention classifier trained with REINFORCE.

Mnih, Heess, Graves, Kavukcuoglu (2014), "Recurrent Models of Visual Attention", sec. 3-4.
The sizes default to the paper's classification experiments: ``h_g``, ``h_l`` of 128, ``g`` of
256, a core of 256 rectifier units.

Per glimpse ``t = 1..T``::

    mu_t = tanh(W_l h[t-1])                    # location network (mu_1: the start, see below)
    l_t ~ N(mu_t, sigma^2 I)                   # the action; enters the glimpse as data
    b_t = W_b h[t-1]                           # baseline network: the expected reward from here
    g_t = glimpse_network(retina(x, l_t), l_t)
    h[t] = core(g_t, h[t-1])                   # ReLU RNN (paper) or LSTM
    logits[t] = classifier(h[t])               # the action network: linear softmax (paper)
    lambda[t] = halting(h[t])                  # with halting: true, DT-RAM's stop action
    stop_t ~ Bernoulli(lambda[t])              # (lit_draw.models.halting)

The model only samples; the hybrid loss (cross-entropy + REINFORCE with the baseline) is in
:mod:`lit_draw.losses` and is read off the trace's ``log_pi``, ``baseline`` and ``entropy`` (and,
with the halting head, ``lambdas`` and the sampled stop ``halt``).
"""

from __future__ import annotations

import math
from typing import ClassVar, Literal, get_args

import torch
from torch import Tensor, nn

from lit_draw.models.attention import integral_image, loc_to_pixels
from lit_draw.models.cells import Cell, recurrent_cell
from lit_draw.models.common import check_canvases, classifier_head, flatten_gates, log_mean_softmax, stack_steps
from lit_draw.models.glimpse import GlimpseNetwork
from lit_draw.models.halting import HaltingHead
from lit_draw.models.net import TraceKind
from lit_draw.models.policy import ActionDistribution
from lit_draw.models.trace import Trace
from lit_draw.validation import (
    NonNegativeInt,
    PositiveFloat,
    PositiveInt,
    conforms,
    one_of,
    require,
    require_positive_ints,
)

#: where the first glimpse goes (see :class:`RAM`'s ``start``)
Start = Literal["random", "learned"]
STARTS: tuple[str, ...] = get_args(Start)

_LOG_AREA = math.log(4.0)  # log of the area of [-1, 1]^2: the uniform start's entropy
_UNIFORM_STD = 1 / math.sqrt(3)  # the standard deviation of U[-1, 1]


class RAM(nn.Module):
    """Retina + glimpse network + core + Gaussian location policy + baseline + per-glimpse classifier.

    Args:
        canvas_size: side of the square input canvas in pixels.
        patch: retina patch side in pixels.
        scales: retina squares per glimpse (square ``k`` covers ``patch * 2**k`` pixels).
        glimpses: number of glimpses ``T``.
        cell: the core network: ``"relu"`` (the paper's rectifier RNN) or ``"lstm"``.
        core_size: core units.
        what_hidden, where_hidden, glimpse_size: glimpse network sizes ``h_g``, ``h_l``, ``g``.
        std: standard deviation ``sigma`` of the location policy, in ``[-1, 1]`` units.
        learn_std: learn ``sigma`` (starting from ``std``) instead of keeping it fixed; only then
            does an entropy bonus change the policy.
        start: ``"random"``: ``l_1 ~ U[-1, 1]^2`` as in the paper; ``"learned"``: ``l_1`` is
            drawn from the policy around a learned mean.
        mc_samples: ``M``; in eval mode with ``M > 1`` every canvas is run ``M`` times and
            ``trace.mc_logits`` holds the log of the mean softmax (``trace.logits`` stays the
            first, single-sample run).
        deterministic_eval: in eval mode take the policy mean instead of sampling (the random
            start's mean is the centre), so evaluation is repeatable; ``forward(...,
            mean_policy=True)`` does this for one call, whatever this option says.
        hidden: hidden units of the action network (the classifier); 0, the default, is the
            paper's linear softmax from ``h_t``.
        num_classes: ``C``.
        halting: add DT-RAM's stop action on the core state (``trace.lambdas``; ``trace.halt`` is
            sampled, or the first ``lambda_t >= 0.5`` in eval mode with ``deterministic_eval``),
            trained by ``ReinforceHalting``.
    """

    #: what :mod:`lit_draw.objectives` trains it with: ``Reinforce`` (``ReinforceHalting`` with the halting head)
    trace_kind: ClassVar[TraceKind] = "policy"
    #: glimpses are drawn from a policy: evaluated also at its mean (``forward(..., mean_policy=True)``)
    stochastic_policy: ClassVar[bool] = True
    #: the groups of parameters that ``model.trainable`` names (``halting`` only with the halting head)
    groups: ClassVar[tuple[str, ...]] = ("glimpse", "core", "locator", "baseliner", "classifier", "halting")

    def __init__(
        self,
        canvas_size: PositiveInt = 28,
        patch: PositiveInt = 8,
        scales: PositiveInt = 1,
        glimpses: PositiveInt = 6,
        cell: Cell = "relu",
        core_size: PositiveInt = 256,
        what_hidden: PositiveInt = 128,
        where_hidden: PositiveInt = 128,
        glimpse_size: PositiveInt = 256,
        std: PositiveFloat = 0.17,
        learn_std: bool = False,
        start: Start = "random",
        mc_samples: PositiveInt = 1,
        deterministic_eval: bool = False,
        hidden: NonNegativeInt = 0,
        num_classes: PositiveInt = 10,
        halting: bool = False,
    ) -> None:
        super().__init__()
        require_positive_ints(
            "RAM",
            canvas_size=canvas_size,
            patch=patch,
            scales=scales,
            glimpses=glimpses,
            core_size=core_size,
            what_hidden=what_hidden,
            where_hidden=where_hidden,
            glimpse_size=glimpse_size,
            mc_samples=mc_samples,
            num_classes=num_classes,
        )
        require("RAM", "hidden", conforms(NonNegativeInt, hidden), "an int >= 0 (0: a linear action network)", hidden)
        require("RAM", "start", start in STARTS, one_of(STARTS), start)
        require("RAM", "std", conforms(PositiveFloat, std), "> 0", std)
        require("RAM", "halting", isinstance(halting, bool), "true or false", halting)
        require("RAM", "patch", patch <= canvas_size, f"<= canvas_size ({canvas_size})", patch)
        fitting = max(s for s in range(1, scales + 1) if patch * 2 ** (s - 1) <= canvas_size)
        require(
            "RAM",
            "scales",
            scales == fitting,
            f"<= {fitting} for patch {patch} on a {canvas_size}x{canvas_size} canvas (the coarsest view, "
            f"patch * 2^(scales-1) = {patch * 2 ** (scales - 1)} px, must fit the canvas)",
            scales,
        )
        self.canvas_size = canvas_size
        self.glimpses = glimpses
        self.num_classes = num_classes
        self.mc_samples = mc_samples
        self.deterministic_eval = deterministic_eval
        self.glimpse = GlimpseNetwork(patch, scales, 2, what_hidden, where_hidden, glimpse_size)
        self.core = recurrent_cell("RAM", cell, glimpse_size, core_size)
        self.locator = nn.Linear(core_size, 2)
        self.baseliner = nn.Linear(core_size, 1)
        self.classifier = classifier_head(core_size, hidden, num_classes)
        self.halting = HaltingHead(core_size, glimpses) if halting else None
        self.start = nn.Parameter(torch.zeros(2)) if start == "learned" else None
        log_std = torch.full((2,), math.log(std))
        if learn_std:
            self.log_std = nn.Parameter(log_std)
        else:
            self.register_buffer("log_std", log_std)

    def policy(self, h: Tensor, step: int, sample: bool) -> tuple[Tensor, Tensor, Tensor, Tensor, Tensor]:
        """Draw the location of glimpse ``step`` (0-based) from the state ``h [B, core_size]``, or
        take the policy's mean (``sample=False``).

        Returns:
            ``l`` ``[B, 2]`` (detached, clamped to ``[-1, 1]``), ``log_pi`` ``[B]`` of the
            unclamped draw, the policy's ``entropy`` ``[B]``, its mean ``mu`` and standard deviation
            ``sigma`` ``[B, 2]`` (the uniform start's: 0 and ``1/sqrt(3)``).
        """
        batch = h.shape[0]
        if step == 0 and self.start is None:  # the paper's uniform start carries no parameters
            l = torch.rand(batch, 2, device=h.device) * 2 - 1 if sample else h.new_zeros(batch, 2)
            mu, sigma = h.new_zeros(batch, 2), h.new_full((batch, 2), _UNIFORM_STD)
            return l, h.new_full((batch,), -_LOG_AREA), h.new_full((batch,), _LOG_AREA), mu, sigma
        mu = torch.tanh(self.start.expand(batch, 2) if step == 0 else self.locator(h))  # [B, 2]
        pi = ActionDistribution(mu, self.log_std.exp().expand_as(mu))  # location only
        action = pi.sample() if sample else pi.mode()
        return action.loc.clamp(-1, 1), pi.log_prob(action), pi.entropy(), mu, pi.std

    def forward(
        self,
        images: Tensor,
        labels: Tensor | None = None,
        *,
        return_glimpses: bool = False,
        return_gates: bool = False,
        mean_policy: bool = False,
    ) -> Trace:
        """Run ``T`` glimpses (``M`` times per canvas in eval mode when ``mc_samples > 1``).

        Args:
            images: ``[B, 1, H, W]`` canvases in ``[0, 1]``.
            labels: unused (the common model signature; WS-RAM's inference network reads them).
            return_glimpses: fill ``trace.glimpses`` with the ``[T, B, scales, patch, patch]`` reads.
            return_gates: fill ``trace.gates`` with the LSTM core's gates (``core/...``); the ReLU
                core has none.
            mean_policy: glimpse at the policy's mean every time (the uniform start's: the
                centre), one run per canvas: the deterministic evaluation.

        Returns:
            The :class:`Trace` with logits ``[T, B, C]``, the sampled locations as ``center``,
            ``log_pi``, ``baseline`` and ``entropy`` ``[T, B]``, the policy's ``loc_mean`` and
            ``loc_std`` ``[T, B, 2]``, the core's state as ``cells["core"]``.
        """
        check_canvases(type(self).__name__, images, self.canvas_size)
        batch, _, height, width = images.shape
        sample = not mean_policy and (self.training or not self.deterministic_eval)
        runs = 1 if self.training or mean_policy else self.mc_samples
        sat = integral_image(images)  # built once, read by every glimpse of every run
        h = images.new_zeros(runs * batch, self.core.hidden_size)  # [M B, core], run-major
        c = torch.zeros_like(h)
        steps = []
        for t in range(self.glimpses):
            l, log_pi, entropy, mu, sigma = self.policy(h, t, sample)
            baseline = self.baseliner(h.detach())[:, 0]  # [M B]; the baseline does not shape h
            g, read = self.glimpse(sat, l)
            h, c, gates = self.core(g, (h, c), return_gates)
            steps.append(
                {
                    "logits": self.classifier(h),
                    "loc": l,
                    "log_pi": log_pi,
                    "entropy": entropy,
                    "mu": mu,
                    "sigma": sigma,
                    "baseline": baseline,
                    "read": read,
                    "cells": {"core": c},
                    "gates": flatten_gates({"core": gates}),
                    **({"lambda": self.halting(h)} if self.halting is not None else {}),
                }
            )
        s = stack_steps(steps)  # each [T, M B, ...]
        mc_logits = None
        if runs > 1:
            mc_logits = log_mean_softmax(s["logits"].unflatten(1, (runs, batch)), 1)  # [T, B, C]

        def first(v: Tensor) -> Tensor:  # the first run is the single-sample trace
            return v[:, :batch]

        halting = {}
        if self.halting is not None:
            halting = HaltingHead.trace_fields(first(s["lambda"]), sample=sample)

        return Trace(
            logits=first(s["logits"]),
            center=loc_to_pixels(first(s["loc"]), height, width),  # [T, B, 2]
            size=torch.full_like(first(s["log_pi"]), self.glimpse.patch),
            n_scales=self.glimpse.scales,
            glimpses=first(s["read"]) if return_glimpses else None,
            cells={k: first(v) for k, v in s["cells"].items()},
            gates={k: first(v) for k, v in s["gates"].items()} or None,
            log_pi=first(s["log_pi"]),
            baseline=first(s["baseline"]),
            entropy=first(s["entropy"]),
            mc_logits=mc_logits,
            loc_mean=first(s["mu"]),
            loc_std=first(s["sigma"]),
            **halting,
        )
