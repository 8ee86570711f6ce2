"""An LSTM cell that can show its gates and form its weight gradients once per sequence."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from lit_draw.models.sequence_grad import SequenceWeight


class GatedLSTMCell(nn.LSTMCell):
    """``torch.nn.LSTMCell`` that can also return its input, forget and output gates.

    Without ``return_gates`` and outside :func:`~lit_draw.models.sequence_grad.sequence_gradients`
    it *is* ``nn.LSTMCell`` (same parameters, same kernel). Otherwise the step is computed from the
    same parameters in PyTorch's gate order ``(i, f, g, o)``, inside a sequence with the weight
    gradients formed once per sequence.
    """

    def __init__(self, input_size: int, hidden_size: int, bias: bool = True) -> None:
        super().__init__(input_size, hidden_size, bias)
        self.sequence_ih, self.sequence_hh = SequenceWeight(), SequenceWeight()

    def open_sequence(self) -> None:
        self.sequence_ih.open(self.weight_ih, self.bias_ih)
        self.sequence_hh.open(self.weight_hh, self.bias_hh)

    def close_sequence(self) -> None:
        self.sequence_ih.close()
        self.sequence_hh.close()

    def forward(  # type: ignore[override]
        self, x: Tensor, state: tuple[Tensor, Tensor], return_gates: bool = False
    ) -> tuple[Tensor, Tensor, dict[str, Tensor] | None]:
        """One step.

        Args:
            x: ``[B, input_size]``.
            state: ``(h, c)``, each ``[B, hidden_size]``.
            return_gates: also return ``{"input", "forget", "output"}`` activations ``[B, hidden]``.

        Returns:
            ``(h, c, gates)`` with ``gates`` ``None`` unless asked for.
        """
        if not return_gates and self.sequence_ih.closed:
            h, c = super().forward(x, state)
            return h, c, None
        h_prev, c_prev = state
        pre = self.sequence_ih.linear(x, self.weight_ih, self.bias_ih) + self.sequence_hh.linear(
            h_prev, self.weight_hh, self.bias_hh
        )  # [B, 4H]
        i, f, g, o = pre.chunk(4, dim=-1)
        i, f, o = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o)
        c = f * c_prev + i * torch.tanh(g)
        h = o * torch.tanh(c)
        return h, c, ({"input": i, "forget": f, "output": o} if return_gates else None)
