"""Weight initialisations: PyTorch's defaults, or those of TensorFlow 0.x that the study's code had.

The All-Step / Last-Step study ran jlindsey15/DRAM, TensorFlow 0.x code whose ``linear`` layers and
``LSTMCell`` took ``tf.get_variable``'s default initialiser, *uniform unit scaling*: a weight of
shape ``[fan_in, fan_out]`` drawn from ``U(-sqrt(3 / fan_in), sqrt(3 / fan_in))``, biases zero. An
LSTM's weight there is one matrix ``W_0`` of shape ``[input + hidden, 4 hidden]``, so both of
PyTorch's ``weight_ih`` and ``weight_hh`` take ``fan_in = input + hidden``. PyTorch's ``nn.Linear``
draws ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``: TensorFlow's linear weights start ``sqrt(3)`` (1.7x)
larger. TensorFlow's ``LSTMCell`` also adds ``forget_bias = 1.0`` to the forget gate's
pre-activation; with zero biases that is a forget-gate bias initialised to 1 (:func:`set_forget_bias_`).
"""

from __future__ import annotations

import math
from typing import Literal, get_args

import torch
from torch import nn

#: the initialisations a model can be built with
Init = Literal["torch", "tf"]
INITS: tuple[str, ...] = get_args(Init)


@torch.no_grad()
def uniform_unit_scaling_(module: nn.Module) -> None:
    """TensorFlow 0.x's default initialisation of every ``nn.Linear`` and ``nn.LSTMCell`` in ``module``.

    ``nn.Linear(in, out)``: weight ``U(+-sqrt(3 / in))``; ``nn.LSTMCell(in, H)``: ``weight_ih`` and
    ``weight_hh`` ``U(+-sqrt(3 / (in + H)))`` (TensorFlow's one ``W_0`` of ``[in + H, 4H]``); all
    biases zero.
    """
    for layer in module.modules():
        if isinstance(layer, nn.Linear):
            bound = math.sqrt(3.0 / layer.in_features)
            layer.weight.uniform_(-bound, bound)
            if layer.bias is not None:
                layer.bias.zero_()
        elif isinstance(layer, nn.LSTMCell):
            bound = math.sqrt(3.0 / (layer.input_size + layer.hidden_size))
            layer.weight_ih.uniform_(-bound, bound)
            layer.weight_hh.uniform_(-bound, bound)
            if layer.bias:
                layer.bias_ih.zero_()
                layer.bias_hh.zero_()


@torch.no_grad()
def set_forget_bias_(cell: nn.LSTMCell, value: float) -> None:
    """Make the forget gate's total bias ``bias_ih[f] + bias_hh[f]`` equal ``value`` (PyTorch's gate
    order ``i, f, g, o``): ``bias_ih[f] = value``, ``bias_hh[f] = 0``. TensorFlow's ``LSTMCell`` adds
    ``forget_bias = 1.0`` to the zero-initialised bias: the same pre-activation at the start."""
    if not cell.bias:
        raise ValueError("forget_bias needs an LSTM cell with biases (bias=True)")
    hidden = cell.hidden_size
    cell.bias_ih[hidden : 2 * hidden] = value
    cell.bias_hh[hidden : 2 * hidden] = 0.0


@torch.no_grad()
def initialize_(module: nn.Module, init: Init, forget_bias: float | None = None) -> None:
    """(Re-)initialise every layer in ``module``: ``"torch"`` calls each layer's own
    ``reset_parameters`` (PyTorch's defaults), ``"tf"`` applies :func:`uniform_unit_scaling_`; then,
    unless ``forget_bias`` is ``None``, every LSTM cell's forget-gate bias is set to it."""
    if init not in INITS:
        raise ValueError(f"init must be one of {', '.join(INITS)}, got {init!r}")
    if init == "torch":
        for layer in module.modules():
            reset = getattr(layer, "reset_parameters", None)
            if callable(reset):
                reset()
    else:
        uniform_unit_scaling_(module)
    if forget_bias is not None:
        set_forget_biases_(module, forget_bias)


def set_forget_biases_(module: nn.Module, value: float) -> None:
    """:func:`set_forget_bias_` on every LSTM cell in ``module``."""
    for layer in module.modules():
        if isinstance(layer, nn.LSTMCell):
            set_forget_bias_(layer, value)
