"""The names of ``python -m lit_draw``'s commands, importing nothing heavy: ``python -m lit_draw``
refuses a missing or unknown command with them before torch, Lightning or W&B is imported."""

from __future__ import annotations

from lit_draw.errors import ConfigError

#: Subcommands that evaluate a model and so need a checkpoint (or ``--untrained``).
EVALUATING = ("validate", "test", "predict")
#: LightningCLI's subcommands.
LIGHTNING_COMMANDS = ("fit", *EVALUATING)
#: Commands beside LightningCLI's ``fit / validate / test / predict``: name -> module with ``main(args)``.
EXTRA_COMMANDS = {
    "bench": "lit_draw.experiments.bench",
    "sweep": "lit_draw.experiments.sweep",
    "reproduce": "lit_draw.experiments.reproduce",
    "figures": "lit_draw.experiments.figures",
    "halting-frontier": "lit_draw.experiments.halting_frontier",
    "plateau": "lit_draw.experiments.plateau",
    "view": "lit_draw.viewer",
}


def check_command(argv: list[str]) -> None:
    """Refuse a command line without a command, or whose first word is no command (an option first,
    ``--help`` or ``--config``, is LightningCLI's to read).

    Raises:
        ConfigError: naming every command.
    """
    commands = ", ".join([*LIGHTNING_COMMANDS, *EXTRA_COMMANDS])
    if argv and not argv[0].startswith("-") and argv[0] not in LIGHTNING_COMMANDS and argv[0] not in EXTRA_COMMANDS:
        raise ConfigError(f"command must be one of {commands}, got {argv[0]!r} (python -m lit_draw --help)")
    if not argv:  # LightningCLI's own refusal names only its four
        raise ConfigError(f"a command is needed, one of {commands} (python -m lit_draw --help)")
