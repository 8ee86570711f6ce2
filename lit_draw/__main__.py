"""``python -m lit_draw``: see :mod:`lit_draw.cli`."""

from lit_draw.cli import main

if __name__ == "__main__":
    main()
