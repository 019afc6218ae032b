r"""How alike are two Hessian spectra? Two measures, and outlier counting.

A *spectrum* here is anything :func:`landscape.curvature.distance.as_measure` takes:
a list/array/tensor of eigenvalues (equal weights), a
:class:`~landscape.curvature.SpectralDensity` (SLQ nodes and weights), or a
``(nodes, weights)`` pair.

**The sound measure** (:func:`scaled_wasserstein`): the Wasserstein-1 distance between
the two eigenvalue distributions, divided by the width
:math:`\lambda_{\max} - \lambda_{\min}` of a reference spectrum (the full Hessian's),

.. math::

    d(\mu_l, \mu) = \frac{W_1(\mu_l, \mu)}{\lambda_{\max}(\mu) - \lambda_{\min}(\mu)},
    \qquad W_1(\mu, \nu) = \int |F_\mu(t) - F_\nu(t)|\,dt .

It is 0 for identical spectra, and a spectrum shifted by :math:`c` is at
:math:`|c| / \text{width}`.

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

**Outliers** (:func:`bulk_edge`, :func:`count_outliers`): the bulk edge is read from
the Gaussian-broadened density :math:`\phi_\sigma` (:math:`\sigma` a fraction of the
spectrum's width): the bulk is the interval around the density's highest point on
which :math:`\phi_\sigma` stays at or above ``floor`` times the peak height of one
isolated eigenvalue, :math:`1 / (n \sigma \sqrt{2\pi})`; its right end is the edge.
Eigenvalues above the edge are outliers. For an SLQ density the count is the mean
over probes of the number of Ritz values above the edge (Lanczos resolves isolated
extreme eigenvalues first, so each probe sees every well-separated outlier once).

Used by the chapter ``book/hessian.ipynb`` (:mod:`landscape.chapters.hessian`).

Example:
    >>> a = torch.linspace(0, 1, 101)
    >>> round(scaled_wasserstein(a + 0.1, a), 6)
    0.1
    >>> round(authors_distance(a + 0.1, a), 6)
    0.0
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from .curvature import spectrum_distance
from .curvature.distance import as_measure

__all__ = [
    "width",
    "scaled_wasserstein",
    "density_vector",
    "log_minmax",
    "authors_distance",
    "authors_distance_vectors",
    "broadened_density",
    "bulk_edge",
    "count_outliers",
]


def _positive(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating, np.integer)) or not value > 0 \
            or not math.isfinite(value):
        raise ValueError(f"Invalid {name}: {value!r} (must be a finite number > 0)")
    return float(value)


def _probes(spec: Any) -> list[np.ndarray] | None:
    """Per-probe Ritz values of an SLQ density, else None (an exact spectrum)."""
    nodes = getattr(spec, "probe_nodes", None)
    if nodes:
        return [np.asarray(torch.as_tensor(p, dtype=torch.float64).cpu()) for p in nodes]
    return None


def width(spec: Any) -> float:
    """:math:`\\lambda_{\\max} - \\lambda_{\\min}` of a spectrum (its nodes)."""
    x, _ = as_measure(spec)
    return float(x.max() - x.min())


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
    if isinstance(num_bins, bool) or not isinstance(num_bins, (int, np.integer)) or num_bins < 2:
        raise ValueError(f"Invalid num_bins: {num_bins!r} (must be an integer >= 2)")
    sigma_squared = _positive("sigma_squared", sigma_squared)
    if not (isinstance(overhead, (int, float)) and overhead >= 0):
        raise ValueError(f"Invalid overhead: {overhead!r} (must be >= 0)")
    x, w = as_measure(spec)
    probes = _probes(spec)
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
    eps = _positive("eps", eps)
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


def broadened_density(spec: Any, grid: Any, sigma: float) -> np.ndarray:
    r""":math:`\phi_\sigma(t) = \sum_j w_j \mathcal N(t; x_j, \sigma^2)` on ``grid``."""
    sigma = _positive("sigma", sigma)
    x, w = as_measure(spec)
    g = np.asarray(grid, dtype=np.float64).reshape(-1)
    out = np.empty_like(g)
    for start in range(0, g.size, 2048):
        d = (g[start:start + 2048, None] - x[None, :]) / sigma
        out[start:start + 2048] = (np.exp(-0.5 * d * d) * w).sum(1)
    return out / (sigma * math.sqrt(2 * math.pi))


def _dim(spec: Any, dim: int | None) -> int:
    if dim is not None:
        if isinstance(dim, bool) or not isinstance(dim, (int, np.integer)) or dim < 1:
            raise ValueError(f"Invalid dim: {dim!r} (must be a positive integer)")
        return int(dim)
    if _probes(spec) is not None or hasattr(spec, "weights") or (isinstance(spec, tuple) and len(spec) == 2):
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
    sigma_rel = _positive("sigma", sigma)
    floor = _positive("floor", floor)
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
    probes = _probes(spec)
    if probes:
        return float(np.mean([(p > edge).sum() for p in probes]))
    x, _ = as_measure(spec)
    return float((x > edge).sum())
