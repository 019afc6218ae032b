"""Adapters that run the peer libraries on a (model, loss, batch) and count their HVPs.

Peers (``requirements-bench.txt``): PyHessian 0.1, curvlinops-for-pytorch 3.0.1,
hessian-eigenthings 1.0.0a5.  Every function here returns plain numbers (values,
HVPs, seconds), so the benchmark and the toolkit chapter can tabulate them.

How HVPs are counted:

* PyHessian: calls of ``pyhessian.utils.hessian_vector_product`` (one
  ``torch.autograd.grad`` through the kept gradient graph each), patched in the
  module that uses it for the duration of a call;
* hessian-eigenthings: calls of the operator's ``matvec`` (its own
  ``HessianOperator`` rebuilds the graph at every call), through a counting
  ``LambdaOperator``;
* curvlinops / ARPACK: columns passed to the SciPy ``LinearOperator``'s
  ``matvec``/``matmat``;
* ``landscape.curvature``: ``op.hvps``.

Randomness: PyHessian and curvlinops draw their random vectors from torch's global
RNG; they are seeded inside :func:`torch.random.fork_rng`, so the caller's global
state is left alone.
"""

from __future__ import annotations

import contextlib
import importlib
import sys
import time
from typing import Any, Callable

import numpy as np
import torch

__all__ = ["available", "versions", "pyhessian_top", "pyhessian_trace", "pyhessian_hvp", "pyhessian_density",
           "eigenthings_operator", "eigenthings_wrap", "eigenthings_lanczos", "eigenthings_power",
           "eigenthings_hutchpp", "eigenthings_slq", "curvlinops_operator", "curvlinops_hutchpp", "arpack_top",
           "scipy_from_torch"]

_DISTS = {"pyhessian": "PyHessian", "curvlinops": "curvlinops-for-pytorch", "hessian_eigenthings": "hessian-eigenthings"}


def available() -> dict[str, bool]:
    """Which peers import here."""
    out = {}
    for mod in _DISTS:
        try:
            importlib.import_module(mod)
            out[mod] = True
        except Exception:  # noqa: BLE001 - any import failure means "not available"
            out[mod] = False
    return out


def versions() -> dict[str, str | None]:
    """Installed versions of the peers (None when not installed)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {}
    for mod, dist in _DISTS.items():
        try:
            out[dist] = version(dist)
        except PackageNotFoundError:
            out[dist] = None
    return out


def _clear_grads(model: torch.nn.Module) -> None:
    for p in model.parameters():
        p.grad = None


@contextlib.contextmanager
def _seeded(seed: int):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


# ------------------------------------------------------------------------ PyHessian


@contextlib.contextmanager
def _count_pyhessian():
    mod = sys.modules.get("pyhessian.hessian") or importlib.import_module("pyhessian.hessian")
    original = mod.hessian_vector_product
    counter = {"hvps": 0}

    def counting(gradsH, params, v):
        counter["hvps"] += 1
        return original(gradsH, params, v)

    mod.hessian_vector_product = counting
    try:
        yield counter
    finally:
        mod.hessian_vector_product = original


def _pyhessian(model, loss_fn, batch):
    """PyHessian's ``hessian`` object on the device of the model (its ``cuda`` flag: a CUDA model)."""
    from pyhessian import hessian

    return hessian(model, loss_fn, data=batch, cuda=next(model.parameters()).is_cuda)


def pyhessian_top(model, loss_fn, batch, *, k: int, tol: float, seed: int, max_iter: int = 300) -> dict:
    """PyHessian's deflated power iteration for the top ``k`` (``top_n``), timed from the
    constructor (its forward + backward with ``create_graph``) to the result."""
    _clear_grads(model)
    try:
        with _seeded(seed), _count_pyhessian() as counter:
            t0 = time.perf_counter()
            h = _pyhessian(model, loss_fn, batch)
            vals, _ = h.eigenvalues(maxIter=max_iter, tol=tol, top_n=k)
            seconds = time.perf_counter() - t0
    finally:
        _clear_grads(model)
    return {"values": sorted((float(v) for v in vals), reverse=True), "hvps": counter["hvps"], "seconds": seconds}


def pyhessian_trace(model, loss_fn, batch, *, num_matvecs: int, seed: int) -> dict:
    """PyHessian's Hutchinson trace with exactly ``num_matvecs`` probes (``tol=0`` never stops early)."""
    _clear_grads(model)
    try:
        with _seeded(seed), _count_pyhessian() as counter:
            t0 = time.perf_counter()
            h = _pyhessian(model, loss_fn, batch)
            samples = h.trace(maxIter=num_matvecs, tol=0.0)
            seconds = time.perf_counter() - t0
    finally:
        _clear_grads(model)
    s = np.asarray(samples, dtype=np.float64)
    return {"value": float(s.mean()), "stderr": float(s.std(ddof=1) / np.sqrt(s.size)), "hvps": counter["hvps"],
            "seconds": seconds}


def pyhessian_hvp(model, loss_fn, batch, v: torch.Tensor) -> tuple[Callable[[], Any], Callable[[], None]]:
    """``(one_hvp, cleanup)``: one PyHessian HVP through its kept graph, for timing."""
    from pyhessian.utils import hessian_vector_product

    _clear_grads(model)
    h = _pyhessian(model, loss_fn, batch)
    pieces = [piece.reshape(p.shape) for piece, p in zip(torch.split(v, [p.numel() for p in h.params]), h.params)]

    def one():
        return hessian_vector_product(h.gradsH, h.params, pieces)

    def cleanup():
        h.gradsH = None
        _clear_grads(model)

    return one, cleanup


def pyhessian_density(model, loss_fn, batch, *, iters: int = 5, n_v: int = 1) -> dict:
    """Call PyHessian's ``density()``; returns ``{"ok": bool, "error": "..."}`` (it uses the removed ``torch.eig``)."""
    _clear_grads(model)
    try:
        with _seeded(0):
            h = _pyhessian(model, loss_fn, batch)
            h.density(iter=iters, n_v=n_v)
        return {"ok": True, "error": None}
    except Exception as exc:  # noqa: BLE001 - the point is to show the failure
        return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    finally:
        _clear_grads(model)


# -------------------------------------------------------------- hessian-eigenthings


class _Counted:
    """A counting ``LambdaOperator`` around any ``matvec``."""

    def __init__(self, matvec: Callable[[torch.Tensor], torch.Tensor], size: int, dtype, device):
        from hessian_eigenthings import LambdaOperator

        self.hvps = 0

        def mv(v):
            self.hvps += 1
            return matvec(v)

        self.op = LambdaOperator(mv, size=size, device=device, dtype=dtype)


def eigenthings_operator(model, loss_fn, batch) -> _Counted:
    """hessian-eigenthings' own ``HessianOperator`` (graph rebuilt at every product), counted."""
    import hessian_eigenthings as he

    op = he.HessianOperator(model, [batch], he.supervised_loss(loss_fn))
    return _Counted(op.matvec, op.size, op.dtype, op.device)


def eigenthings_wrap(our_op) -> _Counted:
    """Our operator (kept graph) seen as a hessian-eigenthings operator: runs their
    algorithms on our HVP engine, to count their HVPs cheaply."""
    return _Counted(our_op.matvec, our_op.shape[0], our_op.dtype, our_op.device)


def eigenthings_lanczos(counted: _Counted, *, k: int, max_iter: int, seed: int) -> dict:
    import hessian_eigenthings as he

    counted.hvps = 0
    t0 = time.perf_counter()
    res = he.lanczos(counted.op, k=k, max_iter=max_iter, which="LA", seed=seed, reorthogonalize=True)
    seconds = time.perf_counter() - t0
    return {"values": sorted(res.eigenvalues.tolist(), reverse=True), "hvps": counted.hvps, "seconds": seconds}


def eigenthings_power(counted: _Counted, *, k: int, tol: float, seed: int, max_iter: int = 100) -> dict:
    import hessian_eigenthings as he

    counted.hvps = 0
    t0 = time.perf_counter()
    res = he.deflated_power_iteration(counted.op, k=k, tol=tol, seed=seed, max_iter=max_iter)
    seconds = time.perf_counter() - t0
    return {"values": sorted(res.eigenvalues.tolist(), reverse=True), "hvps": counted.hvps, "seconds": seconds,
            "converged": bool(res.converged.all())}


def eigenthings_hutchpp(counted: _Counted, *, num_matvecs: int, seed: int) -> dict:
    import hessian_eigenthings as he

    counted.hvps = 0
    t0 = time.perf_counter()
    res = he.hutch_plus_plus(counted.op, num_matvecs=num_matvecs, seed=seed)
    seconds = time.perf_counter() - t0
    return {"value": float(res.estimate), "stderr": float(res.stderr), "hvps": counted.hvps, "seconds": seconds}


def eigenthings_slq(counted: _Counted, *, num_runs: int, steps: int, seed: int) -> dict:
    import hessian_eigenthings as he

    counted.hvps = 0
    t0 = time.perf_counter()
    res = he.spectral_density(counted.op, num_runs=num_runs, lanczos_steps=steps, seed=seed, num_grid_points=1000)
    seconds = time.perf_counter() - t0
    return {"hvps": counted.hvps, "seconds": seconds, "support": [float(res.raw_eigenvalues.min()),
                                                                  float(res.raw_eigenvalues.max())]}


# ----------------------------------------------------------------------- curvlinops


def curvlinops_operator(model, loss_fn, batch):
    """curvlinops' ``HessianLinearOperator`` (forward-over-reverse, ``torch.func``) on one batch."""
    from curvlinops import HessianLinearOperator

    params = [p for p in model.parameters() if p.requires_grad]
    crit = torch.nn.CrossEntropyLoss() if loss_fn is torch.nn.functional.cross_entropy else loss_fn
    return HessianLinearOperator(model, crit, params, [batch], check_deterministic=False)


def curvlinops_hutchpp(A, *, num_matvecs: int, seed: int) -> dict:
    """curvlinops' ``hutchpp_trace`` on ``A`` (its operator, or ours: anything with ``@`` and ``shape``)."""
    from curvlinops import hutchpp_trace

    before = getattr(A, "hvps", None)
    with _seeded(seed):
        t0 = time.perf_counter()
        value = float(hutchpp_trace(A, num_matvecs=num_matvecs))
        seconds = time.perf_counter() - t0
    hvps = (A.hvps - before) if before is not None else num_matvecs
    return {"value": value, "stderr": float("nan"), "hvps": hvps, "seconds": seconds}


# -------------------------------------------------------------------------- ARPACK


class scipy_from_torch:
    """A float64 SciPy ``LinearOperator`` over a torch operator answering ``A @ V`` (counted)."""

    def __init__(self, matmat: Callable[[torch.Tensor], torch.Tensor], n: int, dtype: torch.dtype,
                 device: torch.device | str = "cpu"):
        from scipy.sparse.linalg import LinearOperator

        self.hvps = 0

        def mm(X):
            X = np.asarray(X)
            vec = X.ndim == 1
            Xt = torch.as_tensor(X.reshape(n, -1), dtype=dtype, device=device)
            self.hvps += Xt.shape[1]
            out = matmat(Xt).detach().to(torch.float64).cpu().numpy()
            return out.reshape(-1) if vec else out

        self.linop = LinearOperator((n, n), matvec=mm, matmat=mm, rmatvec=mm, rmatmat=mm, dtype=np.float64)


def arpack_top(wrapped: scipy_from_torch, *, k: int, tol: float, seed: int) -> dict:
    """ARPACK (``scipy.sparse.linalg.eigsh``, implicitly restarted Lanczos), largest algebraic."""
    from scipy.sparse.linalg import eigsh

    n = wrapped.linop.shape[0]
    v0 = np.random.default_rng(seed).standard_normal(n)
    wrapped.hvps = 0
    t0 = time.perf_counter()
    vals = eigsh(wrapped.linop, k=k, which="LA", tol=tol, v0=v0, return_eigenvectors=False)
    seconds = time.perf_counter() - t0
    return {"values": sorted(map(float, vals), reverse=True), "hvps": wrapped.hvps, "seconds": seconds}
