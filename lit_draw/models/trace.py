"""The per-glimpse trace every model returns.

Losses, metrics, callbacks and the viewer read a :class:`Trace` and never ask which model
produced it; a field a model does not have is ``None`` and is skipped.

Conventions shared by all fields:

* ``T`` glimpses, ``B`` canvases, ``C`` classes.
* Pixel coordinates are 0-based with pixel ``a`` at coordinate ``a``: on a canvas of width ``W``
  the left-most pixel centre is at ``x = 0`` and the right-most at ``x = W - 1``.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from torch import Tensor


@dataclass
class Trace:
    """What a model did at each glimpse.

    Attributes:
        logits: ``[T, B, C]`` class scores after every glimpse.
        center: ``[T, B, 2]`` the attended point ``(x, y)`` in pixels.
        size: ``[T, B]`` side length in pixels of the (finest) square region read.
        n_scales: number of nested squares read around ``center``; square ``k`` has side
            ``size * 2**k`` (1 for DRAW, the retina's depth for RAM).
        delta: ``[T, B]`` DRAW grid stride in pixels.
        sigma2: ``[T, B]`` DRAW filter variance in pixels squared.
        gamma: ``[T, B]`` DRAW read intensity.
        glimpses: ``[T, B, ...]`` what each glimpse saw (DRAW ``[T, B, N, N]``, retina
            ``[T, B, scales, patch, patch]``); only filled when the model is asked for it.
        cells: ``{name: [T, B, H]}`` the state of each recurrent cell after each glimpse, under the
            model's own names (DRAW ``encoder``, ``decoder``; RAM ``core``; WS-RAM ``lower``,
            ``upper``): an LSTM's cell state ``c``, a ReLU RNN's hidden state ``h``.
        gates: ``{"encoder/input": [T, B, H], ...}`` mean-able LSTM gate activations, keyed
            ``{cell}/{input|forget|output}``; only filled when asked for (ReLU cells have none).
        log_pi: ``[T, B]`` log-density of the sampled (hard) glimpse locations.
        baseline: ``[T, B]`` learned reward baseline ``b_t``.
        entropy: ``[T, B]`` entropy of the attention policy (RAM's location policy; WS-RAM's prior
            ``p``, mean over rollouts).
        mc_logits: ``[T, B, C]`` log of the mean softmax over several policy samples per canvas
            (Monte-Carlo averaging at evaluation); ``logits`` stays a single sample.
        sample_logits: ``[T, M, B, C]`` class scores of each of ``M`` action sequences
            (rollouts) per canvas, for estimators that weight rollouts (WS-RAM, VAR).
        log_p_actions: ``[M, B]`` ``log p(a_m | I)``, the prior (prediction network) log-density
            of rollout ``m``'s whole action sequence; carries the prediction network's gradient.
        log_q_actions: ``[M, B]`` ``log q(a_m | y, I)`` of the inference network, *untempered*,
            with its gradient (WS-RAM+q training only; else ``None``).
        log_proposal_actions: ``[M, B]`` the log-density the training rollouts were actually drawn
            from (``q`` or ``p``, tempered when the net's temperature is not 1), detached: what the
            importance weights divide by. ``None`` in evaluation.
        lambdas: ``[T, B]`` the halting head's probability of stopping after each glimpse, with
            ``lambda_T = 1`` (:mod:`lit_draw.models.halting`); ``None`` for a net without the head.
        halt: ``[B]`` int64, where each canvas stops: the number of glimpses used, ``1..T``
            (the first ``lambda_t >= 0.5``, or the sampled stop for a stochastic policy).
        loc_mean: ``[T, N, 2]`` mean of the location policy at each of its ``N`` states, in
            ``[-1, 1]`` units (``N``: the ``B`` canvases of RAM's single-sample run, or WS-RAM's
            ``M B`` rollouts, rollout-major: the prior ``p``'s), with its gradient. RAM's uniform
            first location has mean 0.
        loc_std: ``[T, N, 2]`` the location policy's standard deviation, likewise (RAM's uniform
            first location: ``1/sqrt(3)``, the uniform's).
        zoom_logits: ``[T, N, K]`` the zoom policy's logits over the ``K`` zooms (WS-RAM's prior).
        canvas: ``[B, H, W]`` logits of the canvas reconstructed from the final state (DRAW's
            write head, ``write: true``); ``None`` without one.
    """

    logits: Tensor
    center: Tensor
    size: Tensor
    n_scales: int = 1
    delta: Tensor | None = None
    sigma2: Tensor | None = None
    gamma: Tensor | None = None
    glimpses: Tensor | None = None
    cells: dict[str, Tensor] | None = None
    gates: dict[str, Tensor] | None = None
    log_pi: Tensor | None = None
    baseline: Tensor | None = None
    entropy: Tensor | None = None
    mc_logits: Tensor | None = None
    sample_logits: Tensor | None = None
    log_p_actions: Tensor | None = None
    log_q_actions: Tensor | None = None
    log_proposal_actions: Tensor | None = None
    lambdas: Tensor | None = None
    halt: Tensor | None = None
    loc_mean: Tensor | None = None
    loc_std: Tensor | None = None
    zoom_logits: Tensor | None = None
    canvas: Tensor | None = None

    @property
    def num_glimpses(self) -> int:
        return self.logits.shape[0]

    def detach(self) -> Trace:
        """A copy with every tensor detached from the graph (for callbacks and logging)."""
        values = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, Tensor):
                value = value.detach()
            elif isinstance(value, dict):
                value = {k: v.detach() for k, v in value.items()}
            values[f.name] = value
        return Trace(**values)
