"""Independent random streams derived from one seed: per stage, per DDP process, per training batch.

``seed_everything`` seeds every process alike, and a run resumed at step ``k`` would replay the
random numbers of step 0; every stream lit_draw draws from is seeded here instead, from
``(seed, stream, rank, position)``. Training reseeds its streams at every batch, from the batch's
position in the run (:class:`lit_draw.data.datamodule.CanvasMNIST`'s canvases and order,
:class:`lit_draw.module.AttentionClassifier`'s glimpse samples), so that what a batch draws does
not depend on how the run got there: a resumed run draws what an unbroken one does.
"""

from __future__ import annotations

import numpy as np
import torch

#: the named streams: data split, fixed validation / test canvases, training canvases, the global
#: torch generator the models sample glimpses from, and the order of the training digits
STREAMS = {"split": 0, "val": 1, "test": 2, "train": 3, "glimpses": 4, "order": 5, "placed": 6}


def stream_seed(seed: int, stream: str, rank: int = 0, *position: int) -> int:
    """A 64-bit seed for ``stream`` of process ``rank`` at ``position`` (one or more ints, ``0`` when
    none are given), independent of the others."""
    entropy = [seed, STREAMS[stream], rank, *(position or (0,))]
    return int(np.random.SeedSequence(entropy).generate_state(1, dtype=np.uint64)[0])


def seed_device(seed: int, device: torch.device) -> None:
    """Seed the default generators the models sample from on ``device``: the CPU's, and the
    device's own when it is an accelerator. What ``torch.manual_seed`` does for the devices in use,
    at about 2 us instead of 200 (it seeds every device type torch knows), once per training batch."""
    torch.default_generator.manual_seed(seed)
    if device.type != "cpu":
        torch.get_device_module(device.type).manual_seed(seed)  # the current device's, Lightning's
