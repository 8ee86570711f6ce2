"""The libraries' messages that tell a lit_draw user nothing they can act on, left out one by one.

Each is matched by its text and by the module that emits it, so that any other warning, from the
same libraries or from lit_draw, still shows; the rest of the noise a run used to print is fixed
where it starts (the W&B argument below, ``sync_dist`` in :mod:`lit_draw.callbacks.base`, the
monitored key in :class:`lit_draw.cli.resume.NewestLast`):

* Lightning's tip to install ``litlogger`` (an INFO record at every Trainer's start);
* torch's ``FutureWarning`` that Lightning's own pytree helper builds a ``LeafSpec`` (Lightning's
  code, at every fit; nothing in a config changes it);
* pydantic's warnings about the v1-style models of W&B's sweep engine (``sweeps`` 0.3.0), printed
  when the engine is imported;
* W&B's "The anonymous setting has no effect" warning: Lightning's ``WandbLogger`` hands
  ``anonymous=None`` to ``wandb.init``, which warns about any value given;
  :func:`drop_unset_wandb_arguments` removes the argument before the run starts.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported by the sweep command before anything of Lightning
    from lightning.pytorch.loggers import WandbLogger

#: Warnings left out while a command runs: (start of the message as a regex, category, emitting module as a regex).
WARNINGS: tuple[tuple[str, type[Warning], str], ...] = (
    (r"`isinstance\(treespec, LeafSpec\)` is deprecated", FutureWarning, r"lightning\.pytorch\.utilities\._pytree\Z"),
    (r"Support for class-based `config` is deprecated", DeprecationWarning, r"sweeps(\.|\Z)"),
    (r"Valid config keys have changed in V2", UserWarning, r"pydantic\._internal\._config\Z"),
)
#: Log records left out (start of the message), and the loggers that emit them: Lightning's
#: ``rank_zero_info`` logs through one of these two, whichever was imported last.
RECORDS = ("💡 Tip: For seamless cloud logging and experiment tracking, try installing [litlogger]",)
RECORD_LOGGERS = ("lightning.pytorch.utilities.rank_zero", "lightning.fabric.utilities.rank_zero")


class _DropRecords(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not any(message.startswith(start) for start in RECORDS)


@contextlib.contextmanager
def known_noise() -> Iterator[None]:
    """Leave out :data:`WARNINGS` and :data:`RECORDS` inside the block; everything else shows as before."""
    drop = _DropRecords()
    loggers = [logging.getLogger(name) for name in RECORD_LOGGERS]
    for logger in loggers:
        logger.addFilter(drop)
    try:
        with warnings.catch_warnings():
            for message, category, module in WARNINGS:
                warnings.filterwarnings("ignore", message, category, module)
            yield
    finally:
        for logger in loggers:
            logger.removeFilter(drop)


def drop_unset_wandb_arguments(logger: WandbLogger) -> None:
    """Leave out of ``wandb.init``'s arguments the ``anonymous=None`` Lightning's ``WandbLogger`` always
    passes (W&B warns that the setting has no effect whenever it is given); call before the run starts.

    Reads Lightning's private ``WandbLogger._wandb_init`` (the arguments it gives ``wandb.init``):
    Lightning has no public way to leave one out.
    """
    arguments = getattr(logger, "_wandb_init", None)
    if isinstance(arguments, dict) and "anonymous" in arguments and arguments["anonymous"] is None:
        del arguments["anonymous"]
