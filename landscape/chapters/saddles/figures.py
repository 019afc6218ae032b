r"""What the saddles chapter's page draws (``book/saddles.ipynb``), section by section:

1. :func:`plot_spectra` (the final spectra, every run's near-zero fraction);
2. :func:`plot_trajectory` (the spectrum along training);
3. :func:`plot_profiles`, :func:`plot_escape` (leaving the saddle, v1), :func:`plot_saddle_test` (saddle or
   flat minimum, 5.1 v2), :func:`plot_escape_v2` (the uncapped escape, 5.3 v2);
4. :func:`plot_semicircle`, :func:`plot_semicircle_cdf`;
5. :func:`plot_slq_check`, :func:`plot_big`;

and the kernel-free widgets' figures, :func:`explore_optimizers` and :func:`explore_epochs`.
Tables are in :mod:`landscape.chapters.saddles.tables`.
"""

from __future__ import annotations

import math
import textwrap
from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from ... import spectra
from ...curvature.density import gaussian_density
from ...experiment.params import Params
from ...experiment.style import FIGURE_WIDTH, PALETTE, fit_titles
from ...training.loop import History
from .experiments import NUM_CLASSES, Results
from .readings import end_readings, init_readings, null_reading, summary, trajectory
from .tables import LABELS, SHORT

__all__ = ["COLOURS", "LABELS", "data_label", "describe", "plot_histogram", "plot_spectra", "plot_trajectory",
           "plot_profiles", "plot_escape", "plot_semicircle", "semicircle_panels", "plot_semicircle_cdf",
           "plot_slq_check", "plot_big", "explore_optimizers", "explore_epochs", "plot_saddle_test", "plot_escape_v2"]

COLOURS = {"sgd": PALETTE[7], "momentum": PALETTE[0], "adam": PALETTE[2], "adagrad": PALETTE[1], "pgd": PALETTE[3]}


def data_label(results: Results, p: Params) -> str:
    """``digits (500 training examples, 8x8)``."""
    return f"{p.dataset} ({results.examples} training examples, {results.side}x{results.side})"


def describe(results: Results, p: Params) -> str:
    """One line: the data, the MLP's layer sizes and its parameter count, the runs."""
    dims = "-".join(map(str, [results.side * results.side, *p.widths, NUM_CLASSES]))
    return (f"{data_label(results, p)}; MLP {dims} ({results.n_params} parameters), "
            f"{len(p.optimizers)} optimizers x {len(p.seeds)} seeds")


def _wrap(text: str, width: int = 100) -> str:
    return "\n".join(textwrap.wrap(text, width))


def _finish(fig) -> None:
    """Titles wrapped to their panels, then the tight layout."""
    fit_titles(fig)
    fig.tight_layout()


def _symlog_edges(x: np.ndarray, linthresh: float, bins: int) -> np.ndarray:
    """Histogram edges equally spaced on a symlog axis covering ``x``."""
    f = lambda v: np.sign(v) * np.log10(1 + np.abs(v) / linthresh)
    g = lambda u: np.sign(u) * linthresh * (10 ** np.abs(u) - 1)
    lo, hi = f(min(x.min(), -linthresh)), f(max(x.max(), linthresh))
    return g(np.linspace(lo * 1.02, hi * 1.02, bins + 1))


def plot_histogram(ax, eigs: Any, p: Params, *, colour: str = PALETTE[0], title: str = "", bins: int = 60) -> None:
    r"""Histogram of :math:`\lambda / \lambda_{\max}` on a symlog axis (linear within the smallest relative
    tolerance), log-scaled counts, the near-zero band of ``zero_tol`` shaded."""
    x = np.asarray(torch.as_tensor(eigs, dtype=torch.float64))
    lmax = spectra.fractions(x, 0.0).scale
    x = x / lmax
    lt = min(p.rel_tols)
    ax.hist(x, bins=_symlog_edges(x, lt, bins), color=colour, alpha=0.85, log=True)
    ax.set_xscale("symlog", linthresh=lt)
    lo, hi = float(x.min()), float(x.max())
    # every other decade: at the column's width a panel has room for about five labels
    marks = (-1e-1, -1e-3, 0.0, 1e-3, 1e-1)
    ticks = [t for t in marks if lo * 1.5 <= t <= hi * 1.5 or t == 0.0]
    ax.set_xticks(ticks)
    ax.set_xticklabels(["0" if t == 0 else f"{t:g}" for t in ticks])
    ax.axvspan(-p.zero_tol, p.zero_tol, color="0.5", alpha=0.15, lw=0)
    ax.axvline(-p.neg_tol, color="0.3", lw=0.8, ls=":")
    ax.set_ylim(bottom=0.5)
    ax.set(xlabel=r"$\lambda / \lambda_{\max}$ (symlog)", ylabel="count (log)", title=title)


# --- 1 and 2 ------------------------------------------------------------------------


def plot_spectra(results: Results, p: Params, *, seed: int | None = None):
    """Section 1's figure: the final spectrum of each optimizer (one seed), and every run's near-zero fraction."""
    seed = p.seeds[0] if seed is None else seed
    runs, opts = results.runs, p.optimizers
    ncol = 2
    nrow = math.ceil((len(opts) + 1) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(FIGURE_WIDTH, 3.3 * nrow), squeeze=False)
    axes = axes.ravel()
    for ax, o in zip(axes, opts):
        sm = summary(runs[(o, seed)]["eigenvalues"], p)
        plot_histogram(ax, runs[(o, seed)]["eigenvalues"], p, colour=COLOURS[o],
                       title=f"{LABELS[o]}\n{sm['zero']:.0%} near 0; {sm['n_below']} below −{p.neg_tol:g} λmax")
    ax = axes[len(opts)]
    for i, o in enumerate(opts):
        z = [summary(runs[(o, s)]["eigenvalues"], p)["zero"] for s in p.seeds]
        ax.scatter(np.full(len(z), i), z, color=COLOURS[o], zorder=3)
        ax.plot([i - 0.3, i + 0.3], [np.mean(z)] * 2, color=COLOURS[o], lw=2.5)
    ax.axhline(p.zero_fraction_min, color="0.3", ls="--", lw=1, label="5.1 threshold")
    ax.set(xticks=range(len(opts)), ylim=(0, 1.02), ylabel=f"fraction |λ| ≤ {p.zero_tol:g} λmax", title="every seed (dots), mean (bar)")
    ax.set_xticklabels([SHORT[o] for o in opts], rotation=30, ha="right")
    ax.legend(loc="lower right")
    for ax in axes[len(opts) + 1:]:
        ax.set_visible(False)
    fig.suptitle(f"Hessian spectra at convergence (the paper's eigenvalue histograms at convergence)\n"
                 f"{data_label(results, p)}, MLP with {results.n_params} parameters, seed {seed}; "
                 f"shaded: |λ| ≤ {p.zero_tol:g} λmax, dotted: −{p.neg_tol:g} λmax", y=1.02)
    _finish(fig)
    return fig


def plot_trajectory(results: Results, p: Params, *, seed: int | None = None, optimizers: Sequence[str] | None = None):
    """Section 2's figure: near-zero fraction, negative count, the spectrum's ends and the loss against epochs."""
    seed = p.seeds[0] if seed is None else seed
    opts = list(p.optimizers if optimizers is None else optimizers)
    fig, axes = plt.subplots(2, 2, figsize=(FIGURE_WIDTH, 6.6))
    for o in opts:
        tr = trajectory(results, o, seed, p)
        hist = History.from_dict(results.runs[(o, seed)]["history"])
        c = COLOURS[o]
        axes[0, 0].plot(tr["epoch"], tr["zero"], "o-", color=c, label=LABELS[o])
        axes[0, 1].plot(tr["epoch"], tr["n_below"], "o-", color=c)
        axes[1, 0].plot(tr["epoch"], tr["lambda_max"], "o-", color=c)
        axes[1, 0].plot(tr["epoch"], np.abs(np.minimum(tr["lambda_min"], 0)), "s--", color=c, alpha=0.7)
        axes[1, 1].plot(hist["epoch"][1:], hist["train_eval_loss"][1:], color=c)
        axes[1, 1].plot(hist["epoch"], hist["grad_norm"], color=c, ls=":", alpha=0.8)
    axes[0, 0].set(ylabel=f"fraction |λ| ≤ {p.zero_tol:g} λmax", ylim=(0, 1), title="degeneracy")
    axes[0, 1].set(ylabel=f"eigenvalues below −{p.neg_tol:g} λmax", title="negative directions")
    axes[1, 0].set(yscale="log", ylabel="λmax (solid), |λmin| (dashed)", title="ends of the spectrum")
    axes[1, 1].set(yscale="log", ylabel="training loss (solid), |∇L| (dotted)", title="loss and gradient norm")
    for ax in axes.ravel():
        ax.set_xlabel("epoch")
    axes[0, 0].legend()
    fig.suptitle(f"The spectrum along training (not in the paper, which shows the end point only)\n"
                 f"exact Hessian at epochs {', '.join(str(int(e)) for e in tr['epoch'])}; {data_label(results, p)}, seed {seed}", y=1.02)
    _finish(fig)
    return fig


# --- 3 --------------------------------------------------------------------------------


def plot_profiles(results: Results, p: Params, *, optimizer: str | None = None, seed: int | None = None):
    r"""The loss change :math:`L(\theta^* + \alpha v) - L(\theta^*)` along the eigenvectors of the most negative
    eigenvalues and of the smallest :math:`|\lambda|` (left; thin dotted: the curvature term
    :math:`\tfrac12\lambda\alpha^2`), and along that of :math:`\lambda_{\max}` (right); one run (default: the
    first optimizer's first seed)."""
    o = p.optimizers[0] if optimizer is None else optimizer
    s = p.seeds[0] if seed is None else seed
    esc = results.escapes[(o, s)]
    fig, axes = plt.subplots(2, 1, figsize=(FIGURE_WIDTH, 6.6))
    a = esc["alphas"].numpy()
    base = esc["loss_star"]
    n = esc["profiles"].shape[0]
    colours = [PALETTE[3], PALETTE[1], PALETTE[4], PALETTE[5], PALETTE[6]]
    ax = axes[0]
    for j in range(n - 1):
        label, val = esc["labels"][j], float(esc["values"][j])
        c = colours[j % len(colours)] if j < n - 2 else PALETTE[2]
        ax.plot(a, esc["profiles"][j].numpy() - base, color=c, lw=2 if j < n - 2 else 1.5, ls="-" if j < n - 2 else "--",
                label=f"{label.replace('lambda', 'λ')} = {val:.2e}")
        if j < n - 2:
            ax.plot(a, 0.5 * val * a ** 2, color=c, lw=0.8, ls=":")
    ax.axvline(esc["alpha"], color="0.3", lw=0.8, ls="--")
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set(xlabel=r"step $\alpha$ along the unit eigenvector", ylabel=r"$L(\theta^*+\alpha v) - L(\theta^*)$",
           title="negative and flattest directions (dotted: ½λα²)")
    ax.legend()
    ax = axes[1]
    ax.plot(a, esc["profiles"][n - 1].numpy() - base, color=PALETTE[0], label=f"λmax = {float(esc['values'][n - 1]):.3g}")
    ax.plot(a, 0.5 * float(esc["values"][n - 1]) * a ** 2, color=PALETTE[0], lw=0.8, ls=":")
    ax.set(xlabel=r"step $\alpha$", title="the steepest direction, for scale")
    ax.legend()
    fig.suptitle(_wrap(f"Loss along Hessian eigenvectors at the end of {LABELS[o]} (seed {s})\n(the paper's 'good saddle' "
                       f"argument, measured; {data_label(results, p)}, {results.n_params} parameters)"), y=1.02)
    _finish(fig)
    return fig


def plot_escape(results: Results, p: Params):
    """Relative loss decrease from escaping, every run: the step alone, and the step plus the extra epochs
    against the same epochs without the step."""
    fig, axes = plt.subplots(1, 2, figsize=(FIGURE_WIDTH, 3.8))
    opts = p.optimizers
    for i, o in enumerate(opts):
        for ax, key in zip(axes, ("jump_gain", "gain")):
            v = [100 * results.escapes[(o, s)][key] for s in p.seeds]
            ax.scatter(np.full(len(v), i), v, color=COLOURS[o], zorder=3)
    axes[0].set(title="the step alone: (L* − L(θ*+α*v)) / L*", ylabel="relative loss decrease (%)")
    axes[1].set(title=f"step + {p.escape_epochs} epochs vs the same epochs without it", ylabel="relative loss decrease (%)")
    axes[1].axhline(100 * p.escape_gain_max, color="0.3", ls="--", lw=1, label="5.3 threshold")
    axes[1].axhline(-100 * p.escape_gain_max, color="0.3", ls="--", lw=1)
    axes[1].legend()
    for ax in axes:
        ax.axhline(0, color="0.5", lw=0.8)
        ax.set_xticks(range(len(opts)))
        ax.set_xticklabels([SHORT[o] for o in opts], rotation=30, ha="right", rotation_mode="anchor")  # five names in a half-column
    fig.suptitle(f"What escaping the saddle buys (the paper's 'good saddle' argument, measured)\n{data_label(results, p)}, every run", y=1.04)
    _finish(fig)
    return fig


def plot_saddle_test(results: Results, p: Params):
    """Claim 5.1(c), every point: the loss drop of the line search along ±v_min against the median drop
    along random unit directions (left; above the diagonal: a saddle by (c)), and the gradient
    norm relative to the initial one against the near-zero fraction (right: (a) and (b))."""
    ends, inits, null = end_readings(results, p), init_readings(results, p), null_reading(results, p)
    fig, axes = plt.subplots(2, 1, figsize=(FIGURE_WIDTH, 7.4))
    drops = [float(r[k]) for r in [*ends.values(), *inits.values()] for k in ("decrease_random", "decrease_min")]
    floor = min([d for d in drops if d > 0] or [1e-12]) / 10          # where a zero drop (the null's) is drawn
    pos = lambda x: max(float(x), floor)
    for (o, s), r in ends.items():
        axes[0].scatter(pos(r["decrease_random"]), pos(r["decrease_min"]), color=COLOURS[o], zorder=3,
                        label=SHORT[o] if s == p.seeds[0] else None)
        axes[1].scatter(r["zero"], r["grad_ratio"], color=COLOURS[o], zorder=3)
    for r in inits.values():
        axes[0].scatter(pos(r["decrease_random"]), pos(r["decrease_min"]), marker="x", color="0.3", zorder=3,
                        label="initialization" if r is next(iter(inits.values())) else None)
        axes[1].scatter(r["zero"], r["grad_ratio"], marker="x", color="0.3", zorder=3)
    axes[0].scatter(pos(null["decrease_random"]), pos(null["decrease_min"]), marker="s", facecolor="none", edgecolor="k",
                    s=60, zorder=4, label="null: strict minimum (zero drops, drawn at the floor)")
    axes[1].scatter(null["zero"], max(null["grad_ratio"], 1e-8), marker="s", facecolor="none", edgecolor="k", s=60, zorder=4)
    lo = min(min(pos(r["decrease_random"]), pos(r["decrease_min"])) for r in [*ends.values(), *inits.values()])
    hi = max(max(pos(r["decrease_random"]), pos(r["decrease_min"])) for r in [*ends.values(), *inits.values()])
    axes[0].plot([lo, hi], [lo, hi], color="0.5", lw=1, ls="--")
    axes[0].set(xscale="log", yscale="log", xlabel="loss drop, random unit directions (median of the searches)",
                ylabel="loss drop along ±v_min", title="(c): does negative curvature beat a random direction?")
    handles, labels = axes[0].get_legend_handles_labels()
    axes[1].legend(handles, labels, loc="lower left")   # the empty corner of the right panel
    axes[1].set(yscale="log", xlabel=f"fraction |λ| ≤ {p.zero_tol:g} λmax", ylabel="|∇L| / |∇L at init|",
                title="(a) near-stationary (below the line), (b) degenerate (right of it)")
    axes[1].axhline(p.stationary_tol, color="0.3", ls="--", lw=1)
    axes[1].axvline(p.zero_fraction_min, color="0.3", ls="--", lw=1)
    fig.suptitle(f"Saddle or flat minimum? Claim 5.1 under the v2 rule\n{data_label(results, p)}, every run (x: at initialization)",
                 y=1.05)
    _finish(fig)
    return fig


def plot_escape_v2(results: Results, p: Params):
    """Claim 5.3 under v2, every run: what the uncapped escape plus the extra epochs buys over the control,
    as a share of all the loss decrease training achieved (symmetric-log axis), beside the step length."""
    fig, axes = plt.subplots(1, 2, figsize=(FIGURE_WIDTH, 3.8))
    opts = p.optimizers
    for i, o in enumerate(opts):
        g = [100 * results.checks[(o, s)]["gain"] for s in p.seeds]
        a = [abs(results.checks[(o, s)]["alpha_min"]) for s in p.seeds]
        axes[0].scatter(np.full(len(g), i), g, color=COLOURS[o], zorder=3)
        axes[1].scatter(np.full(len(a), i), a, color=COLOURS[o], zorder=3)
    axes[0].axhline(100 * p.escape_gain_max, color="0.3", ls="--", lw=1, label="5.3 threshold")
    axes[0].axhline(0, color="0.5", lw=0.8)
    axes[0].set_yscale("symlog", linthresh=1e-4)
    axes[0].set(title="(L control − L escaped) / (L init − L end)", ylabel="share of the decrease (%)")
    axes[0].set_ylim(top=max(axes[0].get_ylim()[1], 10 * 100 * p.escape_gain_max))
    axes[0].legend()
    axes[1].axhline(p.line_radius, color="0.3", ls=":", lw=1, label="v1's cap")
    axes[1].set(yscale="log", title="the step |α*| (line search until the loss rises)", ylabel="|α*|")
    axes[1].legend()
    for ax in axes:
        ax.set_xticks(range(len(opts)))
        ax.set_xticklabels([SHORT[o] for o in opts], rotation=30, ha="right", rotation_mode="anchor")  # five names in a half-column
    fig.suptitle(f"Escaping the end point, v2\n{data_label(results, p)}, every run", y=1.05)
    _finish(fig)
    return fig


# --- 4 --------------------------------------------------------------------------------


def semicircle_panels(results: Results, p: Params) -> list[tuple[str, Any, spectra.SemicircleFit]]:
    """The three spectra section 4 shows (first seed): the GOE control, the Hessian at initialization and at
    the end of the first optimizer's run, each with its fit."""
    s0, o0 = p.seeds[0], p.optimizers[0]
    semi = results.semicircle
    return [(f"GOE control, n = {results.n_params}", semi.goe_eigs[s0], semi.goe[s0]),
            ("Hessian at initialization", results.inits[s0], semi.init[s0]),
            (f"Hessian at the end, {LABELS[o0]}", results.runs[(o0, s0)]["eigenvalues"], semi.final[(o0, s0)])]


def plot_semicircle(results: Results, p: Params):
    r"""One panel per spectrum of :func:`semicircle_panels`: the bulk's histogram on the fitted semicircle's own
    scale, :math:`u = (\lambda - c)/R` (so every fitted law is the unit semicircle :math:`\tfrac2\pi\sqrt{1-u^2}`),
    with the KS distance and the share of the bulk outside the window in the title."""
    panels = semicircle_panels(results, p)
    ncol = 2
    nrow = math.ceil(len(panels) / ncol)
    fig, grid = plt.subplots(nrow, ncol, figsize=(FIGURE_WIDTH, 3.4 * nrow), squeeze=False, sharey=True)
    for ax in grid.ravel()[len(panels):]:
        ax.set_visible(False)
    axes = grid.ravel()[None, :len(panels)]
    u = np.linspace(-1, 1, 400)
    for ax, (title, eigs, fit) in zip(axes[0], panels):
        b = (spectra.bulk(eigs, fit.trim) - fit.center) / fit.radius
        inside = np.abs(b) <= 3
        ax.hist(b[inside], bins=np.linspace(-3, 3, 61), weights=np.full(int(inside.sum()), 1.0 / (b.size * 0.1)),
                color=PALETTE[5], alpha=0.8, label="bulk")
        ax.plot(u, 2 / np.pi * np.sqrt(1 - u * u), color=PALETTE[3], lw=2, label="fitted semicircle")
        ax.set(xlim=(-3, 3), ylim=(0, 2.0), xlabel="(λ − c) / R",
               title=f"{title}\nKS = {fit.ks:.3f}, R = {fit.radius:.2g}\n{1 - inside.mean():.0%} of the bulk beyond |u| = 3")
    axes[0, 0].set_ylabel("density")
    axes[0, 0].legend()
    fig.suptitle(f"Wigner's semicircle against the bulk of the spectrum (the paper's semicircle-law check)\n"
                 f"{data_label(results, p)}, seed {p.seeds[0]}", y=1.04)
    _finish(fig)
    return fig


def plot_semicircle_cdf(results: Results, p: Params):
    """Empirical bulk CDF against the fitted semicircle's, for the first optimizer's first-seed Hessian and for
    that seed's GOE control, on the standardized axis :math:`(\\lambda - c)/R` (where the KS distance is read off)."""
    s0, o0 = p.seeds[0], p.optimizers[0]
    semi = results.semicircle
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH, 3.6))
    for e, f, c, name in ((semi.goe_eigs[s0], semi.goe[s0], PALETTE[0], "GOE control"),
                          (results.runs[(o0, s0)]["eigenvalues"], semi.final[(o0, s0)], PALETTE[3], "Hessian")):
        b = spectra.bulk(e, f.trim)
        u = (b - f.center) / f.radius
        ax.step(u, np.arange(1, b.size + 1) / b.size, where="post", color=c, label=f"{name} bulk (KS {f.ks:.3f})")
    u = np.linspace(-1.5, 1.5, 400)
    ax.plot(u, spectra.semicircle_cdf(u, 0.0, 1.0), color="0.2", ls="--", label="semicircle")
    ax.set(xlim=(-1.5, 1.5), xlabel="(λ − c) / R", ylabel="CDF",
           title=f"Bulk CDFs against the fitted semicircle (the paper's semicircle-law check;\n{LABELS[o0]}, seed {s0}; "
                 f"{data_label(results, p)})")
    ax.legend()
    _finish(fig)
    return fig


# --- 5 --------------------------------------------------------------------------------


def _cdf_steps(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(x)
    return x[order], np.cumsum(w[order])


def plot_slq_check(results: Results, p: Params):
    r"""Distribution function of :math:`\lambda/\lambda_{\max}`: exact eigenvalues against the SLQ quadrature, and
    the Lanczos extreme eigenvalues against the exact ones (the first optimizer's first-seed run)."""
    o0, s0 = p.optimizers[0], p.seeds[0]
    check = results.check
    ex = np.sort(np.asarray(torch.as_tensor(results.runs[(o0, s0)]["eigenvalues"], dtype=torch.float64)))
    lmax = ex.max()
    fig, axes = plt.subplots(2, 1, figsize=(FIGURE_WIDTH, 6.4))
    ax = axes[0]
    ax.step(ex / lmax, np.arange(1, ex.size + 1) / ex.size, where="post", color=PALETTE[0], lw=2, label="exact (dense)")
    x, c = _cdf_steps(check["nodes"].numpy() / lmax, check["weights"].numpy())
    ax.step(x, c, where="post", color=PALETTE[3], label=f"SLQ ({p.slq_probes} probes x {p.slq_steps} steps)")
    ax.set_xscale("symlog", linthresh=min(p.rel_tols))
    ax.axvspan(-p.zero_tol, p.zero_tol, color="0.5", alpha=0.15, lw=0)
    ax.set(xlabel=r"$\lambda/\lambda_{\max}$ (symlog)", ylabel="cumulative fraction", title="spectral distribution")
    ax.legend(loc="upper left")
    ax = axes[1]
    k = len(check["smallest"])
    ax.plot(range(1, k + 1), ex[:k], "o", color=PALETTE[0], label="exact smallest")
    ax.plot(range(1, k + 1), check["smallest"].numpy(), "x", color=PALETTE[3], ms=9, label="Lanczos smallest")
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set(xlabel="index i", ylabel=r"$\lambda_i$", title=f"λmax exact {lmax:.4g}, Lanczos {float(check['largest'][0]):.4g}")
    ax.legend()
    fig.suptitle(_wrap(f"SLQ and Lanczos against the exact spectrum (a check, not in the paper; {LABELS[o0]}, seed {s0}; "
                       f"{data_label(results, p)}, {results.n_params} parameters)"), y=1.02)
    _finish(fig)
    return fig


def plot_big(results: Results, p: Params):
    r"""The large network's Hessian at the end of training: the SLQ density (Gaussian-broadened, log scale) with the
    Lanczos extreme eigenvalues marked (left), and the SLQ distribution of :math:`\lambda/\lambda_{\max}` on a
    symlog axis, where the near-zero band shows (right)."""
    big = results.big
    fig, axes = plt.subplots(2, 1, figsize=(FIGURE_WIDTH, 6.4))
    r = big["final"]
    lmax = float(r["largest"][0])
    lo = min(float(r["smallest"][0]), float(r["nodes"].min()))
    grid = np.linspace(lo - 0.05 * (lmax - lo), lmax * 1.05, 2000)
    dens = gaussian_density(r["nodes"], r["weights"], grid, 0.005 * (lmax - lo)).numpy()
    ax = axes[0]
    ax.semilogy(grid, np.maximum(dens, 1e-300), color=PALETTE[0], label="SLQ density")
    for i, v in enumerate(r["smallest"].numpy()):
        ax.axvline(v, color=PALETTE[3], lw=0.8, ls=":", label="Lanczos smallest" if i == 0 else None)
    ax.axvline(lmax, color=PALETTE[2], lw=0.8, ls="--", label="Lanczos largest")
    ax.set(ylim=(1e-7 * dens.max(), 2 * dens.max()), xlabel="λ", ylabel="density (log)", title="density")
    ax.legend()
    ax = axes[1]
    x, c = _cdf_steps(r["nodes"].numpy() / lmax, r["weights"].numpy())
    ax.step(x, c, where="post", color=PALETTE[0])
    for v in r["smallest"].numpy():
        ax.axvline(v / lmax, color=PALETTE[3], lw=0.8, ls=":")
    ax.set_xscale("symlog", linthresh=min(p.rel_tols))
    ax.axvspan(-p.zero_tol, p.zero_tol, color="0.5", alpha=0.15, lw=0)
    ax.set(xlabel=r"$\lambda/\lambda_{\max}$ (symlog)", ylabel="cumulative fraction (SLQ)", title="distribution")
    fig.suptitle(_wrap(f"SLQ density of the {p.big_model} Hessian at the end of training (the paper's estimated spectra of "
                       f"larger networks)\n({big['n_params']} parameters; {data_label(results, p)}, Hessian on "
                       f"{big['hessian_n']} examples)"), y=1.04)
    _finish(fig)
    return fig


# --- widgets ------------------------------------------------------------------------------


def explore_optimizers(results: Results, p: Params) -> dict[str, Any]:
    """One figure per optimizer (first seed): its final spectrum and its degeneracy along training."""
    figs = {}
    s = p.seeds[0]
    for o in p.optimizers:
        fig, axes = plt.subplots(2, 1, figsize=(FIGURE_WIDTH, 6.2))
        plot_histogram(axes[0], results.runs[(o, s)]["eigenvalues"], p, colour=COLOURS[o], title="at convergence")
        tr = trajectory(results, o, s, p)
        axes[1].plot(tr["epoch"], tr["zero"], "o-", color=COLOURS[o], label="near zero")
        axes[1].plot(tr["epoch"], tr["negative"], "s--", color=PALETTE[3], label=f"negative (< −{p.zero_tol:g} λmax)")
        axes[1].set(xlabel="epoch", ylabel="fraction", ylim=(0, 1), title="along training")
        axes[1].legend()
        fig.suptitle(f"{LABELS[o]}: {data_label(results, p)}, seed {s}")
        _finish(fig)
        figs[LABELS[o]] = fig
    return figs


def explore_epochs(results: Results, p: Params) -> dict[str, Any]:
    """One figure per epoch with an exact spectrum (first seed): every optimizer's histogram at that epoch."""
    s = p.seeds[0]
    opts, runs = p.optimizers, results.runs
    trs = {o: [results.inits[s], *list(runs[(o, s)]["snapshot_eigenvalues"]), runs[(o, s)]["eigenvalues"]] for o in opts}
    epochs = [0, *runs[(opts[0], s)]["snapshot_epochs"], History.from_dict(runs[(opts[0], s)]["history"]).last["epoch"]]
    figs = {}
    for i, e in enumerate(epochs):
        ncol = min(len(opts), 2)
        nrow = math.ceil(len(opts) / ncol)
        fig, grid = plt.subplots(nrow, ncol, figsize=(FIGURE_WIDTH, 3.0 * nrow), squeeze=False, sharey=True)
        for ax in grid.ravel()[len(opts):]:
            ax.set_visible(False)
        axes = grid.ravel()[None, :len(opts)]
        for ax, o in zip(axes[0], opts):
            eigs = trs[o][i]
            plot_histogram(ax, eigs, p, colour=COLOURS[o], title=f"{LABELS[o]}\n{summary(eigs, p)['zero']:.0%} near 0", bins=40)
            ax.set_xlabel("λ/λmax")
        for ax in grid[:, 1:].ravel():
            ax.set_ylabel("")
        fig.suptitle(f"epoch {e}: {data_label(results, p)}, seed {s}", y=1.02)
        _finish(fig)
        figs[f"epoch {e}"] = fig
    return figs
