"""The names of ``python -m lit_draw``'s commands, importing nothing heavy: ``python -m lit_draw``
refuses a missing or unknown command with them before torch, Lightning or W&B is imported.

The CLI owns LightningCLI's four commands. The further commands (``bench``, ``reproduce``, ``view``,
...) are not the CLI's: the program that assembles lit_draw (:mod:`lit_draw.__main__`) registers each
as a :class:`Command` and hands them to :func:`lit_draw.cli.command.main`, so the CLI knows no tool.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from lit_draw.errors import ConfigError

#: Subcommands that evaluate a model and so need a checkpoint (or ``--untrained``).
EVALUATING = ("validate", "test", "predict")
#: LightningCLI's subcommands.
LIGHTNING_COMMANDS = ("fit", *EVALUATING)

#: A command's entry point: takes the arguments after its name, returns what the command returns.
CommandMain = Callable[[list[str]], Any]


@dataclass(frozen=True)
class Command:
    """A command beside LightningCLI's ``fit / validate / test / predict``.

    Args:
        summary: what it does, a few words for ``python -m lit_draw --help`` ("the speed table").
        load: returns the command's ``main(args)``; called only when the command runs, so that
            importing the registry imports none of the tools (``--help`` and a mistyped command stay fast).
    """

    summary: str
    load: Callable[[], CommandMain]


def check_command(argv: list[str], extra: Iterable[str] = ()) -> None:
    """Refuse a command line without a command, or whose first word is no command (an option first,
    ``--help`` or ``--config``, is LightningCLI's to read).

    Args:
        argv: the command line after the program's name.
        extra: the names of the further commands registered beside LightningCLI's.

    Raises:
        ConfigError: naming every command.
    """
    known = [*LIGHTNING_COMMANDS, *extra]
    commands = ", ".join(known)
    if argv and not argv[0].startswith("-") and argv[0] not in known:
        raise ConfigError(f"command must be one of {commands}, got {argv[0]!r} (python -m lit_draw --help)")
    if not argv:  # LightningCLI's own refusal names only its four
        raise ConfigError(f"a command is needed, one of {commands} (python -m lit_draw --help)")
