r"""Distances between spectra (eigenvalue sets or spectral measures).

Each spectrum is turned into a discrete probability measure
:math:`\mu = \sum_j w_j \delta_{x_j}`: an eigenvalue list gets equal weights
:math:`1/n`; a quadrature (nodes, weights) -- e.g. a :class:`SpectralDensity` -- keeps
its weights, renormalized to sum to one.  Then, with :math:`F_\mu` the cumulative
distribution function:

* ``"wasserstein"`` (default), the earth mover's distance

  .. math:: W_1(\mu, \nu) = \int_{-\infty}^{\infty} |F_\mu(t) - F_\nu(t)| \, dt ,

  exact for discrete measures (a sum over the merged sorted nodes); in units of
  eigenvalues, so divide by :math:`\lambda_{\max} - \lambda_{\min}` for a relative error;
* ``"ks"``, the Kolmogorov-Smirnov distance :math:`\sup_t |F_\mu(t) - F_\nu(t)|`;
* ``"l1"``, the :math:`L^1` distance :math:`\int |\phi_\mu - \phi_\nu|\,dt \in [0, 2]`
  between the Gaussian-broadened densities :math:`\phi_\mu = \mu * \mathcal N(0,
  \sigma^2)`, by the trapezoid rule on ``grid`` (default: 4001 points over the union
  of the supports widened by :math:`6\sigma`; default :math:`\sigma` = 1% of the
  union's width).  Broadening makes it comparable between a discrete quadrature and
  an exact spectrum, which the unbroadened :math:`L^1`/total variation is not.

References:
    C. Villani, *Optimal Transport: Old and New*, Springer 2009 (the 1-D formula).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..curvature.density import gaussian_density
from ..validation import check_choice, check_number
from .measure import as_measure, width

__all__ = ["spectrum_distance", "scaled_wasserstein", "log_magnitudes", "shape_distance"]

_KINDS = ("wasserstein", "ks", "l1")


def _cdf(x: np.ndarray, w: np.ndarray, t: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    cw = np.concatenate([[0.0], np.cumsum(w[order])])
    return cw[np.searchsorted(x[order], t, side="right")]


def spectrum_distance(a: Any, b: Any, *, kind: str = "wasserstein", sigma: float | None = None,
                      grid: Any = None) -> float:
    r"""Distance between two spectra (see the module docs for the definitions).

    Args:
        a, b: eigenvalues (tensor, array, list), objects with ``nodes``/``weights``
            (e.g. :class:`SpectralDensity`), or ``(nodes, weights)`` pairs.
        kind: ``"wasserstein"`` (W1), ``"ks"`` or ``"l1"`` (broadened densities).
        sigma: broadening for ``"l1"``.
        grid: evaluation grid for ``"l1"``.

    Returns:
        The distance as a float.

    Raises:
        ValueError: unknown ``kind``, empty or non-finite spectra, bad weights.
    """
    check_choice("kind", kind, _KINDS)
    xa, wa = as_measure(a)
    xb, wb = as_measure(b)
    if kind in ("wasserstein", "ks"):
        t = np.unique(np.concatenate([xa, xb]))
        diff = np.abs(_cdf(xa, wa, t) - _cdf(xb, wb, t))
        if kind == "ks":
            return float(diff.max())
        return float(np.sum(diff[:-1] * np.diff(t)))
    lo, hi = min(xa.min(), xb.min()), max(xa.max(), xb.max())
    if sigma is None:
        sigma = 0.01 * (hi - lo) if hi > lo else max(1e-3 * abs(hi), 1e-12)
    if grid is None:
        grid = np.linspace(lo - 6 * sigma, hi + 6 * sigma, 4001)
    g = np.asarray(grid.cpu() if isinstance(grid, torch.Tensor) else grid, dtype=np.float64).reshape(-1)
    pa = gaussian_density(torch.from_numpy(xa), torch.from_numpy(wa), g, sigma).numpy()
    pb = gaussian_density(torch.from_numpy(xb), torch.from_numpy(wb), g, sigma).numpy()
    y = np.abs(pa - pb)
    return float(np.sum(0.5 * (y[1:] + y[:-1]) * np.diff(g)))


def scaled_wasserstein(a: Any, b: Any, *, scale: Any = None) -> float:
    r"""The sound measure: :math:`W_1(a, b)` divided by the width of ``scale``
    (default ``b``, the reference - pass the full spectrum).

    Raises:
        ValueError: empty or non-finite spectra, or a reference of zero width.
    """
    ref = b if scale is None else scale
    w = width(ref)
    if not w > 0:
        raise ValueError("Invalid scale: the reference spectrum has zero width (all eigenvalues equal)")
    return spectrum_distance(a, b, kind="wasserstein") / w


def log_magnitudes(spec: Any, *, floor: float = 1e-6) -> tuple[np.ndarray, np.ndarray]:
    r"""A spectrum's *shape*: every eigenvalue (node) mapped to
    :math:`\log_{10} \max(|\lambda| / \max_j |\lambda_j|,\ \text{floor})`, weights kept.

    Each spectrum is normalized by its own top magnitude, so two spectra of different
    scale but the same shape map alike - the comparison of the paper's log-density figures.
    A spectrum of zeros maps to :math:`\log_{10}` ``floor`` entirely.

    Example:
        >>> x, w = log_magnitudes([0.0, 0.001, -0.1, 1.0])
        >>> x.round(6).tolist(), w.tolist()
        ([-6.0, -3.0, -1.0, 0.0], [0.25, 0.25, 0.25, 0.25])
    """
    floor = check_number("floor", floor, low=0.0, low_open=True)
    x, w = as_measure(spec)
    top = float(np.abs(x).max())
    rel = np.abs(x) / top if top > 0 else np.zeros_like(x)
    return np.log10(np.maximum(rel, floor)), w


def shape_distance(a: Any, b: Any, *, floor: float = 1e-6) -> float:
    r"""The shape distance of two spectra: Wasserstein-1 between their
    :func:`log_magnitudes` (in decades; 0 for spectra of the same shape at any scale, at
    most :math:`-\log_{10}` ``floor``).

    Example:
        >>> a = torch.tensor([1e-4, 1e-2, 1.0], dtype=torch.float64)
        >>> round(shape_distance(a, 7.0 * a), 12), round(shape_distance(a, torch.zeros(3)), 6)
        (0.0, 4.0)
    """
    return spectrum_distance(log_magnitudes(a, floor=floor), log_magnitudes(b, floor=floor), kind="wasserstein")
