"""Argument checks shared by the whole library, with torch's message form.

Every public function checks its inputs at the edge and raises
``ValueError("Invalid <name>: <value> (must ...)")`` - the form of
``torch.optim`` (``Invalid learning rate: -1``), with the rule after the value -
so a user reads which argument was wrong, what it was, and what it must be.
Internals trust their callers.

Example:
    >>> check_int("epochs", 0, minimum=1)
    Traceback (most recent call last):
    ...
    ValueError: Invalid epochs: 0 (must be an integer >= 1)
    >>> check_number("lr", 0.1, low=0.0, low_open=True)
    0.1
    >>> check_choice("kind", "ggn", ("hessian", "ggn"))
    'ggn'
"""

from __future__ import annotations

import math
import numbers
from typing import Any, Iterable, Sequence

import numpy as np
import torch

__all__ = ["invalid", "check_int", "check_optional_int", "check_ints", "check_number", "check_choice", "finite_vector"]


def invalid(name: str, value: Any, must: str) -> ValueError:
    """The error for argument ``name`` holding ``value``: ``Invalid <name>: <value!r> (must <must>)``."""
    return ValueError(f"Invalid {name}: {value!r} (must {must})")


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def check_int(name: str, value: Any, *, minimum: int | None = None, maximum: int | None = None) -> int:
    """``value`` as an ``int``, if it is an integer within ``[minimum, maximum]``."""
    if not _is_int(value) or (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        bounds = " and ".join(b for b in (f">= {minimum}" if minimum is not None else "",
                                           f"<= {maximum}" if maximum is not None else "") if b)
        raise invalid(name, value, "be an integer" + (f" {bounds}" if bounds else ""))
    return int(value)


def check_optional_int(name: str, value: Any, *, minimum: int | None = None) -> int | None:
    """``None``, or :func:`check_int`."""
    if value is None:
        return None
    if not _is_int(value) or (minimum is not None and value < minimum):
        raise invalid(name, value, "be None or an integer" + (f" >= {minimum}" if minimum is not None else ""))
    return int(value)


def check_ints(name: str, values: Iterable[Any], *, minimum: int | None = None, min_len: int = 0) -> list[int]:
    """A list of integers, each ``>= minimum``, at least ``min_len`` of them."""
    try:
        vals = list(values)
    except TypeError:
        raise invalid(name, values, "be a list of integers") from None
    if len(vals) < min_len:
        raise invalid(name, vals, f"have at least {min_len} entr{'y' if min_len == 1 else 'ies'}")
    if not all(_is_int(v) and (minimum is None or v >= minimum) for v in vals):
        raise invalid(name, vals, "hold integers" + (f" >= {minimum}" if minimum is not None else ""))
    return [int(v) for v in vals]


def check_number(name: str, value: Any, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a finite ``float`` within the bounds (``low < value`` when ``low_open``)."""
    ok = isinstance(value, (numbers.Real, np.floating, np.integer)) and not isinstance(value, bool)
    if ok:
        v = float(value)
        ok = math.isfinite(v)
        if ok and low is not None:
            ok = v > low if low_open else v >= low
        if ok and high is not None:
            ok = v < high if high_open else v <= high
    if not ok:
        parts = []
        if low is not None:
            parts.append(f"{'>' if low_open else '>='} {low:g}")
        if high is not None:
            parts.append(f"{'<' if high_open else '<='} {high:g}")
        raise invalid(name, value, "be a finite number" + (f" {' and '.join(parts)}" if parts else ""))
    return float(value)


def check_choice(name: str, value: Any, choices: Sequence[Any]) -> Any:
    """``value`` if it is one of ``choices``."""
    if value not in tuple(choices):
        raise invalid(name, value, f"be one of {', '.join(map(repr, choices))}")
    return value


def finite_vector(x: Any, name: str) -> np.ndarray:
    """A 1-D float64 NumPy copy of ``x`` (tensor, array or list), checked non-empty and finite.

    Raises:
        ValueError: ``Invalid <name>: empty (must ...)`` or ``Invalid <name>: k non-finite value(s) (must ...)``.
    """
    if isinstance(x, torch.Tensor):
        x = x.detach().to(torch.float64).cpu().numpy()
    arr = np.array(x, dtype=np.float64).reshape(-1)
    if arr.size == 0:
        raise ValueError(f"Invalid {name}: empty (must hold at least one value)")
    bad = int((~np.isfinite(arr)).sum())
    if bad:
        raise ValueError(f"Invalid {name}: {bad} non-finite value(s) (must all be finite)")
    return arr
