"""WS-RAM: the Wake-Sleep Recurrent Attention Model, and its variational (VAR) baseline.

Ba, Grosse, Salakhutdinov, Frey (2015), "Learning Wake-Sleep Recurrent Attention Models", sec. 2-4;
the prediction network follows Ba, Mnih, Kavukcuoglu (2015), "Multiple Object Recognition with
Visual Attention" (DRAM): a two-layer recurrent network whose *second* layer is initialised from a
coarse view of the whole canvas and emits the actions, while the class is read from the *first*
layer, so the model cannot classify from the coarse view alone.

Per glimpse ``n = 1..T`` (``r1``, ``r2`` the two recurrent layers, ReLU RNNs as in the paper's
sec. 5.1 or LSTMs; ``r2[0] = context(coarse(x))``)::

    p(a_n | I, a_<n) = pi_p(r2[n-1])                     # the prior: location + zoom
    q(a_n | y, I, a_<n) = pi_q([r2[n-1], onehot(y)])     # the inference network (training only)
    a_n ~ q (or p)                                       # a_n = (l_n, k_n)
    g_n = glimpse_network(retina(x, l_n) at zoom k_n, [l_n, onehot(k_n)])
    r1[n] = cell_1(g_n, r1[n-1]);  r2[n] = cell_2(r1[n], r2[n-1])
    logits[n] = classifier(r1[n])

Every canvas is rolled out ``M`` times. The model only samples and scores its samples; the
estimators (importance weights, surrogate losses, control variates) are in :mod:`lit_draw.losses`
and read the trace's ``sample_logits``, ``log_p_actions``, ``log_q_actions`` and
``log_proposal_actions``; which estimator (WS-RAM or VAR) is the objective's choice
(:mod:`lit_draw.objectives`), not the model's.
"""

from __future__ import annotations

import math
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lit_draw.models.attention import IntegralImage, integral_image, loc_to_pixels, retina_level
from lit_draw.models.cells import Cell, recurrent_cell
from lit_draw.models.common import check_canvases, classifier_head, flatten_gates, log_mean_softmax, stack_steps
from lit_draw.models.glimpse import GlimpseNetwork
from lit_draw.models.net import TraceKind
from lit_draw.models.policy import ActionDistribution, GlimpsePolicy, PolicyStd
from lit_draw.models.trace import Trace
from lit_draw.validation import FloatAtLeast1, NonNegativeInt, PositiveInt, conforms, require, require_positive_ints


class InferenceNetwork(nn.Module):
    """``q(a_n | y, I, a_<n)``: reads the label and the prediction network's top-layer state ``r2``.

    ``r2`` enters detached: the inference network's objective trains only its own parameters.
    """

    def __init__(self, state_size: int, num_classes: int, hidden: int, zooms: int, std: float) -> None:
        super().__init__()
        self.num_classes = num_classes
        self.body = nn.Sequential(nn.Linear(state_size + num_classes, hidden), nn.ReLU())
        self.policy = GlimpsePolicy(hidden, zooms, std)

    def forward(self, r2: Tensor, labels: Tensor) -> ActionDistribution:
        """``r2 [B, state]``, ``labels [B]`` -> ``q`` for the next action."""
        y = F.one_hot(labels, self.num_classes).to(r2.dtype)  # [B, C]
        return self.policy(self.body(torch.cat([r2.detach(), y], -1)))


class WSRAM(nn.Module):
    """Two-layer recurrent attention model with a location + zoom policy and an inference network.

    Which actions a forward pass draws:

    * training with labels: ``M`` rollouts from the proposal: the inference network ``q``
      (``inference_network=True``) or the prior ``p``, either at ``temperature``
      (``pi_tau ∝ pi^(1/tau)``, sec. 4.5). ``trace.log_proposal_actions`` is the log-density
      actually sampled (what the importance weights divide by), ``trace.log_q_actions`` the
      untempered ``q`` (what the wake-q step fits, eq. 14). The VAR objective needs the prior,
      untempered (``inference_network=False``, ``temperature=1``).
    * otherwise (evaluation, or no labels): ``M`` rollouts from the prior ``p``;
      ``trace.logits`` is the log of their mean predicted distribution.
    * ``forward(..., mean_policy=True)``: one rollout that takes the prior's most probable action
      at every glimpse (the location mean and the most probable zoom): the deterministic evaluation.

    Args:
        canvas_size: side of the square input canvas in pixels.
        patch: side in pixels of the observed patch (at zoom 1).
        zooms: the set of zoom factors the policy chooses from: powers of two, the patch at zoom
            ``z`` covers ``patch * z`` pixels averaged down to ``patch x patch`` (retina levels).
        glimpses: number of glimpses ``T``.
        samples: ``M`` rollouts per canvas, in training and in evaluation.
        inference_network: draw training actions from ``q(a | y, I)`` instead of ``p(a | I)``.
        temperature: proposal temperature ``tau >= 1`` in training (1: off).
        cell: the two recurrent layers: ``"relu"`` (the paper's ReLU RNNs, sec. 5.1) or ``"lstm"``.
        std: initial location standard deviation in ``[-1, 1]`` units (learned per state), in ``[0.02, 1]``.
        coarse_size: side of the low-resolution view of the whole canvas fed to the context net.
        what_hidden, where_hidden, glimpse_size: glimpse network sizes ``h_g``, ``h_l``, ``g``.
        state_size: units of each recurrent layer (and of the inference network's hidden layer).
        hidden: hidden units of the classifier head (0: linear).
        num_classes: ``C``.
    """

    #: what :mod:`lit_draw.objectives` trains it with: ``WakeSleep`` or ``Variational``
    trace_kind: ClassVar[TraceKind] = "rollouts"
    #: glimpses are drawn from a policy: evaluated also at its mean (``forward(..., mean_policy=True)``)
    stochastic_policy: ClassVar[bool] = True
    #: the groups of parameters that ``model.trainable`` names (``inference`` only with the inference network)
    groups: ClassVar[tuple[str, ...]] = ("context", "glimpse", "lower", "upper", "prior", "inference", "classifier")
    #: WS-RAM has no halting head (:class:`lit_draw.models.net.AttentionNet` asks every net)
    halting: ClassVar[None] = None

    def __init__(
        self,
        canvas_size: PositiveInt = 100,
        patch: PositiveInt = 12,
        zooms: list[PositiveInt] = [1, 2, 4],  # noqa: B006 (jsonargparse needs a literal default)
        glimpses: PositiveInt = 4,
        samples: PositiveInt = 5,
        inference_network: bool = True,
        temperature: FloatAtLeast1 = 1.0,
        cell: Cell = "relu",
        std: PolicyStd = 0.2,
        coarse_size: PositiveInt = 12,
        what_hidden: PositiveInt = 128,
        where_hidden: PositiveInt = 128,
        glimpse_size: PositiveInt = 256,
        state_size: PositiveInt = 256,
        hidden: NonNegativeInt = 256,
        num_classes: PositiveInt = 10,
    ) -> None:
        super().__init__()
        require_positive_ints(
            "WSRAM",
            canvas_size=canvas_size,
            patch=patch,
            glimpses=glimpses,
            samples=samples,
            coarse_size=coarse_size,
            what_hidden=what_hidden,
            where_hidden=where_hidden,
            glimpse_size=glimpse_size,
            state_size=state_size,
            num_classes=num_classes,
        )
        zooms = list(zooms)
        require(
            "WSRAM",
            "zooms",
            bool(zooms)
            and all(isinstance(z, int) and z >= 1 and not z & (z - 1) for z in zooms)
            and len(set(zooms)) == len(zooms),
            "distinct powers of two (1, 2, 4, ...)",
            zooms,
        )
        require("WSRAM", "patch", patch <= canvas_size, f"<= canvas_size ({canvas_size})", patch)
        top = max(z for z in (2**k for k in range(canvas_size.bit_length())) if patch * z <= canvas_size)
        require(
            "WSRAM",
            "zooms",
            patch * max(zooms) <= canvas_size,
            f"at most {top} each for patch {patch} on a {canvas_size}x{canvas_size} canvas (the coarsest view, "
            f"patch * zoom = {patch * max(zooms)} px, must fit the canvas)",
            zooms,
        )
        require("WSRAM", "temperature", conforms(FloatAtLeast1, temperature), ">= 1 (1: off)", temperature)
        require("WSRAM", "hidden", conforms(NonNegativeInt, hidden), "an int >= 0 (0: linear)", hidden)
        self.canvas_size = canvas_size
        self.glimpses = glimpses
        self.num_classes = num_classes
        self.samples = samples
        self.temperature = temperature
        self.patch = patch
        self.register_buffer("levels", torch.tensor([int(math.log2(z)) for z in zooms]), persistent=False)
        self.register_buffer("zooms", torch.tensor(zooms, dtype=torch.float32), persistent=False)
        self.coarse_size = coarse_size
        self.context = nn.Sequential(nn.Linear(coarse_size * coarse_size, state_size), nn.ReLU())
        self.glimpse = GlimpseNetwork(patch, 1, 2 + len(zooms), what_hidden, where_hidden, glimpse_size)
        self.lower = recurrent_cell("WSRAM", cell, glimpse_size, state_size)
        self.upper = recurrent_cell("WSRAM", cell, state_size, state_size)
        self.prior = GlimpsePolicy(state_size, len(zooms), std)
        self.inference = (
            InferenceNetwork(state_size, num_classes, state_size, len(zooms), std) if inference_network else None
        )
        self.classifier = classifier_head(state_size, hidden, num_classes)

    def observe(self, x: Tensor | IntegralImage, loc: Tensor, zoom: Tensor) -> Tensor:
        """The patch at ``loc [B, 2]`` and zoom index ``zoom [B]``: ``[B, patch, patch]``, read from
        the one retina level each sample chose (``x``: canvases or their summed-area table)."""
        return retina_level(x, loc, self.patch, self.levels[zoom])

    def forward(
        self,
        images: Tensor,
        labels: Tensor | None = None,
        *,
        return_glimpses: bool = False,
        return_gates: bool = False,
        mean_policy: bool = False,
    ) -> Trace:
        """Roll out ``M`` action sequences per canvas.

        Args:
            images: ``[B, 1, H, W]`` canvases in ``[0, 1]``.
            labels: ``[B]``; in training they select the proposal (see the class docstring).
            return_glimpses: fill ``trace.glimpses`` with the ``[T, B, 1, patch, patch]`` reads.
            return_gates: fill ``trace.gates`` with both layers' gates (``lower/...``, ``upper/...``;
                LSTM cells only).
            mean_policy: one rollout of the prior's most probable actions (no sampling, no ``q``).

        Returns:
            The :class:`Trace`: ``logits [T, B, C]`` the log of the mean over the ``M`` rollouts of
            the predicted distribution; ``sample_logits [T, M, B, C]``, ``log_p_actions [M, B]``;
            in training with labels ``log_proposal_actions [M, B]`` and, with the inference
            network, ``log_q_actions [M, B]``; ``entropy [T, B]`` (the prior's, mean over
            rollouts); the prior's ``loc_mean``, ``loc_std`` ``[T, M B, 2]`` and ``zoom_logits``
            ``[T, M B, K]``. ``center``, ``size``, ``glimpses``, the cells and gates show the first rollout.
        """
        check_canvases(type(self).__name__, images, self.canvas_size)
        batch, _, height, width = images.shape
        runs = 1 if mean_policy else self.samples
        fitting = self.training and labels is not None and not mean_policy
        use_q = fitting and self.inference is not None
        y = labels.repeat(runs) if use_q else None  # [M B]
        sat = integral_image(images)  # built once, read by every glimpse of every rollout
        coarse = F.adaptive_avg_pool2d(images, self.coarse_size).flatten(1).repeat(runs, 1)  # [M B, coarse^2]
        r2 = self.context(coarse)  # [M B, S]: the coarse view enters the second layer
        c2 = torch.zeros_like(r2)
        r1, c1 = torch.zeros_like(r2), torch.zeros_like(r2)
        log_p = images.new_zeros(runs * batch)  # [M B] log p(a_1:n | I), the prior; rollout-major
        log_q = torch.zeros_like(log_p)  # log q(a_1:n | y, I), untempered
        log_r = torch.zeros_like(log_p)  # the density actually sampled
        steps = []
        for _ in range(self.glimpses):
            prior = self.prior(r2)
            q = self.inference(r2, y) if use_q else None
            proposal = prior if q is None else q
            if fitting and self.temperature != 1:
                proposal = proposal.tempered(self.temperature)
            action = proposal.mode() if mean_policy else proposal.sample()
            log_p = log_p + prior.log_prob(action)  # [M B]
            log_r = log_r + proposal.log_prob(action).detach()
            if q is not None:
                log_q = log_q + q.log_prob(action)
            loc = action.loc.clamp(-1, 1)  # [M B, 2]
            read = self.observe(sat, loc, action.zoom)  # [M B, patch, patch]
            where = torch.cat([loc, F.one_hot(action.zoom, len(self.zooms)).to(loc.dtype)], -1)
            g = self.glimpse.encode(read, where)  # [M B, glimpse_size]
            r1, c1, lower_gates = self.lower(g, (r1, c1), return_gates)
            r2, c2, upper_gates = self.upper(r1, (r2, c2), return_gates)
            steps.append(
                {
                    "logits": self.classifier(r1),
                    "loc": loc,
                    "zoom": action.zoom,
                    "entropy": prior.entropy(),
                    "mean": prior.mean,
                    "std": prior.std,
                    "zoom_logits": prior.zoom_logits,
                    "read": read,
                    "cells": {"lower": c1, "upper": c2},
                    "gates": flatten_gates({"lower": lower_gates, "upper": upper_gates}),
                }
            )
        s = stack_steps(steps)  # each [T, M B, ...]
        sample_logits = s["logits"].unflatten(1, (runs, batch))  # [T, M, B, C]

        def first(v: Tensor) -> Tensor:  # the first rollout, [T, B, ...]
            return v[:, :batch]

        return Trace(
            logits=log_mean_softmax(sample_logits, 1),  # [T, B, C]
            center=loc_to_pixels(first(s["loc"]), height, width),  # [T, B, 2]
            size=self.patch * self.zooms[first(s["zoom"])],  # [T, B]
            glimpses=first(s["read"])[:, :, None] if return_glimpses else None,  # [T, B, 1, patch, patch]
            cells={k: first(v) for k, v in s["cells"].items()},
            gates={k: first(v) for k, v in s["gates"].items()} or None,
            entropy=s["entropy"].unflatten(1, (runs, batch)).mean(1),  # [T, B]
            sample_logits=sample_logits,
            log_p_actions=log_p.view(runs, batch),  # [M, B]
            log_q_actions=log_q.view(runs, batch) if use_q else None,  # [M, B]
            log_proposal_actions=log_r.view(runs, batch) if fitting else None,  # [M, B]
            loc_mean=s["mean"],  # [T, M B, 2]
            loc_std=s["std"],
            zoom_logits=s["zoom_logits"],  # [T, M B, K]
        )
