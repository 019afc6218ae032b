r"""How degenerate a spectrum is: fractions of negative, near-zero and positive
eigenvalues at a tolerance (absolute, or relative to :math:`\lambda_{\max}`),
for eigenvalue lists and for weighted measures (an SLQ quadrature).

The saddles chapter (``book/saddles.ipynb``, sankar2017saddles) reads every
exact Hessian spectrum through :func:`spectrum_summary`.

Example:
    >>> f = fractions([-1.0, -1e-5, 0.0, 2e-5, 0.5, 1.0], 1e-3)
    >>> f.n_negative, f.n_zero, f.n_positive
    (1, 3, 2)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from ..validation import check_number, finite_vector

__all__ = ["Fractions", "fractions", "fraction_table", "weighted_fractions", "spectrum_summary"]


@dataclass(frozen=True)
class Fractions:
    """How a spectrum splits at one tolerance.

    An eigenvalue counts as *near zero* when :math:`|\\lambda| \\le t`, as
    *negative* when :math:`\\lambda < -t` and as *positive* when
    :math:`\\lambda > t`, with :math:`t` the ``threshold`` (``tol`` itself, or
    ``tol * scale`` for a relative tolerance).

    Attributes:
        tol: the tolerance as given.
        relative: whether it was relative to ``scale``.
        scale: :math:`\\lambda_{\\max}` for a relative tolerance (1 otherwise).
        threshold: the absolute cut :math:`t`.
        n_negative, n_zero, n_positive, n: counts.
    """

    tol: float
    relative: bool
    scale: float
    threshold: float
    n_negative: int
    n_zero: int
    n_positive: int
    n: int

    @property
    def negative(self) -> float:
        return self.n_negative / self.n

    @property
    def zero(self) -> float:
        return self.n_zero / self.n

    @property
    def positive(self) -> float:
        return self.n_positive / self.n

    def as_dict(self) -> dict[str, float]:
        return {"tol": self.tol, "relative": self.relative, "threshold": self.threshold, "negative": self.negative,
                "zero": self.zero, "positive": self.positive, "n_negative": self.n_negative, "n_zero": self.n_zero,
                "n_positive": self.n_positive, "n": self.n}


def _scale(arr: np.ndarray) -> float:
    """:math:`\\lambda_{\\max}`; when no eigenvalue is positive, the largest magnitude (so a threshold stays >= 0)."""
    top = float(arr.max())
    return top if top > 0 else float(np.abs(arr).max())


def fractions(eigs: Any, tol: float, *, relative: bool = True) -> Fractions:
    r"""Fractions of negative, near-zero and positive eigenvalues at tolerance ``tol``.

    With ``relative=True`` (default) the cut is :math:`t = \mathrm{tol}\cdot\lambda_{\max}`
    (the largest eigenvalue; the largest :math:`|\lambda|` if none is positive),
    which makes the reading independent of the loss's scale; with
    ``relative=False`` it is :math:`t = \mathrm{tol}`.

    Args:
        eigs: eigenvalues (tensor, array or list).
        tol: the tolerance, ``>= 0``.
        relative: whether ``tol`` is relative to :math:`\lambda_{\max}`.

    Returns:
        :class:`Fractions`.

    Raises:
        ValueError: empty or non-finite eigenvalues, or a negative/non-finite ``tol``.

    Example:
        >>> f = fractions([-2.0, -0.001, 0.0, 10.0], 1e-3)   # t = 1e-3 * 10 = 0.01
        >>> (f.negative, f.zero, f.positive)
        (0.25, 0.5, 0.25)
        >>> fractions([-2.0, -0.001, 0.0, 10.0], 1e-3, relative=False).n_negative
        1
    """
    arr = finite_vector(eigs, "eigenvalues")
    tol = check_number("tol", tol, low=0.0)
    scale = _scale(arr) if relative else 1.0
    t = tol * scale
    n_neg = int((arr < -t).sum())
    n_pos = int((arr > t).sum())
    return Fractions(tol, bool(relative), scale, t, n_neg, arr.size - n_neg - n_pos, n_pos, arr.size)


def fraction_table(eigs: Any, rel_tols: Sequence[float] = (), abs_tols: Sequence[float] = ()) -> list[dict[str, float]]:
    """:func:`fractions` at each relative and each absolute tolerance: one dict per tolerance
    (``Fractions.as_dict()``), relative ones first.

    Example:
        >>> [round(r["zero"], 2) for r in fraction_table([-1.0, 0.0, 1e-4, 1.0], [1e-3], [1e-6])]
        [0.5, 0.25]
    """
    arr = finite_vector(eigs, "eigenvalues")
    return [fractions(arr, t, relative=True).as_dict() for t in rel_tols] + [fractions(arr, t, relative=False).as_dict() for t in abs_tols]


def weighted_fractions(nodes: Any, weights: Any, threshold: float) -> dict[str, float]:
    r"""Mass of a discrete spectral measure :math:`\sum_j w_j \delta_{x_j}` below
    :math:`-t`, within :math:`[-t, t]` and above :math:`t` (``threshold`` :math:`= t`,
    absolute; the weights are normalized to sum to 1).

    For an SLQ quadrature (``SpectralDensity.nodes`` / ``.weights``) this estimates
    the fractions :func:`fractions` gives for the exact eigenvalues; the
    estimate is only as fine as the quadrature nodes near zero.

    Example:
        >>> weighted_fractions([-1.0, 0.0, 2.0], [0.25, 0.5, 0.25], 0.1)
        {'negative': 0.25, 'zero': 0.5, 'positive': 0.25}
    """
    x = finite_vector(nodes, "nodes")
    w = finite_vector(weights, "weights")
    if w.shape != x.shape or np.any(w < 0) or not w.sum() > 0:
        raise ValueError(f"Invalid weights: need {x.size} nonnegative weights with a positive sum")
    t = check_number("threshold", threshold, low=0.0)
    w = w / w.sum()
    neg, pos = float(w[x < -t].sum()), float(w[x > t].sum())
    return {"negative": neg, "zero": max(0.0, 1.0 - neg - pos), "positive": pos}


def spectrum_summary(eigs: Any, *, zero_tol: float, neg_tol: float) -> dict[str, float]:
    r"""The numbers the saddles chapter reports for one spectrum.

    ``lambda_min``, ``lambda_max``, ``zero`` (fraction with
    :math:`|\lambda| \le` ``zero_tol`` :math:`\lambda_{\max}`), ``negative`` and
    ``positive`` at that tolerance, ``n_below`` (count below
    :math:`-`\ ``neg_tol`` :math:`\lambda_{\max}`), ``neg_ratio``
    (:math:`|\lambda_{\min}|/\lambda_{\max}`) and ``n``.

    Example:
        >>> s = spectrum_summary([-0.01, 0.0, 0.0, 1.0], zero_tol=1e-3, neg_tol=1e-4)
        >>> s["zero"], s["n_below"], s["neg_ratio"]
        (0.5, 1, 0.01)
    """
    arr = finite_vector(eigs, "eigenvalues")
    f = fractions(arr, zero_tol)
    neg = fractions(arr, neg_tol)
    lmin, lmax = float(arr.min()), float(arr.max())
    return {"lambda_min": lmin, "lambda_max": lmax, "zero": f.zero, "negative": f.negative, "positive": f.positive,
            "n_below": neg.n_negative, "neg_ratio": abs(min(lmin, 0.0)) / f.scale if f.scale > 0 else math.nan,
            "n": arr.size}
