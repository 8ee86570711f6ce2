"""What lit_draw asks of a net, written down: :class:`AttentionNet` and the few extras some objectives
and commands need. ``DRAWClassifier``, ``RAM`` and ``WSRAM`` satisfy them structurally (no base class
to inherit; ``tests/test_net_protocol.py`` checks each with ``isinstance``).

The LightningModule checks a net once, when it is built (:func:`require_net`); after that the module,
the objectives, the callbacks and the viewer read these attributes directly, never probing with
``getattr(net, name, default)``.
"""

from __future__ import annotations

from typing import Literal, Protocol, runtime_checkable

from torch import Tensor, nn

from lit_draw.models.trace import Trace

#: Which objectives train a net (``lit_draw.objectives``' ``fits``): through the differentiable
#: window (DRAW), a REINFORCE policy (RAM), or importance-weighted rollouts (WS-RAM).
TraceKind = Literal["differentiable", "policy", "rollouts"]


@runtime_checkable
class AttentionNet(Protocol):
    """A recurrent attention classifier that lit_draw can train, evaluate and show.

    Attributes:
        canvas_size: the side ``H = W`` of the canvases it was built for.
        glimpses: ``T``, the glimpses of one forward pass (one prediction after each).
        num_classes: ``C``.
        trace_kind: which objectives train it (:data:`TraceKind`).
        stochastic_policy: its glimpses are drawn from a policy, so it is also scored at the
            policy's mean (``forward(..., mean_policy=True)``).
        halting: its halting head (:class:`lit_draw.models.halting.HaltingHead`), or ``None``.
        groups: the names of its parameter groups, child modules by the paper's names, that
            ``model.trainable`` names (a group that is ``None`` in this instance is absent).
    """

    canvas_size: int
    glimpses: int
    num_classes: int
    trace_kind: TraceKind
    stochastic_policy: bool
    halting: nn.Module | None
    groups: tuple[str, ...]

    def forward(
        self, images: Tensor, labels: Tensor | None = None, *, return_glimpses: bool = False, return_gates: bool = False
    ) -> Trace:
        """``images [B, 1, H, W]`` in ``[0, 1]`` (``labels [B]``, read only by nets that infer from
        them) -> the :class:`Trace` of ``T`` glimpses, logits ``[T, B, C]``."""
        ...


@runtime_checkable
class Reinitializable(Protocol):
    """A net whose groups can be drawn afresh after a start from other weights (``fit --reinit``)."""

    def reinitialize(self, groups: list[str]) -> None:
        """Draw the named :attr:`AttentionNet.groups` afresh with the net's own initialisation."""
        ...


@runtime_checkable
class Writing(Protocol):
    """A net that may reconstruct its canvas (``trace.canvas``) with a write head, for reconstruction pre-training.

    Attributes:
        write: the write head, or ``None`` when this instance has none.
    """

    write: nn.Module | None


@runtime_checkable
class RolloutNet(Protocol):
    """A net trained by rollouts (``trace_kind == "rollouts"``: ``WakeSleep``, ``Variational``).

    Attributes:
        samples: ``M``, the rollouts per canvas.
        temperature: the proposal's temperature (1: off).
        inference: the inference network ``q`` the rollouts are drawn from, or ``None`` (from the prior ``p``).
    """

    samples: int
    temperature: float
    inference: nn.Module | None


def require_net(owner: str, net: object, protocol: type = AttentionNet) -> None:
    """Refuse a net that lacks what ``protocol`` asks for.

    Args:
        owner: who asks, for the message (``"AttentionClassifier.net"``).
        net: the net.
        protocol: one of this module's protocols.

    Raises:
        ValueError: ``"<owner> must be a net with <members> (lit_draw.models.net.<Protocol>), got
            <class>, which lacks <names>"``.
    """
    if isinstance(net, protocol):
        return
    members = sorted(_protocol_members(protocol))
    lacking = [name for name in members if not hasattr(net, name)]
    raise ValueError(
        f"{owner} must be a net with {', '.join(members)} (lit_draw.models.net.{protocol.__name__}), "
        f"got {type(net).__name__}, which lacks {', '.join(lacking)}"
    )


def _protocol_members(protocol: type) -> set[str]:
    """The attributes and methods a protocol declares (Python 3.12's ``__protocol_attrs__``, also on 3.10 and 3.11)."""
    names: set[str] = set()
    for cls in protocol.__mro__:
        if Protocol not in cls.__bases__:  # a protocol names Protocol among its bases; object, Generic do not
            continue
        names |= set(getattr(cls, "__annotations__", {}))
        names |= {name for name, value in vars(cls).items() if callable(value) and not name.startswith("_")}
    return names
