"""What the DANTE chapter draws (``book/dante.ipynb``): the comparisons of DANTE
with SGD and Adam, one layer's loss (segments, level sets), the autoencoder,
the sensitivity runs, the Explore section's figure sets and the live widget's
figure. The tables are in :mod:`.tables` (re-exported here)."""

from __future__ import annotations

import math
from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import matplotlib.ticker as mticker
import numpy as np

from ...experiment.params import Params
from ...experiment.style import FIGURE_WIDTH, PALETTE, fit_titles, suptitle
from ...training.loop import History
from .experiments import METHODS, NULL_METHOD, AutoencoderRuns, MethodRuns, Results, final_accuracies, paired_gaps, speed_rows
from .tables import (ACT_LABEL, DATA_LABEL, autoencoder_table, describe_excess, gaps_table, gaps_table_v1, largest_excess,
                     lr_table, overview, seed_table, sensitivity_table, speed_table, speed_table_v1, step_norm_text,
                     subproblem_table, summary_table)

__all__ = [
    "COLORS", "ACT_LABEL", "DATA_LABEL", "plot_comparison", "comparisons", "plot_gaps", "gaps_figure", "plot_speed",
    "speed_figure", "plot_activation", "plot_grid", "plot_segments", "plot_levelsets", "subproblem_figures",
    "plot_autoencoder", "plot_reconstructions", "autoencoder_figures", "plot_sensitivity", "sensitivity_figure",
    "plot_sensitivity_curves", "explore_depths", "explore_grids", "explore_steps", "live", "overview", "step_norm_text",
    "summary_table", "gaps_table", "gaps_table_v1", "seed_table", "lr_table", "subproblem_table", "largest_excess",
    "describe_excess", "autoencoder_table", "sensitivity_table", "speed_table", "speed_table_v1",
]

COLORS = {"SGD": PALETTE[0], "Adam": PALETTE[1], "DANTE": PALETTE[3], NULL_METHOD: "0.55"}

def _subplots(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float], **kwargs):
    """``plt.subplots`` in the book's column: at most :data:`~landscape.experiment.style.FIGURE_WIDTH`
    wide (the height scaled with the width, to no less than 3/4 of it), and a single row of more
    than two panels wrapped into rows of two (returned as one row of ``ncols`` axes, the spare one hidden)."""
    width, height = figsize
    if nrows == 1 and ncols > 2:
        rows = math.ceil(ncols / 2)
        kwargs.pop("squeeze", None)
        fig, grid = plt.subplots(rows, 2, figsize=(FIGURE_WIDTH, height * rows), squeeze=False, **kwargs)
        for ax in grid.ravel()[ncols:]:
            ax.set_visible(False)
        return fig, grid.ravel()[:ncols].reshape(1, ncols)
    scale = min(1.0, FIGURE_WIDTH / width)
    return plt.subplots(nrows, ncols, figsize=(width * scale, height * max(scale, 0.75)), **kwargs)


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


def _median_repeat(recs: Sequence[dict]) -> dict:
    """The timed repeat whose whole run time is the median of the repeats'."""
    order = sorted(range(len(recs)), key=lambda i: recs[i]["seconds"])
    return recs[order[len(order) // 2]]


# --- classifiers -------------------------------------------------------------------------------


def plot_comparison(by_act: Mapping[str, Mapping[str, MethodRuns]], timed: Mapping[str, Mapping[str, list]],
                    targets: Mapping[str, float], *, horizon: int, title: str, methods: Sequence[str] = METHODS):
    """Rows: activations; columns: validation accuracy and training loss against epochs (mean
    over seeds at the chosen rate, band = range over seeds), then validation accuracy against
    training wall time in claim 2.3's timed runs (first seed, the median repeat, evaluated every
    few mini-batches; dashed: the target), up to ``horizon`` mini-batches of the slowest method."""
    acts = list(by_act)
    fig, grid = plt.subplots(3, len(acts), figsize=(FIGURE_WIDTH, 8.4), squeeze=False)
    axes = grid.T  # a column per activation: axes[i, j] is activation i's panel j
    for i, act in enumerate(acts):
        lows, right = [0.8], 0.0
        for m in methods:
            r = by_act[act][m]
            hs = [x.history for x in r.at("v2")]
            for j, key in enumerate(("val_acc", "train_eval_loss")):
                xs, mu, lo, hi = _mean_curve(hs, key)
                axes[i, j].plot(xs, mu, color=COLORS[m], lw=2, label=f"{m} (lr {r.best_lr:g})")
                axes[i, j].fill_between(xs, lo, hi, color=COLORS[m], alpha=0.18, lw=0)
                if key == "val_acc":
                    lows.append(np.nanmin(mu[1:]) if len(mu) > 1 else 0.0)
            rec = _median_repeat(timed[act][m])
            steps, t = np.asarray(rec["step"]), np.asarray(rec["time"])
            keep = steps <= horizon
            axes[i, 2].plot(t[keep], np.asarray(rec["val_acc"])[keep], color=COLORS[m], lw=1.6)
            right = max(right, float(t[keep][-1]) if keep.any() else 0.0)
        axes[i, 2].axhline(targets[act], color="k", lw=1, ls="--", label="target")
        axes[i, 2].set_xlim(0, right * 1.02 if right > 0 else 1)
        axes[i, 0].set(xlabel="epoch", ylabel="validation accuracy")
        axes[i, 1].set(xlabel="epoch", ylabel="training loss (cross-entropy)")
        _log_y(axes[i, 1])
        axes[i, 2].set(xlabel="wall time (s), timed run", ylabel="validation accuracy")
        for j in (0, 2):
            axes[i, j].set_ylim(max(0.0, min(0.8, min(lows)) - 0.02), 1.0)
        axes[i, 0].set_title(f"{ACT_LABEL.get(act, act)}", fontweight="bold")
        axes[i, 0].legend(loc="lower right")
        axes[i, 2].legend(loc="lower right")
    suptitle(fig, title)
    fit_titles(fig)
    fig.tight_layout()
    return fig


def _targets(results: Results, depth: str, name: str, p: Params) -> dict[str, float]:
    rows = speed_rows({depth: {name: results.by_depth[depth][name]}}, {depth: {name: results.timing[depth][name]}},
                      p.speed_fraction)
    return {r["activation"]: r["target acc"] for r in rows}


def comparisons(results: Results, p: Params, depth: int) -> list:
    """:func:`plot_comparison` for every data set, with one (``depth=1``) or two hidden layers."""
    figs, d = [], str(depth)
    for name in results.present:
        horizon = p.epochs * math.ceil(results.n_fit[name] / p.batch_size)
        layers = f"one hidden layer ({p.width} units)" if depth == 1 else f"two hidden layers ({'-'.join(map(str, p.deep_widths))} units)"
        title = (f"{layers.capitalize()}, {DATA_LABEL[name]}, {results.n_fit[name]} training images, mean of {len(p.seeds)} "
                 f"seeds - the paper's {'one-hidden-layer' if depth == 1 else 'multi-layer'} comparison of DANTE with SGD and "
                 "Adam, at small scale; bottom row: the timed runs of claim 2.3")
        figs.append(plot_comparison(results.by_depth[d][name], results.timing[d][name], _targets(results, d, name, p),
                                    horizon=horizon, title=title))
    return figs


#: the left end of :func:`plot_gaps`' axis (points); a null beyond it is drawn as an arrow with its value
LEFT = -30.0


def plot_gaps(results: Results, p: Params, *, title: str):
    """Claims 2.1 and 2.2 at a glance: per case (depth, data set, activation) the paired
    difference DANTE - backprop with its interval (+- 2 SE), under the headline protocol and
    under v1's grid, and the null (output layer only); the dashed line is -margin."""
    fig, ax = _subplots(figsize=(5.0, 0.42 * 4 * len(results.present) + 2.4))
    labels, y = [], 0
    for depth, by_data in results.by_depth.items():
        gaps = {"v2": paired_gaps(by_data), "v1's grid": paired_gaps(by_data, "v1 grid"), "null": paired_gaps(by_data, method=NULL_METHOD)}
        for key in gaps["v2"]:
            for k, (proto, colour, dy) in enumerate((("v2", COLORS["DANTE"], 0.0), ("v1's grid", PALETTE[2], 0.22),
                                                      ("null", COLORS[NULL_METHOD], -0.22))):
                d = gaps[proto][key]["diff"]
                label = None if y else {"v2": "v2 (6-point grids, validation)", "v1's grid": "v1's 3-point grid (variant)",
                                        "null": f"null: {NULL_METHOD}"}[proto]
                if d.upper < LEFT:    # far off the scale: an arrow at the edge, the value beside it
                    ax.plot([LEFT + 0.6], [y + dy], marker="<", color=colour, ms=6, ls="", label=label)
                    ax.annotate(f"{d.diff:+.0f}", (LEFT + 1.2, y + dy), va="center", color=colour)
                    continue
                ax.errorbar([d.diff], [y + dy], xerr=[[2 * d.stderr], [2 * d.stderr]], color=colour, marker="o", ms=4,
                            capsize=3, lw=1.6, label=label)
            labels.append(f"{depth} hidden, {DATA_LABEL.get(key[0], key[0])}, {key[1]}")
            y += 1
    ax.axvline(-p.acc_margin, color="k", ls="--", lw=1, label=f"-margin ({p.acc_margin:g} points)")
    ax.axvline(0, color="0.6", lw=0.8)
    ax.set_yticks(range(len(labels)), labels)
    ax.invert_yaxis()
    ax.set_xlim(LEFT, max(ax.get_xlim()[1], 2))
    ax.set_xlabel("test accuracy, DANTE - the backprop method chosen\non validation (points, paired; bar: +- 2 SE)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=1)
    suptitle(fig, title)
    fit_titles(fig)
    fig.tight_layout()
    return fig


def gaps_figure(results: Results, p: Params):
    """:func:`plot_gaps` of the chapter's runs."""
    return plot_gaps(results, p, title=f"Claims 2.1 and 2.2: DANTE against the backprop method chosen on validation, "
                                       f"{len(p.seeds)} paired seeds")


def plot_speed(rows: list[dict], p: Params, *, title: str):
    """Claim 2.3 per configuration: the time ratio DANTE / backprop (dot: median of the repeats'
    times; bar: the range of the per-repeat ratios; an arrow: not reached, a lower bound) and
    the per-epoch cost ratio (x); the dashed line is the rule's bound."""
    fig, ax = _subplots(figsize=(5.8, 0.42 * len(rows) + 2.4))
    for y, r in enumerate(rows):
        rep = [x for x in r["ratio per repeat"] if math.isfinite(x)]
        ax.plot([min(rep), max(rep)] if rep else [], [y, y] if rep else [], color=COLORS["DANTE"], lw=3, alpha=0.4)
        ax.plot([r["ratio low"]], [y], "o", color=COLORS["DANTE"], label=None if y else "time to target, DANTE / backprop")
        if not math.isfinite(r["ratio high"]) or r["ratio high"] != r["ratio low"]:
            ax.annotate("", xy=(r["ratio low"] * 1.6 + 0.1, y), xytext=(r["ratio low"], y),
                        arrowprops=dict(arrowstyle="->", color=COLORS["DANTE"]))
        ax.plot([r["cost ratio"]], [y], "x", color="k", label=None if y else "per-epoch cost ratio, DANTE / SGD")
    ax.axvline(p.speed_ratio, color="k", ls="--", lw=1, label=f"rule: median <= {p.speed_ratio:g}")
    med = float(np.median([r["ratio low"] for r in rows])) if rows else math.nan
    if math.isfinite(med) and med > 0:
        ax.axvline(med, color=COLORS["DANTE"], ls=":", lw=1.5, label=f"median over configurations ({med:.2f})")
    ax.set_yticks(range(len(rows)), [f"{r['hidden layers']} hidden, {DATA_LABEL.get(r['data'], r['data'])}, {r['activation']}"
                                     for r in rows])
    ax.invert_yaxis()
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(mticker.FuncFormatter(lambda v, _: f"{v:g}" if round(v, 6) in (0.5, 2.0, 3.0, 5.0) else ""))
    ax.set_xlabel("ratio (log scale); bar: the range of the repeats' ratios")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=1)
    suptitle(fig, title)
    fit_titles(fig)
    fig.tight_layout()
    return fig


def speed_figure(results: Results, p: Params):
    """:func:`plot_speed` of the chapter's timed runs."""
    rows = speed_rows(results.by_depth, results.timing, p.speed_fraction)
    return plot_speed(rows, p, title=(f"Claim 2.3: time to {p.speed_fraction:.0%} of the best final validation accuracy, "
                                      f"median of {p.speed_repeats} timed repeats (first seed)"))


def plot_activation(by_data: Mapping[str, Mapping[str, Mapping[str, MethodRuns]]], activation: str, *, title: str,
                    methods: Sequence[str] = METHODS):
    """One activation across data sets: validation accuracy against epochs, one panel per data
    set (mean over seeds, band = range)."""
    names = list(by_data)
    fig, axes = _subplots(1, len(names), figsize=(4.2 * len(names), 3.1), squeeze=False)
    for k, name in enumerate(names):
        lows = [0.8]
        ax = axes[0, k]
        for m in methods:
            r = by_data[name][activation][m]
            xs, mu, lo, hi = _mean_curve([x.history for x in r.at("v2")], "val_acc")
            ax.plot(xs, mu, color=COLORS[m], lw=2, label=f"{m} (lr {r.best_lr:g})")
            ax.fill_between(xs, lo, hi, color=COLORS[m], alpha=0.18, lw=0)
            lows.append(np.nanmin(mu[1:]) if len(mu) > 1 else 0.0)
        ax.set(xlabel="epoch", ylabel="validation accuracy", ylim=(max(0.0, min(lows) - 0.02), 1.0), title=DATA_LABEL.get(name, name))
        ax.legend(loc="lower right")
    suptitle(fig, title)
    fit_titles(fig)
    fig.tight_layout()
    return fig


def plot_grid(by_act: Mapping[str, Mapping[str, MethodRuns]], method: str, *, title: str):
    """The learning-rate grid of one method: validation accuracy and training loss against
    epochs, first seed, one line per rate; the chosen rate (on validation) in bold."""
    acts = list(by_act)
    fig, axes = _subplots(1, 2 * len(acts), figsize=(2.9 * 2 * len(acts), 3.0), squeeze=False)
    for i, act in enumerate(acts):
        r = by_act[act][method]
        for k, lr in enumerate(r.lrs):
            h = r.runs[lr][0].history
            best = lr == r.best_lr
            style = dict(color=PALETTE[k % len(PALETTE)], lw=2.6 if best else 1.2, label=f"lr {lr:g}" + (" (chosen)" if best else ""))
            axes[0, 2 * i].plot(h["epoch"], h["val_acc"], **style)
            axes[0, 2 * i + 1].plot(h["epoch"], h["train_eval_loss"], **style)
        axes[0, 2 * i].set(xlabel="epoch", ylabel="validation accuracy", ylim=(0, 1), title=f"{method}, {ACT_LABEL.get(act, act)}")
        axes[0, 2 * i + 1].set(xlabel="epoch", ylabel="training loss", title=f"{method}, {ACT_LABEL.get(act, act)}")
        _log_y(axes[0, 2 * i + 1])
        axes[0, 2 * i].legend(loc="lower right")
    suptitle(fig, title)
    fit_titles(fig)
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
               title=f"{ACT_LABEL.get(act, act)}\nlargest excess {float(r['excess'].max()):.2g}")
    suptitle(fig, title)
    fit_titles(fig)
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
        ax.clabel(cs, fmt="%.2f")
        ax.plot(pts[:2, 0], pts[:2, 1], color="w", lw=2.5)
        ax.plot(pts[:2, 0], pts[:2, 1], color="k", lw=1, ls=":")
        ax.scatter(pts[:, 0], pts[:, 1], color="k", zorder=3, s=18)
        for k, (pa, pb) in enumerate(pts):
            ax.annotate(f"S{k + 1}", (pa, pb), textcoords="offset points", xytext=(4, 4))
        ax.set(xlabel="direction S1 -> S2 (units of |S2 - S1|)", ylabel="orthogonal direction to S3", title=ACT_LABEL.get(act, act))
        ax.set_aspect("equal", adjustable="box")
    suptitle(fig, title)
    fit_titles(fig)
    fig.tight_layout()
    return fig


def subproblem_figures(results: Results, p: Params) -> list:
    """:func:`plot_segments` and :func:`plot_levelsets` of the chapter's sub-problems."""
    title = (f"One hidden layer's loss with the output layer fixed, {DATA_LABEL[p.sub_dataset]} ({p.sub_points} examples), "
             f"{p.sub_width} hidden units - the paper's quasi-convexity argument, measured")
    return [plot_segments(results.subproblems, title="Loss along the segments between solutions: " + title),
            plot_levelsets(results.subproblems, title="Level sets on the plane through three solutions S1, S2, S3: " + title)]


# --- autoencoder -----------------------------------------------------------------------------


def plot_autoencoder(ae: Mapping[str, AutoencoderRuns], *, title: str, greedy_epochs: int):
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
    axes[0].legend()
    suptitle(fig, title)
    fit_titles(fig)
    fig.tight_layout()
    return fig


def plot_reconstructions(ae: Mapping[str, AutoencoderRuns], *, title: str):
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
    fit_titles(fig)
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


def plot_sensitivity(sens: Mapping[str, Mapping[float, list]], *, title: str):
    """Final validation accuracy against DANTE's step size, one line per schedule (mean, error bar 1 std)."""
    fig, ax = _subplots(figsize=(6.5, 3.6))
    for k, (sched, by_lr) in enumerate(sens.items()):
        lrs = list(by_lr)
        acc = [final_accuracies(rs, key="val") for rs in by_lr.values()]
        mu = [np.nanmean(a) for a in acc]
        sd = [np.nanstd(a, ddof=1) if len(a) > 1 else 0.0 for a in acc]
        ax.errorbar(lrs, mu, yerr=sd, color=PALETTE[k % len(PALETTE)], marker="o", capsize=3, lw=1.8, label=sched)
    ax.set(xscale="log", xlabel="DANTE step size eta (norm of every update)", ylabel="final validation accuracy")
    ax.legend(title="schedule")
    suptitle(fig, title)
    fit_titles(fig)
    fig.tight_layout()
    return fig


def sensitivity_figure(results: Results, p: Params):
    """:func:`plot_sensitivity` of the chapter's sensitivity runs."""
    return plot_sensitivity(results.sensitivity, title=(
        f"DANTE's final validation accuracy over step size and schedule, {DATA_LABEL[p.sens_dataset]}, "
        f"one hidden layer ({p.width} units, {p.sens_activation}), mean of {len(p.sens_seeds)} seed{'s' if len(p.sens_seeds) > 1 else ''}"))


def plot_sensitivity_curves(sens: Mapping[str, Mapping[float, list]], lr: float, *, title: str):
    """Validation accuracy against epochs at step size ``lr``, one line per schedule (mean over seeds)."""
    fig, ax = _subplots(figsize=(6.5, 3.4))
    for k, (sched, by_lr) in enumerate(sens.items()):
        xs, mu, lo, hi = _mean_curve([r.history for r in by_lr[lr]], "val_acc")
        ax.plot(xs, mu, color=PALETTE[k % len(PALETTE)], lw=2, label=sched)
        ax.fill_between(xs, lo, hi, color=PALETTE[k % len(PALETTE)], alpha=0.15, lw=0)
    ax.set(xlabel="epoch", ylabel="validation accuracy", ylim=(0, 1))
    ax.legend(title="schedule", loc="lower right")
    suptitle(fig, title)
    fit_titles(fig)
    fig.tight_layout()
    return fig


# --- Explore and the live widget ---------------------------------------------------------------


def explore_depths(results: Results, p: Params) -> dict:
    """Label -> :func:`plot_activation` figure, for every activation and depth."""
    return {f"{ACT_LABEL[act]}, {depth}": plot_activation(res, act, title=f"{ACT_LABEL[act]}, {depth}: validation accuracy, mean of {len(p.seeds)} seeds")
            for depth, res in (("1 hidden layer", results.one), ("2 hidden layers", results.two)) for act in p.activations}


def explore_grids(results: Results) -> dict:
    """Method -> :func:`plot_grid` figure, one hidden layer, first data set."""
    first = results.present[0]
    return {m: plot_grid(results.one[first], m, title=f"{m}: its learning-rate grid, one hidden layer, {DATA_LABEL[first]}, first seed")
            for m in METHODS}


def explore_steps(results: Results, p: Params) -> dict:
    """Label -> :func:`plot_sensitivity_curves` figure, one per step size."""
    return {f"step {lr:g}": plot_sensitivity_curves(results.sensitivity, lr, title=f"DANTE, step size {lr:g}, {DATA_LABEL[p.sens_dataset]}, {p.sens_activation}")
            for lr in p.sens_lrs}


def live(h: History, *, step: float, schedule: str):
    """The live widget's figure: validation accuracy against epochs of one DANTE run on digits (32 units)."""
    fig, ax = plt.subplots(figsize=(5.5, 3))
    ax.plot(h["epoch"], h["val_acc"], marker="o", color=COLORS["DANTE"])
    ax.set(xlabel="epoch", ylabel="validation accuracy", ylim=(0, 1), title=f"DANTE on digits, 32 units, step {step:g}, {schedule}")
    return fig
