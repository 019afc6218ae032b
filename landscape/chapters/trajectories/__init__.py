"""Chapter ``book/trajectories.ipynb``: noise and the rank of the product of
weights in deep linear networks (sankar2018trajectories).

The experiments train many seeds at once with full-batch gradient descent
(:func:`landscape.linear.train_gd`), one kind of noise per run, from four
kinds of start (ordinary, small, exactly rank-deficient, zero), and compare
the rank of the product and the loss against the closed-form global optimum
(reduced-rank regression). Every run is cached by its arguments.

The networks here have at most a few hundred weights: every run uses the
CPU, whatever the ``device`` parameter says (a GPU would only add launch
overhead to 8x8 matrix products).
"""

from __future__ import annotations

import functools
import json
import math
import textwrap
import warnings
import zlib
from typing import Any, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from ...methods import linear
from ...training import data
from ...experiment.style import PALETTE
from ...experiment.cache import cached
from ...experiment.stats import Difference, difference as beyond_noise
from ...experiment.params import Param, Schema
from ..common import DEVICE, PROFILE, SEEDS

NOTEBOOK = "book/trajectories.ipynb"
ORDER = 40

#: the kinds of noise compared with noiseless gradient descent
KINDS = ("gradient", "dropout", "weight", "input", "label")
#: the starts: name -> (init kind, which scale parameter); see :func:`init_spec`
INITS = ("ordinary", "small", "deficient", "zero")
LABELS = {
    "none": "no noise", "gradient": "gradient noise", "dropout": "dropout", "weight": "weight noise",
    "input": "input noise", "label": "label noise",
}
COLOURS = {"none": "#000000", **{k: PALETTE[i] for i, k in enumerate(KINDS)}}

SMOKE_CHECKS = {
    "traj-loss-star": (0.01, 10.0),
    "traj-er-none": (0.0, 3.0),
    "traj-success-none": (0.0, 1.0),
    "traj-success-noise": (0.0, 1.0),
    "traj-real-loss-star": (0.01, 1.0),
    "traj-hessian-min-deficient": (-10.0, 0.0),
}

SCHEMA = Schema(
    profile=PROFILE,
    device=DEVICE,
    seeds=SEEDS,
    # synthetic data
    d_in=Param(int, "input dimension of the synthetic regression", low=2, high=256),
    d_out=Param(int, "output dimension of the synthetic regression", low=2, high=256),
    planted_rank=Param(int, "rank of the planted linear map", low=1, high=256),
    data_noise=Param(float, "standard deviation of the noise in the synthetic targets", low=0.0, high=10.0),
    n_train=Param(int, "training examples of the synthetic regression", low=4, high=100000),
    data_seed=Param(int, "seed of the synthetic data set", low=0, high=2**31 - 1),
    # network and training
    width=Param(int, "hidden width r of every hidden layer (the narrowest width)", low=1, high=256),
    depth=Param(int, "number of weight matrices H for sections 1-3", low=2, high=10),
    depths=Param(list, "depths compared in claim 3.3", item=int, low=2, high=10, min_len=1),
    lr=Param(float, "gradient-descent step size", low=1e-6, high=10.0),
    iterations=Param(int, "gradient-descent steps per run", low=1, high=1_000_000),
    record_every=Param(int, "record the loss and rank measures every this many steps", low=1, high=100_000),
    rtol=Param(float, "relative tolerance of the numerical rank (singular values above rtol * s_1 count)", low=1e-12, high=0.5),
    # initializations
    ordinary_scale=Param(float, "per-layer scale of the ordinary start (N(0, scale^2 / fan_in))", low=0.0, high=10.0),
    small_scale=Param(float, "per-layer scale of the small start, near the zero saddle", low=0.0, high=10.0),
    dead_units=Param(int, "hidden units switched off in the exactly rank-deficient start", low=1, high=256),
    claim_init=Param(str, "the start on which claims 3.1-3.3 are decided", choices=INITS),
    # noise
    grad_noise=Param(float, "gradient noise: standard deviation at step 0", low=0.0, high=100.0),
    grad_anneal=Param(float, "gradient noise: variance decays as (1 + t)^-gamma (Neelakantan et al. 2015)", low=0.0, high=10.0),
    dropout=Param(float, "dropout probability on the hidden units", low=0.0, high=0.99),
    weight_noise=Param(float, "multiplicative weight noise: standard deviation", low=0.0, high=100.0),
    input_noise=Param(float, "additive input noise: standard deviation", low=0.0, high=100.0),
    label_noise=Param(float, "additive label noise: standard deviation", low=0.0, high=100.0),
    noise_stop=Param(float, "fraction of the steps after which every noise is off (plain GD to the end)", low=0.0, high=1.0),
    noise_scales=Param(list, "multiples of each default magnitude for the magnitude sweep", item=float, low=0.0, high=100.0, min_len=1),
    # real data
    real_dataset=Param(str, "real data set of section 4", choices=("digits", "mnist10k")),
    real_n_train=Param(int, "training examples of the real data set (None: the whole training split)", low=20, nullable=True),
    real_pca=Param(int, "PCA components kept (whitened) as the inputs", low=2, high=784),
    real_width=Param(int, "hidden width of the real-data network", low=1, high=9),
    real_depth=Param(int, "number of weight matrices of the real-data network", low=2, high=10),
    real_lr=Param(float, "step size on the real data", low=1e-6, high=10.0),
    real_iterations=Param(int, "steps on the real data", low=1, high=1_000_000),
    real_runs=Param(int, "seeds used on the real data (the first ones of seeds)", low=1, high=1000),
    # decision rules
    gap_tol=Param(float, "a run reaches the optimum when (L - L*) / L* <= gap_tol", low=0.0, high=1.0),
    rank_margin=Param(float, "claims 3.1/3.3: noise's effective rank must exceed noiseless by more than this (and beyond noise)", low=-10.0, high=10.0),
    success_margin=Param(float, "claim 3.2: noise's success fraction must exceed noiseless by more than this (and beyond noise)", low=-1.0, high=1.0),
)


# --- data ------------------------------------------------------------------------


def synthetic_spec(p: Mapping[str, Any]) -> dict:
    """The JSON-able description of the synthetic data set (a cache-key argument)."""
    return {"name": "lowrank", "d_in": p["d_in"], "d_out": p["d_out"], "rank": p["planted_rank"],
            "noise": p["data_noise"], "n_train": p["n_train"], "seed": p["data_seed"]}


def real_spec(p: Mapping[str, Any]) -> dict:
    """The JSON-able description of the real data set (a cache-key argument)."""
    return {"name": p["real_dataset"], "n_train": p["real_n_train"], "pca": p["real_pca"], "seed": p["data_seed"]}


def load_data(spec: Mapping[str, Any]) -> tuple[torch.Tensor, torch.Tensor]:
    """The training set ``(x, y)`` in float64 described by ``spec`` (new tensors; loaded
    once per process and kept).

    ``lowrank``: :func:`landscape.synthetic.lowrank_regression` through
    :func:`landscape.data.load`. ``digits`` / ``mnist10k``: images flattened
    and centred, projected on their top ``pca`` principal components and
    whitened (each component scaled to unit variance); targets one-hot,
    centred. Linear regression without a bias on centred data.
    """
    x, y = _load_data(json.dumps(dict(spec), sort_keys=True))
    return x.clone(), y.clone()


@functools.lru_cache(maxsize=8)
def _load_data(key: str) -> tuple[torch.Tensor, torch.Tensor]:
    spec = json.loads(key)
    if spec["name"] == "lowrank":
        ds = data.load("lowrank", d_in=spec["d_in"], d_out=spec["d_out"], rank=spec["rank"], noise=spec["noise"],
                       n_train=spec["n_train"], n_test=10, seed=spec["seed"])
        return ds.train[0].double(), ds.train[1].double()
    ds = data.load(spec["name"], n_train=spec["n_train"], n_test=10, seed=spec["seed"])
    x = ds.train[0].reshape(ds.train[0].shape[0], -1).double()
    y = torch.nn.functional.one_hot(ds.train[1], ds.num_classes).double()
    x, y = x - x.mean(0), y - y.mean(0)
    k = spec["pca"]
    if k > min(x.shape):
        raise ValueError(f"Invalid real_pca: {k} (at most {min(x.shape)} for {spec['name']} with {x.shape[0]} examples)")
    _, s, vh = torch.linalg.svd(x, full_matrices=False)
    xw = (x @ vh[:k].T) / (s[:k] / math.sqrt(x.shape[0]))
    return xw, y


def dims(d_in: int, d_out: int, width: int, depth: int) -> list[int]:
    """Layer sizes ``[d_in, r, ..., r, d_out]`` with ``depth`` weight matrices."""
    return [d_in] + [width] * (depth - 1) + [d_out]


# --- runs ------------------------------------------------------------------------


def init_spec(p: Mapping[str, Any], init: str) -> dict:
    """``ordinary`` (gaussian, ordinary_scale), ``small`` (gaussian, small_scale),
    ``deficient`` (ordinary scale, ``dead_units`` hidden units off), ``zero``."""
    if init not in INITS:
        raise ValueError(f"Invalid init: {init!r} (choose from {', '.join(INITS)})")
    return {
        "ordinary": {"init": "gaussian", "scale": p["ordinary_scale"], "dead": 1},
        "small": {"init": "gaussian", "scale": p["small_scale"], "dead": 1},
        "deficient": {"init": "deficient", "scale": p["ordinary_scale"], "dead": p["dead_units"]},
        "zero": {"init": "zero", "scale": 0.0, "dead": 1},
    }[init]


def default_magnitude(p: Mapping[str, Any], kind: str) -> float:
    """The declared magnitude of each kind of noise (0 for none)."""
    return {"none": 0.0, "gradient": p["grad_noise"], "dropout": p["dropout"], "weight": p["weight_noise"],
            "input": p["input_noise"], "label": p["label_noise"]}[kind]


@cached("trajectories/run", version=1)
def run(*, data_spec: dict, dims: list, init: str, scale: float, dead: int, seeds: list, kind: str, magnitude: float,
        anneal: float, stop: int | None, lr: float, iterations: int, record_every: int, rtol: float) -> dict:
    """One batch of runs (one per seed) of full-batch GD with one kind of noise; cached.

    Returns the recorded arrays of :func:`landscape.linear.train_gd` (no
    weights) plus ``loss_star`` and ``final_weights`` of the first seed."""
    x, y = load_data(data_spec)
    ws = linear.init_batch(dims, init, seeds, scale=scale, dead=dead, dtype=torch.float64)
    noise = linear.Noise(kind, magnitude, anneal=anneal, stop=stop)
    key = json.dumps({"seeds": list(seeds), "kind": kind, "magnitude": magnitude, "dims": list(dims), "init": init})
    gen = torch.Generator().manual_seed(zlib.crc32(key.encode()))
    out = linear.train_gd(ws, x, y, lr=lr, iterations=iterations, noise=noise, record_every=record_every, rtol=rtol, generator=gen)
    res = {k: v.numpy() for k, v in out.items() if k != "weights"}
    res["first_weights"] = [w[0].clone() for w in out["weights"]]
    res["loss_star"] = linear.optimum(x, y, min(dims[1:-1] + [dims[0], dims[-1]]))[1]
    return res


def run_one(p: Mapping[str, Any], *, depth: int, init: str, kind: str, scale: float = 1.0, real: bool = False) -> dict:
    """The cached batch of runs for a chapter setting: ``kind`` of noise at ``scale`` times
    its declared magnitude, from start ``init``, at ``depth`` (synthetic data, or real with ``real``)."""
    if real:
        spec, x_dims = real_spec(p), None
        d_in, d_out = p["real_pca"], 10
        width, lr, its, seeds = p["real_width"], p["real_lr"], p["real_iterations"], list(p["seeds"][: p["real_runs"]])
    else:
        spec = synthetic_spec(p)
        d_in, d_out = p["d_in"], p["d_out"]
        width, lr, its, seeds = p["width"], p["lr"], p["iterations"], list(p["seeds"])
    mag = default_magnitude(p, kind) * scale
    kind_eff = kind if mag > 0 else "none"
    res = run(data_spec=spec, dims=dims(d_in, d_out, width, depth), **init_spec(p, init), seeds=seeds,
              kind=kind_eff, magnitude=float(mag), anneal=p["grad_anneal"] if kind == "gradient" else 0.0,
              stop=int(round(p["noise_stop"] * its)), lr=lr, iterations=its,
              record_every=p["record_every"], rtol=p["rtol"])
    return {**res, "kind": kind, "magnitude": mag, "width": width, "rtol": p["rtol"]}


# --- summaries -------------------------------------------------------------------


def summary(res: Mapping[str, Any], gap_tol: float) -> dict[str, np.ndarray]:
    """Per-seed numbers of a batch of runs:

    - ``er_mean``: effective rank of the product averaged over the recorded
      iterations (the same iterations for every run: matched iterations);
    - ``gap``: final relative loss gap to the global optimum;
    - ``success``: 1.0 when the final gap <= ``gap_tol``;
    - ``full_rank``: 1.0 when the final numerical rank equals the width;
    - ``time``: first recorded iteration with gap <= ``gap_tol`` (NaN if never).
    """
    gap = linear.relative_gap(np.asarray(res["loss"]), res["loss_star"])
    ok = gap <= gap_tol
    it = np.asarray(res["iteration"])
    first = np.where(ok.any(1), it[np.argmax(ok, axis=1)], np.nan)
    final = gap[:, -1]
    return {
        "er_mean": np.asarray(res["effective_rank"]).mean(1),
        "gap": final,
        "success": (final <= gap_tol).astype(float),
        "full_rank": (np.asarray(res["numerical_rank"])[:, -1] == res["width"]).astype(float),
        "time": first,
    }


def weakest(diffs: Mapping[Any, Difference]) -> tuple[Any, Difference]:
    """The comparison that decides a claim "for each": a difference that is
    negative (or zero) beyond noise if there is one (the most negative), else
    the one with the lowest lower bound ``diff - 2 stderr``."""
    if not diffs:
        raise ValueError("weakest needs at least one difference")
    against = {k: d for k, d in diffs.items() if d.beyond and d.diff <= 0}
    if against:
        return min(against.items(), key=lambda kv: kv[1].diff)
    return min(diffs.items(), key=lambda kv: kv[1].diff - 2 * kv[1].stderr)


def rank_differences(results: Mapping[str, dict], gap_tol: float) -> dict[str, Difference]:
    """Claim 3.1's comparisons: per kind, mean effective rank (matched iterations) minus noiseless's."""
    base = summary(results["none"], gap_tol)["er_mean"]
    return {k: beyond_noise(summary(results[k], gap_tol)["er_mean"], base) for k in KINDS if k in results}


def success_table(results: Mapping[str, dict], gap_tol: float):
    """Per kind: success fraction, full-rank fraction, effective rank, and the success
    among full-rank and rank-deficient final products, as a DataFrame."""
    import pandas as pd

    rows = []
    base = summary(results["none"], gap_tol)
    for k in ("none", *KINDS):
        if k not in results:
            continue
        s = summary(results[k], gap_tol)
        full = s["full_rank"] == 1
        er = beyond_noise(s["er_mean"], base["er_mean"]) if k != "none" else None
        pe = paired(s["er_mean"], base["er_mean"]) if k != "none" else None
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
    return pd.DataFrame(rows)


def pooled_success(results: Mapping[str, dict], gap_tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Claim 3.2's samples: per seed, the success averaged over the kinds of noise; and noiseless success."""
    noisy = np.mean([summary(results[k], gap_tol)["success"] for k in KINDS if k in results], axis=0)
    return noisy, summary(results["none"], gap_tol)["success"]


# --- figures ---------------------------------------------------------------------


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


def _title(fig, text: str, width: int = 110) -> None:
    fig.suptitle(textwrap.fill(text, width), fontsize="medium")


def small(fig, *, dpi: float = 100, colors: int = 256, display_dpi: float | None = None):
    """The figure as a palette PNG (an IPython ``Image``; the figure is closed): about a
    sixth of matplotlib's RGBA PNG, for pages that hold many figures. With ``display_dpi``
    the image is shown at the size it would have at that resolution (a sharper image)."""
    import io

    from IPython.display import Image
    from PIL import Image as PILImage

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    buf.seek(0)
    im = PILImage.open(buf).convert("RGB").quantize(colors=colors, method=PILImage.Quantize.FASTOCTREE)
    out = io.BytesIO()
    im.save(out, format="png", optimize=True)
    width = int(round(im.width * display_dpi / dpi)) if display_dpi else None
    return Image(data=out.getvalue(), format="png", width=width)


def show(fig) -> None:
    """Display a figure as a sharp palette PNG (see :func:`small`) instead of matplotlib's RGBA PNG."""
    from IPython.display import display

    display(small(fig, dpi=180, display_dpi=110))


def kind_curves(results: Mapping[str, dict], kinds: Sequence[str] | None = None) -> list[tuple[str, str, dict]]:
    """``(label, colour, result)`` for each kind of noise in ``results`` (noiseless first)."""
    kinds = [k for k in (kinds or ("none", *KINDS)) if k in results]
    return [(LABELS[k] if k == "none" else f"{LABELS[k]} {results[k]['magnitude']:.3g}", COLOURS[k], results[k]) for k in kinds]


def plot_trajectories(curves: Sequence[tuple[str, str, dict]], *, title: str, compact: bool = False):
    """Rank measures and loss gap against iterations: median over seeds and interquartile band,
    one colour per curve (``(label, colour, result)``, e.g. from :func:`kind_curves`).
    ``compact``: only the effective rank and the gap, side by side."""
    if compact:
        fig, (a, b) = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
        first = curves[0][2]
        it = np.asarray(first["iteration"])
        for lab, colour, r in curves:
            _band(a, it, r["effective_rank"], colour, lab)
            _band(b, it, np.maximum(linear.relative_gap(np.asarray(r["loss"]), r["loss_star"]), 1e-12), colour, lab, log=True)
        a.set(xlabel="iteration", ylabel="effective rank of W", title="effective rank (Roy and Vetterli 2007)")
        b.set(xlabel="iteration", ylabel="$(L - L^*) / L^*$", yscale="log", title="relative gap to the global optimum")
        b.legend(fontsize="x-small", loc="lower left")
        _title(fig, title)
        return fig
    fig, axes = plt.subplots(2, 2, figsize=(10, 6.4), sharex=True, layout="constrained")
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
    axes[1, 1].legend(fontsize="x-small", loc="lower left")
    _title(fig, title)
    return fig


def plot_landscape(runs: Mapping[str, dict], crit: Sequence[float], *, title: str, seed_index: int = 0):
    """Section 1: the loss of single runs against the critical values (rank-k optima), and the singular values of one run."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(10.5, 3.9), layout="constrained")
    styles = {"small, no noise": ("#000000", "-"), "deficient, no noise": (PALETTE[3], "-"),
              "zero, no noise": (PALETTE[2], "-"), "deficient, gradient noise": (PALETTE[0], "--")}
    for name, r in runs.items():
        c, ls = styles.get(name, ("grey", "-"))
        a.plot(r["iteration"], np.asarray(r["loss"])[seed_index], color=c, ls=ls, lw=1.8, label=name)
    for k, v in enumerate(crit):
        a.axhline(v, color="grey", lw=0.8, ls=":")
        a.text(0.99, v, f"$L_{k}$" + (" (global minimum)" if k == len(crit) - 1 else " (saddles)"),
               transform=a.get_yaxis_transform(), va="bottom", ha="right", fontsize="x-small", color="grey")
    a.set(xlabel="iteration", ylabel="training loss", title="loss and the critical values $L_k$ (best rank-$k$ product)")
    a.legend(fontsize="x-small", loc="upper right", bbox_to_anchor=(0.99, 0.85))
    r = runs["small, no noise"]
    sv = np.asarray(r["singular_values"])[seed_index]
    for i in range(len(crit) - 1):
        b.plot(r["iteration"], sv[:, i], lw=1.8, label=f"$s_{i + 1}$")
    b.set(xlabel="iteration", ylabel="singular value of W", yscale="log", title="small start, no noise: singular values of the product")
    b.legend(fontsize="x-small", loc="lower right")
    _title(fig, title)
    return fig


def plot_magnitude(sweep: Mapping[str, list[tuple[float, dict]]], base: dict, gap_tol: float, *, title: str):
    """Fraction of runs within the gap, and mean effective rank, against the magnitude multiple, one line per kind."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(10.5, 3.8), layout="constrained")
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
        ax.set_xlabel("magnitude (multiple of the declared default)")
    a.set(ylabel=f"fraction within {gap_tol:.0%} of $L^*$", ylim=(-0.05, 1.05), title="reaching the global optimum")
    b.set(ylabel="effective rank (mean over steps)", title="effective rank of the product")
    b.legend(fontsize="x-small")
    _title(fig, title)
    return fig


def _se(v: np.ndarray) -> float:
    v = np.asarray(v, dtype=float)
    return float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else 0.0


def plot_depths(by_depth: Mapping[int, Mapping[str, dict]], gap_tol: float, *, title: str):
    """Fraction within the gap and effective-rank difference (noise minus none, +- 2 s.e.) at each depth, grouped bars per kind."""
    fig, (a, b) = plt.subplots(1, 2, figsize=(10.5, 4.0), layout="constrained")
    depths = list(by_depth)
    kinds = ["none", *KINDS]
    w = 0.8 / len(kinds)
    for j, k in enumerate(kinds):
        xs = np.arange(len(depths)) + (j - (len(kinds) - 1) / 2) * w
        succ = [summary(by_depth[d][k], gap_tol)["success"] for d in depths]
        a.bar(xs, [s.mean() for s in succ], w, yerr=[_se(s) for s in succ], color=COLOURS[k], label=LABELS[k], capsize=1.5)
        if k != "none":
            diffs = [rank_differences(by_depth[d], gap_tol)[k] for d in depths]
            b.bar(xs, [d.diff for d in diffs], w, yerr=[2 * d.stderr for d in diffs], color=COLOURS[k], label=LABELS[k], capsize=1.5)
    for ax in (a, b):
        ax.set_xticks(range(len(depths)), [f"H = {d}" for d in depths])
    for i, d in enumerate(depths):
        if all(summary(by_depth[d][k], gap_tol)["success"].sum() == 0 for k in kinds):
            a.text(i, 0.03, "no run reached $L^*$", ha="center", fontsize="x-small", color="grey")
    a.set(ylabel=f"fraction within {gap_tol:.0%} of $L^*$", ylim=(0, 1.05), title="reaching the global optimum")
    b.axhline(0, color="black", lw=0.8)
    b.set(ylabel="effective rank: noise minus none", title="effective rank, noise minus none (+- 2 s.e.)")
    handles, labels = a.get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=len(kinds), fontsize="x-small", frameon=False)
    _title(fig, title)
    return fig


def plot_time_to_gap(results: Mapping[str, dict], gap_tol: float, *, title: str):
    """Iterations to reach the gap, one dot per run that reached it, with the count of runs that did."""
    fig, ax = plt.subplots(figsize=(7.5, 3.6), layout="constrained")
    kinds = [k for k in ("none", *KINDS) if k in results]
    rng = np.random.default_rng(0)
    for i, k in enumerate(kinds):
        s = summary(results[k], gap_tol)
        t = s["time"][np.isfinite(s["time"])]
        ax.scatter(i + rng.uniform(-0.15, 0.15, len(t)), t, s=14, color=COLOURS[k], alpha=0.8)
        if len(t):
            ax.plot([i - 0.25, i + 0.25], [np.median(t)] * 2, color="black", lw=1.5)
        ax.text(i, 1.01, f"{len(t)}/{len(s['time'])} runs", transform=ax.get_xaxis_transform(), ha="center", va="bottom", fontsize="x-small")
    ax.set_xticks(range(len(kinds)), [LABELS[k] for k in kinds], rotation=15)
    ax.set_ylabel(f"iterations to reach {gap_tol:.0%} of $L^*$")
    ax.set_title(textwrap.fill(title, 90), pad=16)
    return fig


def hessian_rows(p: Mapping[str, Any], section: Mapping[str, Mapping[str, dict]], x: torch.Tensor, y: torch.Tensor) -> list[dict]:
    """The exact Hessian at the critical points met in section 1 (first seed): the zero
    product at depth 2 and at ``depth``, where noiseless GD from the deficient start ends, and
    where it ends from the ordinary start (the global optimum)."""
    rows = []
    r = p["width"]
    for name, ws in (
        ("zero product, H = 2", linear.init_weights(dims(p["d_in"], p["d_out"], r, 2), "zero", dtype=torch.float64)),
        (f"zero product, H = {p['depth']}", linear.init_weights(dims(p["d_in"], p["d_out"], r, p["depth"]), "zero", dtype=torch.float64)),
        ("end of noiseless GD, deficient start", section["deficient"]["none"]["first_weights"]),
        ("end of noiseless GD, ordinary start", section["ordinary"]["none"]["first_weights"]),
    ):
        ws = [torch.as_tensor(w) for w in ws]
        ev = linear.hessian_eigenvalues(ws, x, y)
        g = linear.moment_gradients(ws, x.T @ x / len(x), y.T @ x / len(x))
        scale = float(ev.abs().max()) or 1.0
        rows.append({
            "point": name,
            "rank of W": int(linear.numerical_rank(linear.product(ws), rtol=1e-8)),
            "loss": float(linear.loss(linear.product(ws), x, y)),
            "gradient norm": float(torch.sqrt(sum((gi**2).sum() for gi in g))),
            "min eigenvalue": float(ev.min()),
            "max eigenvalue": float(ev.max()),
            "negative (< -1e-6 max)": int((ev < -1e-6 * scale).sum()),
            "parameters": int(ev.numel()),
        })
    return rows


def live_figure(kind: str, magnitude: float, depth: int, init: str, *, p: Mapping[str, Any], runs: int = 5, iterations: int = 1500):
    """A small live run for the Explore section (not cached): ``runs`` seeds, one kind of noise."""
    q = dict(p)
    q.update(seeds=list(range(runs)), iterations=iterations)
    if kind == "dropout":
        magnitude = min(magnitude, 0.9)
    spec = synthetic_spec(q)
    x, y = load_data(spec)
    d = dims(q["d_in"], q["d_out"], q["width"], depth)
    ini = init_spec(q, init)
    ws = linear.init_batch(d, ini["init"], q["seeds"], scale=ini["scale"], dead=ini["dead"], dtype=torch.float64)
    out = {}
    for k, m in (("none", 0.0), (kind, magnitude)):
        nz = linear.Noise(k if m > 0 else "none", m, anneal=q["grad_anneal"] if k == "gradient" else 0.0, stop=int(q["noise_stop"] * iterations))
        res = linear.train_gd(ws, x, y, lr=q["lr"], iterations=iterations, noise=nz, record_every=max(1, iterations // 100), rtol=q["rtol"], generator=torch.Generator().manual_seed(0))
        out[k] = {kk: v.numpy() for kk, v in res.items() if kk != "weights"}
        out[k].update(loss_star=linear.optimum(x, y, q["width"])[1], magnitude=m, width=q["width"], rtol=q["rtol"])
    return plot_trajectories(kind_curves(out), title=f"live: {runs} seeds, H = {depth}, {init} start, {iterations} steps", compact=True)


def overview(sections: Mapping[str, Mapping[str, dict]], gap_tol: float):
    """One row per start, one column per kind: the effective-rank difference to noiseless
    (mean over seeds, +- 2 s.e., * when beyond noise) and the fraction within the gap."""
    import pandas as pd

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


def paired(a: Sequence[float], b: Sequence[float]) -> Difference:
    """Difference of means of per-seed results of two arms run from the same seeds, with the
    paired standard error sd(a_i - b_i) / sqrt(n) (reported beside the declared, unpaired rule)."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    se = float(d.std(ddof=1) / math.sqrt(d.size)) if d.size > 1 else math.inf
    return Difference(float(d.mean()), se, d.size, d.size)


def rank_given_success(sections: Mapping[str, Mapping[str, dict]], gap_tol: float) -> dict[str, float]:
    """Over every run of ``sections`` (all starts and kinds): the fraction within the gap among runs whose
    final product is full rank, and among those that are rank-deficient, with their counts."""
    succ, full = [], []
    for results in sections.values():
        for r in results.values():
            s = summary(r, gap_tol)
            succ.append(s["success"])
            full.append(s["full_rank"])
    succ, full = np.concatenate(succ), np.concatenate(full) == 1
    return {
        "full_runs": int(full.sum()), "deficient_runs": int((~full).sum()),
        "success_given_full": float(succ[full].mean()) if full.any() else math.nan,
        "success_given_deficient": float(succ[~full].mean()) if (~full).any() else math.nan,
    }
