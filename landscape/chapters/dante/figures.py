"""What the DANTE chapter draws (``book/dante.ipynb``): the comparisons of DANTE
with SGD and Adam, one layer's loss (segments, level sets), the autoencoder,
the sensitivity runs, the Explore section's figure sets and the live widget's
figure. The tables are in :mod:`.tables` (re-exported here)."""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np

from ...experiment.params import Params
from ...experiment.style import PALETTE, suptitle
from ...training.loop import History
from .experiments import METHODS, MethodRuns, Results, final_accuracies
from .tables import (ACT_LABEL, DATA_LABEL, autoencoder_table, describe_excess, gaps_table, largest_excess, overview,
                     sensitivity_table, speed_table, step_norm_text, subproblem_table, summary_table)

__all__ = [
    "COLORS", "ACT_LABEL", "DATA_LABEL", "plot_comparison", "comparisons", "plot_activation", "plot_grid", "plot_segments",
    "plot_levelsets", "subproblem_figures", "plot_autoencoder", "plot_reconstructions", "autoencoder_figures",
    "plot_sensitivity", "sensitivity_figure", "plot_sensitivity_curves", "explore_depths", "explore_grids",
    "explore_steps", "live", "overview", "step_norm_text", "summary_table", "gaps_table", "subproblem_table",
    "largest_excess", "describe_excess", "autoencoder_table", "sensitivity_table", "speed_table",
]

COLORS = {"SGD": PALETTE[0], "Adam": PALETTE[1], "DANTE": PALETTE[3]}

#: figures are drawn at about this many pixels wide (before a retina doubling), whatever their size in inches
FIG_PIXELS = 700


def _subplots(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float], **kwargs):
    """``plt.subplots`` at a resolution that keeps the figure about :data:`FIG_PIXELS` wide
    (wide multi-panel figures would otherwise store very large PNGs in the notebook)."""
    return plt.subplots(nrows, ncols, figsize=figsize, dpi=min(110.0, FIG_PIXELS / figsize[0]), **kwargs)


def _log_y(ax) -> None:
    """A log-scale y axis labelled with plain numbers (0.02, 0.5, 2) instead of powers of ten."""
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:.3g}"))
    ax.yaxis.set_minor_locator(mticker.LogLocator(subs=(2.0, 5.0)))

    def minor(v, _):  # label 2x and 5x ticks only when the axis spans under two decades
        lo, hi = ax.get_ylim()
        return f"{v:.3g}" if lo > 0 and hi / lo < 100 else ""

    ax.yaxis.set_minor_formatter(mticker.FuncFormatter(minor))


def _mean_curve(hs: Sequence[History], key: str, x: str = "epoch") -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``x`` (mean over runs), the mean of ``key`` and its range (min, max) over runs, per epoch."""
    n = min(len(h) for h in hs)
    ys = np.array([[np.nan if v is None else v for v in h[key][:n]] for h in hs], dtype=float)
    xs = np.array([h[x][:n] for h in hs], dtype=float).mean(0)
    return xs, np.nanmean(ys, 0), np.nanmin(ys, 0), np.nanmax(ys, 0)


# --- classifiers -------------------------------------------------------------------------------


def plot_comparison(by_act: Mapping[str, Mapping[str, MethodRuns]], *, title: str, methods: Sequence[str] = METHODS):
    """Rows: activations; columns: test accuracy and training loss against
    epochs, then against wall time. Mean over seeds, band = range over seeds."""
    acts = list(by_act)
    fig, axes = _subplots(len(acts), 4, figsize=(11, 2.6 * len(acts) + 0.8), squeeze=False)
    for i, act in enumerate(acts):
        lows = [0.8]
        for m in methods:
            r = by_act[act][m]
            for j, (x, key) in enumerate([("epoch", "test_acc"), ("epoch", "train_eval_loss"), ("time", "test_acc"), ("time", "train_eval_loss")]):
                ax = axes[i, j]
                xs, mu, lo, hi = _mean_curve(r.runs, key, x)
                ax.plot(xs, mu, color=COLORS[m], lw=2, label=f"{m} (lr {r.best_lr:g})", marker="o" if x == "time" else None, ms=2.5)
                ax.fill_between(xs, lo, hi, color=COLORS[m], alpha=0.18, lw=0)
                ax.set_xlabel("epoch" if x == "epoch" else "training wall time (s)")
                if key == "train_eval_loss":
                    _log_y(ax)
                    ax.set_ylabel("training loss (cross-entropy)")
                else:
                    ax.set_ylabel("test accuracy")
                    lows.append(np.nanmin(mu[1:]) if len(mu) > 1 else 0.0)
        for j in (0, 2):
            axes[i, j].set_ylim(max(0.0, min(0.8, min(lows)) - 0.02), 1.0)
        axes[i, 0].set_title(f"{ACT_LABEL.get(act, act)}", loc="left", fontweight="bold")
        axes[i, 0].legend(loc="lower right", fontsize="small")
    suptitle(fig, title)
    fig.tight_layout()
    return fig


def comparisons(results: Results, p: Params, depth: int) -> list:
    """:func:`plot_comparison` for every data set, with one (``depth=1``) or two hidden layers."""
    figs = []
    for name in results.present:
        if depth == 1:
            title = (f"One hidden layer ({p.width} units), {DATA_LABEL[name]} ({results.n_train[name]} training images), "
                     f"mean of {len(p.seeds)} seeds - the paper's one-hidden-layer comparison of DANTE with SGD and Adam, at small scale")
            figs.append(plot_comparison(results.one[name], title=title))
        else:
            title = (f"Two hidden layers ({'-'.join(map(str, p.deep_widths))} units), {DATA_LABEL[name]}, mean of {len(p.seeds)} seeds - "
                     "the paper's multi-layer comparison of DANTE with SGD and Adam, at small scale")
            figs.append(plot_comparison(results.two[name], title=title))
    return figs


def plot_activation(by_data: Mapping[str, Mapping[str, Mapping[str, MethodRuns]]], activation: str, *, title: str,
                    methods: Sequence[str] = METHODS):
    """One activation across data sets: test accuracy against epochs and
    against wall time, one pair of panels per data set (mean over seeds, band = range)."""
    names = list(by_data)
    fig, axes = _subplots(1, 2 * len(names), figsize=(2.75 * 2 * len(names), 3.1), squeeze=False)
    for k, name in enumerate(names):
        lows = [0.8]
        for m in methods:
            r = by_data[name][activation][m]
            for j, x in enumerate(("epoch", "time")):
                xs, mu, lo, hi = _mean_curve(r.runs, "test_acc", x)
                ax = axes[0, 2 * k + j]
                ax.plot(xs, mu, color=COLORS[m], lw=2, label=f"{m} (lr {r.best_lr:g})", marker="o" if x == "time" else None, ms=2.5)
                ax.fill_between(xs, lo, hi, color=COLORS[m], alpha=0.18, lw=0)
                lows.append(np.nanmin(mu[1:]) if len(mu) > 1 else 0.0)
        for j, x in enumerate(("epoch", "training wall time (s)")):
            axes[0, 2 * k + j].set(xlabel=x, ylabel="test accuracy", ylim=(max(0.0, min(lows) - 0.02), 1.0), title=DATA_LABEL.get(name, name))
        axes[0, 2 * k].legend(fontsize="x-small", loc="lower right")
    suptitle(fig, title)
    fig.tight_layout()
    return fig


def plot_grid(by_act: Mapping[str, Mapping[str, MethodRuns]], method: str, *, title: str):
    """The learning-rate grid of one method: test accuracy and training loss
    against epochs, first seed, one line per rate; the chosen rate in bold."""
    acts = list(by_act)
    fig, axes = _subplots(1, 2 * len(acts), figsize=(2.9 * 2 * len(acts), 3.0), squeeze=False)
    for i, act in enumerate(acts):
        r = by_act[act][method]
        for k, lr in enumerate(r.grid):
            h = r.grid[lr][0]
            best = lr == r.best_lr
            style = dict(color=PALETTE[k % len(PALETTE)], lw=2.6 if best else 1.2, label=f"lr {lr:g}" + (" (chosen)" if best else ""))
            axes[0, 2 * i].plot(h["epoch"], h["test_acc"], **style)
            axes[0, 2 * i + 1].plot(h["epoch"], h["train_eval_loss"], **style)
        axes[0, 2 * i].set(xlabel="epoch", ylabel="test accuracy", ylim=(0, 1), title=f"{method}, {ACT_LABEL.get(act, act)}")
        axes[0, 2 * i + 1].set(xlabel="epoch", ylabel="training loss", title=f"{method}, {ACT_LABEL.get(act, act)}")
        _log_y(axes[0, 2 * i + 1])
        axes[0, 2 * i].legend(fontsize="small", loc="lower right")
    suptitle(fig, title)
    fig.tight_layout()
    return fig


# --- the sub-problem -------------------------------------------------------------------------


def plot_segments(subs: Mapping[str, dict], *, title: str):
    """Loss along each segment between two solutions, per activation, relative to the
    larger endpoint: above 0 is the excess."""
    acts = list(subs)
    fig, axes = _subplots(1, len(acts), figsize=(4.2 * len(acts), 3.3), squeeze=False)
    for ax, act in zip(axes[0], acts):
        r = subs[act]
        t = r["t"].numpy()
        for k, row in enumerate(r["segments"].numpy()):
            rel = row - max(row[0], row[-1])
            ax.plot(t, rel, color=PALETTE[k % len(PALETTE)], lw=1.4)
        ax.axhline(0, color="k", lw=1, ls="--")
        ax.set(xlabel="t (0: one solution, 1: the other)",
               ylabel="L(t) - max(L(0), L(1))  (nats)",
               title=f"{ACT_LABEL.get(act, act)}: largest excess {float(r['excess'].max()):.2g}")
    suptitle(fig, title)
    fig.tight_layout()
    return fig


def plot_levelsets(subs: Mapping[str, dict], *, title: str):
    """Level sets of one layer's loss on the plane through three solutions;
    the shaded region is the sublevel set at the larger of the two ends of
    the white segment (convex for a quasi-convex function)."""
    acts = list(subs)
    fig, axes = _subplots(1, len(acts), figsize=(4.2 * len(acts), 3.9), squeeze=False)
    for ax, act in zip(axes[0], acts):
        r = subs[act]
        a, b, z = r["plane_a"].numpy(), r["plane_b"].numpy(), r["surface"].numpy()
        pts = r["points"].numpy()
        level = float(max(r["solution_loss"][0], r["solution_loss"][1]))
        cs = ax.contour(a, b, z.T, levels=14, cmap="viridis", linewidths=0.9)
        ax.contourf(a, b, z.T, levels=[z.min() - 1, level], colors=[PALETTE[5]], alpha=0.35)
        ax.clabel(cs, fontsize=6, fmt="%.2f")
        ax.plot(pts[:2, 0], pts[:2, 1], color="w", lw=2.5)
        ax.plot(pts[:2, 0], pts[:2, 1], color="k", lw=1, ls=":")
        ax.scatter(pts[:, 0], pts[:, 1], color="k", zorder=3, s=18)
        for k, (pa, pb) in enumerate(pts):
            ax.annotate(f"S{k + 1}", (pa, pb), textcoords="offset points", xytext=(4, 4), fontsize=8)
        ax.set(xlabel="direction S1 -> S2 (units of |S2 - S1|)", ylabel="orthogonal direction to S3", title=ACT_LABEL.get(act, act))
        ax.set_aspect("equal", adjustable="box")
    suptitle(fig, title)
    fig.tight_layout()
    return fig


def subproblem_figures(results: Results, p: Params) -> list:
    """:func:`plot_segments` and :func:`plot_levelsets` of the chapter's sub-problems."""
    title = (f"One hidden layer's loss with the output layer fixed, {DATA_LABEL[p.sub_dataset]} ({p.sub_points} examples), "
             f"{p.sub_width} hidden units - the paper's quasi-convexity argument, measured")
    return [plot_segments(results.subproblems, title="Loss along the segments between solutions: " + title),
            plot_levelsets(results.subproblems, title="Level sets on the plane through three solutions S1, S2, S3: " + title)]


# --- autoencoder -----------------------------------------------------------------------------


def plot_autoencoder(ae: Mapping[str, MethodRuns], *, title: str, greedy_epochs: int):
    """Test reconstruction error against epochs and wall time (mean over seeds, band = range)."""
    fig, axes = _subplots(1, 2, figsize=(10, 3.4))
    for m, r in ae.items():
        for ax, x in zip(axes, ("epoch", "time")):
            xs, mu, lo, hi = _mean_curve(r.runs, "test_loss", x)
            label = f"{m} (lr {r.best_lr:g})" + (", after greedy stages" if m == "DANTE" else "")
            ax.plot(xs, mu, color=COLORS[m], lw=2, label=label, marker="o", ms=2.5)
            ax.fill_between(xs, lo, hi, color=COLORS[m], alpha=0.18, lw=0)
    axes[0].axvspan(0, greedy_epochs, color="0.85", alpha=0.5, lw=0, label="DANTE's greedy stages")
    axes[0].set(xlabel="epoch", ylabel="test reconstruction MSE")
    axes[1].set(xlabel="training wall time (s)", ylabel="test reconstruction MSE")
    _log_y(axes[0])
    _log_y(axes[1])
    axes[0].legend(fontsize="small")
    suptitle(fig, title)
    fig.tight_layout()
    return fig


def plot_reconstructions(ae: Mapping[str, MethodRuns], *, title: str):
    """First row: test images; then each method's reconstructions (first seed)."""
    methods = list(ae)
    images = ae[methods[0]].images
    n = images.shape[0]
    fig, axes = _subplots(1 + len(methods), n, figsize=(1.1 * n, 1.2 * (1 + len(methods)) + 0.4), squeeze=False)
    rows = [("test image", images)] + [(m, ae[m].recon) for m in methods]
    for i, (label, imgs) in enumerate(rows):
        for j in range(n):
            ax = axes[i, j]
            ax.imshow(imgs[j].reshape(imgs.shape[-2], imgs.shape[-1]).numpy(), cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            ax.grid(False)
        axes[i, 0].set_ylabel(label, rotation=0, ha="right", va="center")
    suptitle(fig, title)
    fig.tight_layout()
    return fig


def autoencoder_figures(results: Results, p: Params) -> list:
    """:func:`plot_autoencoder` and :func:`plot_reconstructions` of the chapter's autoencoders."""
    size = "-".join(map(str, [784 if p.ae_dataset != "digits" else 64, *p.ae_widths]))
    greedy = len(p.ae_widths) * p.ae_pretrain_epochs
    return [plot_autoencoder(results.autoencoders, greedy_epochs=greedy, title=(
                f"Autoencoder {size} ({p.ae_activation}), {DATA_LABEL[p.ae_dataset]}: test reconstruction error - "
                "the paper's DANTE autoencoder experiment, at small scale")),
            plot_reconstructions(results.autoencoders,
                                 title=f"Test images and their reconstructions (first seed), autoencoder {size}, {DATA_LABEL[p.ae_dataset]}")]


# --- sensitivity -----------------------------------------------------------------------------


def plot_sensitivity(sens: Mapping[str, Mapping[float, list[History]]], *, title: str):
    """Final test accuracy against DANTE's step size, one line per schedule (mean, error bar 1 std)."""
    fig, ax = _subplots(figsize=(6.5, 3.6))
    for k, (sched, by_lr) in enumerate(sens.items()):
        lrs = list(by_lr)
        acc = [final_accuracies(hs) for hs in by_lr.values()]
        mu = [np.nanmean(a) for a in acc]
        sd = [np.nanstd(a, ddof=1) if len(a) > 1 else 0.0 for a in acc]
        ax.errorbar(lrs, mu, yerr=sd, color=PALETTE[k % len(PALETTE)], marker="o", capsize=3, lw=1.8, label=sched)
    ax.set(xscale="log", xlabel="DANTE step size eta (norm of every update)", ylabel="final test accuracy")
    ax.legend(title="schedule", fontsize="small")
    suptitle(fig, title)
    fig.tight_layout()
    return fig


def sensitivity_figure(results: Results, p: Params):
    """:func:`plot_sensitivity` of the chapter's sensitivity runs."""
    return plot_sensitivity(results.sensitivity, title=(
        f"DANTE's final test accuracy over step size and schedule, {DATA_LABEL[p.sens_dataset]}, "
        f"one hidden layer ({p.width} units, {p.sens_activation}), mean of {len(p.sens_seeds)} seeds"))


def plot_sensitivity_curves(sens: Mapping[str, Mapping[float, list[History]]], lr: float, *, title: str):
    """Test accuracy against epochs at step size ``lr``, one line per schedule (mean over seeds)."""
    fig, ax = _subplots(figsize=(6.5, 3.4))
    for k, (sched, by_lr) in enumerate(sens.items()):
        xs, mu, lo, hi = _mean_curve(by_lr[lr], "test_acc")
        ax.plot(xs, mu, color=PALETTE[k % len(PALETTE)], lw=2, label=sched)
        ax.fill_between(xs, lo, hi, color=PALETTE[k % len(PALETTE)], alpha=0.15, lw=0)
    ax.set(xlabel="epoch", ylabel="test accuracy", ylim=(0, 1))
    ax.legend(title="schedule", fontsize="small", loc="lower right")
    suptitle(fig, title)
    fig.tight_layout()
    return fig


# --- Explore and the live widget ---------------------------------------------------------------


def explore_depths(results: Results, p: Params) -> dict:
    """Label -> :func:`plot_activation` figure, for every activation and depth."""
    return {f"{ACT_LABEL[act]}, {depth}": plot_activation(res, act, title=f"{ACT_LABEL[act]}, {depth}: test accuracy, mean of {len(p.seeds)} seeds")
            for depth, res in (("1 hidden layer", results.one), ("2 hidden layers", results.two)) for act in p.activations}


def explore_grids(results: Results) -> dict:
    """Method -> :func:`plot_grid` figure, one hidden layer, first data set."""
    first = results.present[0]
    return {m: plot_grid(results.one[first], m, title=f"{m}: the learning-rate grid, one hidden layer, {DATA_LABEL[first]}, first seed")
            for m in METHODS}


def explore_steps(results: Results, p: Params) -> dict:
    """Label -> :func:`plot_sensitivity_curves` figure, one per step size."""
    return {f"step {lr:g}": plot_sensitivity_curves(results.sensitivity, lr, title=f"DANTE, step size {lr:g}, {DATA_LABEL[p.sens_dataset]}, {p.sens_activation}")
            for lr in p.sens_lrs}


def live(h: History, *, step: float, schedule: str):
    """The live widget's figure: test accuracy against epochs of one DANTE run on digits (32 units)."""
    fig, ax = plt.subplots(figsize=(5.5, 3))
    ax.plot(h["epoch"], h["test_acc"], marker="o", color=COLORS["DANTE"])
    ax.set(xlabel="epoch", ylabel="test accuracy", ylim=(0, 1), title=f"DANTE on digits, 32 units, step {step:g}, {schedule}")
    return fig
