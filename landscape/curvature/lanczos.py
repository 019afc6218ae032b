r"""Extreme eigenpairs of a symmetric operator: thick-restart block Lanczos.

:func:`eigenvalues` runs Lanczos with full reorthogonalization and thick restarts
(Wu & Simon 2000; Stathopoulos, Saad & Wu 1998), optionally in blocks of ``b``
vectors (Golub & Underwood 1977).  The basis :math:`Q_j` and the products
:math:`W_j = H Q_j` are both kept, and the projected matrix is the exact
Rayleigh quotient

.. math::

    T_j = Q_j^\top H Q_j ,

filled column block by column block from the first Gram-Schmidt pass (it is
tridiagonal -- block tridiagonal -- until the first restart and an "arrowhead" plus
tridiagonal afterwards; it is diagonalized with ``torch.linalg.eigh``).  With the
next residual block :math:`Q_{+} R_{+}` of the last step, the Lanczos relation
:math:`H Q_j = Q_j T_j + Q_{+} R_{+} E_j^\top` gives for a Ritz pair
:math:`(\theta_i, y_i = Q_j s_i)` the residual

.. math::

    \| H y_i - \theta_i y_i \| = \| R_{+} \, s_i[\text{last block}] \| ,

a free estimate (the classical :math:`|\beta_m s_{mi}|` for ``b = 1``) used to decide
*when* to look; convergence is then confirmed with the true residual
:math:`\| W_j s_i - \theta_i Q_j s_i \|` -- computed, not estimated, and at no extra
HVP because :math:`W_j = H Q_j` is stored.  A pair is converged when

.. math::

    \| H y_i - \theta_i y_i \| \le \tau \max(|\theta_i|,\ \sqrt{\varepsilon}\,\|T_j\|),
    \qquad \tau = \max(\mathrm{tol},\ 100\,\varepsilon),

with :math:`\varepsilon` the machine epsilon of the operator's dtype (so float32
cannot be asked for more than about :math:`10^{-5}`, and eigenvalues below
:math:`\sqrt\varepsilon\|H\|` are judged in absolute terms).  The iteration never
stops because "the estimate stopped changing".  It does stop when the *computed*
residuals stall: at each restart the true residuals of the wanted pairs are computed
(no HVPs), and once they are within the products' rounding range (relative
residual at most :math:`\sqrt\varepsilon`) but above the tolerance, ``_STALL_PATIENCE``
restarts in a row without the worst of them halving end the run -- the rounding
floor of the products (typical of float32 HVPs, whose residuals level off at a few
:math:`10^{-5}`, above :math:`100\,\varepsilon`).  The result then has ``converged=False``,
``stalled=True`` and the residuals it reached, instead of spending ``max_hvps``.

Restart: when the basis reaches ``ncv`` vectors the ``p`` best Ritz vectors
(``p`` about ``(ncv + k) / 2``) and their products are kept -- ``Q <- Q S_p``,
``W <- W S_p``, ``T <- diag(theta_p)`` -- and the residual block continues the
iteration.  An (almost) invariant subspace (residual block of norm
:math:`\le 10\varepsilon\|T\|`) is detected at the next check and the next block is
replaced by random vectors orthogonal to the basis, so the iteration goes on.

Cost: one HVP per basis vector (``b`` per block step); memory :math:`2 (ncv + b) n` numbers.
Outside the products a step costs the three-term step (against the last two blocks) and one
pass over the basis (``c = Q^T w``, then ``w - Q c``, both memory-bound matrix-vector
products on the basis stored as contiguous rows); the Rayleigh block ``Q^T H X`` is the sum
of the two projections. A second pass is made only when the full one cancelled most of ``w``
(the DGKS test, :func:`~landscape.curvature._utils.reorthogonalize`: after a restart, whose
Ritz vectors all couple to the next one; on devices where that test would be a host sync,
always). A thick restart reuses its rotated basis for the true residuals of the stall check,
so a restart costs two passes over ``Q`` and ``W``. Single-vector Lanczos (``block_size=1``,
the default) needs the fewest HVPs; blocks find repeated eigenvalues and amortize per-call
overheads (e.g. the per-batch graph rebuild of a multi-batch :class:`HessianOperator`). On a
CUDA device convergence is checked every ``check_every`` steps (one host sync each); nothing
inside a step synchronizes.

References:
    K. Wu and H. Simon, "Thick-restart Lanczos method for large symmetric
    eigenvalue problems", SIAM J. Matrix Anal. Appl. 22(2), 2000.
    A. Stathopoulos, Y. Saad, K. Wu, "Dynamic thick restarting of the Davidson,
    and the implicitly restarted Arnoldi methods", SIAM J. Sci. Comput. 19(1), 1998.
    G. H. Golub and R. Underwood, "The block Lanczos method for computing
    eigenvalues", Mathematical Software III, 1977.
    B. N. Parlett, *The Symmetric Eigenvalue Problem*, SIAM, 1998.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import torch

from ..validation import check_choice, check_int
from ._utils import OpInfo, apply, gaussian, make_generator, op_info, reorthogonalize, sym

Tensor = torch.Tensor

__all__ = ["eigenvalues", "EigenResult"]

_WHICH = ("largest", "smallest", "magnitude")
_TOL_FLOOR = 100.0  # tolerance never below this many machine epsilons
_BREAKDOWN = 10.0  # residual block below this many eps * ||T|| counts as invariant
_STALL_PATIENCE = 3  # restarts near the rounding floor without halving the best true residual: give up


@dataclass
class EigenResult:
    """Result of :func:`eigenvalues`.

    Attributes:
        values: ``(k,)`` eigenvalue estimates: descending for ``"largest"``,
            ascending for ``"smallest"``, by descending magnitude for ``"magnitude"``.
        vectors: ``(n, k)`` orthonormal Ritz vectors, column ``i`` for ``values[i]`` (a transposed
            view of the ``(k, n)`` rows they are computed as).
        residuals: ``(k,)`` true relative residuals ``||H v - lambda v|| / |lambda|``.
        hvps: operator columns applied by this call.
        converged: every pair met the tolerance (see module docs).
        which: the requested end of the spectrum.
        restarts: number of thick restarts.
        tol: the tolerance actually used (``max(tol, 100 eps)``).
        stalled: stopped early because the true residuals stopped improving above
            the tolerance (the products' rounding floor; see module docs).
    """

    values: Tensor
    vectors: Tensor
    residuals: Tensor
    hvps: int
    converged: bool
    which: str = "largest"
    restarts: int = 0
    tol: float = field(default=0.0)
    stalled: bool = False

    def __repr__(self) -> str:
        vals = ", ".join(f"{v:.6g}" for v in self.values.tolist())
        return (f"EigenResult(values=[{vals}], max_residual={self.residuals.max().item():.2e}, "
                f"hvps={self.hvps}, converged={self.converged}, restarts={self.restarts}"
                + (", stalled=True)" if self.stalled else ")"))


def _order(theta: Tensor, which: str) -> Tensor:
    """Indices of ``theta`` from most to least wanted."""
    if which == "largest":
        return torch.argsort(theta, descending=True)
    if which == "smallest":
        return torch.argsort(theta)
    return torch.argsort(theta.abs(), descending=True)


def _project_out(X: Tensor, Q: Tensor) -> Tensor:
    """Rows of ``X (I - Q^T Q)`` twice, for orthonormal rows ``Q`` (classical Gram-Schmidt, 'twice is enough')."""
    if Q.shape[0] == 0:
        return X
    X = torch.addmm(X, X @ Q.T, Q, alpha=-1)
    return torch.addmm(X, X @ Q.T, Q, alpha=-1)


def _repair_block(R: Tensor, basis: Tensor, gen: torch.Generator, thr: float) -> tuple[Tensor, Tensor]:
    """Orthonormal rows ``Qn`` (b, n), orthogonal to the rows of ``basis``, with ``R ~= C^T Qn``.

    ``R`` holds its ``b`` vectors as rows; ``C`` (b, b) is ``Qn R^T``, the coupling
    of the column form ``R^T = Qn^T C``.  Directions of ``R`` with singular value
    ``<= thr`` are replaced by random vectors orthogonal to everything, so the block
    always has full rank.
    """
    b, n = R.shape
    R = _project_out(R, basis)
    U, s, _ = torch.linalg.svd(R.T, full_matrices=False)
    good = int((s > thr).sum().item())
    Qn = U[:, :good].T
    if good < b:
        Z = gaussian((n, b - good), gen, R.dtype, R.device).T
        Z = _project_out(_project_out(Z, basis), Qn)
        Zq, _ = torch.linalg.qr(Z.T)
        Qn = torch.cat([Qn, Zq.T], dim=0)
    return Qn, Qn @ R.T


#: an operator is taken as symmetric when |u.Hv - v.Hu| <= this x sqrt(eps) x (|Hu| |v| + |Hv| |u|):
#: far above the rounding of products (float32 Hessian products agree with their transposes to
#: about 1e-5), far below the asymmetry of a non-symmetric matrix (order 1)
_SYMMETRY_SLACK = 100.0


def _check_symmetric(asym: Tensor, scale: Tensor, dtype: torch.dtype) -> None:
    """Raise unless ``|asym| <= slack sqrt(eps) scale`` (one host sync)."""
    a, sc = (float(v) for v in torch.stack([asym.abs().max().to(torch.float64), scale.to(torch.float64)]).cpu())
    if a > _SYMMETRY_SLACK * math.sqrt(torch.finfo(dtype).eps) * max(sc, torch.finfo(torch.float64).tiny):
        raise ValueError(f"Invalid op: not symmetric: |u.Av - v.Au| = {a:.3g} against |Au||v| + |Av||u| = {sc:.3g} "
                         "(must be symmetric: eigenvalues() computes eigenpairs of symmetric operators, e.g. a Hessian)")


def _dense_path(info: OpInfo, k: int, which: str, tol_eff: float) -> EigenResult:
    n = info.n
    H = apply(info, torch.eye(n, dtype=info.dtype, device=info.device))
    _check_symmetric(H - H.T, torch.linalg.matrix_norm(H, ord=2) * 2, info.dtype)
    H64 = sym(H.to(torch.float64))
    theta, S = torch.linalg.eigh(H64)
    sel = _order(theta, which)[:k]
    vals, vecs = theta[sel], S[:, sel]
    res_abs = torch.linalg.vector_norm(H64 @ vecs - vecs * vals, dim=0)
    scale = theta.abs().max()
    denom = torch.maximum(vals.abs(), math.sqrt(torch.finfo(info.dtype).eps) * scale)
    converged = bool((res_abs <= tol_eff * denom).all().item())
    return EigenResult(values=vals.to(info.dtype), vectors=vecs.to(info.dtype),
                       residuals=(res_abs / vals.abs().clamp_min(torch.finfo(torch.float64).tiny)).to(info.dtype),
                       hvps=n, converged=converged, which=which, restarts=0, tol=tol_eff)


def eigenvalues(op: Any, k: int = 1, *, which: str = "largest", tol: float = 1e-6, max_hvps: int | None = None,
                seed: int | torch.Generator | None = 0, ncv: int | None = None, block_size: int = 1,
                check_every: int | None = None, v0: Tensor | None = None) -> EigenResult:
    r"""The ``k`` extreme eigenpairs of a symmetric operator by thick-restart Lanczos.

    Args:
        op: anything answering ``op @ V`` for a block ``V`` of shape (n, b) and
            having a square ``shape`` -- a :class:`HessianOperator`, a dense tensor.
        k: number of eigenpairs (``1 <= k <= n``).
        which: ``"largest"`` / ``"smallest"`` (algebraic) or ``"magnitude"``.
        tol: relative residual tolerance (see module docs for the exact criterion).
        max_hvps: HVP budget; when spent the current Ritz pairs are returned with
            ``converged=False``.  Default ``max(1000, 50 k)``.
        seed: seed or generator for the random start block.
        ncv: maximum basis size before a restart; default ``max(20, 2k + 10)``
            (rounded up to a multiple of ``block_size``; memory ``2 ncv n``).
        block_size: vectors per Lanczos step (``op`` applied to ``b`` columns at once).
        check_every: steps between convergence checks (host syncs); default 1 on the
            CPU, 4 elsewhere.  A check is always made before a restart.
        v0: optional start vector (n,) or block (n, b).

    Returns:
        :class:`EigenResult`.  Cost: ``hvps`` operator columns; an operator whose
        dimension is at most ``ncv + b`` is instead formed densely (``n`` columns) and
        diagonalized exactly.

    Raises:
        ValueError: unknown ``which``; ``k`` above the dimension or below 1; bad
            ``tol``, ``max_hvps``, ``ncv``, ``block_size`` or ``v0``; an operator that is
            not symmetric (checked on the first two blocks of products, at no extra cost:
            :math:`|u^\top H v - v^\top H u|` against the products' rounding).

    Example:
        >>> a = torch.diag(torch.arange(1.0, 101.0, dtype=torch.float64))
        >>> res = eigenvalues(a, k=3)
        >>> [round(v) for v in res.values.tolist()], res.converged, bool(res.residuals.max() < 1e-6)
        ([100, 99, 98], True, True)
    """
    info = op_info(op)
    n, dtype, device = info.n, info.dtype, info.device
    check_choice("which", which, _WHICH)
    k = check_int("k", k, minimum=1)
    if k > n:
        raise ValueError(f"k={k} exceeds the operator dimension n={n}")
    b = check_int("block_size", block_size, minimum=1)
    if not (isinstance(tol, (int, float)) and tol > 0 and math.isfinite(tol)):
        raise ValueError(f"tol must be a positive number, got {tol!r}")
    eps = torch.finfo(dtype).eps
    tol_eff = max(float(tol), _TOL_FLOOR * eps)
    if max_hvps is None:
        max_hvps = max(1000, 50 * k)
    max_hvps = check_int("max_hvps", max_hvps, minimum=1)
    if ncv is None:
        ncv = max(20, 2 * k + 10)
    ncv = check_int("ncv", ncv, minimum=1)
    ncv = max(ncv, k + b)
    ncv = b * math.ceil(ncv / b)
    if ncv + b > n:
        ncv = b * ((n - b) // b)
    if ncv < k + b:
        return _dense_path(info, k, which, tol_eff)
    if max_hvps < b * math.ceil(k / b):
        raise ValueError(f"max_hvps={max_hvps} is too small to build {k} Ritz vectors with block_size={b}")
    if check_every is None:
        check_every = 1 if device.type == "cpu" else 4
    check_every = check_int("check_every", check_every, minimum=1)

    gen = make_generator(seed)
    # basis vectors and their products are rows: every step reads and writes contiguous memory
    # (rows are written before they are read: no zero fill)
    Q = torch.empty(ncv + b, n, dtype=dtype, device=device)
    W = torch.empty(ncv, n, dtype=dtype, device=device)
    T = torch.zeros(ncv, ncv, dtype=torch.float64, device=device)
    if v0 is not None:
        if not isinstance(v0, torch.Tensor):
            raise ValueError("v0 must be a tensor")
        X0 = v0[:, None] if v0.ndim == 1 else v0
        if X0.shape != (n, b):
            raise ValueError(f"v0 must have shape ({n},) or ({n}, {b}), got {tuple(v0.shape)}")
        X0 = X0.to(dtype=dtype, device=device)
    else:
        X0 = gaussian((n, b), gen, dtype, device)
    Q[:b], _ = _repair_block(X0.T, Q[:0], gen, 0.0)

    j = 0
    hvps = 0
    restarts = 0
    since_check = 0
    pending: list[tuple[int, Tensor]] = []  # (j after the step, its residual coupling R_+)
    r_last = torch.zeros(b, b, dtype=torch.float64, device=device)
    tiny = torch.finfo(dtype).tiny
    sqrt_eps = math.sqrt(eps)
    best_true = math.inf   # stall check: best max relative true residual at a restart (halvings only) ...
    stuck = 0              # ... and restarts since it was set

    def finish(theta, S, sel):
        S_sel = S[:, sel]
        vals = theta[sel]
        Sd = S_sel.to(dtype)
        Yr = Sd.T @ Q[:j]                                    # (k, n): the Ritz vectors as rows (a GEMM on
        HYr = Sd.T @ W[:j]                                   # the row storage, several times faster than Q^T S)
        res_abs = torch.linalg.vector_norm((HYr - vals.to(dtype)[:, None] * Yr).to(torch.float64), dim=1)
        return vals, Yr.T, res_abs

    while True:
        # ---------------------------------------------------------------- one step
        X = Q[j:j + b]                                       # (b, n): the block as rows
        W[j:j + b] = apply(info, X.T).T
        hvps += b
        WX = W[j:j + b]
        basis = Q[:j + b]
        # Gram-Schmidt: first against the last two blocks (the three-term step, which carries the large
        # coefficients and the cancellation), then one pass against the whole basis, which now removes
        # only rounding-sized components, and a second one only if that pass cancelled too (DGKS)
        lo = max(0, j - b)
        local = Q[lo:j + b]
        h_loc = local @ WX.T
        R = torch.addmm(WX, h_loc.T, local, alpha=-1)
        norms = torch.linalg.vector_norm(R, dim=1)
        h = basis @ R.T
        R = torch.addmm(R, h.T, basis, alpha=-1)
        R = reorthogonalize(R, basis, norms)
        h[lo:j + b] += h_loc                                 # Q^T H X, the exact Rayleigh quotient block
        if j == b and restarts == 0:                         # symmetry probe, from products already made:
            W_prev = W[:b]                                   # Q_0^T (H X) against (H Q_0)^T X
            scale = torch.linalg.matrix_norm(W_prev) + torch.linalg.matrix_norm(WX)
            _check_symmetric(h[:b] - W_prev @ X.T, scale, dtype)
        h64 = h.to(torch.float64)
        T[:j + b, j:j + b] = h64
        T[j:j + b, :j + b] = h64.T
        T[j:j + b, j:j + b] = sym(h64[j:j + b])
        if b == 1:
            beta = torch.linalg.vector_norm(R)
            torch.div(R, beta.clamp_min(tiny), out=Q[j + 1:j + 2])
            Rf = beta.reshape(1, 1)
        else:
            Qc, Rf = torch.linalg.qr(R.T)
            Q[j + b:j + 2 * b] = Qc.T
        j += b
        r_last = Rf.to(torch.float64)
        pending.append((j, Rf))
        since_check += 1

        at_end = j == ncv
        out_of_budget = hvps + b > max_hvps
        if j < k or not (at_end or out_of_budget or since_check >= check_every):
            continue
        since_check = 0

        # ---------------------------------------------------------------- check
        Tj = T[:j, :j]
        theta, S = torch.linalg.eigh(Tj)
        sel = _order(theta, which)[:k]
        bounds = torch.linalg.vector_norm(r_last @ S[j - b:j, sel], dim=0)
        scale = theta.abs().max()
        mins = torch.stack([rf.diagonal().abs().min().to(torch.float64) for _, rf in pending])
        packed = torch.cat([scale.reshape(1), theta[sel].abs(), bounds, mins]).cpu()   # the one sync
        scale_h = float(packed[0])
        abs_sel = packed[1:1 + k]
        bounds_h = packed[1 + k:1 + 2 * k]
        mins_h = packed[1 + 2 * k:]
        thr = _BREAKDOWN * eps * max(scale_h, tiny)

        bad = (mins_h <= thr).nonzero()
        if len(bad):
            # (almost) invariant subspace: roll back to that step, refill the next block
            j_bad, rf_bad = pending[int(bad[0, 0])]
            lost = j - j_bad
            j = j_bad
            Rblk = rf_bad.T @ Q[j:j + b]                     # rows of Q_+ R_+
            Qn, C = _repair_block(Rblk, Q[:j], gen, thr)
            Q[j:j + b] = Qn
            r_last = C.to(torch.float64)
            pending = []
            if lost and (not out_of_budget or j < k):
                continue
            # fall through to use the rolled-back basis
            theta, S = torch.linalg.eigh(T[:j, :j])
            sel = _order(theta, which)[:k]
            bounds_h = torch.linalg.vector_norm(r_last @ S[j - b:j, sel], dim=0).cpu()
            abs_sel = theta[sel].abs().cpu()
            scale_h = float(theta.abs().max())
        pending = []

        denom = torch.clamp(abs_sel, min=sqrt_eps * scale_h)
        fin = None
        if bool((bounds_h <= tol_eff * denom).all()) or out_of_budget:
            fin = vals, Y, res_abs = finish(theta, S, sel)
            res_h = res_abs.cpu()
            converged = bool((res_h <= tol_eff * denom).all())
            if converged or out_of_budget:
                rel = res_abs / vals.abs().clamp_min(torch.finfo(torch.float64).tiny)
                return EigenResult(values=vals.to(dtype), vectors=Y, residuals=rel.to(dtype), hvps=hvps,
                                   converged=converged, which=which, restarts=restarts, tol=tol_eff)

        if j == ncv:
            # ------------------------------------------------------------ thick restart, and the stall check
            # on the true residuals of the wanted pairs: they are the first k of the kept Ritz vectors
            # (``keep`` starts with ``sel``), so the restart's products give them at no extra pass
            p = min(ncv - b, max(k, (ncv + k) // 2))
            p = ncv - b * math.ceil((ncv - p) / b)
            keep = _order(theta, which)[:p]
            Sp = S[:, keep].to(dtype)
            Qp = Sp.T @ Q[:ncv]                              # (p, n): kept Ritz vectors as rows
            Wp = Sp.T @ W[:ncv]                              # and their products
            if fin is None:
                vals = theta[sel]
                res_abs = torch.linalg.vector_norm((Wp[:k] - vals.to(dtype)[:, None] * Qp[:k]).to(torch.float64),
                                                   dim=1)
                Y = None
            else:
                vals, Y, res_abs = fin
            worst = float((res_abs.cpu() / denom).max())
            if worst <= sqrt_eps:                      # near the rounding floor of the products
                if worst <= 0.5 * best_true:
                    best_true, stuck = worst, 0
                else:
                    stuck += 1
                if stuck >= _STALL_PATIENCE:
                    rel = res_abs / vals.abs().clamp_min(torch.finfo(torch.float64).tiny)
                    Y = Qp[:k].T if Y is None else Y
                    return EigenResult(values=vals.to(dtype), vectors=Y, residuals=rel.to(dtype), hvps=hvps,
                                       converged=False, which=which, restarts=restarts, tol=tol_eff, stalled=True)
            Q[:p] = Qp
            W[:p] = Wp
            Q[p:p + b] = Q[ncv:ncv + b].clone()
            T.zero_()
            T[:p, :p] = torch.diag(theta[keep])
            j = p
            restarts += 1
