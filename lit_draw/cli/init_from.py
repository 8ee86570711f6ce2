"""``fit --init_from <checkpoint> [--reinit GROUP ...]``: a new run that starts from saved weights.

jlindsey15/DRAM, the code the All-Step / Last-Step study modified, classified from a DRAW pre-trained
on reconstruction: it restored the pre-trained variables, optionally drew the groups it would train
afresh (``start_non_restored_from_random``) and trained only those (``rigid_pretrain``; here
``model.trainable``). The pre-trained net may carry a write head that the classifier lacks, or the
reverse: those weights are dropped, or keep their fresh draw; any other difference is refused. The
same holds for a halting head: a head trained alone on a frozen All-Step net (``halting: true``,
``model.trainable: [halting]``; ``configs/overlays/halting_head.yaml``) starts from a net without one.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from lit_draw.models.net import Reinitializable

#: state-dict prefixes a start from another objective's checkpoint may lack or add: DRAW's write head, the halting head
FREE_PREFIXES = ("net.write.", "net.halting.")


def load_initial_weights(model: nn.Module, state_dict: dict[str, Any]) -> str | None:
    """Load ``state_dict`` into ``model``; return what is wrong instead of loading half of it.

    Returns:
        ``None`` once loaded, or a message naming the parameters that the checkpoint lacks or has
        beyond the model's, outside :data:`FREE_PREFIXES`.
    """
    own = model.state_dict()
    missing = [k for k in own if k not in state_dict and not k.startswith(FREE_PREFIXES)]
    extra = [k for k in state_dict if k not in own and not k.startswith(FREE_PREFIXES)]
    if missing or extra:
        parts = [
            f"lacks {', '.join(missing[:5])}" if missing else "",
            f"has {', '.join(extra[:5])} beyond the model" if extra else "",
        ]
        return "the checkpoint " + " and ".join(p for p in parts if p)
    model.load_state_dict({k: v for k, v in state_dict.items() if k in own}, strict=False)
    return None


def reinitialize(net: nn.Module, groups: list[str]) -> None:
    """Draw ``groups`` of ``net`` afresh with the net's own initialisation (``net.reinitialize``).

    Raises:
        ValueError: the net cannot, or a group is not one of its groups.
    """
    if not isinstance(net, Reinitializable):
        raise ValueError(f"{type(net).__name__} has no groups to re-initialise (only DRAWClassifier has)")
    net.reinitialize(groups)
