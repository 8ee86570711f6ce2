"""An LSTM cell that can show its gates."""

from __future__ import annotations

import torch
from torch import Tensor, nn


class GatedLSTMCell(nn.LSTMCell):
    """``torch.nn.LSTMCell`` that can also return its input, forget and output gates.

    Without ``return_gates`` it *is* ``nn.LSTMCell`` (same parameters, same kernel). With it, the
    step is computed from the same parameters in PyTorch's gate order ``(i, f, g, o)``.
    """

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
        if not return_gates:
            h, c = super().forward(x, state)
            return h, c, None
        h_prev, c_prev = state
        pre = x @ self.weight_ih.T + h_prev @ self.weight_hh.T  # [B, 4H]
        if self.bias:
            pre = pre + self.bias_ih + self.bias_hh
        i, f, g, o = pre.chunk(4, dim=-1)
        i, f, o = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o)
        c = f * c_prev + i * torch.tanh(g)
        h = o * torch.tanh(c)
        return h, c, {"input": i, "forget": f, "output": o}
