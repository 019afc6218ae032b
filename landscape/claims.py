"""Claims and their verdicts, computed from a measured value and a rule
declared before the run (``../shared/papers.md``, "Decision rules").

A verdict is one of ``reproduced``, ``not reproduced``, ``inconclusive``.
It is never typed by hand: :func:`decide` computes it from the measured
value, the comparison and the threshold; :func:`beyond_noise` decides
whether a difference between two groups of seeds exceeds the noise (the
difference of means exceeds 2 standard errors of that difference, with at
least 3 seeds a side). When a rule asks for "beyond noise" and the
difference is not, the verdict is ``inconclusive``.

Example:
    >>> decide("0.1", "accuracy is high", 0.93, ">=", 0.9).verdict
    'reproduced'
    >>> beyond_noise([0.90, 0.91, 0.92], [0.80, 0.81, 0.82]).beyond
    True
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

__all__ = ["VERDICTS", "Claim", "Difference", "decide", "beyond_noise", "compare"]

VERDICTS = ("reproduced", "not reproduced", "inconclusive")
_OPS = ("<=", ">=", "<", ">", "in")


def compare(value: float, op: str, threshold: Any) -> bool:
    """``value op threshold``; for ``"in"`` the threshold is an inclusive ``[low, high]``."""
    if op not in _OPS:
        raise ValueError(f"Invalid op: {op!r} (choose from {', '.join(_OPS)})")
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    if op == "in":
        lo, hi = threshold
        return lo <= value <= hi
    return {"<=": value <= threshold, ">=": value >= threshold, "<": value < threshold, ">": value > threshold}[op]


@dataclass(frozen=True)
class Difference:
    """Difference of means ``mean(a) - mean(b)`` with its standard error."""

    diff: float
    stderr: float
    n_a: int
    n_b: int
    min_seeds: int = 3

    @property
    def enough_seeds(self) -> bool:
        return self.n_a >= self.min_seeds and self.n_b >= self.min_seeds

    @property
    def beyond(self) -> bool:
        """True when there are enough seeds and ``|diff| > 2 stderr``."""
        return self.enough_seeds and abs(self.diff) > 2 * self.stderr

    def __str__(self) -> str:
        return f"{self.diff:+.4g} +- {self.stderr:.2g} (n={self.n_a} vs {self.n_b})"


def beyond_noise(a: Sequence[float], b: Sequence[float], *, min_seeds: int = 3) -> Difference:
    """Difference of means of two groups of per-seed results, with the
    standard error :math:`\\sqrt{s_a^2/n_a + s_b^2/n_b}` (sample variances)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if a.size == 0 or b.size == 0:
        raise ValueError("beyond_noise needs at least one value in each group")
    var = lambda x: x.var(ddof=1) / x.size if x.size > 1 else math.inf
    return Difference(float(a.mean() - b.mean()), float(math.sqrt(var(a) + var(b))), a.size, b.size, min_seeds)


@dataclass
class Claim:
    """A decided claim: what was measured, against what, and the verdict."""

    id: str
    statement: str
    value: Any
    op: str
    threshold: Any
    verdict: str
    detail: str = ""
    extra: dict = field(default_factory=dict)

    @property
    def rule(self) -> str:
        t = f"[{self.threshold[0]:.4g}, {self.threshold[1]:.4g}]" if self.op == "in" else f"{self.threshold:.4g}"
        return f"{self.op} {t}"


def decide(
    id: str,
    statement: str,
    value: float,
    op: str,
    threshold: Any,
    *,
    noise: Difference | None = None,
    detail: str = "",
) -> Claim:
    """Decide a claim: ``reproduced`` when ``value op threshold`` holds.

    With ``noise`` (a :class:`Difference` whose sign the claim is about), the
    comparison must also be beyond noise: when it is not (too few seeds, or
    ``|diff| <= 2 stderr``) the verdict is ``inconclusive``. A non-finite
    value is ``inconclusive`` (the experiment did not give a number).
    """
    if not isinstance(value, (int, float, np.floating, np.integer)) or isinstance(value, bool):
        raise TypeError(f"claim {id}: the measured value must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        verdict = "inconclusive"
        detail = detail or "the measurement is not finite"
    elif noise is not None and not noise.beyond:
        verdict = "inconclusive"
        why = "too few seeds" if not noise.enough_seeds else "difference within 2 standard errors"
        detail = f"{detail}; " if detail else ""
        detail += f"{why}: {noise}"
    else:
        verdict = "reproduced" if compare(value, op, threshold) else "not reproduced"
        if noise is not None:
            detail = (f"{detail}; " if detail else "") + f"difference {noise}"
    return Claim(id, statement, value, op, threshold, verdict, detail)
