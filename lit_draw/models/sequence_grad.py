"""Weight gradients of an unrolled recurrent net, formed once per sequence instead of once per glimpse.

A recurrent net applies each weight ``W [out, in]`` at every one of its ``T`` glimpses. Autograd
then forms ``T`` gradients ``g_t^T x_t`` (``g_t [B, out]`` the gradient of the layer's output,
``x_t [B, in]`` its input) and adds them up one at a time. At batch 1 each is an outer product that
writes all of ``W`` to memory, and these products and sums are most of a training step (DRAW at the
study's sizes, batch 1: see benchmarks/RESULTS.md). Inside :func:`sequence_gradients`, the layers
below record ``(x_t, g_t)`` during the backward pass instead, and form

    dW = G^T X,   db = sum_rows G,   G = [g_1; ...; g_T]  [T B, out],   X = [x_1; ...; x_T]  [T B, in]

with one matrix product once the backward pass has gone through every glimpse: each use of ``W``
reads it through one node (:class:`_Gather`) whose backward autograd runs only after the backward of
every use. The gradient is the same sum, added in another order.

Only first-order gradients (``loss.backward()``: all that training needs). Outside the context,
under ``torch.no_grad`` and under autocast the layers are plain ``nn.Linear`` / ``nn.LSTMCell``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class _Tape:
    """The inputs ``x_t`` and output gradients ``g_t`` of one weight's uses in one sequence."""

    def __init__(self) -> None:
        self.inputs: list[Tensor] = []
        self.grads: list[Tensor] = []


class _Gather(torch.autograd.Function):
    """Identity on ``(weight, bias)``; its backward forms ``dW = G^T X`` and ``db`` from the tape."""

    @staticmethod
    def forward(ctx, weight: Tensor, bias: Tensor | None, tape: _Tape):  # type: ignore[override]
        ctx.tape = tape
        ctx.has_bias = bias is not None
        ctx.set_materialize_grads(False)
        return weight.view_as(weight), (bias.view_as(bias) if bias is not None else None)

    @staticmethod
    def backward(ctx, _grad_weight: None, _grad_bias: None):  # type: ignore[override]
        tape: _Tape = ctx.tape
        if not tape.grads:
            return None, None, None
        g = torch.cat(tape.grads)  # [T B, out]
        x = torch.cat(tape.inputs)  # [T B, in]
        tape.inputs.clear()
        tape.grads.clear()
        return g.T @ x, (g.sum(0) if ctx.has_bias else None), None


class _Apply(torch.autograd.Function):
    """``y = x W^T + b`` whose backward gives ``dL/dx = g W`` and leaves ``(x, g)`` on the tape."""

    @staticmethod
    def forward(ctx, x: Tensor, weight: Tensor, bias: Tensor | None, tape: _Tape) -> Tensor:  # type: ignore[override]
        ctx.save_for_backward(x, weight)
        ctx.tape = tape
        return F.linear(x, weight, bias)

    @staticmethod
    def backward(ctx, grad: Tensor):  # type: ignore[override]
        x, weight = ctx.saved_tensors
        ctx.tape.inputs.append(x)
        ctx.tape.grads.append(grad)
        return (grad @ weight if ctx.needs_input_grad[0] else None), None, None, None


class SequenceWeight:
    """One ``(weight, bias)`` pair of a layer, applied through the tape while a sequence is open."""

    def __init__(self) -> None:
        self._open: tuple[Tensor, Tensor | None, _Tape] | None = None

    def open(self, weight: Tensor, bias: Tensor | None) -> None:
        tape = _Tape()
        self._open = (*_Gather.apply(weight, bias, tape), tape)

    def close(self) -> None:
        self._open = None

    @property
    def closed(self) -> bool:
        return self._open is None

    def linear(self, x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        """``F.linear(x, weight, bias)``, through the tape while a sequence is open. ``x [B, in]`` -> ``[B, out]``."""
        if self._open is None:
            return F.linear(x, weight, bias)
        return _Apply.apply(x, self._open[0], self._open[1], self._open[2])


class SequenceLinear(nn.Linear):
    """``nn.Linear`` (same parameters, same state dict) whose weight gradient is formed once per
    sequence inside :func:`sequence_gradients`."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True) -> None:
        super().__init__(in_features, out_features, bias)
        self.sequence = SequenceWeight()

    def open_sequence(self) -> None:
        self.sequence.open(self.weight, self.bias)

    def close_sequence(self) -> None:
        self.sequence.close()

    def forward(self, x: Tensor) -> Tensor:
        return self.sequence.linear(x, self.weight, self.bias)


def _autocast(net: nn.Module) -> bool:
    """Whether autocast is on for the device type of ``net``'s parameters."""
    try:
        return torch.is_autocast_enabled(next(net.parameters()).device.type)
    except RuntimeError:  # a device type autocast does not know (meta, in the device tests)
        return False


@contextmanager
def sequence_gradients(net: nn.Module, enabled: bool = True) -> Iterator[None]:
    """Open one sequence in every layer of ``net`` that has ``open_sequence`` / ``close_sequence``.

    A no-op when ``enabled`` is false, when gradients are off (evaluation), under autocast (the
    tape's backward would mix the autocast dtype with the float32 weight) and under ``torch.compile``
    (which fuses the step its own way).
    """
    if not enabled or not torch.is_grad_enabled() or torch.compiler.is_compiling() or _autocast(net):
        yield
        return
    layers = [m for m in net.modules() if hasattr(m, "open_sequence")]
    for layer in layers:
        layer.open_sequence()
    try:
        yield
    finally:
        for layer in layers:
            layer.close_sequence()
