r"""The layerwise-Hessian chapter (``book/hessian.ipynb``): layer spectra against the
full spectrum, and the Hessian-trace regularizer (Sankar, Khasbage, Vigneswaran and
Balasubramanian, AAAI 2021, ``sankar2021hessian``).

What the notebook calls, in order:

- **Spectra through training** (sections 1-4): :func:`spectra_run` trains one model
  (the MLP or the LeNet-style CNN) with SGD + momentum and, after every
  ``every``-th epoch, computes on a fixed class-balanced subset (``per_class``
  examples of each class) the top eigenvalue, the trace and the spectrum of every
  layer's block :math:`H_{ll}` (one layer = one conv/linear weight tensor) and of the
  full Hessian - exactly (:func:`~landscape.curvature.dense_hessian` + ``eigh``) when
  the model is small enough, else by SLQ - and, at the last epoch, the same spectra
  of the Gauss-Newton blocks :math:`G_{ll}`. Cached.
  :func:`distances`, :func:`spearman_table` and :func:`outlier_table` turn the
  snapshots into the numbers of claims 1.1-1.4; ``plot_*`` draw them.
- **The regularizer** (sections 5-6): :func:`arm_run` trains one arm (SGD, + L2, +
  trace penalty, + both, + middle-layer penalty; :data:`ARMS`) with the authors'
  mechanics (:class:`landscape.regularizers.TracePenalty`), cached;
  :func:`run_arms` runs every arm and seed; :func:`arm_table`,
  :func:`paper_table` summarize them.
- **Claims**: :func:`all_of` combines the parts of a compound rule into one verdict.

The similarity measures (the authors' and the sound one) and the outlier count live
in :mod:`landscape.similarity`; the penalty in :mod:`landscape.regularizers`.
"""

from __future__ import annotations

import copy
import datetime as _dt
import json
import math
import os
from pathlib import Path
from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...training import data, models
from ...experiment.records import device_label, git_commit, read_record as read_scale_record, record_path
from ...experiment.style import PALETTE
from ...experiment.cache import cached
from ...experiment.claims import VERDICTS, Claim

from ...curvature import HessianOperator, SpectralDensity, dense_hessian, eigenvalues, spectral_density, trace
from ...experiment.params import Param, ParameterError, Schema
from ...methods.trace_penalty import TracePenalty, steps_per_epoch
from ...spectra import authors_distance, broadened_density, bulk_edge, count_outliers, scaled_wasserstein
from ...training.loop import History, fit
from ..common import DATA_ROOT, DEVICE, PROFILE, SEEDS

NOTEBOOK = "book/hessian.ipynb"
ORDER = 20
SMOKE_CHECKS = {
    "hessian-w1-median": (0.0, 1.0),
    "hessian-mlp-lmax-end": (0.0, 1e4),
    "hessian-lenet-trace-end": (0.0, 1e6),
    "hessian-sgd-acc": (0.0, 100.0),
    "hessian-penalty-cost": (0.0, 1e4),
}

#: the arms of the regularizer experiment: (label, L2?, penalty scope or None)
ARMS = {
    "sgd": ("SGD", False, None),
    "sgd+l2": ("SGD + L2", True, None),
    "sgd+trace": ("SGD + trace penalty", False, "full"),
    "sgd+trace+l2": ("SGD + trace penalty + L2", True, "full"),
    "sgd+middle": ("SGD + middle-layer penalty", False, "middle"),
}
ARM_COLOURS = dict(zip(ARMS, [PALETTE[7], PALETTE[5], PALETTE[3], PALETTE[0], PALETTE[2]]))
ARM_SHORT = {"sgd": "SGD", "sgd+l2": "+ L2", "sgd+trace": "+ trace", "sgd+trace+l2": "+ trace\n+ L2", "sgd+middle": "+ middle"}
MODEL_LABELS = {"mlp": "MLP", "lenet5": "LeNet"}
#: resolution of the stored figures (inline PNGs are drawn at twice this): keeps the notebook small
FIG_DPI, EXPLORE_DPI = 66, 60
#: the authors' numbers (code comments): LeNet on MNIST, 30 epochs, lr 1e-2, batch 256,
#: milestones 10 and 20; test top-1 in %, mean and std over 3 reruns
PAPER = {"sgd": (98.75, 0.03), "sgd+trace+l2": (98.847, 0.019)}
DATASETS = ("digits", "mnist10k", "mnist", "fashion-mnist")

_seed = Param(int, "a random seed", low=0, high=2**31 - 1)
SCHEMA = Schema(
    profile=PROFILE,
    device=DEVICE,
    data_root=DATA_ROOT,
    threads=Param(int, "CPU threads of torch in this chapter (None: torch's default)", low=1, high=256, nullable=True),
    fallback_dataset=Param(str, "data set used instead when a requested one is not on this machine (None: fail)", choices=DATASETS, nullable=True),
    # 1-4. spectra through training
    spec_dataset=Param(str, "data set of the spectra experiments", choices=DATASETS),
    spec_n_train=Param(int, "training examples of the spectra runs (None: all)", low=10, nullable=True),
    per_class=Param(int, "examples per class of the fixed subset on which spectra are computed", low=1, high=1000),
    mlp_widths=Param(list, "hidden widths of the MLP", item=int, low=1, high=4096, min_len=1),
    lenet_width=Param(int, "channel multiplier of the LeNet-style CNN", low=1, high=16),
    spec_epochs=Param(int, "training epochs of the spectra runs", low=1, high=500),
    spec_every=Param(int, "spectra after every this many epochs (and at the last)", low=1, high=500),
    spec_batch_size=Param(int, "mini-batch size of the spectra runs", low=1, high=8192),
    spec_lr=Param(float, "learning rate of the spectra runs (SGD, constant)", low=1e-6, high=10.0),
    spec_seed=_seed,
    exact_max_dim=Param(int, "dense Hessian + eigh for models with at most this many parameters, SLQ above", low=0, high=20000),
    slq_probes=Param(int, "SLQ: probes per density", low=1, high=100),
    slq_steps=Param(int, "SLQ: Lanczos steps per probe", low=2, high=1000),
    trace_matvecs=Param(int, "Hutch++ budget (HVPs) per trace", low=3, high=10000),
    eig_tol=Param(float, "relative residual tolerance of the top eigenvalue", low=1e-10, high=0.1),
    curvature_seed=_seed,
    grid_epochs=Param(int, "rows (epochs) of the density grid figures", low=1, high=6),
    # similarity measures and outliers
    auth_eps=Param(float, "authors' measure: eps in log(density + eps)", low=1e-30, high=1.0),
    auth_bins=Param(int, "authors' measure: grid points of each density vector", low=10, high=100000),
    auth_sigma2=Param(float, "authors' measure: Gaussian variance per unit of width (PyHessian's sigma_squared)", low=1e-12, high=1.0),
    edge_sigma=Param(float, "bulk edge: broadening, as a fraction of the spectrum's width", low=1e-5, high=0.5),
    edge_floor=Param(float, "bulk edge: the bulk is where the density exceeds this many isolated eigenvalues' peak height", low=1e-3, high=1e6),
    # 5-6. the regularizer
    reg_dataset=Param(str, "data set of the regularizer arms", choices=DATASETS),
    reg_n_train=Param(int, "training examples of the arms (None: all)", low=10, nullable=True),
    reg_n_test=Param(int, "test examples of the arms (None: all)", low=10, nullable=True),
    reg_model=Param(str, "model of the arms", choices=("lenet5", "mlp")),
    reg_epochs=Param(int, "training epochs of each arm", low=1, high=500),
    reg_batch_size=Param(int, "mini-batch size of the arms", low=1, high=8192),
    reg_lr=Param(float, "initial learning rate of the arms", low=1e-6, high=10.0),
    momentum=Param(float, "SGD momentum (all runs)", low=0.0, high=0.999),
    milestones=Param(list, "epochs at which the learning rate is multiplied by lr_gamma", item=int, low=1, high=500),
    lr_gamma=Param(float, "factor of the step schedule", low=1e-4, high=1.0),
    weight_decay=Param(float, "L2 (weight decay) of the + L2 arms", low=0.0, high=1.0),
    gamma=Param(float, "weight of the full trace penalty", low=0.0, high=10.0),
    gamma_middle=Param(float, "weight of the middle-layer penalty", low=0.0, high=10.0),
    num_probes=Param(int, "K: Rademacher probes per penalized step", low=1, high=100),
    freq=Param(int, "penalize mini-batches whose in-epoch index is a multiple of this", low=1, high=100000),
    sp=Param(int, "first (0-based) epoch with the penalty", low=0, high=500),
    arms=Param(list, "arms to run", item=str, choices=tuple(ARMS), min_len=1),
    seeds=SEEDS,
    # decision rules (declared before the run)
    w1_max=Param(float, "1.1: median over layers of the scaled W1 (layer vs full) must be at most this", low=0.0, high=10.0),
    depth_low=Param(float, "1.2: the closest layer's normalized depth must be >= this (sound measure)", low=0.0, high=1.0),
    depth_high=Param(float, "1.2: ... and <= this", low=0.0, high=1.0),
    rho_max=Param(float, "1.3: Spearman correlation with epoch must be at most this", low=-1.0, high=1.0),
    rho_skip=Param(float, "1.3: fraction of the epochs left out at the start", low=0.0, high=0.9),
    outlier_slack=Param(int, "1.4: outliers must be within C +- this", low=0, high=1000),
    most_frac=Param(float, "1.3, 1.4: 'most layers' means a fraction of layers strictly above this", low=0.0, high=1.0),
    acc_margin=Param(float, "1.6: middle-only accuracy must be >= full-penalty accuracy - this many points", low=0.0, high=100.0),
)


def check(p: dict[str, Any]) -> dict[str, Any]:
    """Checks across parameters (after the schema's own); returns ``p``."""
    if p["depth_low"] > p["depth_high"]:
        raise ParameterError(f"parameter 'depth_low': {p['depth_low']} is above depth_high {p['depth_high']}")
    if p["spec_every"] > p["spec_epochs"]:
        raise ParameterError(f"parameter 'spec_every': {p['spec_every']} exceeds spec_epochs {p['spec_epochs']}")
    if sorted(p["milestones"]) != p["milestones"] or any(m > p["reg_epochs"] for m in p["milestones"]):
        raise ParameterError(f"parameter 'milestones': {p['milestones']} must be increasing and at most reg_epochs {p['reg_epochs']}")
    if len(set(p["arms"])) != len(p["arms"]):
        raise ParameterError(f"parameter 'arms': {p['arms']} lists an arm twice")
    if len(set(p["seeds"])) != len(p["seeds"]):
        raise ParameterError(f"parameter 'seeds': {p['seeds']} lists a seed twice")
    return p


# ---------------------------------------------------------------------------
# data and models


def resolve_dataset(name: str, fallback: str | None, root: str | None) -> tuple[str, str]:
    """``(name actually used, note)``: ``name`` when it is on this machine, else
    ``fallback`` (the note says so), else the loader's error."""
    try:
        data.load(name, root=root, n_train=10, n_test=10)
        return name, ""
    except data.DataNotFoundError as exc:
        if fallback is None or fallback == name:
            raise
        data.load(fallback, root=root, n_train=10, n_test=10)
        return fallback, f"{name} is not on this machine ({str(exc).splitlines()[0][:100]}...); using {fallback} instead"


def build_model(model: str, ds: data.Dataset, *, widths: Sequence[int], lenet_width: int, seed: int) -> nn.Module:
    """The chapter's MLP (ReLU, ``widths``) or LeNet (``input_size`` from the data)."""
    if model == "mlp":
        return models.build("mlp", in_features=int(np.prod(ds.input_shape)), widths=list(widths),
                            out_features=ds.num_classes, activation="relu", seed=seed)
    return models.build("lenet5", in_channels=ds.input_shape[0], num_classes=ds.num_classes,
                        input_size=ds.input_shape[-1], width=lenet_width, seed=seed)


def weight_layers(model: nn.Module) -> dict[str, str]:
    """A layer is one conv or linear weight tensor, as in the authors' code:
    ``{module path: parameter name}`` in forward order."""
    return {name: names[0] for name, names in models.layers(model).items()}


def _offsets(model: nn.Module) -> dict[str, slice]:
    out, start = {}, 0
    for n, p in model.named_parameters():
        out[n] = slice(start, start + p.numel())
        start += p.numel()
    return out


# ---------------------------------------------------------------------------
# curvature of one model on one batch


def curvature(model: nn.Module, batch: tuple[torch.Tensor, torch.Tensor], *, kind: str = "hessian", exact: bool,
              what: Sequence[str] = ("eig", "trace", "density"), slq_probes: int = 4, slq_steps: int = 40,
              trace_matvecs: int = 30, eig_tol: float = 1e-3, seed: int = 0, max_dim: int = 20000) -> dict[str, dict]:
    """Spectrum, top eigenvalue and trace of every layer's block and of the full
    matrix (``kind``: ``"hessian"`` or ``"ggn"``) of the mean cross-entropy on ``batch``.

    ``exact``: the dense matrix (in float64, on a copy of the model) and ``eigh`` -
    every block is a slice of it. Else matrix-free: top eigenvalue by Lanczos
    (``eig_tol``), trace by Hutch++ (``trace_matvecs`` HVPs), density by SLQ
    (``slq_probes`` x ``slq_steps``), all on views of one operator.

    Returns:
        ``{block: {"dim", "lmax", "trace", "eig" (exact) | "nodes", "weights",
        "probe_nodes", "probe_weights" (SLQ)}}``, blocks in forward order, then ``"full"``.
    """
    layers = weight_layers(model)
    out: dict[str, dict] = {}
    if exact:
        m64 = copy.deepcopy(model).double()
        x, y = batch
        H = dense_hessian(m64, F.cross_entropy, (x.double(), y), kind=kind, max_dim=max_dim)
        offs = _offsets(m64)
        blocks = {name: H[offs[w], offs[w]] for name, w in layers.items()}
        blocks["full"] = H
        for name, M in blocks.items():
            ev = torch.linalg.eigvalsh(M).cpu()
            out[name] = {"dim": int(M.shape[0]), "eig": ev, "lmax": float(ev[-1]), "trace": float(M.diagonal().sum())}
        return out
    op = HessianOperator(model, F.cross_entropy, batch, kind=kind)
    for name in [*layers, "full"]:
        blk = op if name == "full" else op.block([layers[name]])
        rec: dict[str, Any] = {"dim": int(blk.shape[0])}
        if "eig" in what:
            rec["lmax"] = float(eigenvalues(blk, 1, tol=eig_tol, seed=seed).values[0])
        if "trace" in what:
            rec["trace"] = float(trace(blk, num_matvecs=trace_matvecs, seed=seed).value)
        if "density" in what:
            d = spectral_density(blk, num_probes=slq_probes, num_steps=slq_steps, seed=seed)
            rec.update(nodes=d.nodes, weights=d.weights, probe_nodes=list(d.probe_nodes), probe_weights=list(d.probe_weights),
                       num_steps=d.num_steps)
            rec.setdefault("lmax", float(d.support[1]))
        out[name] = rec
    op.release()
    return out


def spectrum(rec: dict) -> Any:
    """The spectrum stored in a block record: eigenvalues (exact) or a :class:`SpectralDensity`."""
    if "eig" in rec:
        return rec["eig"]
    nodes, weights = rec["nodes"], rec["weights"]
    return SpectralDensity(nodes=nodes, weights=weights, support=(float(nodes.min()), float(nodes.max())),
                           num_probes=len(rec["probe_nodes"]), num_steps=int(rec["num_steps"]), hvps=0,
                           probe_nodes=list(rec["probe_nodes"]), probe_weights=list(rec["probe_weights"]))


# ---------------------------------------------------------------------------
# sections 1-4: spectra through training


def snapshot_epochs(epochs: int, every: int) -> list[int]:
    """0, every, 2 every, ..., and the last epoch."""
    out = list(range(0, epochs + 1, every))
    return out if out[-1] == epochs else out + [epochs]


@cached("hessian/spectra", version=1)
def spectra_run(*, model: str, dataset: str, data_root: str | None, n_train: int | None, per_class: int,
                widths: list, lenet_width: int, epochs: int, every: int, batch_size: int, lr: float, momentum: float,
                seed: int, exact_max_dim: int, slq_probes: int, slq_steps: int, trace_matvecs: int, eig_tol: float,
                curvature_seed: int, device: str) -> dict:
    """Train ``model`` on ``dataset`` with SGD + momentum (constant ``lr``) and take
    curvature snapshots (:func:`curvature`) on the ``per_class`` subset at
    :func:`snapshot_epochs`; at the last one also the GGN spectra. Cached."""
    ds = data.load(dataset, root=data_root, n_train=n_train, seed=0)
    sub = data.load(dataset, root=data_root, per_class=per_class, seed=0)
    net = build_model(model, ds, widths=widths, lenet_width=lenet_width, seed=seed)
    dim = models.num_parameters(net)
    exact = dim <= exact_max_dim
    dev = torch.device(device)
    batch = (sub.train[0].to(dev), sub.train[1].to(dev))
    snaps = snapshot_epochs(epochs, every)
    kw = dict(exact=exact, slq_probes=slq_probes, slq_steps=slq_steps, trace_matvecs=trace_matvecs, eig_tol=eig_tol,
              seed=curvature_seed, max_dim=max(exact_max_dim, 1))
    snapshots: list[dict] = []
    ggn: dict = {}

    def callback(m: nn.Module, epoch: int, history: History) -> dict:
        if epoch in snaps:
            snapshots.append(curvature(m, batch, **kw))
            if epoch == epochs:
                ggn.update(curvature(m, batch, kind="ggn", what=("density",), **kw))
        return {}

    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum)
    hist = fit(net, ds.train, test=ds.test, epochs=epochs, optimizer=opt, batch_size=batch_size, seed=seed,
               device=dev, callbacks=[callback])
    return {"layers": list(weight_layers(net)), "epochs": snaps, "snapshots": snapshots, "ggn": ggn,
            "exact": exact, "dim": dim, "num_classes": ds.num_classes, "history": hist.to_dict()}


def run_spectra(p: dict, device: torch.device, dataset: str) -> dict[str, dict]:
    """:func:`spectra_run` for the MLP and the LeNet, from the cache when warm."""
    return {m: spectra_run(model=m, dataset=dataset, data_root=p["data_root"], n_train=p["spec_n_train"],
                           per_class=p["per_class"], widths=p["mlp_widths"], lenet_width=p["lenet_width"],
                           epochs=p["spec_epochs"], every=p["spec_every"], batch_size=p["spec_batch_size"],
                           lr=p["spec_lr"], momentum=p["momentum"], seed=p["spec_seed"],
                           exact_max_dim=p["exact_max_dim"], slq_probes=p["slq_probes"], slq_steps=p["slq_steps"],
                           trace_matvecs=p["trace_matvecs"], eig_tol=p["eig_tol"],
                           curvature_seed=p["curvature_seed"], device=str(device))
            for m in ("mlp", "lenet5")}


def depths(layers: Sequence[str]) -> np.ndarray:
    """Normalized depth ``i / (L - 1)`` of each of ``L`` layers (0 for a single layer)."""
    n = len(layers)
    return np.arange(n) / (n - 1) if n > 1 else np.zeros(1)


def distances(run: dict, *, eps: float, bins: int, sigma2: float) -> dict[str, np.ndarray]:
    """Distance of every layer's spectrum to the full one at every snapshot, by
    both measures: ``{"sound": (snapshots, layers), "authors": (snapshots, layers)}``."""
    out = {"sound": [], "authors": []}
    for snap in run["snapshots"]:
        full = spectrum(snap["full"])
        out["sound"].append([scaled_wasserstein(spectrum(snap[l]), full) for l in run["layers"]])
        out["authors"].append([authors_distance(spectrum(snap[l]), full, eps=eps, num_bins=bins, sigma_squared=sigma2)
                               for l in run["layers"]])
    return {k: np.asarray(v) for k, v in out.items()}


def closest(run: dict, dist: dict[str, np.ndarray]) -> dict[str, dict[str, tuple[str, float]]]:
    """Per measure, the layer closest to the full spectrum and its normalized depth,
    at the end (``"end"``) and summed over training (``"sum"``)."""
    d = depths(run["layers"])
    out: dict[str, dict[str, tuple[str, float]]] = {}
    for measure, D in dist.items():
        out[measure] = {}
        for when, row in (("end", D[-1]), ("sum", D.sum(0))):
            i = int(np.argmin(row))
            out[measure][when] = (run["layers"][i], float(d[i]))
    return out


def runner_up_gap(dist: np.ndarray) -> float:
    """How clear the closest layer is: (second smallest - smallest) / smallest of the
    distances summed over training (0: a tie)."""
    tot = np.sort(dist.sum(0))
    return float((tot[1] - tot[0]) / tot[0]) if tot.size > 1 and tot[0] > 0 else math.nan


def series(run: dict, block: str, key: str) -> np.ndarray:
    """``key`` (``"lmax"`` or ``"trace"``) of ``block`` at every snapshot."""
    return np.array([s[block][key] for s in run["snapshots"]], dtype=float)


def spearman_table(run: dict, *, skip: float) -> dict[str, dict[str, float]]:
    """Spearman correlation with the epoch of lambda_max and trace, per block,
    over the snapshots after the first ``skip`` fraction of the epochs."""
    from scipy.stats import spearmanr

    ep = np.asarray(run["epochs"], dtype=float)
    keep = ep > skip * ep[-1]
    out: dict[str, dict[str, float]] = {}
    for block in [*run["layers"], "full"]:
        out[block] = {}
        for key in ("lmax", "trace"):
            v = series(run, block, key)[keep]
            out[block][key] = float(spearmanr(ep[keep], v).statistic) if keep.sum() >= 3 and np.ptp(v) > 0 else math.nan
    return out


def outlier_table(run: dict, *, sigma: float, floor: float) -> dict[str, dict[str, dict[str, float]]]:
    """Outliers above the bulk edge, per block, of the Hessian and of the GGN at the
    last snapshot: ``{"hessian"|"ggn": {block: {"count", "edge", "dim"}}}``."""
    out: dict[str, dict[str, dict[str, float]]] = {}
    for kind, snap in (("hessian", run["snapshots"][-1]), ("ggn", run["ggn"])):
        out[kind] = {}
        for block in [*run["layers"], "full"]:
            spec = spectrum(snap[block])
            dim = snap[block]["dim"]
            edge = bulk_edge(spec, dim=dim, sigma=sigma, floor=floor)
            out[kind][block] = {"count": count_outliers(spec, edge=edge, dim=dim), "edge": edge, "dim": dim}
    return out


def outlier_series(run: dict, *, sigma: float, floor: float) -> dict[str, np.ndarray]:
    """Outliers of the Hessian blocks at every snapshot (no extra HVPs)."""
    out = {}
    for block in [*run["layers"], "full"]:
        v = []
        for snap in run["snapshots"]:
            dim = snap[block]["dim"]
            v.append(count_outliers(spectrum(snap[block]), dim=dim, sigma=sigma, floor=floor))
        out[block] = np.asarray(v)
    return out


def ggn_gap(run: dict) -> float:
    """Largest difference between the sorted eigenvalues of H_ll and G_ll over the
    layers at the last snapshot (exact runs; NaN for SLQ runs). Zero up to rounding
    for piecewise-linear networks (ReLU, max-pool): within one layer the output is
    linear in that layer's weights, so the residual term of H_ll vanishes."""
    if not run["exact"]:
        return math.nan
    snap = run["snapshots"][-1]
    return max(float((snap[l]["eig"] - run["ggn"][l]["eig"]).abs().max()) for l in run["layers"])


def distance_table(runs: dict[str, dict], dists: dict[str, dict[str, np.ndarray]]) -> str:
    """Each layer's distance to the full spectrum, both measures, at the end and summed over training."""
    rows = [f"{'model':<7}{'layer':<7}{'depth':>6}{'dim':>7}{'authors, end':>14}{'authors, sum':>14}{'sound, end':>12}{'sound, sum':>12}"]
    for m, run in runs.items():
        d = depths(run["layers"])
        for i, l in enumerate(run["layers"]):
            A, S = dists[m]["authors"], dists[m]["sound"]
            rows.append(f"{MODEL_LABELS[m]:<7}{l:<7}{d[i]:>6.2f}{run['snapshots'][-1][l]['dim']:>7}{A[-1, i]:>14.4g}"
                        f"{A[:, i].sum():>14.4g}{S[-1, i]:>12.4g}{S[:, i].sum():>12.4g}")
    return "\n".join(rows)


# ---------------------------------------------------------------------------
# sections 5-6: the regularizer


def make_penalty(arm: str, *, gamma: float, gamma_middle: float, steps: int, num_probes: int, freq: int, sp: int,
                 seed: int) -> TracePenalty | None:
    """The arm's :class:`TracePenalty` (``None`` for the arms without one)."""
    scope = ARMS[arm][2]
    if scope is None:
        return None
    return TracePenalty(gamma=gamma if scope == "full" else gamma_middle, steps_per_epoch=steps,
                        num_probes=num_probes, freq=freq, start_epoch=sp, scope=scope, seed=seed)


@cached("hessian/arm", version=1)
def arm_run(*, arm: str, model: str, dataset: str, data_root: str | None, n_train: int | None, n_test: int | None,
            widths: list, lenet_width: int, epochs: int, batch_size: int, lr: float, momentum: float, milestones: list,
            lr_gamma: float, weight_decay: float, gamma: float, gamma_middle: float, num_probes: int, freq: int,
            sp: int, per_class: int, trace_matvecs: int, eig_tol: float, curvature_seed: int, seed: int,
            device: str) -> dict:
    """Train one arm with one seed (SGD + momentum, step schedule; + L2 and/or the
    trace penalty per :data:`ARMS`), then measure lambda_max and the trace of the full
    Hessian on the ``per_class`` subset (the same probes for every arm). Cached."""
    ds = data.load(dataset, root=data_root, n_train=n_train, n_test=n_test, seed=0)
    sub = data.load(dataset, root=data_root, per_class=per_class, seed=0)
    net = build_model(model, ds, widths=widths, lenet_width=lenet_width, seed=seed)
    dev = torch.device(device)
    _, l2, _ = ARMS[arm]
    opt = torch.optim.SGD(net.parameters(), lr=lr, momentum=momentum, weight_decay=weight_decay if l2 else 0.0)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(milestones), gamma=lr_gamma)
    steps = steps_per_epoch(ds.train[0].shape[0], batch_size)
    pen = make_penalty(arm, gamma=gamma, gamma_middle=gamma_middle, steps=steps, num_probes=num_probes, freq=freq,
                       sp=sp, seed=seed)
    hist = fit(net, ds.train, test=ds.test, epochs=epochs, optimizer=opt, scheduler=sched, batch_size=batch_size,
               penalty=pen, seed=seed, device=dev, eval_train=False)
    batch = (sub.train[0].to(dev), sub.train[1].to(dev))
    op = HessianOperator(net, F.cross_entropy, batch)
    lmax = float(eigenvalues(op, 1, tol=eig_tol, seed=curvature_seed).values[0])
    tr = trace(op, num_matvecs=trace_matvecs, seed=curvature_seed)
    op.release()
    last = hist.last
    return {"history": hist.to_dict(), "acc": 100.0 * last.get("test_acc", math.nan), "lmax": lmax,
            "trace": float(tr.value), "trace_stderr": float(tr.stderr), "fired": len(pen.fired) if pen else 0,
            "seconds": float(last.get("time", math.nan)), "steps": int(last.get("step", 0)),
            "middle": pen.block(net) if pen is not None and ARMS[arm][2] == "middle" else []}


def run_arms(p: dict, device: torch.device, dataset: str) -> dict[str, list[dict]]:
    """Every arm and seed of the parameters, from the cache when warm."""
    keys = dict(model=p["reg_model"], dataset=dataset, data_root=p["data_root"], n_train=p["reg_n_train"],
                n_test=p["reg_n_test"], widths=p["mlp_widths"], lenet_width=p["lenet_width"], epochs=p["reg_epochs"],
                batch_size=p["reg_batch_size"], lr=p["reg_lr"], momentum=p["momentum"], milestones=p["milestones"],
                lr_gamma=p["lr_gamma"], weight_decay=p["weight_decay"], gamma=p["gamma"],
                gamma_middle=p["gamma_middle"], num_probes=p["num_probes"], freq=p["freq"], sp=p["sp"],
                per_class=p["per_class"], trace_matvecs=p["trace_matvecs"], eig_tol=p["eig_tol"],
                curvature_seed=p["curvature_seed"], device=str(device))
    return {arm: [arm_run(arm=arm, seed=s, **keys) for s in p["seeds"]] for arm in p["arms"]}


def column(runs: list[dict], key: str) -> np.ndarray:
    return np.array([r[key] for r in runs], dtype=float)


def _ms(v: np.ndarray) -> tuple[float, float]:
    return float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else 0.0


def arm_table(results: dict[str, list[dict]]) -> str:
    """Final test accuracy, lambda_max and trace per arm (mean +- std over seeds)."""
    rows = [f"{'arm':<28}{'seeds':>6}{'test acc (%)':>20}{'lambda_max':>20}{'trace':>22}"]
    for arm, runs in results.items():
        a, l, t = (_ms(column(runs, k)) for k in ("acc", "lmax", "trace"))
        rows.append(f"{ARMS[arm][0]:<28}{len(runs):>6}{a[0]:>12.2f} +- {a[1]:<4.2f}{l[0]:>12.4g} +- {l[1]:<6.2g}"
                    f"{t[0]:>12.4g} +- {t[1]:<7.2g}")
    return "\n".join(rows)


def cost_table(results: dict[str, list[dict]]) -> tuple[str, dict[str, float]]:
    """Training time per step of each arm (mean over seeds), penalized steps per run,
    and the extra seconds per penalized step against plain SGD (same seed)."""
    sgd = {i: r for i, r in enumerate(results.get("sgd", []))}
    rows = [f"{'arm':<28}{'ms / step':>10}{'penalized steps':>17}{'ms / penalized step (extra)':>29}"]
    extra: dict[str, float] = {}
    for arm, runs in results.items():
        per_step = np.mean([r["seconds"] / max(r["steps"], 1) for r in runs]) * 1e3
        fired = np.mean([r["fired"] for r in runs])
        if fired > 0 and sgd:
            ex = np.mean([(r["seconds"] - sgd[i]["seconds"]) / r["fired"] for i, r in enumerate(runs) if i in sgd]) * 1e3
            extra[arm] = float(ex)
            cell = f"{ex:>29.1f}"
        else:
            cell = f"{'-':>29}"
        rows.append(f"{ARMS[arm][0]:<28}{per_step:>10.2f}{fired:>17.0f}{cell}")
    return "\n".join(rows), extra


def paper_table(results: dict[str, list[dict]], *, dataset: str, scale: str) -> str:
    """This run's SGD and SGD + trace penalty + L2 beside the authors' numbers."""
    rows = [f"{'arm':<28}{'paper (LeNet, MNIST, 30 ep.)':>30}{'this run (' + scale + ')':>40}"]
    for arm in ("sgd", "sgd+trace+l2"):
        ref = PAPER[arm]
        if arm in results:
            m, s = _ms(column(results[arm], "acc"))
            ours = f"{m:.3f} +- {s:.3f} % ({len(results[arm])} seeds, {dataset})"
        else:
            ours = "not run"
        rows.append(f"{ARMS[arm][0]:<28}{f'{ref[0]:.3f} +- {ref[1]:.3f} %':>30}{' ' + ours:>40}")
    return "\n".join(rows)


#: where a gpu-profile run leaves its summary (section 6 of every other profile shows it, and the
#: claims ledger its verdicts: :func:`landscape.ledger.scale_verdicts`)
PAPER_SCALE_JSON = record_path("hessian")


def paper_scale_record(results: dict[str, list[dict]], claims: Sequence[Claim], p: dict, *, device: torch.device,
                       reg_data: str, spec_data: str, seconds: float) -> dict:
    """What a run at the paper's scale found: per arm the seeds' test accuracy, lambda_max and
    trace (lists, so means and deviations can be recomputed), the claims as decided in that run,
    the parameters and where and when it ran."""
    return {
        "profile": p["profile"], "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "device": device_label(device), "commit": git_commit(), "torch": torch.__version__, "seconds": float(seconds),
        "reg_data": reg_data, "spec_data": spec_data,
        "params": {k: p[k] for k in ("reg_model", "reg_epochs", "reg_batch_size", "reg_lr", "milestones", "lr_gamma",
                                     "momentum", "weight_decay", "gamma", "gamma_middle", "num_probes", "freq", "sp",
                                     "seeds", "spec_epochs", "mlp_widths", "per_class")},
        "arms": {arm: {k: column(runs, k).tolist() for k in ("acc", "lmax", "trace")} for arm, runs in results.items()},
        "claims": [{"id": c.id, "statement": c.statement, "value": float(c.value) if isinstance(c.value, (int, float))
                    else None, "rule": c.rule, "verdict": c.verdict} for c in claims],
    }


def save_paper_scale(record: dict, path: str | Path | None = None) -> Path:
    """Write ``record`` as JSON (atomically) to ``path`` (default :data:`PAPER_SCALE_JSON`)."""
    path = Path(path) if path is not None else PAPER_SCALE_JSON
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(record, indent=1, allow_nan=True) + "\n")
    os.replace(tmp, path)
    return path


def load_paper_scale(path: str | Path | None = None) -> dict | None:
    """The record of the last gpu-profile run, or None when there is none (or it is unreadable)."""
    rec = read_scale_record(path if path is not None else PAPER_SCALE_JSON)
    return rec if rec is not None and isinstance(rec.get("arms"), dict) else None


def paper_scale_text(record: dict) -> str:
    """The record beside the paper's numbers: provenance, every arm, and the claims decided at that scale."""
    q = record["params"]
    lines = [f"Run: {record['profile']} profile, {record['date']}, {record['device']}, library commit "
             f"{record['commit']}, torch {record['torch']}, {record['seconds'] / 60:.0f} min.",
             f"Regularizer: {MODEL_LABELS.get(q['reg_model'], q['reg_model'])} on {record['reg_data']}, "
             f"{q['reg_epochs']} epochs, batch {q['reg_batch_size']}, lr {q['reg_lr']:g} x {q['lr_gamma']:g} at "
             f"{q['milestones']}, gamma {q['gamma']:g}, K {q['num_probes']}, freq {q['freq']}, sp {q['sp']}, "
             f"seeds {q['seeds']}; spectra on {record['spec_data']} for {q['spec_epochs']} epochs.", ""]
    lines.append(f"{'arm':<28}{'paper (LeNet, MNIST)':>22}{'test acc (%)':>22}{'lambda_max':>14}{'trace':>14}")
    for arm, d in record["arms"].items():
        acc, lm, tr = (np.array(d[k], dtype=float) for k in ("acc", "lmax", "trace"))
        a, s = _ms(acc)
        ref = f"{PAPER[arm][0]:.3f} +- {PAPER[arm][1]:.3f}" if arm in PAPER else "-"
        lines.append(f"{ARMS[arm][0] if arm in ARMS else arm:<28}{ref:>22}{f'{a:.3f} +- {s:.3f}':>22}"
                     f"{np.mean(lm):>14.4g}{np.mean(tr):>14.4g}")
    lines += ["", "Claims decided in that run:"]
    for c in record["claims"]:
        v = "nan" if c["value"] is None else f"{c['value']:.4g}"
        lines.append(f"  {c['id']:<5}{c['verdict']:<16}{v:>10} ({c['rule']})  {c['statement']}")
    return "\n".join(lines)


# ---------------------------------------------------------------------------
# claims


def all_of(id: str, statement: str, parts: Sequence[Claim]) -> Claim:
    """One verdict from several decided parts: ``reproduced`` when every part is,
    ``not reproduced`` when any part is not, else ``inconclusive``. The value,
    comparison and threshold shown are those of the first part that decided it (the
    first part not reproduced, else the first inconclusive one, else the first),
    preferring one with a finite value; the detail lists every part."""
    if not parts:
        raise ValueError("all_of needs at least one part")
    verdicts = [c.verdict for c in parts]
    if all(v == "reproduced" for v in verdicts):
        verdict = "reproduced"
    elif "not reproduced" in verdicts:
        verdict = "not reproduced"
    else:
        verdict = "inconclusive"
    finite = lambda c: isinstance(c.value, (int, float)) and math.isfinite(c.value)
    deciding = [c for c in parts if c.verdict == verdict]
    shown = next((c for c in deciding if finite(c)), next((c for c in parts if finite(c)), deciding[0]))
    assert verdict in VERDICTS
    detail = "; ".join(f"[{c.statement}: {c.value:.4g} {c.rule} -> {c.verdict}{' (' + c.detail + ')' if c.detail else ''}]"
                       for c in parts)
    return Claim(id, statement, shown.value, shown.op, shown.threshold, verdict, detail)


def fraction(flags: Sequence[float], test) -> float:
    """Fraction of the finite values that pass ``test`` (NaN when none is finite)."""
    v = [x for x in flags if isinstance(x, (int, float)) and math.isfinite(x)]
    return float(np.mean([bool(test(x)) for x in v])) if v else math.nan


# ---------------------------------------------------------------------------
# figures


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


def plot_density_grid(run: dict, *, model: str, dataset: str, rows: int):
    """Densities of every layer's block (colour) and of the full Hessian (grey,
    dashed; last column alone) at ``rows`` epochs spread over training."""
    n_snap = len(run["snapshots"])
    idx = sorted(set(np.linspace(0, n_snap - 1, min(rows, n_snap)).round().astype(int).tolist()))
    blocks = [*run["layers"], "full"]
    fig, axes = plt.subplots(len(idx), len(blocks), figsize=(2.1 * len(blocks), 1.55 * len(idx) + 0.7), squeeze=False,
                             dpi=FIG_DPI)
    for r, i in enumerate(idx):
        snap = run["snapshots"][i]
        for c, b in enumerate(blocks):
            ax = axes[r, c]
            _density_axes(ax, snap, b, colour="black" if b == "full" else PALETTE[0], label="layer" if (r, c) == (0, 0) else None)
            ax.tick_params(labelsize=7)
            if r == 0:
                ax.set_title(f"{b} ({snap[b]['dim']})", fontsize=9)
            if c == 0:
                ax.set_ylabel(f"epoch {run['epochs'][i]}\ndensity x width", fontsize=8)
            if r == len(idx) - 1:
                ax.set_xlabel("eigenvalue", fontsize=8)
    axes[0, 0].legend(fontsize=7, loc="upper right")
    how = "exact (dense Hessian, eigh)" if run["exact"] else "SLQ"
    fig.suptitle(f"Layer Hessians H_ll (blue) vs the full Hessian (grey) - as in the paper's layerwise-density figures; {MODEL_LABELS[model]}, "
                 f"{dataset}, {how}, on {run['snapshots'][0]['full']['dim']} parameters", fontsize=10)
    fig.tight_layout()
    return fig


def plot_epoch(runs: dict[str, dict], i: int, *, dataset: str):
    """Every layer's density (colours) and the full one (black) at snapshot ``i``, one panel per model."""
    fig, axes = plt.subplots(1, len(runs), figsize=(5.2 * len(runs), 3.1), squeeze=False, dpi=EXPLORE_DPI)
    for ax, (m, run) in zip(axes[0], runs.items()):
        j = min(i, len(run["snapshots"]) - 1)
        snap = run["snapshots"][j]
        for k, b in enumerate([*run["layers"], "full"]):
            _density_axes(ax, snap, b, colour="black" if b == "full" else PALETTE[k % 7], full=False, label=b)
        ax.set(xlabel="eigenvalue", ylabel="density x width", title=f"{MODEL_LABELS[m]}, epoch {run['epochs'][j]}")
        ax.legend(fontsize=7, ncol=2)
    fig.suptitle(f"Layer and full Hessian densities, as in the paper's layerwise-density figures ({dataset}, per-class subset)", fontsize=10)
    fig.tight_layout()
    return fig


def plot_layer(run: dict, layer: str, *, model: str, dataset: str):
    """One block's density at every snapshot (light to dark), with the final full density (grey)."""
    fig, ax = plt.subplots(figsize=(8.0, 3.4), dpi=EXPLORE_DPI)
    cmap = plt.get_cmap("viridis")
    n = len(run["snapshots"])
    for i, snap in enumerate(run["snapshots"]):
        _density_axes(ax, snap, layer, colour=cmap(i / max(n - 1, 1)), full=(i == n - 1 and layer != "full"),
                      label=f"epoch {run['epochs'][i]}", full_label=f"full H, epoch {run['epochs'][i]}")
    ax.set(xlabel="eigenvalue", ylabel="density x width", title=f"{MODEL_LABELS[model]} {layer}: density through training ({dataset})")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


def plot_distances(runs: dict[str, dict], dists: dict[str, dict[str, np.ndarray]], *, dataset: str):
    """Distance to the full spectrum against normalized depth: the authors' measure
    (left) and the sound one (right); at the end (solid) and summed over training
    (dashed, divided by the number of snapshots); a star marks each minimum."""
    fig, axes = plt.subplots(1, 2, figsize=(10.5, 3.8), dpi=FIG_DPI)
    for ax, measure, title in ((axes[0], "authors", "authors' measure (log-density vectors as samples)"),
                               (axes[1], "sound", "W1 between spectra / full width")):
        for k, (m, run) in enumerate(runs.items()):
            d = depths(run["layers"])
            D = dists[m][measure]
            for row, ls, lab in ((D[-1], "-", "end"), (D.mean(0), "--", "summed over training / snapshots")):
                ax.plot(d, row, ls, marker="o", ms=4, color=PALETTE[k], label=f"{MODEL_LABELS[m]}, {lab}")
                i = int(np.argmin(row))
                ax.plot(d[i], row[i], "*", ms=14, color=PALETTE[k], mec="black")
        ax.set(xlabel="normalized depth of the layer (0: first, 1: last)", ylabel="distance to the full spectrum", title=title)
        ax.axvspan(1 / 3, 2 / 3, color="0.9", zorder=0)
    handles, labels = axes[1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=4, fontsize=8, frameon=False)
    fig.suptitle(f"Which layer's spectrum is most like the full one? (the paper's layer-similarity analysis; {dataset}, grey band: middle third)", fontsize=10)
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    return fig


def plot_outliers(runs: dict[str, dict], tables: dict[str, dict], series_: dict[str, dict], *, classes: int, slack: int,
                  dataset: str):
    """Top: outliers above the bulk edge per block at the last epoch, Hessian vs
    Gauss-Newton, against C. Bottom: the Hessian blocks' outliers through training."""
    fig, axes = plt.subplots(2, len(runs), figsize=(5.2 * len(runs), 5.8), squeeze=False, dpi=FIG_DPI)
    for c, (m, run) in enumerate(runs.items()):
        ax = axes[0, c]
        blocks = [*run["layers"], "full"]
        x = np.arange(len(blocks))
        for k, (kind, lab) in enumerate((("hessian", "H_ll"), ("ggn", "G_ll (Gauss-Newton)"))):
            ax.bar(x + (k - 0.5) * 0.38, [tables[m][kind][b]["count"] for b in blocks], 0.38, color=PALETTE[k], label=lab)
        ax.axhspan(classes - slack, classes + slack, color="0.88", zorder=0)
        ax.axhline(classes, color="black", lw=1, label=f"C = {classes}")
        ax.set_xticks(x, blocks, fontsize=8)
        ax.set(ylabel="eigenvalues above the bulk edge",
               title=f"{MODEL_LABELS[m]}, last epoch ({'exact' if run['exact'] else 'SLQ, mean over probes'})")
        ax.legend(fontsize=7)
        ax = axes[1, c]
        ax.axhspan(classes - slack, classes + slack, color="0.88", zorder=0)
        for k, b in enumerate(blocks):
            ax.plot(run["epochs"], series_[m][b], marker=".", color="black" if b == "full" else PALETTE[k % 7],
                    lw=2 if b == "full" else 1.2, label=b)
        ax.set(xlabel="epoch", ylabel="outliers of H_ll", title=f"{MODEL_LABELS[m]}: outliers through training")
        ax.legend(fontsize=7, ncol=3)
    fig.suptitle(f"Outliers per layer vs the number of classes (the paper's outlier analysis; {dataset}, band: C +- {slack})", fontsize=10)
    fig.tight_layout()
    return fig


def plot_flattening(runs: dict[str, dict], *, skip: float, dataset: str):
    """lambda_max and trace of every block against epochs (log scale); the shaded
    start is left out of the Spearman correlations of claim 1.3."""
    fig, axes = plt.subplots(len(runs), 2, figsize=(10.5, 2.9 * len(runs)), squeeze=False, dpi=FIG_DPI)
    for r, (m, run) in enumerate(runs.items()):
        ep = np.asarray(run["epochs"])
        for c, (key, lab) in enumerate((("lmax", "top eigenvalue"), ("trace", "trace"))):
            ax = axes[r, c]
            for k, b in enumerate(run["layers"]):
                ax.semilogy(ep, np.maximum(series(run, b, key), 1e-12), marker=".", color=PALETTE[k % 7], label=b)
            ax.semilogy(ep, np.maximum(series(run, "full", key), 1e-12), marker="o", color="black", lw=2, label="full")
            ax.axvspan(ep[0], skip * ep[-1], color="0.9", zorder=0)
            ax.set(xlabel="epoch", ylabel=lab, title=f"{MODEL_LABELS[m]}: {lab}")
            if c == 1:
                ax.legend(fontsize=7, ncol=2)
    fig.suptitle(f"Flattening: top eigenvalue and trace of H and of each H_ll during training (the paper's flattening figures; {dataset})", fontsize=10)
    fig.tight_layout()
    return fig


def plot_arms(results: dict[str, list[dict]], *, dataset: str, model: str):
    """Final test accuracy, trace and lambda_max per arm (dots: seeds; bar: mean +- std)."""
    fig, axes = plt.subplots(1, 3, figsize=(11.5, 3.4), dpi=FIG_DPI)
    arms = list(results)
    for ax, key, lab in ((axes[0], "acc", "final test accuracy (%)"), (axes[1], "trace", "final trace of H"),
                         (axes[2], "lmax", "final lambda_max of H")):
        for i, arm in enumerate(arms):
            v = column(results[arm], key)
            m, s = _ms(v)
            ax.errorbar(i, m, yerr=s, fmt="s", color=ARM_COLOURS[arm], ms=7, capsize=4)
            ax.plot(np.full(len(v), i) + np.linspace(-0.12, 0.12, len(v)), v, "o", color=ARM_COLOURS[arm], alpha=0.45, ms=4)
        ax.set_xticks(range(len(arms)), [ARM_SHORT[a] for a in arms], fontsize=8)
        ax.set(ylabel=lab)
    fig.suptitle(f"The trace regularizer (the paper's regularization table): {MODEL_LABELS[model]} on {dataset}, "
                 f"{len(next(iter(results.values())))} seeds; SGD + L2, + trace penalty, + both, + middle-layer penalty", fontsize=10)
    fig.tight_layout()
    return fig


def plot_arm_curves(results: dict[str, list[dict]], arm: str, *, dataset: str):
    """Test accuracy against epochs of one arm (each seed), the other arms' means in
    grey: all epochs (left) and the second half, zoomed (right)."""
    fig, axes = plt.subplots(1, 2, figsize=(10.0, 3.2), dpi=EXPLORE_DPI)
    epochs = np.asarray(next(iter(results.values()))[0]["history"]["columns"]["epoch"])
    half = epochs >= epochs[-1] / 2
    for ax, sel in ((axes[0], np.ones_like(half)), (axes[1], half)):
        for other, runs in results.items():
            if other != arm:
                ys = np.array([r["history"]["columns"]["test_acc"] for r in runs]) * 100
                ax.plot(epochs[sel], ys.mean(0)[sel], color="0.7", lw=1)
        for j, r in enumerate(results[arm]):
            ax.plot(epochs[sel], (np.array(r["history"]["columns"]["test_acc"]) * 100)[sel], color=ARM_COLOURS[arm], lw=1.4,
                    alpha=0.85, label=f"{ARMS[arm][0]} (each seed)" if j == 0 else None)
        ax.set(xlabel="epoch", ylabel="test accuracy (%)")
    axes[0].plot([], [], color="0.7", label="other arms (mean)")
    axes[0].legend(fontsize=8, loc="lower right")
    axes[0].set_title(f"{ARMS[arm][0]} ({dataset})")
    axes[1].set_title("second half, zoomed")
    fig.tight_layout()
    return fig


def plot_live_distances(runs: dict[str, dict], *, eps: float, bins: int, sigma2: float):
    """The authors' measure at the last snapshot against depth, for a chosen eps (live widget)."""
    fig, ax = plt.subplots(figsize=(7.0, 3.4), dpi=EXPLORE_DPI)
    for k, (m, run) in enumerate(runs.items()):
        snap = run["snapshots"][-1]
        full = spectrum(snap["full"])
        v = [authors_distance(spectrum(snap[l]), full, eps=eps, num_bins=bins, sigma_squared=sigma2) for l in run["layers"]]
        ax.plot(depths(run["layers"]), v, "o-", color=PALETTE[k], label=MODEL_LABELS[m])
    ax.set(xlabel="normalized depth", ylabel="authors' measure", title=f"authors' measure at the end, eps = {eps:.0e}")
    ax.legend()
    fig.tight_layout()
    return fig
