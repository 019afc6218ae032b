r"""Spectral density by stochastic Lanczos quadrature (SLQ).

The empirical spectral distribution :math:`\mu = \frac1n \sum_i \delta_{\lambda_i}` is
approximated, for a unit probe :math:`v = z/\sqrt n` (:math:`z` Rademacher), by the
Gauss quadrature of the measure :math:`\mu_v = \sum_i (v^\top u_i)^2 \delta_{\lambda_i}`
(:math:`\mathbb E \mu_v = \mu`): ``m`` Lanczos steps from :math:`v` give the
tridiagonal :math:`T_m = S \Theta S^\top`, and

.. math::

    \mu_v \approx \sum_{j=1}^m \tau_j^2 \, \delta_{\theta_j}, \qquad \tau_j = S_{1j},

which integrates polynomials of degree :math:`\le 2m - 1` exactly.  Averaging over
``num_probes`` probes gives nodes :math:`\theta_j^{(l)}` and weights
:math:`\tau_j^{(l)2}/n_v` (summing to 1).  The smooth density is the Gaussian
broadening

.. math::

    \phi_\sigma(t) = \sum_{l,j} w_j^{(l)} \,
        \frac{1}{\sigma\sqrt{2\pi}} e^{-(t-\theta^{(l)}_j)^2 / (2\sigma^2)} .

All probes run simultaneously as one block (``op @ V`` with ``num_probes`` columns
per step, ``probe_batch`` to cap memory), each with full reorthogonalization against
its own basis (Ghorbani et al. 2019 use it; it removes the "ghost" copies of
converged eigenvalues).  A probe whose Krylov space becomes (numerically)
invariant, :math:`\beta_i \le \sqrt\varepsilon \max_{j \le i}(|\alpha_j| + \beta_j)`, stops
there: its quadrature is then exact.  Cost: ``num_probes * num_steps`` HVPs, memory
``probe_batch * num_steps * n`` numbers; one host sync at the end.

References:
    S. Ubaru, J. Chen, Y. Saad, "Fast estimation of tr(f(A)) via stochastic
    Lanczos quadrature", SIAM J. Matrix Anal. Appl. 38(4), 2017.
    B. Ghorbani, S. Krishnan, Y. Xiao, "An investigation into neural net
    optimization via Hessian eigenvalue density", ICML 2019.
    L. Lin, Y. Saad, C. Yang, "Approximating spectral densities of large
    matrices", SIAM Review 58(1), 2016.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.linalg
import torch

from ..validation import check_int
from ._utils import apply, make_generator, op_info, rademacher
from ._utils import reorthogonalize as _second_pass

Tensor = torch.Tensor

__all__ = ["spectral_density", "SpectralDensity", "gaussian_density"]


def gaussian_density(nodes: Tensor, weights: Tensor, grid: Any, sigma: float) -> Tensor:
    r""":math:`\sum_j w_j \mathcal N(t; \theta_j, \sigma^2)` on ``grid`` (float64 tensor)."""
    if not (isinstance(sigma, (int, float)) and sigma > 0):
        raise ValueError(f"sigma must be a positive number, got {sigma!r}")
    t = torch.as_tensor(np.asarray(grid, dtype=np.float64) if not isinstance(grid, torch.Tensor) else grid,
                        dtype=torch.float64).cpu().reshape(-1)
    x = nodes.to(torch.float64).cpu()
    w = weights.to(torch.float64).cpu()
    out = torch.empty_like(t)
    norm = 1.0 / (sigma * math.sqrt(2 * math.pi))
    for i in range(0, t.numel(), 4096):
        d = (t[i:i + 4096, None] - x[None, :]) / sigma
        out[i:i + 4096] = (torch.exp(-0.5 * d * d) * w).sum(1) * norm
    return out


@dataclass
class SpectralDensity:
    """Result of :func:`spectral_density`: a discrete spectral measure.

    Attributes:
        nodes: ``(M,)`` float64 quadrature nodes (Ritz values of all probes).
        weights: ``(M,)`` float64 weights, nonnegative, summing to 1.
        support: ``(min, max)`` of the nodes, estimates of the extreme eigenvalues.
        num_probes, num_steps: the run (``num_steps`` may be capped at ``n``).
        hvps: operator columns applied.
        probe_nodes, probe_weights: per-probe quadratures (each probe's weights sum to 1).
    """

    nodes: Tensor
    weights: Tensor
    support: tuple[float, float]
    num_probes: int
    num_steps: int
    hvps: int
    probe_nodes: list[Tensor] = field(default_factory=list, repr=False)
    probe_weights: list[Tensor] = field(default_factory=list, repr=False)

    def evaluate(self, grid: Any, sigma: float | None = None) -> Any:
        r"""Gaussian-broadened density :math:`\phi_\sigma` on ``grid``.

        Args:
            grid: points (tensor, array or list).
            sigma: broadening width; default ``1%`` of the support width.

        Returns:
            Values at ``grid`` (a numpy array for a numpy/list grid, else a float64
            tensor); integrates to ~1 when the grid covers the support +- 5 sigma.
        """
        if sigma is None:
            lo, hi = self.support
            sigma = max(0.01 * (hi - lo), 1e-12 * max(1.0, abs(hi)))
        out = gaussian_density(self.nodes, self.weights, grid, sigma)
        return out if isinstance(grid, torch.Tensor) else out.numpy()

    def grid(self, num: int = 1000, sigma: float | None = None) -> np.ndarray:
        """An evenly spaced grid over the support widened by 5 sigma."""
        lo, hi = self.support
        if sigma is None:
            sigma = max(0.01 * (hi - lo), 1e-12 * max(1.0, abs(hi)))
        return np.linspace(lo - 5 * sigma, hi + 5 * sigma, num)

    def cdf(self, x: Any) -> np.ndarray:
        """Cumulative distribution of the quadrature measure at ``x``."""
        order = torch.argsort(self.nodes)
        xs = self.nodes[order].numpy()
        cw = np.concatenate([[0.0], np.cumsum(self.weights[order].numpy())])
        return cw[np.searchsorted(xs, np.asarray(x, dtype=np.float64), side="right")]


def spectral_density(op: Any, *, num_probes: int = 10, num_steps: int = 80, seed: int | torch.Generator | None = 0,
                     probe_batch: int | None = None, reorthogonalize: bool = True) -> SpectralDensity:
    r"""Spectral density of a symmetric operator by stochastic Lanczos quadrature.

    Args:
        op: anything answering ``op @ V`` with a square ``shape`` (see :func:`eigenvalues`).
        num_probes: Rademacher probes (the variance of the estimate falls as 1/num_probes).
        num_steps: Lanczos steps per probe (quadrature nodes per probe; capped at n).
        seed: seed or generator of the probes.
        probe_batch: probes run together (default: all); lower it to cap memory at
            ``probe_batch * num_steps * n`` numbers.
        reorthogonalize: full reorthogonalization of each probe's basis (default);
            without it memory is ``3 n probe_batch`` but ghost Ritz values appear.

    Returns:
        :class:`SpectralDensity` (nodes, weights, support, ``evaluate``).
        Cost: ``num_probes * num_steps`` HVPs.

    Raises:
        ValueError: non-positive ``num_probes``/``num_steps``/``probe_batch``.
    """
    info = op_info(op)
    n, dtype, device = info.n, info.dtype, info.device
    num_probes = check_int("num_probes", num_probes, minimum=1)
    num_steps = check_int("num_steps", num_steps, minimum=1)
    probe_batch = num_probes if probe_batch is None else check_int("probe_batch", probe_batch, minimum=1)
    m = min(num_steps, n)
    gen = make_generator(seed)
    Z = rademacher((num_probes, n), gen, dtype, device) / math.sqrt(n)   # rows are unit probes
    tiny = torch.finfo(dtype).tiny
    alphas, betas = [], []
    hvps = 0
    for start in range(0, num_probes, probe_batch):
        q = Z[start:start + probe_batch].clone()          # (p, n)
        p = q.shape[0]
        basis = torch.empty(p, m, n, dtype=dtype, device=device) if reorthogonalize else None
        q_prev = torch.zeros_like(q)
        beta_prev = torch.zeros(p, 1, dtype=dtype, device=device)
        a_list, b_list = [], []
        for i in range(m):
            if basis is not None:
                basis[:, i, :] = q
            w = apply(info, q.T).T                           # (p, n): H q for every probe
            hvps += p
            alpha = (q * w).sum(1, keepdim=True)
            w = w - alpha * q - beta_prev * q_prev
            if basis is not None:
                # the three-term step carries the cancellation; then one full Gram-Schmidt pass, which only
                # removes rounding-sized components, and a second where it cancelled too (DGKS,
                # _utils.reorthogonalize)
                norms = torch.linalg.vector_norm(w, dim=1)
                for r in range(p):
                    B = basis[r, :i + 1]                     # (i+1, n), contiguous rows
                    wr = w[r:r + 1]
                    wr = torch.addmm(wr, wr @ B.T, B, alpha=-1)
                    w[r:r + 1] = _second_pass(wr, B, norms[r:r + 1])
            beta = torch.linalg.vector_norm(w, dim=1, keepdim=True)
            a_list.append(alpha[:, 0])
            b_list.append(beta[:, 0])
            q_prev, q = q, w / beta.clamp_min(tiny)
            beta_prev = beta
        alphas.append(torch.stack(a_list, 1))
        betas.append(torch.stack(b_list, 1))
        del basis
    A = torch.cat(alphas).to(torch.float64).cpu().numpy()   # the one host sync
    Bt = torch.cat(betas).to(torch.float64).cpu().numpy()
    sqrt_eps = math.sqrt(torch.finfo(dtype).eps)
    probe_nodes, probe_weights = [], []
    for l in range(num_probes):
        a, bb = A[l], Bt[l]
        # An (almost) invariant Krylov space ends the quadrature: cut at the first
        # beta_i <= sqrt(eps) * max_{j<=i}(|alpha_j| + beta_j) (later steps would only
        # orthogonalize rounding noise).  The running max keeps garbage after the cut
        # from inflating the threshold.
        scale = np.maximum.accumulate(np.abs(a[:m - 1]) + bb[:m - 1])
        small = np.nonzero(bb[:m - 1] <= sqrt_eps * np.maximum(scale, 1e-300))[0]
        L = int(small[0]) + 1 if small.size else m
        if L == 1:
            theta, S = a[:1].copy(), np.ones((1, 1))
        else:
            theta, S = scipy.linalg.eigh_tridiagonal(a[:L], bb[:L - 1])
        w = S[0] ** 2
        probe_nodes.append(torch.from_numpy(theta.copy()))
        probe_weights.append(torch.from_numpy(w / w.sum()))
    nodes = torch.cat(probe_nodes)
    weights = torch.cat(probe_weights) / num_probes
    weights = weights / weights.sum()
    support = (float(nodes.min()), float(nodes.max()))
    return SpectralDensity(nodes=nodes, weights=weights, support=support, num_probes=num_probes, num_steps=m,
                           hvps=hvps, probe_nodes=probe_nodes, probe_weights=probe_weights)
