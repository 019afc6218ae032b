r"""Outliers of a spectrum: eigenvalues above the edge of its bulk.

**Outliers** (:func:`bulk_edge`, :func:`count_outliers`): the bulk edge is read from
the Gaussian-broadened density :math:`\phi_\sigma` (:math:`\sigma` a fraction of the
spectrum's width): the bulk is the interval around the density's highest point on
which :math:`\phi_\sigma` stays at or above ``floor`` times the peak height of one
isolated eigenvalue, :math:`1 / (n \sigma \sqrt{2\pi})`; its right end is the edge.
Eigenvalues above the edge are outliers. For an SLQ density the count is the mean
over probes of the number of Ritz values above the edge (Lanczos resolves isolated
extreme eigenvalues first, so each probe sees every well-separated outlier once).

Example:
    >>> eigs = torch.cat([torch.linspace(0, 1, 200), torch.tensor([5.0, 7.0])])
    >>> count_outliers(eigs)
    2.0
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ..validation import check_int, check_number
from .measure import as_measure, probe_nodes

__all__ = ["broadened_density", "bulk_edge", "count_outliers"]


def broadened_density(spec: Any, grid: Any, sigma: float) -> np.ndarray:
    r""":math:`\phi_\sigma(t) = \sum_j w_j \mathcal N(t; x_j, \sigma^2)` on ``grid``."""
    sigma = check_number("sigma", sigma, low=0.0, low_open=True)
    x, w = as_measure(spec)
    g = np.asarray(grid, dtype=np.float64).reshape(-1)
    out = np.empty_like(g)
    for start in range(0, g.size, 2048):
        d = (g[start:start + 2048, None] - x[None, :]) / sigma
        out[start:start + 2048] = (np.exp(-0.5 * d * d) * w).sum(1)
    return out / (sigma * math.sqrt(2 * math.pi))


def _dim(spec: Any, dim: int | None) -> int:
    if dim is not None:
        return check_int("dim", dim, minimum=1)
    if probe_nodes(spec) is not None or hasattr(spec, "weights") or (isinstance(spec, tuple) and len(spec) == 2):
        raise ValueError("Invalid dim: None - a weighted spectrum (an SLQ density) needs dim, the matrix size")
    x, _ = as_measure(spec)
    return int(x.size)


def bulk_edge(spec: Any, *, dim: int | None = None, sigma: float = 0.01, floor: float = 1.0,
              num: int = 4001) -> float:
    r"""The right edge of the bulk, read from the broadened density.

    Args:
        spec: the spectrum (eigenvalues, or an SLQ density with ``dim``).
        dim: the matrix size :math:`n` (default: the number of eigenvalues given).
        sigma: broadening, as a fraction of the spectrum's width.
        floor: the bulk is where :math:`\phi_\sigma \ge` ``floor`` :math:`/(n\sigma\sqrt{2\pi})`
            (``floor`` isolated eigenvalues' peak height), around the density's maximum.
        num: grid points over the support widened by :math:`4\sigma`.

    Returns:
        The edge :math:`t^*`: eigenvalues :math:`> t^*` are outliers.
    """
    sigma_rel = check_number("sigma", sigma, low=0.0, low_open=True)
    floor = check_number("floor", floor, low=0.0, low_open=True)
    n = _dim(spec, dim)
    x, _ = as_measure(spec)
    lo, hi = float(x.min()), float(x.max())
    w = hi - lo
    if not w > 0:
        return hi
    s = sigma_rel * w
    grid = np.linspace(lo - 4 * s, hi + 4 * s, int(num))
    phi = broadened_density(spec, grid, s)
    level = floor / (n * s * math.sqrt(2 * math.pi))
    peak = int(np.argmax(phi))
    above = phi >= level
    if not above[peak]:  # every point is isolated: no bulk wider than one eigenvalue
        return float(grid[peak])
    below = np.flatnonzero(~above[peak:])
    end = peak + (int(below[0]) - 1 if below.size else len(grid) - 1 - peak)
    return float(grid[end])


def count_outliers(spec: Any, *, edge: float | None = None, dim: int | None = None, sigma: float = 0.01,
                   floor: float = 1.0) -> float:
    """Number of eigenvalues above the bulk edge (:func:`bulk_edge` unless ``edge``
    is given). For an SLQ density: the mean over probes of the Ritz values above it."""
    if edge is None:
        edge = bulk_edge(spec, dim=dim, sigma=sigma, floor=floor)
    probes = probe_nodes(spec)
    if probes:
        return float(np.mean([(p > edge).sum() for p in probes]))
    x, _ = as_measure(spec)
    return float((x > edge).sum())
