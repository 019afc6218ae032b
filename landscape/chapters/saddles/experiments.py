r"""The saddles chapter's experiments (``book/saddles.ipynb``), each unit cached.

Small MLPs in float64 make every Hessian exact: each spectrum here is
``torch.linalg.eigh`` of :func:`landscape.curvature.dense_hessian` of the mean
cross-entropy on the whole training set used.

===========================  ============================================================
:func:`train_run`            one optimizer and seed: training, the exact spectrum at each of
                             ``snapshot_epochs`` (first seed) and at the end, the eigenvectors
                             the escape follows, the optimizer's final state
:func:`init_spectrum`        the exact spectrum at initialization (the same for every optimizer),
                             with the eigenvector of its lambda_min
:func:`escape_run`           the loss along eigenvectors of the converged point, and one escape
                             step along the most negative curvature against a control (v1: the
                             step from a grid capped at ``line_radius``)
:func:`saddle_check`         the v2 measures of an end point: near-stationarity, the line search
                             along :math:`\pm v_{\min}` against random unit directions, and the
                             escape with an uncapped line search, against its control
:func:`init_check`           the same line searches at initialization (the baseline)
:func:`quadratic_null`       claim 5.1(c)'s null: a convex quadratic, a strict minimum
:func:`goe_eigenvalues`      a GOE control of the same size (:func:`landscape.spectra.goe`)
:func:`slq_check`            SLQ and Lanczos on a converged small MLP (whose dense answer is known)
:func:`big_run`              a LeNet-5 too large for a dense Hessian, read through SLQ and Lanczos
:func:`run`                  all of them for the parameters cell -> :class:`Results`
===========================  ============================================================

A unit takes a small frozen setting (:class:`Net`, :class:`Optimizer`, :class:`Run`,
:class:`Estimators`, :class:`BigRun`) and the device, never the whole parameters.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from ... import spectra
from ...curvature import HessianOperator, dense_hessian, eigenvalues, spectral_density
from ...experiment.cache import cached
from ...experiment.parallel import compute
from ...experiment.params import Params
from ...methods.escape import PerturbedGD, loss_along, moved, random_directions, two_sided_search
from ...training import models
from ...training.data import Dataset, DataSpec
from ...training.loop import History, fit, resolve_device, threads

__all__ = [
    "OPTIMIZERS", "NATIVE_SIZE", "NUM_CLASSES", "Net", "Optimizer", "Run", "Estimators", "BigRun", "Semicircle", "Results",
    "prepared", "mlp_size", "build_mlp", "make_optimizer", "optimizer_setting", "exact_spectrum", "grad_norm",
    "train_run", "init_spectrum", "escape_run", "goe_eigenvalues", "slq_check", "big_run", "run", "Search",
    "saddle_check", "init_check", "quadratic_null", "run_others",
]

OPTIMIZERS = ("sgd", "momentum", "adam", "adagrad", "pgd")
#: the side of each data set's images before pooling
NATIVE_SIZE = {"digits": 8, "mnist10k": 28, "mnist": 28, "fashion-mnist": 28}
#: every data set of the chapter has ten classes
NUM_CLASSES = 10


# --- settings ----------------------------------------------------------------------


@dataclass(frozen=True)
class Net:
    """The data (images average-pooled to ``side`` x ``side``, float64) and the chapter's MLP."""

    data: DataSpec
    side: int
    widths: tuple[int, ...]
    activation: str


@dataclass(frozen=True)
class Optimizer:
    """One optimizer and only its own hyper-parameters (the others keep their defaults), so a
    change to one optimizer's learning rate recomputes only its runs."""

    name: str
    lr: float
    momentum: float = 0.0
    radius: float = 0.0
    g_thres: float = 0.0
    t_thres: int = 0


@dataclass(frozen=True)
class Run:
    """One training run of the MLP: the net, the optimizer, the schedule and what is kept."""

    net: Net
    optimizer: Optimizer
    epochs: int
    batch_size: int
    seed: int
    snapshot_epochs: tuple[int, ...] = ()
    n_directions: int = 3


@dataclass(frozen=True)
class Search:
    r"""The v2 line search (:func:`landscape.methods.escape.line_search`): first step ``step``, each next
    one ``growth`` times longer, until the loss rises (at most ``max_steps`` steps per side), along
    :math:`\pm v_{\min}` and along ``n_random`` random unit directions."""

    step: float
    growth: float
    max_steps: int
    n_random: int


@dataclass(frozen=True)
class Estimators:
    """SLQ (``probes`` x ``steps``) and Lanczos (``n_extreme`` smallest, the largest; ``tol``, ``max_hvps``)."""

    probes: int
    steps: int
    n_extreme: int
    tol: float
    max_hvps: int


@dataclass(frozen=True)
class BigRun:
    """The network too large for a dense Hessian, its training, and the examples its Hessian is on."""

    data: DataSpec
    side: int
    model: str
    dtype: str
    optimizer: Optimizer
    epochs: int
    batch_size: int
    seed: int
    hessian_n: int | None


# --- set-up ------------------------------------------------------------------------


def prepared(data: DataSpec, side: int) -> Dataset:
    """``data`` in float64, images average-pooled to ``side`` (left as they are when already that size).

    Example:
        >>> tuple(prepared(DataSpec("digits", n_train=20, n_test=10), 4).train[0].shape)
        (20, 1, 4, 4)
    """
    ds = data.load()

    def prep(x: torch.Tensor) -> torch.Tensor:
        x = x.double()
        return F.adaptive_avg_pool2d(x, side) if x.shape[-1] != side else x

    return Dataset(ds.name, (prep(ds.train[0]), ds.train[1]), (prep(ds.test[0]), ds.test[1]), ds.num_classes, ds.source)


def mlp_size(side: int, widths, num_classes: int = NUM_CLASSES) -> int:
    """Parameters of the MLP ``side``\\ :sup:`2` - ``widths`` - ``num_classes`` (with biases).

    Example:
        >>> mlp_size(8, [12, 12])
        1066
    """
    dims = [side * side, *widths, num_classes]
    return sum(a * b + b for a, b in zip(dims[:-1], dims[1:]))


def build_mlp(ds: Dataset, widths, activation: str, seed: int) -> torch.nn.Module:
    """The chapter's MLP in float64, initialized from ``seed``."""
    return models.build("mlp", in_features=int(np.prod(ds.input_shape)), widths=list(widths), out_features=ds.num_classes,
                        activation=activation, seed=seed, dtype=torch.float64)


def optimizer_setting(p: Params, name: str) -> Optimizer:
    """Optimizer ``name`` with its hyper-parameters from the parameters cell."""
    return {
        "sgd": lambda: Optimizer("sgd", p.lr_sgd),
        "momentum": lambda: Optimizer("momentum", p.lr_momentum, momentum=p.momentum),
        "adam": lambda: Optimizer("adam", p.lr_adam),
        "adagrad": lambda: Optimizer("adagrad", p.lr_adagrad),
        "pgd": lambda: Optimizer("pgd", p.lr_pgd, radius=p.pgd_radius, g_thres=p.pgd_g_thres, t_thres=p.pgd_t_thres),
    }[name]()


def make_optimizer(setting: Optimizer, params, seed: int) -> torch.optim.Optimizer:
    """``torch.optim`` SGD / SGD with momentum / Adam / Adagrad, or
    :class:`~landscape.methods.escape.PerturbedGD` (noise seeded by ``seed``)."""
    name = setting.name
    if name == "sgd":
        return torch.optim.SGD(params, lr=setting.lr)
    if name == "momentum":
        return torch.optim.SGD(params, lr=setting.lr, momentum=setting.momentum)
    if name == "adam":
        return torch.optim.Adam(params, lr=setting.lr)
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=setting.lr)
    if name == "pgd":
        return PerturbedGD(params, lr=setting.lr, radius=setting.radius, g_thres=setting.g_thres,
                           t_thres=int(setting.t_thres), seed=seed)
    raise ValueError(f"Invalid optimizer: {name!r} (choose from {', '.join(OPTIMIZERS)})")


def optimizer_state_tree(state: dict) -> dict:
    """An optimizer's ``state_dict()`` in a form the results cache stores (string keys; ``bytes``, such as
    :class:`~landscape.methods.escape.PerturbedGD`'s generator state, as uint8 arrays).
    :func:`optimizer_state_dict` undoes it."""
    pack = lambda v: {"__bytes__": np.frombuffer(v, dtype=np.uint8).copy()} if isinstance(v, bytes) else v
    return {"state": {str(k): {name: pack(v) for name, v in st.items()} for k, st in state["state"].items()},
            "param_groups": state["param_groups"]}


def optimizer_state_dict(tree: dict) -> dict:
    """The ``state_dict()`` stored by :func:`optimizer_state_tree`."""
    unpack = lambda v: bytes(np.asarray(v["__bytes__"], dtype=np.uint8)) if isinstance(v, dict) and "__bytes__" in v else v
    return {"state": {int(k): {name: unpack(v) for name, v in st.items()} for k, st in tree["state"].items()},
            "param_groups": [dict(g) for g in tree["param_groups"]]}


def exact_spectrum(model: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor], *, max_dense: int,
                   vectors: bool = False):
    """Eigenvalues (ascending; and eigenvectors with ``vectors=True``) of the exact Hessian of the mean
    cross-entropy on ``batch``, in float64: ``dense_hessian`` then ``eigvalsh`` / ``eigh``."""
    H = dense_hessian(model, F.cross_entropy, batch, max_dim=max_dense).to(torch.float64)
    return torch.linalg.eigh(H) if vectors else torch.linalg.eigvalsh(H)


def grad_norm(model: torch.nn.Module, batch: tuple[torch.Tensor, torch.Tensor]) -> float:
    """Norm of the full-batch gradient of the mean cross-entropy."""
    params = [q for q in model.parameters() if q.requires_grad]
    g = torch.autograd.grad(F.cross_entropy(model(batch[0]), batch[1]), params)
    return float(torch.linalg.vector_norm(torch.cat([x.reshape(-1) for x in g])))


def _full_loss(model: torch.nn.Module, batch) -> float:
    with torch.no_grad():
        return float(F.cross_entropy(model(batch[0]), batch[1]))


def _on(ds: Dataset, device: str) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    dev = torch.device(device)
    return (ds.train[0].to(dev), ds.train[1].to(dev)), (ds.test[0].to(dev), ds.test[1].to(dev))


# --- 1 and 2: training runs with exact spectra ---------------------------------------


@cached("saddles/train_run", version=2, ignore=("max_dense", "device"))
def train_run(*, run: Run, max_dense: int, device: str) -> dict:
    r"""Train one MLP, with the exact Hessian spectrum at each of ``run.snapshot_epochs`` (before the last) and
    at the end (``max_dense`` refuses a dense Hessian above that many parameters).

    Returns the history (with the full-batch gradient norm each epoch), the
    final weights and optimizer state, all final eigenvalues, the eigenvectors
    of the ``n_directions`` smallest eigenvalues, of the smallest
    :math:`|\lambda|` and of :math:`\lambda_{\max}` (``vectors``, columns in
    that order), and the snapshot spectra. Raises when the run diverges (lower
    its learning rate).
    """
    net, opt_setting = run.net, run.optimizer
    ds = prepared(net.data, net.side)
    train, test = _on(ds, device)
    model = build_mlp(ds, net.widths, net.activation, run.seed).to(torch.device(device))
    opt = make_optimizer(opt_setting, model.parameters(), run.seed)
    snap_epochs: list[int] = []
    snap_eigs: list[torch.Tensor] = []
    wanted = {int(e) for e in run.snapshot_epochs if 0 < int(e) < run.epochs}

    def callback(m, epoch, hist):
        if epoch in wanted:
            snap_epochs.append(epoch)
            snap_eigs.append(exact_spectrum(m, train, max_dense=max_dense).cpu())
        return {"grad_norm": grad_norm(m, train)}

    hist = fit(model, train, test=test, epochs=run.epochs, optimizer=opt, batch_size=run.batch_size, seed=run.seed,
               device=device, callbacks=[callback])
    if hist.diverged:
        raise RuntimeError(f"saddles: the {opt_setting.name} run with seed {run.seed} diverged ({hist.message}); "
                           f"lower its learning rate")
    vals, vecs = exact_spectrum(model, train, max_dense=max_dense, vectors=True)
    n = vals.numel()
    k = min(run.n_directions, n)
    flat = int(torch.argmin(vals.abs()))
    idx = list(range(k)) + [flat, n - 1]
    labels = [f"lambda_{i + 1}" for i in range(k)] + ["smallest |lambda|", "lambda_max"]
    return {
        "history": hist.to_dict(),
        "state": {name: t.detach().cpu() for name, t in model.state_dict().items()},
        "optimizer_state": optimizer_state_tree(opt.state_dict()),
        "eigenvalues": vals.cpu(),
        "vectors": vecs[:, idx].cpu(),
        "vector_labels": labels,
        "snapshot_epochs": snap_epochs,
        "snapshot_eigenvalues": torch.stack(snap_eigs) if snap_eigs else torch.zeros(0, n, dtype=torch.float64),
        "perturbations": int(getattr(opt, "perturbations", 0)),
        "n_params": n,
    }


@cached("saddles/init_spectrum", version=3, ignore=("max_dense", "device"))
def init_spectrum(*, net: Net, seed: int, max_dense: int, device: str) -> dict:
    r"""The exact Hessian spectrum of the MLP at initialization (the same for every optimizer), and the unit
    eigenvector of its :math:`\lambda_{\min}` (``v_min``, for :func:`init_check`: one dense Hessian serves both)."""
    ds = prepared(net.data, net.side)
    train, _ = _on(ds, device)
    model = build_mlp(ds, net.widths, net.activation, seed).to(torch.device(device))
    vals, vecs = exact_spectrum(model, train, max_dense=max_dense, vectors=True)
    return {"eigenvalues": vals.cpu(), "v_min": vecs[:, 0].cpu()}


# --- 3: leaving the saddle ------------------------------------------------------------


def _model_of(run: Run, res: dict, device: str) -> tuple[torch.nn.Module, tuple, tuple]:
    ds = prepared(run.net.data, run.net.side)
    train, test = _on(ds, device)
    model = build_mlp(ds, run.net.widths, run.net.activation, run.seed).to(torch.device(device))
    model.load_state_dict(res["state"])
    return model, train, test


@cached("saddles/escape_run", version=2, ignore=("max_dense", "device"))
def escape_run(*, run: Run, line_radius: float, line_points: int, escape_epochs: int, max_dense: int, device: str) -> dict:
    r"""From the converged point :math:`\theta^*` of :func:`train_run` (of ``run``):

    - the loss :math:`L(\theta^* + \alpha v)` along each stored eigenvector
      (:math:`\alpha` on ``line_points`` values in ``[-line_radius, line_radius]``);
    - one escape: the step :math:`\alpha^*` (the best nonzero grid value) along the
      eigenvector of :math:`\lambda_{\min}`, then ``escape_epochs`` epochs of the
      run's optimizer, continued with the state it had at the end of training;
      the control trains the same epochs from :math:`\theta^*` the same way, on
      the same mini-batches. ``gain`` is
      :math:`(L_{\text{control}} - L_{\text{escaped}}) / L_{\text{control}}`.
    """
    res = train_run(run=run, max_dense=max_dense, device=device)
    model, train, _ = _model_of(run, res, device)
    dev = torch.device(device)
    alphas = torch.linspace(-line_radius, line_radius, line_points, dtype=torch.float64)
    V = res["vectors"].to(dev)
    profiles = torch.stack([loss_along(model, F.cross_entropy, train, V[:, j], alphas) for j in range(V.shape[1])])
    L0 = _full_loss(model, train)
    params = [q for q in model.parameters() if q.requires_grad]
    g = torch.autograd.grad(F.cross_entropy(model(train[0]), train[1]), params)
    slope = float(torch.cat([x.reshape(-1) for x in g]) @ V[:, 0])
    prof = profiles[0].clone()
    prof[alphas == 0] = math.inf
    j = int(torch.argmin(prof))
    alpha = float(alphas[j])
    escaped = moved(model, V[:, 0], alpha)
    L1 = _full_loss(escaped, train)
    after = {}
    for name, start in (("escaped", escaped), ("control", copy.deepcopy(model))):
        opt = make_optimizer(run.optimizer, start.parameters(), run.seed)
        opt.load_state_dict(optimizer_state_dict(res["optimizer_state"]))
        h = fit(start, train, epochs=escape_epochs, optimizer=opt, batch_size=run.batch_size, seed=run.seed + 1,
                device=device, eval_at_start=False)
        after[name] = h.last["train_eval_loss"] if not h.diverged else math.nan
    lam = res["eigenvalues"]
    return {
        "alphas": alphas, "profiles": profiles, "labels": res["vector_labels"],
        "values": torch.tensor([float(lam[i]) for i in range(profiles.shape[0] - 2)]
                               + [float(lam[int(torch.argmin(lam.abs()))]), float(lam[-1])]),
        "loss_star": L0, "alpha": alpha, "loss_jump": L1, "loss_escaped": after["escaped"], "loss_control": after["control"],
        "gain": (after["control"] - after["escaped"]) / after["control"],
        "jump_gain": (L0 - L1) / L0,
        "quadratic": 0.5 * float(lam[0]) * alpha ** 2,
        "linear": alpha * slope,
    }


# --- v2: saddle or flat minimum (5.1(c)), and the uncapped escape (5.3) ----------------


def _searches(model: torch.nn.Module, train, v_min: torch.Tensor, search: Search, seed: int) -> dict:
    """Two-sided line searches along ``v_min`` and along ``search.n_random`` random unit directions
    (seeded by ``seed``): the decrease each buys, its step, and whether a search hit ``max_steps``."""
    kw = {"step": search.step, "growth": search.growth, "max_steps": search.max_steps}
    along = lambda v: two_sided_search(lambda a: float(loss_along(model, F.cross_entropy, train, v, [a])[0]), **kw)
    s_min = along(v_min)
    U = random_directions(v_min.numel(), search.n_random, seed).to(v_min.device)
    rand = [along(U[j]) for j in range(U.shape[0])]
    return {"decrease_min": s_min["decrease"], "alpha_min": s_min["alpha"], "capped_min": bool(s_min["capped"]),
            "decrease_random": torch.tensor([r["decrease"] for r in rand], dtype=torch.float64),
            "alpha_random": torch.tensor([r["alpha"] for r in rand], dtype=torch.float64),
            "capped_random": int(sum(r["capped"] for r in rand))}


@cached("saddles/saddle_check", version=1, ignore=("max_dense", "device"))
def saddle_check(*, run: Run, search: Search, escape_epochs: int, max_dense: int, device: str) -> dict:
    r"""The v2 measures of the end point :math:`\theta^*` of :func:`train_run` (of ``run``).

    - (a) near-stationarity: :math:`\|\nabla L(\theta^*)\| / \|\nabla L(\theta_0)\|`
      (``grad_ratio``; full-batch gradients);
    - (c) saddle or flat minimum: the two-sided line search along :math:`\pm v_{\min}` (the unit
      eigenvector of :math:`\lambda_{\min}`), run until the loss rises, and the same search along
      ``search.n_random`` random unit directions: ``decrease_min`` and ``decrease_random``,
      :math:`L(\theta^*) - \min_\alpha L(\theta^* + \alpha u)`;
    - the escape of claim 5.3: the step :math:`\alpha^*` of that search along :math:`v_{\min}`
      (uncapped), then ``escape_epochs`` epochs of the run's optimizer continued with its state; the
      control trains the same epochs from :math:`\theta^*` on the same mini-batches. The gain is
      :math:`(L_{\text{control}} - L_{\text{escaped}}) / (L(\theta_0) - L(\theta^*))`, a share of all
      the decrease training achieved.
    """
    res = train_run(run=run, max_dense=max_dense, device=device)
    model, train, _ = _model_of(run, res, device)
    hist = History.from_dict(res["history"])
    g0, g1 = float(hist["grad_norm"][0]), grad_norm(model, train)
    L_init, L_star = float(hist["train_eval_loss"][0]), _full_loss(model, train)
    v_min = res["vectors"][:, 0].to(torch.device(device))
    out = _searches(model, train, v_min, search, run.seed)
    after = {}
    for name, start in (("escaped", moved(model, v_min, out["alpha_min"])), ("control", copy.deepcopy(model))):
        opt = make_optimizer(run.optimizer, start.parameters(), run.seed)
        opt.load_state_dict(optimizer_state_dict(res["optimizer_state"]))
        h = fit(start, train, epochs=escape_epochs, optimizer=opt, batch_size=run.batch_size, seed=run.seed + 1,
                device=device, eval_at_start=False)
        after[name] = h.last["train_eval_loss"] if not h.diverged else math.nan
    total = L_init - L_star
    return {**out, "grad_init": g0, "grad_end": g1, "grad_ratio": g1 / g0, "loss_init": L_init, "loss_star": L_star,
            "loss_escaped": after["escaped"], "loss_control": after["control"],
            "gain": (after["control"] - after["escaped"]) / total if total > 0 else math.nan}


@cached("saddles/init_check", version=2, ignore=("max_dense", "device"))
def init_check(*, net: Net, seed: int, search: Search, max_dense: int, device: str) -> dict:
    r""":func:`saddle_check`'s line searches at initialization (the baseline of claim 5.1): the same
    MLP and seed before any training, its :math:`v_{\min}` from the exact Hessian there
    (:func:`init_spectrum`'s, read from the cache)."""
    ds = prepared(net.data, net.side)
    train, _ = _on(ds, device)
    model = build_mlp(ds, net.widths, net.activation, seed).to(torch.device(device))
    v_min = init_spectrum(net=net, seed=seed, max_dense=max_dense, device=device)["v_min"].to(torch.device(device))
    return {**_searches(model, train, v_min, search, seed), "grad_init": grad_norm(model, train), "grad_ratio": 1.0}


def quadratic_null(eigenvalues, search: Search, seed: int, *, floor: float = 1e-12) -> dict:
    r"""Claim 5.1(c)'s null, a strict local minimum: the convex quadratic
    :math:`q(\theta) = \tfrac12 \sum_i \mu_i \theta_i^2` at its minimum :math:`\theta = 0`, with
    :math:`\mu_i = \max(|\lambda_i|, \text{floor})` - the magnitudes of a trained network's spectrum, so
    the null is exactly as degenerate as the network (b) and exactly stationary (a). Along a unit
    direction :math:`u`, :math:`q(\alpha u) = \tfrac{\alpha^2}{2} \sum_i \mu_i u_i^2`; the same line
    searches as :func:`saddle_check` (along :math:`\pm v_{\min}` = the coordinate of the smallest
    :math:`\mu`, and along random unit directions) give its measures.

    Example:
        >>> q = quadratic_null([-0.1, 0.0, 2.0], Search(1e-3, 2.0, 80, 5), seed=0)
        >>> q["decrease_min"], float(q["decrease_random"].max()), q["lambda_min"] > 0
        (0.0, 0.0, True)
    """
    mu = torch.as_tensor(eigenvalues, dtype=torch.float64).abs().clamp_min(floor)
    kw = {"step": search.step, "growth": search.growth, "max_steps": search.max_steps}
    along = lambda u: two_sided_search(lambda a: 0.5 * a * a * float((mu * u * u).sum()), **kw)
    e_min = torch.zeros_like(mu)
    e_min[int(torch.argmin(mu))] = 1.0
    U = random_directions(mu.numel(), search.n_random, seed)
    rand = [along(U[j]) for j in range(U.shape[0])]
    s_min = along(e_min)
    return {"eigenvalues": torch.sort(mu).values, "lambda_min": float(mu.min()), "lambda_max": float(mu.max()),
            "decrease_min": s_min["decrease"], "alpha_min": s_min["alpha"], "capped_min": bool(s_min["capped"]),
            "decrease_random": torch.tensor([r["decrease"] for r in rand], dtype=torch.float64),
            "capped_random": int(sum(r["capped"] for r in rand)), "grad_ratio": 0.0}


# --- 4: the semicircle ----------------------------------------------------------------


@cached("saddles/goe", version=2, ignore=("device",))
def goe_eigenvalues(*, n: int, seed: int, device: str) -> dict:
    """Eigenvalues of a GOE matrix of size ``n`` (:func:`landscape.spectra.goe`, radius 2)."""
    return {"eigenvalues": torch.linalg.eigvalsh(spectra.goe(n, seed=seed, device=device)).cpu()}


@dataclass
class Semicircle:
    """Semicircle fits (:func:`landscape.spectra.fit_semicircle`) and their KS ratios to the GOE control.

    Attributes:
        goe, goe_eigs: seed -> the GOE control's fit, and its eigenvalues.
        init: seed -> the fit of the spectrum at initialization.
        final: (optimizer, seed) -> the fit of the final spectrum.
        ratio_final, ratio_init: the same keys -> KS of the Hessian / KS of that seed's GOE control.
    """

    goe: dict
    goe_eigs: dict
    init: dict
    final: dict
    ratio_final: dict
    ratio_init: dict


def semicircle_fits(runs: dict, inits: dict, goes: dict, trim: float) -> Semicircle:
    """Fit every final spectrum, every initial one and each GOE control, and the KS ratios."""
    fit_ = lambda e: spectra.fit_semicircle(e, trim=trim)
    goe = {s: fit_(e) for s, e in goes.items()}
    init = {s: fit_(e) for s, e in inits.items()}
    final = {k: fit_(r["eigenvalues"]) for k, r in runs.items()}
    return Semicircle(goe, goes, init, final,
                      ratio_final={(o, s): f.ks / goe[s].ks for (o, s), f in final.items()},
                      ratio_init={s: f.ks / goe[s].ks for s, f in init.items()})


# --- 5: beyond exact size -------------------------------------------------------------


def _slq_measures(op, est: Estimators, seed: int) -> dict:
    sd = spectral_density(op, num_probes=est.probes, num_steps=est.steps, seed=seed)
    lo = eigenvalues(op, k=min(est.n_extreme, op.shape[0]), which="smallest", tol=est.tol, max_hvps=est.max_hvps, seed=seed)
    hi = eigenvalues(op, k=1, which="largest", tol=est.tol, max_hvps=est.max_hvps, seed=seed)
    return {"nodes": sd.nodes, "weights": sd.weights, "slq_hvps": sd.hvps,
            "smallest": lo.values.cpu(), "smallest_residuals": lo.residuals.cpu(), "smallest_converged": lo.converged,
            "smallest_hvps": lo.hvps, "largest": hi.values.cpu(), "largest_residuals": hi.residuals.cpu(),
            "largest_converged": hi.converged, "largest_hvps": hi.hvps}


@cached("saddles/slq_check", version=2, ignore=("max_dense", "device"))
def slq_check(*, run: Run, estimators: Estimators, seed: int, max_dense: int, device: str) -> dict:
    """The toolkit's SLQ density and Lanczos extreme eigenvalues on a converged small MLP (whose exact
    spectrum :func:`train_run` holds), for comparison with the dense answer."""
    res = train_run(run=run, max_dense=max_dense, device=device)
    model, train, _ = _model_of(run, res, device)
    op = HessianOperator(model, F.cross_entropy, train)
    return _slq_measures(op, estimators, seed)


@cached("saddles/big_run", version=2, ignore=("device",))
def big_run(*, big: BigRun, estimators: Estimators, device: str) -> dict:
    """Train the large network and read the Hessian of its final point through SLQ and Lanczos, on the first
    ``big.hessian_n`` training examples (a fixed subset; None: all of them)."""
    ds = prepared(big.data, big.side)
    train, test = _on(ds, device)
    dt = getattr(torch, big.dtype)
    train, test = (train[0].to(dt), train[1]), (test[0].to(dt), test[1])
    net = models.build(big.model, in_channels=ds.input_shape[0], num_classes=ds.num_classes, input_size=ds.input_shape[-1],
                       seed=big.seed, dtype=dt).to(torch.device(device))
    opt = make_optimizer(big.optimizer, net.parameters(), big.seed)
    hist = fit(net, train, test=test, epochs=big.epochs, optimizer=opt, batch_size=big.batch_size, seed=big.seed, device=device)
    if hist.diverged:
        raise RuntimeError(f"saddles: the large network diverged ({hist.message}); lower the learning rate of {big.optimizer.name}")
    sub = train if big.hessian_n is None else (train[0][:big.hessian_n], train[1][:big.hessian_n])
    final = _slq_measures(HessianOperator(net, F.cross_entropy, sub), estimators, big.seed)
    return {"history": hist.to_dict(), "final": final, "n_params": models.num_parameters(net), "hessian_n": int(sub[1].shape[0]),
            "grad_norm": grad_norm(net, sub), "loss": _full_loss(net, sub)}


# --- everything -----------------------------------------------------------------------


@dataclass
class Results:
    """What the saddles chapter measured.

    Attributes:
        runs: (optimizer, seed) -> :func:`train_run`'s result, optimizers then seeds in the parameters' order.
        inits: seed -> eigenvalues at initialization.
        escapes: (optimizer, seed) -> :func:`escape_run`'s result.
        semicircle: the :class:`Semicircle` fits.
        check: :func:`slq_check` on the first optimizer's first-seed run.
        big: :func:`big_run`.
        examples: training examples used; side: the images' side after pooling.
        blank_pixels: input pixels that are zero in every training image.
        checks: (optimizer, seed) -> :func:`saddle_check`'s result (the v2 measures of 5.1 and 5.3).
        init_checks: seed -> :func:`init_check`'s result (the same at initialization).
        dataset: the data set of these results.
        others: data set -> the :class:`Results` of the same runs on another data set
            (``also_datasets``; without the large network).
    """

    runs: dict
    inits: dict
    escapes: dict
    semicircle: Semicircle | None = None
    check: dict = field(default_factory=dict)
    big: dict = field(default_factory=dict)
    examples: int = 0
    side: int = 0
    blank_pixels: int = 0
    checks: dict = field(default_factory=dict)
    init_checks: dict = field(default_factory=dict)
    dataset: str = ""
    others: dict = field(default_factory=dict)

    @property
    def n_params(self) -> int:
        """Parameters of the MLP (the size of every exact spectrum)."""
        return int(next(iter(self.runs.values()))["n_params"])


def settings(p: Params) -> tuple[Net, dict[tuple[str, int], Run], Estimators, BigRun]:
    """The units' settings from the parameters: the net, one :class:`Run` per (optimizer, seed)
    (snapshots for the first seed only), the estimators and the large network."""
    data = DataSpec(p.dataset, root=p.data_root, n_train=p.n_train, n_test=p.n_test, seed=0)
    side = lambda size: NATIVE_SIZE[p.dataset] if size is None else int(size)
    net = Net(data, side(p.input_size), tuple(p.widths), p.activation)
    runs = {(o, s): Run(net, optimizer_setting(p, o), p.epochs, p.batch_size, s,
                        tuple(sorted(set(p.snapshot_epochs))) if s == p.seeds[0] else (), p.n_directions)
            for o in p.optimizers for s in p.seeds}
    est = Estimators(p.slq_probes, p.slq_steps, p.n_extreme, p.eig_tol, p.eig_max_hvps)
    big = BigRun(data, side(p.big_input_size), p.big_model, p.big_dtype, optimizer_setting(p, p.big_optimizer), p.big_epochs,
                 p.batch_size, p.seeds[0], p.big_hessian_n)
    return net, runs, est, big


def search_setting(p: Params) -> Search:
    """The v2 line search of the parameters cell."""
    return Search(p.search_step, p.search_growth, p.search_max_steps, p.n_random)


def run(p: Params, *, big: bool = True) -> Results:
    """Every experiment of the chapter, from the cache when warm: the units ``p.workers`` at a time
    (:func:`landscape.experiment.parallel.compute`; the results do not depend on it) in two stages -
    the training runs, the initial points and the large network (only with ``big``), then what each
    converged run feeds (escapes, v2 checks) - and the fits in this process; each of
    ``also_datasets`` the same way (:func:`run_others`)."""
    device = str(resolve_device(p.device))
    net, settings_, est, big_setting = settings(p)
    search = search_setting(p)
    dense = {"max_dense": p.max_dense, "device": device}
    with threads(p.threads):
        keys = list(settings_)
        # stage 1, independent units: the large net (the longest, first), the training runs, the spectra at
        # initialization
        first = (([(big_run, {"big": big_setting, "estimators": est, "device": device})] if big else [])
                 + [(train_run, {"run": settings_[k], **dense}) for k in keys]
                 + [(init_spectrum, {"net": net, "seed": s, **dense}) for s in p.seeds])
        done = compute(first, workers=p.workers)
        large = done.pop(0) if big else {}
        runs = dict(zip(keys, done[:len(keys)]))
        inits = {s: d["eigenvalues"] for s, d in zip(p.seeds, done[len(keys):])}
        # stage 2, each from its converged run or initial spectrum (read back from the cache)
        second = ([(escape_run, {"run": settings_[k], "line_radius": p.line_radius, "line_points": p.line_points,
                                 "escape_epochs": p.escape_epochs, **dense}) for k in keys]
                  + [(saddle_check, {"run": settings_[k], "search": search, "escape_epochs": p.escape_epochs, **dense})
                     for k in keys]
                  + [(init_check, {"net": net, "seed": s, "search": search, **dense}) for s in p.seeds])
        done = compute(second, workers=p.workers)
        escapes, checks = dict(zip(keys, done[:len(keys)])), dict(zip(keys, done[len(keys):2 * len(keys)]))
        init_checks = dict(zip(p.seeds, done[2 * len(keys):]))
        n = next(iter(runs.values()))["n_params"]
        goes = {s: goe_eigenvalues(n=n, seed=s, device=device)["eigenvalues"] for s in p.seeds}
        semi = semicircle_fits(runs, inits, goes, p.bulk_trim)
        check = slq_check(run=settings_[(p.optimizers[0], p.seeds[0])], estimators=est, seed=0, **dense)
        x = prepared(net.data, net.side).train[0]
        blank = int(x.reshape(x.shape[0], -1).ne(0).sum(0).eq(0).sum())
    out = Results(runs, inits, escapes, semi, check, large, examples=int(x.shape[0]), side=net.side, blank_pixels=blank,
                  checks=checks, init_checks=init_checks, dataset=p.dataset)
    if big:
        out.others = run_others(p)
    return out


def run_others(p: Params) -> dict[str, Results]:
    """The same runs on each data set of ``p.also_datasets`` (the gpu profile: Fashion-MNIST beside
    MNIST-10k), at the same network and schedule, without the large network."""
    return {d: run(p.replace(dataset=d, also_datasets=[]), big=False) for d in p.also_datasets if d != p.dataset}
