"""``python -m lit_draw`` and the ``lit-draw`` command: see :mod:`lit_draw.cli`."""

import os
import sys

from lit_draw.errors import LitDrawError


def run() -> None:
    """Run :func:`lit_draw.cli.main` on ``sys.argv``; an ordinary mistake is one line on stderr and exit status 1.
    A missing or unknown command is refused before torch, Lightning or W&B is imported."""
    try:
        from lit_draw.cli.names import check_command

        check_command(sys.argv[1:])
        from lit_draw.cli.command import main

        main()
    except LitDrawError as error:
        sys.exit(f"python -m lit_draw: error: {error}")
    except BrokenPipeError:  # the reader left early (`... --list | head`): stop quietly, as `ls | head` does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit's flush
        sys.exit(1)


if __name__ == "__main__":
    run()
