r"""The curvature-toolkit chapter (``book/toolkit.ipynb``): every quantity of
:mod:`landscape.curvature` on a small network, against its exact spectrum, and the
benchmark against the peer libraries (``bench/run.py``).

What the notebook calls, in order:

- :func:`small_problem` (cached) trains a small MLP (a few thousand parameters) in
  float64, forms its exact Hessian with :func:`~landscape.curvature.dense_hessian`
  and returns its eigenvalues, its diagonal, the eigenvalues of every layer's
  diagonal block and the error of an HVP against a column of the dense matrix;
- :func:`estimates` (cached) runs the matrix-free estimators on the same network:
  top and bottom eigenvalues with their residual certificates, the convergence trail
  of the top one, Hutchinson and Hutch++ traces over a grid of budgets and seeds, SLQ
  densities, the per-layer blocks, the GGN and the differentiable trace penalty;
- :func:`bench_results` reads ``bench/results.json`` (written by ``make bench``);
  :func:`live_comparison` runs a small version of the comparison when the peers are
  importable and there is no JSON;
- ``plot_*`` draw the figures; :func:`claim_values` computes the numbers the claims
  6.1-6.5 are decided on.
"""

from __future__ import annotations

import importlib.util
import json
import math
import time
from pathlib import Path
from typing import Any

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from ...training import data, models
from ...experiment.style import PALETTE
from ...experiment.cache import cached
from ...curvature import (HessianOperator, dense_hessian, eigenvalues, hessian_trace_penalty, layerwise,
                         spectral_density, trace)
from ...spectra import spectrum_distance
from ...experiment.params import Param, Schema
from ...training.loop import fit
from ..common import DATA_ROOT, DEVICE, PROFILE

NOTEBOOK = "book/toolkit.ipynb"
ORDER = 10
SMOKE_CHECKS = {
    "toolkit-n-params": (50, 20000),
    "toolkit-hvp-check": (0.0, 1e-8),
    "toolkit-eig-max-err": (0.0, 1e-6),
    "toolkit-block-max-err": (0.0, 1e-6),
    "toolkit-slq-w1": (0.0, 0.5),
    "toolkit-trace-coverage": (0.0, 1.0),
    "toolkit-penalty-z": (0.0, 20.0),
}

from ...experiment.records import REPO_ROOT as _REPO
BENCH_JSON = _REPO / "bench" / "results.json"
METHOD_COLOURS = {"hutch++": PALETTE[0], "hutchinson": PALETTE[1]}

SCHEMA = Schema(
    profile=PROFILE,
    device=DEVICE,
    data_root=DATA_ROOT,
    threads=Param(int, "CPU threads of torch in this chapter (None: torch's default; 1 is fastest for this small model on a busy machine)", low=1, high=256, nullable=True),
    # the small network
    dataset=Param(str, "data set of the small network", choices=("digits", "mnist10k")),
    n_train=Param(int, "training examples, also the batch whose Hessian is studied (None: all)", low=20, nullable=True),
    widths=Param(list, "hidden widths of the MLP", item=int, low=1, high=512, min_len=1),
    activation=Param(str, "hidden activation", choices=("tanh", "relu", "sigmoid")),
    epochs=Param(int, "training epochs before the Hessian is taken", low=0, high=500),
    lr=Param(float, "SGD learning rate (momentum 0.9)", low=1e-6, high=10.0),
    batch_size=Param(int, "mini-batch size of the training", low=1, high=8192),
    seed=Param(int, "seed of the weights, the shuffles and every estimator", low=0, high=2**31 - 1),
    dense_max_dim=Param(int, "largest parameter count for which the dense Hessian is formed", low=10, high=40000),
    # estimators
    eig_k=Param(int, "how many top (and bottom) eigenvalues Lanczos computes", low=1, high=50),
    eig_tol=Param(float, "relative residual tolerance of Lanczos", low=1e-14, high=1e-2),
    trail_max_hvps=Param(int, "largest HVP budget of the top-eigenvalue convergence trail", low=4, high=1000),
    trace_budgets=Param(list, "HVP budgets of the trace estimators", item=int, low=6, high=100000, min_len=2),
    trace_seeds=Param(list, "probe seeds of the trace study (one estimate per seed, budget and method)", item=int, low=0, high=2**31 - 1, min_len=2),
    slq_probes=Param(int, "SLQ: probes", low=1, high=1000),
    slq_steps=Param(int, "SLQ: Lanczos steps per probe (the density of claim 6.2)", low=2, high=2000),
    explore_steps=Param(list, "SLQ steps per probe offered in the Explore slider (at most 6)", item=int, low=2, high=2000, min_len=1),
    penalty_samples=Param(int, "evaluations (1 probe each) of the differentiable trace penalty", low=3, high=100000),
    bench_source=Param(str, "peer comparison: 'auto' (bench/results.json, else a live run if the peers import, else skip), 'json', 'live' or 'off'", choices=("auto", "json", "live", "off")),
    # decision rules (declared before the run)
    eig_rel_tol=Param(float, "6.1: max |Ritz value - exact| / ||H||_2 over the top and bottom eig_k must be at most this", low=0.0, high=1.0),
    w1_rel_tol=Param(float, "6.2: Wasserstein-1 (SLQ vs exact spectrum) / spectral range must be at most this", low=0.0, high=1.0),
    coverage_min=Param(float, "6.3: fraction of trace runs with |estimate - exact| <= 2 stderr must be at least this", low=0.0, high=1.0),
    block_rel_tol=Param(float, "6.4: max |block Ritz value - exact block eigenvalue| / ||H_ll||_2 must be at most this", low=0.0, high=1.0),
    penalty_z=Param(float, "6.5: |mean penalty - exact trace| / its standard error must be at most this", low=0.0, high=100.0),
)

_PROBLEM_KEYS = ("dataset", "data_root", "n_train", "widths", "activation", "epochs", "lr", "batch_size", "seed",
                 "dense_max_dim")
_ESTIMATE_KEYS = ("eig_k", "eig_tol", "trail_max_hvps", "trace_budgets", "trace_seeds", "slq_probes", "slq_steps",
                  "explore_steps", "penalty_samples")


# --------------------------------------------------------------------------- the network


def _load(dataset: str, data_root: str | None, n_train: int | None, device: str):
    ds = data.load(dataset, root=data_root, n_train=n_train, seed=0)
    x, y = ds.train
    return ds, (x.to(device=device, dtype=torch.float64), y.to(device))


def _build(ds, widths, activation, seed, device):
    return models.build("mlp", in_features=int(np.prod(ds.input_shape)), widths=list(widths),
                        out_features=ds.num_classes, activation=activation, seed=seed, dtype=torch.float64,
                        device=device)


@cached("toolkit/small_problem", version=1)
def small_problem(*, dataset: str, data_root: str | None, n_train: int | None, widths: list, activation: str,
                  epochs: int, lr: float, batch_size: int, seed: int, dense_max_dim: int, device: str) -> dict:
    """Train the small MLP (float64, SGD with momentum 0.9) and take its exact Hessian on the
    training set: eigenvalues, diagonal, per-layer block eigenvalues, and an HVP check."""
    ds, batch = _load(dataset, data_root, n_train, device)
    model = _build(ds, widths, activation, seed, device)
    if epochs:
        opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
        fit(model, batch, epochs=epochs, optimizer=opt, batch_size=batch_size, seed=seed, device=device,
            eval_train=False, eval_at_start=False)
    model.eval()
    with torch.no_grad():
        out = model(batch[0])
        loss = float(F.cross_entropy(out, batch[1]))
        acc = float((out.argmax(1) == batch[1]).double().mean())
    op = HessianOperator(model, F.cross_entropy, batch)
    t0 = time.perf_counter()
    H = dense_hessian(model, F.cross_entropy, batch, max_dim=dense_max_dim)
    t_dense = time.perf_counter() - t0
    t0 = time.perf_counter()
    evals = torch.linalg.eigvalsh(H)
    t_eigh = time.perf_counter() - t0
    g = torch.Generator().manual_seed(seed)
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


def rebuild(p: dict, device) -> tuple[torch.nn.Module, tuple, dict]:
    """The trained small network, its batch, and :func:`small_problem`'s result."""
    dev = str(device)
    small = small_problem(**{k: p[k] for k in _PROBLEM_KEYS}, device=dev)
    ds, batch = _load(p["dataset"], p["data_root"], p["n_train"], dev)
    model = _build(ds, p["widths"], p["activation"], p["seed"], dev)
    model.load_state_dict({k: v.to(dev) for k, v in small["state"].items()})
    model.eval()
    return model, batch, small


# --------------------------------------------------------------------------- estimates


def _eig(res) -> dict:
    return {"values": res.values.cpu(), "residuals": res.residuals.cpu(), "hvps": res.hvps,
            "converged": bool(res.converged), "restarts": res.restarts}


@cached("toolkit/estimates", version=1)
def estimates(*, dataset: str, data_root: str | None, n_train: int | None, widths: list, activation: str, epochs: int,
              lr: float, batch_size: int, seed: int, dense_max_dim: int, eig_k: int, eig_tol: float,
              trail_max_hvps: int, trace_budgets: list, trace_seeds: list, slq_probes: int, slq_steps: int,
              explore_steps: list, penalty_samples: int, device: str) -> dict:
    """Every matrix-free estimate of the chapter on the small network (see the module docs)."""
    p = dict(dataset=dataset, data_root=data_root, n_train=n_train, widths=widths, activation=activation,
             epochs=epochs, lr=lr, batch_size=batch_size, seed=seed, dense_max_dim=dense_max_dim)
    model, batch, small = rebuild(p, device)
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


def run(p: dict, device) -> tuple[dict, dict]:
    """``(small, est)``: the exact results and the estimates, from the cache when warm."""
    dev = str(device)
    small = small_problem(**{k: p[k] for k in _PROBLEM_KEYS}, device=dev)
    est = estimates(**{k: p[k] for k in _PROBLEM_KEYS + _ESTIMATE_KEYS}, device=dev)
    return small, est


# ------------------------------------------------------------------------------ numbers


def exact_trace(small: dict) -> float:
    return float(small["diag"].sum())


def spectral_norm(small: dict) -> float:
    return float(small["eigvals"].abs().max())


def eig_table(small: dict, est: dict):
    """Top and bottom Ritz values against ``eigvalsh``: value, error / ||H||, certified residual."""
    import pandas as pd

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
    t = eig_table(small, est)
    return float(t["|error| / ||H||"].max())


def block_table(small: dict, est: dict):
    """Per-layer top Ritz values and traces against the slices of the dense Hessian."""
    import pandas as pd

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


def cost_table(small: dict, est: dict, p: dict):
    import pandas as pd

    m = max(p["trace_budgets"])
    rows = [
        {"quantity": f"dense Hessian (n = {small['n_params']})", "HVPs": small["n_params"],
         "how": "one HVP per column, then eigvalsh"},
        {"quantity": f"top {p['eig_k']} eigenvalues, tol {p['eig_tol']:g}", "HVPs": est["top"]["hvps"],
         "how": "thick-restart Lanczos"},
        {"quantity": f"bottom {p['eig_k']} eigenvalues, tol {p['eig_tol']:g}", "HVPs": est["bottom"]["hvps"],
         "how": "thick-restart Lanczos"},
        {"quantity": "trace (one estimate)", "HVPs": m, "how": "Hutch++ or Hutchinson, the budget chosen"},
        {"quantity": f"SLQ density, {p['slq_probes']} probes x {p['slq_steps']} steps",
         "HVPs": est["slq"][str(p["slq_steps"])]["hvps"], "how": "probes x steps"},
        {"quantity": f"every layer: top {p['eig_k']} and trace", "HVPs": sum(b["hvps"] for b in est["layers"].values()),
         "how": "per block; one shared graph and one set of probes"},
        {"quantity": "trace penalty, 1 probe", "HVPs": 1, "how": "one HVP with create_graph, then a backward through it"},
    ]
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------ figures


def plot_lanczos(small: dict, est: dict, *, title: str):
    """Left: the exact spectrum with the Ritz values; right: error and certificate of the top one vs HVPs."""
    ev = small["eigvals"].numpy()
    fig, (a, b) = plt.subplots(1, 2, figsize=(10.5, 3.6))
    n = ev.size
    a.plot(np.arange(n), ev, color=PALETTE[7], lw=1.2, label="eigvalsh (all n)")
    k = len(est["top"]["values"])
    a.scatter(np.arange(n - k, n), est["top"]["values"].numpy()[::-1], color=PALETTE[0], marker="x", s=40, zorder=3,
              label=f"Lanczos top {k}")
    a.scatter(np.arange(k), est["bottom"]["values"].numpy(), color=PALETTE[3], marker="x", s=40, zorder=3,
              label=f"Lanczos bottom {k}")
    a.set_yscale("symlog", linthresh=1e-3)
    a.set(xlabel="index (ascending)", ylabel="eigenvalue (symlog)", title="spectrum and Ritz values")
    a.legend(loc="upper left", fontsize=8)
    tr = est["trail"]
    lam = ev[-1]
    err = np.maximum(np.abs(np.asarray(tr["theta"]) - lam) / abs(lam), 1e-17)
    b.semilogy(tr["hvps"], err, "o-", color=PALETTE[0], ms=3, label=r"true error $|\theta - \lambda_1| / \lambda_1$")
    b.semilogy(tr["hvps"], np.asarray(tr["residual"]) / abs(lam), "s--", color=PALETTE[1], ms=3,
               label=r"certificate $\|Hy - \theta y\| / \lambda_1$")
    b.set(xlabel="HVPs", ylabel="relative to $\\lambda_1$", title="top eigenvalue: error and certificate")
    b.legend(fontsize=8)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_trace(small: dict, est: dict, *, title: str):
    """Left: RMS relative error and mean reported stderr vs budget; right: estimates +- 2 stderr vs the truth."""
    truth = exact_trace(small)
    te = trace_errors(small, est)
    budgets = np.asarray(est["trace"]["budgets"])
    fig, (a, b) = plt.subplots(1, 2, figsize=(10.5, 3.6))
    for method in ("hutch++", "hutchinson"):
        c = METHOD_COLOURS[method]
        a.loglog(budgets, te[method]["rms"], "o-", color=c, label=f"{method}: RMS error over seeds")
        a.loglog(budgets, te[method]["stderr"], "--", color=c, alpha=0.8, label=f"{method}: mean reported stderr")
    ref = te["hutchinson"]["rms"][0] * np.sqrt(budgets[0] / budgets)
    a.loglog(budgets, ref, ":", color=PALETTE[7], lw=1, label=r"$\propto m^{-1/2}$")
    a.set_xticks(budgets, [str(m) for m in budgets])
    a.minorticks_off()
    a.set(xlabel="HVP budget m", ylabel="relative to |tr H|", title="error vs budget")
    a.legend(fontsize=7)
    seeds = len(est["trace"]["seeds"])
    for off, method in ((-0.12, "hutch++"), (0.12, "hutchinson")):
        v = np.asarray(est["trace"][method]["value"])
        s = np.asarray(est["trace"][method]["stderr"])
        for i in range(len(budgets)):
            xs = i + off + np.linspace(-0.08, 0.08, seeds)
            b.errorbar(xs, v[i], yerr=2 * s[i], fmt="o", ms=3, lw=0.8, color=METHOD_COLOURS[method],
                       label=f"{method} ± 2 stderr" if i == 0 else None)
    b.axhline(truth, color=PALETTE[7], lw=1.2, label=f"exact tr H = {truth:.4g}")
    b.set_xticks(range(len(budgets)), [str(m) for m in budgets])
    b.set(xlabel="HVP budget m", ylabel="trace estimate", title=f"every seed ({seeds}) and budget")
    b.legend(fontsize=7)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_density(small: dict, est: dict, steps: int, *, title: str, probes: int):
    """SLQ density (Gaussian broadening, sigma = 1% of the range) over the exact histogram, log scale."""
    ev = small["eigvals"].numpy()
    d = est["slq"][str(steps)]
    lo, hi = float(ev.min()), float(ev.max())
    sigma = 0.01 * (hi - lo)
    grid = np.linspace(lo - 5 * sigma, hi + 5 * sigma, 1500)
    from ...curvature.density import gaussian_density

    slq = gaussian_density(d["nodes"], d["weights"], grid, sigma).numpy()
    exact_b = gaussian_density(torch.from_numpy(ev), torch.full((ev.size,), 1.0 / ev.size, dtype=torch.float64),
                               grid, sigma).numpy()
    fig, ax = plt.subplots(figsize=(7.0, 3.4))
    ax.hist(ev, bins=120, density=True, color=PALETTE[5], alpha=0.45, label="exact eigenvalues (histogram)")
    ax.plot(grid, exact_b, color=PALETTE[7], lw=1.0, label="exact, broadened")
    ax.plot(grid, slq, color=PALETTE[3], lw=1.6, label=f"SLQ, {probes} probes x {steps} steps ({d['hvps']} HVPs)")
    ax.set_yscale("log")
    top = max(float(exact_b.max()), float(slq.max()))
    ax.set_ylim(1e-5 * top, 5 * top)
    w1 = slq_w1(small, est, steps)
    ax.set(xlabel="eigenvalue", ylabel="density (log)", title=f"{title}; W1 / range = {w1:.4f}")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_penalty(small: dict, est: dict, *, title: str):
    st = penalty_stats(small, est)
    s = np.asarray(est["penalty"]["samples"])
    fig, ax = plt.subplots(figsize=(7.0, 3.0))
    ax.hist(s, bins=40, color=PALETTE[5], alpha=0.6, label=f"{s.size} penalties $v^T H v$ (1 probe each)")
    ax.axvline(st["truth"], color=PALETTE[7], lw=1.5, label=f"exact tr H = {st['truth']:.4g}")
    ax.axvline(st["mean"], color=PALETTE[3], lw=1.5, ls="--", label=f"mean = {st['mean']:.4g} ± {st['stderr']:.2g}")
    ax.set(xlabel="penalty value", ylabel="count", title=title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------ the peers


def bench_results(path: str | Path | None = None) -> dict | None:
    """The benchmark's JSON (``bench/results.json``), or None when absent or unreadable."""
    path = Path(path) if path is not None else BENCH_JSON
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def bench_provenance(res: dict) -> str:
    m = res["meta"]
    load = m.get("load_average_start")
    return (f"`{m.get('command', 'python bench/run.py')}` on {m.get('host_cpu')} ({m.get('cpu_count')} cores, torch "
            f"{m.get('torch')} with {m.get('torch_threads')} thread(s), load average {load} at the start), "
            f"{m.get('date')}, commit `{m.get('commit')}`, {m.get('seconds', float('nan')):.0f} s in all; "
            + (f"malloc: {m['malloc']}; " if m.get("malloc") else "") + "peers "
            + ", ".join(f"{k} {v}" for k, v in (m.get("peers") or {}).items()))


def bench_tables(res: dict):
    """``(targets, side_by_side)`` DataFrames from the benchmark's JSON."""
    import pandas as pd

    t = pd.DataFrame(res["targets"])
    t["target"] = t["target"].astype(str)
    targets = pd.DataFrame({"network": t["problem"], "target": t["target"], "measured": t["measured"],
                            "rule": t["op"] + " " + t["threshold"].map(lambda v: f"{v:g}"),
                            "met": t["met"].map(lambda v: "(not a target)" if v is None or v != v else "yes" if v else "no"), "detail": t["detail"]})
    r = pd.DataFrame(res["rows"])
    cols = ["problem", "task", "method", "engine", "hvps", "seconds", "rel_err"]
    for c in ("hvps_vs_ours", "time_vs_ours"):
        if c in r:
            cols.append(c)
    side = r[cols].rename(columns={"problem": "network", "hvps": "HVPs", "seconds": "seconds (median)",
                                   "rel_err": "rel. error", "hvps_vs_ours": "HVPs / ours",
                                   "time_vs_ours": "time / ours"})
    return targets, side


def bench_hvp_table(res: dict):
    """Milliseconds of one HVP per engine and per network, and the ratio to one gradient."""
    import pandas as pd

    rows = []
    for net, d in res["problems"].items():
        hc = d.get("hvp_cost")
        if not hc:
            continue
        for engine, sec in hc["seconds"].items():
            rows.append({"network": net, "product": engine, "ms (median)": 1e3 * sec,
                         "/ gradient": hc["over_gradient"][engine]})
    return pd.DataFrame(rows)


def plot_bench(res: dict, *, title: str):
    """HVPs and seconds of the top-1 / top-5 / top-10 runs of every method, per network."""
    rows = [r for r in res["rows"] if r["task"] in ("top-1", "top-5", "top-10")]
    nets = list(dict.fromkeys(r["problem"] for r in rows))
    fig, axes = plt.subplots(len(nets), 2, figsize=(11, 3.0 * len(nets)), squeeze=False)
    for i, net in enumerate(nets):
        rs = [r for r in rows if r["problem"] == net]
        labels = [f"{r['task']}: {r['method'][:34]} [{r['engine']}]" for r in rs]
        colours = [PALETTE[0] if r["method"].startswith("landscape") else PALETTE[1] if r["engine"] == "ours"
                   else PALETTE[3] for r in rs]
        y = np.arange(len(rs))
        for j, (key, name, fmt) in enumerate((("hvps", "HVPs", "{:.0f}"), ("seconds", "seconds (median)", "{:.2g}"))):
            ax = axes[i, j]
            vals = [r[key] for r in rs]
            ax.barh(y, vals, color=colours)
            for yy, v in zip(y, vals):
                ax.text(v, yy, " " + fmt.format(v), va="center", fontsize=7)
            ax.set_yticks(y, labels if j == 0 else [""] * len(rs), fontsize=7)
            ax.invert_yaxis()
            ax.set_xlim(0, 1.15 * max(vals))
            ax.set(xlabel=name, title=f"{net}: {name}")
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _bench_module(name: str):
    path = _REPO / "bench" / f"{name}.py"
    if not path.exists():
        return None
    spec = importlib.util.spec_from_file_location(f"_landscape_bench_{name}", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def peers_available() -> dict[str, bool]:
    """Which peers import here (False for all when ``bench/peers.py`` is missing)."""
    import warnings

    mod = _bench_module("peers")
    if mod is None:
        return {"pyhessian": False, "curvlinops": False, "hessian_eigenthings": False}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return mod.available()


def live_comparison(model: torch.nn.Module, batch: tuple, exact_top: np.ndarray, *, acc: float = 1e-4,
                    seed: int = 0):
    """A small version of the benchmark on ``model`` (a float32 copy): top-1 and top-5 in HVPs and
    seconds for us, PyHessian (tol 1e-5) and ARPACK; relative errors against ``exact_top`` (descending)."""
    import warnings

    peers = _bench_module("peers")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _live(peers, model, batch, exact_top, acc=acc, seed=seed)


def _live(peers, model, batch, exact_top, *, acc, seed):
    import copy

    import pandas as pd

    m32 = copy.deepcopy(model).float().cpu()
    x, y = batch[0].float().cpu(), batch[1].cpu()
    avail = peers.available()
    rows = []

    def err(vals, k):
        v = np.sort(np.asarray(vals, dtype=np.float64))[::-1][:k]
        return float(np.max(np.abs(v - exact_top[:k]) / np.abs(exact_top[:k])))

    for k in (1, 5):
        op = HessianOperator(m32, F.cross_entropy, (x, y))
        t0 = time.perf_counter()
        r = eigenvalues(op, k, tol=acc, seed=seed)
        rows.append({"task": f"top-{k}", "method": "landscape Lanczos", "HVPs": r.hvps,
                     "seconds": time.perf_counter() - t0, "rel. error": err(r.values.tolist(), k)})
        op.release()
        if avail.get("pyhessian"):
            ph = peers.pyhessian_top(m32, F.cross_entropy, (x, y), k=k, tol=1e-5, seed=seed)
            rows.append({"task": f"top-{k}", "method": "PyHessian (tol 1e-5)", "HVPs": ph["hvps"],
                         "seconds": ph["seconds"], "rel. error": err(ph["values"], k)})
        op = HessianOperator(m32, F.cross_entropy, (x, y))
        w = peers.scipy_from_torch(lambda X: op @ X, op.shape[0], op.dtype)
        ar = peers.arpack_top(w, k=k, tol=acc, seed=seed)
        rows.append({"task": f"top-{k}", "method": "ARPACK (scipy eigsh) on our operator", "HVPs": ar["hvps"],
                     "seconds": ar["seconds"], "rel. error": err(ar["values"], k)})
        op.release()
    if avail.get("pyhessian"):
        dens = peers.pyhessian_density(m32, F.cross_entropy, (x, y))
        rows.append({"task": "density", "method": "PyHessian density()", "HVPs": float("nan"), "seconds": float("nan"),
                     "rel. error": float("nan"), "note": "ran" if dens["ok"] else dens["error"].splitlines()[0]})
    return pd.DataFrame(rows)
