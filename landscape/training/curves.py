r"""Reading a training curve: when it first reaches a target, and a trailing mean.

One definition of "time to target" serves every chapter: iterations until a
smoothed mini-batch loss falls to a target (ADINE), wall time until a test
accuracy rises to one (DANTE).

Example:
    >>> first_reach([0.1, 0.5, 0.9], 0.7, times=[0.0, 2.0, 4.0], interpolate=True)
    (3.0, True)
    >>> first_reach([3.0, 2.0, 1.0], 1.5, direction="below")
    (3.0, True)
    >>> first_reach([3.0, 2.0], 1.5, direction="below")
    (2.0, False)
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np

from ..validation import check_choice, check_int

__all__ = ["first_reach", "trailing_mean"]


def first_reach(values: Sequence[Any], target: float, *, times: Sequence[float] | None = None,
                direction: str = "above", interpolate: bool = False) -> tuple[float, bool]:
    r"""The first time the curve ``values`` reaches ``target``.

    ``values[i]`` is observed at ``times[i]`` (default :math:`i + 1`: 1-based
    iteration counts). The curve *reaches* the target at the first :math:`i`
    with :math:`v_i \ge` ``target`` (``direction="above"``) or :math:`v_i \le`
    ``target`` (``"below"``); non-finite and ``None`` values never do. With
    ``interpolate``, the time is interpolated linearly between :math:`i - 1` and
    :math:`i` at the crossing.

    Returns:
        ``(time, True)`` when reached; else ``(times[-1], False)``: the whole
        curve's duration, a lower bound (a censored observation).
    """
    check_choice("direction", direction, ("above", "below"))
    v = np.array([math.nan if x is None else float(x) for x in values], dtype=float)
    if v.size == 0:
        raise ValueError("Invalid values: empty (must hold at least one point)")
    t = np.arange(1, v.size + 1, dtype=float) if times is None else np.asarray(times, dtype=float)
    if t.shape != v.shape:
        raise ValueError(f"Invalid times: {t.size} points for {v.size} values (must have one per value)")
    with np.errstate(invalid="ignore"):
        hit = np.flatnonzero(np.isfinite(v) & ((v >= target) if direction == "above" else (v <= target)))
    if not hit.size:
        return float(t[-1]), False
    i = int(hit[0])
    if not interpolate or i == 0:
        return float(t[i]), True
    prev, cur = v[i - 1], v[i]
    moved = (cur > prev) if direction == "above" else (cur < prev)
    frac = (target - prev) / (cur - prev) if moved and math.isfinite(prev) else 1.0
    return float(t[i - 1] + frac * (t[i] - t[i - 1])), True


def trailing_mean(values: Sequence[float], window: int) -> np.ndarray:
    """Trailing mean over ``window`` points (over the first ``i + 1`` at point ``i < window``).

    Example:
        >>> trailing_mean([4.0, 2.0, 6.0], 2).tolist()
        [4.0, 3.0, 4.0]
    """
    window = check_int("window", window, minimum=1)
    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return x
    c = np.concatenate([[0.0], np.cumsum(x)])
    i = np.arange(1, x.size + 1)
    lo = np.maximum(0, i - window)
    return (c[i] - c[lo]) / (i - lo)
