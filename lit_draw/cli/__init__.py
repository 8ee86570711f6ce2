"""The command line: ``python -m lit_draw`` (also ``lit-draw``) and what it adds around the research core.

* :mod:`~lit_draw.cli.command`: LightningCLI with lit_draw's defaults (``fit / validate / test /
  predict``) and the dispatch to the further commands a program registers (:mod:`lit_draw.__main__`
  registers ``bench``, ``reproduce``, ``sweep``, ...; the CLI knows none of them);
* :mod:`~lit_draw.cli.names`: the command names, importing nothing heavy;
* :mod:`~lit_draw.cli.checks`: the start-up checks that refuse a request in one line before anything runs;
* :mod:`~lit_draw.cli.resume`: run folders, the W&B run id in checkpoints, atomic checkpoint writes,
  a checkpoint on SIGTERM / SIGUSR1;
* :mod:`~lit_draw.cli.predictions`: the file ``predict`` writes;
* :mod:`~lit_draw.cli.metrics_csv`: every logged scalar again as CSV beside the W&B run, and its reader.
* :mod:`~lit_draw.cli.progress`: the progress bar on a terminal, a line every few steps elsewhere, and
  the block a run ends with (where its checkpoints, ``metrics.csv`` and pictures went);
* :mod:`~lit_draw.cli.quiet`: the libraries' messages a user cannot act on, left out one by one.

The research core (:mod:`lit_draw.module`, :mod:`lit_draw.models`, :mod:`lit_draw.objectives`, ...)
imports nothing from here.
"""

from __future__ import annotations

from typing import Any

from lit_draw.errors import ConfigError

__all__ = ["ConfigError", "LitDrawCLI", "check_args", "main", "resolved_config", "trainer_defaults"]

#: Imported from :mod:`lit_draw.cli.command` (torch, Lightning, W&B) when first used, so that a
#: command that needs none of them (a refusal of the command name) answers at once.
_FROM_COMMAND = ("LitDrawCLI", "check_args", "main", "resolved_config", "trainer_defaults")


def __getattr__(name: str) -> Any:
    if name in _FROM_COMMAND:
        from lit_draw.cli import command

        return getattr(command, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
