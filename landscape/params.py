"""Chapter parameters: declared once with their types and ranges, validated
before any compute.

Each chapter module in :mod:`landscape.chapters` declares a :class:`Schema`;
the notebook's parameters cell holds the default values (the cpu profile);
``profiles/<profile>.yaml`` and ``-p NAME VALUE`` override them. The runner
validates the merged values before executing anything, and the notebook
validates them again in its first cell, so a bad value fails at once with a
message naming the parameter, whichever way the chapter is run.

Example:
    >>> s = Schema(epochs=Param(int, "training epochs", low=1))
    >>> s.validate({"epochs": 0})
    Traceback (most recent call last):
    ...
    landscape.params.ParameterError: parameter 'epochs': 0 is below the minimum 1 (training epochs)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Mapping

__all__ = ["Param", "Schema", "ParameterError"]


class ParameterError(ValueError):
    """A chapter parameter that is unknown, missing, mistyped or out of range."""


@dataclass(frozen=True)
class Param:
    """One parameter: its type, what it means, and what values are allowed.

    Args:
        type: ``int``, ``float``, ``str``, ``bool`` or ``list``.
        help: one line saying what it is (shown in errors).
        low, high: inclusive bounds for numbers (and for list items).
        choices: allowed values (for list items too).
        item: the type of list items.
        nullable: whether ``None`` is allowed.
        min_len: the minimum length of a list.
    """

    type: type
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple | None = None
    item: type | None = None
    nullable: bool = False
    min_len: int = 0

    def check(self, name: str, value: Any) -> Any:
        """Return ``value`` (an int is accepted for a float and converted) or raise :class:`ParameterError`."""
        if value is None:
            if self.nullable:
                return None
            raise ParameterError(f"parameter {name!r}: None is not allowed ({self.help})")
        if self.type is list:
            if not isinstance(value, (list, tuple)):
                raise ParameterError(f"parameter {name!r}: expected a list, got {type(value).__name__} {value!r} ({self.help})")
            if len(value) < self.min_len:
                raise ParameterError(f"parameter {name!r}: needs at least {self.min_len} entries, got {list(value)!r} ({self.help})")
            if self.item is None:
                return list(value)
            return [self._scalar(f"{name}[{i}]", v, self.item) for i, v in enumerate(value)]
        return self._scalar(name, value, self.type)

    def _scalar(self, name: str, value: Any, typ: type) -> Any:
        if typ is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if typ in (int, float) and isinstance(value, bool) or not isinstance(value, typ):
            raise ParameterError(f"parameter {name!r}: expected {typ.__name__}, got {type(value).__name__} {value!r} ({self.help})")
        if self.choices is not None and value not in self.choices:
            raise ParameterError(f"parameter {name!r}: {value!r} is not one of {', '.join(map(repr, self.choices))} ({self.help})")
        if typ in (int, float):
            if value != value:  # NaN
                raise ParameterError(f"parameter {name!r}: NaN is not allowed ({self.help})")
            if self.low is not None and value < self.low:
                raise ParameterError(f"parameter {name!r}: {value!r} is below the minimum {self.low!r} ({self.help})")
            if self.high is not None and value > self.high:
                raise ParameterError(f"parameter {name!r}: {value!r} is above the maximum {self.high!r} ({self.help})")
        return value


class Schema:
    """The parameters of one chapter, by name."""

    def __init__(self, **params: Param) -> None:
        self.params = dict(params)

    @property
    def names(self) -> list[str]:
        return list(self.params)

    def check_names(self, names: Any, *, where: str = "") -> None:
        """Raise :class:`ParameterError` for any name that is not a parameter."""
        unknown = [n for n in names if n not in self.params]
        if unknown:
            raise ParameterError(
                f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}{where} "
                f"(known: {', '.join(self.params)})"
            )

    def validate(self, values: Mapping[str, Any], *, allow_extra: bool = True) -> dict[str, Any]:
        """Check every declared parameter in ``values`` (e.g. a notebook's
        ``globals()``, which holds much else: extra names are ignored unless
        ``allow_extra=False``). Returns the validated values as a dict."""
        if not allow_extra:
            self.check_names(values)
        missing = [n for n in self.params if n not in values]
        if missing:
            raise ParameterError(f"missing parameter{'s' if len(missing) > 1 else ''}: {', '.join(missing)}")
        return {n: p.check(n, values[n]) for n, p in self.params.items()}

    def describe(self) -> str:
        """One line per parameter: name, type, range, meaning."""
        lines = []
        for n, p in self.params.items():
            rng = ""
            if p.choices:
                rng = f" in {{{', '.join(map(str, p.choices))}}}"
            elif p.low is not None or p.high is not None:
                rng = f" in [{'' if p.low is None else p.low}, {'' if p.high is None else p.high}]"
            lines.append(f"{n}: {p.type.__name__}{rng} - {p.help}")
        return "\n".join(lines)
