"""The ordinary mistakes ``python -m lit_draw`` reports in one line, without a traceback."""


class LitDrawError(Exception):
    """A bad input (a config value, a file, a folder) named in the message; exit status 1."""


class ConfigError(LitDrawError, ValueError):
    """A config value, file or command-line argument that lit_draw rejects."""


class ProcessLost(LitDrawError):
    """A process of a multi-process (DDP) run stopped, so the others cannot go on; exit status 1."""
