"""``python -m lit_draw`` and the ``lit-draw`` command: the program that assembles lit_draw.

The CLI (:mod:`lit_draw.cli`) runs LightningCLI's ``fit / validate / test / predict`` and knows no
tool; the further commands are registered here, in :data:`COMMANDS`, each with a loader that
imports its module only when the command runs (``python -m lit_draw --help`` and a mistyped command
import none of them: see ``benchmarks/startup.py``).
"""

from __future__ import annotations

import os
import sys
from typing import Any

from lit_draw.cli.names import Command, CommandMain, check_command
from lit_draw.errors import LitDrawError


def _bench() -> CommandMain:
    from lit_draw.experiments.bench import main

    return main


def _reproduce() -> CommandMain:
    from lit_draw.experiments.reproduce import main

    return main


def _figures() -> CommandMain:
    from lit_draw.experiments.figures import main

    return main


def _halting_frontier() -> CommandMain:
    from lit_draw.experiments.halting_frontier import main

    return main


def _plateau() -> CommandMain:
    from lit_draw.experiments.plateau import main

    return main


def _sweep() -> CommandMain:
    from lit_draw.experiments.sweep import main

    return main


def _weightings() -> CommandMain:
    from lit_draw.experiments.weightings import main

    return main


def _view() -> CommandMain:
    from lit_draw.viewer import main

    return main


#: The commands beside LightningCLI's, in the order ``--help`` lists them: name -> :class:`Command`.
COMMANDS: dict[str, Command] = {
    "bench": Command("speed table", _bench),
    "sweep": Command("run a W&B sweep file locally", _sweep),
    "reproduce": Command("the published results over seeds", _reproduce),
    "figures": Command("the study's and the weightings' figures from their runs", _figures),
    "halting-frontier": Command("the learned-halting figure", _halting_frontier),
    "plateau": Command("when the study's probes leave chance", _plateau),
    "weightings": Command("a weighting sweep's runs tested, as a table and a figure", _weightings),
    "view": Command("the attention viewer page", _view),
}


def main(args: list[str] | None = None) -> Any:
    """Run one command of ``python -m lit_draw``, ``args`` as on the command line (``None`` reads
    ``sys.argv``): :func:`lit_draw.cli.command.main` with the commands of :data:`COMMANDS`."""
    from lit_draw.cli.command import main as cli_main

    return cli_main(args, COMMANDS)


def run() -> None:
    """Run :func:`main` on ``sys.argv``; an ordinary mistake is one line on stderr and exit status 1.
    A missing or unknown command is refused before torch, Lightning or W&B is imported."""
    try:
        check_command(sys.argv[1:], COMMANDS)
        main()
    except LitDrawError as error:
        sys.exit(f"python -m lit_draw: error: {error}")
    except BrokenPipeError:  # the reader left early (`... --list | head`): stop quietly, as `ls | head` does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        sys.exit(1)


if __name__ == "__main__":
    run()
