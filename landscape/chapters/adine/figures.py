"""What the ADINE chapter draws (``book/adine.ipynb``): its figures, the precomputed images
of the kernel-free widgets, and the live widget (its tables are :mod:`.tables`)."""

from __future__ import annotations

import math
from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from ...experiment.params import Params
from ...experiment.style import FIGURE_WIDTH, PALETTE, fit_titles, panels, png
from ...methods.adine import spectral_radius
from ...training.curves import trailing_mean
from ...training.synthetic import toy_function
from .experiments import LABELS, METHODS, Results, adine_2d, final_acc

__all__ = ["COLOURS", "SADDLE_LABELS", "plot_escape_vs_m", "plot_escape_grid", "plot_saddle_paths", "usual_index",
           "plot_spectral_radius", "plot_quadratic", "plot_tuning", "plot_training", "plot_method", "plot_momentum",
           "plot_sensitivity", "plot_live", "saddle_images", "method_images", "live"]

COLOURS = {"sgd": PALETTE[7], "momentum": PALETTE[0], "nesterov": PALETTE[5], "adam": PALETTE[2], "adine": PALETTE[3]}
SADDLE_LABELS = {"quadratic": r"$x^2 - y^2$", "degenerate": r"$x^2 - y^4$", "monkey": r"$x^3 - 3xy^2$"}


# ---------------------------------------------------------------------------
# 1. saddles


def _contour(ax, fn, lim: float) -> None:
    """The map of ``fn`` on ``[-lim, lim]^2``: filled levels over the central 94% of values, the zero level in black."""
    g = np.linspace(-lim, lim, 121)
    xx, yy = np.meshgrid(g, g)
    zz = fn(torch.from_numpy(np.stack([xx.ravel(), yy.ravel()], 1))).numpy().reshape(xx.shape)
    lo, hi = np.percentile(zz, [3, 97])
    ax.contourf(xx, yy, zz, levels=np.linspace(lo, hi, 13), cmap="RdBu_r", alpha=0.55, extend="both")
    ax.contour(xx, yy, zz, levels=[0.0], colors="k", linewidths=0.6)
    ax.plot([0], [0], marker="x", color="k", ms=7)
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal")
    ax.grid(False)


def _escape_lim(escape_by: str, escape_at: float) -> float:
    return 1.6 * (escape_at if escape_by == "distance" else max(escape_at, 1e-3) ** 0.25 + 0.2)


def plot_saddle_paths(results: Results, p: Params, index: int, *, adine: bool = False):
    """One panel per saddle: the contour map and the trajectory of momentum
    ``saddle_momenta[index]`` (and, with ``adine=True``, ADINE's) from the first start."""
    esc = results.saddles
    names = [k for k in esc if k not in ("starts", "null_starts")]
    fig, axes = panels(len(names), height=3.4)
    lim = _escape_lim(p.escape_by, p.escape_at)
    m = p.saddle_momenta[index]
    for ax, name in zip(axes.flat, names):
        r = esc[name]
        _contour(ax, toy_function(name), lim)
        path = r["paths"][index]
        ax.plot(path[:, 0], path[:, 1], color=PALETTE[0], lw=1.6, label=f"m = {m:g}")
        ax.plot(path[-1:, 0], path[-1:, 1], "o", color=PALETTE[0], ms=4)
        if adine:
            ap = r["adine_path"]
            ax.plot(ap[:, 0], ap[:, 1], color=PALETTE[3], lw=1.2, ls="--", label="ADINE")
        n = r["steps"][index, list(p.saddle_lrs).index(p.saddle_lr), 0]
        ax.set_title(f"{SADDLE_LABELS.get(name, name)}: {'escapes at ' + str(n) if n > 0 else 'no escape in ' + str(p.saddle_max_steps)}")
        ax.legend(loc="lower left")
    fig.suptitle(f"constant momentum m = {m:g} at lr {p.saddle_lr:g}, from a point {np.linalg.norm(esc['starts'][0]):.2g} away "
                 f"from each saddle")
    fit_titles(fig)
    fig.tight_layout()
    return fig


def usual_index(p: Params) -> int:
    """The index of the saddle momentum closest to ADINE's usual m_s."""
    return int(np.argmin([abs(m - p.m_s) for m in p.saddle_momenta]))


def plot_escape_vs_m(results: Results, p: Params):
    """Median escape iterations against m, one colour per saddle: each m at its best
    learning rate (solid, claim 4.1) and at v1's fixed one (dashed, the variant); open
    triangles are lower bounds (not escaped); ADINE (at the fixed lr) as a dotted level."""
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH, 3.6))
    x = np.asarray(p.saddle_momenta, dtype=float)
    for i, (name, s) in enumerate(results.escape.items()):
        c = PALETTE[i]
        ax.plot(x, s["median"], "o-", color=c, label=f"{SADDLE_LABELS.get(name, name)}, best lr")
        ax.plot(x, s["fixed"]["median"], "s--", color=c, ms=3, lw=1, alpha=0.8)
        for med, cen in ((s["median"], s["censored"]), (s["fixed"]["median"], s["fixed"]["censored"])):
            if cen.any():
                ax.plot(x[cen], med[cen], "^", color=c, ms=9, mfc="white")
        ax.axhline(s["adine_median"], color=c, ls=":", lw=1)
    ax.axvline(1.0, color="k", lw=0.8, ls=":")
    ax.set(yscale="log", xlabel="momentum m (constant)", ylabel="iterations to escape (median over starts)",
           title=f"{p.saddle_method} momentum: each m at its best lr (solid), all at lr {p.saddle_lr:g} (dashed)")
    ax.plot([], [], "s--", color="grey", ms=3, lw=1, label=f"fixed lr {p.saddle_lr:g} (v1)")
    ax.plot([], [], "^", color="grey", mfc="white", label=f"not escaped in {p.saddle_max_steps}\n(a lower bound)")
    ax.plot([], [], ":", color="grey", label=f"ADINE at lr {p.saddle_lr:g}")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fit_titles(fig)
    fig.tight_layout()
    return fig


def plot_escape_grid(results: Results, p: Params):
    """One panel per saddle: log10 of the median escape iterations over (learning rate, m),
    each m's best learning rate circled and v1's fixed learning rate marked."""
    names = list(results.escape)
    fig, axes = panels(len(names), height=3.4, layout="constrained")
    lrs, ms = list(p.saddle_lrs), list(p.saddle_momenta)
    top = math.log10(p.saddle_max_steps + 1)
    for k, (ax, name) in enumerate(zip(axes.flat, names)):
        s = results.escape[name]
        im = ax.imshow(np.log10(s["grid"]), cmap="viridis_r", aspect="auto", vmin=0.0, vmax=top, origin="lower")
        best = [lrs.index(v) for v in s["lr"]]
        ax.plot(best, range(len(ms)), "o", mfc="none", mec="w", ms=8, mew=1.5)
        ax.axvline(lrs.index(p.saddle_lr), color="w", ls="--", lw=0.8)
        ax.axhline(next(i for i, m in enumerate(ms) if m >= 1) - 0.5, color="r", lw=0.8)
        ax.set_xticks(range(len(lrs)), [f"{v:g}" for v in lrs], rotation=45)
        ax.set_yticks(range(len(ms)), [f"{m:g}" for m in ms] if k % axes.shape[1] == 0 else [])
        ax.set(xlabel="learning rate", title=SADDLE_LABELS.get(name, name))
        ax.grid(False)
    for ax in axes[:, 0]:
        ax.set_ylabel("momentum m\n(red line: m = 1)")
    fig.colorbar(im, ax=axes.ravel().tolist(), shrink=0.85, label="log10 median iterations\nto escape")
    fig.suptitle("circles: each m's best learning rate; dashed: v1's fixed one")
    fit_titles(fig)
    return fig


def saddle_images(results: Results, p: Params) -> dict[str, Any]:
    """The trajectories of every constant momentum of the grid (:func:`plot_saddle_paths`),
    as compact PNGs for the momentum slider."""
    return {f"m = {m:g}": png(plot_saddle_paths(results, p, i)) for i, m in enumerate(p.saddle_momenta)}


# ---------------------------------------------------------------------------
# 2. why adaptive


def plot_spectral_radius(p: Params):
    """Spectral radius against m for each a = quad_lr * h_i of the quadratic, heavy ball and Nesterov."""
    curvature_lrs = [p.quad_lr * h for h in p.quad_curvatures]
    m_max = max(1.2, max(p.quad_momenta) + 0.05)
    ms = np.linspace(0.0, m_max, 241)
    fig, axes = plt.subplots(1, 2, figsize=(FIGURE_WIDTH, 3.4), sharey=True)
    for ax, method in zip(axes, ("heavy-ball", "nesterov")):
        for i, a in enumerate(curvature_lrs):
            ax.plot(ms, [spectral_radius(m, a, method) for m in ms], color=PALETTE[i], label=rf"$\eta h$ = {a:g}")
        ax.axhline(1.0, color="k", lw=0.8)
        ax.axvline(1.0, color="k", lw=0.8, ls=":")
        ax.set(xlabel="momentum m", title=method, ylim=(0.0, max(1.6, math.sqrt(m_max) + 0.1)))
    axes[0].set_ylabel("spectral radius")
    axes[1].legend()
    fit_titles(fig)
    fig.tight_layout()
    return fig


def plot_quadratic(results: Results, p: Params):
    """log10 of the iterates' norm (relative to the start) against the step, one line per m."""
    run = results.quad
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH, 3.4))
    steps = np.arange(run["log10_norm"].shape[1])
    for i, m in enumerate(p.quad_momenta):
        ax.plot(steps, run["log10_norm"][i], color=PALETTE[i % len(PALETTE)], label=f"m = {m:g}")
    ax.axhline(math.log10(p.diverge_factor), color="k", ls="--", lw=0.8, label=f"claim 4.2 bound ({p.diverge_factor:g} x)")
    ax.set(xlabel="iteration", ylabel=r"$\log_{10} \|x_t\| / \|x_0\|$", title="constant momentum on a convex quadratic")
    ax.legend(ncol=2)
    fit_titles(fig)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------
# 3. training curves


def _thin(y: np.ndarray, n_max: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Iterations 1..len(y) and ``y``, keeping at most about ``n_max`` evenly
    spaced points (the curves are smoothed, so nothing visible is lost and the
    page's PNGs stay small)."""
    y = np.asarray(y)
    n = y.shape[-1]
    k = max(1, math.ceil(n / n_max))
    idx = np.unique(np.r_[np.arange(0, n, k), n - 1]) if n else np.arange(0)
    return idx + 1, y[..., idx]


def _panels(n: int, width: float, height: float):
    """A figure with ``n`` panels in rows of two (``width`` is ignored: the figure fills the column)."""
    return panels(n, height=height)


def _mean_curve(runs: list[dict], window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    curves = [trailing_mean(x["losses"].numpy(), window) for x in runs]
    n = max(len(c) for c in curves)
    a = np.full((len(curves), n), np.nan)
    for i, c in enumerate(curves):
        a[i, : len(c)] = c
    with np.errstate(all="ignore"):
        return np.nanmean(a, 0), np.nanmin(a, 0), np.nanmax(a, 0)


def plot_training(results: Results, p: Params):
    """One row per setting: left, the smoothed training loss against iterations at the
    setting's own epochs (mean over seeds, band: min to max; learning rates tuned on the
    validation split) with the target of claim 4.3; right, the test accuracy against
    epochs up to the last budget run (mean, band: min to max), claim 4.4's budget marked."""
    window, training = p.smooth_window, results.training
    settings = list(training)
    if not settings:
        return None
    fig, axes = plt.subplots(len(settings), 2, figsize=(FIGURE_WIDTH, 2.8 * len(settings)), squeeze=False)
    for row, s in enumerate(settings):
        ax_l, ax_a = axes[row]
        o = training[s]
        last = o["by_budget"][max(o["by_budget"])]
        for m in METHODS:
            mean, lo, hi = _mean_curve(o["runs"][m], window)
            it, (mean, lo, hi) = _thin(np.stack([mean, lo, hi]))
            lw = 1.6 if m == "adine" else 1.1
            ax_l.plot(it, mean, color=COLOURS[m], lw=lw, label=f"{LABELS[m]} (lr {o['tuning']['lr'][m]:g})")
            ax_l.fill_between(it, lo, hi, color=COLOURS[m], alpha=0.15, lw=0)
            accs = [x["history"]["columns"]["test_acc"] for x in last[m] if not x["history"]["diverged"]]
            if accs:
                n = min(len(a) for a in accs)
                a = np.array([a[:n] for a in accs], dtype=float)
                ep = np.arange(n)
                ax_a.plot(ep, a.mean(0), "o-", ms=2.5, color=COLOURS[m], lw=lw, label=LABELS[m])
                ax_a.fill_between(ep, a.min(0), a.max(0), color=COLOURS[m], alpha=0.15, lw=0)
        ax_l.axhline(results.speed[s]["target"], color="k", ls="--", lw=0.8, label="target (claim 4.3)")
        ax_l.set(yscale="log", xlabel="iteration", ylabel=f"training loss (mean of {window})", title=f"{s}: {o['budgets'][0]} epochs")
        b = o["budget"]
        if b is not None:
            ax_a.axvline(b, color="k", ls="--", lw=0.8, label=f"every method plateaued ({b})")
        ax_a.set(xlabel="epoch", ylabel="test accuracy",
                 title=f"{s}: test accuracy" + ("" if b is not None else f" (no plateau by {max(o['by_budget'])})"))
        lo_acc = min(np.nanmin([final_acc(x) for x in last[m]]) for m in METHODS)
        ax_a.set_ylim(max(0.0, min(lo_acc, 0.9) - 0.05), 1.0)
        ax_l.legend(loc="upper right")
        ax_a.legend(loc="lower right")
    fit_titles(fig)
    fig.tight_layout()
    return fig


def plot_method(results: Results, method: str, *, window: int):
    """Training loss of one method (each seed, thin; mean, bold) against the
    other methods' means (grey), one panel per setting."""
    training = results.training
    settings = list(training)
    fig, axes = _panels(len(settings), 3.6, 2.7)
    for ax, s in zip(axes.flat, settings):
        for m in METHODS:
            if m != method:
                mean, _, _ = _mean_curve(training[s]["runs"][m], window)
                ax.plot(*_thin(mean), color="0.75", lw=1)
        for x in training[s]["runs"][method]:
            ax.plot(*_thin(trailing_mean(x["losses"].numpy(), window)), color=COLOURS[method], lw=0.7, alpha=0.6)
        mean, _, _ = _mean_curve(training[s]["runs"][method], window)
        ax.plot(*_thin(mean), color=COLOURS[method], lw=2)
        ax.set(yscale="log", title=s)
        ax.set_xlabel("iteration")
        ax.set_ylabel("training loss")
    fig.suptitle(f"{LABELS[method]} (colour: each seed and their mean); other methods grey (means)")
    fit_titles(fig)
    fig.tight_layout()
    return fig


def method_images(results: Results, p: Params) -> dict[str, Any]:
    """:func:`plot_method` for every optimizer, as PNGs for the optimizer selector."""
    return {LABELS[m]: png(plot_method(results, m, window=p.smooth_window)) for m in METHODS}


def plot_momentum(results: Results, p: Params):
    """Left: the fraction of ADINE's steps at m_g per setting (each seed a
    dot). Right: the running fraction over iterations (first seed)."""
    m_g, window = p.m_g, p.smooth_window
    settings = list(results.training)
    fig, (ax_b, ax_r) = plt.subplots(1, 2, figsize=(FIGURE_WIDTH, 3.2), gridspec_kw={"width_ratios": [1, 2]})
    for i, s in enumerate(settings):
        f = results.fractions[s]
        ax_b.bar(i, np.nanmean(f), color=PALETTE[i % len(PALETTE)], alpha=0.7)
        ax_b.plot(np.full(f.size, i), f, "k.", ms=4)
        mom = results.training[s]["runs"]["adine"][0]["momenta"].numpy()
        if mom.size:
            ax_r.plot(*_thin(trailing_mean((mom == m_g).astype(float), window)), color=PALETTE[i % len(PALETTE)], label=s)
    ax_b.set_xticks(range(len(settings)), settings, rotation=30, ha="right")
    ax_b.set(ylim=(0, 1), ylabel=f"fraction of steps at m_g = {m_g:g}")
    ax_r.set(ylim=(0, 1), xlabel="iteration", ylabel=f"fraction at m_g (last {window} steps)", title="ADINE's switch over training (first seed)")
    ax_r.legend()
    fit_titles(fig)
    fig.tight_layout()
    return fig


def plot_tuning(results: Results):
    """Final validation accuracy against the learning rate, per method and setting (the
    tuning runs, one seed each): the circled point is each method's choice, a cross a
    diverged run."""
    training = results.training
    settings = list(training)
    if not settings:
        return None
    fig, axes = _panels(len(settings), 3.6, 2.7)
    for ax, s in zip(axes.flat, settings):
        t = training[s]["tuning"]
        for m, rows in t["grid"].items():
            lrs, accs, losses = (np.array(v, dtype=float) for v in zip(*rows))
            ok = np.isfinite(losses)
            ax.plot(lrs[ok], 100 * accs[ok], "o-", color=COLOURS[m], label=LABELS[m], ms=3)
            if (~ok).any():
                ax.plot(lrs[~ok], np.full((~ok).sum(), 100 * np.nanmin(accs)), "x", color=COLOURS[m])
            chosen = t["lr"][m]
            ax.plot([chosen], [100 * dict(zip(lrs, accs))[chosen]], "o", mfc="none", mec="k", ms=8)
        ax.set(xscale="log", title=s)
        ax.set_xlabel("learning rate")
        ax.set_ylabel("validation accuracy (%)")
    axes.flat[0].legend()
    fit_titles(fig)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------
# 4. sensitivity


def plot_sensitivity(results: Results, p: Params):
    """Heat map of ADINE's final training loss over (m_g, tolerance) on ``sens_setting``,
    annotated with the loss ('div' where a run stopped on a non-finite loss). With a
    reference (Nesterov's loss, the row m_g = m_s) the colour is the ratio
    to it on a log scale, blue better and red worse (clipped at 10x either way)."""
    from matplotlib.colors import LogNorm

    grid, m_gs, tols, reference = results.sens_grid, p.sens_m_g, p.sens_tolerance, results.sens_reference
    fig, ax = plt.subplots(figsize=(1.2 * len(tols) + 2.6, 0.55 * len(m_gs) + 1.7))
    finite = np.isfinite(grid)
    if reference is not None and reference > 0:
        shown = np.where(finite, grid / reference, 10.0)
        im = ax.imshow(np.clip(shown, 0.1, 10.0), cmap="RdBu_r", aspect="auto", norm=LogNorm(vmin=0.1, vmax=10.0))
        label = "loss / Nesterov's"
        dark = lambda v: v < 0.25 or v > 4.0
    else:
        shown = np.where(finite, grid, np.nan)
        lo, hi = (np.nanmin(shown), np.nanmax(shown)) if finite.any() else (1e-3, 1.0)
        im = ax.imshow(shown, cmap="viridis", aspect="auto", norm=LogNorm(vmin=max(lo, 1e-8), vmax=max(hi, lo * 1.01, 1e-8)))
        label = "final training loss"
        dark = lambda v: v < np.sqrt(max(lo, 1e-8) * max(hi, 1e-8))
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            txt = f"{grid[i, j]:.3g}" if finite[i, j] else "div"
            ax.text(j, i, txt, ha="center", va="center",
                    color="w" if not finite[i, j] or dark(shown[i, j]) else "k")
    ax.set_xticks(range(len(tols)), [f"{t:g}" for t in tols])
    ax.set_yticks(range(len(m_gs)), [f"{m:g}" + (" (= m_s)" if m == p.m_s else "") for m in m_gs])
    ax.set(xlabel="tolerance", ylabel="m_g")
    ax.grid(False)
    title = "ADINE's final training loss"
    if reference is not None:
        title += f" (Nesterov at the same lr: {reference:.3g})"
    ax.set_title(f"{title}\n{p.sens_setting}, lr {results.sens_lr:g}")
    fig.colorbar(im, ax=ax, shrink=0.85, label=label)
    fit_titles(fig)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------
# live widget


def plot_live(name: str, *, start: Sequence[float], lr: float, m_s: float, m_g: float, tolerance: float, weight: float,
              steps: int, escape_by: str, escape_at: float):
    """ADINE on a toy saddle with the given settings: trajectory on the contour map and the momentum it used."""
    r = adine_2d(name, start, lr=lr, m_s=m_s, m_g=m_g, tolerance=tolerance, weight=weight, max_steps=steps,
                 escape_by=escape_by, escape_at=escape_at)
    fig, (ax, ax_m) = plt.subplots(1, 2, figsize=(FIGURE_WIDTH, 3.4), gridspec_kw={"width_ratios": [1, 1.3]})
    _contour(ax, toy_function(name), _escape_lim(escape_by, escape_at))
    ax.plot(r["path"][:, 0], r["path"][:, 1], color=PALETTE[3], lw=1.5)
    ax.set_title(f"{SADDLE_LABELS[name]}: {'escapes at ' + str(r['steps']) if r['steps'] > 0 else 'no escape in ' + str(steps)}")
    ax_m.plot(np.arange(1, r["momenta"].size + 1), r["momenta"], color=PALETTE[3], lw=1)
    ax_m.set(xlabel="iteration", ylabel="momentum m_t", title=f"m_s = {m_s:g}, m_g = {m_g:g}, tolerance = {tolerance:g}")
    fit_titles(fig)
    fig.tight_layout()
    return fig


def live(results: Results, p: Params):
    """The live widget's function and controls (it needs a kernel; the notebook passes them to
    ``page.live``): ADINE on a chosen saddle from the first starting point, with sliders for m_s,
    m_g and the tolerance (``live_steps`` iterations at ``saddle_lr``; m_g is raised to m_s when
    below it). Returns ``(show, controls)``."""
    import ipywidgets as w

    start0 = results.saddles["starts"][0]

    def show(saddle, m_s_, m_g_, tolerance_):
        plot_live(saddle, start=start0, lr=p.saddle_lr, m_s=m_s_, m_g=max(m_g_, m_s_), tolerance=tolerance_, weight=p.weight,
                  steps=p.live_steps, escape_by=p.escape_by, escape_at=p.escape_at)
        plt.show()

    return show, dict(
        saddle=w.Dropdown(options=list(p.saddle_functions), value=p.saddle_functions[-1], description="saddle"),
        m_s_=w.FloatSlider(value=p.m_s, min=0.0, max=0.99, step=0.01, description="m_s", continuous_update=False),
        m_g_=w.FloatSlider(value=min(p.m_g, 1.2), min=0.0, max=1.2, step=0.0001, readout_format=".4f", description="m_g", continuous_update=False),
        tolerance_=w.FloatSlider(value=p.tolerance, min=0.8, max=1.5, step=0.01, description="tolerance", continuous_update=False),
    )
