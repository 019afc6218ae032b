"""What the hessian chapter's page (``book/hessian.ipynb``) draws: layer and full
densities, distances against depth, outliers, flattening, the regularizer's arms, and
the figures of its Explore section. Its tables are in :mod:`.tables`."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np

from ...experiment.style import FIGURE_WIDTH, PALETTE, fit_titles
from ...spectra import authors_distance, broadened_density
from .experiments import MODEL_LABELS, Results, column, depths, series, spectrum
from .schema import ARMS

__all__ = ["ARM_COLOURS", "ARM_SHORT", "plot_density_grid", "plot_epoch", "plot_layer",
           "plot_distances", "plot_outliers", "plot_flattening", "plot_arms", "plot_arm_curves", "plot_live_distances",
           "epoch_figures", "layer_figures", "arm_figures"]

ARM_COLOURS = dict(zip(ARMS, [PALETTE[7], PALETTE[5], PALETTE[3], PALETTE[0], PALETTE[2]]))
ARM_SHORT = {"sgd": "SGD", "sgd+l2": "+ L2", "sgd+trace": "+ trace", "sgd+trace+l2": "+ trace\n+ L2", "sgd+middle": "+ middle"}


def _ms(v: np.ndarray) -> tuple[float, float]:
    return float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else 0.0


def _curve(rec: dict, grid: np.ndarray, sigma: float) -> np.ndarray:
    spec = spectrum(rec)
    s = spec if "eig" in rec else (spec.nodes, spec.weights)
    return broadened_density(s, grid, sigma)


def _density_axes(ax, snap: dict, block: str, *, colour: str, full: bool = True, sigma_frac: float = 0.01,
                  label: str | None = None, full_label: str = "full") -> None:
    lo = min(float(spectrum(snap[b]).min() if "eig" in snap[b] else snap[b]["nodes"].min()) for b in (block, "full"))
    hi = max(float(spectrum(snap[b]).max() if "eig" in snap[b] else snap[b]["nodes"].max()) for b in (block, "full"))
    w = max(hi - lo, 1e-12)
    sigma = sigma_frac * w
    grid = np.linspace(lo - 4 * sigma, hi + 4 * sigma, 600)
    floor = 1e-6
    if full and block != "full":
        ax.semilogy(grid, np.maximum(_curve(snap["full"], grid, sigma) * w, floor), color="0.55", lw=1, ls="--",
                    label=full_label if label else None)
    ax.semilogy(grid, np.maximum(_curve(snap[block], grid, sigma) * w, floor), color=colour, lw=1.3, label=label)
    ax.set_ylim(floor, None)


def plot_density_grid(results: Results, model: str, *, rows: int):
    """Densities of every layer's block and of the full Hessian of ``model`` at ``rows`` epochs
    spread over training: one panel per block (two to a row), the epochs light to dark, and in
    each layer's panel the full Hessian's density at the same epochs (grey, dashed)."""
    run = results.runs[model]
    n_snap = len(run["snapshots"])
    idx = sorted(set(np.linspace(0, n_snap - 1, min(rows, n_snap)).round().astype(int).tolist()))
    blocks = [*run["layers"], "full"]
    nrow = -(-len(blocks) // 2)
    fig, axes = plt.subplots(nrow, 2, figsize=(FIGURE_WIDTH, 2.3 * nrow + 1.2), squeeze=False, layout="constrained")
    cmap = plt.get_cmap("viridis")
    colours = [cmap(0.85 * r / max(len(idx) - 1, 1)) for r in range(len(idx))]
    for ax, b in zip(axes.ravel(), blocks):
        for r, i in enumerate(idx):
            snap = run["snapshots"][i]
            _density_axes(ax, snap, b, colour=colours[r], label=f"epoch {run['epochs'][i]}", full_label="full H (same epochs)")
        ax.set_title(f"{b} ({run['snapshots'][0][b]['dim']} parameters)")
    for ax in axes[:, 0]:
        ax.set_ylabel("density x width")
    for ax in axes[-1]:
        ax.set_xlabel("eigenvalue")
    for ax in axes.ravel()[len(blocks):]:
        ax.set_visible(False)
    handles, labels = axes[0, 0].get_legend_handles_labels()
    keep = dict(zip(labels, handles))
    fig.legend(keep.values(), keep.keys(), loc="outside lower center", ncol=min(len(keep), 4), frameon=False)
    how = "exact (dense Hessian, eigh)" if run["exact"] else "SLQ"
    fig.suptitle(f"Layer Hessians H_ll vs the full Hessian (grey, dashed), as in the paper's layerwise-density figures; "
                 f"{MODEL_LABELS[model]}, {results.spec_data}, {how}, on {run['snapshots'][0]['full']['dim']} parameters")
    fit_titles(fig)
    return fig


def plot_epoch(results: Results, i: int):
    """Every layer's density (colours) and the full one (black) at snapshot ``i``, one panel per model."""
    runs = results.runs
    fig, axes = plt.subplots(len(runs), 1, figsize=(FIGURE_WIDTH, 3.0 * len(runs) + 0.6), squeeze=False, layout="constrained")
    for ax, (m, run) in zip(axes[:, 0], runs.items()):
        j = min(i, len(run["snapshots"]) - 1)
        snap = run["snapshots"][j]
        for k, b in enumerate([*run["layers"], "full"]):
            _density_axes(ax, snap, b, colour="black" if b == "full" else PALETTE[k % 7], full=False, label=b)
        ax.set(xlabel="eigenvalue", ylabel="density x width", title=f"{MODEL_LABELS[m]}, epoch {run['epochs'][j]}")
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5))
    fig.suptitle(f"Layer and full Hessian densities, as in the paper's layerwise-density figures ({results.spec_data}, per-class subset)")
    fit_titles(fig)
    return fig


def plot_layer(results: Results, model: str, layer: str):
    """One block's density at every snapshot (light to dark), with the final full density (grey)."""
    run = results.runs[model]
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH, 3.6), layout="constrained")
    cmap = plt.get_cmap("viridis")
    n = len(run["snapshots"])
    for i, snap in enumerate(run["snapshots"]):
        _density_axes(ax, snap, layer, colour=cmap(i / max(n - 1, 1)), full=(i == n - 1 and layer != "full"),
                      label=f"epoch {run['epochs'][i]}", full_label=f"full H, epoch {run['epochs'][i]}")
    ax.set(xlabel="eigenvalue", ylabel="density x width",
           title=f"{MODEL_LABELS[model]} {layer}: density through training ({results.spec_data})")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), ncol=2 if n > 8 else 1)
    fit_titles(fig)
    return fig


def plot_distances(results: Results):
    """Distance to the full spectrum against normalized depth: the authors' measure
    (left) and the sound one (right); at the end (solid) and summed over training
    (dashed, divided by the number of snapshots); a star marks each minimum."""
    fig, axes = plt.subplots(2, 1, figsize=(FIGURE_WIDTH, 7.0), layout="constrained")
    for ax, measure, title in ((axes[0], "authors", "authors' measure (log-density vectors as samples)"),
                               (axes[1], "sound", "W1 between spectra / full width")):
        for k, (m, run) in enumerate(results.runs.items()):
            d = depths(run["layers"])
            D = results.dists[m][measure]
            for row, ls, lab in ((D[-1], "-", "end"), (D.mean(0), "--", "summed over training / snapshots")):
                ax.plot(d, row, ls, marker="o", ms=4, color=PALETTE[k], label=f"{MODEL_LABELS[m]}, {lab}")
                i = int(np.argmin(row))
                ax.plot(d[i], row[i], "*", ms=14, color=PALETTE[k], mec="black")
        ax.set(xlabel="normalized depth of the layer (0: first, 1: last)", ylabel="distance to the full spectrum", title=title)
        ax.axvspan(1 / 3, 2 / 3, color="0.9", zorder=0)
    handles, labels = axes[1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=1, frameon=False)
    fig.suptitle(f"Which layer's spectrum is most like the full one? (the paper's layer-similarity analysis; {results.spec_data}, grey band: middle third)")
    fit_titles(fig)
    return fig


def plot_outliers(results: Results, *, slack: int):
    """Top: outliers above the bulk edge per block at the last epoch, Hessian vs
    Gauss-Newton, against C. Bottom: the Hessian blocks' outliers through training."""
    runs, classes = results.runs, results.classes
    fig, axes = plt.subplots(2, len(runs), figsize=(FIGURE_WIDTH, 7.4), squeeze=False, layout="constrained")
    for c, (m, run) in enumerate(runs.items()):
        ax = axes[0, c]
        blocks = [*run["layers"], "full"]
        x = np.arange(len(blocks))
        for k, (kind, lab) in enumerate((("hessian", "H_ll"), ("ggn", "G_ll (Gauss-Newton)"))):
            ax.bar(x + (k - 0.5) * 0.38, [results.outliers[m][0][kind][b]["count"] for b in blocks], 0.38, color=PALETTE[k], label=lab)
        ax.axhspan(classes - slack, classes + slack, color="0.88", zorder=0)
        ax.axhline(classes, color="black", lw=1, label=f"C = {classes}")
        ax.set_xticks(x, blocks, rotation=45, ha="right", rotation_mode="anchor")
        ax.set(ylabel="eigenvalues above the bulk edge",
               title=f"{MODEL_LABELS[m]}, last epoch ({'exact' if run['exact'] else 'SLQ, mean over probes'})")
        ax.legend()
        ax = axes[1, c]
        ax.axhspan(classes - slack, classes + slack, color="0.88", zorder=0)
        for k, b in enumerate(blocks):
            ax.plot(run["epochs"], results.outlier_series[m][b], marker=".", color="black" if b == "full" else PALETTE[k % 7],
                    lw=2 if b == "full" else 1.2, label=b)
        ax.set(xlabel="epoch", ylabel="outliers of H_ll", title=f"{MODEL_LABELS[m]}: outliers through training")
        ax.legend(ncol=2)
    fig.suptitle(f"Outliers per layer vs the number of classes (the paper's outlier analysis; {results.spec_data}, band: C +- {slack})")
    fit_titles(fig)
    return fig


def plot_flattening(results: Results, *, skip: float):
    """lambda_max and trace of every block against epochs (log scale); the shaded
    start is left out of the Spearman correlations of claim 1.3."""
    runs = results.runs
    fig, axes = plt.subplots(len(runs), 2, figsize=(FIGURE_WIDTH, 3.0 * len(runs) + 0.8), squeeze=False, layout="constrained")
    for r, (m, run) in enumerate(runs.items()):
        ep = np.asarray(run["series_epochs"])
        for c, (key, lab) in enumerate((("lmax", "top eigenvalue"), ("trace", "trace"))):
            ax = axes[r, c]
            for k, b in enumerate(run["layers"]):
                ax.semilogy(ep, np.maximum(series(run, b, key), 1e-12), marker=".", color=PALETTE[k % 7], label=b)
            ax.semilogy(ep, np.maximum(series(run, "full", key), 1e-12), marker="o", color="black", lw=2, label="full")
            ax.axvspan(ep[0], skip * ep[-1], color="0.9", zorder=0)
            ax.set(xlabel="epoch", ylabel=lab, title=f"{MODEL_LABELS[m]}: {lab}")
            if c == 1:
                ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5))
    fig.suptitle(f"Flattening: top eigenvalue and trace of H and of each H_ll during training (the paper's flattening figures; {results.spec_data})")
    fit_titles(fig)
    return fig


def plot_arms(results: Results, *, model: str):
    """Final test accuracy, trace and lambda_max per arm (dots: seeds; bar: mean +- std)."""
    arms = results.arms
    fig, axes = plt.subplots(3, 1, figsize=(FIGURE_WIDTH, 7.6), sharex=True, layout="constrained")
    for ax, key, lab in ((axes[0], "acc", "final test accuracy (%)"), (axes[1], "trace", "final trace of H"),
                         (axes[2], "lmax", "final lambda_max of H")):
        for i, arm in enumerate(arms):
            v = column(arms[arm], key)
            m, s = _ms(v)
            ax.errorbar(i, m, yerr=s, fmt="s", color=ARM_COLOURS[arm], ms=7, capsize=4)
            ax.plot(np.full(len(v), i) + np.linspace(-0.12, 0.12, len(v)), v, "o", color=ARM_COLOURS[arm], alpha=0.45, ms=4)
        ax.set_xticks(range(len(arms)), [ARM_SHORT[a].replace("\n", " ") for a in arms])
        ax.set(ylabel=lab)
    fig.suptitle(f"The trace regularizer (the paper's regularization table): {MODEL_LABELS[model]} on {results.reg_name}, "
                 f"{len(next(iter(arms.values())))} seeds; SGD + L2, + trace penalty, + both, + middle-layer penalty")
    fit_titles(fig)
    return fig


def plot_arm_curves(results: Results, arm: str):
    """Test accuracy against epochs of one arm (each seed), the other arms' means in
    grey: all epochs (left) and the second half, zoomed (right)."""
    arms = results.arms
    fig, axes = plt.subplots(1, 2, figsize=(FIGURE_WIDTH, 3.8), layout="constrained")
    epochs = np.asarray(next(iter(arms.values()))[0]["history"]["columns"]["epoch"])
    half = epochs >= epochs[-1] / 2
    for ax, sel in ((axes[0], np.ones_like(half)), (axes[1], half)):
        for other, runs in arms.items():
            if other != arm:
                ys = np.array([r["history"]["columns"]["test_acc"] for r in runs]) * 100
                ax.plot(epochs[sel], ys.mean(0)[sel], color="0.7", lw=1)
        for j, r in enumerate(arms[arm]):
            ax.plot(epochs[sel], (np.array(r["history"]["columns"]["test_acc"]) * 100)[sel], color=ARM_COLOURS[arm], lw=1.4,
                    alpha=0.85, label=f"{ARMS[arm][0]} (each seed)" if j == 0 else None)
        ax.set(xlabel="epoch", ylabel="test accuracy (%)")
    axes[0].plot([], [], color="0.7", label="other arms (mean)")
    fig.legend(*axes[0].get_legend_handles_labels(), loc="outside lower center", ncol=2, frameon=False)
    fig.suptitle(f"{ARMS[arm][0]} ({results.reg_name})")
    axes[0].set_title("all epochs")
    axes[1].set_title("second half, zoomed")
    fit_titles(fig)
    return fig


def plot_live_distances(results: Results, *, eps: float, bins: int, sigma2: float):
    """The authors' measure at the last snapshot against depth, for a chosen eps (live widget)."""
    fig, ax = plt.subplots(figsize=(FIGURE_WIDTH, 3.4), layout="constrained")
    for k, (m, run) in enumerate(results.runs.items()):
        snap = run["snapshots"][-1]
        full = spectrum(snap["full"])
        v = [authors_distance(spectrum(snap[l]), full, eps=eps, num_bins=bins, sigma_squared=sigma2) for l in run["layers"]]
        ax.plot(depths(run["layers"]), v, "o-", color=PALETTE[k], label=MODEL_LABELS[m])
    ax.set(xlabel="normalized depth", ylabel="authors' measure", title=f"authors' measure at the end, eps = {eps:.0e}")
    ax.legend()
    return fig


# ---------------------------------------------------------------------------
# the Explore section: label -> figure, for landscape.publishing.page.explore


def epoch_figures(results: Results, *, count: int = 5) -> dict:
    """:func:`plot_epoch` at ``count`` snapshots spread over training (early to late), by label."""
    run = next(iter(results.runs.values()))
    n_snap = len(run["snapshots"])
    pick = sorted(set(np.linspace(0, n_snap - 1, min(count, n_snap)).round().astype(int).tolist()))
    return {f"epoch {run['epochs'][i]}": plot_epoch(results, i) for i in pick}


def layer_figures(results: Results, model: str = "lenet5", *, count: int = 6) -> dict:
    """:func:`plot_layer` for the first ``count`` blocks of ``model`` (the full Hessian counts as one)."""
    return {b: plot_layer(results, model, b) for b in [*results.runs[model]["layers"], "full"][:count]}


def arm_figures(results: Results) -> dict:
    """:func:`plot_arm_curves` of every arm, by the arm's label."""
    return {ARMS[a][0]: plot_arm_curves(results, a) for a in results.arms}
