"""DRAW classifier: a recurrent soft-attention classifier ("differentiable RAM").

Gregor, Danihelka, Graves, Rezende, Wierstra (2015), "DRAW: A Recurrent Neural Network For Image
Generation", sec. 3 (read attention) and sec. 4.1 (cluttered MNIST classification). The sizes
default to the All-Step / Last-Step study: 100x100 canvas, N = 12, T = 10, LSTMs of 256.

Per glimpse ``t``::

    gx, gy, sigma2, delta, gamma = window(h_dec[t-1])
    r = read(x, window)                        # [B, N, N]
    h_enc, c_enc = LSTM_enc([r, h_dec[t-1]])
    z = W_z h_enc                              # linear bottleneck
    h_dec, c_dec = LSTM_dec(z)
    logits[t] = classifier(h_dec)
    lambda[t] = halting(h_dec)                 # with halting: true (lit_draw.models.halting)

    canvas = write(h_dec[T])                   # with write: true: the canvas's logits, [B, H, W]

The write head is jlindsey15/DRAM's (the code the study modified): one linear map from the final
decoder state to every pixel, trained on reconstruction (:class:`lit_draw.objectives.Reconstruction`)
as a pre-training before classification. ``init="tf"`` and ``forget_bias=1.0`` start the net as
DRAM's TensorFlow 0.x code did (:mod:`lit_draw.models.init`).
"""

from __future__ import annotations

from typing import ClassVar

import torch
from torch import Tensor, nn

from lit_draw.models.attention import Filter, FilterbankWindow, filterbank_read, gaussian_filterbank
from lit_draw.models.common import check_canvases, classifier_head, flatten_gates, stack_steps
from lit_draw.models.halting import HaltingHead
from lit_draw.models.init import INITS, Init, initialize_, set_forget_biases_, uniform_unit_scaling_
from lit_draw.models.lstm import GatedLSTMCell
from lit_draw.models.net import TraceKind
from lit_draw.models.sequence_grad import SequenceLinear, sequence_gradients
from lit_draw.models.trace import Trace
from lit_draw.validation import (
    IntAtLeast2,
    NonNegativeInt,
    PositiveInt,
    conforms,
    one_of,
    require,
    require_positive_ints,
)


class DRAWClassifier(nn.Module):
    """DRAW read attention + encoder LSTM + bottleneck + decoder LSTM + per-glimpse classifier.

    Args:
        canvas_size: side of the square input canvas in pixels.
        read_n: filters per axis ``N`` (the glimpse is ``N x N``).
        glimpses: number of glimpses ``T``.
        enc_size: encoder LSTM units.
        z_size: units of the linear bottleneck between encoder and decoder.
        dec_size: decoder LSTM units.
        hidden: hidden units of the classifier head; 0 makes it one linear layer, the "softmax layer"
            of Gregor et al.'s classifier (sec. 4.1).
        num_classes: ``C``.
        filter: the read filterbank: ``"paper"`` (Gregor et al. 2015, eqs. 25-26) or ``"dram"``,
            the variance that the study's code (jlindsey15/DRAM) used, ``2 sigma2^2`` (see
            :class:`~lit_draw.models.attention.FilterbankWindow`).
        halting: add a halting head on the decoder state (``trace.lambdas``, ``trace.halt``: the
            first glimpse with ``lambda_t >= 0.5``), trained by ``PonderNet``.
        write: add DRAM's write head, ``Linear(dec_size, H W)`` on the final decoder state
            (``trace.canvas``), for reconstruction pre-training (``Reconstruction``).
        init: ``"torch"`` (PyTorch's default initialisation) or ``"tf"`` (TensorFlow 0.x's uniform
            unit scaling with zero biases, as the study's code had; :mod:`lit_draw.models.init`).
        forget_bias: the LSTMs' initial forget-gate bias (TensorFlow's ``LSTMCell``: 1.0); ``None``
            keeps the initialisation's.
    """

    #: the groups of parameters, by the paper's names, that ``trainable`` and ``--reinit`` name
    #: (DRAM's ``read``, ``encoder``, ``z``, ``decoder``, ``hidden1``/``hidden2`` and ``write``)
    groups: ClassVar[tuple[str, ...]] = ("window", "encoder", "bottleneck", "decoder", "classifier", "halting", "write")

    #: what :mod:`lit_draw.objectives` trains it with: ``CrossEntropy`` (``PonderNet`` with the halting head)
    trace_kind: ClassVar[TraceKind] = "differentiable"
    #: glimpses follow the window deterministically (no policy to score at its mean)
    stochastic_policy: ClassVar[bool] = False
    #: form each weight's gradient once per forward, not once per glimpse (the same gradient, much
    #: faster at small batches; see :mod:`lit_draw.models.sequence_grad`); ``False``: plain autograd
    sequence_grads: ClassVar[bool] = True

    def __init__(
        self,
        canvas_size: PositiveInt = 100,
        read_n: IntAtLeast2 = 12,
        glimpses: PositiveInt = 10,
        enc_size: PositiveInt = 256,
        z_size: PositiveInt = 10,
        dec_size: PositiveInt = 256,
        hidden: NonNegativeInt = 256,
        num_classes: PositiveInt = 10,
        halting: bool = False,
        filter: Filter = "paper",
        write: bool = False,
        init: Init = "torch",
        forget_bias: float | None = None,
    ) -> None:
        super().__init__()
        require_positive_ints(
            "DRAWClassifier",
            canvas_size=canvas_size,
            read_n=read_n,
            glimpses=glimpses,
            enc_size=enc_size,
            z_size=z_size,
            dec_size=dec_size,
            num_classes=num_classes,
        )
        require(
            "DRAWClassifier", "hidden", conforms(NonNegativeInt, hidden), "an int >= 0 (0: a linear classifier)", hidden
        )
        require("DRAWClassifier", "halting", isinstance(halting, bool), "true or false", halting)
        require("DRAWClassifier", "write", isinstance(write, bool), "true or false", write)
        require("DRAWClassifier", "init", init in INITS, one_of(INITS), init)
        require(
            "DRAWClassifier",
            "forget_bias",
            forget_bias is None or isinstance(forget_bias, (int, float)) and not isinstance(forget_bias, bool),
            "a number or null",
            forget_bias,
        )
        require(
            "DRAWClassifier", "filter", filter in FilterbankWindow.FILTERS, one_of(FilterbankWindow.FILTERS), filter
        )
        require(
            "DRAWClassifier",
            "read_n",
            read_n <= canvas_size,
            f"<= canvas_size ({canvas_size}) (an N x N read grid of at most one filter per canvas pixel)",
            read_n,
        )
        self.canvas_size = canvas_size
        self.glimpses = glimpses
        self.num_classes = num_classes
        self.window = FilterbankWindow(dec_size, read_n, canvas_size, canvas_size, filter)
        self.encoder = GatedLSTMCell(read_n * read_n + dec_size, enc_size)
        self.bottleneck = SequenceLinear(enc_size, z_size)
        self.decoder = GatedLSTMCell(z_size, dec_size)
        self.classifier = classifier_head(dec_size, hidden, num_classes)
        self.halting = HaltingHead(dec_size, glimpses) if halting else None
        self.write = nn.Linear(dec_size, canvas_size * canvas_size) if write else None
        self.init, self.forget_bias = init, forget_bias
        if init == "tf":  # "torch": the layers' own initialisation, done as they were built
            uniform_unit_scaling_(self)
        if forget_bias is not None:
            set_forget_biases_(self, forget_bias)

    def reinitialize(self, groups: list[str]) -> None:
        """Draw the named groups (:attr:`groups`) afresh with the net's own initialisation (DRAM's
        ``start_non_restored_from_random``, after a start from pre-trained weights)."""
        for name in groups:
            module = getattr(self, name, None) if name in self.groups else None
            require(
                "DRAWClassifier",
                "reinitialize groups",
                module is not None,
                one_of([g for g in self.groups if getattr(self, g) is not None]),
                name,
            )
            initialize_(module, self.init, self.forget_bias)

    def forward(
        self,
        images: Tensor,
        labels: Tensor | None = None,
        *,
        return_glimpses: bool = False,
        return_gates: bool = False,
    ) -> Trace:
        """Run ``T`` glimpses.

        Args:
            images: ``[B, 1, H, W]`` canvases in ``[0, 1]``.
            labels: unused (the common model signature; WS-RAM's inference network reads them).
            return_glimpses: fill ``trace.glimpses`` with the ``[T, B, N, N]`` reads.
            return_gates: fill ``trace.gates`` with the encoder and decoder LSTM gates.

        Returns:
            The :class:`Trace`, with logits ``[T, B, C]`` and the window parameters per glimpse.
        """
        check_canvases(type(self).__name__, images, self.canvas_size)
        x = images[:, 0]  # [B, H, W]
        batch, height, width = x.shape
        n = self.window.n
        h_enc = x.new_zeros(batch, self.encoder.hidden_size)
        c_enc = torch.zeros_like(h_enc)
        h_dec = x.new_zeros(batch, self.decoder.hidden_size)
        c_dec = torch.zeros_like(h_dec)
        steps = []
        with sequence_gradients(self, self.sequence_grads):
            for _ in range(self.glimpses):
                gx, gy, sigma2, delta, gamma = self.window(h_dec)  # each [B]
                fx, fy = gaussian_filterbank(gx, gy, sigma2, delta, n, height, width)
                r = filterbank_read(x, fx, fy, gamma)  # [B, N, N]
                h_enc, c_enc, enc_gates = self.encoder(
                    torch.cat([r.flatten(1), h_dec], -1), (h_enc, c_enc), return_gates
                )
                h_dec, c_dec, dec_gates = self.decoder(self.bottleneck(h_enc), (h_dec, c_dec), return_gates)
                steps.append(
                    {
                        "logits": self.classifier(h_dec),
                        "center": torch.stack([gx, gy], -1),
                        "sigma2": sigma2,
                        "delta": delta,
                        "gamma": gamma,
                        "read": r,
                        "cells": {"encoder": c_enc, "decoder": c_dec},
                        "gates": flatten_gates({"encoder": enc_gates, "decoder": dec_gates}),
                        **({"lambda": self.halting(h_dec)} if self.halting is not None else {}),
                    }
                )
        s = stack_steps(steps)  # each [T, B, ...]
        canvas = self.write(h_dec).view(batch, height, width) if self.write is not None else None  # [B, H, W]
        halting = HaltingHead.trace_fields(s["lambda"], sample=False) if self.halting is not None else {}
        return Trace(
            logits=s["logits"],
            center=s["center"],  # [T, B, 2]
            size=n * s["delta"],
            delta=s["delta"],
            sigma2=s["sigma2"],
            gamma=s["gamma"],
            glimpses=s["read"] if return_glimpses else None,
            cells=s["cells"],
            gates=s["gates"] or None,
            canvas=canvas,
            **halting,
        )
