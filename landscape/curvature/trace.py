r"""Stochastic trace estimation: Hutchinson and Hutch++.

Hutchinson (1989): for probes :math:`z` with independent Rademacher (:math:`\pm 1`)
entries, :math:`\mathbb E[z^\top H z] = \operatorname{tr} H`, so

.. math::

    \widehat{\operatorname{tr}}_{\mathrm{H}} = \frac1m \sum_{i=1}^m z_i^\top H z_i,
    \qquad \mathrm{stderr} = \frac{s}{\sqrt m},

with :math:`s` the sample standard deviation of the :math:`z_i^\top H z_i`
(variance of one sample: :math:`2(\|H\|_F^2 - \sum_i H_{ii}^2)`).  Cost: ``m`` HVPs.

Hutch++ (Meyer, Musco, Musco & Woodruff 2021) spends the budget ``m`` in three
thirds: :math:`S` (:math:`s = \lfloor m/3 \rfloor` Rademacher columns) gives the
basis :math:`Q = \operatorname{orth}(H S)`; the top part is computed exactly and only
the deflated remainder is estimated by Hutchinson with :math:`g = m - 2s` probes
:math:`G`:

.. math::

    \widehat{\operatorname{tr}}_{++} = \operatorname{tr}(Q^\top H Q)
        + \frac1g \sum_{i=1}^g g_i^\top (I - QQ^\top) H (I - QQ^\top) g_i .

Its ``stderr`` is that of the Hutchinson part, :math:`s_{\text{res}} / \sqrt g`, with
:math:`s_{\text{res}}` the sample standard deviation of the deflated quadratic forms
(the low-rank part has no sampling error given :math:`Q`).  For spectra with a few
large eigenvalues (deep-net Hessians) the variance drops from
:math:`O(\|H\|_F^2/m)` to :math:`O(\|H - H_s\|_F^2 / m)`.

Probes are drawn from a CPU generator seeded by ``seed``, one row of ``n`` signs per
probe, so a seed gives the same probes whatever the device or ``block_size``.

References:
    M. F. Hutchinson, "A stochastic estimator of the trace of the influence matrix
    for Laplacian smoothing splines", Comm. Statist. Simul. Comput. 18(3), 1989.
    R. A. Meyer, C. Musco, C. Musco, D. P. Woodruff, "Hutch++: Optimal stochastic
    trace estimation", SOSA 2021.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch

from ..validation import check_choice, check_int
from ._utils import OpInfo, apply, make_generator, op_info, rademacher

Tensor = torch.Tensor

__all__ = ["trace", "TraceResult"]

_METHODS = ("hutch++", "hutchinson")


@dataclass
class TraceResult:
    """Result of :func:`trace`.

    Attributes:
        value: the trace estimate.
        stderr: its standard error (Hutchinson part only for Hutch++).
        hvps: operator columns applied.
        method: ``"hutch++"`` or ``"hutchinson"``.
        samples: ``(g,)`` the Hutchinson quadratic forms (deflated for Hutch++).
        lowrank: ``tr(Q^T H Q)`` for Hutch++ (0 for Hutchinson).
    """

    value: float
    stderr: float
    hvps: int
    method: str
    samples: Tensor
    lowrank: float = 0.0

    def __float__(self) -> float:
        return self.value

    def __repr__(self) -> str:
        return (f"TraceResult(value={self.value:.6g}, stderr={self.stderr:.3g}, hvps={self.hvps}, "
                f"method={self.method!r})")


def draw_probes(n: int, m: int, gen: torch.Generator, dtype: torch.dtype, device: torch.device) -> Tensor:
    """``(n, m)`` Rademacher probes, one generator row of ``n`` signs per probe."""
    return rademacher((m, n), gen, dtype, device).T


def _apply_blocks(info: OpInfo, X: Tensor, block_size: int) -> Tensor:
    """``op @ X`` in blocks of ``block_size`` columns, written into one column-major result
    (no concatenation; column-major is what LAPACK's QR and the operator's column reads want)."""
    out = torch.empty(X.shape[1], X.shape[0], dtype=info.dtype, device=info.device).T
    for i in range(0, X.shape[1], block_size):
        out[:, i:i + block_size] = apply(info, X[:, i:i + block_size])
    return out


def _quadratic_forms(X: Tensor, HX: Tensor) -> Tensor:
    """``x_i^T (H x_i)`` per column, accumulated in float64 (no float64 copies of the blocks)."""
    return (X * HX).sum(0, dtype=torch.float64)


def estimate_from_probes(info: OpInfo, S: Tensor, G: Tensor, block_size: int = 32) -> tuple[Tensor, Tensor, int]:
    r"""The two parts of a Hutch++ estimate with given probes (Hutchinson if ``S`` has no columns).

    With :math:`Q` an orthonormal basis of :math:`\operatorname{range}(HS)` (Householder QR) and
    :math:`P = I - QQ^\top`, the estimate is
    :math:`\operatorname{tr}(Q^\top HQ) + \frac1g \sum_i g_i^\top P H P g_i`.

    Returns:
        ``(lowrank, samples, hvps)``: :math:`\operatorname{tr}(Q^\top HQ)` (0-dim tensor), the
        deflated quadratic forms :math:`g_i^\top P H P g_i` (``(g,)`` tensor), both float64,
        and the HVPs spent (``2 S.shape[1] + G.shape[1]``, or less when ``S`` is wider than ``n``).
    """
    hvps = G.shape[1]
    if S.shape[1] > 0:
        HS = _apply_blocks(info, S, block_size)
        Qb, _ = torch.linalg.qr(HS)
        HQ = _apply_blocks(info, Qb, block_size)
        hvps += S.shape[1] + Qb.shape[1]
        lowrank = _quadratic_forms(Qb, HQ).sum()
        Gt = G.T                                             # rows: P g_i = g_i - Q (Q^T g_i), one fused pass
        G = torch.addmm(Gt, Gt @ Qb, Qb.T, alpha=-1).T       # column-major again
    else:
        lowrank = torch.zeros((), dtype=torch.float64, device=G.device)
    samples = [_quadratic_forms(G[:, i:i + block_size], apply(info, G[:, i:i + block_size]))
               for i in range(0, G.shape[1], block_size)]
    samples_t = torch.cat(samples) if samples else torch.zeros(0, dtype=torch.float64, device=G.device)
    return lowrank, samples_t, hvps


def split_budget(num_matvecs: int, method: str) -> tuple[int, int]:
    """``(s, g)``: columns of S (used twice) and of G for a budget of ``num_matvecs`` HVPs."""
    if method == "hutchinson":
        return 0, num_matvecs
    s = num_matvecs // 3
    return s, num_matvecs - 2 * s


def summarize(lowrank: Tensor, samples: Tensor) -> tuple[float, float]:
    """``(value, stderr)`` from the parts (one host sync)."""
    g = samples.numel()
    mean = samples.mean() if g else torch.zeros((), dtype=torch.float64, device=samples.device)
    std = samples.std(unbiased=True) if g > 1 else torch.full((), float("nan"), dtype=torch.float64,
                                                              device=samples.device)
    vals = torch.stack([lowrank.to(mean.device) + mean, std / math.sqrt(max(g, 1))]).cpu()
    return float(vals[0]), float(vals[1])


def trace(op: Any, *, num_matvecs: int = 99, method: str = "hutch++", seed: int | torch.Generator | None = 0,
          block_size: int = 32) -> TraceResult:
    r"""Estimate :math:`\operatorname{tr}(H)` with ``num_matvecs`` HVPs.

    Args:
        op: anything answering ``op @ V`` with a square ``shape`` (see :func:`eigenvalues`).
        num_matvecs: HVP budget (at least 3 for Hutch++, 1 for Hutchinson; a standard
            error needs at least 2 Hutchinson samples, i.e. 6 resp. 2 HVPs).
        method: ``"hutch++"`` or ``"hutchinson"``.
        seed: seed or generator of the Rademacher probes.
        block_size: probe columns per ``op @ V`` call (memory vs. call overhead).

    Returns:
        :class:`TraceResult` with ``value``, ``stderr`` and ``hvps``.

    Raises:
        ValueError: unknown ``method``, too small ``num_matvecs``.
    """
    check_choice("method", method, _METHODS)
    info = op_info(op)
    num_matvecs = check_int("num_matvecs", num_matvecs, minimum=3 if method == "hutch++" else 1)
    block_size = check_int("block_size", block_size, minimum=1)
    gen = make_generator(seed)
    s, g = split_budget(num_matvecs, method)
    S = draw_probes(info.n, s, gen, info.dtype, info.device)
    G = draw_probes(info.n, g, gen, info.dtype, info.device)
    lowrank, samples, hvps = estimate_from_probes(info, S, G, block_size)
    value, stderr = summarize(lowrank, samples)
    return TraceResult(value=value, stderr=stderr, hvps=hvps, method=method, samples=samples.cpu(),
                       lowrank=float(lowrank))
