"""``python -m lit_draw``: see :mod:`lit_draw.cli`."""

import sys

from lit_draw.cli import ConfigError, main

if __name__ == "__main__":
    try:
        main()
    except ConfigError as error:
        sys.exit(f"python -m lit_draw: error: {error}")
