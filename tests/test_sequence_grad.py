"""Weight gradients formed once per sequence (lit_draw.models.sequence_grad) equal plain autograd's."""

from __future__ import annotations

import pytest
import torch

from lit_draw import losses
from lit_draw.models import DRAWClassifier
from lit_draw.models.lstm import GatedLSTMCell
from lit_draw.models.sequence_grad import SequenceLinear, sequence_gradients


def _grads(net: torch.nn.Module, loss_fn, enabled: bool) -> dict[str, torch.Tensor]:
    net.zero_grad(set_to_none=True)
    with sequence_gradients(net, enabled):
        loss = loss_fn()
    loss.backward()
    return {name: p.grad.clone() for name, p in net.named_parameters()}


def test_a_linear_used_at_every_step_gets_the_sum_of_its_per_step_gradients():
    torch.manual_seed(0)
    layer = SequenceLinear(3, 3).double()
    x0 = torch.randn(2, 3, dtype=torch.float64)

    def loss():
        h, total = x0, 0.0
        for t in range(4):  # a recurrence: the layer's input depends on its earlier outputs
            h = torch.tanh(layer(h))
            total = total + (t + 1) * h.square().sum()
        return total

    fast, plain = _grads(layer, loss, True), _grads(layer, loss, False)
    assert set(fast) == {"weight", "bias"}
    for name in plain:
        torch.testing.assert_close(fast[name], plain[name], rtol=1e-12, atol=1e-12)


def test_the_lstm_cell_in_a_sequence_matches_the_fused_kernel_values_and_gradients():
    torch.manual_seed(1)
    cell = GatedLSTMCell(4, 5).double()
    xs = torch.randn(3, 2, 4, dtype=torch.float64)

    def run():
        h = c = torch.zeros(2, 5, dtype=torch.float64)
        out = []
        for x in xs:
            h, c, _ = cell(x, (h, c))
            out.append(h)
        return torch.stack(out)

    with torch.no_grad():
        plain_values = run()
        with sequence_gradients(cell):  # no-op without gradients: the fused kernel
            assert cell.sequence_ih.closed
    cell.open_sequence()
    try:
        torch.testing.assert_close(run().detach(), plain_values)
    finally:
        cell.close_sequence()
    fast, plain = _grads(cell, lambda: run().sin().sum(), True), _grads(cell, lambda: run().sin().sum(), False)
    for name in plain:
        torch.testing.assert_close(fast[name], plain[name], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("weighting", ["all", "last"])
def test_draw_gets_the_same_gradients_as_with_plain_autograd(weighting):
    torch.manual_seed(2)
    # float32: DRAW's window is float32 by design (lit_draw.models.attention.FilterbankWindow)
    net = DRAWClassifier(canvas_size=20, read_n=3, glimpses=4, enc_size=6, z_size=2, dec_size=5, hidden=7)
    images = torch.rand(2, 1, 20, 20)
    labels = torch.tensor([3, 7])
    weights = torch.full((4,), 0.25) if weighting == "all" else torch.tensor([0.0, 0.0, 0.0, 1.0])

    def loss():
        return losses.weighted_cross_entropy(net(images).logits, labels, weights)

    fast = _grads(net, loss, True)
    plain = _grads(net, loss, False)
    assert set(fast) == set(plain) == {name for name, _ in net.named_parameters()}
    for name in plain:
        torch.testing.assert_close(fast[name], plain[name], rtol=1e-4, atol=1e-6, msg=name)


def test_outside_a_sequence_and_in_evaluation_the_layers_are_plain():
    layer = SequenceLinear(3, 2)
    x = torch.randn(4, 3)
    torch.testing.assert_close(layer(x), torch.nn.functional.linear(x, layer.weight, layer.bias))
    with torch.no_grad(), sequence_gradients(layer):
        assert layer.sequence.closed
    with sequence_gradients(layer):
        assert not layer.sequence.closed
    assert layer.sequence.closed
