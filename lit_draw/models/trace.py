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
        enc_cell: ``[T, B, H]`` encoder (or lower) LSTM cell state after each glimpse.
        dec_cell: ``[T, B, H]`` decoder (or core) LSTM cell state after each glimpse.
        gates: ``{"encoder/input": [T, B, H], ...}`` mean-able LSTM gate activations, keyed
            ``{cell}/{input|forget|output}``; only filled when asked for.
        log_pi: ``[T, B]`` log-density of the sampled (hard) glimpse locations.
        baseline: ``[T, B]`` learned reward baseline ``b_t``.
        entropy: ``[T, B]`` entropy of the location policy.
        mc_logits: ``[T, B, C]`` log of the mean softmax over several policy samples per canvas
            (Monte-Carlo averaging at evaluation); ``logits`` stays a single sample.
        sample_logits: ``[T, M, B, C]`` class scores of each of ``M`` action sequences
            (rollouts) per canvas, for estimators that weight rollouts (WS-RAM, VAR).
        log_p_actions: ``[M, B]`` ``log p(a_m | I)``, the prior (prediction network) log-density
            of rollout ``m``'s whole action sequence; carries the prediction network's gradient.
        log_q_actions: ``[M, B]`` ``log q(a_m | y, I)``, the log-density of the proposal the
            rollouts were drawn from when they are importance-weighted (WS-RAM); ``None`` when
            they are prior samples weighted equally (VAR, evaluation).
    """

    logits: Tensor
    center: Tensor
    size: Tensor
    n_scales: int = 1
    delta: Tensor | None = None
    sigma2: Tensor | None = None
    gamma: Tensor | None = None
    glimpses: Tensor | None = None
    enc_cell: Tensor | None = None
    dec_cell: Tensor | None = None
    gates: dict[str, Tensor] | None = None
    log_pi: Tensor | None = None
    baseline: Tensor | None = None
    entropy: Tensor | None = None
    mc_logits: Tensor | None = None
    sample_logits: Tensor | None = None
    log_p_actions: Tensor | None = None
    log_q_actions: Tensor | None = None

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
