r"""The chapter "Are saddles good enough?" (``book/saddles.ipynb``;
Sankar and Balasubramanian, arXiv:1706.02052, ``sankar2017saddles``).

The paper's claim: networks trained to convergence sit at saddle points of
high degeneracy (most Hessian eigenvalues near zero, a few negative), not at
minima; saddle-escaping methods end there too; Wigner's semicircle law shows
in the spectra. Small networks make the Hessian exact: every spectrum here is
``torch.linalg.eigh`` of :func:`landscape.curvature.dense_hessian` in float64,
on the whole training set used.

What the notebook calls, section by section:

1. **Spectrum at convergence**: :func:`train_all` (one cached
   :func:`train_run` per optimizer and seed: training, a full Hessian
   spectrum at each of ``snapshot_epochs``, the final eigendecomposition
   and the eigenvectors section 3 needs), :func:`final_table`,
   :func:`tolerance_table`, :func:`plot_spectra`.
2. **How it gets there**: :func:`init_all` (spectra at initialization),
   :func:`trajectory` and :func:`plot_trajectory`.
3. **How good is the saddle**: :func:`escape_all` (:func:`escape_run`: the
   loss along eigenvectors, one step along the most negative curvature, then a
   few epochs, against the same epochs without the step), :func:`escape_table`,
   :func:`plot_profiles`, :func:`plot_escape`.
4. **Semicircle**: :func:`semicircle_all` (:func:`landscape.spectra.fit_semicircle`
   on every spectrum and on GOE controls of the same size, :func:`goe_eigenvalues`),
   :func:`plot_semicircle`.
5. **Beyond exact size**: :func:`slq_check` (SLQ and Lanczos against the
   dense answer on a small net) and :func:`big_run` (LeNet-5),
   :func:`plot_slq_check`, :func:`plot_big`.

Claims 5.1-5.4: :func:`claims`. Widgets: :func:`explore_optimizers`,
:func:`explore_epochs`, :func:`live_fractions`. The library pieces are
:mod:`landscape.spectra` (fractions, semicircle, GOE) and
:mod:`landscape.escape` (perturbed gradient descent, moving along a direction).
"""

from __future__ import annotations

import copy
import functools
import math
from typing import Any, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from ... import spectra
from ...training import data, models
from ...experiment.style import PALETTE
from ...experiment.cache import cached
from ...experiment.claims import Claim, decide
from ...curvature import HessianOperator, dense_hessian, eigenvalues, spectral_density
from ...spectra import spectrum_distance
from ...methods.escape import PerturbedGD, loss_along, moved
from ...experiment.params import Param, Schema
from ...training.loop import History, fit, threads
from ..common import DATA_ROOT, DEVICE, PROFILE, SEEDS

NOTEBOOK = "book/saddles.ipynb"
ORDER = 60
SMOKE_CHECKS = {
    "saddles-n-params": (50, 5000),
    "saddles-zero-mean": (0.0, 1.0),
    "saddles-runs-saddle": (0.0, 1.0),
    "saddles-pgd-gap": (0.0, 1.0),
    "saddles-escape-gain-median": (-10.0, 1.0),
    "saddles-ks-goe-median": (0.0, 0.5),
    "saddles-ks-ratio-median": (0.0, 1e4),
    "saddles-slq-w1": (0.0, 2.0),
    "saddles-big-n-params": (1000, 10**7),
    "saddles-big-zero": (0.0, 1.0),
}

OPTIMIZERS = ("sgd", "momentum", "adam", "adagrad", "pgd")
LABELS = {"sgd": "SGD", "momentum": "SGD + momentum", "adam": "Adam", "adagrad": "Adagrad", "pgd": "PGD (perturbed)"}
SHORT = {"sgd": "SGD", "momentum": "Momentum", "adam": "Adam", "adagrad": "Adagrad", "pgd": "PGD"}
COLOURS = {"sgd": PALETTE[7], "momentum": PALETTE[0], "adam": PALETTE[2], "adagrad": PALETTE[1], "pgd": PALETTE[3]}
NATIVE_SIZE = {"digits": 8, "mnist10k": 28, "mnist": 28, "fashion-mnist": 28}

_lr = lambda what: Param(float, f"learning rate of {what}", low=1e-6, high=10.0)
_tols = lambda what: Param(list, what, item=float, low=0.0, high=1.0, min_len=1)
SCHEMA = Schema(
    profile=PROFILE,
    device=DEVICE,
    threads=Param(int, "torch CPU threads in this chapter (None: leave torch's setting; 1 is fastest for these small models on a busy machine)", low=1, high=256, nullable=True),
    # data and model
    dataset=Param(str, "data set", choices=tuple(NATIVE_SIZE)),
    data_root=DATA_ROOT,
    input_size=Param(int, "side the images are average-pooled to (None: native, 8 for digits, 28 otherwise)", low=2, high=28, nullable=True),
    n_train=Param(int, "training examples (None: all); the Hessian is that of the loss on all of them", low=10, nullable=True),
    n_test=Param(int, "test examples (None: all)", low=10, nullable=True),
    widths=Param(list, "hidden widths of the MLP", item=int, low=1, high=4096, min_len=1),
    activation=Param(str, "hidden activation of the MLP", choices=("tanh", "relu", "sigmoid", "grelu")),
    max_dense=Param(int, "refuse a dense Hessian above this many parameters", low=10, high=60000),
    # training
    optimizers=Param(list, "optimizers compared (pgd: perturbed gradient descent, the saddle-escaping method)", item=str, choices=OPTIMIZERS, min_len=1),
    epochs=Param(int, "training epochs of every run", low=1, high=5000),
    batch_size=Param(int, "mini-batch size", low=1, high=65536),
    lr_sgd=_lr("SGD"),
    lr_momentum=_lr("SGD + momentum"),
    momentum=Param(float, "momentum of SGD + momentum", low=0.0, high=0.999),
    lr_adam=_lr("Adam"),
    lr_adagrad=_lr("Adagrad"),
    lr_pgd=_lr("perturbed gradient descent"),
    pgd_radius=Param(float, "PGD: radius r of the perturbation ball", low=0.0, high=100.0),
    pgd_g_thres=Param(float, "PGD: perturb when the (mini-batch) gradient norm is at most this", low=0.0, high=1e3),
    pgd_t_thres=Param(int, "PGD: steps between two perturbations, at least", low=0, high=10**7),
    seeds=SEEDS,
    snapshot_epochs=Param(list, "epochs at which the exact spectrum is also taken during training, first seed only (besides 0 and the last)", item=int, low=1, high=5000),
    # reading the spectrum
    rel_tols=_tols("tolerances relative to lambda_max at which the fractions are reported"),
    abs_tols=_tols("absolute tolerances at which the fractions are reported"),
    # escaping
    n_directions=Param(int, "eigenvectors of the most negative eigenvalues followed from the converged point", low=1, high=50),
    line_radius=Param(float, "largest step length |alpha| along each direction (parameter-space units)", low=1e-6, high=1e3),
    line_points=Param(int, "step lengths on [-line_radius, line_radius] (odd: includes 0)", low=3, high=1001),
    escape_epochs=Param(int, "epochs trained after the escape step (and, as the control, without it)", low=1, high=1000),
    # semicircle
    bulk_trim=Param(float, "fraction of eigenvalues cut at each end before fitting the semicircle (the outliers)", low=0.0, high=0.25),
    # beyond exact size
    big_model=Param(str, "the network too large for a dense Hessian", choices=("lenet5",)),
    big_input_size=Param(int, "input side of the large network (None: native)", low=8, high=28, nullable=True),
    big_dtype=Param(str, "floating-point type of the large network and its Hessian-vector products", choices=("float32", "float64")),
    big_optimizer=Param(str, "optimizer of the large network (its learning rate as above)", choices=OPTIMIZERS),
    big_hessian_n=Param(int, "the large network's Hessian is on the first this many training examples (None: all)", low=1, nullable=True),
    big_epochs=Param(int, "training epochs of the large network", low=1, high=5000),
    slq_probes=Param(int, "SLQ: random probes", low=1, high=1000),
    slq_steps=Param(int, "SLQ: Lanczos steps per probe", low=2, high=2000),
    n_extreme=Param(int, "smallest eigenvalues found by Lanczos (which='smallest')", low=1, high=100),
    eig_tol=Param(float, "Lanczos: relative residual tolerance", low=1e-12, high=0.5),
    eig_max_hvps=Param(int, "Lanczos: Hessian-vector products allowed per call", low=10, high=10**6),
    # decision rules (declared before the run; ../shared/papers.md)
    zero_tol=Param(float, "5.1/5.2: near zero means |lambda| <= zero_tol * lambda_max", low=0.0, high=1.0),
    neg_tol=Param(float, "5.1: negative means lambda < -neg_tol * lambda_max", low=0.0, high=1.0),
    zero_fraction_min=Param(float, "5.1: a run is a degenerate saddle when its near-zero fraction is at least this (and it has a negative eigenvalue)", low=0.0, high=1.0),
    most_fraction=Param(float, "5.1: 'most runs' means a fraction of runs above this", low=0.0, high=1.0),
    pgd_gap_max=Param(float, "5.2: |near-zero fraction of PGD - that of the plain methods| at most this", low=0.0, high=1.0),
    escape_gain_max=Param(float, "5.3: relative loss decrease bought by escaping at most this (median over runs)", low=0.0, high=1.0),
    ks_ratio_max=Param(float, "5.4: KS distance of the Hessian bulk to its semicircle at most this multiple of the GOE control's (median over runs)", low=0.0, high=1e6),
)


# --- set-up ------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def load(dataset: str, data_root: str | None, n_train: int | None, n_test: int | None, input_size: int | None) -> data.Dataset:
    """The data set in float64, images average-pooled to ``input_size`` (seeded split, ``seed=0``)."""
    ds = data.load(dataset, root=data_root, n_train=n_train, n_test=n_test, seed=0)
    side = NATIVE_SIZE[dataset] if input_size is None else int(input_size)

    def prep(x: torch.Tensor) -> torch.Tensor:
        x = x.double()
        return F.adaptive_avg_pool2d(x, side) if x.shape[-1] != side else x

    return data.Dataset(ds.name, (prep(ds.train[0]), ds.train[1]), (prep(ds.test[0]), ds.test[1]), ds.num_classes, ds.source)


def _data_args(p: dict) -> dict:
    return {k: p[k] for k in ("dataset", "data_root", "n_train", "n_test", "input_size")}


def build_mlp(ds: data.Dataset, widths: Sequence[int], activation: str, seed: int) -> torch.nn.Module:
    """The chapter's MLP in float64, initialized from ``seed``."""
    return models.build("mlp", in_features=int(np.prod(ds.input_shape)), widths=list(widths), out_features=ds.num_classes,
                        activation=activation, seed=seed, dtype=torch.float64)


def hyper(p: dict, name: str) -> dict:
    """The hyper-parameters of optimizer ``name`` from the parameters cell (only its own, so a change to one
    optimizer's learning rate recomputes only its runs)."""
    return {
        "sgd": {"lr": p["lr_sgd"]},
        "momentum": {"lr": p["lr_momentum"], "momentum": p["momentum"]},
        "adam": {"lr": p["lr_adam"]},
        "adagrad": {"lr": p["lr_adagrad"]},
        "pgd": {"lr": p["lr_pgd"], "radius": p["pgd_radius"], "g_thres": p["pgd_g_thres"], "t_thres": p["pgd_t_thres"]},
    }[name]


def make_optimizer(name: str, params, hparams: dict, seed: int) -> torch.optim.Optimizer:
    """``torch.optim`` SGD / SGD with momentum / Adam / Adagrad, or :class:`~landscape.escape.PerturbedGD` (noise seeded by ``seed``)."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=hparams["lr"])
    if name == "momentum":
        return torch.optim.SGD(params, lr=hparams["lr"], momentum=hparams["momentum"])
    if name == "adam":
        return torch.optim.Adam(params, lr=hparams["lr"])
    if name == "adagrad":
        return torch.optim.Adagrad(params, lr=hparams["lr"])
    if name == "pgd":
        return PerturbedGD(params, lr=hparams["lr"], radius=hparams["radius"], g_thres=hparams["g_thres"],
                           t_thres=int(hparams["t_thres"]), seed=seed)
    raise ValueError(f"Invalid optimizer: {name!r} (choose from {', '.join(OPTIMIZERS)})")


def optimizer_state_tree(state: dict) -> dict:
    """An optimizer's ``state_dict()`` in a form the results cache stores (string keys; ``bytes``, such as
    :class:`~landscape.escape.PerturbedGD`'s generator state, as uint8 arrays). :func:`optimizer_state_dict` undoes it."""
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


def _on(ds: data.Dataset, device: str) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    dev = torch.device(device)
    return (ds.train[0].to(dev), ds.train[1].to(dev)), (ds.test[0].to(dev), ds.test[1].to(dev))


# --- 1 and 2: training runs with exact spectra ---------------------------------------


@cached("saddles/train_run", version=1)
def train_run(*, dataset: str, data_root: str | None, n_train: int | None, n_test: int | None, input_size: int | None,
              widths: list, activation: str, optimizer: str, hparams: dict, epochs: int, batch_size: int, seed: int,
              snapshot_epochs: list, n_directions: int, max_dense: int, device: str) -> dict:
    """Train one MLP, with the exact Hessian spectrum at each of ``snapshot_epochs`` (before the last) and at the end.

    Returns the history (with the full-batch gradient norm each epoch), the
    final weights, all final eigenvalues, the eigenvectors of the
    ``n_directions`` smallest eigenvalues, of the smallest :math:`|\\lambda|`
    and of :math:`\\lambda_{\\max}` (``vectors``, columns in that order), and the
    snapshot spectra. Raises when the run diverges (lower its learning rate).
    """
    ds = load(dataset, data_root, n_train, n_test, input_size)
    train, test = _on(ds, device)
    model = build_mlp(ds, widths, activation, seed).to(torch.device(device))
    opt = make_optimizer(optimizer, model.parameters(), hparams, seed)
    snap_epochs: list[int] = []
    snap_eigs: list[torch.Tensor] = []
    wanted = {int(e) for e in snapshot_epochs if 0 < int(e) < epochs}

    def callback(m, epoch, hist):
        if epoch in wanted:
            snap_epochs.append(epoch)
            snap_eigs.append(exact_spectrum(m, train, max_dense=max_dense).cpu())
        return {"grad_norm": grad_norm(m, train)}

    hist = fit(model, train, test=test, epochs=epochs, optimizer=opt, batch_size=batch_size, seed=seed, device=device,
               callbacks=[callback])
    if hist.diverged:
        raise RuntimeError(f"saddles: the {optimizer} run with seed {seed} diverged ({hist.message}); lower its learning rate")
    vals, vecs = exact_spectrum(model, train, max_dense=max_dense, vectors=True)
    n = vals.numel()
    k = min(n_directions, n)
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


def run_args(p: dict, optimizer: str, seed: int, device: torch.device | str) -> dict:
    """The arguments of :func:`train_run` for one optimizer and seed."""
    snapshot = sorted(set(p["snapshot_epochs"])) if seed == p["seeds"][0] else []
    return {**_data_args(p), "widths": p["widths"], "activation": p["activation"], "optimizer": optimizer,
            "hparams": hyper(p, optimizer), "epochs": p["epochs"], "batch_size": p["batch_size"], "seed": seed,
            "snapshot_epochs": snapshot, "n_directions": p["n_directions"], "max_dense": p["max_dense"], "device": str(device)}


def train_all(p: dict, device: torch.device | str) -> dict[tuple[str, int], dict]:
    """Every (optimizer, seed) run, from the cache when warm."""
    with threads(p["threads"]):
        return {(o, s): train_run(**run_args(p, o, s, device)) for o in p["optimizers"] for s in p["seeds"]}


@cached("saddles/init_spectrum", version=1)
def init_spectrum(*, dataset: str, data_root: str | None, n_train: int | None, n_test: int | None, input_size: int | None,
                  widths: list, activation: str, seed: int, max_dense: int, device: str) -> dict:
    """The exact Hessian spectrum of the MLP at initialization (the same for every optimizer)."""
    ds = load(dataset, data_root, n_train, n_test, input_size)
    train, _ = _on(ds, device)
    model = build_mlp(ds, widths, activation, seed).to(torch.device(device))
    return {"eigenvalues": exact_spectrum(model, train, max_dense=max_dense).cpu()}


def init_all(p: dict, device: torch.device | str) -> dict[int, torch.Tensor]:
    """Seed -> eigenvalues at initialization."""
    with threads(p["threads"]):
        return {s: init_spectrum(**_data_args(p), widths=p["widths"], activation=p["activation"], seed=s,
                                 max_dense=p["max_dense"], device=str(device))["eigenvalues"] for s in p["seeds"]}


def summary(eigs: Any, p: dict) -> dict[str, float]:
    """:func:`landscape.spectra.spectrum_summary` at the chapter's tolerances."""
    return spectra.spectrum_summary(eigs, zero_tol=p["zero_tol"], neg_tol=p["neg_tol"])


def final_table(runs: dict, p: dict):
    """One row per run: training loss, gradient norm, test accuracy, the spectrum's ends and fractions."""
    import pandas as pd

    rows = []
    for (o, s), r in runs.items():
        last = History.from_dict(r["history"]).last
        sm = summary(r["eigenvalues"], p)
        rows.append({"optimizer": LABELS[o], "seed": s, "train loss": last["train_eval_loss"], "|grad|": last["grad_norm"],
                     "test acc": last["test_acc"], "lambda_min": sm["lambda_min"], "lambda_max": sm["lambda_max"],
                     "|lambda_min|/lambda_max": sm["neg_ratio"], f"near zero (<= {p['zero_tol']:g} lmax)": sm["zero"],
                     f"n below -{p['neg_tol']:g} lmax": sm["n_below"], "perturbations": r["perturbations"]})
    return pd.DataFrame(rows)


def tolerance_table(runs: dict, p: dict):
    """Fractions negative / near zero / positive of every run's final spectrum at every tolerance (relative to
    lambda_max, then absolute): one row per optimizer, seed and tolerance."""
    import pandas as pd

    rows = []
    for (o, s), r in runs.items():
        for f in spectra.fraction_table(r["eigenvalues"], p["rel_tols"], p["abs_tols"]):
            tol = f"{f['tol']:g} λmax" if f["relative"] else f"{f['tol']:g} abs."
            rows.append({"optimizer": LABELS[o], "seed": s, "tolerance": tol,
                         "negative": f["negative"], "zero": f["zero"], "positive": f["positive"]})
    return pd.DataFrame(rows)


def trajectory(run: dict, init_eigs: torch.Tensor, p: dict) -> dict[str, np.ndarray]:
    """Epochs with an exact spectrum (0, the snapshots, the last) and their summaries."""
    hist = History.from_dict(run["history"])
    epochs = [0, *run["snapshot_epochs"], hist.last["epoch"]]
    eigs = [init_eigs, *list(run["snapshot_eigenvalues"]), run["eigenvalues"]]
    sums = [summary(e, p) for e in eigs]
    out = {"epoch": np.array(epochs)}
    for key in ("zero", "negative", "n_below", "lambda_min", "lambda_max", "neg_ratio"):
        out[key] = np.array([s[key] for s in sums], dtype=float)
    return out


# --- plotting helpers -----------------------------------------------------------------


def _wrap(text: str, width: int = 100) -> str:
    import textwrap

    return "\n".join(textwrap.wrap(text, width))


def _symlog_edges(x: np.ndarray, linthresh: float, bins: int) -> np.ndarray:
    """Histogram edges equally spaced on a symlog axis covering ``x``."""
    f = lambda v: np.sign(v) * np.log10(1 + np.abs(v) / linthresh)
    g = lambda u: np.sign(u) * linthresh * (10 ** np.abs(u) - 1)
    lo, hi = f(min(x.min(), -linthresh)), f(max(x.max(), linthresh))
    return g(np.linspace(lo * 1.02, hi * 1.02, bins + 1))


def plot_histogram(ax, eigs: Any, p: dict, *, colour: str = PALETTE[0], title: str = "", bins: int = 60,
                   sparse: bool = False) -> None:
    r"""Histogram of :math:`\lambda / \lambda_{\max}` on a symlog axis (linear within the smallest relative
    tolerance), log-scaled counts, the near-zero band of ``zero_tol`` shaded."""
    x = np.asarray(torch.as_tensor(eigs, dtype=torch.float64))
    lmax = spectra.fractions(x, 0.0).scale
    x = x / lmax
    lt = min(p["rel_tols"])
    ax.hist(x, bins=_symlog_edges(x, lt, bins), color=colour, alpha=0.85, log=True)
    ax.set_xscale("symlog", linthresh=lt)
    lo, hi = float(x.min()), float(x.max())
    marks = (-1e-1, -1e-3, 0.0, 1e-3, 1e-1) if sparse else (-1e-1, -1e-2, -1e-3, 0.0, 1e-3, 1e-2, 1e-1, 1.0)
    ticks = [t for t in marks if lo * 1.5 <= t <= hi * 1.5 or t == 0.0]
    ax.set_xticks(ticks)
    ax.set_xticklabels(["0" if t == 0 else f"{t:g}" for t in ticks], fontsize="small")
    ax.axvspan(-p["zero_tol"], p["zero_tol"], color="0.5", alpha=0.15, lw=0)
    ax.axvline(-p["neg_tol"], color="0.3", lw=0.8, ls=":")
    ax.set_ylim(bottom=0.5)
    ax.set(xlabel=r"$\lambda / \lambda_{\max}$ (symlog)", ylabel="count (log)", title=title)


def plot_spectra(runs: dict, p: dict, *, seed: int | None = None, data_label: str = ""):
    """Section 1's figure: the final spectrum of each optimizer (one seed), and every run's near-zero fraction."""
    seed = p["seeds"][0] if seed is None else seed
    opts = p["optimizers"]
    ncol = 3
    nrow = math.ceil((len(opts) + 1) / ncol)
    fig, axes = plt.subplots(nrow, ncol, figsize=(11, 3.1 * nrow), squeeze=False)
    axes = axes.ravel()
    for ax, o in zip(axes, opts):
        sm = summary(runs[(o, seed)]["eigenvalues"], p)
        plot_histogram(ax, runs[(o, seed)]["eigenvalues"], p, colour=COLOURS[o],
                       title=f"{LABELS[o]}\n{sm['zero']:.0%} near 0; {sm['n_below']} below −{p['neg_tol']:g} λmax")
    ax = axes[len(opts)]
    for i, o in enumerate(opts):
        z = [summary(runs[(o, s)]["eigenvalues"], p)["zero"] for s in p["seeds"]]
        ax.scatter(np.full(len(z), i), z, color=COLOURS[o], zorder=3)
        ax.plot([i - 0.3, i + 0.3], [np.mean(z)] * 2, color=COLOURS[o], lw=2.5)
    ax.axhline(p["zero_fraction_min"], color="0.3", ls="--", lw=1, label="5.1 threshold")
    ax.set(xticks=range(len(opts)), ylim=(0, 1.02), ylabel=f"fraction |λ| ≤ {p['zero_tol']:g} λmax", title="every seed (dots), mean (bar)")
    ax.set_xticklabels([SHORT[o] for o in opts], rotation=30, fontsize="small")
    ax.legend(loc="lower right", fontsize="small")
    for ax in axes[len(opts) + 1:]:
        ax.set_visible(False)
    fig.suptitle(f"Hessian spectra at convergence (the paper's eigenvalue histograms at convergence)\n{data_label}, seed {seed}; "
                 f"shaded: |λ| ≤ {p['zero_tol']:g} λmax, dotted: −{p['neg_tol']:g} λmax", y=1.02)
    fig.tight_layout()
    return fig


def plot_trajectory(runs: dict, inits: dict, p: dict, *, seed: int | None = None, optimizers: Sequence[str] | None = None,
                    data_label: str = ""):
    """Section 2's figure: near-zero fraction, negative count, the spectrum's ends and the loss against epochs."""
    seed = p["seeds"][0] if seed is None else seed
    opts = list(p["optimizers"] if optimizers is None else optimizers)
    fig, axes = plt.subplots(2, 2, figsize=(11, 6.4))
    for o in opts:
        tr = trajectory(runs[(o, seed)], inits[seed], p)
        hist = History.from_dict(runs[(o, seed)]["history"])
        c = COLOURS[o]
        axes[0, 0].plot(tr["epoch"], tr["zero"], "o-", color=c, label=LABELS[o])
        axes[0, 1].plot(tr["epoch"], tr["n_below"], "o-", color=c)
        axes[1, 0].plot(tr["epoch"], tr["lambda_max"], "o-", color=c)
        axes[1, 0].plot(tr["epoch"], np.abs(np.minimum(tr["lambda_min"], 0)), "s--", color=c, alpha=0.7)
        axes[1, 1].plot(hist["epoch"][1:], hist["train_eval_loss"][1:], color=c)
        axes[1, 1].plot(hist["epoch"], hist["grad_norm"], color=c, ls=":", alpha=0.8)
    axes[0, 0].set(ylabel=f"fraction |λ| ≤ {p['zero_tol']:g} λmax", ylim=(0, 1), title="degeneracy")
    axes[0, 1].set(ylabel=f"eigenvalues below −{p['neg_tol']:g} λmax", title="negative directions")
    axes[1, 0].set(yscale="log", ylabel="λmax (solid), |λmin| (dashed)", title="ends of the spectrum")
    axes[1, 1].set(yscale="log", ylabel="training loss (solid), |∇L| (dotted)", title="loss and gradient norm")
    for ax in axes.ravel():
        ax.set_xlabel("epoch")
    axes[0, 0].legend(fontsize="small")
    fig.suptitle(f"The spectrum along training (not in the paper, which shows the end point only)\n"
                 f"exact Hessian at epochs {', '.join(str(int(e)) for e in tr['epoch'])}; {data_label}, seed {seed}", y=1.02)
    fig.tight_layout()
    return fig


# --- 3: leaving the saddle ------------------------------------------------------------


def _model_of(run_kwargs: dict, res: dict) -> tuple[torch.nn.Module, tuple, tuple]:
    ds = load(run_kwargs["dataset"], run_kwargs["data_root"], run_kwargs["n_train"], run_kwargs["n_test"], run_kwargs["input_size"])
    train, test = _on(ds, run_kwargs["device"])
    model = build_mlp(ds, run_kwargs["widths"], run_kwargs["activation"], run_kwargs["seed"]).to(torch.device(run_kwargs["device"]))
    model.load_state_dict(res["state"])
    return model, train, test


def _full_loss(model: torch.nn.Module, batch) -> float:
    with torch.no_grad():
        return float(F.cross_entropy(model(batch[0]), batch[1]))


@cached("saddles/escape_run", version=1)
def escape_run(*, run: dict, line_radius: float, line_points: int, escape_epochs: int) -> dict:
    r"""From the converged point :math:`\theta^*` of :func:`train_run` (``run`` are its arguments):

    - the loss :math:`L(\theta^* + \alpha v)` along each stored eigenvector
      (:math:`\alpha` on ``line_points`` values in ``[-line_radius, line_radius]``);
    - one escape: the step :math:`\alpha^*` (the best nonzero grid value) along the
      eigenvector of :math:`\lambda_{\min}`, then ``escape_epochs`` epochs of the
      run's optimizer, continued with the state it had at the end of training;
      the control trains the same epochs from :math:`\theta^*` the same way, on
      the same mini-batches. ``gain`` is
      :math:`(L_{\text{control}} - L_{\text{escaped}}) / L_{\text{control}}`.
    """
    res = train_run(**run)
    model, train, _ = _model_of(run, res)
    dev = torch.device(run["device"])
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
        opt = make_optimizer(run["optimizer"], start.parameters(), run["hparams"], run["seed"])
        opt.load_state_dict(optimizer_state_dict(res["optimizer_state"]))
        h = fit(start, train, epochs=escape_epochs, optimizer=opt, batch_size=run["batch_size"], seed=run["seed"] + 1,
                device=run["device"], eval_at_start=False)
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


def escape_all(p: dict, device: torch.device | str) -> dict[tuple[str, int], dict]:
    """:func:`escape_run` for every (optimizer, seed)."""
    with threads(p["threads"]):
        return {(o, s): escape_run(run=run_args(p, o, s, device), line_radius=p["line_radius"], line_points=p["line_points"],
                                   escape_epochs=p["escape_epochs"]) for o in p["optimizers"] for s in p["seeds"]}


def escape_table(escapes: dict):
    """One row per run: the loss at the saddle, after the step, and after the extra epochs with and without it."""
    import pandas as pd

    return pd.DataFrame([{"optimizer": LABELS[o], "seed": s, "lambda_min": float(e["values"][0]), "step alpha": e["alpha"],
                          "L at saddle": e["loss_star"], "change by step": e["loss_jump"] - e["loss_star"],
                          "gradient term": e["linear"], "curvature term": e["quadratic"], "L escaped + epochs": e["loss_escaped"],
                          "L control + epochs": e["loss_control"], "gain": e["gain"]} for (o, s), e in escapes.items()])


def plot_profiles(esc: dict, *, title: str = ""):
    r"""The loss change :math:`L(\theta^* + \alpha v) - L(\theta^*)` along the eigenvectors of the most negative
    eigenvalues and of the smallest :math:`|\lambda|` (left; thin dashed: the curvature term
    :math:`\tfrac12\lambda\alpha^2`), and along that of :math:`\lambda_{\max}` (right)."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), gridspec_kw={"width_ratios": [3, 2]})
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
    ax.legend(fontsize="small")
    ax = axes[1]
    ax.plot(a, esc["profiles"][n - 1].numpy() - base, color=PALETTE[0], label=f"λmax = {float(esc['values'][n - 1]):.3g}")
    ax.plot(a, 0.5 * float(esc["values"][n - 1]) * a ** 2, color=PALETTE[0], lw=0.8, ls=":")
    ax.set(xlabel=r"step $\alpha$", title="the steepest direction, for scale")
    ax.legend(fontsize="small")
    fig.suptitle(_wrap(title), y=1.02)
    fig.tight_layout()
    return fig


def plot_escape(escapes: dict, p: dict, *, data_label: str = ""):
    """Relative loss decrease from escaping, every run: the step alone, and the step plus the extra epochs
    against the same epochs without the step."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.4))
    opts = p["optimizers"]
    for i, o in enumerate(opts):
        for ax, key in zip(axes, ("jump_gain", "gain")):
            v = [100 * escapes[(o, s)][key] for s in p["seeds"]]
            ax.scatter(np.full(len(v), i), v, color=COLOURS[o], zorder=3)
    axes[0].set(title="the step alone: (L* − L(θ*+α*v)) / L*", ylabel="relative loss decrease (%)")
    axes[1].set(title=f"step + {p['escape_epochs']} epochs vs the same epochs without it", ylabel="relative loss decrease (%)")
    axes[1].axhline(100 * p["escape_gain_max"], color="0.3", ls="--", lw=1, label="5.3 threshold")
    axes[1].axhline(-100 * p["escape_gain_max"], color="0.3", ls="--", lw=1)
    axes[1].legend(fontsize="small")
    for ax in axes:
        ax.axhline(0, color="0.5", lw=0.8)
        ax.set_xticks(range(len(opts)))
        ax.set_xticklabels([SHORT[o] for o in opts])
    fig.suptitle(f"What escaping the saddle buys (the paper's 'good saddle' argument, measured)\n{data_label}, every run", y=1.04)
    fig.tight_layout()
    return fig


# --- 4: the semicircle ----------------------------------------------------------------


@cached("saddles/goe", version=1)
def goe_eigenvalues(*, n: int, seed: int, device: str) -> dict:
    """Eigenvalues of a GOE matrix of size ``n`` (:func:`landscape.spectra.goe`, radius 2)."""
    return {"eigenvalues": torch.linalg.eigvalsh(spectra.goe(n, seed=seed, device=device)).cpu()}


def semicircle_all(runs: dict, inits: dict, p: dict, device: torch.device | str) -> dict:
    """Semicircle fits (KS distance) of every final spectrum, every initial one, and a GOE control per seed."""
    with threads(p["threads"]):
        n = next(iter(runs.values()))["n_params"]
        goes = {s: goe_eigenvalues(n=n, seed=s, device=str(device))["eigenvalues"] for s in p["seeds"]}
    fit = lambda e: spectra.fit_semicircle(e, trim=p["bulk_trim"])
    out = {"goe": {s: fit(e) for s, e in goes.items()}, "goe_eigs": goes,
           "init": {s: fit(e) for s, e in inits.items()},
           "final": {k: fit(r["eigenvalues"]) for k, r in runs.items()}}
    out["ratio_final"] = {(o, s): f.ks / out["goe"][s].ks for (o, s), f in out["final"].items()}
    out["ratio_init"] = {s: f.ks / out["goe"][s].ks for s, f in out["init"].items()}
    return out


def plot_semicircle(panels: Sequence[tuple[str, Any, spectra.SemicircleFit]], *, data_label: str = ""):
    r"""One panel per spectrum: the bulk's histogram on the fitted semicircle's own scale,
    :math:`u = (\lambda - c)/R` (so every fitted law is the unit semicircle :math:`\tfrac2\pi\sqrt{1-u^2}`),
    with the KS distance and the share of the bulk outside the window in the title."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.6), squeeze=False, sharey=True)
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
    axes[0, 0].legend(fontsize="small")
    fig.suptitle(f"Wigner's semicircle against the bulk of the spectrum (the paper's semicircle-law check)\n{data_label}", y=1.04)
    fig.tight_layout()
    return fig


def plot_semicircle_cdf(eigs: Any, fit: spectra.SemicircleFit, goe_eigs: Any, goe_fit: spectra.SemicircleFit, *, title: str = ""):
    """Empirical bulk CDF against the fitted semicircle's, for a Hessian and for its GOE control,
    on the standardized axis :math:`(\\lambda - c)/R` (where the KS distance is read off)."""
    fig, ax = plt.subplots(figsize=(6.5, 3.4))
    for e, f, c, name in ((goe_eigs, goe_fit, PALETTE[0], "GOE control"), (eigs, fit, PALETTE[3], "Hessian")):
        b = spectra.bulk(e, f.trim)
        u = (b - f.center) / f.radius
        ax.step(u, np.arange(1, b.size + 1) / b.size, where="post", color=c, label=f"{name} bulk (KS {f.ks:.3f})")
    u = np.linspace(-1.5, 1.5, 400)
    ax.plot(u, spectra.semicircle_cdf(u, 0.0, 1.0), color="0.2", ls="--", label="semicircle")
    ax.set(xlim=(-1.5, 1.5), xlabel="(λ − c) / R", ylabel="CDF", title=title)
    ax.legend(fontsize="small")
    fig.tight_layout()
    return fig


# --- 5: beyond exact size -------------------------------------------------------------


def _slq_measures(op, probes: int, steps: int, n_extreme: int, tol: float, max_hvps: int, seed: int) -> dict:
    sd = spectral_density(op, num_probes=probes, num_steps=steps, seed=seed)
    lo = eigenvalues(op, k=min(n_extreme, op.shape[0]), which="smallest", tol=tol, max_hvps=max_hvps, seed=seed)
    hi = eigenvalues(op, k=1, which="largest", tol=tol, max_hvps=max_hvps, seed=seed)
    return {"nodes": sd.nodes, "weights": sd.weights, "slq_hvps": sd.hvps,
            "smallest": lo.values.cpu(), "smallest_residuals": lo.residuals.cpu(), "smallest_converged": lo.converged,
            "smallest_hvps": lo.hvps, "largest": hi.values.cpu(), "largest_residuals": hi.residuals.cpu(),
            "largest_converged": hi.converged, "largest_hvps": hi.hvps}


@cached("saddles/slq_check", version=1)
def slq_check(*, run: dict, probes: int, steps: int, n_extreme: int, eig_tol: float, eig_max_hvps: int, seed: int) -> dict:
    """The toolkit's SLQ density and Lanczos extreme eigenvalues on a converged small MLP (whose exact
    spectrum :func:`train_run` holds), for comparison with the dense answer."""
    res = train_run(**run)
    model, train, _ = _model_of(run, res)
    op = HessianOperator(model, F.cross_entropy, train)
    return _slq_measures(op, probes, steps, n_extreme, eig_tol, eig_max_hvps, seed)


def slq_compare(check: dict, exact: Any, p: dict) -> dict[str, float]:
    """SLQ / Lanczos against the exact spectrum: Wasserstein-1 (divided by the exact spectrum's width), the
    near-zero and negative fractions each way, and the extreme eigenvalues."""
    ex = np.asarray(torch.as_tensor(exact, dtype=torch.float64))
    width = ex.max() - ex.min()
    lmax = float(check["largest"][0])
    est = spectra.weighted_fractions(check["nodes"], check["weights"], p["zero_tol"] * lmax)
    neg = spectra.weighted_fractions(check["nodes"], check["weights"], p["neg_tol"] * lmax)
    tr = summary(ex, p)
    return {"w1": spectrum_distance((check["nodes"], check["weights"]), ex) / width,
            "zero_slq": est["zero"], "zero_exact": tr["zero"],
            "negative_slq": neg["negative"], "negative_exact": spectra.fractions(ex, p["neg_tol"]).negative,
            "lambda_min_lanczos": float(check["smallest"][0]), "lambda_min_exact": float(ex.min()),
            "lambda_max_lanczos": lmax, "lambda_max_exact": float(ex.max()),
            "n_below_lanczos": int((check["smallest"] < -p["neg_tol"] * lmax).sum()),
            "hvps": int(check["slq_hvps"] + check["smallest_hvps"] + check["largest_hvps"])}


@cached("saddles/big_run", version=1)
def big_run(*, dataset: str, data_root: str | None, n_train: int | None, n_test: int | None, input_size: int | None,
            model: str, dtype: str, optimizer: str, hparams: dict, epochs: int, batch_size: int, seed: int, hessian_n: int | None,
            probes: int, steps: int, n_extreme: int, eig_tol: float, eig_max_hvps: int, device: str) -> dict:
    """Train the large network and read the Hessian of its final point through SLQ and Lanczos, on the first
    ``hessian_n`` training examples (a fixed subset; None: all of them)."""
    ds = load(dataset, data_root, n_train, n_test, input_size)
    train, test = _on(ds, device)
    dt = getattr(torch, dtype)
    train, test = (train[0].to(dt), train[1]), (test[0].to(dt), test[1])
    net = models.build(model, in_channels=ds.input_shape[0], num_classes=ds.num_classes, input_size=ds.input_shape[-1],
                       seed=seed, dtype=dt).to(torch.device(device))
    opt = make_optimizer(optimizer, net.parameters(), hparams, seed)
    hist = fit(net, train, test=test, epochs=epochs, optimizer=opt, batch_size=batch_size, seed=seed, device=device)
    if hist.diverged:
        raise RuntimeError(f"saddles: the large network diverged ({hist.message}); lower the learning rate of {optimizer}")
    sub = train if hessian_n is None else (train[0][:hessian_n], train[1][:hessian_n])
    final = _slq_measures(HessianOperator(net, F.cross_entropy, sub), probes, steps, n_extreme, eig_tol, eig_max_hvps, seed)
    return {"history": hist.to_dict(), "final": final, "n_params": models.num_parameters(net), "hessian_n": int(sub[1].shape[0]),
            "grad_norm": grad_norm(net, sub), "loss": _full_loss(net, sub)}


def big_args(p: dict, device: torch.device | str) -> dict:
    return {**_data_args(p), "input_size": p["big_input_size"], "model": p["big_model"], "dtype": p["big_dtype"],
            "optimizer": p["big_optimizer"], "hparams": hyper(p, p["big_optimizer"]), "epochs": p["big_epochs"],
            "batch_size": p["batch_size"], "seed": p["seeds"][0], "hessian_n": p["big_hessian_n"], "probes": p["slq_probes"],
            "steps": p["slq_steps"], "n_extreme": p["n_extreme"], "eig_tol": p["eig_tol"], "eig_max_hvps": p["eig_max_hvps"],
            "device": str(device)}


def beyond_exact(p: dict, device: torch.device | str) -> tuple[dict, dict]:
    """(:func:`slq_check` on the first optimizer's first-seed run, :func:`big_run`)."""
    with threads(p["threads"]):
        check = slq_check(run=run_args(p, p["optimizers"][0], p["seeds"][0], device), probes=p["slq_probes"],
                          steps=p["slq_steps"], n_extreme=p["n_extreme"], eig_tol=p["eig_tol"],
                          eig_max_hvps=p["eig_max_hvps"], seed=0)
        big = big_run(**big_args(p, device))
    return check, big


def big_summary(res: dict, p: dict) -> dict[str, float]:
    """The section-1 questions answered from SLQ (fractions) and Lanczos (ends) for a large network."""
    lmax = float(res["largest"][0])
    z = spectra.weighted_fractions(res["nodes"], res["weights"], p["zero_tol"] * lmax)
    lmin = float(res["smallest"][0])
    return {"lambda_max": lmax, "lambda_min": lmin, "neg_ratio": abs(min(lmin, 0.0)) / lmax, "zero": z["zero"],
            "n_below": int((res["smallest"] < -p["neg_tol"] * lmax).sum()),
            "converged": bool(res["smallest_converged"] and res["largest_converged"]),
            "residual_min": float(res["smallest_residuals"][0]),
            "hvps": int(res["slq_hvps"] + res["smallest_hvps"] + res["largest_hvps"])}


def _cdf_steps(x: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(x)
    return x[order], np.cumsum(w[order])


def plot_slq_check(check: dict, exact: Any, p: dict, *, title: str = ""):
    r"""Distribution function of :math:`\lambda/\lambda_{\max}`: exact eigenvalues against the SLQ quadrature, and
    the Lanczos extreme eigenvalues against the exact ones."""
    ex = np.sort(np.asarray(torch.as_tensor(exact, dtype=torch.float64)))
    lmax = ex.max()
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.5), gridspec_kw={"width_ratios": [3, 2]})
    ax = axes[0]
    ax.step(ex / lmax, np.arange(1, ex.size + 1) / ex.size, where="post", color=PALETTE[0], lw=2, label="exact (dense)")
    x, c = _cdf_steps(check["nodes"].numpy() / lmax, check["weights"].numpy())
    ax.step(x, c, where="post", color=PALETTE[3], label=f"SLQ ({p['slq_probes']} probes x {p['slq_steps']} steps)")
    ax.set_xscale("symlog", linthresh=min(p["rel_tols"]))
    ax.axvspan(-p["zero_tol"], p["zero_tol"], color="0.5", alpha=0.15, lw=0)
    ax.set(xlabel=r"$\lambda/\lambda_{\max}$ (symlog)", ylabel="cumulative fraction", title="spectral distribution")
    ax.legend(fontsize="small", loc="upper left")
    ax = axes[1]
    k = len(check["smallest"])
    ax.plot(range(1, k + 1), ex[:k], "o", color=PALETTE[0], label="exact smallest")
    ax.plot(range(1, k + 1), check["smallest"].numpy(), "x", color=PALETTE[3], ms=9, label="Lanczos smallest")
    ax.axhline(0, color="0.5", lw=0.8)
    ax.set(xlabel="index i", ylabel=r"$\lambda_i$", title=f"λmax exact {lmax:.4g}, Lanczos {float(check['largest'][0]):.4g}")
    ax.legend(fontsize="small")
    fig.suptitle(_wrap(title), y=1.02)
    fig.tight_layout()
    return fig


def plot_big(big: dict, p: dict, *, title: str = ""):
    r"""The large network's Hessian at the end of training: the SLQ density (Gaussian-broadened, log scale) with the
    Lanczos extreme eigenvalues marked (left), and the SLQ distribution of :math:`\lambda/\lambda_{\max}` on a
    symlog axis, where the near-zero band shows (right)."""
    from ...curvature.density import gaussian_density

    fig, axes = plt.subplots(1, 2, figsize=(11, 3.5))
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
    ax.legend(fontsize="small")
    ax = axes[1]
    x, c = _cdf_steps(r["nodes"].numpy() / lmax, r["weights"].numpy())
    ax.step(x, c, where="post", color=PALETTE[0])
    for v in r["smallest"].numpy():
        ax.axvline(v / lmax, color=PALETTE[3], lw=0.8, ls=":")
    ax.set_xscale("symlog", linthresh=min(p["rel_tols"]))
    ax.axvspan(-p["zero_tol"], p["zero_tol"], color="0.5", alpha=0.15, lw=0)
    ax.set(xlabel=r"$\lambda/\lambda_{\max}$ (symlog)", ylabel="cumulative fraction (SLQ)", title="distribution")
    fig.suptitle(_wrap(title), y=1.04)
    fig.tight_layout()
    return fig


# --- claims -------------------------------------------------------------------------------


def claims(runs: dict, escapes: dict, semi: dict, p: dict) -> list[Claim]:
    """Claims 5.1-5.4 decided from the declared rules (``../shared/papers.md``)."""
    sums = {k: summary(r["eigenvalues"], p) for k, r in runs.items()}
    ok = [s["zero"] >= p["zero_fraction_min"] and s["n_below"] >= 1 for s in sums.values()]
    zeros = [s["zero"] for s in sums.values()]
    c1 = decide("5.1", "At convergence most runs sit at a degenerate saddle: a majority of eigenvalues near zero "
                "(|λ| ≤ zero_tol λmax) and at least one clearly negative (λ < −neg_tol λmax); value: fraction of runs",
                float(np.mean(ok)), ">", p["most_fraction"],
                detail=f"{sum(ok)} of {len(ok)} runs; near-zero fractions {min(zeros):.3f}-{max(zeros):.3f}, "
                       f"eigenvalues below −{p['neg_tol']:g} λmax {min(s['n_below'] for s in sums.values())}-{max(s['n_below'] for s in sums.values())}")
    plain = [sums[k]["zero"] for k in sums if k[0] != "pgd"]
    pgd = [sums[k]["zero"] for k in sums if k[0] == "pgd"]
    gap = abs(float(np.mean(pgd)) - float(np.mean(plain))) if pgd and plain else math.nan
    c2 = decide("5.2", "The saddle-escaping method (perturbed gradient descent) ends at an equally degenerate point: "
                "|near-zero fraction of PGD − that of the plain methods|", gap, "<=", p["pgd_gap_max"],
                detail=(f"PGD {np.mean(pgd):.3f} vs plain {np.mean(plain):.3f} (means over seeds)" if pgd and plain
                        else "needs 'pgd' and at least one other optimizer"))
    gains = np.array([e["gain"] for e in escapes.values()])
    c3 = decide("5.3", "Escaping along the most negative curvature (step + a few epochs) buys almost no loss: "
                "median relative decrease against the same epochs without the step", float(np.median(gains)), "<=",
                p["escape_gain_max"], detail=f"per run {gains.min():+.2%} to {gains.max():+.2%}")
    ratios = np.array(list(semi["ratio_final"].values()))
    c4 = decide("5.4", "The bulk of the spectrum at convergence follows Wigner's semicircle: median KS distance "
                "to the fitted semicircle, as a multiple of the GOE control's", float(np.median(ratios)), "<=",
                p["ks_ratio_max"], detail=f"KS Hessian median {np.median([f.ks for f in semi['final'].values()]):.3f}, "
                f"GOE median {np.median([f.ks for f in semi['goe'].values()]):.4f}; at initialization the ratio is "
                f"{np.median(list(semi['ratio_init'].values())):.3g}")
    return [c1, c2, c3, c4]


# --- widgets ------------------------------------------------------------------------------


def explore_optimizers(runs: dict, inits: dict, p: dict, *, data_label: str = "") -> dict[str, Any]:
    """One figure per optimizer (first seed): its final spectrum and its degeneracy along training."""
    figs = {}
    s = p["seeds"][0]
    for o in p["optimizers"]:
        fig, axes = plt.subplots(1, 2, figsize=(10, 3.3))
        plot_histogram(axes[0], runs[(o, s)]["eigenvalues"], p, colour=COLOURS[o], title="at convergence")
        tr = trajectory(runs[(o, s)], inits[s], p)
        axes[1].plot(tr["epoch"], tr["zero"], "o-", color=COLOURS[o], label="near zero")
        axes[1].plot(tr["epoch"], tr["negative"], "s--", color=PALETTE[3], label=f"negative (< −{p['zero_tol']:g} λmax)")
        axes[1].set(xlabel="epoch", ylabel="fraction", ylim=(0, 1), title="along training")
        axes[1].legend(fontsize="small")
        fig.suptitle(f"{LABELS[o]}: {data_label}, seed {s}")
        fig.tight_layout()
        figs[LABELS[o]] = fig
    return figs


def explore_epochs(runs: dict, inits: dict, p: dict, *, data_label: str = "") -> dict[str, Any]:
    """One figure per epoch with an exact spectrum (first seed): every optimizer's histogram at that epoch."""
    s = p["seeds"][0]
    opts = p["optimizers"]
    trs = {o: [inits[s], *list(runs[(o, s)]["snapshot_eigenvalues"]), runs[(o, s)]["eigenvalues"]] for o in opts}
    epochs = [0, *runs[(opts[0], s)]["snapshot_epochs"], History.from_dict(runs[(opts[0], s)]["history"]).last["epoch"]]
    figs = {}
    for i, e in enumerate(epochs):
        fig, axes = plt.subplots(1, len(opts), figsize=(2.6 * len(opts) + 1, 2.9), squeeze=False, sharey=True)
        for ax, o in zip(axes[0], opts):
            eigs = trs[o][i]
            plot_histogram(ax, eigs, p, colour=COLOURS[o], title=f"{LABELS[o]}\n{summary(eigs, p)['zero']:.0%} near 0", bins=40,
                           sparse=True)
            ax.set_xlabel("λ/λmax")
        for ax in axes[0][1:]:
            ax.set_ylabel("")
        fig.suptitle(f"epoch {e}: {data_label}, seed {s}", y=1.02)
        fig.tight_layout()
        figs[f"epoch {e}"] = fig
    return figs


def live_fractions(runs: dict, tol: float, *, relative: bool = True):
    """Fractions negative / near zero / positive at ``tol`` for every run's final spectrum, mean over seeds
    (the live tolerance slider)."""
    import pandas as pd

    rows: dict[str, list] = {}
    for (o, _), r in runs.items():
        f = spectra.fractions(r["eigenvalues"], tol, relative=relative)
        rows.setdefault(LABELS[o], []).append((f.negative, f.zero, f.positive))
    return pd.DataFrame([{"optimizer": k, "negative": np.mean([v[0] for v in vs]), "near zero": np.mean([v[1] for v in vs]),
                          "positive": np.mean([v[2] for v in vs])} for k, vs in rows.items()])
