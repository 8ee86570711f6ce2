"""WS-RAM: the Wake-Sleep Recurrent Attention Model, and its variational (VAR) baseline.

Ba, Grosse, Salakhutdinov, Frey (2015), "Learning Wake-Sleep Recurrent Attention Models", sec. 2-4;
the prediction network follows Ba, Mnih, Kavukcuoglu (2015), "Multiple Object Recognition with
Visual Attention" (DRAM): a two-layer recurrent network whose *second* layer is initialised from a
coarse view of the whole canvas and emits the actions, while the class is read from the *first*
layer, so the model cannot classify from the coarse view alone.

Per glimpse ``n = 1..T`` (``r1``, ``r2`` the two LSTM layers; ``r2[0] = context(coarse(x))``)::

    p(a_n | I, a_<n) = pi_p(r2[n-1])                     # the prior: location + zoom
    q(a_n | y, I, a_<n) = pi_q([r2[n-1], onehot(y)])     # the inference network (training only)
    a_n ~ q (or p)                                       # a_n = (l_n, k_n)
    g_n = glimpse_network(retina(x, l_n) at zoom k_n, [l_n, onehot(k_n)])
    r1[n] = LSTM_1(g_n, r1[n-1]);  r2[n] = LSTM_2(r1[n], r2[n-1])
    logits[n] = classifier(r1[n])

Every canvas is rolled out ``M`` times. The model only samples and scores its samples; the
estimators (importance weights, surrogate losses, control variates) are in :mod:`lit_draw.losses`
and read the trace's ``sample_logits``, ``log_p_actions`` and ``log_q_actions``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from lit_draw.models.attention import loc_to_pixels, retina
from lit_draw.models.common import classifier_head, log_mean_softmax, require_positive_ints, stack_gates
from lit_draw.models.glimpse import GlimpseNetwork
from lit_draw.models.lstm import GatedLSTMCell
from lit_draw.models.policy import ActionDistribution, GlimpsePolicy
from lit_draw.models.trace import Trace

ESTIMATORS = ("wake_sleep", "variational")


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

    * training with labels, ``estimator="wake_sleep"``: ``M`` rollouts from the proposal, the
      inference network ``q`` (``inference_network=True``) or the prior ``p``; either at
      ``temperature`` (``pi_tau ∝ pi^(1/tau)``); ``trace.log_q_actions`` is the log-density of
      the proposal actually sampled, so the importance weights stay exact.
    * training with labels, ``estimator="variational"`` (VAR, the paper's eq. 5): ``M`` rollouts
      from the prior ``p``, weighted equally; ``trace.log_q_actions`` is ``None``.
    * otherwise (evaluation, or no labels): ``M`` rollouts from the prior ``p``;
      ``trace.logits`` is the log of their mean predicted distribution.

    Args:
        canvas_size: side of the square input canvas in pixels.
        patch: side in pixels of the observed patch (at zoom 1).
        zooms: the set of zoom factors the policy chooses from: powers of two, the patch at zoom
            ``z`` covers ``patch * z`` pixels averaged down to ``patch x patch`` (retina levels).
        glimpses: number of glimpses ``T``.
        samples: ``M`` rollouts per canvas, in training and in evaluation.
        estimator: ``"wake_sleep"`` (importance-weighted, WS-RAM) or ``"variational"`` (VAR).
        inference_network: draw training actions from ``q(a | y, I)`` instead of ``p(a | I)``
            (``wake_sleep`` only).
        temperature: proposal temperature ``tau >= 1`` in training (``wake_sleep`` only; 1: off).
        std: initial location standard deviation in ``[-1, 1]`` units (learned per state).
        coarse_size: side of the low-resolution view of the whole canvas fed to the context net.
        what_hidden, where_hidden, glimpse_size: glimpse network sizes ``h_g``, ``h_l``, ``g``.
        state_size: units of each LSTM layer (and of the inference network's hidden layer).
        hidden: hidden units of the classifier head.
        num_classes: ``C``.
    """

    def __init__(
        self,
        canvas_size: int = 100,
        patch: int = 12,
        zooms: list[int] = [1, 2, 4],  # noqa: B006 (jsonargparse needs a literal default)
        glimpses: int = 4,
        samples: int = 5,
        estimator: str = "wake_sleep",
        inference_network: bool = True,
        temperature: float = 1.0,
        std: float = 0.2,
        coarse_size: int = 12,
        what_hidden: int = 128,
        where_hidden: int = 128,
        glimpse_size: int = 256,
        state_size: int = 256,
        hidden: int = 256,
        num_classes: int = 10,
    ) -> None:
        super().__init__()
        require_positive_ints(
            "WSRAM", canvas_size=canvas_size, patch=patch, glimpses=glimpses, samples=samples,
            coarse_size=coarse_size, what_hidden=what_hidden, where_hidden=where_hidden,
            glimpse_size=glimpse_size, state_size=state_size, hidden=hidden, num_classes=num_classes,
        )
        zooms = list(zooms)
        if not zooms or any(not isinstance(z, int) or z < 1 or z & (z - 1) for z in zooms) or len(set(zooms)) != len(zooms):
            raise ValueError(f"WSRAM.zooms must be distinct powers of two (1, 2, 4, ...), got {zooms!r}")
        if estimator not in ESTIMATORS:
            raise ValueError(f"WSRAM.estimator must be one of {', '.join(ESTIMATORS)}, got {estimator!r}")
        if not temperature >= 1:
            raise ValueError(f"WSRAM.temperature must be >= 1 (1: off), got {temperature!r}")
        if estimator == "variational" and (inference_network or temperature != 1):
            raise ValueError(
                "WSRAM.estimator='variational' samples from the prior: it needs inference_network=false "
                f"and temperature=1, got inference_network={inference_network!r}, temperature={temperature!r}"
            )
        self.canvas_size = canvas_size
        self.glimpses = glimpses
        self.samples = samples
        self.estimator = estimator
        self.temperature = temperature
        self.patch = patch
        self.register_buffer("levels", torch.tensor([int(math.log2(z)) for z in zooms]), persistent=False)
        self.retina_scales = int(math.log2(max(zooms))) + 1  # a Python int: no device read per glimpse
        self.register_buffer("zooms", torch.tensor(zooms, dtype=torch.float32), persistent=False)
        self.coarse_size = coarse_size
        self.context = nn.Sequential(nn.Linear(coarse_size * coarse_size, state_size), nn.ReLU())
        self.glimpse = GlimpseNetwork(patch, 1, 2 + len(zooms), what_hidden, where_hidden, glimpse_size)
        self.lower = GatedLSTMCell(glimpse_size, state_size)
        self.upper = GatedLSTMCell(state_size, state_size)
        self.prior = GlimpsePolicy(state_size, len(zooms), std)
        self.inference = (
            InferenceNetwork(state_size, num_classes, state_size, len(zooms), std) if inference_network else None
        )
        self.classifier = classifier_head(state_size, hidden, num_classes)

    def observe(self, x: Tensor, loc: Tensor, zoom: Tensor) -> Tensor:
        """The patch at ``loc [B, 2]`` and zoom index ``zoom [B]``: ``[B, patch, patch]``."""
        level = self.levels[zoom]  # [B]
        squares = retina(x, loc, self.patch, self.retina_scales)  # [B, levels, patch, patch]
        return squares[torch.arange(x.shape[0], device=x.device), level]

    def forward(
        self,
        images: Tensor,
        labels: Tensor | None = None,
        *,
        return_glimpses: bool = False,
        return_gates: bool = False,
    ) -> Trace:
        """Roll out ``M`` action sequences per canvas.

        Args:
            images: ``[B, 1, H, W]`` canvases in ``[0, 1]``.
            labels: ``[B]``; in training they select the proposal (see the class docstring).
            return_glimpses: fill ``trace.glimpses`` with the ``[T, B, 1, patch, patch]`` reads.
            return_gates: fill ``trace.gates`` with both layers' gates (``lower/...``, ``upper/...``).

        Returns:
            The :class:`Trace`: ``logits [T, B, C]`` the log of the mean over the ``M`` rollouts of
            the predicted distribution; ``sample_logits [T, M, B, C]``, ``log_p_actions [M, B]``,
            ``log_q_actions [M, B]`` (importance-weighted training only) and ``entropy [T, B]``
            (the proposal's, mean over rollouts). ``center``, ``size``, ``glimpses``, the cells
            and gates show the first rollout.
        """
        batch, _, height, width = images.shape
        runs = self.samples
        x = images.repeat(runs, 1, 1, 1)  # [M B, 1, H, W], rollout-major
        fitting = self.training and labels is not None
        importance = fitting and self.estimator == "wake_sleep"
        use_q = importance and self.inference is not None
        y = labels.repeat(runs) if use_q else None  # [M B]
        coarse = F.adaptive_avg_pool2d(x, self.coarse_size).flatten(1)  # [M B, coarse^2]
        r2 = self.context(coarse)  # [M B, S]: the coarse view enters the second layer
        c2 = torch.zeros_like(r2)
        r1, c1 = torch.zeros_like(r2), torch.zeros_like(r2)
        log_p = x.new_zeros(x.shape[0])
        log_q = x.new_zeros(x.shape[0])
        steps: dict[str, list[Tensor]] = {k: [] for k in ("logits", "loc", "zoom", "entropy", "read", "c1", "c2")}
        gates: list[dict[str, dict[str, Tensor]]] = []
        for _ in range(self.glimpses):
            prior = self.prior(r2)
            proposal = self.inference(r2, y) if use_q else prior
            if importance and self.temperature != 1:
                proposal = proposal.tempered(self.temperature)
            action = proposal.sample()
            log_p = log_p + prior.log_prob(action)  # [M B]
            log_q = log_q + proposal.log_prob(action)  # [M B]
            loc = action.loc.clamp(-1, 1)  # [M B, 2]
            read = self.observe(x, loc, action.zoom)  # [M B, patch, patch]
            where = torch.cat([loc, F.one_hot(action.zoom, len(self.zooms)).to(loc.dtype)], -1)
            g = self.glimpse.encode(read, where)  # [M B, glimpse_size]
            r1, c1, lower_gates = self.lower(g, (r1, c1), return_gates)
            r2, c2, upper_gates = self.upper(r1, (r2, c2), return_gates)
            if return_gates:
                gates.append({"lower": lower_gates, "upper": upper_gates})
            values = (self.classifier(r1), loc, action.zoom, proposal.entropy(), read, c1, c2)
            for key, value in zip(steps, values):
                steps[key].append(value)
        s = {k: torch.stack(v) for k, v in steps.items()}  # each [T, M B, ...]
        sample_logits = s["logits"].unflatten(1, (runs, batch))  # [T, M, B, C]
        mean_log_prob = log_mean_softmax(sample_logits, 1)  # [T, B, C]
        first = {k: v[:, :batch] for k, v in s.items()}  # the first rollout, [T, B, ...]
        if not use_q:  # q is (a tempered copy of) p: its density carries no gradient of its own
            log_q = log_q.detach()
        return Trace(
            logits=mean_log_prob,
            center=loc_to_pixels(first["loc"], height, width),  # [T, B, 2]
            size=self.patch * self.zooms[first["zoom"]],  # [T, B]
            glimpses=first["read"][:, :, None] if return_glimpses else None,  # [T, B, 1, patch, patch]
            enc_cell=first["c1"],
            dec_cell=first["c2"],
            gates={k: v[:, :batch] for k, v in stack_gates(gates).items()} if return_gates else None,
            entropy=s["entropy"].unflatten(1, (runs, batch)).mean(1),  # [T, B]
            sample_logits=sample_logits,
            log_p_actions=log_p.view(runs, batch),  # [M, B]
            log_q_actions=log_q.view(runs, batch) if importance else None,  # [M, B]
        )
