r"""The toolkit chapter's experiments: every quantity of :mod:`landscape.curvature`
on a small network, against its exact spectrum.

- :func:`small_problem` (cached) trains a small MLP (a few thousand parameters) in
  float64, forms its exact Hessian with :func:`~landscape.curvature.dense_hessian`
  and returns its eigenvalues, its diagonal, the eigenvalues of every layer's
  diagonal block and the error of an HVP against the dense matrix;
- :func:`estimates` (cached) runs the matrix-free estimators on the same network:
  top and bottom eigenvalues with their residual certificates, the convergence trail
  of the top one, Hutchinson and Hutch++ traces over a grid of budgets and seeds, SLQ
  densities, the per-layer blocks, the GGN and the differentiable trace penalty;
- :func:`run` returns both, with the numbers the page and claims 6.1-6.5 read
  (:class:`Results`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F

from ...curvature import HessianOperator, dense_hessian, eigenvalues, hessian_trace_penalty, layerwise, spectral_density, trace
from ...experiment.cache import cached
from ...experiment.params import Params
from ...spectra import spectrum_distance
from ...training import models
from ...training.data import DataSpec
from ...training.loop import fit, resolve_device, threads

__all__ = ["Problem", "Estimators", "Results", "run", "small_problem", "estimates", "rebuild", "exact_trace", "eig_rows",
           "block_rows", "trace_errors", "slq_w1", "penalty_stats"]


@dataclass(frozen=True)
class Problem:
    """The small network and the batch whose Hessian is studied."""

    data: DataSpec
    widths: tuple[int, ...]
    activation: str
    epochs: int
    lr: float
    batch_size: int
    seed: int
    dense_max_dim: int

    @classmethod
    def of(cls, p: Params) -> "Problem":
        return cls(DataSpec(p.dataset, root=p.data_root, n_train=p.n_train, seed=0), tuple(p.widths), p.activation,
                   p.epochs, p.lr, p.batch_size, p.seed, p.dense_max_dim)


@dataclass(frozen=True)
class Estimators:
    """The budgets of every estimator."""

    eig_k: int
    eig_tol: float
    trail_max_hvps: int
    trace_budgets: tuple[int, ...]
    trace_seeds: tuple[int, ...]
    slq_probes: int
    slq_steps: int
    explore_steps: tuple[int, ...]
    penalty_samples: int

    @classmethod
    def of(cls, p: Params) -> "Estimators":
        return cls(p.eig_k, p.eig_tol, p.trail_max_hvps, tuple(p.trace_budgets), tuple(p.trace_seeds), p.slq_probes,
                   p.slq_steps, tuple(p.explore_steps), p.penalty_samples)


def _load(spec: DataSpec, device: str):
    ds = spec.load()
    x, y = ds.train
    return ds, (x.to(device=device, dtype=torch.float64), y.to(device))


def _build(ds, problem: Problem, device: str):
    return models.build("mlp", in_features=int(np.prod(ds.input_shape)), widths=list(problem.widths),
                        out_features=ds.num_classes, activation=problem.activation, seed=problem.seed,
                        dtype=torch.float64, device=device)


@cached("toolkit/small_problem", version=2)
def small_problem(*, problem: Problem, device: str) -> dict:
    """Train the small MLP (float64, SGD with momentum 0.9) and take its exact Hessian on the
    training set: eigenvalues, diagonal, per-layer block eigenvalues, and an HVP check. The
    device stays in the key: the result holds the timings the page shows."""
    ds, batch = _load(problem.data, device)
    model = _build(ds, problem, device)
    if problem.epochs:
        opt = torch.optim.SGD(model.parameters(), lr=problem.lr, momentum=0.9)
        fit(model, batch, epochs=problem.epochs, optimizer=opt, batch_size=problem.batch_size, seed=problem.seed,
            device=device, eval_train=False, eval_at_start=False)
    model.eval()
    with torch.no_grad():
        out = model(batch[0])
        loss = float(F.cross_entropy(out, batch[1]))
        acc = float((out.argmax(1) == batch[1]).double().mean())
    op = HessianOperator(model, F.cross_entropy, batch)
    t0 = time.perf_counter()
    H = dense_hessian(model, F.cross_entropy, batch, max_dim=problem.dense_max_dim)
    t_dense = time.perf_counter() - t0
    t0 = time.perf_counter()
    evals = torch.linalg.eigvalsh(H)
    t_eigh = time.perf_counter() - t0
    g = torch.Generator().manual_seed(problem.seed)
    V = torch.randn(H.shape[0], 3, generator=g, dtype=torch.float64).to(device)
    HV = H @ V
    hvp_err = float(((op @ V) - HV).norm() / HV.norm())
    blocks = {}
    for name, names in models.layers(model).items():
        sl = [op.param_slices[n] for n in names]
        lo, hi = sl[0].start, sl[-1].stop
        blocks[name] = {"start": lo, "stop": hi, "eigvals": torch.linalg.eigvalsh(H[lo:hi, lo:hi]).cpu()}
    return {"state": {k: v.cpu() for k, v in model.state_dict().items()}, "n_params": int(H.shape[0]),
            "n_samples": int(batch[1].shape[0]), "train_loss": loss, "train_acc": acc,
            "eigvals": evals.cpu(), "diag": torch.diagonal(H).cpu().clone(), "blocks": blocks,
            "hvp_check": hvp_err, "dense_seconds": t_dense, "eigh_seconds": t_eigh,
            "param_names": list(op.param_names)}


def rebuild(problem: Problem, device: str) -> tuple[torch.nn.Module, tuple, dict]:
    """The trained small network, its batch, and :func:`small_problem`'s result."""
    small = small_problem(problem=problem, device=device)
    ds, batch = _load(problem.data, device)
    model = _build(ds, problem, device)
    model.load_state_dict({k: v.to(device) for k, v in small["state"].items()})
    model.eval()
    return model, batch, small


def _eig(res) -> dict:
    return {"values": res.values.cpu(), "residuals": res.residuals.cpu(), "hvps": res.hvps,
            "converged": bool(res.converged), "restarts": res.restarts}


@cached("toolkit/estimates", version=2)
def estimates(*, problem: Problem, est: Estimators, device: str) -> dict:
    """Every matrix-free estimate of the chapter on the small network (see the module docs).
    The device stays in the key: the result holds the penalty's time per call."""
    seed = problem.seed
    eig_k, eig_tol, trail_max_hvps = est.eig_k, est.eig_tol, est.trail_max_hvps
    trace_budgets, trace_seeds, slq_probes, slq_steps = est.trace_budgets, est.trace_seeds, est.slq_probes, est.slq_steps
    explore_steps, penalty_samples = est.explore_steps, est.penalty_samples
    model, batch, small = rebuild(problem, device)
    lf = F.cross_entropy
    op = HessianOperator(model, lf, batch)
    n = op.shape[0]
    k = min(eig_k, n)
    out: dict[str, Any] = {}
    out["top"] = _eig(eigenvalues(op, k, which="largest", tol=eig_tol, seed=seed))
    out["bottom"] = _eig(eigenvalues(op, k, which="smallest", tol=eig_tol, seed=seed))
    # convergence trail of the top eigenvalue: Ritz value and certified residual per budget
    trail = {"hvps": [], "theta": [], "residual": []}
    for budget in range(2, trail_max_hvps + 1, 2):
        r = eigenvalues(op, 1, tol=1e-14, max_hvps=budget, seed=seed)
        trail["hvps"].append(r.hvps)
        trail["theta"].append(float(r.values[0]))
        trail["residual"].append(float(r.residuals[0]) * abs(float(r.values[0])))
    out["trail"] = trail
    # trace: both estimators on a grid of budgets x seeds
    tr = {"budgets": list(trace_budgets), "seeds": list(trace_seeds)}
    for method in ("hutch++", "hutchinson"):
        vals = np.zeros((len(trace_budgets), len(trace_seeds)))
        errs = np.zeros_like(vals)
        for i, m in enumerate(trace_budgets):
            for j, s in enumerate(trace_seeds):
                r = trace(op, num_matvecs=m, method=method, seed=s)
                vals[i, j], errs[i, j] = r.value, r.stderr
        tr[method] = {"value": vals, "stderr": errs}
    out["trace"] = tr
    # SLQ densities
    steps_all = sorted(set(explore_steps) | {slq_steps})
    slq = {}
    for m in steps_all:
        d = spectral_density(op, num_probes=slq_probes, num_steps=m, seed=seed)
        slq[str(m)] = {"nodes": d.nodes, "weights": d.weights, "hvps": d.hvps, "support": list(d.support)}
    out["slq"] = slq
    # per-layer blocks
    lw = layerwise(model, lf, batch, k=k, tol=eig_tol, num_matvecs=max(trace_budgets), seed=seed,
                   compute=("eigenvalues", "trace"), include_full=False)
    out["layers"] = {name: {"values": b.eigen.values.cpu(), "residuals": b.eigen.residuals.cpu(),
                            "eig_hvps": b.eigen.hvps, "trace": b.trace.value, "trace_stderr": b.trace.stderr,
                            "hvps": b.hvps, "dim": b.dim} for name, b in lw.blocks.items() if name != "full"}
    # GGN: top eigenvalues and the smallest (it is positive semi-definite)
    gop = HessianOperator(model, lf, batch, kind="ggn")
    gt = eigenvalues(gop, k, tol=eig_tol, seed=seed)
    gs = eigenvalues(gop, 1, which="smallest", tol=1e-6, seed=seed, max_hvps=100)
    out["ggn"] = {"top": _eig(gt), "smallest": _eig(gs), "trace": trace(gop, num_matvecs=max(trace_budgets),
                                                                           seed=seed).value}
    # the differentiable penalty: samples of v^T H v (1 probe each), and one backward through it
    g = torch.Generator().manual_seed(seed)
    samples = []
    t0 = time.perf_counter()
    for _ in range(penalty_samples):
        samples.append(float(hessian_trace_penalty(model, lf, batch, num_probes=1, generator=g).detach()))
    t_pen = (time.perf_counter() - t0) / penalty_samples
    pen = hessian_trace_penalty(model, lf, batch, num_probes=1, generator=g)
    grads = torch.autograd.grad(pen, list(model.parameters()))
    out["penalty"] = {"samples": np.asarray(samples), "seconds_per_call": t_pen,
                      "grad_norm": float(torch.sqrt(sum((gr ** 2).sum() for gr in grads)))}
    op.release()
    gop.release()
    return out


# ------------------------------------------------------------------------------ numbers


def exact_trace(small: dict) -> float:
    return float(small["diag"].sum())


def spectral_norm(small: dict) -> float:
    return float(small["eigvals"].abs().max())


def eig_rows(small: dict, est: dict) -> pd.DataFrame:
    """Top and bottom Ritz values against ``eigvalsh``: value, error / ||H||, certified residual."""
    ev = small["eigvals"].numpy()
    norm = spectral_norm(small)
    rows = []
    for which, exact in (("top", ev[::-1]), ("bottom", ev)):
        r = est[which]
        for i, (v, res) in enumerate(zip(r["values"].tolist(), r["residuals"].tolist())):
            rows.append({"end": which, "i": i + 1, "exact (eigvalsh)": exact[i], "Lanczos": v,
                         "|error| / ||H||": abs(v - exact[i]) / norm, "residual ||Hy - θy|| / |θ|": res,
                         "HVPs": r["hvps"], "met tol": r["converged"]})
    return pd.DataFrame(rows)


def max_eig_error(small: dict, est: dict) -> float:
    t = eig_rows(small, est)
    return float(t["|error| / ||H||"].max())


def block_rows(small: dict, est: dict) -> pd.DataFrame:
    """Per-layer top Ritz values and traces against the slices of the dense Hessian."""
    diag = small["diag"].numpy()
    rows = []
    for name, b in small["blocks"].items():
        exact = b["eigvals"].numpy()[::-1]
        e = est["layers"][name]
        norm = float(np.abs(exact).max())
        err = max(abs(v - exact[i]) for i, v in enumerate(e["values"].tolist())) / norm
        rows.append({"layer": name, "dim": e["dim"], "top exact": exact[0], "top Lanczos": float(e["values"][0]),
                     "max |error| / ||H_ll||": err, "eig HVPs": e["eig_hvps"],
                     "trace exact": float(diag[b["start"]:b["stop"]].sum()),
                     "trace Hutch++": e["trace"], "stderr": e["trace_stderr"]})
    return pd.DataFrame(rows)


def trace_errors(small: dict, est: dict) -> dict:
    """Per method: RMS relative error and mean relative stderr per budget, and the coverage of +-2 stderr."""
    truth = exact_trace(small)
    out = {}
    covered = []
    for method in ("hutch++", "hutchinson"):
        v = np.asarray(est["trace"][method]["value"])
        s = np.asarray(est["trace"][method]["stderr"])
        out[method] = {"rms": np.sqrt(np.mean((v - truth) ** 2, axis=1)) / abs(truth),
                       "stderr": s.mean(axis=1) / abs(truth)}
        covered.append((np.abs(v - truth) <= 2 * s).ravel())
    out["coverage"] = float(np.concatenate(covered).mean())
    out["runs"] = int(np.concatenate(covered).size)
    return out


def slq_w1(small: dict, est: dict, steps: int) -> float:
    """Wasserstein-1 between the SLQ measure with ``steps`` steps and the exact spectrum, over the range."""
    ev = small["eigvals"]
    d = est["slq"][str(steps)]
    w1 = spectrum_distance(ev, (d["nodes"], d["weights"]))
    return w1 / float(ev.max() - ev.min())


def penalty_stats(small: dict, est: dict) -> dict:
    s = np.asarray(est["penalty"]["samples"])
    mean, se = float(s.mean()), float(s.std(ddof=1) / math.sqrt(s.size))
    truth = exact_trace(small)
    return {"mean": mean, "stderr": se, "z": abs(mean - truth) / se, "n": int(s.size), "truth": truth}


@dataclass
class Results:
    """What the toolkit chapter measured.

    Attributes:
        problem, est_setting: what was run.
        small: :func:`small_problem`'s result (the exact answers).
        est: :func:`estimates`' result.
        numbers: the values the page glues and claims 6.1-6.5 read (see :func:`run`).
    """

    problem: Problem
    est_setting: Estimators
    small: dict
    est: dict
    numbers: dict[str, Any] = field(default_factory=dict)


def run(p: Params) -> Results:
    """The exact results and the estimates, from the cache when warm, and the numbers read off them."""
    device = str(resolve_device(p.device))
    problem, setting = Problem.of(p), Estimators.of(p)
    with threads(p.threads):
        small = small_problem(problem=problem, device=device)
        est = estimates(problem=problem, est=setting, device=device)
    ev = small["eigvals"].numpy()
    te = trace_errors(small, est)
    pen = penalty_stats(small, est)
    numbers = {
        "n_params": small["n_params"], "lambda_max": float(ev[-1]), "lambda_min": float(ev.min()),
        "trace_exact": exact_trace(small), "hvp_check": small["hvp_check"],
        "n_negative": int((ev < -1e-9 * np.abs(ev).max()).sum()),
        "eig_max_err": max_eig_error(small, est), "top_hvps": est["top"]["hvps"], "bottom_hvps": est["bottom"]["hvps"],
        "trace_coverage": te["coverage"], "trace_runs": te["runs"], "trace_rms_pp": float(te["hutch++"]["rms"][-1]),
        "trace_rms_h": float(te["hutchinson"]["rms"][-1]), "trace_max_budget": max(p.trace_budgets),
        "slq_w1": slq_w1(small, est, p.slq_steps), "slq_hvps": est["slq"][str(p.slq_steps)]["hvps"],
        "block_max_err": float(block_rows(small, est)["max |error| / ||H_ll||"].max()),
        "ggn_min": float(est["ggn"]["smallest"]["values"][0]), "penalty": pen,
    }
    return Results(problem, setting, small, est, numbers)
