r"""Wigner's semicircle law, fitted to the bulk of a spectrum, with the GOE
random matrix as the control that must fit.

========================  ==================================================
:func:`semicircle_cdf`    Wigner's semicircle law and its distribution function
:func:`fit_semicircle`    the semicircle closest to the bulk of a spectrum in
                          Kolmogorov-Smirnov distance, and that distance
:func:`ks_distance`       the Kolmogorov-Smirnov distance of a sample to a CDF
:func:`goe`               a GOE random matrix (the control that must fit)
========================  ==================================================

Example:
    >>> fit = fit_semicircle(torch.linalg.eigvalsh(goe(400, seed=0)), trim=0.0)
    >>> round(fit.radius, 1)
    2.0
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import torch

from ..validation import finite_vector

__all__ = ["semicircle_pdf", "semicircle_cdf", "ks_distance", "SemicircleFit", "fit_semicircle", "bulk", "goe",
           "semicircle_quantiles"]



def semicircle_pdf(x: Any, center: float = 0.0, radius: float = 2.0) -> np.ndarray:
    r"""Wigner's semicircle density :math:`\rho(x) = \frac{2}{\pi R^2}\sqrt{R^2 - (x - c)^2}` on :math:`[c - R, c + R]`.

    Example:
        >>> float(semicircle_pdf(0.0, 0.0, 2.0)) == 1 / math.pi
        True
    """
    if not radius > 0:
        raise ValueError(f"Invalid radius: {radius!r} (must be > 0)")
    u = (np.asarray(x, dtype=np.float64) - center) / radius
    return np.where(np.abs(u) < 1, 2.0 / (math.pi * radius) * np.sqrt(np.clip(1 - u * u, 0, None)), 0.0)


def semicircle_cdf(x: Any, center: float = 0.0, radius: float = 2.0) -> np.ndarray:
    r"""The semicircle's distribution function,
    :math:`F(x) = \tfrac12 + \tfrac1\pi\left(u\sqrt{1-u^2} + \arcsin u\right)`,
    :math:`u = \mathrm{clip}((x - c)/R, -1, 1)`.

    Example:
        >>> semicircle_cdf([-3.0, 0.0, 3.0], 0.0, 2.0).tolist()
        [0.0, 0.5, 1.0]
    """
    if not radius > 0:
        raise ValueError(f"Invalid radius: {radius!r} (must be > 0)")
    u = np.clip((np.asarray(x, dtype=np.float64) - center) / radius, -1.0, 1.0)
    return 0.5 + (u * np.sqrt(1 - u * u) + np.arcsin(u)) / math.pi


def ks_distance(sample: Any, cdf: Callable[[np.ndarray], np.ndarray]) -> float:
    r"""Kolmogorov-Smirnov distance :math:`\sup_x |F_m(x) - F(x)|` between the
    empirical distribution :math:`F_m` of ``sample`` and a continuous ``cdf``.

    With the sample sorted, :math:`D = \max_i \max(i/m - F(x_i),\ F(x_i) - (i-1)/m)`
    (exact, ties included).

    Example:
        >>> ks_distance([0.5], lambda x: np.clip(x, 0, 1))   # one point at the median of U(0, 1)
        0.5
    """
    x = np.sort(finite_vector(sample, "sample"))
    m = x.size
    F = np.asarray(cdf(x), dtype=np.float64)
    i = np.arange(1, m + 1)
    return float(max((i / m - F).max(), (F - (i - 1) / m).max()))


def bulk(eigs: Any, trim: float) -> np.ndarray:
    """The sorted eigenvalues without the ``floor(trim * n)`` smallest and the as many largest
    (the outliers at both ends), ``0 <= trim < 0.5``.

    Example:
        >>> bulk([5.0, 1.0, 2.0, 3.0, -9.0], 0.2).tolist()
        [1.0, 2.0, 3.0]
    """
    arr = np.sort(finite_vector(eigs, "eigenvalues"))
    if isinstance(trim, bool) or not isinstance(trim, (int, float)) or not 0 <= trim < 0.5:
        raise ValueError(f"Invalid trim: {trim!r} (must be in [0, 0.5))")
    k = int(math.floor(trim * arr.size))
    out = arr[k: arr.size - k]
    if out.size < 2:
        raise ValueError(f"Invalid trim: {trim!r} leaves {out.size} eigenvalue(s) of {arr.size}")
    return out


@dataclass(frozen=True)
class SemicircleFit:
    """A semicircle fitted to the bulk of a spectrum.

    Attributes:
        center, radius: the fitted law, support ``[center - radius, center + radius]``.
        ks: Kolmogorov-Smirnov distance between the bulk and the fitted law.
        trim: the fraction cut at each end before fitting.
        n_bulk, n: eigenvalues in the bulk and in all.
        lo, hi: the bulk's smallest and largest eigenvalue.
    """

    center: float
    radius: float
    ks: float
    trim: float
    n_bulk: int
    n: int
    lo: float
    hi: float

    def cdf(self, x: Any) -> np.ndarray:
        return semicircle_cdf(x, self.center, self.radius)

    def pdf(self, x: Any) -> np.ndarray:
        return semicircle_pdf(x, self.center, self.radius)


# The semicircle's upper quartile in units of R: F(0.4040 R) = 3/4.
_QUARTILE = 0.40397275


def fit_semicircle(eigs: Any, *, trim: float = 0.01) -> SemicircleFit:
    r"""The semicircle closest to the bulk of ``eigs`` in Kolmogorov-Smirnov distance.

    The bulk is the spectrum without the ``trim`` fraction at each end
    (:func:`bulk`; the outliers a trained network's Hessian has at the top).
    Centre :math:`c` and radius :math:`R` minimize

    .. math::

        D(c, R) = \sup_x \bigl|F_{\text{bulk}}(x) - F_{c,R}(x)\bigr|

    (Nelder-Mead on :math:`(c, \log R)` from three starts: the median with the
    radius whose quartiles match the bulk's, the mean with :math:`R = 2\,\mathrm{sd}`
    - the moment fit, exact for the semicircle - and the bulk's midrange
    with its half-range). The result is deterministic. The fitted law is the full
    semicircle, so for a true semicircle the trimmed ends cost about ``trim`` in
    :math:`D`: compare spectra trimmed alike (the chapter's GOE control). For a
    GOE matrix of size :math:`n` the fit recovers :math:`R = 2\sigma\sqrt n`.

    Args:
        eigs: eigenvalues (tensor, array or list), at least 4 in the bulk.
        trim: fraction cut at each end, in ``[0, 0.5)``.

    Returns:
        :class:`SemicircleFit` (centre, radius, KS distance).

    Raises:
        ValueError: bad eigenvalues or ``trim``, or a bulk of fewer than 4 distinct values.

    Example:
        >>> f = fit_semicircle(torch.linalg.eigvalsh(goe(300, seed=1)), trim=0.0)
        >>> abs(f.radius - 2.0) < 0.1, f.ks < 0.05
        (True, True)
    """
    from scipy.optimize import minimize

    arr = finite_vector(eigs, "eigenvalues")
    b = bulk(arr, trim)
    if np.unique(b).size < 4:
        raise ValueError(f"Invalid eigenvalues: the bulk has {np.unique(b).size} distinct value(s); a semicircle needs at least 4")
    m = b.size
    i = np.arange(1, m + 1)

    def D(z: np.ndarray) -> float:
        c, R = float(z[0]), math.exp(float(z[1]))
        F = semicircle_cdf(b, c, R)
        return float(max((i / m - F).max(), (F - (i - 1) / m).max()))

    q1, med, q3 = np.quantile(b, [0.25, 0.5, 0.75])
    width = float(b[-1] - b[0])
    tiny = max(width, abs(float(b[-1])), 1e-300) * 1e-9
    starts = [
        (float(med), max(float(q3 - q1) / (2 * _QUARTILE), tiny)),
        (float(b.mean()), max(2.0 * float(b.std()), tiny)),
        (float(b[0] + b[-1]) / 2, max(width / 2, tiny)),
    ]
    best = None
    for c0, r0 in starts:
        z0 = np.array([c0, math.log(r0)])
        scale = max(r0, tiny)
        res = minimize(D, z0, method="Nelder-Mead",
                       options={"xatol": 1e-7, "fatol": 1e-9, "maxiter": 2000,
                                "initial_simplex": np.array([z0, z0 + [0.1 * scale, 0.0], z0 + [0.0, 0.1]])})
        cand = (float(res.fun), float(res.x[0]), math.exp(float(res.x[1])))
        if best is None or cand[0] < best[0]:
            best = cand
    ks, c, R = best
    return SemicircleFit(center=c, radius=R, ks=ks, trim=float(trim), n_bulk=m, n=arr.size, lo=float(b[0]), hi=float(b[-1]))


def semicircle_quantiles(n: int, center: float = 0.0, radius: float = 2.0) -> np.ndarray:
    r"""``n`` points spread as Wigner's semicircle: its quantiles at :math:`(i - 	frac12)/n`,
    :math:`i = 1..n` - the spectrum of a GOE matrix of size ``n`` in the limit, without the draw
    (deterministic; any ``n``).

    Example:
        >>> q = semicircle_quantiles(4)
        >>> bool(np.all(np.diff(q) > 0)), round(float(q.sum()), 12), bool(abs(q).max() < 2)
        (True, 0.0, True)
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"Invalid n: {n!r} (must be an integer >= 1)")
    # invert the CDF on [-1, 1] once, on a fine grid, then scale
    u = np.linspace(-1.0, 1.0, 20001)
    F = 0.5 + (u * np.sqrt(1 - u * u) + np.arcsin(u)) / math.pi
    p = (np.arange(1, n + 1) - 0.5) / n
    q = np.interp(p, F, u)
    q = 0.5 * (q - q[::-1])  # exactly antisymmetric, as the law is
    return center + radius * q


def goe(n: int, *, seed: int = 0, sigma: float | None = None, dtype: torch.dtype = torch.float64,
        device: str | torch.device | None = None) -> torch.Tensor:
    r"""A matrix of the Gaussian orthogonal ensemble: :math:`A = \sigma (G + G^\top)/\sqrt2`,
    :math:`G_{ij}` i.i.d. standard normal (drawn on the CPU from a generator seeded with ``seed``).

    Off-diagonal entries have variance :math:`\sigma^2`, diagonal ones :math:`2\sigma^2`;
    the eigenvalues follow the semicircle of radius :math:`2\sigma\sqrt n` as
    :math:`n \to \infty` (Wigner). The default :math:`\sigma = 1/\sqrt n` gives radius 2.

    Args:
        n: the size.
        seed: seed of the draw (the global RNG is not used).
        sigma: entry scale (default ``1 / sqrt(n)``).
        dtype, device: of the result.

    Example:
        >>> A = goe(3, seed=0)
        >>> bool(torch.equal(A, A.T)), tuple(A.shape)
        (True, (3, 3))
    """
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"Invalid n: {n!r} (must be a positive integer)")
    sigma = 1.0 / math.sqrt(n) if sigma is None else float(sigma)
    if not sigma > 0:
        raise ValueError(f"Invalid sigma: {sigma!r} (must be > 0)")
    g = torch.randn(n, n, generator=torch.Generator().manual_seed(int(seed)), dtype=torch.float64)
    A = (g + g.T) * (sigma / math.sqrt(2.0))
    return A.to(dtype=dtype, device=device)
