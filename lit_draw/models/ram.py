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
    logits[t] = classifier(h[t])

The model only samples; the hybrid loss (cross-entropy + REINFORCE with the baseline) is in
:mod:`lit_draw.losses` and is read off the trace's ``log_pi``, ``baseline`` and ``entropy``.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from lit_draw.models.attention import loc_to_pixels
from lit_draw.models.common import (
    classifier_head,
    log_mean_softmax,
    require_positive_ints,
    sample_gaussian,
    stack_gates,
)
from lit_draw.models.glimpse import GlimpseNetwork
from lit_draw.models.lstm import GatedLSTMCell
from lit_draw.models.trace import Trace

CORES = ("rnn", "lstm")
STARTS = ("random", "learned")

_LOG_AREA = math.log(4.0)  # log of the area of [-1, 1]^2: the uniform start's entropy


class RAM(nn.Module):
    """Retina + glimpse network + core + Gaussian location policy + baseline + per-glimpse classifier.

    Args:
        canvas_size: side of the square input canvas in pixels.
        patch: retina patch side in pixels.
        scales: retina squares per glimpse (square ``k`` covers ``patch * 2**k`` pixels).
        glimpses: number of glimpses ``T``.
        core: ``"rnn"`` (the paper's rectifier RNN) or ``"lstm"``.
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
            start's mean is the centre), so evaluation is repeatable.
        hidden: hidden units of the classifier head.
        num_classes: ``C``.
    """

    def __init__(
        self,
        canvas_size: int = 28,
        patch: int = 8,
        scales: int = 1,
        glimpses: int = 6,
        core: str = "rnn",
        core_size: int = 256,
        what_hidden: int = 128,
        where_hidden: int = 128,
        glimpse_size: int = 256,
        std: float = 0.17,
        learn_std: bool = False,
        start: str = "random",
        mc_samples: int = 1,
        deterministic_eval: bool = False,
        hidden: int = 256,
        num_classes: int = 10,
    ) -> None:
        super().__init__()
        require_positive_ints(
            "RAM", canvas_size=canvas_size, patch=patch, scales=scales, glimpses=glimpses, core_size=core_size,
            what_hidden=what_hidden, where_hidden=where_hidden, glimpse_size=glimpse_size,
            mc_samples=mc_samples, hidden=hidden, num_classes=num_classes,
        )
        if core not in CORES:
            raise ValueError(f"RAM.core must be one of {', '.join(CORES)}, got {core!r}")
        if start not in STARTS:
            raise ValueError(f"RAM.start must be one of {', '.join(STARTS)}, got {start!r}")
        if not std > 0:
            raise ValueError(f"RAM.std must be > 0, got {std!r}")
        self.canvas_size = canvas_size
        self.glimpses = glimpses
        self.mc_samples = mc_samples
        self.deterministic_eval = deterministic_eval
        self.glimpse = GlimpseNetwork(patch, scales, 2, what_hidden, where_hidden, glimpse_size)
        if core == "lstm":
            self.core: nn.Module = GatedLSTMCell(glimpse_size, core_size)
        else:
            self.core = nn.RNNCell(glimpse_size, core_size, nonlinearity="relu")
        self.locator = nn.Linear(core_size, 2)
        self.baseliner = nn.Linear(core_size, 1)
        self.classifier = classifier_head(core_size, hidden, num_classes)
        self.start = nn.Parameter(torch.zeros(2)) if start == "learned" else None
        log_std = torch.full((2,), math.log(std))
        if learn_std:
            self.log_std = nn.Parameter(log_std)
        else:
            self.register_buffer("log_std", log_std)

    def policy(self, h: Tensor, step: int) -> tuple[Tensor, Tensor, Tensor]:
        """Draw the location of glimpse ``step`` (0-based) from the state ``h [B, core_size]``.

        Returns:
            ``l`` ``[B, 2]`` (detached, clamped to ``[-1, 1]``), ``log_pi`` ``[B]`` of the
            unclamped draw and the policy's ``entropy`` ``[B]``.
        """
        batch = h.shape[0]
        sample = self.training or not self.deterministic_eval
        if step == 0 and self.start is None:  # the paper's uniform start carries no parameters
            l = torch.rand(batch, 2, device=h.device) * 2 - 1 if sample else h.new_zeros(batch, 2)
            return l, h.new_full((batch,), -_LOG_AREA), h.new_full((batch,), _LOG_AREA)
        mu = torch.tanh(self.start.expand(batch, 2) if step == 0 else self.locator(h))  # [B, 2]
        # validate_args=False: the argument checks would read values back to the host every glimpse.
        pi = torch.distributions.Normal(mu, self.log_std.exp().expand_as(mu), validate_args=False)
        l = sample_gaussian(mu, pi.scale) if sample else mu.detach()  # [B, 2]
        return l.clamp(-1, 1), pi.log_prob(l).sum(-1), pi.entropy().sum(-1)

    def _core(
        self, g: Tensor, state: tuple[Tensor, Tensor], return_gates: bool
    ) -> tuple[Tensor, Tensor, dict[str, Tensor] | None]:
        """One core step: ``(h, c, gates)``; the RNN core has no cell and no gates (``c = h``)."""
        if isinstance(self.core, GatedLSTMCell):
            return self.core(g, state, return_gates)
        h = self.core(g, state[0])
        return h, h, None

    def forward(
        self,
        images: Tensor,
        labels: Tensor | None = None,
        *,
        return_glimpses: bool = False,
        return_gates: bool = False,
    ) -> Trace:
        """Run ``T`` glimpses (``M`` times per canvas in eval mode when ``mc_samples > 1``).

        Args:
            images: ``[B, 1, H, W]`` canvases in ``[0, 1]``.
            labels: unused (the common model signature; WS-RAM's inference network reads them).
            return_glimpses: fill ``trace.glimpses`` with the ``[T, B, scales, patch, patch]`` reads.
            return_gates: fill ``trace.gates`` with the LSTM core's gates (``core/...``); the RNN
                core has none.

        Returns:
            The :class:`Trace` with logits ``[T, B, C]``, the sampled locations as ``center``,
            ``log_pi``, ``baseline`` and ``entropy`` ``[T, B]``.
        """
        batch, _, height, width = images.shape
        runs = 1 if self.training else self.mc_samples
        x = images.repeat(runs, 1, 1, 1)  # [M B, 1, H, W], run-major
        h = x.new_zeros(x.shape[0], self.core.hidden_size)
        c = torch.zeros_like(h)
        keys = ("logits", "loc", "log_pi", "entropy", "baseline", "read", "cell")
        steps: dict[str, list[Tensor]] = {k: [] for k in keys}
        gates: list[dict[str, dict[str, Tensor]]] = []
        for t in range(self.glimpses):
            l, log_pi, entropy = self.policy(h, t)
            baseline = self.baseliner(h.detach())[:, 0]  # [M B]; the baseline does not shape h
            g, read = self.glimpse(x, l)
            h, c, core_gates = self._core(g, (h, c), return_gates)
            if core_gates is not None:
                gates.append({"core": core_gates})
            for key, value in zip(steps, (self.classifier(h), l, log_pi, entropy, baseline, read, c)):
                steps[key].append(value)
        s = {k: torch.stack(v) for k, v in steps.items()}  # each [T, M B, ...]
        mc_logits = None
        if runs > 1:
            mc_logits = log_mean_softmax(s["logits"].unflatten(1, (runs, batch)), 1)  # [T, B, C]
        s = {k: v[:, :batch] for k, v in s.items()}  # the first run is the single-sample trace
        return Trace(
            logits=s["logits"],
            center=loc_to_pixels(s["loc"], height, width),  # [T, B, 2]
            size=torch.full_like(s["log_pi"], self.glimpse.patch),
            n_scales=self.glimpse.scales,
            glimpses=s["read"] if return_glimpses else None,
            dec_cell=s["cell"] if isinstance(self.core, GatedLSTMCell) else None,
            gates={k: v[:, :batch] for k, v in stack_gates(gates).items()} if gates else None,
            log_pi=s["log_pi"],
            baseline=s["baseline"],
            entropy=s["entropy"],
            mc_logits=mc_logits,
        )
