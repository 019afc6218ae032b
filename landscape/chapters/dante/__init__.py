"""The DANTE chapter (``book/dante.ipynb``): training by alternating
minimization over layers with normalized gradient steps
(:mod:`landscape.dante`), against backprop with SGD and Adam.

What it runs (each piece cached by its arguments):

- :func:`train_run`: one classifier (MLP, one or two hidden layers) trained
  by SGD, Adam or DANTE; :func:`compare` runs the learning-rate grid on the
  first seeds, picks each method's rate by final *training* loss, and runs
  the other seeds at that rate.
- :func:`subproblem`: one layer's problem with the other layer fixed - the
  loss along segments between solutions, near one solution, and on the
  plane through three solutions (quasi-convexity, measured).
- :func:`autoencoder_run`: a stacked autoencoder, DANTE (greedy + fine-tune,
  :func:`landscape.dante.greedy_autoencoder`) against SGD / Adam end to end.
- The sensitivity runs are :func:`train_run` calls over step sizes and
  alternation schedules.

Figures and tables for the notebook are the ``plot_*`` and ``*_table``
functions below; the decision quantities of the claims are
:func:`accuracy_gaps` and :func:`speed_ratios`.
"""

from __future__ import annotations

import functools
import math
from collections import OrderedDict
from typing import Any, Iterable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...training import data, models
from ...experiment.style import PALETTE
from ...experiment.cache import cached
from ...methods.dante import DANTE, greedy_autoencoder
from ...experiment.params import Param, Schema
from ...training.loop import History, fit, threads
from ..common import DATA_ROOT, DEVICE, PROFILE, SEEDS

NOTEBOOK = "book/dante.ipynb"
ORDER = 30

METHODS = ("SGD", "Adam", "DANTE")
COLORS = {"SGD": PALETTE[0], "Adam": PALETTE[1], "DANTE": PALETTE[3]}
ACT_LABEL = {"sigmoid": "sigmoid", "grelu": "generalized ReLU", "relu": "ReLU", "tanh": "tanh"}
DATA_LABEL = {"digits": "digits (8x8)", "mnist10k": "MNIST-10k", "mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}
#: the alternation schedules of the sensitivity section, by name
SCHEDULES = ("batch", "batch-3", "forward", "epoch", "batch-decay")
DATASETS = ("digits", "mnist10k", "mnist", "fashion-mnist")

SMOKE_CHECKS = {
    "dante-gap-one": (-100.0, 100.0),
    "dante-gap-two": (-100.0, 100.0),
    "dante-speed-ratio": (0.0, 1e6),
    "dante-step-norm-error": (0.0, 1e-9),
    "dante-excess-sigmoid": (0.0, 5.0),
    "dante-excess-grelu": (0.0, 5.0),
    "dante-excess-relu": (0.0, 5.0),
    "dante-ae-mse-dante": (0.0, 1.0),
    "dante-ae-mse-backprop": (0.0, 1.0),
    "dante-sens-best-acc": (0.0, 1.0),
}

SCHEMA = Schema(
    profile=PROFILE,
    device=DEVICE,
    data_root=DATA_ROOT,
    threads=Param(int, "torch CPU threads for the training runs (None: leave torch's setting)", low=1, high=256, nullable=True),
    # classifiers
    datasets=Param(list, "data sets of the classifier comparisons (absent file-based ones are skipped)", item=str, choices=DATASETS, min_len=1),
    max_train=Param(int, "at most this many training examples per data set (None: all)", low=10, nullable=True),
    max_test=Param(int, "at most this many test examples per data set (None: all)", low=10, nullable=True),
    width=Param(int, "hidden width of the one-hidden-layer MLP", low=1, high=8192),
    deep_widths=Param(list, "hidden widths of the two-hidden-layer MLP", item=int, low=1, high=8192, min_len=2),
    activations=Param(list, "hidden activations compared", item=str, choices=("sigmoid", "grelu", "relu", "tanh"), min_len=1),
    slope=Param(float, "alpha of the generalized ReLU max(x, alpha x)", low=1e-4, high=0.999),
    lrs=Param(list, "the learning-rate grid, the same for SGD, Adam and DANTE", item=float, low=1e-6, high=100.0, min_len=1),
    sgd_momentum=Param(float, "momentum of the SGD baseline", low=0.0, high=0.999),
    epochs=Param(int, "epochs of every classifier run (the same budget for every method)", low=1, high=1000),
    batch_size=Param(int, "mini-batch size", low=1, high=65536),
    dante_schedule=Param(str, "DANTE's alternation schedule in the comparisons", choices=SCHEDULES),
    decay=Param(float, "mini-batches of the 1/sqrt decay of schedule 'batch-decay'", low=1.0),
    seeds=SEEDS,
    select_seeds=Param(int, "the learning rate is chosen on the first this-many seeds", low=1, high=100),
    # the sub-problem
    sub_dataset=Param(str, "data set of the one-layer sub-problem", choices=DATASETS),
    sub_points=Param(int, "training examples in the sub-problem's loss", low=10),
    sub_width=Param(int, "hidden width of the sub-problem's network", low=1, high=4096),
    sub_activations=Param(list, "activations of the sub-problem", item=str, choices=("sigmoid", "grelu", "relu", "tanh"), min_len=1),
    sub_base_epochs=Param(int, "DANTE epochs of the network whose output layer is then fixed", low=0, high=1000),
    sub_epochs=Param(int, "epochs of normalized GD on the hidden layer alone, per solution", low=1, high=1000),
    sub_lr=Param(float, "step size of the sub-problem's normalized GD (and of the base network)", low=1e-6, high=100.0),
    sub_solutions=Param(int, "solutions of the sub-problem, from independent starts", low=3, high=20),
    sub_radii=Param(list, "radii of the local check, as fractions of the mean distance between solutions", item=float, low=1e-4, high=10.0, min_len=1),
    sub_segments=Param(int, "random segments per radius in the local check", low=1, high=1000),
    sub_grid=Param(int, "points per axis of the 2-D slice", low=5, high=401),
    # autoencoder
    ae_dataset=Param(str, "data set of the autoencoder", choices=DATASETS),
    ae_widths=Param(list, "code sizes of the stacked autoencoder (encoder widths)", item=int, low=1, high=8192, min_len=1),
    ae_activation=Param(str, "hidden activation of the autoencoder", choices=("sigmoid", "grelu", "relu", "tanh")),
    ae_max_train=Param(int, "at most this many autoencoder training images (None: all)", low=10, nullable=True),
    ae_pretrain_epochs=Param(int, "DANTE epochs per greedy stage", low=1, high=1000),
    ae_finetune_epochs=Param(int, "DANTE fine-tuning epochs (backprop gets stages x pretrain + finetune epochs)", low=1, high=1000),
    ae_seeds=Param(list, "seeds of the autoencoder runs", item=int, low=0, high=2**31 - 1, min_len=1),
    # sensitivity
    sens_dataset=Param(str, "data set of the sensitivity runs", choices=DATASETS),
    sens_activation=Param(str, "activation of the sensitivity runs", choices=("sigmoid", "grelu", "relu", "tanh")),
    sens_lrs=Param(list, "DANTE step sizes of the sensitivity runs", item=float, low=1e-6, high=100.0, min_len=1),
    sens_schedules=Param(list, "alternation schedules of the sensitivity runs", item=str, choices=SCHEDULES, min_len=1),
    sens_seeds=Param(list, "seeds of the sensitivity runs", item=int, low=0, high=2**31 - 1, min_len=1),
    # decision rules
    acc_margin=Param(float, "claims 2.1/2.2: DANTE's accuracy may be at most this many points below the best backprop method", low=0.0, high=100.0),
    speed_fraction=Param(float, "claim 2.3: the target is this fraction of the best final accuracy", low=0.0, high=1.0),
    speed_ratio=Param(float, "claim 2.3: DANTE's time to the target may be at most this multiple of backprop's", low=0.0),
    speed_summary=Param(str, "claim 2.3: how the per-configuration ratios are summarized", choices=("median", "max")),
)


# --- helpers --------------------------------------------------------------------------


@functools.lru_cache(maxsize=8)
def _full(name: str, root: str | None) -> data.Dataset:
    return data.load(name, root=root, seed=0)


@functools.lru_cache(maxsize=16)
def dataset(name: str, root: str | None, max_train: int | None, max_test: int | None, device: str = "cpu") -> data.Dataset:
    """Data set ``name`` (fixed split, seed 0), subsampled to at most
    ``max_train`` / ``max_test`` examples, on ``device``. Kept in memory."""
    full = _full(name, root)
    n_tr, n_te = len(full.train[1]), len(full.test[1])
    n_tr = None if max_train is None or max_train >= n_tr else max_train
    n_te = None if max_test is None or max_test >= n_te else max_test
    return data.load(name, root=root, n_train=n_tr, n_test=n_te, seed=0, device=device)


def available(names: Iterable[str], root: str | None) -> tuple[list[str], dict[str, str]]:
    """The data sets of ``names`` that are on this machine, and why the others are not."""
    ok, missing = [], {}
    for name in names:
        try:
            _full(name, root)
            ok.append(name)
        except data.DataNotFoundError as exc:
            missing[name] = str(exc).split(". ")[0]
    return ok, missing


def schedule_options(name: str, decay: float) -> dict[str, Any]:
    """The :class:`~landscape.dante.DANTE` keyword arguments of schedule ``name``:

    ``batch`` (every mini-batch: each layer one step, last layer first),
    ``batch-3`` (three steps per layer per mini-batch), ``forward`` (as
    ``batch``, first layer first), ``epoch`` (one layer per epoch, cycling),
    ``batch-decay`` (as ``batch`` with :math:`\\eta_t = \\eta/\\sqrt{1 + t/\\text{decay}}`).
    """
    base = {"schedule": "batch", "order": "backward", "steps_per_layer": 1, "decay": None}
    if name == "batch":
        return base
    if name == "batch-3":
        return {**base, "steps_per_layer": 3}
    if name == "forward":
        return {**base, "order": "forward"}
    if name == "epoch":
        return {**base, "schedule": "epoch"}
    if name == "batch-decay":
        return {**base, "decay": float(decay)}
    raise ValueError(f"Invalid schedule: {name!r} (choose from {', '.join(SCHEDULES)})")


#: figures are drawn at about this many pixels wide (before a retina doubling), whatever their size in inches
FIG_PIXELS = 700


def subplots(nrows: int = 1, ncols: int = 1, *, figsize: tuple[float, float], **kwargs):
    """``plt.subplots`` at a resolution that keeps the figure about :data:`FIG_PIXELS` wide
    (wide multi-panel figures would otherwise store very large PNGs in the notebook)."""
    return plt.subplots(nrows, ncols, figsize=figsize, dpi=min(110.0, FIG_PIXELS / figsize[0]), **kwargs)


def log_y(ax) -> None:
    """A log-scale y axis labelled with plain numbers (0.02, 0.5, 2) instead of powers of ten."""
    import matplotlib.ticker as mticker

    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(mticker.FuncFormatter(lambda v, _: f"{v:.3g}"))
    ax.yaxis.set_minor_locator(mticker.LogLocator(subs=(2.0, 5.0)))

    def minor(v, _):  # label 2x and 5x ticks only when the axis spans under two decades
        lo, hi = ax.get_ylim()
        return f"{v:.3g}" if lo > 0 and hi / lo < 100 else ""

    ax.yaxis.set_minor_formatter(mticker.FuncFormatter(minor))


def suptitle(fig, text: str) -> None:
    """A figure title wrapped to the figure's width."""
    import textwrap

    fig.suptitle(textwrap.fill(text, width=max(40, int(fig.get_figwidth() * 12))), fontsize="medium")


# --- classifiers ------------------------------------------------------------------------


@cached("dante/train", version=1)
def train_run(*, dataset_name: str, data_root: str | None, max_train: int | None, max_test: int | None,
              widths: list[int], activation: str, slope: float, method: str, lr: float, momentum: float,
              epochs: int, batch_size: int, schedule: str, decay: float, seed: int, device: str,
              num_threads: int | None) -> dict:
    """Train one MLP classifier with ``method`` (SGD, Adam or DANTE) and return its
    history (a dict; ``time`` is the cumulative training time in seconds) and,
    for DANTE, the largest relative deviation of a taken step's norm from
    :math:`\\eta_t`."""
    if method not in METHODS:
        raise ValueError(f"Invalid method: {method!r} (choose from {', '.join(METHODS)})")
    ds = dataset(dataset_name, data_root, max_train, max_test, device)
    model = models.build("mlp", in_features=int(np.prod(ds.input_shape)), widths=list(widths), out_features=ds.num_classes,
                         activation=activation, slope=slope, seed=seed, device=device)
    out: dict[str, Any] = {}
    with threads(num_threads):
        if method == "DANTE":
            opts = schedule_options(schedule, decay)
            steps = math.ceil(len(ds.train[1]) / batch_size)
            trainer = DANTE(model, lr=lr, steps_per_epoch=steps, **opts)
            hist = fit(model, ds.train, test=ds.test, epochs=epochs, batch_size=batch_size, step=trainer,
                       callbacks=[trainer.callback], seed=seed, device=device, progress=False)
            norms = trainer.step_norms
            per_batch = len(trainer.phase(0)) * trainer.steps_per_layer
            expected = torch.tensor([trainer.lr_at(t) for t in range(trainer.num_steps) for _ in range(per_batch)], dtype=torch.float64)
            taken = norms > 0
            n = min(len(norms), len(expected))
            dev = ((norms[:n] - expected[:n]).abs() / expected[:n])[taken[:n]]
            out["step_norm_rel_error"] = float(dev.max()) if dev.numel() else 0.0
            out["updates"] = int(len(norms))
            out["skipped"] = int((~taken).sum())
        else:
            opt = (torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum) if method == "SGD"
                   else torch.optim.Adam(model.parameters(), lr=lr))
            hist = fit(model, ds.train, test=ds.test, epochs=epochs, optimizer=opt, batch_size=batch_size,
                       seed=seed, device=device, progress=False)
    out["history"] = hist.to_dict()
    return out


def final(h: History, key: str = "test_acc") -> float:
    """The last value of ``key`` (NaN for a diverged run or a missing column)."""
    if h.diverged or key not in h.last:
        return math.nan
    return float(h.last[key])


def final_accuracies(r: dict, key: str = "test_acc") -> np.ndarray:
    """Final test accuracy of each seed of a method's result ``r`` (as built by
    :func:`compare`); a run that diverged counts at chance level, ``1 / num_classes``
    (its weights are no longer finite), so divergence is never averaged away."""
    chance = 1.0 / r.get("num_classes", 10)
    return np.array([chance if h.diverged else final(h, key) for h in r["runs"]])


def final_train_loss(h: History) -> float:
    """The final full-training-set loss; ``inf`` for a diverged run (so it is never chosen)."""
    v = final(h, "train_eval_loss")
    return math.inf if not math.isfinite(v) else v


def compare(p: dict, device: torch.device | str, *, widths: Sequence[int], datasets: Sequence[str],
            activations: Sequence[str] | None = None) -> dict:
    """SGD, Adam and DANTE on each data set and activation.

    For each method: every learning rate of ``p["lrs"]`` is run on the first
    ``p["select_seeds"]`` seeds; the rate with the lowest mean final training
    loss is kept, and the remaining seeds run at it.

    Returns ``{dataset: {activation: {method: {"grid": {lr: [History]},
    "best_lr": lr, "runs": [History per seed], "extra": [dict per seed],
    "num_classes": C}}}}``.
    """
    activations = list(activations or p["activations"])
    seeds = list(p["seeds"])
    chosen = seeds[: p["select_seeds"]]
    common = dict(data_root=p["data_root"], max_train=p["max_train"], max_test=p["max_test"], widths=list(widths),
                  slope=p["slope"], momentum=p["sgd_momentum"], epochs=p["epochs"], batch_size=p["batch_size"],
                  schedule=p["dante_schedule"], decay=p["decay"], device=str(device), num_threads=p["threads"])
    out: dict = {}
    for name in datasets:
        out[name] = {}
        num_classes = dataset(name, p["data_root"], p["max_train"], p["max_test"], str(device)).num_classes
        for act in activations:
            out[name][act] = {}
            for method in METHODS:
                raw = {lr: [train_run(dataset_name=name, activation=act, method=method, lr=lr, seed=s, **common) for s in chosen]
                       for lr in p["lrs"]}
                grid = {lr: [History.from_dict(r["history"]) for r in rs] for lr, rs in raw.items()}
                loss = {lr: float(np.mean([final_train_loss(h) for h in hs])) for lr, hs in grid.items()}
                best = min(loss, key=loss.get)
                extra = list(raw[best]) + [train_run(dataset_name=name, activation=act, method=method, lr=best, seed=s, **common)
                                           for s in seeds[len(chosen):]]
                out[name][act][method] = {"grid": grid, "best_lr": best, "train_loss": loss, "num_classes": num_classes,
                                          "runs": [History.from_dict(r["history"]) for r in extra],
                                          "extra": [{k: v for k, v in r.items() if k != "history"} for r in extra]}
    return out


def step_norm_check(activations: Sequence[str], *, lr: float = 0.1, seed: int = 0, slope: float = 0.1) -> dict[str, float]:
    """The normalized-step property measured directly: for a float64 MLP on
    200 digits, one DANTE step on each layer; the largest relative error
    ``| ||theta_after - theta_before|| - eta | / eta`` over layers, per activation."""
    ds = dataset("digits", None, 200, 50, "cpu")
    x, y = ds.train[0].double(), ds.train[1]
    out = {}
    for act in activations:
        model = models.build("mlp", in_features=64, widths=[16, 16], out_features=10, activation=act, slope=slope,
                             seed=seed, dtype=torch.float64)
        trainer = DANTE(model, lr=lr)
        worst = 0.0
        for layer, names in trainer.groups.items():
            params = dict(model.named_parameters())
            before = torch.cat([params[n].detach().flatten().clone() for n in names])
            trainer.layer_step(model, x, y, layer)
            after = torch.cat([params[n].detach().flatten() for n in names])
            worst = max(worst, abs(float((after - before).norm()) - lr) / lr)
        out[act] = worst
    return out


def summary_table(results: dict, depth_label: str):
    """Final test accuracy (mean and std over seeds, in %; a diverged run counts at
    chance level), final training loss (of the runs that did not diverge) and best rate per method."""
    import pandas as pd

    rows = []
    for name, by_act in results.items():
        for act, by_m in by_act.items():
            for method, r in by_m.items():
                acc = final_accuracies(r) * 100
                loss = np.array([final(h, "train_eval_loss") for h in r["runs"]])
                rows.append({"data": name, "activation": act, "hidden layers": depth_label, "method": method,
                             "best lr": r["best_lr"], "test acc % (mean)": round(float(np.mean(acc)), 2),
                             "(std)": round(float(np.std(acc, ddof=1)) if len(acc) > 1 else 0.0, 2),
                             "train loss": round(float(np.nanmean(loss)), 4) if np.isfinite(loss).any() else math.nan,
                             "seeds": len(acc), "diverged": sum(h.diverged for h in r["runs"])})
    return pd.DataFrame(rows)


def accuracy_gaps(results: dict) -> dict[tuple[str, str], dict[str, float]]:
    """Per (data set, activation): DANTE's mean final test accuracy minus the
    best of SGD's and Adam's, in percentage points (with the three means;
    :func:`final_accuracies`: a diverged run counts at chance level)."""
    out = {}
    for name, by_act in results.items():
        for act, by_m in by_act.items():
            means = {m: float(np.mean(final_accuracies(by_m[m]))) * 100 for m in METHODS}
            best = max(means["SGD"], means["Adam"])
            out[(name, act)] = {**means, "best backprop": best, "gap": means["DANTE"] - best}
    return out


def epoch_cost(results: dict, method: str = "DANTE", baseline: str = "SGD") -> float:
    """Mean training time of ``method``'s runs over that of ``baseline``'s
    (same epochs and mini-batches): what one epoch of it costs, relatively."""
    ratios = []
    for by_act in results.values():
        for by_m in by_act.values():
            a = np.mean([h["time"][-1] for h in by_m[method]["runs"]])
            b = np.mean([h["time"][-1] for h in by_m[baseline]["runs"]])
            ratios.append(a / b)
    return float(np.mean(ratios))


def describe_excess(subs: dict[str, dict], tol: float = 1e-9) -> str:
    """One sentence: which activations show an excess above ``tol`` between solutions, and near one."""
    flat = [a for a, r in subs.items() if float(r["excess"].max()) <= tol]
    bump = [a for a, r in subs.items() if float(r["excess"].max()) > tol]
    local = [a for a, r in subs.items() if all(float(v.max()) <= tol for v in r["local"].values())]
    name = lambda acts: ", ".join(ACT_LABEL.get(a, a) for a in acts) or "none"
    return (f"Between solutions, no excess above {tol:g}: {name(flat)}; an excess: {name(bump)}. "
            f"Near a solution (every radius), no excess: {name(local)}.")


def time_to_target(h: History, target: float, key: str = "test_acc") -> tuple[float, bool]:
    """Training wall time (s) when ``key`` first reaches ``target``, linearly
    interpolated between the two epochs around the crossing; when it never
    does, the run's whole training time and ``False`` (a lower bound).

    >>> h = History([{"time": 0.0, "test_acc": 0.1}, {"time": 2.0, "test_acc": 0.5}, {"time": 4.0, "test_acc": 0.9}])
    >>> time_to_target(h, 0.7), time_to_target(h, 0.5), time_to_target(h, 0.95)
    ((3.0, True), (2.0, True), (4.0, False))
    """
    acc, t = h[key], h["time"]
    for i, a in enumerate(acc):
        if a is not None and math.isfinite(a) and a >= target:
            if i == 0:
                return float(t[0]), True
            frac = (target - acc[i - 1]) / (a - acc[i - 1]) if a > acc[i - 1] else 1.0
            return float(t[i - 1] + frac * (t[i] - t[i - 1])), True
    return float(t[-1]), False


def speed_ratios(results_by_depth: dict[str, dict], fraction: float) -> list[dict]:
    """For every configuration (depth, data set, activation): the target
    ``fraction`` x the best mean final test accuracy of the three methods;
    each method's median over seeds of the time to reach it; backprop's time
    is the faster of SGD and Adam; the ratio DANTE / backprop."""
    rows = []
    for depth, results in results_by_depth.items():
        for name, by_act in results.items():
            for act, by_m in by_act.items():
                best = max(float(np.mean(final_accuracies(by_m[m]))) for m in METHODS)
                target = fraction * best
                row = {"hidden layers": depth, "data": name, "activation": act, "target acc": target}
                censored = []
                for m in METHODS:
                    times = [time_to_target(h, target) for h in by_m[m]["runs"]]
                    row[f"{m} s"] = float(np.median([t for t, _ in times]))
                    if not all(ok for _, ok in times):
                        censored.append(m)
                bp = min(row["SGD s"], row["Adam s"])
                row["backprop s"] = bp
                row["ratio"] = row["DANTE s"] / bp if bp > 0 else math.inf
                row["not reached by"] = ", ".join(censored)
                rows.append(row)
    return rows


# --- figures: classifiers ------------------------------------------------------------------


def _mean_curve(hs: Sequence[History], key: str, x: str = "epoch") -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``x`` (mean over runs), the mean of ``key`` and its range (min, max) over runs, per epoch."""
    n = min(len(h) for h in hs)
    ys = np.array([[np.nan if v is None else v for v in h[key][:n]] for h in hs], dtype=float)
    xs = np.array([h[x][:n] for h in hs], dtype=float).mean(0)
    return xs, np.nanmean(ys, 0), np.nanmin(ys, 0), np.nanmax(ys, 0)


def plot_comparison(by_act: dict, *, title: str, methods: Sequence[str] = METHODS):
    """Rows: activations; columns: test accuracy and training loss against
    epochs, then against wall time. Mean over seeds, band = range over seeds."""
    acts = list(by_act)
    fig, axes = subplots(len(acts), 4, figsize=(11, 2.6 * len(acts) + 0.8), squeeze=False)
    for i, act in enumerate(acts):
        lows = [0.8]
        for m in methods:
            r = by_act[act][m]
            for j, (x, key) in enumerate([("epoch", "test_acc"), ("epoch", "train_eval_loss"), ("time", "test_acc"), ("time", "train_eval_loss")]):
                ax = axes[i, j]
                xs, mu, lo, hi = _mean_curve(r["runs"], key, x)
                ax.plot(xs, mu, color=COLORS[m], lw=2, label=f"{m} (lr {r['best_lr']:g})", marker="o" if x == "time" else None, ms=2.5)
                ax.fill_between(xs, lo, hi, color=COLORS[m], alpha=0.18, lw=0)
                ax.set_xlabel("epoch" if x == "epoch" else "training wall time (s)")
                if key == "train_eval_loss":
                    log_y(ax)
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


def plot_activation(results: dict, activation: str, *, title: str, methods: Sequence[str] = METHODS):
    """One activation across data sets: test accuracy against epochs and
    against wall time, one pair of panels per data set (mean over seeds, band = range)."""
    names = list(results)
    fig, axes = subplots(1, 2 * len(names), figsize=(2.75 * 2 * len(names), 3.1), squeeze=False)
    for k, name in enumerate(names):
        lows = [0.8]
        for m in methods:
            r = results[name][activation][m]
            for j, x in enumerate(("epoch", "time")):
                xs, mu, lo, hi = _mean_curve(r["runs"], "test_acc", x)
                ax = axes[0, 2 * k + j]
                ax.plot(xs, mu, color=COLORS[m], lw=2, label=f"{m} (lr {r['best_lr']:g})", marker="o" if x == "time" else None, ms=2.5)
                ax.fill_between(xs, lo, hi, color=COLORS[m], alpha=0.18, lw=0)
                lows.append(np.nanmin(mu[1:]) if len(mu) > 1 else 0.0)
        for j, x in enumerate(("epoch", "training wall time (s)")):
            axes[0, 2 * k + j].set(xlabel=x, ylabel="test accuracy", ylim=(max(0.0, min(lows) - 0.02), 1.0), title=DATA_LABEL.get(name, name))
        axes[0, 2 * k].legend(fontsize="x-small", loc="lower right")
    suptitle(fig, title)
    fig.tight_layout()
    return fig


def plot_grid(by_act: dict, method: str, *, title: str):
    """The learning-rate grid of one method: test accuracy and training loss
    against epochs, first seed, one line per rate; the chosen rate in bold."""
    acts = list(by_act)
    fig, axes = subplots(1, 2 * len(acts), figsize=(2.9 * 2 * len(acts), 3.0), squeeze=False)
    for i, act in enumerate(acts):
        r = by_act[act][method]
        lrs = list(r["grid"])
        for k, lr in enumerate(lrs):
            h = r["grid"][lr][0]
            best = lr == r["best_lr"]
            style = dict(color=PALETTE[k % len(PALETTE)], lw=2.6 if best else 1.2, label=f"lr {lr:g}" + (" (chosen)" if best else ""))
            axes[0, 2 * i].plot(h["epoch"], h["test_acc"], **style)
            axes[0, 2 * i + 1].plot(h["epoch"], h["train_eval_loss"], **style)
        axes[0, 2 * i].set(xlabel="epoch", ylabel="test accuracy", ylim=(0, 1), title=f"{method}, {ACT_LABEL.get(act, act)}")
        axes[0, 2 * i + 1].set(xlabel="epoch", ylabel="training loss", title=f"{method}, {ACT_LABEL.get(act, act)}")
        log_y(axes[0, 2 * i + 1])
        axes[0, 2 * i].legend(fontsize="small", loc="lower right")
    suptitle(fig, title)
    fig.tight_layout()
    return fig


# --- the sub-problem -------------------------------------------------------------------------


def _layer_loss(theta: torch.Tensor, x: torch.Tensor, y: torch.Tensor, w2: torch.Tensor, b2: torch.Tensor,
                act: nn.Module, width: int, chunk: int = 64) -> torch.Tensor:
    """Cross-entropy of ``act(x W^T + b) w2^T + b2`` for each row
    ``theta = [vec(W), b]`` of ``theta`` (``(k, width * d + width)``), in chunks."""
    d = x.shape[1]
    out = []
    for part in theta.split(chunk):
        w = part[:, : width * d].reshape(-1, width, d)
        b = part[:, width * d:]
        h = act(torch.einsum("kwd,nd->knw", w, x) + b[:, None, :])
        logits = h @ w2.T + b2
        k = part.shape[0]
        out.append(F.cross_entropy(logits.reshape(k * x.shape[0], -1), y.repeat(k), reduction="none").reshape(k, -1).mean(1))
    return torch.cat(out)


def segment_excess(losses: torch.Tensor) -> torch.Tensor:
    """``max(0, max_t L(t) - max(L(0), L(1)))`` for each row of losses along a segment.

    Zero for every segment exactly when the function is quasi-convex on
    them (its sublevel sets are convex), e.g.

    >>> segment_excess(torch.tensor([[1.0, 0.5, 2.0], [1.0, 3.0, 2.0]])).tolist()
    [0.0, 1.0]
    """
    ends = torch.maximum(losses[:, 0], losses[:, -1])
    return (losses.max(1).values - ends).clamp_min(0)


@cached("dante/subproblem", version=1)
def subproblem(*, dataset_name: str, data_root: str | None, n_points: int, width: int, activation: str, slope: float,
               base_epochs: int, lr: float, sub_epochs: int, n_solutions: int, batch_size: int, radii: list[float],
               n_segments: int, grid: int, n_t: int = 101, seed: int = 0, num_threads: int | None = None) -> dict:
    """One hidden layer's problem with the output layer fixed.

    A one-hidden-layer MLP is trained ``base_epochs`` with DANTE; its output
    layer is then frozen and the hidden layer ``theta = [W1, b1]`` is solved
    ``n_solutions`` times by DANTE on that layer alone (normalized GD, step
    ``lr`` decaying as 1/sqrt(1 + t/steps per epoch)) from independent random
    starts, on ``n_points`` training examples. In float64 it evaluates that
    loss along every segment between two solutions, along ``n_segments``
    random segments near the first solution for each radius (endpoints on the
    sphere of radius ``r`` x the mean distance between solutions), and on the
    plane through the first three solutions (``grid`` x ``grid`` points).
    """
    ds = dataset(dataset_name, data_root, n_points, 50, "cpu")
    x, y = ds.train[0].flatten(1), ds.train[1]
    d = x.shape[1]
    with threads(num_threads):
        base = models.build("mlp", in_features=d, widths=[width], out_features=ds.num_classes, activation=activation,
                            slope=slope, seed=seed)
        if base_epochs > 0:
            fit(base, (x, y), epochs=base_epochs, batch_size=batch_size, step=DANTE(base, lr=lr), seed=seed, device="cpu",
                eval_train=False, eval_at_start=False, progress=False)
        w2, b2 = base.fc2.weight.detach().clone(), base.fc2.bias.detach().clone()
        steps = math.ceil(len(y) / batch_size)
        sols = []
        for s in range(n_solutions):
            m = models.build("mlp", in_features=d, widths=[width], out_features=ds.num_classes, activation=activation,
                             slope=slope, seed=seed * 1000 + 1 + s)
            with torch.no_grad():
                m.fc2.weight.copy_(w2)
                m.fc2.bias.copy_(b2)
            fit(m, (x, y), epochs=sub_epochs, batch_size=batch_size, step=DANTE(m, layers=["fc1"], lr=lr, decay=steps),
                seed=seed + s, device="cpu", eval_train=False, eval_at_start=False, progress=False)
            sols.append(torch.cat([m.fc1.weight.detach().flatten(), m.fc1.bias.detach()]))
        xd, w2d, b2d = x.double(), w2.double(), b2.double()
        act = models.activation(activation, slope)
        sol = torch.stack(sols).double()
        loss = lambda th: _layer_loss(th, xd, y, w2d, b2d, act, width)
        ts = torch.linspace(0, 1, n_t, dtype=torch.float64)
        pairs = [(i, j) for i in range(n_solutions) for j in range(i + 1, n_solutions)]
        seg = torch.stack([loss((1 - ts)[:, None] * sol[i] + ts[:, None] * sol[j]) for i, j in pairs])
        dists = torch.stack([(sol[i] - sol[j]).norm() for i, j in pairs])
        g = torch.Generator().manual_seed(seed)
        local = {}
        for r in radii:
            rad = float(r) * float(dists.mean())
            u = torch.randn(n_segments, 2, sol.shape[1], generator=g, dtype=torch.float64)
            u = u / u.norm(dim=2, keepdim=True) * rad
            a, b = sol[0] + u[:, 0], sol[0] + u[:, 1]
            losses = torch.stack([loss((1 - ts)[:, None] * a[k] + ts[:, None] * b[k]) for k in range(n_segments)])
            local[str(r)] = segment_excess(losses)
        # the plane through solutions 0, 1, 2
        e1 = sol[1] - sol[0]
        scale = e1.norm()
        e1 = e1 / scale
        c = sol[2] - sol[0]
        e2 = c - (c @ e1) * e1
        e2 = e2 / e2.norm()
        pts = torch.tensor([[0.0, 0.0], [1.0, 0.0], [float(c @ e1 / scale), float(c @ e2 / scale)]], dtype=torch.float64)
        lo_a, hi_a = float(pts[:, 0].min()) - 0.5, float(pts[:, 0].max()) + 0.5
        lo_b, hi_b = float(pts[:, 1].min()) - 0.5, float(pts[:, 1].max()) + 0.5
        aa = torch.linspace(lo_a, hi_a, grid, dtype=torch.float64)
        bb = torch.linspace(lo_b, hi_b, grid, dtype=torch.float64)
        A, B = torch.meshgrid(aa, bb, indexing="ij")
        plane = sol[0] + scale * (A.reshape(-1, 1) * e1 + B.reshape(-1, 1) * e2)
        surface = loss(plane).reshape(grid, grid)
        sol_loss = loss(sol)
    return {"pairs": torch.tensor(pairs), "t": ts, "segments": seg, "excess": segment_excess(seg), "distances": dists,
            "local": local, "plane_a": aa, "plane_b": bb, "surface": surface, "points": pts,
            "solution_loss": sol_loss}


def plot_segments(subs: dict[str, dict], *, title: str):
    """Loss along each segment between two solutions, per activation; the
    dashed part of a line is above the larger endpoint (the excess)."""
    acts = list(subs)
    fig, axes = subplots(1, len(acts), figsize=(4.2 * len(acts), 3.3), squeeze=False)
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


def plot_levelsets(subs: dict[str, dict], *, title: str):
    """Level sets of one layer's loss on the plane through three solutions;
    the shaded region is the sublevel set at the larger of the two ends of
    the white segment (convex for a quasi-convex function)."""
    acts = list(subs)
    fig, axes = subplots(1, len(acts), figsize=(4.2 * len(acts), 3.9), squeeze=False)
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


# --- autoencoder -----------------------------------------------------------------------------


def _ae_model(d: int, widths: Sequence[int], activation: str, slope: float, seed: int) -> nn.Sequential:
    """The same stacked layout as :func:`landscape.dante.greedy_autoencoder`'s result, initialized under ``seed``."""
    sizes = [d, *widths]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        enc = [("flatten", nn.Flatten())]
        for k, (a, b) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
            enc += [(f"fc{k}", nn.Linear(a, b)), (f"act{k}", models.activation(activation, slope))]
        dec = []
        for k in range(len(widths), 0, -1):
            dec += [(f"fc{k}", nn.Linear(sizes[k], sizes[k - 1])),
                    (f"act{k}", models.activation("sigmoid" if k == 1 else activation, slope))]
    return nn.Sequential(OrderedDict(encoder=nn.Sequential(OrderedDict(enc)), decoder=nn.Sequential(OrderedDict(dec))))


@cached("dante/autoencoder", version=1)
def autoencoder_run(*, dataset_name: str, data_root: str | None, max_train: int | None, max_test: int | None,
                    widths: list[int], activation: str, slope: float, method: str, lr: float, momentum: float,
                    pretrain_epochs: int, finetune_epochs: int, batch_size: int, seed: int, device: str,
                    num_threads: int | None, n_show: int = 8) -> dict:
    """A stacked autoencoder (MSE, sigmoid output) trained by DANTE (greedy
    layer-wise stages, then fine-tuning) or by SGD / Adam end to end for
    ``len(widths) * pretrain_epochs + finetune_epochs`` epochs. Returns the
    history over the whole network (for DANTE: the fine-tuning, starting from
    the stacked stages, with ``epoch`` and ``time`` shifted by the greedy
    phase) and the reconstructions of the first ``n_show`` test images."""
    ds = dataset(dataset_name, data_root, max_train, max_test, device)
    xtr, xte = ds.train[0].flatten(1), ds.test[0].flatten(1)
    greedy_epochs = len(widths) * pretrain_epochs
    with threads(num_threads):
        if method == "DANTE":
            res = greedy_autoencoder(xtr, widths, activation=activation, slope=slope, lr=lr, pretrain_epochs=pretrain_epochs,
                                     finetune_epochs=finetune_epochs, batch_size=batch_size, test=xte, seed=seed,
                                     device=device, progress=False)
            model = res.model
            greedy_time = float(sum(h["time"][-1] for h in res.pretrain))
            hist = History([{**r, "epoch": r["epoch"] + greedy_epochs, "time": r["time"] + greedy_time} for r in res.finetune.records])
        else:
            model = _ae_model(xtr.shape[1], widths, activation, slope, seed).to(device)
            opt = (torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum) if method == "SGD"
                   else torch.optim.Adam(model.parameters(), lr=lr))
            hist = fit(model, (xtr, xtr), test=(xte, xte), epochs=greedy_epochs + finetune_epochs, optimizer=opt,
                       loss_fn=F.mse_loss, batch_size=batch_size, seed=seed, device=device, progress=False)
        with torch.no_grad():
            recon = model(xte[:n_show]).reshape(ds.test[0][:n_show].shape).cpu()
    return {"history": hist.to_dict(), "recon": recon, "images": ds.test[0][:n_show].cpu()}


def compare_autoencoders(p: dict, device: torch.device | str) -> dict:
    """DANTE, SGD and Adam autoencoders; the rate of each chosen on the first
    seed by final training loss (the same rule as the classifiers)."""
    common = dict(dataset_name=p["ae_dataset"], data_root=p["data_root"], max_train=p["ae_max_train"], max_test=p["max_test"],
                  widths=list(p["ae_widths"]), activation=p["ae_activation"], slope=p["slope"], momentum=p["sgd_momentum"],
                  pretrain_epochs=p["ae_pretrain_epochs"], finetune_epochs=p["ae_finetune_epochs"], batch_size=p["batch_size"],
                  device=str(device), num_threads=p["threads"])
    seeds = list(p["ae_seeds"])
    out = {}
    for method in ("SGD", "Adam", "DANTE"):
        grid = {lr: autoencoder_run(method=method, lr=lr, seed=seeds[0], **common) for lr in p["lrs"]}
        loss = {lr: final_train_loss(History.from_dict(r["history"])) for lr, r in grid.items()}
        best = min(loss, key=loss.get)
        runs = [grid[best]] + [autoencoder_run(method=method, lr=best, seed=s, **common) for s in seeds[1:]]
        out[method] = {"best_lr": best, "train_loss": loss, "runs": [History.from_dict(r["history"]) for r in runs],
                       "recon": runs[0]["recon"], "images": runs[0]["images"],
                       "grid": {lr: History.from_dict(r["history"]) for lr, r in grid.items()}}
    return out


def plot_autoencoder(ae: dict, *, title: str, greedy_epochs: int):
    """Test reconstruction error against epochs and wall time (mean over seeds, band = range)."""
    fig, axes = subplots(1, 2, figsize=(10, 3.4))
    for m, r in ae.items():
        for ax, x in zip(axes, ("epoch", "time")):
            xs, mu, lo, hi = _mean_curve(r["runs"], "test_loss", x)
            label = f"{m} (lr {r['best_lr']:g})" + (", after greedy stages" if m == "DANTE" else "")
            ax.plot(xs, mu, color=COLORS[m], lw=2, label=label, marker="o", ms=2.5)
            ax.fill_between(xs, lo, hi, color=COLORS[m], alpha=0.18, lw=0)
    axes[0].axvspan(0, greedy_epochs, color="0.85", alpha=0.5, lw=0, label="DANTE's greedy stages")
    axes[0].set(xlabel="epoch", ylabel="test reconstruction MSE")
    axes[1].set(xlabel="training wall time (s)", ylabel="test reconstruction MSE")
    log_y(axes[0])
    log_y(axes[1])
    axes[0].legend(fontsize="small")
    suptitle(fig, title)
    fig.tight_layout()
    return fig


def plot_reconstructions(ae: dict, *, title: str):
    """First row: test images; then each method's reconstructions (first seed)."""
    methods = list(ae)
    images = ae[methods[0]]["images"]
    n = images.shape[0]
    fig, axes = subplots(1 + len(methods), n, figsize=(1.1 * n, 1.2 * (1 + len(methods)) + 0.4), squeeze=False)
    rows = [("test image", images)] + [(m, ae[m]["recon"]) for m in methods]
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


# --- sensitivity ---------------------------------------------------------------------------


def sensitivity(p: dict, device: torch.device | str) -> dict[str, dict[float, list[History]]]:
    """DANTE on ``sens_dataset`` for every step size and schedule of the sensitivity parameters."""
    common = dict(dataset_name=p["sens_dataset"], data_root=p["data_root"], max_train=p["max_train"], max_test=p["max_test"],
                  widths=[p["width"]], activation=p["sens_activation"], slope=p["slope"], method="DANTE",
                  momentum=p["sgd_momentum"], epochs=p["epochs"], batch_size=p["batch_size"], decay=p["decay"],
                  device=str(device), num_threads=p["threads"])
    return {sched: {lr: [History.from_dict(train_run(schedule=sched, lr=lr, seed=s, **common)["history"]) for s in p["sens_seeds"]]
                    for lr in p["sens_lrs"]} for sched in p["sens_schedules"]}


def sensitivity_table(sens: dict) -> np.ndarray:
    """Mean final test accuracy, rows = schedules, columns = step sizes."""
    return np.array([[np.mean(final_accuracies({"runs": hs})) for hs in by_lr.values()] for by_lr in sens.values()])


def plot_sensitivity(sens: dict, *, title: str):
    """Final test accuracy against DANTE's step size, one line per schedule (mean, error bar 1 std)."""
    fig, ax = subplots(figsize=(6.5, 3.6))
    for k, (sched, by_lr) in enumerate(sens.items()):
        lrs = list(by_lr)
        acc = [final_accuracies({"runs": hs}) for hs in by_lr.values()]
        mu = [np.nanmean(a) for a in acc]
        sd = [np.nanstd(a, ddof=1) if len(a) > 1 else 0.0 for a in acc]
        ax.errorbar(lrs, mu, yerr=sd, color=PALETTE[k % len(PALETTE)], marker="o", capsize=3, lw=1.8, label=sched)
    ax.set(xscale="log", xlabel="DANTE step size eta (norm of every update)", ylabel="final test accuracy")
    ax.legend(title="schedule", fontsize="small")
    suptitle(fig, title)
    fig.tight_layout()
    return fig


def plot_sensitivity_curves(sens: dict, lr: float, *, title: str):
    """Test accuracy against epochs at step size ``lr``, one line per schedule (mean over seeds)."""
    fig, ax = subplots(figsize=(6.5, 3.4))
    for k, (sched, by_lr) in enumerate(sens.items()):
        xs, mu, lo, hi = _mean_curve(by_lr[lr], "test_acc")
        ax.plot(xs, mu, color=PALETTE[k % len(PALETTE)], lw=2, label=sched)
        ax.fill_between(xs, lo, hi, color=PALETTE[k % len(PALETTE)], alpha=0.15, lw=0)
    ax.set(xlabel="epoch", ylabel="test accuracy", ylim=(0, 1))
    ax.legend(title="schedule", fontsize="small", loc="lower right")
    suptitle(fig, title)
    fig.tight_layout()
    return fig
