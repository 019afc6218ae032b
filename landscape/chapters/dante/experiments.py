r"""The DANTE chapter's experiments (``book/dante.ipynb``), each piece cached by what changes it.

**Classifiers** (claims 2.1-2.3). Every run trains on the training split minus a
validation split carved from it (:func:`split_validation`: stratified, ``val_fraction``,
seed 0, the same for every run); the test set is evaluated once, at the end.

- :func:`train_run`: one MLP classifier (one or two hidden layers) trained by SGD, Adam or
  DANTE (:class:`landscape.methods.dante.DANTE`) - or, as the rule's null, by DANTE on the
  output layer only (:data:`NULL_METHOD`: the hidden layers stay at their random start, a
  random-features network). Its history is per epoch (training loss, validation accuracy);
  its final test accuracy is read once.
- :func:`compare_all`: for every configuration (depth, data set, activation) and method,
  every rate of the method's own grid runs on the first ``select_seeds`` seeds; the rate with
  the best mean final *validation* accuracy is kept (protocol ``"v2"``) and every seed runs
  at it. Two more choices are made from the same runs: from v1's shared 3-point grid, on
  validation (protocol ``"v1 grid"``, the declared variant), and from that grid by final
  training loss (``"v1"``, the rule the chapter was first published with). Independent
  runs go through :func:`landscape.experiment.parallel.compute`, ``workers`` at a time.
- :func:`timing_run` / :func:`time_all`: claim 2.3's timed runs - each method at its chosen
  rate, the first seed, ``speed_repeats`` repeats, validation accuracy every ``eval_every``
  mini-batches, at least ``speed_min_seconds`` of training (:mod:`.timing`).

**The rest** (figures and tables, no claim): :func:`subproblem` (one layer's problem with the
other fixed: quasi-convexity, measured), :func:`autoencoder_run` / :func:`compare_autoencoders`
(a stacked autoencoder) and :func:`sensitivity` (DANTE over step sizes and schedules).

:func:`run` does all of it for the parameters of the chapter's schema and returns
:class:`Results`. The decision quantities are :func:`paired_gaps` (2.1, 2.2: per seed, DANTE's
test accuracy minus that of the backprop method chosen on validation, in points) and
:func:`speed_rows` (2.3); :func:`accuracy_gaps_v1` and :func:`speed_ratios_v1` are v1's.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from pathlib import Path
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...experiment.cache import cached
from ...experiment.parallel import compute
from ...experiment.params import Params
from ...experiment.stats import Difference, paired_difference
from ...methods.dante import DANTE, greedy_autoencoder
from ...training import models
from ...training.curves import first_reach
from ...training.data import DataSpec, available
from ...training.loop import History, backprop_step, evaluate, fit, resolve_device, threads
from .timing import reach, timed_fit

__all__ = [
    "METHODS", "BACKPROP", "NULL_METHOD", "PROTOCOLS", "SCHEDULES", "Training", "Timing", "Cell", "Subproblem",
    "Autoencoder", "Run", "MethodRuns", "AutoencoderRuns", "Results", "run", "subset", "split_validation",
    "schedule_options", "train_run", "timing_run", "choose", "compare_all", "time_all", "step_norm_check", "subproblem",
    "segment_excess", "autoencoder_run", "compare_autoencoders", "sensitivity", "live_run", "final", "chance_or",
    "final_accuracies", "final_train_loss", "backprop_choice", "paired_gaps", "accuracy_gaps_v1", "worst_gaps",
    "time_to_target", "speed_rows", "speed_ratios_v1", "autoencoder_mse", "autoencoder_means", "sensitivity_accuracy",
    "sensitivity_best", "cells", "grids", "Units", "grid_keys", "grid_calls", "sensitivity_calls", "autoencoder_seed_calls",
]

METHODS = ("SGD", "Adam", "DANTE")
#: the backprop methods DANTE is compared with
BACKPROP = ("SGD", "Adam")
#: claims 2.1/2.2's null: DANTE on the output layer only, the hidden layers frozen at their random start
NULL_METHOD = "output layer only"
#: how a method's learning rate is chosen: ``"v2"`` (the headline), ``"v1 grid"`` (the variant), ``"v1"`` (v1's rule)
PROTOCOLS = {"v2": "its own 6-point log grid, chosen on the validation split",
             "v1 grid": "v1's shared 3-point grid, chosen on the validation split",
             "v1": "v1's shared 3-point grid, chosen by final training loss"}
#: the alternation schedules of the sensitivity section, by name (:func:`schedule_options`)
SCHEDULES = ("batch", "batch-3", "forward", "epoch", "batch-decay")


# --- settings: copies of the chapter's parameters, grouped for the cached units -----------------


@dataclass(frozen=True)
class Training:
    """How a classifier is built and trained (every method, the same budget).

    Attributes:
        widths: hidden widths of the MLP.
        activation, slope: hidden activation (``slope``: alpha of the generalized ReLU).
        momentum: momentum of the SGD baseline.
        epochs, batch_size: the budget.
        schedule, decay: DANTE's alternation schedule (:func:`schedule_options`) and the
            mini-batches of the 1/sqrt decay of ``batch-decay``.
        val_fraction: the share of the training split held out for validation (:func:`split_validation`).
    """

    widths: tuple[int, ...]
    activation: str
    slope: float
    momentum: float
    epochs: int
    batch_size: int
    schedule: str = "batch"
    decay: float = 100.0
    val_fraction: float = 0.2


@dataclass(frozen=True)
class Timing:
    """How claim 2.3's runs are timed (:func:`timing_run`, :func:`~.timing.timed_fit`).

    Attributes:
        eval_every: mini-batches between two validation evaluations.
        min_seconds: every timed run trains at least this long (whole epochs).
        max_epochs: and at most this many epochs.
        session: a label of the timing session (a new one re-measures every time; nothing else changes).
        warmup: untimed mini-batches on a copy of the model before the clock starts.
    """

    eval_every: int
    min_seconds: float
    max_epochs: int
    session: int = 0
    warmup: int = 5


@dataclass(frozen=True)
class Cell:
    """One configuration of the comparisons: depth (``"1"`` or ``"2"`` hidden layers), data set,
    activation, and the data and training setup of its runs."""

    depth: str
    data: str
    activation: str
    spec: DataSpec
    setup: Training


@dataclass(frozen=True)
class Subproblem:
    """One hidden layer's problem with the output layer fixed (:func:`subproblem`).

    Attributes:
        width, slope: hidden width; alpha of the generalized ReLU.
        base_epochs: DANTE epochs of the network whose output layer is then fixed.
        lr: step size of the normalized steps (and of the base network).
        sub_epochs: epochs of normalized GD on the hidden layer alone, per solution.
        n_solutions: solutions from independent starts.
        batch_size: mini-batch size.
        radii: radii of the local check (fractions of the mean distance between solutions).
        n_segments: random segments per radius.
        grid: points per axis of the plane through three solutions.
        n_t: points along each segment.
        seed: seed of the base network (solution ``s`` starts from ``seed * 1000 + 1 + s``).
    """

    width: int
    slope: float
    base_epochs: int
    lr: float
    sub_epochs: int
    n_solutions: int
    batch_size: int
    radii: tuple[float, ...]
    n_segments: int
    grid: int
    n_t: int = 101
    seed: int = 0


@dataclass(frozen=True)
class Autoencoder:
    """A stacked autoencoder and its budget (:func:`autoencoder_run`).

    Attributes:
        widths: code sizes (encoder widths).
        activation, slope: hidden activation (the output is a sigmoid).
        momentum: momentum of the SGD baseline.
        pretrain_epochs: DANTE epochs per greedy stage.
        finetune_epochs: DANTE fine-tuning epochs (backprop gets stages x pretrain + finetune).
        batch_size: mini-batch size.
        n_show: test images whose reconstructions are kept.
    """

    widths: tuple[int, ...]
    activation: str
    slope: float
    momentum: float
    pretrain_epochs: int
    finetune_epochs: int
    batch_size: int
    n_show: int = 8

    @property
    def greedy_epochs(self) -> int:
        """DANTE's epochs in greedy stages (the backprop runs' epochs are these plus fine-tuning)."""
        return len(self.widths) * self.pretrain_epochs



# --- data ------------------------------------------------------------------------------------


def subset(name: str, root: str | None, max_train: int | None, max_test: int | None) -> DataSpec:
    """Data set ``name`` (fixed split, seed 0) with at most ``max_train`` / ``max_test``
    examples; a bound at or above the set's size keeps the whole split (``n_train=None``),
    so the data are the full split, not a reshuffled subset of it.

    >>> spec = subset("digits", None, 2000, 100)
    >>> spec.n_train, spec.n_test
    (None, 100)
    """
    full = DataSpec(name, root=root).load()
    n_tr, n_te = len(full.train[1]), len(full.test[1])
    return DataSpec(name, root=root, n_train=None if max_train is None or max_train >= n_tr else max_train,
                    n_test=None if max_test is None or max_test >= n_te else max_test, seed=0)


def split_validation(train: tuple[torch.Tensor, torch.Tensor], fraction: float, seed: int = 0
                     ) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """``(fit, validation)``: a stratified split of the training pair - in each class a
    share ``fraction`` (rounded) of its examples, drawn with ``seed``, is held out - each part
    in the original order. The same call gives the same split (every run, every method).

    >>> x, y = torch.arange(10.0)[:, None], torch.tensor([0] * 5 + [1] * 5)
    >>> (xf, yf), (xv, yv) = split_validation((x, y), 0.4)
    >>> len(yf), len(yv), yv.bincount().tolist()
    (6, 4, [2, 2])
    """
    x, y = train
    labels = y.cpu().numpy()
    rng = np.random.default_rng(seed)
    held, kept = [], []
    for c in np.unique(labels):
        idx = rng.permutation(np.flatnonzero(labels == c))
        k = int(round(fraction * len(idx)))
        held.append(idx[:k])
        kept.append(idx[k:])
    pick = lambda parts: torch.as_tensor(np.sort(np.concatenate(parts)), device=x.device)
    fit_idx, val_idx = pick(kept), pick(held)
    return (x[fit_idx], y[fit_idx]), (x[val_idx], y[val_idx])


# --- classifiers -----------------------------------------------------------------------------


def schedule_options(name: str, decay: float) -> dict[str, Any]:
    """The :class:`~landscape.methods.dante.DANTE` keyword arguments of schedule ``name``:

    ``batch`` (every mini-batch: each layer one step, last layer first),
    ``batch-3`` (three steps per layer per mini-batch), ``forward`` (as
    ``batch``, first layer first), ``epoch`` (one layer per epoch, cycling),
    ``batch-decay`` (as ``batch`` with :math:`\\eta_t = \\eta/\\sqrt{1 + t/\\text{decay}}`).

    >>> schedule_options("batch-3", 100.0)["steps_per_layer"]
    3
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


def _model(ds, setup: Training, seed: int, device: str) -> nn.Module:
    return models.build("mlp", in_features=int(np.prod(ds.input_shape)), widths=list(setup.widths), out_features=ds.num_classes,
                        activation=setup.activation, slope=setup.slope, seed=seed, device=device)


def _dante(model: nn.Module, method: str, lr: float, setup: Training, n_fit: int, record: bool) -> DANTE:
    """DANTE over every layer, or over the output layer only (:data:`NULL_METHOD`)."""
    layers = None if method == "DANTE" else [list(models.layers(model))[-1]]
    return DANTE(model, layers=layers, lr=lr, steps_per_epoch=math.ceil(n_fit / setup.batch_size), record=record,
                 **schedule_options(setup.schedule, setup.decay))


def _optimizer(model: nn.Module, method: str, lr: float, setup: Training) -> torch.optim.Optimizer:
    return (torch.optim.SGD(model.parameters(), lr=lr, momentum=setup.momentum) if method == "SGD"
            else torch.optim.Adam(model.parameters(), lr=lr))


def _check_method(method: str) -> None:
    if method not in (*METHODS, NULL_METHOD):
        raise ValueError(f"Invalid method: {method!r} (choose from {', '.join((*METHODS, NULL_METHOD))})")


@cached("dante/train", version=3, ignore=())
def train_run(*, data: DataSpec, setup: Training, method: str, lr: float, seed: int, device: str) -> dict:
    """Train one MLP classifier with ``method`` (SGD, Adam, DANTE or :data:`NULL_METHOD`) on the
    training split minus its validation split (:func:`split_validation`) and return its
    per-epoch history (``train_eval_loss``: the loss on the whole fitting split; ``val_loss``,
    ``val_acc``; ``time``: cumulative training seconds), the final test accuracy and loss
    (evaluated once, after training; NaN for a diverged run) and, for DANTE, the largest
    relative deviation of a taken step's norm from :math:`\\eta_t`. The device stays in the
    key: the history's times (read by v1's claim 2.3) depend on it."""
    _check_method(method)
    ds = data.load(device)
    train, val = split_validation(ds.train, setup.val_fraction)
    model = _model(ds, setup, seed, device)
    out: dict[str, Any] = {}
    if method in ("DANTE", NULL_METHOD):
        trainer = _dante(model, method, lr, setup, len(train[1]), record=True)
        hist = fit(model, train, test=val, epochs=setup.epochs, batch_size=setup.batch_size, step=trainer,
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
        hist = fit(model, train, test=val, epochs=setup.epochs, optimizer=_optimizer(model, method, lr, setup),
                   batch_size=setup.batch_size, seed=seed, device=device, progress=False)
    hist = History([{("val_" + k[5:] if k.startswith("test_") else k): v for k, v in r.items()} for r in hist.records],
                   hist.diverged, hist.message)
    test = {"loss": math.nan, "acc": math.nan} if hist.diverged else evaluate(model, ds.test, device=device)
    out.update(history=hist.to_dict(), test_acc=float(test["acc"]), test_loss=float(test["loss"]), n_fit=int(len(train[1])),
               n_val=int(len(val[1])))
    return out


@cached("dante/timing", version=1, ignore=())
def timing_run(*, data: DataSpec, setup: Training, timing: Timing, method: str, lr: float, seed: int, repeat: int,
               device: str) -> dict:
    """One timed run of claim 2.3 (:func:`~.timing.timed_fit`): ``method`` at rate ``lr`` on the
    fitting split, the validation accuracy every ``timing.eval_every`` mini-batches, at least
    ``setup.epochs`` epochs and ``timing.min_seconds`` of training. Seeded like
    :func:`train_run`, so it follows the same trajectory; ``repeat`` (and ``timing.session``)
    only tell repeated measurements apart. DANTE steps without recording their norms (the
    timing is the method's, not the check's)."""
    _check_method(method)
    ds = data.load(device)
    train, val = split_validation(ds.train, setup.val_fraction)
    model = _model(ds, setup, seed, device)

    def make_step(m: nn.Module):
        if method in ("DANTE", NULL_METHOD):
            return _dante(m, method, lr, setup, len(train[1]), record=False)
        return backprop_step(_optimizer(m, method, lr, setup), F.cross_entropy)

    rec = timed_fit(model, make_step, train, val, epochs=setup.epochs, min_seconds=timing.min_seconds,
                    max_epochs=timing.max_epochs, batch_size=setup.batch_size, seed=seed, eval_every=timing.eval_every,
                    device=device, warmup=timing.warmup)
    return {**rec, "repeat": int(repeat)}


# --- the runs, as the claims read them -------------------------------------------------------------


@dataclass
class Run:
    """One finished classifier run: its per-epoch history, its final test accuracy (NaN for a
    diverged run) and what else it recorded (DANTE's step-norm check, split sizes)."""

    history: History
    test_acc: float
    extra: dict = field(default_factory=dict)

    @classmethod
    def of(cls, result: Mapping[str, Any]) -> "Run":
        """A :class:`Run` from a :func:`train_run` result."""
        return cls(History.from_dict(result["history"]), float(result.get("test_acc", math.nan)),
                   {k: v for k, v in result.items() if k not in ("history", "test_acc")})


def final(h: History, key: str = "val_acc") -> float:
    """The last value of ``key`` (NaN for a diverged run or a missing column)."""
    if h.diverged or key not in h.last:
        return math.nan
    return float(h.last[key])


def chance_or(value: float, diverged: bool, num_classes: int) -> float:
    """``value``, or chance level ``1 / num_classes`` for a diverged run (its weights are no
    longer finite, so divergence is never averaged away); a non-finite value of a run that did
    not diverge stays NaN (no number was measured).

    >>> chance_or(0.9, False, 10), chance_or(math.nan, True, 10)
    (0.9, 0.1)
    """
    return 1.0 / num_classes if diverged else float(value)


def final_accuracies(runs: Sequence[Run], num_classes: int = 10, key: str = "test") -> np.ndarray:
    """Final test (``key="test"``) or validation (``"val"``) accuracy of each run, a diverged
    run at chance level (:func:`chance_or`)."""
    get = (lambda r: r.test_acc) if key == "test" else (lambda r: final(r.history, "val_acc"))
    return np.array([chance_or(get(r), r.history.diverged, num_classes) for r in runs], dtype=float)


def final_train_loss(h: History) -> float:
    """The final loss on the whole fitting split; ``inf`` for a diverged run (so it is never chosen)."""
    v = final(h, "train_eval_loss")
    return math.inf if not math.isfinite(v) else v


@dataclass
class MethodRuns:
    """One method on one configuration.

    Attributes:
        lrs: the method's grid (protocol ``"v2"``).
        runs: rate -> the runs at that rate, in seed order (the first ``select_seeds`` seeds
            at every rate tried; every seed at a chosen rate).
        chosen: protocol (:data:`PROTOCOLS`) -> the rate it chose.
        num_classes: classes of the data (a diverged run counts at chance, 1 / num_classes).
    """

    lrs: tuple[float, ...]
    runs: dict[float, list[Run]]
    chosen: dict[str, float]
    num_classes: int = 10

    @property
    def best_lr(self) -> float:
        """The rate the headline protocol (``"v2"``) chose."""
        return self.chosen["v2"]

    def at(self, protocol: str = "v2", n: int | None = None) -> list[Run]:
        """The runs at the rate ``protocol`` chose (the first ``n`` seeds; default all)."""
        return self.runs[self.chosen[protocol]][:n]

    def accuracies(self, protocol: str = "v2", n: int | None = None, key: str = "test") -> np.ndarray:
        """:func:`final_accuracies` of :meth:`at`."""
        return final_accuracies(self.at(protocol, n), self.num_classes, key)

    @property
    def at_edge(self) -> bool:
        """Whether the headline rate is an end of the grid (a wider grid might do better)."""
        return len(self.lrs) > 1 and self.best_lr in (min(self.lrs), max(self.lrs))


def choose(runs: Mapping[float, Sequence[Run]], lrs: Sequence[float], k: int, num_classes: int, *, by: str = "validation") -> float:
    """The rate of ``lrs`` with the best mean over the first ``k`` runs: the highest final
    validation accuracy (``by="validation"``; a diverged run at chance) or the lowest final
    training loss (``by="training loss"``, v1's rule); on a tie, the first rate of ``lrs``.

    >>> r = lambda acc, loss: Run(History([{"val_acc": acc, "train_eval_loss": loss}]), 0.0)
    >>> runs = {0.1: [r(0.8, 0.2)], 1.0: [r(0.9, 0.3)]}
    >>> choose(runs, [0.1, 1.0], 1, 10), choose(runs, [0.1, 1.0], 1, 10, by="training loss")
    (1.0, 0.1)
    """
    if by == "validation":
        score = {lr: float(np.mean(final_accuracies(runs[lr][:k], num_classes, "val"))) for lr in lrs}
        score = {lr: (-math.inf if math.isnan(v) else v) for lr, v in score.items()}
    elif by == "training loss":
        score = {lr: -float(np.mean([final_train_loss(r.history) for r in runs[lr][:k]])) for lr in lrs}
    else:
        raise ValueError(f"Invalid by: {by!r} (choose 'validation' or 'training loss')")
    best = max(score.values())
    return next(lr for lr in lrs if score[lr] == best)


def cells(specs: Mapping[str, DataSpec], base: Training, *, activations: Sequence[str], deep_widths: Sequence[int]) -> list[Cell]:
    """Every configuration: one and two hidden layers x data set x activation."""
    depths = {"1": base.widths, "2": tuple(deep_widths)}
    return [Cell(d, name, act, spec, replace(base, widths=w, activation=act))
            for d, w in depths.items() for name, spec in specs.items() for act in activations]


def _nest(cs: Sequence[Cell], values: Sequence[Any]) -> dict:
    """``{depth: {data: {activation: value}}}`` from one value per cell."""
    out: dict = {}
    for c, v in zip(cs, values):
        out.setdefault(c.depth, {}).setdefault(c.data, {})[c.activation] = v
    return out


class Units:
    """Independent cached units computed in batches (:func:`landscape.experiment.parallel.compute`,
    ``workers`` processes at a time), each once: a call already computed in an earlier batch
    is returned from memory, so that several stages can be prepared in one batch (one pool of
    processes instead of one per stage), and a call whose result is in the results cache is
    read here, without a process (starting processes to read files costs more than reading them)."""

    def __init__(self, workers: int = 1) -> None:
        self.workers = workers
        self.done: dict[tuple, Any] = {}

    @staticmethod
    def key(call: tuple) -> tuple:
        fn, kw = call
        return (fn.__module__, fn.__qualname__, tuple(sorted(kw.items())))

    def run(self, calls: Sequence[tuple]) -> list:
        """``[fn(**kwargs) for fn, kwargs in calls]``, computing only the calls not done before."""
        todo = list({self.key(c): c for c in calls if self.key(c) not in self.done}.items())
        stored = lambda c: getattr(c[0], "path", None) is not None and (c[0].path(**c[1]) or _NOWHERE).exists()
        hits = [(k, c) for k, c in todo if stored(c)]
        for k, (fn, kw) in hits:
            self.done[k] = fn(**kw)
        todo = [(k, c) for k, c in todo if k not in self.done]
        if todo:
            for (k, _), r in zip(todo, compute([c for _, c in todo], workers=self.workers)):
                self.done[k] = r
        return [self.done[self.key(c)] for c in calls]


_NOWHERE = Path("/nonexistent/landscape-cache-miss")


def _train_call(c: Cell, method: str, lr: float, seed: int, device: str) -> tuple:
    return (train_run, dict(data=c.spec, setup=c.setup, method=method, lr=lr, seed=seed, device=device))


def grid_keys(cs: Sequence[Cell], grids: Mapping[str, Sequence[float]], v1_lrs: Sequence[float], seeds: Sequence[int],
              select_seeds: int) -> list[tuple]:
    """``(cell index, method, rate, seed)`` of the selection runs: every rate of the method's grid
    and of ``v1_lrs``, on the first ``select_seeds`` seeds."""
    return [(i, m, lr, s) for i in range(len(cs)) for m in METHODS for lr in dict.fromkeys([*grids[m], *v1_lrs])
            for s in list(seeds)[:select_seeds]]


def grid_calls(cs: Sequence[Cell], grids: Mapping[str, Sequence[float]], v1_lrs: Sequence[float], seeds: Sequence[int],
               select_seeds: int, device: str) -> list[tuple]:
    """The :func:`train_run` calls of :func:`grid_keys` (to prepare them in a batch with other units)."""
    return [_train_call(cs[i], m, lr, s, device) for i, m, lr, s in grid_keys(cs, grids, v1_lrs, seeds, select_seeds)]


def compare_all(cs: Sequence[Cell], grids: Mapping[str, Sequence[float]], *, v1_lrs: Sequence[float], seeds: Sequence[int],
                select_seeds: int, v1_seeds: int, device: str, workers: int = 1, units: "Units | None" = None,
                also: Sequence[tuple] = ()) -> dict:
    """SGD, Adam and DANTE on every configuration of ``cs``, and the rule's null
    (:data:`NULL_METHOD`). First every rate of ``grids[method]`` and of ``v1_lrs`` runs on the
    first ``select_seeds`` seeds; then each protocol of :data:`PROTOCOLS` chooses a rate
    (:func:`choose`): ``"v2"`` from the method's grid on validation, ``"v1 grid"`` from
    ``v1_lrs`` on validation, ``"v1"`` from ``v1_lrs`` by training loss; every seed runs at the
    first two choices, the first ``v1_seeds`` at the third, and the null runs every seed at
    DANTE's ``"v2"`` rate. Each phase's runs are independent units, ``workers`` at a time
    (through ``units``, a :class:`Units`, when given: runs it computed already are reused;
    ``also``: other units' calls to compute in the second batch, for later stages).
    Returns ``{depth: {data: {activation: {method: MethodRuns}}}}``."""
    seeds = list(seeds)
    units = Units(workers) if units is None else units
    done: dict[tuple, Run] = {}
    classes = {c.data: c.spec.load().num_classes for c in cs}

    def run_all(keys: Sequence[tuple], extra: Sequence[tuple] = ()) -> None:
        todo = list(dict.fromkeys(k for k in keys if k not in done))
        got = units.run([_train_call(cs[i], m, lr, s, device) for i, m, lr, s in todo] + list(extra))
        for k, r in zip(todo, got):
            done[k] = Run.of(r)

    tried = {m: list(dict.fromkeys([*grids[m], *v1_lrs])) for m in METHODS}
    run_all(grid_keys(cs, grids, v1_lrs, seeds, select_seeds))
    chosen: dict[tuple[int, str], dict[str, float]] = {}
    for i, c in enumerate(cs):
        for m in METHODS:
            at = {lr: [done[(i, m, lr, s)] for s in seeds[:select_seeds]] for lr in tried[m]}
            n = classes[c.data]
            chosen[(i, m)] = {"v2": choose(at, grids[m], select_seeds, n), "v1 grid": choose(at, v1_lrs, select_seeds, n),
                              "v1": choose(at, v1_lrs, select_seeds, n, by="training loss")}
    keys = []
    for i in range(len(cs)):
        for m in METHODS:
            ch = chosen[(i, m)]
            keys += [(i, m, ch[pr], s) for pr in ("v2", "v1 grid") for s in seeds] + [(i, m, ch["v1"], s) for s in seeds[:v1_seeds]]
        keys += [(i, NULL_METHOD, chosen[(i, "DANTE")]["v2"], s) for s in seeds]
    run_all(keys, also)

    def method_runs(i: int, m: str) -> MethodRuns:
        if m == NULL_METHOD:
            lr = chosen[(i, "DANTE")]["v2"]
            lrs, ch = (lr,), {"v2": lr}
        else:
            lrs, ch = tuple(grids[m]), chosen[(i, m)]
        runs = {}
        for lr in dict.fromkeys([*(tried[m] if m in tried else lrs)]):
            got = []
            for s in seeds:  # the seeds run at this rate: a prefix of ``seeds``
                if (i, m, lr, s) not in done:
                    break
                got.append(done[(i, m, lr, s)])
            if got:
                runs[lr] = got
        return MethodRuns(lrs, runs, ch, classes[cs[i].data])

    return _nest(cs, [{m: method_runs(i, m) for m in (*METHODS, NULL_METHOD)} for i in range(len(cs))])


def time_all(cs: Sequence[Cell], by_depth: Mapping, timing: Timing, *, seed: int, repeats: int, device: str,
             workers: int = 1) -> dict:
    """Claim 2.3's timed runs (:func:`timing_run`): on every configuration, SGD, Adam and DANTE at
    their ``"v2"`` rates, seed ``seed``, ``repeats`` times - interleaved (configuration, then
    repeat, then method), so that a change in the machine's load falls on every method alike.
    Returns ``{depth: {data: {activation: {method: [one record per repeat]}}}}``."""
    calls, where = [], []
    for i, c in enumerate(cs):
        by_m = by_depth[c.depth][c.data][c.activation]
        for r in range(repeats):
            for m in METHODS:
                calls.append((timing_run, dict(data=c.spec, setup=c.setup, timing=timing, method=m, lr=by_m[m].best_lr,
                                               seed=seed, repeat=r, device=device)))
                where.append((i, m))
    out: list[dict] = [{m: [] for m in METHODS} for _ in cs]
    for (i, m), rec in zip(where, Units(workers).run(calls)):
        out[i][m].append(rec)
    return _nest(cs, out)


def step_norm_check(activations: Sequence[str], *, lr: float = 0.1, seed: int = 0, slope: float = 0.1) -> dict[str, float]:
    """The normalized-step property measured directly: for a float64 MLP on
    200 digits, one DANTE step on each layer; the largest relative error
    ``| ||theta_after - theta_before|| - eta | / eta`` over layers, per activation."""
    ds = DataSpec("digits", n_train=200, n_test=50).load()
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


@cached("dante/subproblem", version=2)
def subproblem(*, data: DataSpec, setup: Subproblem, activation: str) -> dict:
    """One hidden layer's problem with the output layer fixed, on the CPU.

    A one-hidden-layer MLP is trained ``setup.base_epochs`` with DANTE; its
    output layer is then frozen and the hidden layer ``theta = [W1, b1]`` is
    solved ``setup.n_solutions`` times by DANTE on that layer alone (normalized
    GD, step ``setup.lr`` decaying as 1/sqrt(1 + t/steps per epoch)) from
    independent random starts, on the training examples of ``data``. In float64
    it evaluates that loss along every segment between two solutions, along
    ``setup.n_segments`` random segments near the first solution for each radius
    (endpoints on the sphere of radius ``r`` x the mean distance between
    solutions), and on the plane through the first three solutions
    (``setup.grid`` x ``setup.grid`` points).
    """
    st, width = setup, setup.width
    ds = data.load()
    x, y = ds.train[0].flatten(1), ds.train[1]
    d = x.shape[1]
    base = models.build("mlp", in_features=d, widths=[width], out_features=ds.num_classes, activation=activation,
                        slope=st.slope, seed=st.seed)
    if st.base_epochs > 0:
        fit(base, (x, y), epochs=st.base_epochs, batch_size=st.batch_size, step=DANTE(base, lr=st.lr), seed=st.seed, device="cpu",
            eval_train=False, eval_at_start=False, progress=False)
    w2, b2 = base.fc2.weight.detach().clone(), base.fc2.bias.detach().clone()
    steps = math.ceil(len(y) / st.batch_size)
    sols = []
    for s in range(st.n_solutions):
        m = models.build("mlp", in_features=d, widths=[width], out_features=ds.num_classes, activation=activation,
                         slope=st.slope, seed=st.seed * 1000 + 1 + s)
        with torch.no_grad():
            m.fc2.weight.copy_(w2)
            m.fc2.bias.copy_(b2)
        fit(m, (x, y), epochs=st.sub_epochs, batch_size=st.batch_size, step=DANTE(m, layers=["fc1"], lr=st.lr, decay=steps),
            seed=st.seed + s, device="cpu", eval_train=False, eval_at_start=False, progress=False)
        sols.append(torch.cat([m.fc1.weight.detach().flatten(), m.fc1.bias.detach()]))
    xd, w2d, b2d = x.double(), w2.double(), b2.double()
    act = models.activation(activation, st.slope)
    sol = torch.stack(sols).double()
    loss = lambda th: _layer_loss(th, xd, y, w2d, b2d, act, width)
    ts = torch.linspace(0, 1, st.n_t, dtype=torch.float64)
    pairs = [(i, j) for i in range(st.n_solutions) for j in range(i + 1, st.n_solutions)]
    seg = torch.stack([loss((1 - ts)[:, None] * sol[i] + ts[:, None] * sol[j]) for i, j in pairs])
    dists = torch.stack([(sol[i] - sol[j]).norm() for i, j in pairs])
    g = torch.Generator().manual_seed(st.seed)
    local = {}
    for r in st.radii:
        rad = float(r) * float(dists.mean())
        u = torch.randn(st.n_segments, 2, sol.shape[1], generator=g, dtype=torch.float64)
        u = u / u.norm(dim=2, keepdim=True) * rad
        a, b = sol[0] + u[:, 0], sol[0] + u[:, 1]
        losses = torch.stack([loss((1 - ts)[:, None] * a[k] + ts[:, None] * b[k]) for k in range(st.n_segments)])
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
    aa = torch.linspace(lo_a, hi_a, st.grid, dtype=torch.float64)
    bb = torch.linspace(lo_b, hi_b, st.grid, dtype=torch.float64)
    A, B = torch.meshgrid(aa, bb, indexing="ij")
    plane = sol[0] + scale * (A.reshape(-1, 1) * e1 + B.reshape(-1, 1) * e2)
    surface = loss(plane).reshape(st.grid, st.grid)
    sol_loss = loss(sol)
    return {"pairs": torch.tensor(pairs), "t": ts, "segments": seg, "excess": segment_excess(seg), "distances": dists,
            "local": local, "plane_a": aa, "plane_b": bb, "surface": surface, "points": pts,
            "solution_loss": sol_loss}


# --- autoencoder -----------------------------------------------------------------------------


def _ae_model(d: int, widths: Sequence[int], activation: str, slope: float, seed: int) -> nn.Sequential:
    """The same stacked layout as :func:`landscape.methods.dante.greedy_autoencoder`'s result, initialized under ``seed``."""
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


@cached("dante/autoencoder", version=2, ignore=("device",))
def autoencoder_run(*, data: DataSpec, setup: Autoencoder, method: str, lr: float, seed: int, device: str) -> dict:
    """A stacked autoencoder (MSE, sigmoid output) trained by DANTE (greedy
    layer-wise stages, then fine-tuning) or by SGD / Adam end to end for
    ``setup.greedy_epochs + setup.finetune_epochs`` epochs. Returns the history
    over the whole network (for DANTE: the fine-tuning, starting from the
    stacked stages, with ``epoch`` and ``time`` shifted by the greedy phase) and
    the reconstructions of the first ``setup.n_show`` test images. No claim or
    table reads its times (only a figure): the key leaves the device out."""
    st = setup
    ds = data.load(device)
    xtr, xte = ds.train[0].flatten(1), ds.test[0].flatten(1)
    greedy_epochs = st.greedy_epochs
    if method == "DANTE":
        res = greedy_autoencoder(xtr, list(st.widths), activation=st.activation, slope=st.slope, lr=lr, pretrain_epochs=st.pretrain_epochs,
                                 finetune_epochs=st.finetune_epochs, batch_size=st.batch_size, test=xte, seed=seed,
                                 device=device, progress=False)
        model = res.model
        greedy_time = float(sum(h["time"][-1] for h in res.pretrain))
        hist = History([{**r, "epoch": r["epoch"] + greedy_epochs, "time": r["time"] + greedy_time} for r in res.finetune.records])
    else:
        model = _ae_model(xtr.shape[1], st.widths, st.activation, st.slope, seed).to(device)
        opt = (torch.optim.SGD(model.parameters(), lr=lr, momentum=st.momentum) if method == "SGD"
               else torch.optim.Adam(model.parameters(), lr=lr))
        hist = fit(model, (xtr, xtr), test=(xte, xte), epochs=greedy_epochs + st.finetune_epochs, optimizer=opt,
                   loss_fn=F.mse_loss, batch_size=st.batch_size, seed=seed, device=device, progress=False)
    with torch.no_grad():
        recon = model(xte[:st.n_show]).reshape(ds.test[0][:st.n_show].shape).cpu()
    return {"history": hist.to_dict(), "recon": recon, "images": ds.test[0][:st.n_show].cpu()}



@dataclass
class AutoencoderRuns:
    """One autoencoder method.

    Attributes:
        best_lr: the rate chosen by the lowest final training loss on the first seed.
        train_loss: rate -> that final training loss.
        grid: rate -> the first seed's history at that rate.
        runs: one history per seed at ``best_lr``.
        recon, images: the first seed's test reconstructions and the images.
    """

    best_lr: float
    train_loss: dict[float, float]
    grid: dict[float, list[History]]
    runs: list[History]
    recon: torch.Tensor | None = None
    images: torch.Tensor | None = None


def _ae_call(data: DataSpec, setup: Autoencoder, method: str, lr: float, seed: int, device: str) -> tuple:
    return (autoencoder_run, dict(data=data, setup=setup, method=method, lr=lr, seed=seed, device=device))


def _ae_choice(data: DataSpec, setup: Autoencoder, *, lrs: Sequence[float], seed: int, device: str, units: "Units"):
    """The first seed's runs at every rate, their final training losses, and each method's best rate."""
    first = dict(zip([(m, lr) for m in METHODS for lr in lrs], units.run([_ae_call(data, setup, m, lr, seed, device)
                                                                          for m in METHODS for lr in lrs])))
    loss = {m: {lr: final_train_loss(History.from_dict(first[(m, lr)]["history"])) for lr in lrs} for m in METHODS}
    return first, loss, {m: min(loss[m], key=loss[m].get) for m in METHODS}


def autoencoder_seed_calls(data: DataSpec, setup: Autoencoder, *, lrs: Sequence[float], seeds: Sequence[int], device: str,
                           units: "Units") -> list[tuple]:
    """The :func:`autoencoder_run` calls of every seed but the first at each method's chosen rate
    (the first seed's grid must be in ``units`` or the cache)."""
    _, _, best = _ae_choice(data, setup, lrs=lrs, seed=list(seeds)[0], device=device, units=units)
    return [_ae_call(data, setup, m, best[m], s, device) for m in METHODS for s in list(seeds)[1:]]


def compare_autoencoders(data: DataSpec, setup: Autoencoder, *, lrs: Sequence[float], seeds: Sequence[int], device: str,
                         units: "Units | None" = None) -> dict[str, AutoencoderRuns]:
    """SGD, Adam and DANTE autoencoders; the rate of each chosen on the first seed by final
    training loss (no claim reads them; the classifiers' v2 protocol is not needed here)."""
    units = Units() if units is None else units
    seeds = list(seeds)
    first, loss, best = _ae_choice(data, setup, lrs=lrs, seed=seeds[0], device=device, units=units)
    rest = units.run([_ae_call(data, setup, m, best[m], s, device) for m in METHODS for s in seeds[1:]])
    out = {}
    for k, m in enumerate(METHODS):
        runs = [first[(m, best[m])]] + rest[k * (len(seeds) - 1):(k + 1) * (len(seeds) - 1)]
        out[m] = AutoencoderRuns(best[m], loss[m], {lr: [History.from_dict(first[(m, lr)]["history"])] for lr in lrs},
                                 [History.from_dict(r["history"]) for r in runs], recon=runs[0]["recon"], images=runs[0]["images"])
    return out


# --- sensitivity -----------------------------------------------------------------------------


def sensitivity_calls(data: DataSpec, setup: Training, *, lrs: Sequence[float], schedules: Sequence[str], seeds: Sequence[int],
                      device: str) -> list[tuple]:
    """The :func:`train_run` calls of :func:`sensitivity`, schedule by schedule, rate by rate, seed by seed."""
    return [(train_run, dict(data=data, setup=replace(setup, schedule=sched), method="DANTE", lr=lr, seed=s, device=device))
            for sched in schedules for lr in lrs for s in seeds]


def sensitivity(data: DataSpec, setup: Training, *, lrs: Sequence[float], schedules: Sequence[str], seeds: Sequence[int],
                device: str, units: "Units | None" = None) -> dict[str, dict[float, list[Run]]]:
    """DANTE on ``data`` for every step size of ``lrs`` and schedule of ``schedules``:
    schedule -> step size -> one :class:`Run` per seed."""
    units = Units() if units is None else units
    done = iter(units.run(sensitivity_calls(data, setup, lrs=lrs, schedules=schedules, seeds=seeds, device=device)))
    return {sched: {lr: [Run.of(next(done)) for _ in seeds] for lr in lrs} for sched in schedules}


def live_run(p: Params, *, step: float, schedule: str, activation: str) -> History:
    """The notebook's live widget: one DANTE network (32 units) on digits for 5 epochs
    (mini-batches of 32) on the CPU, with ``step`` and ``schedule``; cached."""
    setup = Training(widths=(32,), activation=activation, slope=p.slope, momentum=0.0, epochs=5, batch_size=32,
                     schedule=schedule, decay=p.decay, val_fraction=p.val_fraction)
    with threads(p.threads):
        r = train_run(data=subset("digits", None, p.max_train, p.max_test), setup=setup, method="DANTE", lr=step, seed=0, device="cpu")
    return History.from_dict(r["history"])


# --- reading the runs: claims 2.1 and 2.2 ----------------------------------------------------------


def _mean(a) -> float:
    a = np.asarray(a, dtype=float)
    return float(np.mean(a)) if a.size else math.nan


def backprop_choice(by_m: Mapping[str, MethodRuns], protocol: str = "v2") -> str:
    """The backprop method DANTE is compared with: of SGD and Adam at their ``protocol`` rates,
    the one with the higher mean final *validation* accuracy (the test set plays no part; on a
    tie, SGD)."""
    score = {m: _mean(by_m[m].accuracies(protocol, key="val")) for m in BACKPROP}
    score = {m: (-math.inf if math.isnan(v) else v) for m, v in score.items()}
    return max(BACKPROP, key=lambda m: score[m])


def paired_gaps(by_data: Mapping[str, Mapping[str, Mapping[str, MethodRuns]]], protocol: str = "v2",
                method: str = "DANTE") -> dict[tuple[str, str], dict[str, Any]]:
    r"""Per (data set, activation): the paired per-seed difference of final test accuracy,
    ``method`` minus the backprop method chosen on validation (:func:`backprop_choice`), in
    points: :math:`d_i = 100\,(a_i - b_i)`, :math:`\mathrm{SE} = s_d/\sqrt n` over the seeds
    both ran (they share the start and the order of the mini-batches). Each method at its
    ``protocol`` rate; the null (``method`` = :data:`NULL_METHOD`) at DANTE's ``"v2"`` rate,
    against the ``"v2"`` backprop runs. Also the means, the other backprop method's mean and
    the rates."""
    out = {}
    own = protocol if method == "DANTE" else "v2"
    for name, by_act in by_data.items():
        for act, by_m in by_act.items():
            best = backprop_choice(by_m, own)
            other = next(m for m in BACKPROP if m != best)
            a = by_m[method].accuracies(own) * 100
            b = by_m[best].accuracies(own) * 100
            n = min(len(a), len(b))
            d = paired_difference(a[:n], b[:n])
            out[(name, act)] = {"best": best, "other": other, "diff": d, method: _mean(a[:n]), "backprop": _mean(b[:n]),
                                "other acc": _mean(by_m[other].accuracies(own) * 100), "seeds": n,
                                "lr": by_m[method].chosen[own], "backprop lr": by_m[best].chosen[own]}
    return out


def accuracy_gaps_v1(by_data: Mapping[str, Mapping[str, Mapping[str, MethodRuns]]], seeds: int) -> dict[tuple[str, str], dict[str, float]]:
    """v1's gap per (data set, activation): DANTE's mean final test accuracy over the first
    ``seeds`` seeds minus the better of SGD's and Adam's means (each at its ``"v1"`` rate), in
    points (a diverged run at chance level)."""
    out = {}
    for name, by_act in by_data.items():
        for act, by_m in by_act.items():
            means = {m: _mean(by_m[m].accuracies("v1", seeds)) * 100 for m in METHODS}
            best = max(means["SGD"], means["Adam"])
            out[(name, act)] = {**means, "best backprop": best, "gap": means["DANTE"] - best}
    return out


def worst_gaps(gaps: Mapping[tuple[str, str], Mapping[str, Any]]) -> dict[str, float]:
    """Per activation, the smallest value over data sets: of the interval's lower end
    :math:`\\bar d - 2\\,\\mathrm{SE}` for :func:`paired_gaps`, of the gap for :func:`accuracy_gaps_v1`."""
    val = lambda g: float(g["diff"].lower) if "diff" in g else float(g["gap"])
    acts = list(dict.fromkeys(a for _, a in gaps))
    return {act: min(val(g) for (_, a), g in gaps.items() if a == act) for act in acts}


# --- reading the runs: claim 2.3 -------------------------------------------------------------------


def time_to_target(h: History, target: float, key: str = "val_acc") -> tuple[float, bool]:
    """v1's reading: training wall time (s) when the per-epoch ``key`` first reaches ``target``,
    linearly interpolated between the two epochs around the crossing; when it never does, the
    run's whole training time and ``False`` (a lower bound).

    >>> h = History([{"time": 0.0, "val_acc": 0.1}, {"time": 2.0, "val_acc": 0.5}, {"time": 4.0, "val_acc": 0.9}])
    >>> time_to_target(h, 0.7), time_to_target(h, 0.5), time_to_target(h, 0.95)
    ((3.0, True), (2.0, True), (4.0, False))
    """
    return first_reach(h[key], target, times=h["time"], interpolate=True)


def _ratio(a: float, b: float) -> float:
    """``a / b`` with ``x / inf = 0`` and ``x / 0 = inf`` (``0 / 0`` and ``inf / inf`` are NaN)."""
    if b == 0:
        return math.inf if a > 0 else math.nan
    if math.isinf(b):
        return 0.0 if math.isfinite(a) else math.nan
    return a / b


def speed_rows(by_depth: Mapping, timing: Mapping, fraction: float) -> list[dict]:
    r"""Claim 2.3, per configuration (depth, data set, activation):

    - the target, ``fraction`` x the best mean final validation accuracy of the three
      methods (every seed, ``"v2"`` rates);
    - each method's time to it in its timed runs (:func:`~.timing.reach`), the median over
      the repeats; a run that never reaches it gives its whole training time, a lower bound;
    - backprop's time, the faster of SGD and Adam; the ratio DANTE / backprop as an interval
      ``[ratio low, ratio high]``: a reached time is exact, an unreached one lies in
      :math:`[T_{\text{run}}, \infty)`, so the interval is a single point when all three
      reached the target;
    - the cost per mini-batch, DANTE's over SGD's (median over repeats): the per-epoch cost
      ratio;
    - ``cpu ratio``: the same time ratio on the processes' CPU clocks (a check of how much the
      machine's load moved the wall-clock ratio; NaN where a target was not reached);
    - the null (the untrained network, the start of every run): whether its validation
      accuracy already reaches the target (it then takes no time; else it never does,
      ``null ratio`` infinite).
    """
    rows = []
    for depth, by_data in by_depth.items():
        for name, by_act in by_data.items():
            for act, by_m in by_act.items():
                recs = timing[depth][name][act]
                best = max(_mean(by_m[m].accuracies("v2", key="val")) for m in METHODS)
                target = fraction * best
                row: dict[str, Any] = {"hidden layers": depth, "data": name, "activation": act, "target acc": target}
                lo, hi, miss = {}, {}, []
                for m in METHODS:
                    got = [reach(r, target) for r in recs[m]]
                    t = float(np.median([x for x, _ in got]))
                    ok = all(o for _, o in got)
                    row[f"{m} s"] = t
                    lo[m], hi[m] = (t, t) if ok else (t, math.inf)
                    if not ok:
                        miss.append(m)
                    row[f"{m} per batch ms"] = float(np.median([r["per_batch"] for r in recs[m]])) * 1e3
                bp = min(BACKPROP, key=lambda m: (hi[m], lo[m]))
                bp_lo, bp_hi = min(lo[m] for m in BACKPROP), min(hi[m] for m in BACKPROP)
                row["backprop"] = bp
                row["backprop s"] = bp_lo
                row["ratio low"], row["ratio high"] = _ratio(lo["DANTE"], bp_hi), _ratio(hi["DANTE"], bp_lo)
                row["ratio"] = row["ratio low"]
                per_repeat = [_ratio(reach(d, target)[0], min(reach(s, target)[0], reach(a, target)[0]))
                              for d, s, a in zip(recs["DANTE"], recs["SGD"], recs["Adam"])]
                row["ratio per repeat"] = per_repeat
                row["cost ratio"] = row["DANTE per batch ms"] / row["SGD per batch ms"]
                cpu = {m: float(np.median([reach(r, target, "cpu_time")[0] for r in recs[m]])) for m in METHODS}
                row["cpu ratio"] = (_ratio(cpu["DANTE"], min(cpu[m] for m in BACKPROP)) if not miss else math.nan)
                row["shortest run s"] = min(r["seconds"] for m in METHODS for r in recs[m])
                row["not reached by"] = ", ".join(miss)
                start = recs["DANTE"][0]["val_acc"][0]
                row["null ratio"] = 0.0 if start >= target else math.inf
                rows.append(row)
    return rows


def speed_ratios_v1(by_depth: Mapping, fraction: float, seeds: int) -> list[dict]:
    """v1's claim 2.3 from the per-epoch histories of the classifier runs at their ``"v1"``
    rates, first ``seeds`` seeds: per configuration the target ``fraction`` x the best mean
    final validation accuracy of the three methods, each method's median over seeds of the
    time to reach it (:func:`time_to_target`, per epoch), backprop's the faster of SGD and
    Adam, and the ratio DANTE / backprop."""
    rows = []
    for depth, by_data in by_depth.items():
        for name, by_act in by_data.items():
            for act, by_m in by_act.items():
                best = max(_mean(by_m[m].accuracies("v1", seeds, key="val")) for m in METHODS)
                target = fraction * best
                row = {"hidden layers": depth, "data": name, "activation": act, "target acc": target}
                censored = []
                for m in METHODS:
                    times = [time_to_target(r.history, target) for r in by_m[m].at("v1", seeds)]
                    row[f"{m} s"] = float(np.median([t for t, _ in times]))
                    if not all(ok for _, ok in times):
                        censored.append(m)
                bp = min(row["SGD s"], row["Adam s"])
                row["backprop s"] = bp
                row["ratio"] = row["DANTE s"] / bp if bp > 0 else math.inf
                row["not reached by"] = ", ".join(censored)
                rows.append(row)
    return rows


# --- reading the rest ------------------------------------------------------------------------------


def autoencoder_mse(ae: Mapping[str, AutoencoderRuns]) -> dict[str, list[float]]:
    """Per method, the final test reconstruction MSE of each seed."""
    return {m: [final(h, "test_loss") for h in r.runs] for m, r in ae.items()}


def autoencoder_means(ae: Mapping[str, AutoencoderRuns]) -> dict[str, float]:
    """Per method, the mean over seeds of the final test reconstruction MSE, and under
    ``"backprop"`` the better (lower) of SGD's and Adam's."""
    means = {m: float(np.mean(v)) for m, v in autoencoder_mse(ae).items()}
    return {**means, "backprop": min(means["SGD"], means["Adam"])}


def sensitivity_accuracy(sens: Mapping[str, Mapping[float, Sequence[Run]]]) -> np.ndarray:
    """Mean final validation accuracy, rows = schedules, columns = step sizes."""
    return np.array([[np.mean(final_accuracies(rs, key="val")) for rs in by_lr.values()] for by_lr in sens.values()])


def sensitivity_best(sens: Mapping[str, Mapping[float, Sequence[Run]]]) -> tuple[float, str, float]:
    """The best mean final validation accuracy of the sensitivity runs, its schedule and its step size."""
    table = sensitivity_accuracy(sens)
    i, j = np.unravel_index(np.nanargmax(table), table.shape)
    return float(table[i, j]), list(sens)[i], list(list(sens.values())[i])[j]


# --- the chapter -----------------------------------------------------------------------------


@dataclass
class Results:
    """What the DANTE chapter measured.

    Attributes:
        present, missing: the data sets of ``datasets`` found on this machine; why the others were not.
        n_fit, n_val: data set -> examples trained on, and held out for validation.
        step_norm: activation -> the largest relative error of a DANTE step's norm (:func:`step_norm_check`).
        one, two: one and two hidden layers - data set -> activation -> method -> :class:`MethodRuns`
            (the methods of :data:`METHODS` and the null, :data:`NULL_METHOD`).
        timing: depth -> data set -> activation -> method -> claim 2.3's timed runs (:func:`time_all`).
        subproblems: activation -> the :func:`subproblem` result.
        autoencoders: method -> :class:`AutoencoderRuns` (:func:`compare_autoencoders`).
        sensitivity: schedule -> step size -> runs (:func:`sensitivity`).
    """

    present: list[str]
    missing: dict[str, str]
    n_fit: dict[str, int]
    n_val: dict[str, int]
    step_norm: dict[str, float]
    one: dict[str, dict[str, dict[str, MethodRuns]]]
    two: dict[str, dict[str, dict[str, MethodRuns]]]
    timing: dict[str, dict]
    subproblems: dict[str, dict]
    autoencoders: dict[str, AutoencoderRuns]
    sensitivity: dict[str, dict[float, list[Run]]]

    @property
    def by_depth(self) -> dict[str, dict]:
        """``{"1": one, "2": two}``."""
        return {"1": self.one, "2": self.two}


def grids(p: Params) -> dict[str, tuple[float, ...]]:
    """Each method's learning-rate grid (claims 2.1-2.3, protocol ``"v2"``)."""
    return {"SGD": tuple(p.lrs_sgd), "Adam": tuple(p.lrs_adam), "DANTE": tuple(p.lrs_dante)}


def run(p: Params) -> Results:
    """Every experiment of the chapter, from the cache when warm: first, in one batch of
    ``workers`` processes, the classifiers' selection runs, the sub-problems, the autoencoders'
    grid and the sensitivity runs; then every seed at the chosen rates and the null; last,
    claim 2.3's timed runs.

    Raises:
        RuntimeError: none of the data sets of ``datasets`` is on this machine.
    """
    device = str(resolve_device(p.device))
    present, missing = available(p.datasets, p.data_root)
    if not present:
        raise RuntimeError("none of the data sets in `datasets` is on this machine")
    units = Units(p.workers)
    with threads(p.threads):
        step_norm = step_norm_check(list(dict.fromkeys([*p.activations, "relu"])), lr=0.1, slope=p.slope)
        specs = {name: subset(name, p.data_root, p.max_train, p.max_test) for name in present}
        base = Training(widths=(p.width,), activation=p.activations[0], slope=p.slope, momentum=p.sgd_momentum,
                        epochs=p.epochs, batch_size=p.batch_size, schedule=p.dante_schedule, decay=p.decay,
                        val_fraction=p.val_fraction)
        cs = cells(specs, base, activations=p.activations, deep_widths=p.deep_widths)
        sub_setup = Subproblem(width=p.sub_width, slope=p.slope, base_epochs=p.sub_base_epochs, lr=p.sub_lr, sub_epochs=p.sub_epochs,
                               n_solutions=p.sub_solutions, batch_size=p.batch_size, radii=tuple(p.sub_radii),
                               n_segments=p.sub_segments, grid=p.sub_grid, seed=p.seeds[0])
        sub_data = subset(p.sub_dataset, p.data_root, p.sub_points, 50)
        sub_calls = [(subproblem, dict(data=sub_data, setup=sub_setup, activation=act)) for act in p.sub_activations]
        ae_setup = Autoencoder(widths=tuple(p.ae_widths), activation=p.ae_activation, slope=p.slope, momentum=p.sgd_momentum,
                               pretrain_epochs=p.ae_pretrain_epochs, finetune_epochs=p.ae_finetune_epochs, batch_size=p.batch_size)
        ae_data = subset(p.ae_dataset, p.data_root, p.ae_max_train, p.max_test)
        ae_calls = [(autoencoder_run, dict(data=ae_data, setup=ae_setup, method=m, lr=lr, seed=p.ae_seeds[0], device=device))
                    for m in METHODS for lr in p.ae_lrs]
        sens_data, sens_setup = subset(p.sens_dataset, p.data_root, p.max_train, p.max_test), replace(base, activation=p.sens_activation)
        sens = dict(lrs=p.sens_lrs, schedules=p.sens_schedules, seeds=p.sens_seeds, device=device)
        units.run(grid_calls(cs, grids(p), p.v1_lrs, p.seeds, p.select_seeds, device) + sub_calls + ae_calls
                  + sensitivity_calls(sens_data, sens_setup, **sens))
        ae_rest = autoencoder_seed_calls(ae_data, ae_setup, lrs=p.ae_lrs, seeds=p.ae_seeds, device=device, units=units)
        by_depth = compare_all(cs, grids(p), v1_lrs=p.v1_lrs, seeds=p.seeds, select_seeds=p.select_seeds, v1_seeds=p.v1_seeds,
                               device=device, units=units, also=ae_rest)
        subs = dict(zip(p.sub_activations, units.run(sub_calls)))
        ae = compare_autoencoders(ae_data, ae_setup, lrs=p.ae_lrs, seeds=p.ae_seeds, device=device, units=units)
        sensitivity_runs = sensitivity(sens_data, sens_setup, **sens, units=units)
        timing = time_all(cs, by_depth, Timing(p.eval_every, p.speed_min_seconds, p.speed_max_epochs, p.timing_session),
                          seed=p.seeds[0], repeats=p.speed_repeats, device=device, workers=p.timing_workers)
    sizes = {name: split_validation(specs[name].load().train, p.val_fraction) for name in present}
    n_fit = {name: len(s[0][1]) for name, s in sizes.items()}
    n_val = {name: len(s[1][1]) for name, s in sizes.items()}
    return Results(present, missing, n_fit, n_val, step_norm, by_depth["1"], by_depth["2"], timing, subs, ae, sensitivity_runs)
