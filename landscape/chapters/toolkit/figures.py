"""What the toolkit chapter shows: the exact-vs-estimated figures and tables."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from ...curvature.density import gaussian_density
from ...experiment.style import FIGURE_WIDTH, PALETTE, fit_titles
from .experiments import Results, block_rows, eig_rows, exact_trace, penalty_stats, slq_w1, trace_errors

__all__ = ["eig_table", "block_table", "cost_table", "ggn_table", "plot_lanczos", "plot_trace", "plot_density", "plot_penalty"]

METHOD_COLOURS = {"hutch++": PALETTE[0], "hutchinson": PALETTE[1]}


def formatted(df: pd.DataFrame, formats: dict[str, str]) -> pd.DataFrame:
    df.attrs["formats"] = formats
    return df


def eig_table(r: Results) -> pd.DataFrame:
    """Top and bottom Ritz values against ``eigvalsh``: value, error / ||H||, certified residual."""
    return formatted(eig_rows(r.small, r.est), {"exact (eigvalsh)": "{:.10g}", "Lanczos": "{:.10g}", "|error| / ||H||": "{:.1e}",
                                                 "residual ||Hy - θy|| / |θ|": "{:.1e}"})


def block_table(r: Results) -> pd.DataFrame:
    """Per-layer top Ritz values and traces against the slices of the dense Hessian."""
    return formatted(block_rows(r.small, r.est), {"top exact": "{:.8g}", "top Lanczos": "{:.8g}", "max |error| / ||H_ll||": "{:.1e}",
                                                   "trace exact": "{:.5g}", "trace Hutch++": "{:.5g}", "stderr": "{:.2g}"})


def ggn_table(r: Results) -> pd.DataFrame:
    """The top eigenvalues of H and of the GGN side by side, and the traces."""
    h, g = r.est["top"]["values"].numpy(), r.est["ggn"]["top"]["values"].numpy()
    rows = [{"i": i + 1, "eigenvalue of H": float(h[i]), "eigenvalue of GGN": float(g[i])} for i in range(len(h))]
    rows.append({"i": "trace", "eigenvalue of H": exact_trace(r.small), "eigenvalue of GGN": float(r.est["ggn"]["trace"])})
    return formatted(pd.DataFrame(rows), {"eigenvalue of H": "{:.5g}", "eigenvalue of GGN": "{:.5g}"})


def cost_table(r: Results) -> pd.DataFrame:
    """HVPs spent on the small network by each computation of the page."""
    small, est, s = r.small, r.est, r.est_setting
    m = max(s.trace_budgets)
    rows = [
        {"quantity": f"dense Hessian (n = {small['n_params']})", "HVPs": small["n_params"],
         "how": "one HVP per column, then eigvalsh"},
        {"quantity": f"top {s.eig_k} eigenvalues, tol {s.eig_tol:g}", "HVPs": est["top"]["hvps"],
         "how": "thick-restart Lanczos"},
        {"quantity": f"bottom {s.eig_k} eigenvalues, tol {s.eig_tol:g}", "HVPs": est["bottom"]["hvps"],
         "how": "thick-restart Lanczos"},
        {"quantity": "trace (one estimate)", "HVPs": m, "how": "Hutch++ or Hutchinson, the budget chosen"},
        {"quantity": f"SLQ density, {s.slq_probes} probes x {s.slq_steps} steps",
         "HVPs": est["slq"][str(s.slq_steps)]["hvps"], "how": "probes x steps"},
        {"quantity": f"every layer: top {s.eig_k} and trace", "HVPs": sum(b["hvps"] for b in est["layers"].values()),
         "how": "per block; one shared graph and one set of probes"},
        {"quantity": "trace penalty, 1 probe", "HVPs": 1, "how": "one HVP with create_graph, then a backward through it"},
    ]
    return pd.DataFrame(rows)


def plot_lanczos(small: dict, est: dict, *, title: str):
    """Left: the exact spectrum with the Ritz values; right: error and certificate of the top one vs HVPs."""
    ev = small["eigvals"].numpy()
    fig, (a, b) = plt.subplots(2, 1, figsize=(FIGURE_WIDTH, 6.8))
    n = ev.size
    a.plot(np.arange(n), ev, color=PALETTE[7], lw=1.2, label="eigvalsh (all n)")
    k = len(est["top"]["values"])
    a.scatter(np.arange(n - k, n), est["top"]["values"].numpy()[::-1], color=PALETTE[0], marker="x", s=40, zorder=3,
              label=f"Lanczos top {k}")
    a.scatter(np.arange(k), est["bottom"]["values"].numpy(), color=PALETTE[3], marker="x", s=40, zorder=3,
              label=f"Lanczos bottom {k}")
    a.set_yscale("symlog", linthresh=1e-3)
    a.set(xlabel="index (ascending)", ylabel="eigenvalue (symlog)", title="spectrum and Ritz values")
    a.legend(loc="upper left")
    tr = est["trail"]
    lam = ev[-1]
    err = np.maximum(np.abs(np.asarray(tr["theta"]) - lam) / abs(lam), 1e-17)
    b.semilogy(tr["hvps"], err, "o-", color=PALETTE[0], ms=3, label=r"true error $|\theta - \lambda_1| / \lambda_1$")
    b.semilogy(tr["hvps"], np.asarray(tr["residual"]) / abs(lam), "s--", color=PALETTE[1], ms=3,
               label=r"certificate $\|Hy - \theta y\| / \lambda_1$")
    b.set(xlabel="HVPs", ylabel="relative to $\\lambda_1$", title="top eigenvalue: error and certificate")
    b.legend()
    fig.suptitle(title)
    fit_titles(fig)
    fig.tight_layout()
    return fig


def plot_trace(small: dict, est: dict, *, title: str):
    """Left: RMS relative error and mean reported stderr vs budget; right: estimates +- 2 stderr vs the truth."""
    truth = exact_trace(small)
    te = trace_errors(small, est)
    budgets = np.asarray(est["trace"]["budgets"])
    fig, (a, b) = plt.subplots(2, 1, figsize=(FIGURE_WIDTH, 6.8))
    for method in ("hutch++", "hutchinson"):
        c = METHOD_COLOURS[method]
        a.loglog(budgets, te[method]["rms"], "o-", color=c, label=f"{method}: RMS error over seeds")
        a.loglog(budgets, te[method]["stderr"], "--", color=c, alpha=0.8, label=f"{method}: mean reported stderr")
    ref = te["hutchinson"]["rms"][0] * np.sqrt(budgets[0] / budgets)
    a.loglog(budgets, ref, ":", color=PALETTE[7], lw=1, label=r"$\propto m^{-1/2}$")
    a.set_xticks(budgets, [str(m) for m in budgets])
    a.minorticks_off()
    a.set(xlabel="HVP budget m", ylabel="relative to |tr H|", title="error vs budget")
    a.legend()
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
    b.legend()
    fig.suptitle(title)
    fit_titles(fig)
    fig.tight_layout()
    return fig


def plot_density(small: dict, est: dict, steps: int, *, title: str, probes: int):
    """SLQ density (Gaussian broadening, sigma = 1% of the range) over the exact histogram, log scale."""
    ev = small["eigvals"].numpy()
    d = est["slq"][str(steps)]
    lo, hi = float(ev.min()), float(ev.max())
    sigma = 0.01 * (hi - lo)
    grid = np.linspace(lo - 5 * sigma, hi + 5 * sigma, 1500)
    slq = gaussian_density(d["nodes"], d["weights"], grid, sigma).numpy()
    exact_b = gaussian_density(torch.from_numpy(ev), torch.full((ev.size,), 1.0 / ev.size, dtype=torch.float64),
                               grid, sigma).numpy()
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH, 3.6))
    ax.hist(ev, bins=120, density=True, color=PALETTE[5], alpha=0.45, label="exact eigenvalues (histogram)")
    ax.plot(grid, exact_b, color=PALETTE[7], lw=1.0, label="exact, broadened")
    ax.plot(grid, slq, color=PALETTE[3], lw=1.6, label=f"SLQ, {probes} probes x {steps} steps ({d['hvps']} HVPs)")
    ax.set_yscale("log")
    top = max(float(exact_b.max()), float(slq.max()))
    ax.set_ylim(1e-5 * top, 5 * top)
    w1 = slq_w1(small, est, steps)
    ax.set(xlabel="eigenvalue", ylabel="density (log)", title=f"{title}; W1 / range = {w1:.4f}")
    ax.legend()
    fit_titles(fig)
    fig.tight_layout()
    return fig


def plot_penalty(small: dict, est: dict, *, title: str):
    st = penalty_stats(small, est)
    s = np.asarray(est["penalty"]["samples"])
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH, 3.2))
    ax.hist(s, bins=40, color=PALETTE[5], alpha=0.6, label=f"{s.size} penalties $v^T H v$ (1 probe each)")
    ax.axvline(st["truth"], color=PALETTE[7], lw=1.5, label=f"exact tr H = {st['truth']:.4g}")
    ax.axvline(st["mean"], color=PALETTE[3], lw=1.5, ls="--", label=f"mean = {st['mean']:.4g} ± {st['stderr']:.2g}")
    ax.set(xlabel="penalty value", ylabel="count", title=title)
    ax.legend()
    fit_titles(fig)
    fig.tight_layout()
    return fig
