"""Chapter parameters: declared once with their types, ranges and the rules
between them, validated before any compute, and handed on as a frozen object.

Each chapter package declares a :class:`Schema` (``landscape/chapters/<name>/schema.py``);
the notebook's parameters cell holds the default values (the cpu profile);
``profiles/<profile>.yaml`` and ``-p NAME VALUE`` override them. The runner
validates the merged values - each parameter, then every cross-parameter
:class:`Rule` - *before any kernel starts*, and the notebook validates them
again in its first cell, so a bad value fails at once with a message naming
the parameter(s), whichever way the chapter is run.

:meth:`Schema.validate` returns a frozen :class:`Params` object: ``p.epochs``,
lists as tuples, mappings read-only. Functions take the object, or the few
fields they need.

Example:
    >>> s = Schema(epochs=Param(int, "training epochs", low=1),
    ...            warmup=Param(int, "warm-up epochs", low=0),
    ...            rules=[Rule(("warmup", "epochs"), lambda p: p.warmup < p.epochs, "must be below epochs")])
    >>> s.validate({"epochs": 5, "warmup": 1}).epochs
    5
    >>> s.validate({"epochs": 0, "warmup": 0})
    Traceback (most recent call last):
    ...
    landscape.experiment.params.ParameterError: parameter 'epochs': 0 is below the minimum 1 (training epochs)
    >>> s.validate({"epochs": 2, "warmup": 3})
    Traceback (most recent call last):
    ...
    landscape.experiment.params.ParameterError: parameters 'warmup', 'epochs': warmup 3, epochs 2 (must be below epochs)
"""

from __future__ import annotations

from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, Iterable, Mapping, Sequence

__all__ = ["Param", "Rule", "Schema", "Params", "ParameterError", "freeze", "thaw"]


class ParameterError(ValueError):
    """A chapter parameter that is unknown, missing, mistyped, out of range, or breaks a rule."""


@dataclass(frozen=True)
class Param:
    """One parameter: its type, what it means, and what values are allowed.

    Args:
        type: ``int``, ``float``, ``str``, ``bool``, ``list`` or ``dict``.
        help: one line saying what it is (shown in errors).
        low, high: inclusive bounds for numbers (and for list items).
        choices: allowed values (for list items too).
        item: the type of list items.
        nullable: whether ``None`` is allowed.
        min_len: the minimum length of a list.
        unique: a list may not hold the same value twice (seeds: a repeated seed
            is not another replicate).
    """

    type: type
    help: str
    low: float | None = None
    high: float | None = None
    choices: tuple | None = None
    item: type | None = None
    nullable: bool = False
    min_len: int = 0
    unique: bool = False

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
            if self.unique:
                seen = [v for i, v in enumerate(value) if v in list(value)[:i]]
                if seen:
                    raise ParameterError(f"parameter {name!r}: {list(value)!r} lists {seen[0]!r} twice ({self.help})")
            if self.item is None:
                return list(value)
            return [self._scalar(f"{name}[{i}]", v, self.item) for i, v in enumerate(value)]
        if self.type is dict:
            if not isinstance(value, Mapping):
                raise ParameterError(f"parameter {name!r}: expected a mapping, got {type(value).__name__} {value!r} ({self.help})")
            return dict(value)
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


@dataclass(frozen=True)
class Rule:
    """A rule across parameters, checked after each parameter's own checks.

    Args:
        names: the parameters it relates (all are named in its error).
        holds: ``holds(params) -> bool``, or ``-> str | None`` to say what is
            wrong in words (a string is a failure, ``None``/``True`` a pass).
        must: what must be true, in words (ends the error message).
    """

    names: tuple[str, ...]
    holds: Callable[["Params"], Any]
    must: str

    def check(self, params: "Params") -> None:
        out = self.holds(params)
        if out is True or out is None:
            return
        shown = ", ".join(f"{n} {_show(getattr(params, n))}" for n in self.names)
        what = f"{out}; " if isinstance(out, str) else ""
        raise ParameterError(f"parameters {', '.join(map(repr, self.names))}: {what}{shown} (must {self.must.removeprefix('must ')})"
                             if len(self.names) > 1 else
                             f"parameter {self.names[0]!r}: {what}{shown} (must {self.must.removeprefix('must ')})")


def _show(value: Any) -> str:
    return repr(thaw(value))


def freeze(value: Any) -> Any:
    """Lists become tuples and mappings read-only views, recursively."""
    if isinstance(value, (list, tuple)):
        return tuple(freeze(v) for v in value)
    if isinstance(value, Mapping):
        return MappingProxyType({k: freeze(v) for k, v in value.items()})
    return value


def thaw(value: Any) -> Any:
    """The inverse of :func:`freeze`: plain lists and dicts (for YAML, JSON and papermill)."""
    if isinstance(value, tuple):
        return [thaw(v) for v in value]
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    return value


class Params:
    """A chapter's validated parameters: frozen, read by attribute (``p.epochs``).

    Made by :meth:`Schema.validate`. ``p.as_dict()`` gives plain values;
    ``p.replace(epochs=3)`` a new, re-validated object.
    """

    __slots__ = ("_schema", "_values")

    def __init__(self, schema: "Schema", values: Mapping[str, Any]) -> None:
        object.__setattr__(self, "_schema", schema)
        object.__setattr__(self, "_values", {k: freeze(v) for k, v in values.items()})

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"no parameter {name!r} (parameters: {', '.join(self._values)})") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"parameters are frozen: use p.replace({name}=...)")

    def __eq__(self, other: Any) -> bool:
        return isinstance(other, Params) and self._values == other._values

    def __hash__(self) -> int:
        return hash(tuple(sorted(self._values)))

    def __repr__(self) -> str:
        return "Params(" + ", ".join(f"{k}={v!r}" for k, v in self._values.items()) + ")"

    def __dir__(self) -> list[str]:
        return [*self._values, "as_dict", "replace", "names"]

    @property
    def names(self) -> list[str]:
        return list(self._values)

    def as_dict(self) -> dict[str, Any]:
        """Plain values: lists and dicts, as in a parameters cell."""
        return {k: thaw(v) for k, v in self._values.items()}

    def replace(self, **changes: Any) -> "Params":
        """A copy with ``changes``, validated by the same schema."""
        self._schema.check_names(changes)
        return self._schema.validate({**self.as_dict(), **changes}, allow_extra=False)


class Schema:
    """The parameters of one chapter, by name, and the rules between them."""

    def __init__(self, *, rules: Sequence[Rule] = (), **params: Param) -> None:
        self.params = dict(params)
        self.rules = list(rules)
        for rule in self.rules:
            self.check_names(rule.names, where=" in a rule")

    @property
    def names(self) -> list[str]:
        return list(self.params)

    def check_names(self, names: Iterable[str], *, where: str = "") -> None:
        """Raise :class:`ParameterError` for any name that is not a parameter."""
        unknown = [n for n in names if n not in self.params]
        if unknown:
            raise ParameterError(
                f"unknown parameter{'s' if len(unknown) > 1 else ''} {', '.join(map(repr, unknown))}{where} "
                f"(known: {', '.join(self.params)})"
            )

    def validate(self, values: Mapping[str, Any], *, allow_extra: bool = True) -> Params:
        """Check every declared parameter in ``values`` (e.g. a notebook's
        ``globals()``, which holds much else: extra names are ignored unless
        ``allow_extra=False``), then every rule. Returns the frozen :class:`Params`."""
        if not allow_extra:
            self.check_names(values)
        missing = [n for n in self.params if n not in values]
        if missing:
            raise ParameterError(f"missing parameter{'s' if len(missing) > 1 else ''}: {', '.join(missing)}")
        params = Params(self, {n: p.check(n, values[n]) for n, p in self.params.items()})
        for rule in self.rules:
            rule.check(params)
        return params

    def describe(self) -> str:
        """One line per parameter: name, type, range, meaning; then the rules."""
        lines = []
        for n, p in self.params.items():
            rng = ""
            if p.choices:
                rng = f" in {{{', '.join(map(str, p.choices))}}}"
            elif p.low is not None or p.high is not None:
                rng = f" in [{'' if p.low is None else p.low}, {'' if p.high is None else p.high}]"
            lines.append(f"{n}: {p.type.__name__}{rng} - {p.help}")
        lines += [f"rule ({', '.join(r.names)}): must {r.must.removeprefix('must ')}" for r in self.rules]
        return "\n".join(lines)
