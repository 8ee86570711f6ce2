"""Independent random streams derived from one seed: per stage, per DDP process, per resume step.

``seed_everything`` seeds every process alike, and a run resumed at step ``k`` would replay the
random numbers of step 0; every stream lit_draw draws from is seeded here instead, from
``(seed, stream, rank, step)``.
"""

from __future__ import annotations

import numpy as np

#: the named streams: data split, fixed validation / test canvases, training canvases, and the
#: global torch generator the models sample glimpses from
STREAMS = {"split": 0, "val": 1, "test": 2, "train": 3, "glimpses": 4}


def stream_seed(seed: int, stream: str, rank: int = 0, step: int = 0) -> int:
    """A 64-bit seed for ``stream`` of process ``rank`` starting at ``step``, independent of the others."""
    return int(np.random.SeedSequence([seed, STREAMS[stream], rank, step]).generate_state(1, dtype=np.uint64)[0])
