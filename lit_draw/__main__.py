"""``python -m lit_draw``: see :mod:`lit_draw.cli`."""

import sys

from lit_draw.cli import main
from lit_draw.errors import LitDrawError

if __name__ == "__main__":
    try:
        main()
    except LitDrawError as error:
        sys.exit(f"python -m lit_draw: error: {error}")
