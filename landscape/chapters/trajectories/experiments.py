"""The trajectories chapter's experiments: noise and the rank of the product of
weights in deep linear networks (sankar2018trajectories).

The experiments train many seeds at once with full-batch gradient descent
(:func:`landscape.methods.linear.train_gd`), one kind of noise per run, from four
kinds of start (ordinary, small, exactly rank-deficient, zero), and compare
the rank of the product and the loss against the closed-form global optimum
(reduced-rank regression). Every batch of runs is cached (:func:`gd_runs`) and
independent of the others: :func:`run` computes them in ``workers`` processes
(:func:`landscape.experiment.parallel.compute`; the results do not depend on it).

Claim 3.3 runs every depth under two protocols (:data:`PROTOCOLS`): the start
rescaled so that the initial product has the same Frobenius norm at every depth
(the primary protocol of the decision rules v2), and v1's fixed per-layer scale,
whose product shrinks as ``small_scale ** depth`` (:func:`~landscape.methods.linear.rms_product_norm`).

The networks here have at most a few thousand weights: every run uses the
CPU, whatever the ``device`` parameter says (a GPU would only add launch
overhead to matrix products this small).
"""

from __future__ import annotations

import json
import math
import zlib
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np
import torch

from ...experiment.cache import cached
from ...experiment.parallel import compute
from ...experiment.params import Params
from ...experiment.stats import Difference, difference, paired_difference
from ...methods import linear
from ...training.data import DataSpec
from ...training.loop import threads as thread_count

__all__ = ["KINDS", "INITS", "PROTOCOLS", "Results", "run", "gd_runs", "run_one", "unit", "summary", "rank_differences",
           "paired_rank_differences", "path_change", "pooled_success", "success_by_kind", "rank_given_success", "train_data",
           "synthetic_data", "real_data", "dims", "start_norm", "hessian_rows", "numbers"]

#: the kinds of noise compared with noiseless gradient descent
KINDS = ("gradient", "dropout", "weight", "input", "label")
#: the starts: name -> (init kind, which scale parameter); see :func:`init_spec`
INITS = ("ordinary", "small", "deficient", "zero")
#: claim 3.3's protocols: the primary one (the same initial product norm at every depth) and v1's (a fixed per-layer scale)
PROTOCOLS = ("equal product norm", "fixed per-layer scale")


# --- data ------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainData:
    """A regression training set: a data set by description, and for images the number of
    whitened principal components kept (None: a synthetic set, used as it is)."""

    spec: DataSpec
    pca: int | None = None


def synthetic_data(p: Params) -> TrainData:
    """The synthetic regression (planted low-rank map) of the parameters."""
    return TrainData(DataSpec("lowrank", n_train=p.n_train, n_test=10, seed=p.data_seed,
                              options=(("d_in", p.d_in), ("d_out", p.d_out), ("rank", p.planted_rank), ("noise", p.data_noise))))


def real_data(p: Params) -> TrainData:
    """The real-data regression of section 4 (one-hot targets on PCA-whitened images)."""
    return TrainData(DataSpec(p.real_dataset, n_train=p.real_n_train, n_test=10, seed=p.data_seed), pca=p.real_pca)


def train_data(data: TrainData) -> tuple[torch.Tensor, torch.Tensor]:
    """The training set ``(x, y)`` in float64 (new tensors).

    ``lowrank``: :func:`landscape.training.synthetic.lowrank_regression` through
    :class:`~landscape.training.data.DataSpec`. ``digits`` / ``mnist10k``: images flattened
    and centred, projected on their top ``pca`` principal components and
    whitened (each component scaled to unit variance); targets one-hot,
    centred. Linear regression without a bias on centred data.
    """
    ds = data.spec.load()
    if data.pca is None:
        return ds.train[0].double().clone(), ds.train[1].double().clone()
    x = ds.train[0].reshape(ds.train[0].shape[0], -1).double()
    y = torch.nn.functional.one_hot(ds.train[1], ds.num_classes).double()
    x, y = x - x.mean(0), y - y.mean(0)
    k = data.pca
    if k > min(x.shape):
        raise ValueError(f"Invalid real_pca: {k} (must be at most {min(x.shape)} for {data.spec.name} with {x.shape[0]} examples)")
    _, s, vh = torch.linalg.svd(x, full_matrices=False)
    xw = (x @ vh[:k].T) / (s[:k] / math.sqrt(x.shape[0]))
    return xw, y


def dims(d_in: int, d_out: int, width: int, depth: int) -> list[int]:
    """Layer sizes ``[d_in, r, ..., r, d_out]`` with ``depth`` weight matrices."""
    return [d_in] + [width] * (depth - 1) + [d_out]


# --- runs ------------------------------------------------------------------------


def init_spec(p: Params, init: str) -> dict:
    """``ordinary`` (gaussian, ordinary_scale), ``small`` (gaussian, small_scale),
    ``deficient`` (ordinary scale, ``dead_units`` hidden units off), ``zero``."""
    if init not in INITS:
        raise ValueError(f"Invalid init: {init!r} (must be one of {', '.join(INITS)})")
    return {
        "ordinary": {"init": "gaussian", "scale": p.ordinary_scale, "dead": 1},
        "small": {"init": "gaussian", "scale": p.small_scale, "dead": 1},
        "deficient": {"init": "deficient", "scale": p.ordinary_scale, "dead": p.dead_units},
        "zero": {"init": "zero", "scale": 0.0, "dead": 1},
    }[init]


def default_magnitude(p: Params, kind: str) -> float:
    """The declared magnitude of each kind of noise (0 for none)."""
    return {"none": 0.0, "gradient": p.grad_noise, "dropout": p.dropout, "weight": p.weight_noise,
            "input": p.input_noise, "label": p.label_noise}[kind]


@cached("trajectories/run", version=3)
def gd_runs(*, data: TrainData, dims: list, init: str, scale: float, dead: int, seeds: list, kind: str, magnitude: float,
            anneal: float, stop: int | None, lr: float, iterations: int, record_every: int, rtol: float,
            product_norm: float | None = None) -> dict:
    """One batch of runs (one per seed) of full-batch GD with one kind of noise; cached.

    With ``product_norm`` the start is rescaled (every layer by one factor per run,
    :func:`~landscape.methods.linear.scale_to_product_norm`) so that its product has that
    Frobenius norm exactly. Returns the recorded arrays of
    :func:`landscape.methods.linear.train_gd` (no weights) plus ``loss_star``,
    ``first_weights`` of the first seed and ``start_norm`` (per seed, the initial product's norm)."""
    x, y = train_data(data)
    ws = linear.init_batch(dims, init, seeds, scale=scale, dead=dead, dtype=torch.float64)
    if product_norm is not None:
        ws = linear.scale_to_product_norm(ws, product_norm)
    noise = linear.Noise(kind, magnitude, anneal=anneal, stop=stop)
    key = json.dumps({"seeds": list(seeds), "kind": kind, "magnitude": magnitude, "dims": list(dims), "init": init})
    gen = torch.Generator().manual_seed(zlib.crc32(key.encode()))
    out = linear.train_gd(ws, x, y, lr=lr, iterations=iterations, noise=noise, record_every=record_every, rtol=rtol, generator=gen)
    res = {k: v.numpy() for k, v in out.items() if k != "weights"}
    res["first_weights"] = [w[0].clone() for w in out["weights"]]
    res["loss_star"] = linear.optimum(x, y, min(dims[1:-1] + [dims[0], dims[-1]]))[1]
    res["start_norm"] = torch.linalg.matrix_norm(linear.product(ws)).numpy()
    return res


def start_norm(p: Params) -> float:
    r"""Claim 3.3's initial product norm at every depth (primary protocol): ``start_norm``, or by
    default the root-mean-square norm of the small start's product at ``depth`` (where claim 3.1
    is decided), :math:`s^{H} \sqrt{d_\text{out}}` with :math:`s` = ``small_scale``, :math:`H` = ``depth``."""
    if p.start_norm is not None:
        return float(p.start_norm)
    return linear.rms_product_norm(dims(p.d_in, p.d_out, p.width, p.depth), p.small_scale)


def unit(p: Params, *, depth: int, init: str, kind: str, scale: float = 1.0, real: bool = False,
         product_norm: float | None = None) -> tuple[dict, dict]:
    """One batch of runs of the chapter: the arguments of :func:`gd_runs` for ``kind`` of noise at
    ``scale`` times its declared magnitude, from start ``init``, at ``depth`` (synthetic data, or
    real with ``real``; the start rescaled to ``product_norm`` when given), and what
    :func:`run_one` adds to its result (``kind``, ``magnitude``, ``width``, ``rtol``)."""
    if real:
        data = real_data(p)
        d_in, d_out = p.real_pca, 10
        width, lr, its, seeds = p.real_width, p.real_lr, p.real_iterations, list(p.seeds[: p.real_runs])
    else:
        data = synthetic_data(p)
        d_in, d_out = p.d_in, p.d_out
        width, lr, its, seeds = p.width, p.lr, p.iterations, list(p.seeds)
    mag = default_magnitude(p, kind) * scale
    kind_eff = kind if mag > 0 else "none"
    kwargs = dict(data=data, dims=dims(d_in, d_out, width, depth), **init_spec(p, init), seeds=seeds,
                  kind=kind_eff, magnitude=float(mag), anneal=p.grad_anneal if kind == "gradient" else 0.0,
                  stop=int(round(p.noise_stop * its)), lr=lr, iterations=its, record_every=p.record_every, rtol=p.rtol,
                  product_norm=None if product_norm is None else float(product_norm))
    return kwargs, {"kind": kind, "magnitude": mag, "width": width, "rtol": p.rtol}


def run_one(p: Params, **kw) -> dict:
    """The cached batch of runs of :func:`unit` (same arguments), with its description added."""
    kwargs, meta = unit(p, **kw)
    return {**gd_runs(**kwargs), **meta}


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


def rank_differences(results: Mapping[str, dict], gap_tol: float) -> dict[str, Difference]:
    """Claim 3.1's comparisons by the v1 rule: per kind, mean effective rank (matched iterations)
    minus noiseless's, unpaired (:func:`~landscape.experiment.stats.difference`)."""
    base = summary(results["none"], gap_tol)["er_mean"]
    return {k: difference(summary(results[k], gap_tol)["er_mean"], base) for k in KINDS if k in results}


def paired_rank_differences(results: Mapping[str, dict], gap_tol: float) -> dict[str, Difference]:
    r"""Claim 3.1's comparisons by the v2 rule: per kind, the paired per-seed difference of the
    effective rank (mean over the matched iterations), :math:`d_i = \bar e_i^{\text{noise}} - \bar e_i^{\text{none}}`,
    with :math:`\mathrm{SE} = s_d / \sqrt n` (the runs of a seed share start and data;
    :func:`~landscape.experiment.stats.paired_difference`)."""
    base = summary(results["none"], gap_tol)["er_mean"]
    return {k: paired_difference(summary(results[k], gap_tol)["er_mean"], base) for k in KINDS if k in results}


def path_change(res: Mapping[str, Any], base: Mapping[str, Any]) -> np.ndarray:
    r"""How far a batch's loss path is from the noiseless batch's (same seeds and starts), per seed:

    .. math::

        c_i = \frac{1}{K} \sum_{k=1}^{K} \frac{|L_i(t_k) - L_i^{\text{none}}(t_k)|}{L^\star}

    over the :math:`K` recorded iterations - the manipulation check of the noise (did it act on
    the trajectory at all?). Exactly 0 for the noiseless batch against itself; NaN for a diverged run."""
    a, b = np.asarray(res["loss"], dtype=float), np.asarray(base["loss"], dtype=float)
    if a.shape != b.shape:
        raise ValueError(f"Invalid res: loss of shape {a.shape} (must pair with the noiseless batch's {b.shape})")
    return np.abs(a - b).mean(1) / float(base["loss_star"])


def pooled_success(results: Mapping[str, dict], gap_tol: float) -> tuple[np.ndarray, np.ndarray]:
    """Claim 3.2's samples: per seed, the success averaged over the kinds of noise; and noiseless success."""
    noisy = np.mean([summary(results[k], gap_tol)["success"] for k in KINDS if k in results], axis=0)
    return noisy, summary(results["none"], gap_tol)["success"]


def success_by_kind(results: Mapping[str, dict], gap_tol: float) -> dict[str, Difference]:
    """Claim 3.2 per kind (v2): the paired per-seed difference of success (1 within the gap, else 0), noise - none."""
    base = summary(results["none"], gap_tol)["success"]
    return {k: paired_difference(summary(results[k], gap_tol)["success"], base) for k in KINDS if k in results}


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


def hessian_rows(p: Params, section: Mapping[str, Mapping[str, dict]], x: torch.Tensor, y: torch.Tensor) -> list[dict]:
    """The exact Hessian at the critical points met in section 1 (first seed): the zero
    product at depth 2 and at ``depth``, where noiseless GD from the deficient start ends, and
    where it ends from the ordinary start (the global optimum)."""
    rows = []
    r = p.width
    for name, ws in (
        ("zero product, H = 2", linear.init_weights(dims(p.d_in, p.d_out, r, 2), "zero", dtype=torch.float64)),
        (f"zero product, H = {p.depth}", linear.init_weights(dims(p.d_in, p.d_out, r, p.depth), "zero", dtype=torch.float64)),
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


# --- the chapter's runs ------------------------------------------------------------


@dataclass
class Results:
    r"""Every run of the chapter.

    Attributes:
        x, y: the synthetic training set; crit: its critical values :math:`L_0, \dots, L_r`
            (best rank-k products); loss_star = crit[-1].
        sections: start -> kind (``none`` and :data:`KINDS`) -> batch of runs at ``depth``.
        sweep: kind -> [(multiple of the declared magnitude, runs)] from ``claim_init``.
        by_depth: depth -> kind -> runs from ``claim_init`` at v1's fixed per-layer scale.
        by_depth_norm: depth -> kind -> runs from ``claim_init`` rescaled so that the initial product
            has Frobenius norm ``start_norm`` at every depth (claim 3.3's primary protocol).
        real: start (small, ordinary) -> kind -> runs on the real data.
        hessian: the exact Hessian at the critical points of section 1 (:func:`hessian_rows`).
        gap_tol, claim_init: the rule's tolerance and the start the claims are decided on.
        start_norm: claim 3.3's initial product norm (:func:`start_norm`).
    """

    x: torch.Tensor
    y: torch.Tensor
    crit: list[float]
    sections: dict[str, dict[str, dict]]
    sweep: dict[str, list[tuple[float, dict]]]
    by_depth: dict[int, dict[str, dict]]
    real: dict[str, dict[str, dict]]
    hessian: list[dict]
    gap_tol: float
    claim_init: str
    by_depth_norm: dict[int, dict[str, dict]] = field(default_factory=dict)
    start_norm: float = math.nan

    @property
    def loss_star(self) -> float:
        return self.crit[-1]

    def protocol(self, name: str) -> dict[int, dict[str, dict]]:
        """Claim 3.3's runs (depth -> kind -> runs) under protocol ``name`` (one of :data:`PROTOCOLS`)."""
        if name not in PROTOCOLS:
            raise ValueError(f"Invalid protocol: {name!r} (must be one of {', '.join(PROTOCOLS)})")
        return self.by_depth_norm if name == PROTOCOLS[0] else self.by_depth

    @property
    def real_init(self) -> str:
        """The start the real-data claims are decided on: ``claim_init`` when the real section has it, else small."""
        return self.claim_init if self.claim_init in self.real else "small"


def _batches(p: Params) -> dict[tuple, tuple[dict, dict]]:
    """Every batch of runs of the chapter, by name: ``(section, ...)`` -> :func:`unit`."""
    kinds = ("none", *KINDS)
    ci, norm = p.claim_init, start_norm(p)
    out: dict[tuple, tuple[dict, dict]] = {}
    for init in INITS:
        for k in kinds:
            out[("sections", init, k)] = unit(p, depth=p.depth, init=init, kind=k)
    for k in KINDS:
        for s in p.noise_scales:
            out[("sweep", k, s)] = unit(p, depth=p.depth, init=ci, kind=k, scale=s)
    for d in p.depths:
        for k in kinds:
            if d != p.depth:
                out[("by_depth", d, k)] = unit(p, depth=d, init=ci, kind=k)
            out[("by_depth_norm", d, k)] = unit(p, depth=d, init=ci, kind=k, product_norm=norm)
    for init in ("small", "ordinary"):
        for k in kinds:
            out[("real", init, k)] = unit(p, depth=p.real_depth, init=init, kind=k, real=True)
    return out


def run(p: Params) -> Results:
    """Every batch of runs of the chapter (from the cache when warm; the missing ones in
    ``workers`` processes), with ``threads`` torch threads outside the training loops."""
    with thread_count(p.threads):
        return _run(p)


def _run(p: Params) -> Results:
    x, y = train_data(synthetic_data(p))
    crit = linear.critical_values(x, y, p.width)
    batches = _batches(p)
    unique: dict[str, dict] = {}   # a batch named twice (the sweep's x1 is section 2's) is computed once
    for kw, _ in batches.values():
        unique.setdefault(repr(sorted(kw.items())), kw)
    done = dict(zip(unique, compute([(gd_runs, kw) for kw in unique.values()], workers=p.workers)))
    got = {name: {**done[repr(sorted(kw.items()))], **meta} for name, (kw, meta) in batches.items()}
    kinds = ("none", *KINDS)
    ci = p.claim_init
    sections = {init: {k: got[("sections", init, k)] for k in kinds} for init in INITS}
    sweep = {k: [(s, got[("sweep", k, s)]) for s in p.noise_scales] for k in KINDS}
    by_depth = {d: sections[ci] if d == p.depth else {k: got[("by_depth", d, k)] for k in kinds} for d in p.depths}
    by_norm = {d: {k: got[("by_depth_norm", d, k)] for k in kinds} for d in p.depths}
    real = {init: {k: got[("real", init, k)] for k in kinds} for init in ("small", "ordinary")}
    return Results(x, y, crit, sections, sweep, by_depth, real, hessian_rows(p, sections, x, y), p.gap_tol, ci,
                   by_depth_norm=by_norm, start_norm=start_norm(p))


def numbers(results: Results, p: Params) -> dict[str, Any]:
    """The values the chapter's prose cites (glued as ``traj-<name>``)."""
    ci, gt = results.claim_init, results.gap_tol
    noisy, clean = pooled_success(results.sections[ci], gt)
    full = rank_given_success(results.sections, gt)
    fixed = {d: float(np.median(results.by_depth[d]["none"]["start_norm"])) for d in p.depths}
    out = {
        "traj-loss-star": results.loss_star,
        "traj-er-none": float(summary(results.sections[ci]["none"], gt)["er_mean"].mean()),
        "traj-success-none": float(clean.mean()),
        "traj-success-noise": float(noisy.mean()),
        "traj-success-given-full": full["success_given_full"],
        "traj-success-given-deficient": full["success_given_deficient"],
        "traj-hessian-min-deficient": float(results.hessian[2]["min eigenvalue"]),
        "traj-hessian-min-optimum": float(results.hessian[3]["min eigenvalue"]),
        "traj-real-runs": min(p.real_runs, len(p.seeds)),
        "traj-real-loss-star": float(results.real["small"]["none"]["loss_star"]),
        "traj-noise-stop": p.noise_stop,
        "traj-gap-tol": p.gap_tol,
        "traj-seeds": len(p.seeds),
        "traj-start-norm": results.start_norm,
        "traj-fixed-norm-shallowest": fixed[min(p.depths)],
        "traj-fixed-norm-deepest": fixed[max(p.depths)],
        "traj-depth-shallowest": min(p.depths),
        "traj-depth-deepest": max(p.depths),
    }
    for d in p.depths:
        for name, runs in (("fixed", results.by_depth[d]), ("norm", results.by_depth_norm[d])):
            out[f"traj-success-{name}-h{d}-none"] = float(summary(runs["none"], gt)["success"].mean())
    return out
