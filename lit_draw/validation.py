"""One argument check for every lit_draw class, one message shape:
``"<Class>.<field> must be <rule>, got <value>"``; and the annotations that state the same rules.

A field whose rule is only a type or a range is annotated with it: a ``Literal`` of its allowed
values (defined once, beside the code that reads the field; :func:`one_of` words the list for the
message) or one of the restricted number types below. The CLI's parser (jsonargparse) checks the
annotation and ``--help`` shows it (``type: PositiveInt``, ``{relu,lstm}``). Annotations check
nothing for a plain Python caller, so the constructors keep their hand checks, with the one-line
message above; :func:`conforms` tests a value against the same type the field is annotated with.
Rules that relate two fields (``read_n <= canvas_size``) are hand checks only.

Plain Python (no torch, no Lightning): models, data, objectives and callbacks all use it.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from numbers import Real

from jsonargparse import typing as _jsonargparse


def _plain_values(restricted: type) -> type:
    """``restricted``, a jsonargparse restricted number type, under its own name, but parsed to a
    plain ``int`` / ``float``.

    jsonargparse gives a constructor an instance of the restricted type for every value it parsed
    (and a plain number for a default); those instances ``yaml.safe_dump`` cannot write and
    ``torch.load(weights_only=True)`` refuses to unpickle, so they must not reach a module.
    """
    base = int if issubclass(restricted, int) else float
    plain = type(restricted.__name__, (restricted,), {"__module__": __name__, "__doc__": restricted.__doc__})
    plain.__qualname__ = restricted.__name__
    _jsonargparse.register_type(plain, serializer=base, deserializer=lambda value: base(plain(value)))
    return plain


def restricted(name: str, base: type, *restrictions: tuple[str, float]) -> type:
    """A restricted number type for an annotation: ``base`` (``int`` or ``float``) with each
    ``(comparison, bound)`` of ``restrictions`` (``(">=", 1.0)``), shown in ``--help`` as ``name``."""
    return _plain_values(_jsonargparse.restricted_number_type(name, base, list(restrictions)))


PositiveInt = _plain_values(_jsonargparse.PositiveInt)
NonNegativeInt = _plain_values(_jsonargparse.NonNegativeInt)
PositiveFloat = _plain_values(_jsonargparse.PositiveFloat)
NonNegativeFloat = _plain_values(_jsonargparse.NonNegativeFloat)
OpenUnitInterval = _plain_values(_jsonargparse.OpenUnitInterval)
#: ``(0, 1]``
LeftOpenUnitInterval = restricted("LeftOpenUnitInterval", float, (">", 0.0), ("<=", 1.0))
IntAtLeast2 = restricted("IntAtLeast2", int, (">=", 2))
FloatAtLeast1 = restricted("FloatAtLeast1", float, (">=", 1.0))


def is_int(value: object) -> bool:
    """An ``int`` that is not a ``bool``."""
    return isinstance(value, int) and not isinstance(value, bool)


def conforms(kind: type, value: object, finite: bool = False) -> bool:
    """Whether ``value`` is a number of ``kind``, a restricted number type of this module: an ``int``
    for an int type, any real number for a float type (never a ``bool``), within its restriction
    (and not infinite, with ``finite``)."""
    if not (is_int(value) if issubclass(kind, int) else isinstance(value, Real) and not isinstance(value, bool)):
        return False
    if finite and not math.isfinite(value):
        return False
    try:
        kind(value)
    except ValueError:
        return False
    return True


def one_of(choices: Iterable[str]) -> str:
    """``"one of a, b, c"``: the rule of a ``Literal`` field (``choices``: its ``typing.get_args``)."""
    return f"one of {', '.join(choices)}"


def require(owner: str, field: str, ok: bool, rule: str, value: object) -> None:
    """Raise ``ValueError("{owner}.{field} must be {rule}, got {value!r}")`` unless ``ok``."""
    if not ok:
        raise ValueError(f"{owner}.{field} must be {rule}, got {value!r}")


def require_positive_ints(owner: str, **values: object) -> None:
    """:func:`require` that every ``field=value`` is a positive int (booleans are not ints here)."""
    for field, value in values.items():
        require(owner, field, conforms(PositiveInt, value), "a positive int", value)


def require_logged_period(field: str, every: int, log_every_n_steps: int) -> None:
    """Raise ``ValueError`` unless a period of ``every`` training steps is a multiple of
    ``trainer.log_every_n_steps``: Lightning writes training values only on its logging steps, so
    values logged at other steps are dropped. ``every`` or ``log_every_n_steps`` 0 (off) passes."""
    if every and log_every_n_steps and every % log_every_n_steps:
        raise ValueError(
            f"{field} ({every}) must be a multiple of trainer.log_every_n_steps ({log_every_n_steps}), "
            "or its values are never logged"
        )
