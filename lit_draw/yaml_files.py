"""Reading a YAML file named on the command line, with a one-line error for a bad one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from lit_draw.errors import ConfigError


def load_yaml(path: Path, flag: str) -> Any:
    """``yaml.safe_load`` of the file at ``path``.

    Raises:
        ConfigError: ``"{flag} {path}: not valid YAML at line L, column C (problem)"``, or that it
            is not a text file.
    """
    try:
        return yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        where = getattr(error, "problem_mark", None)
        line = f" at line {where.line + 1}, column {where.column + 1}" if where is not None else ""
        raise ConfigError(
            f"{flag} {path}: not valid YAML{line} ({getattr(error, 'problem', None) or error})"
        ) from error
    except UnicodeDecodeError as error:
        raise ConfigError(f"{flag} {path}: not a text file, so not YAML") from error
