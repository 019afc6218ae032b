r"""The similarity measure of the authors' public code (sankar2021hessian), reproduced.

**The authors' measure** (:func:`authors_distance`), as their public code computes it:
each spectrum becomes a density *vector* on its own grid (PyHessian's
``density_generate``: ``num_bins`` points from the smallest to the largest node
:math:`\pm` ``overhead``, Gaussians of variance ``sigma_squared`` times the width,
normalized to integrate to one - :func:`density_vector`); the vector is mapped to
:math:`\log(\rho + \varepsilon)` and min-max scaled to :math:`[0, 1]`; then the two
vectors are compared with the 1-D Wasserstein distance *as if their entries were
samples* (``scipy.stats.wasserstein_distance(u, v)``). The grid - where the eigenvalues
are - is dropped on the way, so the measure is blind to location: a spectrum and a
shifted copy of it are at distance 0 (a stretched copy too, as long as both widths
are below 1, where the broadening is a fixed fraction of the grid). It compares
the *histogram of the log-density values*, not where the eigenvalues are.

Used by the hessian chapter beside the sound measure
(:func:`landscape.spectra.scaled_wasserstein`).

Example:
    >>> a = torch.linspace(0, 1, 101)
    >>> round(authors_distance(a + 0.1, a), 6)
    0.0
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ..validation import check_int, check_number
from .distance import spectrum_distance
from .measure import as_measure, probe_nodes

__all__ = ["density_vector", "log_minmax", "authors_distance_vectors", "authors_distance"]


def density_vector(spec: Any, *, num_bins: int = 10000, sigma_squared: float = 1e-5,
                   overhead: float = 0.01) -> tuple[np.ndarray, np.ndarray]:
    r"""PyHessian's ``density_generate``: the broadened density on the spectrum's own grid.

    The grid runs over ``num_bins`` points from :math:`\lambda_{\min} - o` to
    :math:`\lambda_{\max} + o` (``o`` = ``overhead``; for an SLQ density the
    extremes are averaged over probes, as PyHessian does); each node is a Gaussian
    of variance ``sigma_squared * max(1, width)``; the result is normalized so that
    it sums to one times the grid step.

    Returns:
        ``(density, grid)``, two arrays of length ``num_bins``.
    """
    num_bins = check_int("num_bins", num_bins, minimum=2)
    sigma_squared = check_number("sigma_squared", sigma_squared, low=0.0, low_open=True)
    overhead = check_number("overhead", overhead, low=0.0)
    x, w = as_measure(spec)
    probes = probe_nodes(spec)
    if probes:
        hi = float(np.mean([p.max() for p in probes])) + overhead
        lo = float(np.mean([p.min() for p in probes])) - overhead
    else:
        hi, lo = float(x.max()) + overhead, float(x.min()) - overhead
    if not hi > lo:  # a single point and no overhead
        hi, lo = hi + 0.5, lo - 0.5
    grid = np.linspace(lo, hi, int(num_bins))
    var = sigma_squared * max(1.0, hi - lo)
    density = np.zeros_like(grid)
    for start in range(0, grid.size, 2048):
        d = grid[start:start + 2048, None] - x[None, :]
        density[start:start + 2048] = (np.exp(-d * d / (2 * var)) * w).sum(1) / math.sqrt(2 * math.pi * var)
    total = density.sum() * (grid[1] - grid[0])
    if total > 0:
        density = density / total
    return density, grid


def log_minmax(density: Any, *, eps: float = 1e-7) -> np.ndarray:
    r""":math:`\log(\rho + \varepsilon)`, min-max scaled to :math:`[0, 1]` (all zeros when constant)."""
    eps = check_number("eps", eps, low=0.0, low_open=True)
    d = np.asarray(density, dtype=np.float64).reshape(-1)
    if d.size == 0 or not np.all(np.isfinite(d)) or np.any(d < 0):
        raise ValueError("Invalid density: must be a non-empty vector of finite values >= 0")
    v = np.log(d + eps)
    span = v.max() - v.min()
    return (v - v.min()) / span if span > 0 else np.zeros_like(v)


def authors_distance_vectors(da: Any, db: Any, *, eps: float = 1e-7) -> float:
    """The authors' measure on two density vectors (grids ignored): 1-D
    Wasserstein between the entries of ``log_minmax(da)`` and ``log_minmax(db)``
    taken as samples (equal weights), i.e. ``scipy.stats.wasserstein_distance(u, v)``."""
    u, v = log_minmax(da, eps=eps), log_minmax(db, eps=eps)
    return spectrum_distance(u, v, kind="wasserstein")


def authors_distance(a: Any, b: Any, *, eps: float = 1e-7, num_bins: int = 10000, sigma_squared: float = 1e-5,
                     overhead: float = 0.01) -> float:
    """The authors' measure between two spectra: :func:`density_vector` of each (own
    grid), then :func:`authors_distance_vectors`. Blind to where the eigenvalues are."""
    da, _ = density_vector(a, num_bins=num_bins, sigma_squared=sigma_squared, overhead=overhead)
    db, _ = density_vector(b, num_bins=num_bins, sigma_squared=sigma_squared, overhead=overhead)
    return authors_distance_vectors(da, db, eps=eps)
