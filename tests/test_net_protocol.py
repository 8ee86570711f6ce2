"""The interface every net satisfies (lit_draw.models.net.AttentionNet), checked on all three models,
and a net that lacks it refused in one line where it is given."""

from __future__ import annotations

from typing import get_args

import pytest
import torch
from torch import nn

from lit_draw.cli.init_from import reinitialize
from lit_draw.models import RAM, WSRAM, AttentionNet, DRAWClassifier, Trace
from lit_draw.models.net import Reinitializable, RolloutNet, TraceKind, Writing
from lit_draw.module import AttentionClassifier
from lit_draw.objectives import CrossEntropy, PonderNet, Reconstruction, Reinforce, Variational, WakeSleep

CANVAS = 16


def draw(**options) -> DRAWClassifier:
    return DRAWClassifier(
        **{
            "canvas_size": CANVAS,
            "read_n": 3,
            "glimpses": 2,
            "enc_size": 8,
            "z_size": 4,
            "dec_size": 8,
            "hidden": 8,
            **options,
        }
    )


def ram(**options) -> RAM:
    return RAM(
        **{
            "canvas_size": CANVAS,
            "patch": 4,
            "glimpses": 2,
            "core_size": 16,
            "what_hidden": 8,
            "where_hidden": 8,
            "glimpse_size": 16,
            **options,
        }
    )


def wsram(**options) -> WSRAM:
    return WSRAM(
        **{
            "canvas_size": CANVAS,
            "patch": 4,
            "zooms": [1, 2],
            "glimpses": 2,
            "samples": 2,
            "coarse_size": 4,
            "what_hidden": 8,
            "where_hidden": 8,
            "glimpse_size": 16,
            "state_size": 16,
            "hidden": 8,
            **options,
        }
    )


NETS = {
    "draw": draw,
    "draw_halting_write": lambda: draw(halting=True, write=True),
    "ram": ram,
    "ram_halting": lambda: ram(halting=True),
    "wsram": wsram,
    "wsram_prior_only": lambda: wsram(inference_network=False),
}


@pytest.mark.parametrize("name", sorted(NETS))
def test_every_model_is_an_attention_net_whose_forward_gives_a_trace_of_its_glimpses(name: str):
    net = NETS[name]()
    assert isinstance(net, AttentionNet)
    assert (net.canvas_size, net.glimpses, net.num_classes) == (CANVAS, 2, 10)
    assert net.trace_kind in get_args(TraceKind)
    assert isinstance(net.stochastic_policy, bool)
    assert net.halting is None or isinstance(net.halting, nn.Module)
    assert ("halting" in name) == (net.halting is not None)
    assert set(dict(net.named_children())) <= set(net.groups)  # every child module is a named group
    trace = net(torch.rand(3, 1, CANVAS, CANVAS), torch.tensor([0, 1, 2]))
    assert isinstance(trace, Trace) and trace.logits.shape[0] == net.glimpses and trace.logits.shape[-1] == 10


def test_the_extras_are_declared_by_the_models_that_have_them():
    assert isinstance(draw(), Reinitializable) and isinstance(draw(), Writing)
    assert not isinstance(ram(), Reinitializable) and not isinstance(wsram(), Reinitializable)
    assert isinstance(wsram(), RolloutNet) and not isinstance(ram(), RolloutNet)
    assert (draw().stochastic_policy, ram().stochastic_policy, wsram().stochastic_policy) == (False, True, True)
    assert [net.trace_kind for net in (draw(), ram(), wsram())] == ["differentiable", "policy", "rollouts"]


class _Headless(nn.Module):
    """A net with a forward but none of AttentionNet's attributes."""

    glimpses = 2

    def forward(self, images: torch.Tensor, labels: torch.Tensor | None = None) -> Trace:
        raise AssertionError("never run")


def test_a_net_that_is_no_attention_net_is_refused_naming_what_it_lacks():
    with pytest.raises(
        ValueError,
        match=r"^AttentionClassifier.net must be a net with canvas_size, forward, glimpses, "
        r"groups, halting, num_classes, stochastic_policy, trace_kind "
        r"\(lit_draw.models.net.AttentionNet\), got _Headless, which lacks canvas_size, "
        r"groups, halting, num_classes, stochastic_policy, trace_kind$",
    ):
        AttentionClassifier(_Headless(), CrossEntropy("last"))


def test_each_objective_binds_to_the_nets_it_fits():
    for net, objective in [
        (draw(), CrossEntropy("last")),
        (draw(halting=True), PonderNet()),
        (ram(), Reinforce("last")),
        (wsram(), WakeSleep("last")),
        (wsram(inference_network=False), Variational("last")),
        (draw(write=True), Reconstruction()),
    ]:
        AttentionClassifier(net, objective)
    with pytest.raises(ValueError, match=r"Variational draws its rollouts from the prior p: .* inference_network=True"):
        AttentionClassifier(wsram(), Variational("last"))
    with pytest.raises(ValueError, match=r"^Reconstruction.net must be a net with a write head"):
        AttentionClassifier(draw(), Reconstruction())


def test_only_a_reinitializable_net_redraws_groups():
    net = draw()
    before = net.classifier[0].weight.clone()
    reinitialize(net, ["classifier"])
    assert not torch.equal(net.classifier[0].weight, before)
    with pytest.raises(ValueError, match=r"^RAM has no groups to re-initialise"):
        reinitialize(ram(), ["core"])


def test_the_net_is_read_through_the_protocol_not_probed():
    """The module, the objectives, the viewer and --reinit read a net's attributes directly; none
    guesses them with ``getattr(net, name, default)`` or ``hasattr(net, name)``."""
    import re
    from pathlib import Path

    root = Path(__file__).parents[1] / "lit_draw"
    files = [root / "module.py", root / "objectives.py", root / "cli" / "init_from.py", *(root / "viewer").glob("*.py")]
    for path in files:
        probes = re.findall(r"(?:getattr|hasattr)\((?:self\.)?net\b", path.read_text())
        assert not probes, f"{path.name}: {probes}"
