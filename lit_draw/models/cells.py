"""The recurrent cells of the hard-attention models, behind one step signature.

``cell(x, (h, c), return_gates) -> (h, c, gates)`` for both kinds:

* ``relu``: ``h = ReLU(W_ih x + W_hh h + b)``, the rectifier RNN of Mnih et al. (2014, sec. 4: the
  core network) and of Ba et al. (2015, sec. 5.1: "ReLU units in all recurrent layers"); it has no
  cell state, so ``c`` is ``h``, and no gates;
* ``lstm``: :class:`~lit_draw.models.lstm.GatedLSTMCell`.
"""

from __future__ import annotations

from typing import Literal, get_args

from torch import Tensor, nn

from lit_draw.models.lstm import GatedLSTMCell
from lit_draw.validation import one_of, require

#: the recurrent cells, for a model's ``cell`` field
Cell = Literal["relu", "lstm"]
CELLS: tuple[str, ...] = get_args(Cell)


class ReLURNNCell(nn.RNNCell):
    """``nn.RNNCell(nonlinearity="relu")`` with the step signature of :class:`GatedLSTMCell`."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__(input_size, hidden_size, nonlinearity="relu")

    def forward(  # type: ignore[override]
        self, x: Tensor, state: tuple[Tensor, Tensor], return_gates: bool = False
    ) -> tuple[Tensor, Tensor, None]:
        """``x [B, in]``, ``state (h, c)`` (``c`` unused) -> ``(h, h, None)``, ``h [B, hidden]``."""
        h = super().forward(x, state[0])
        return h, h, None


def recurrent_cell(owner: str, kind: Cell, input_size: int, hidden_size: int) -> ReLURNNCell | GatedLSTMCell:
    """A ``relu`` or ``lstm`` cell; ``owner`` names the model in the error for another ``kind``."""
    require(owner, "cell", kind in CELLS, one_of(CELLS), kind)
    return ReLURNNCell(input_size, hidden_size) if kind == "relu" else GatedLSTMCell(input_size, hidden_size)
