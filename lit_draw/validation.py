"""One argument check for every lit_draw class, one message shape:
``"<Class>.<field> must be <rule>, got <value>"``.

Plain Python (no torch, no Lightning): models, data, objectives and callbacks all use it.
"""

from __future__ import annotations


def is_int(value: object) -> bool:
    """An ``int`` that is not a ``bool``."""
    return isinstance(value, int) and not isinstance(value, bool)


def require(owner: str, field: str, ok: bool, rule: str, value: object) -> None:
    """Raise ``ValueError("{owner}.{field} must be {rule}, got {value!r}")`` unless ``ok``."""
    if not ok:
        raise ValueError(f"{owner}.{field} must be {rule}, got {value!r}")


def require_positive_ints(owner: str, **values: object) -> None:
    """:func:`require` that every ``field=value`` is a positive int (booleans are not ints here)."""
    for field, value in values.items():
        require(owner, field, is_int(value) and value >= 1, "a positive int", value)


def require_logged_period(field: str, every: int, log_every_n_steps: int) -> None:
    """Raise ``ValueError`` unless a period of ``every`` training steps is a multiple of
    ``trainer.log_every_n_steps``: Lightning writes training values only on its logging steps, so
    values logged at other steps are dropped. ``every`` or ``log_every_n_steps`` 0 (off) passes."""
    if every and log_every_n_steps and every % log_every_n_steps:
        raise ValueError(
            f"{field} ({every}) must be a multiple of trainer.log_every_n_steps ({log_every_n_steps}), "
            "or its values are never logged"
        )
