"""What the trajectories chapter shows: trajectories of the rank and the loss, the magnitude
and depth sweeps, tables; figures are shown as compact palette PNGs (:func:`show`)."""

from __future__ import annotations

import math
import warnings
from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import torch

from ...experiment.params import Params
from ...experiment.stats import difference, paired_difference
from ...experiment.style import FIGURE_WIDTH, PALETTE, fit_titles, png, suptitle
from ...methods import linear
from .experiments import (KINDS, INITS, Results, dims, init_spec, paired_rank_differences, rank_differences, summary,
                          synthetic_data, train_data)

__all__ = ["LABELS", "COLOURS", "show", "small", "kind_curves", "magnitude_curves", "plot_trajectories", "plot_landscape",
           "plot_magnitude", "plot_depths", "plot_time_to_gap", "live_figure", "success_table", "overview", "hessian_table"]

LABELS = {
    "none": "no noise", "gradient": "gradient noise", "dropout": "dropout", "weight": "weight noise",
    "input": "input noise", "label": "label noise",
}
COLOURS = {"none": "#000000", **{k: PALETTE[i] for i, k in enumerate(KINDS)}}


def small(fig):
    """The figure as a compact palette PNG at 1x (for the widget pages, which hold many figures)."""
    return png(fig, dpi=100, colors=256)


def show(fig) -> None:
    """Display a figure as a sharp palette PNG instead of matplotlib's RGBA PNG."""
    from IPython.display import display

    display(png(fig, dpi=180, colors=256))


def _band(ax, it, values, colour, label, log=False):
    v = np.asarray(values, dtype=float)
    if log:
        v = np.where(v > 0, v, np.nan)
    with warnings.catch_warnings():  # an all-zero column (the zero start) has no log: left out
        warnings.simplefilter("ignore", RuntimeWarning)
        med = np.nanmedian(v, 0)
        lo, hi = np.nanpercentile(v, 25, 0), np.nanpercentile(v, 75, 0)
    top = colour == "#000000"  # noiseless: dashed, on top of the others
    ax.plot(it, med, color=colour, lw=1.4 if top else 1.8, ls="--" if top else "-", label=label, zorder=5 if top else 2)
    ax.fill_between(it, lo, hi, color=colour, alpha=0.10 if top else 0.18, lw=0)


def _title(fig, text: str) -> None:
    suptitle(fig, text)
    fit_titles(fig)


def kind_curves(results: Mapping[str, dict], kinds: Sequence[str] | None = None) -> list[tuple[str, str, dict]]:
    """``(label, colour, result)`` for each kind of noise in ``results`` (noiseless first)."""
    kinds = [k for k in (kinds or ("none", *KINDS)) if k in results]
    return [(LABELS[k] if k == "none" else f"{LABELS[k]} {results[k]['magnitude']:.3g}", COLOURS[k], results[k]) for k in kinds]


def plot_trajectories(curves: Sequence[tuple[str, str, dict]], *, title: str, compact: bool = False):
    """Rank measures and loss gap against iterations: median over seeds and interquartile band,
    one colour per curve (``(label, colour, result)``, e.g. from :func:`kind_curves`).
    ``compact``: only the effective rank and the gap, side by side."""
    if compact:
        fig, (a, b) = plt.subplots(1, 2, figsize=(FIGURE_WIDTH, 3.8), layout="constrained")
        first = curves[0][2]
        it = np.asarray(first["iteration"])
        for lab, colour, r in curves:
            _band(a, it, r["effective_rank"], colour, lab)
            _band(b, it, np.maximum(linear.relative_gap(np.asarray(r["loss"]), r["loss_star"]), 1e-12), colour, lab, log=True)
        a.set(xlabel="iteration", ylabel="effective rank of W", title="effective rank")
        b.set(xlabel="iteration", ylabel="$(L - L^*) / L^*$", yscale="log", title="relative gap to $L^*$")
        fig.legend(*b.get_legend_handles_labels(), loc="outside lower center", ncol=2, frameon=False)
        _title(fig, title)
        return fig
    fig, axes = plt.subplots(2, 2, figsize=(FIGURE_WIDTH, 6.2), sharex=True, layout="constrained")
    first = curves[0][2]
    it = np.asarray(first["iteration"])
    width = first["width"]
    for lab, colour, r in curves:
        gap = linear.relative_gap(np.asarray(r["loss"]), r["loss_star"])
        _band(axes[0, 0], it, r["effective_rank"], colour, lab)
        _band(axes[0, 1], it, r["numerical_rank"], colour, lab)
        _band(axes[1, 0], it, r["smallest_sv"], colour, lab, log=True)
        _band(axes[1, 1], it, np.maximum(gap, 1e-12), colour, lab, log=True)
    axes[0, 0].set(ylabel="effective rank of W", title="effective rank (Roy and Vetterli 2007)")
    axes[0, 1].set(ylabel="numerical rank of W", title=f"numerical rank ($s_i > {first['rtol']:g}\\, s_1$)")
    axes[1, 0].set(ylabel=f"$s_{width}(W)$", yscale="log", title=f"smallest non-trivial singular value $s_{width}$", xlabel="iteration")
    axes[1, 1].set(ylabel="$(L - L^*) / L^*$", yscale="log", title="relative gap to the global optimum", xlabel="iteration")
    axes[0, 1].set_ylim(-0.1, width + 0.3)
    fig.legend(*axes[1, 1].get_legend_handles_labels(), loc="outside lower center", ncol=2, frameon=False)
    _title(fig, title)
    return fig


def plot_landscape(runs: Mapping[str, dict], crit: Sequence[float], *, title: str, seed_index: int = 0):
    """Section 1: the loss of single runs against the critical values (rank-k optima), and the singular values of one run."""
    fig, (a, b) = plt.subplots(2, 1, figsize=(FIGURE_WIDTH, 6.4), layout="constrained")
    styles = {"small, no noise": ("#000000", "-"), "deficient, no noise": (PALETTE[3], "-"),
              "zero, no noise": (PALETTE[2], "-"), "deficient, gradient noise": (PALETTE[0], "--")}
    for name, r in runs.items():
        c, ls = styles.get(name, ("grey", "-"))
        a.plot(r["iteration"], np.asarray(r["loss"])[seed_index], color=c, ls=ls, lw=1.8, label=name)
    for k, v in enumerate(crit):
        a.axhline(v, color="grey", lw=0.8, ls=":")
        a.text(0.12, v, f"$L_{k}$" + (" (global minimum)" if k == len(crit) - 1 else " (saddles)"),
               transform=a.get_yaxis_transform(), va="bottom", ha="left", color="grey")
    a.set(xlabel="iteration", ylabel="training loss", title="loss and the critical values $L_k$ (best rank-$k$ product)")
    a.legend(loc="upper right", bbox_to_anchor=(0.99, 0.85))
    r = runs["small, no noise"]
    sv = np.asarray(r["singular_values"])[seed_index]
    for i in range(len(crit) - 1):
        b.plot(r["iteration"], sv[:, i], lw=1.8, label=f"$s_{i + 1}$")
    b.set(xlabel="iteration", ylabel="singular value of W", yscale="log", title="small start, no noise: singular values of the product")
    b.legend(loc="lower right")
    _title(fig, title)
    return fig


def plot_magnitude(sweep: Mapping[str, list[tuple[float, dict]]], base: dict, gap_tol: float, *, title: str):
    """Fraction of runs within the gap, and mean effective rank, against the magnitude multiple, one line per kind."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(FIGURE_WIDTH, 3.9), layout="constrained")
    sb = summary(base, gap_tol)
    for k, pts in sweep.items():
        xs = [m for m, _ in pts]
        ss = [summary(r, gap_tol) for _, r in pts]
        a.errorbar(xs, [s["success"].mean() for s in ss], yerr=[_se(s["success"]) for s in ss], marker="o", color=COLOURS[k], label=LABELS[k], capsize=2)
        b.errorbar(xs, [s["er_mean"].mean() for s in ss], yerr=[_se(s["er_mean"]) for s in ss], marker="o", color=COLOURS[k], label=LABELS[k], capsize=2)
    a.axhline(sb["success"].mean(), color="black", lw=1.2, ls="--", label="no noise")
    b.axhline(sb["er_mean"].mean(), color="black", lw=1.2, ls="--", label="no noise")
    scales = sorted({m for pts in sweep.values() for m, _ in pts})
    for ax in (a, b):
        ax.set_xscale("log")
        ax.set_xticks(scales, [f"x{m:g}" for m in scales])
        ax.xaxis.set_minor_locator(plt.NullLocator())
        ax.set_xlabel("magnitude (x default)")
    a.set(ylabel=f"fraction within {gap_tol:.0%} of $L^*$", ylim=(-0.05, 1.05), title="reaching the global optimum")
    b.set(ylabel="effective rank (mean over steps)", title="effective rank of the product")
    fig.legend(*b.get_legend_handles_labels(), loc="outside lower center", ncol=3, frameon=False)
    _title(fig, title)
    return fig


def _se(v: np.ndarray) -> float:
    v = np.asarray(v, dtype=float)
    return float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else 0.0


def plot_depths(by_depth: Mapping[int, Mapping[str, dict]], gap_tol: float, *, title: str, paired: bool = False):
    """Fraction within the gap and effective-rank difference (noise minus none, +- 2 s.e.) at each depth, grouped bars per kind;
    with ``paired`` the difference and its s.e. are the per-seed paired ones (the v2 rule's), else of the means (v1's)."""
    diff_of = paired_rank_differences if paired else rank_differences
    fig, (a, b) = plt.subplots(1, 2, figsize=(FIGURE_WIDTH, 4.4), layout="constrained")
    depths = list(by_depth)
    kinds = ["none", *KINDS]
    w = 0.8 / len(kinds)
    for j, k in enumerate(kinds):
        xs = np.arange(len(depths)) + (j - (len(kinds) - 1) / 2) * w
        succ = [summary(by_depth[d][k], gap_tol)["success"] for d in depths]
        a.bar(xs, [s.mean() for s in succ], w, yerr=[_se(s) for s in succ], color=COLOURS[k], label=LABELS[k], capsize=1.5)
        if k != "none":
            diffs = [diff_of(by_depth[d], gap_tol)[k] for d in depths]
            b.bar(xs, [d.diff for d in diffs], w, yerr=[2 * d.stderr for d in diffs], color=COLOURS[k], label=LABELS[k], capsize=1.5)
    for ax in (a, b):
        ax.set_xticks(range(len(depths)), [f"H = {d}" for d in depths])
    for i, d in enumerate(depths):
        if all(summary(by_depth[d][k], gap_tol)["success"].sum() == 0 for k in kinds):
            a.text(i, 0.03, "no run reached $L^*$", ha="center", color="grey")
    a.set(ylabel=f"fraction within {gap_tol:.0%} of $L^*$", ylim=(0, 1.05), title="reaching the global optimum")
    b.axhline(0, color="black", lw=0.8)
    b.set(ylabel="effective rank: noise minus none", title="effective rank, noise minus none (+- 2 s.e." + (", paired)" if paired else ")"))
    handles, labels = a.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=3, frameon=False)
    _title(fig, title)
    return fig


def plot_time_to_gap(results: Mapping[str, dict], gap_tol: float, *, title: str):
    """Iterations to reach the gap, one dot per run that reached it, with the count of runs that did."""
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH, 3.8), layout="constrained")
    kinds = [k for k in ("none", *KINDS) if k in results]
    rng = np.random.default_rng(0)
    for i, k in enumerate(kinds):
        s = summary(results[k], gap_tol)
        t = s["time"][np.isfinite(s["time"])]
        ax.scatter(i + rng.uniform(-0.15, 0.15, len(t)), t, s=14, color=COLOURS[k], alpha=0.8)
        if len(t):
            ax.plot([i - 0.25, i + 0.25], [np.median(t)] * 2, color="black", lw=1.5)
        ax.text(i, 1.01, f"{len(t)}/{len(s['time'])} runs", transform=ax.get_xaxis_transform(), ha="center", va="bottom")
    ax.set_xticks(range(len(kinds)), [LABELS[k] for k in kinds], rotation=15)
    ax.set_ylabel(f"iterations to reach {gap_tol:.0%} of $L^*$")
    ax.set_title(title, pad=18)
    fit_titles(fig)
    return fig


def live_figure(kind: str, magnitude: float, depth: int, init: str, *, p: Params, runs: int = 5, iterations: int = 1500):
    """A small live run for the Explore section (not cached): ``runs`` seeds, one kind of noise."""
    if kind == "dropout":
        magnitude = min(magnitude, 0.9)
    x, y = train_data(synthetic_data(p))
    d = dims(p.d_in, p.d_out, p.width, depth)
    ini = init_spec(p, init)
    ws = linear.init_batch(d, ini["init"], list(range(runs)), scale=ini["scale"], dead=ini["dead"], dtype=torch.float64)
    out = {}
    for k, m in (("none", 0.0), (kind, magnitude)):
        nz = linear.Noise(k if m > 0 else "none", m, anneal=p.grad_anneal if k == "gradient" else 0.0, stop=int(p.noise_stop * iterations))
        res = linear.train_gd(ws, x, y, lr=p.lr, iterations=iterations, noise=nz, record_every=max(1, iterations // 100), rtol=p.rtol,
                              generator=torch.Generator().manual_seed(0))
        out[k] = {kk: v.numpy() for kk, v in res.items() if kk != "weights"}
        out[k].update(loss_star=linear.optimum(x, y, p.width)[1], magnitude=m, width=p.width, rtol=p.rtol)
    return plot_trajectories(kind_curves(out), title=f"live: {runs} seeds, H = {depth}, {init} start, {iterations} steps", compact=True)


def success_table(results: Mapping[str, dict], gap_tol: float):
    """Per kind: success fraction, full-rank fraction, effective rank, and the success
    among full-rank and rank-deficient final products, as a DataFrame."""
    rows = []
    base = summary(results["none"], gap_tol)
    for k in ("none", *KINDS):
        if k not in results:
            continue
        s = summary(results[k], gap_tol)
        full = s["full_rank"] == 1
        er = difference(s["er_mean"], base["er_mean"]) if k != "none" else None
        pe = paired_difference(s["er_mean"], base["er_mean"]) if k != "none" else None
        rows.append({
            "noise": LABELS[k],
            "magnitude": results[k]["magnitude"],
            "runs": len(s["gap"]),
            "within gap": s["success"].mean(),
            "full rank at end": full.mean(),
            "within gap | full rank": s["success"][full].mean() if full.any() else math.nan,
            "within gap | deficient": s["success"][~full].mean() if (~full).any() else math.nan,
            "mean eff. rank": s["er_mean"].mean(),
            "eff. rank vs none": str(er) if er is not None else "",
            "beyond noise": ("yes" if er.beyond else "no") if er is not None else "",
            "paired": f"{pe.diff:+.3g} +- {pe.stderr:.2g}" if pe is not None else "",
            "median steps to gap": float(np.nanmedian(s["time"])) if np.isfinite(s["time"]).any() else math.nan,
        })
    df = pd.DataFrame(rows)
    df.attrs["formats"] = {"magnitude": "{:g}", "within gap": "{:.2f}", "full rank at end": "{:.2f}",
                           "within gap | full rank": "{:.2f}", "within gap | deficient": "{:.2f}",
                           "mean eff. rank": "{:.3f}", "median steps to gap": "{:.0f}"}
    return df


def overview(sections: Mapping[str, Mapping[str, dict]], gap_tol: float):
    """One row per start, one column per kind: the effective-rank difference to noiseless
    (mean over seeds, +- 2 s.e., * when beyond noise) and the fraction within the gap."""
    rows = []
    for init, results in sections.items():
        base = summary(results["none"], gap_tol)
        row = {"start": init, "no noise: within gap": f"{base['success'].mean():.2f}", "no noise: eff. rank": f"{base['er_mean'].mean():.3f}"}
        for k, d in rank_differences(results, gap_tol).items():
            s = summary(results[k], gap_tol)
            row[LABELS[k]] = f"{d.diff:+.3f} +- {2 * d.stderr:.3f}{'*' if d.beyond else ''} | {s['success'].mean():.2f}"
        rows.append(row)
    return pd.DataFrame(rows)


def magnitude_curves(base: dict, pts: Sequence[tuple[float, dict]]) -> list[tuple[str, str, dict]]:
    """Curves for one kind of noise at several magnitudes (a sequential colour ramp), noiseless first."""
    cmap = plt.get_cmap("viridis")
    n = max(len(pts) - 1, 1)
    return [("no noise", "#000000", base)] + [(f"x{s:g} ({r['magnitude']:.3g})", cmap(0.9 * i / n), r) for i, (s, r) in enumerate(pts)]


def hessian_table(results: Results) -> pd.DataFrame:
    """The exact Hessian at the critical points of section 1 (:func:`~.experiments.hessian_rows`)."""
    df = pd.DataFrame(results.hessian)
    df.attrs["formats"] = {"loss": "{:.4f}", "gradient norm": "{:.1e}", "min eigenvalue": "{:.3g}", "max eigenvalue": "{:.3g}"}
    return df
