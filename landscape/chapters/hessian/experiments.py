r"""The hessian chapter's experiments (``book/hessian.ipynb``), cached.

- **Spectra through training** (sections 1-4): :func:`spectra_run` trains one model
  (the MLP or the LeNet-style CNN) with SGD + momentum and, after every
  ``every``-th epoch, computes on a fixed class-balanced subset (``per_class``
  examples of each class) the top eigenvalue, the trace and the spectrum of every
  layer's block :math:`H_{ll}` (one layer = one conv/linear weight tensor) and of the
  full Hessian - exactly (:func:`~landscape.curvature.dense_hessian` + ``eigh``) when
  the model is small enough, else by SLQ - and, at the last epoch, the same spectra
  of the Gauss-Newton blocks :math:`G_{ll}` (:func:`curvature`).
  :func:`distances`, :func:`closest`, :func:`spearman_table` and :func:`outlier_table`
  turn the snapshots into the numbers of claims 1.1-1.4.
- **The regularizer** (sections 5-6): :func:`arm_run` trains one arm (SGD, + L2, +
  trace penalty, + both, + middle-layer penalty; :data:`~.schema.ARMS`) with the
  authors' mechanics (:class:`landscape.methods.trace_penalty.TracePenalty`), then
  measures the full Hessian's :math:`\lambda_{\max}` and trace.

:func:`run` does all of it from the parameters and returns :class:`Results`. The
similarity measures and the outlier count are :mod:`landscape.spectra`'s.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...curvature import HessianOperator, SpectralDensity, dense_hessian, eigenvalues, spectral_density, trace
from ...experiment.cache import cached
from ...experiment.parallel import compute
from ...experiment.params import Params
from ...methods.trace_penalty import TracePenalty, middle_params, steps_per_epoch
from ...spectra import authors_distance, bulk_edge, count_outliers, scaled_wasserstein, semicircle_quantiles, shape_distance
from ...training import models
from ...training.data import DataNotFoundError, Dataset, DataSpec
from ...training.loop import History, fit, resolve_device, threads
from .schema import ARMS, arm_values

__all__ = ["MODELS", "MODEL_LABELS", "Net", "Measure", "SpectraSetting", "ArmSetting", "Results", "run", "density_epochs",
           "shape_readings", "spectra_settings", "arm_setting",
           "resolve_dataset", "build_model", "weight_layers", "curvature", "spectrum", "snapshot_epochs",
           "spectra_run", "arm_run", "make_penalty", "depths", "distances", "closest", "runner_up_gap", "series",
           "spearman_table", "outlier_table", "outlier_series", "ggn_gap", "column"]

#: the two models of the spectra experiments, in the order the page shows them
MODELS = ("mlp", "lenet5")
MODEL_LABELS = {"mlp": "MLP", "lenet5": "LeNet", "smooth": "smooth MLP"}


# ---------------------------------------------------------------------------
# data and models


def resolve_dataset(name: str, fallback: str | None, root: str | None) -> tuple[str, str]:
    """``(name actually used, note)``: ``name`` when it is on this machine, else
    ``fallback`` (the note says so), else the loader's error."""
    try:
        DataSpec(name, root=root).load()
        return name, ""
    except DataNotFoundError as exc:
        if fallback is None or fallback == name:
            raise
        DataSpec(fallback, root=root).load()
        return fallback, f"{name} is not on this machine ({str(exc).splitlines()[0][:100]}...); using {fallback} instead"


@dataclass(frozen=True)
class Net:
    """Which network: ``"mlp"`` (hidden ``widths``, ``activation``) or ``"lenet5"`` (channel
    multiplier ``lenet_width``; ReLU and max-pooling)."""

    model: str
    widths: tuple[int, ...]
    lenet_width: int
    activation: str = "relu"


def build_model(net: Net, ds: Dataset, *, seed: int) -> nn.Module:
    """The chapter's MLP (``net.widths``, ``net.activation``) or LeNet (``input_size`` from the data)."""
    if net.model == "mlp":
        return models.build("mlp", in_features=int(np.prod(ds.input_shape)), widths=list(net.widths),
                            out_features=ds.num_classes, activation=net.activation, seed=seed)
    return models.build("lenet5", in_channels=ds.input_shape[0], num_classes=ds.num_classes,
                        input_size=ds.input_shape[-1], width=net.lenet_width, seed=seed)


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


@dataclass(frozen=True)
class Measure:
    """How the Hessian is measured after training (every arm) and at each snapshot: on
    ``subset`` (the ``per_class`` subset of the training split), top eigenvalue to
    relative residual ``eig_tol``, trace by Hutch++ with ``trace_matvecs`` HVPs, every
    estimate seeded with ``seed`` (the same probes everywhere)."""

    subset: DataSpec
    trace_matvecs: int
    eig_tol: float
    seed: int


@dataclass(frozen=True)
class SpectraSetting:
    """One spectra run: ``net`` trained on ``data`` with SGD + momentum (constant ``lr``)
    for ``epochs``. After every ``every`` epochs (and at 0 and the last) the top eigenvalue
    and the trace of every block (matrix-free: the series of claim 1.3); at the epochs
    ``density_at`` (and the last) every block's spectrum, exact up to ``exact_max_dim``
    parameters, else SLQ (``slq_probes`` x ``slq_steps``) - fewer, larger snapshots."""

    net: Net
    data: DataSpec
    epochs: int
    every: int
    batch_size: int
    lr: float
    momentum: float
    exact_max_dim: int
    slq_probes: int
    slq_steps: int
    density_at: tuple[int, ...] = ()


def snapshot_epochs(epochs: int, every: int) -> list[int]:
    """0, every, 2 every, ..., and the last epoch.

    Example:
        >>> snapshot_epochs(5, 2)
        [0, 2, 4, 5]
    """
    out = list(range(0, epochs + 1, every))
    return out if out[-1] == epochs else out + [epochs]


def density_epochs(epochs: int, count: int) -> tuple[int, ...]:
    """``count`` epochs spread evenly from 0 to ``epochs`` (both included when ``count >= 2``).

    Example:
        >>> density_epochs(10, 3), density_epochs(10, 1)
        ((0, 5, 10), (10,))
    """
    if count <= 1:
        return (epochs,)
    return tuple(sorted({int(round(i * epochs / (count - 1))) for i in range(count)}))


@cached("hessian/spectra", version=3, ignore=("device",))
def spectra_run(*, setting: SpectraSetting, measure: Measure, seed: int, device: str) -> dict:
    """Train ``setting.net`` on ``setting.data`` with SGD + momentum; on ``measure.subset``
    take the series of top eigenvalue and trace of every block at :func:`snapshot_epochs`
    (matrix-free, ``measure``'s budgets), every block's spectrum at ``setting.density_at``
    and the last epoch (:func:`curvature`), and at the last one also the GGN spectra.
    ``seed``: the model's and the shuffling's. Cached by everything but the device."""
    s = setting
    ds = s.data.load()
    sub = measure.subset.load()
    net = build_model(s.net, ds, seed=seed)
    dim = models.num_parameters(net)
    exact = dim <= s.exact_max_dim
    dev = torch.device(device)
    batch = (sub.train[0].to(dev), sub.train[1].to(dev))
    series_at = snapshot_epochs(s.epochs, s.every)
    dens_at = sorted(set(s.density_at) | {s.epochs})
    kw = dict(slq_probes=s.slq_probes, slq_steps=s.slq_steps, trace_matvecs=measure.trace_matvecs,
              eig_tol=measure.eig_tol, seed=measure.seed, max_dim=max(s.exact_max_dim, 1))
    series: list[dict] = []
    snapshots: list[dict] = []
    ggn: dict = {}

    def callback(m: nn.Module, epoch: int, history: History) -> dict:
        if epoch in series_at:
            series.append(curvature(m, batch, exact=False, what=("eig", "trace"), **kw))
        if epoch in dens_at:
            snapshots.append(curvature(m, batch, exact=exact, what=("density",), **kw))
        if epoch == s.epochs:
            ggn.update(curvature(m, batch, kind="ggn", exact=exact, what=("density",), **kw))
        return {}

    opt = torch.optim.SGD(net.parameters(), lr=s.lr, momentum=s.momentum)
    hist = fit(net, ds.train, test=ds.test, epochs=s.epochs, optimizer=opt, batch_size=s.batch_size, seed=seed,
               device=dev, callbacks=[callback])
    return {"layers": list(weight_layers(net)), "epochs": dens_at, "snapshots": snapshots, "series_epochs": series_at,
            "series": series, "ggn": ggn, "exact": exact, "dim": dim, "num_classes": ds.num_classes,
            "history": hist.to_dict()}


def depths(layers: Sequence[str]) -> np.ndarray:
    """Normalized depth ``i / (L - 1)`` of each of ``L`` layers (0 for a single layer).

    Example:
        >>> depths(["a", "b", "c"]).tolist()
        [0.0, 0.5, 1.0]
    """
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


def closest(layers: Sequence[str], dist: dict[str, np.ndarray]) -> dict[str, dict[str, tuple[str, float]]]:
    """Per measure, the layer closest to the full spectrum and its normalized depth,
    at the end (``"end"``) and summed over training (``"sum"``).

    Example:
        >>> closest(["a", "b", "c"], {"sound": np.array([[3.0, 1.0, 2.0], [3.0, 2.0, 1.0]])})["sound"]
        {'end': ('c', 1.0), 'sum': ('b', 0.5)}
    """
    d = depths(layers)
    out: dict[str, dict[str, tuple[str, float]]] = {}
    for measure, D in dist.items():
        out[measure] = {}
        for when, row in (("end", D[-1]), ("sum", D.sum(0))):
            i = int(np.argmin(row))
            out[measure][when] = (layers[i], float(d[i]))
    return out


def runner_up_gap(dist: np.ndarray) -> float:
    """How clear the closest layer is: (second smallest - smallest) / smallest of the
    distances summed over training (0: a tie).

    Example:
        >>> runner_up_gap(np.array([[1.0, 1.5, 3.0]]))
        0.5
    """
    tot = np.sort(dist.sum(0))
    return float((tot[1] - tot[0]) / tot[0]) if tot.size > 1 and tot[0] > 0 else math.nan


def series(run: dict, block: str, key: str) -> np.ndarray:
    """``key`` (``"lmax"`` or ``"trace"``) of ``block`` at every epoch of ``run["series_epochs"]``."""
    return np.array([s[block][key] for s in run["series"]], dtype=float)


def spearman_table(run: dict, *, skip: float) -> dict[str, dict[str, float]]:
    """Spearman correlation with the epoch of lambda_max and trace, per block, over the
    series after the first ``skip`` fraction of the epochs, with its one-sided p-value
    against "no decrease" (``<key>_p``: :func:`scipy.stats.spearmanr`'s t approximation,
    close to the exact permutation p at 8 or more snapshots, and 0 for a strictly monotone fall);
    ``n``: the snapshots used. NaN with fewer than 3 snapshots or a constant series."""
    from scipy.stats import spearmanr

    ep = np.asarray(run["series_epochs"], dtype=float)
    keep = ep > skip * ep[-1]
    out: dict[str, dict[str, float]] = {}
    for block in [*run["layers"], "full"]:
        out[block] = {"n": int(keep.sum())}
        for key in ("lmax", "trace"):
            v = series(run, block, key)[keep]
            if keep.sum() >= 3 and np.ptp(v) > 0:
                r = spearmanr(ep[keep], v, alternative="less")
                out[block][key], out[block][f"{key}_p"] = float(r.statistic), float(r.pvalue)
            else:
                out[block][key], out[block][f"{key}_p"] = math.nan, math.nan
    return out


def shape_readings(run: dict, *, floor: float = 1e-6) -> dict[str, Any]:
    """Claims 1.1-1.2 (v2) on one run, at the last snapshot: the shape distance
    (:func:`landscape.spectra.shape_distance`) of every layer's spectrum to the full one,
    and of the two nulls - a point mass at zero, and the GOE's spectrum at the full
    Hessian's size (its semicircle law, :func:`landscape.spectra.semicircle_quantiles`) -
    to the full one; the layer closest in shape and its depth."""
    snap = run["snapshots"][-1]
    full = spectrum(snap["full"])
    d = np.array([shape_distance(spectrum(snap[l]), full, floor=floor) for l in run["layers"]])
    nulls = {"point mass at zero": shape_distance(np.zeros(1), full, floor=floor),
             "GOE": shape_distance(semicircle_quantiles(int(snap["full"]["dim"])), full, floor=floor)}
    i = int(np.argmin(d))
    return {"layer": d, "median": float(np.median(d)), "nulls": nulls, "null_min": float(min(nulls.values())),
            "closest": run["layers"][i], "closest_depth": float(depths(run["layers"])[i])}


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


# ---------------------------------------------------------------------------
# sections 5-6: the regularizer


@dataclass(frozen=True)
class ArmSetting:
    """The regularizer runs: ``net`` on ``data``, SGD + momentum for ``epochs`` with a
    step schedule (``lr`` times ``lr_gamma`` at each of the ``milestones``); the + L2
    arms add ``weight_decay``; the penalty arms add ``gamma`` (full) or
    ``gamma_middle`` (middle) times a ``num_probes``-probe Hutchinson trace on
    mini-batches whose in-epoch index is a multiple of ``freq``, from epoch ``sp`` on."""

    net: Net
    data: DataSpec
    epochs: int
    batch_size: int
    lr: float
    momentum: float
    milestones: tuple[int, ...]
    lr_gamma: float
    weight_decay: float
    gamma: float
    gamma_middle: float
    num_probes: int
    freq: int
    sp: int


def make_penalty(arm: str, s: ArmSetting, *, steps: int, seed: int) -> TracePenalty | None:
    """The arm's :class:`TracePenalty` (``None`` for the arms without one)."""
    scope = ARMS[arm][2]
    if scope is None:
        return None
    return TracePenalty(gamma=s.gamma if scope == "full" else s.gamma_middle, steps_per_epoch=steps,
                        num_probes=s.num_probes, freq=s.freq, start_epoch=s.sp, scope=scope, seed=seed)


@cached("hessian/arm", version=2)
def arm_run(*, arm: str, setting: ArmSetting, measure: Measure, seed: int, device: str) -> dict:
    """Train one arm with one seed (SGD + momentum, step schedule; + L2 and/or the
    trace penalty per :data:`~.schema.ARMS`), then measure lambda_max and the trace of
    the full Hessian on ``measure.subset`` (the same probes for every arm). Cached;
    the device is in the key, since the result holds the training time."""
    s = setting
    ds = s.data.load()
    sub = measure.subset.load()
    net = build_model(s.net, ds, seed=seed)
    dev = torch.device(device)
    _, l2, _ = ARMS[arm]
    opt = torch.optim.SGD(net.parameters(), lr=s.lr, momentum=s.momentum, weight_decay=s.weight_decay if l2 else 0.0)
    sched = torch.optim.lr_scheduler.MultiStepLR(opt, milestones=list(s.milestones), gamma=s.lr_gamma)
    steps = steps_per_epoch(ds.train[0].shape[0], s.batch_size)
    pen = make_penalty(arm, s, steps=steps, seed=seed)
    hist = fit(net, ds.train, test=ds.test, epochs=s.epochs, optimizer=opt, scheduler=sched, batch_size=s.batch_size,
               penalty=pen, seed=seed, device=dev, eval_train=False)
    batch = (sub.train[0].to(dev), sub.train[1].to(dev))
    op = HessianOperator(net, F.cross_entropy, batch)
    lmax = float(eigenvalues(op, 1, tol=measure.eig_tol, seed=measure.seed).values[0])
    tr = trace(op, num_matvecs=measure.trace_matvecs, seed=measure.seed)
    op.release()
    last = hist.last
    return {"history": hist.to_dict(), "acc": 100.0 * last.get("test_acc", math.nan), "lmax": lmax,
            "trace": float(tr.value), "trace_stderr": float(tr.stderr), "fired": len(pen.fired) if pen else 0,
            "seconds": float(last.get("time", math.nan)), "steps": int(last.get("step", 0)),
            "middle": pen.block(net) if pen is not None and ARMS[arm][2] == "middle" else []}


def column(runs: list[dict], key: str) -> np.ndarray:
    """``key`` of each run (one per seed) as a float array.

    Example:
        >>> column([{"acc": 90.0}, {"acc": 91}], "acc").tolist()
        [90.0, 91.0]
    """
    return np.array([r[key] for r in runs], dtype=float)


# ---------------------------------------------------------------------------
# the whole chapter


@dataclass
class Results:
    """What the hessian chapter measured.

    Attributes:
        spec_data: the data set of the spectra runs (after the fallback).
        reg_data: regularizer data set (as asked) -> the one used (after the fallback).
        notes: why a requested data set was replaced (empty when none was).
        seed_runs: model (``"mlp"``, ``"lenet5"``, ``"smooth"``: the MLP with a smooth
            activation) -> one :func:`spectra_run` result per spectra seed.
        runs: model -> the first seed's run (the figures, and the v1 rules, which used one seed).
        shapes: model -> per seed, :func:`shape_readings` (claims 1.1-1.2, v2).
        rho: model -> per seed, :func:`spearman_table` (claim 1.3).
        outliers: model -> per seed, :func:`outlier_table` (claim 1.4).
        dists, near: model -> :func:`distances` and :func:`closest` of the first seed (v1, and figures).
        outlier_series: model -> :func:`outlier_series` of the first seed.
        arm_sets: regularizer data set -> arm -> one :func:`arm_run` result per seed.
        reg_tensors, reg_middle: the parameter tensors of the arms' model, and its middle ones.
    """

    spec_data: str
    reg_data: dict[str, str]
    seed_runs: dict[str, list[dict]]
    shapes: dict[str, list[dict]]
    rho: dict[str, list[dict]]
    outliers: dict[str, list[dict]]
    dists: dict[str, dict[str, np.ndarray]]
    near: dict[str, dict[str, dict[str, tuple[str, float]]]]
    arm_sets: dict[str, dict[str, list[dict]]]
    outlier_series: dict[str, dict[str, np.ndarray]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    reg_tensors: tuple[str, ...] = ()
    reg_middle: tuple[str, ...] = ()

    @property
    def runs(self) -> dict[str, dict]:
        """The first seed's run of the MLP and the LeNet."""
        return {m: self.seed_runs[m][0] for m in MODELS if m in self.seed_runs}

    @property
    def arms(self) -> dict[str, list[dict]]:
        """The arms of the first regularizer data set."""
        return next(iter(self.arm_sets.values()))

    @property
    def reg_name(self) -> str:
        """The first regularizer data set actually used."""
        return next(iter(self.reg_data.values()))

    @property
    def classes(self) -> int:
        """C, the number of classes (of the spectra data set)."""
        return int(next(iter(self.seed_runs.values()))[0]["num_classes"])

    def layers(self, model: str) -> list[str]:
        """The layers of ``model``, in forward order."""
        return list(self.seed_runs[model][0]["layers"])

    @property
    def w1_median(self) -> dict[str, float]:
        """Per model (first seed), the median over layers of the scaled W1 to the full spectrum at the last snapshot (v1)."""
        return {m: float(np.median(d["sound"][-1])) for m, d in self.dists.items()}

    @property
    def gap(self) -> dict[str, float]:
        """Per model (first seed), :func:`runner_up_gap` of the sound measure summed over the density snapshots (v1)."""
        return {m: runner_up_gap(d["sound"]) for m, d in self.dists.items()}


def spectra_settings(p: Params, spec_data: str) -> dict[str, SpectraSetting]:
    """The spectra runs' settings: the ReLU MLP, the LeNet, and the smooth MLP (only its last
    epoch is read: series at the first and last epochs, spectra at the last)."""
    data = DataSpec(spec_data, root=p.data_root, n_train=p.spec_n_train, seed=0)
    base = dict(data=data, epochs=p.spec_epochs, batch_size=p.spec_batch_size, lr=p.spec_lr, momentum=p.momentum,
                exact_max_dim=p.exact_max_dim, slq_probes=p.slq_probes, slq_steps=p.slq_steps)
    dens = density_epochs(p.spec_epochs, p.density_snapshots)
    return {
        "mlp": SpectraSetting(net=Net("mlp", tuple(p.mlp_widths), p.lenet_width), every=p.spec_every, density_at=dens, **base),
        "lenet5": SpectraSetting(net=Net("lenet5", tuple(p.mlp_widths), p.lenet_width), every=p.spec_every, density_at=dens, **base),
        "smooth": SpectraSetting(net=Net("mlp", tuple(p.mlp_widths), p.lenet_width, activation=p.smooth_activation),
                                 every=p.spec_epochs, density_at=(), **base),
    }


def arm_setting(p: Params, dataset: str, used: str) -> ArmSetting:
    """The regularizer arms on ``dataset`` (``used``: the data set actually loaded), with its overrides."""
    v = arm_values(p, dataset)
    return ArmSetting(
        net=Net(p.reg_model, tuple(p.mlp_widths), p.lenet_width),
        data=DataSpec(used, root=p.data_root, n_train=v["reg_n_train"], n_test=v["reg_n_test"], seed=0),
        epochs=v["reg_epochs"], batch_size=v["reg_batch_size"], lr=v["reg_lr"], momentum=p.momentum,
        milestones=tuple(v["milestones"]), lr_gamma=v["lr_gamma"], weight_decay=v["weight_decay"], gamma=v["gamma"],
        gamma_middle=v["gamma_middle"], num_probes=v["num_probes"], freq=v["freq"], sp=v["sp"])


def run(p: Params) -> Results:
    """Every experiment of the chapter, from the cache when warm: the spectra runs (every
    model and spectra seed) and every arm and seed of the regularizer on every regularizer
    data set - independent units, ``p.workers`` at a time - and their readings."""
    with threads(p.threads):
        device = str(resolve_device(p.device))
        spec_data, spec_note = resolve_dataset(p.spec_dataset, p.fallback_dataset, p.data_root)
        used = {d: resolve_dataset(d, p.fallback_dataset, p.data_root) for d in p.reg_datasets}
        measure = lambda name: Measure(DataSpec(name, root=p.data_root, per_class=p.per_class, seed=0),
                                       trace_matvecs=p.trace_matvecs, eig_tol=p.eig_tol, seed=p.curvature_seed)
        settings = spectra_settings(p, spec_data)
        calls = [(spectra_run, dict(setting=settings[m], measure=measure(spec_data), seed=s, device=device))
                 for m in settings for s in p.spec_seeds]
        arm_calls = [(arm_run, dict(arm=arm, setting=arm_setting(p, d, used[d][0]), measure=measure(used[d][0]), seed=s,
                                    device=device)) for d in p.reg_datasets for arm in p.arms for s in p.seeds]
        done = compute(calls + arm_calls, workers=p.workers)
        seed_runs = {m: done[i * len(p.spec_seeds):(i + 1) * len(p.spec_seeds)] for i, m in enumerate(settings)}
        arm_done = iter(done[len(calls):])
        arm_sets = {d: {arm: [next(arm_done) for _ in p.seeds] for arm in p.arms} for d in p.reg_datasets}
        first = {m: seed_runs[m][0] for m in MODELS}
        dists = {m: distances(r, eps=p.auth_eps, bins=p.auth_bins, sigma2=p.auth_sigma2) for m, r in first.items()}
        shown = build_model(arm_setting(p, p.reg_datasets[0], used[p.reg_datasets[0]][0]).net,
                            DataSpec(used[p.reg_datasets[0]][0], root=p.data_root, seed=0).load(), seed=0)
        notes = [spec_note, *(n for _, n in used.values())]
        return Results(
            spec_data=spec_data, reg_data={d: u for d, (u, _) in used.items()}, seed_runs=seed_runs,
            shapes={m: [shape_readings(r, floor=p.shape_floor) for r in rs] for m, rs in seed_runs.items() if m in MODELS},
            rho={m: [spearman_table(r, skip=p.rho_skip) for r in rs] for m, rs in seed_runs.items() if m in MODELS},
            outliers={m: [outlier_table(r, sigma=p.edge_sigma, floor=p.edge_floor) for r in rs] for m, rs in seed_runs.items()},
            dists=dists, near={m: closest(r["layers"], dists[m]) for m, r in first.items()},
            outlier_series={m: outlier_series(r, sigma=p.edge_sigma, floor=p.edge_floor) for m, r in first.items()},
            arm_sets=arm_sets, notes=tuple(n for n in dict.fromkeys(notes) if n),
            reg_tensors=tuple(n for n, _ in shown.named_parameters()), reg_middle=tuple(middle_params(shown)))
