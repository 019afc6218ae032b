"""The DANTE chapter's experiments (``book/dante.ipynb``), each piece cached by what changes it.

- :func:`train_run`: one MLP classifier (one or two hidden layers) trained by
  SGD, Adam or DANTE (:class:`landscape.methods.dante.DANTE`); :func:`compare`
  runs the learning-rate grid on the first seeds, picks each method's rate by
  final *training* loss and runs the other seeds at it. Its history holds the
  training wall time that claim 2.3 reads, so the device is part of its key.
- :func:`subproblem`: one layer's problem with the other layer fixed - the
  loss along segments between solutions, near one solution, and on the plane
  through three solutions (quasi-convexity, measured).
- :func:`autoencoder_run`: a stacked autoencoder, DANTE (greedy stages, then
  fine-tuning, :func:`landscape.methods.dante.greedy_autoencoder`) against SGD
  and Adam end to end; :func:`compare_autoencoders`.
- :func:`sensitivity`: DANTE over step sizes and alternation schedules
  (:func:`train_run` calls).

:func:`run` does all of it for the parameters of the chapter's schema
(``landscape/chapters/dante/schema.py``) and returns :class:`Results`. The
decision quantities of the claims are :func:`accuracy_gaps` and
:func:`speed_ratios` (its target is the schema's ``speed_fraction``).
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ...experiment.cache import cached
from ...experiment.params import Params
from ...methods.dante import DANTE, greedy_autoencoder
from ...training import models
from ...training.curves import first_reach
from ...training.data import DataSpec, available
from ...training.loop import History, fit, resolve_device, threads

__all__ = [
    "METHODS", "SCHEDULES", "Training", "Subproblem", "Autoencoder", "MethodRuns", "Results", "run",
    "subset", "schedule_options", "train_run", "compare", "step_norm_check", "subproblem", "segment_excess",
    "autoencoder_run", "compare_autoencoders", "sensitivity", "live_run",
    "final", "final_accuracies", "final_train_loss", "accuracy_gaps", "worst_gaps", "epoch_cost", "time_to_target",
    "speed_ratios", "autoencoder_mse", "autoencoder_means", "sensitivity_accuracy", "sensitivity_best",
]

METHODS = ("SGD", "Adam", "DANTE")
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
    """

    widths: tuple[int, ...]
    activation: str
    slope: float
    momentum: float
    epochs: int
    batch_size: int
    schedule: str = "batch"
    decay: float = 100.0


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


@cached("dante/train", version=2, ignore=())
def train_run(*, data: DataSpec, setup: Training, method: str, lr: float, seed: int, device: str) -> dict:
    """Train one MLP classifier with ``method`` (SGD, Adam or DANTE) and return its
    history (a dict; ``time`` is the cumulative training time in seconds, which
    claim 2.3 reads: the device stays in the key) and, for DANTE, the largest
    relative deviation of a taken step's norm from :math:`\\eta_t`."""
    if method not in METHODS:
        raise ValueError(f"Invalid method: {method!r} (choose from {', '.join(METHODS)})")
    ds = data.load(device)
    model = models.build("mlp", in_features=int(np.prod(ds.input_shape)), widths=list(setup.widths), out_features=ds.num_classes,
                         activation=setup.activation, slope=setup.slope, seed=seed, device=device)
    out: dict[str, Any] = {}
    if method == "DANTE":
        steps = math.ceil(len(ds.train[1]) / setup.batch_size)
        trainer = DANTE(model, lr=lr, steps_per_epoch=steps, **schedule_options(setup.schedule, setup.decay))
        hist = fit(model, ds.train, test=ds.test, epochs=setup.epochs, batch_size=setup.batch_size, step=trainer,
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
        opt = (torch.optim.SGD(model.parameters(), lr=lr, momentum=setup.momentum) if method == "SGD"
               else torch.optim.Adam(model.parameters(), lr=lr))
        hist = fit(model, ds.train, test=ds.test, epochs=setup.epochs, optimizer=opt, batch_size=setup.batch_size,
                   seed=seed, device=device, progress=False)
    out["history"] = hist.to_dict()
    return out


@dataclass
class MethodRuns:
    """One method on one configuration (or one autoencoder method).

    Attributes:
        best_lr: the rate chosen by the lowest mean final training loss on the first seeds.
        train_loss: rate -> that mean final training loss.
        grid: rate -> the histories of the first seeds at that rate.
        runs: one history per seed at ``best_lr``.
        num_classes: classes of the data (a diverged run counts at chance, 1 / num_classes).
        extra: per seed, what the run recorded besides its history (DANTE's step-norm check).
        recon, images: autoencoders only - the first seed's test reconstructions and the images.
    """

    best_lr: float
    train_loss: dict[float, float]
    grid: dict[float, list[History]]
    runs: list[History]
    num_classes: int = 10
    extra: list[dict] = field(default_factory=list)
    recon: torch.Tensor | None = None
    images: torch.Tensor | None = None


def compare(data: Mapping[str, DataSpec], setup: Training, *, activations: Sequence[str], lrs: Sequence[float],
            seeds: Sequence[int], select_seeds: int, device: str) -> dict[str, dict[str, dict[str, MethodRuns]]]:
    """SGD, Adam and DANTE on each data set of ``data`` and each activation
    (``setup`` with that activation): for each method every rate of ``lrs`` runs on
    the first ``select_seeds`` seeds; the rate with the lowest mean final training
    loss is kept, and the other seeds run at it. Returns data set -> activation ->
    method -> :class:`MethodRuns`."""
    seeds = list(seeds)
    chosen = seeds[:select_seeds]
    out: dict = {}
    for name, spec in data.items():
        out[name] = {}
        num_classes = spec.load().num_classes
        for act in activations:
            out[name][act] = {}
            s = replace(setup, activation=act)
            for method in METHODS:
                raw = {lr: [train_run(data=spec, setup=s, method=method, lr=lr, seed=k, device=device) for k in chosen] for lr in lrs}
                grid = {lr: [History.from_dict(r["history"]) for r in rs] for lr, rs in raw.items()}
                loss = {lr: float(np.mean([final_train_loss(h) for h in hs])) for lr, hs in grid.items()}
                best = min(loss, key=loss.get)
                runs = list(raw[best]) + [train_run(data=spec, setup=s, method=method, lr=best, seed=k, device=device)
                                          for k in seeds[len(chosen):]]
                out[name][act][method] = MethodRuns(best, loss, grid, [History.from_dict(r["history"]) for r in runs], num_classes,
                                                    [{k: v for k, v in r.items() if k != "history"} for r in runs])
    return out


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


def compare_autoencoders(data: DataSpec, setup: Autoencoder, *, lrs: Sequence[float], seeds: Sequence[int],
                         device: str) -> dict[str, MethodRuns]:
    """SGD, Adam and DANTE autoencoders; the rate of each chosen on the first
    seed by final training loss (the same rule as the classifiers)."""
    seeds = list(seeds)
    out = {}
    for method in METHODS:
        grid = {lr: autoencoder_run(data=data, setup=setup, method=method, lr=lr, seed=seeds[0], device=device) for lr in lrs}
        loss = {lr: final_train_loss(History.from_dict(r["history"])) for lr, r in grid.items()}
        best = min(loss, key=loss.get)
        runs = [grid[best]] + [autoencoder_run(data=data, setup=setup, method=method, lr=best, seed=s, device=device) for s in seeds[1:]]
        out[method] = MethodRuns(best, loss, {lr: [History.from_dict(r["history"])] for lr, r in grid.items()},
                                 [History.from_dict(r["history"]) for r in runs], recon=runs[0]["recon"], images=runs[0]["images"])
    return out


# --- sensitivity -----------------------------------------------------------------------------


def sensitivity(data: DataSpec, setup: Training, *, lrs: Sequence[float], schedules: Sequence[str], seeds: Sequence[int],
                device: str) -> dict[str, dict[float, list[History]]]:
    """DANTE on ``data`` for every step size of ``lrs`` and schedule of ``schedules``:
    schedule -> step size -> one history per seed."""
    return {sched: {lr: [History.from_dict(train_run(data=data, setup=replace(setup, schedule=sched), method="DANTE", lr=lr,
                                                      seed=s, device=device)["history"]) for s in seeds]
                    for lr in lrs} for sched in schedules}


def live_run(p: Params, *, step: float, schedule: str, activation: str) -> History:
    """The notebook's live widget: one DANTE network (32 units) on digits for 5 epochs
    (mini-batches of 32) on the CPU, with ``step`` and ``schedule``; cached."""
    setup = Training(widths=(32,), activation=activation, slope=p.slope, momentum=0.0, epochs=5, batch_size=32,
                     schedule=schedule, decay=p.decay)
    with threads(p.threads):
        r = train_run(data=subset("digits", None, p.max_train, p.max_test), setup=setup, method="DANTE", lr=step, seed=0, device="cpu")
    return History.from_dict(r["history"])


# --- reading the runs ------------------------------------------------------------------------


def final(h: History, key: str = "test_acc") -> float:
    """The last value of ``key`` (NaN for a diverged run or a missing column)."""
    if h.diverged or key not in h.last:
        return math.nan
    return float(h.last[key])


def final_accuracies(runs: Sequence[History], num_classes: int = 10, key: str = "test_acc") -> np.ndarray:
    """Final test accuracy of each run; a run that diverged counts at chance level,
    ``1 / num_classes`` (its weights are no longer finite), so divergence is never averaged away.

    >>> final_accuracies([History([{"test_acc": 0.9}]), History([{"test_acc": 0.8}], diverged=True)]).tolist()
    [0.9, 0.1]
    """
    chance = 1.0 / num_classes
    return np.array([chance if h.diverged else final(h, key) for h in runs])


def final_train_loss(h: History) -> float:
    """The final full-training-set loss; ``inf`` for a diverged run (so it is never chosen)."""
    v = final(h, "train_eval_loss")
    return math.inf if not math.isfinite(v) else v


def accuracy_gaps(by_data: Mapping[str, Mapping[str, Mapping[str, MethodRuns]]]) -> dict[tuple[str, str], dict[str, float]]:
    """Per (data set, activation): DANTE's mean final test accuracy minus the
    best of SGD's and Adam's, in percentage points (with the three means;
    :func:`final_accuracies`: a diverged run counts at chance level)."""
    out = {}
    for name, by_act in by_data.items():
        for act, by_m in by_act.items():
            means = {m: float(np.mean(final_accuracies(by_m[m].runs, by_m[m].num_classes))) * 100 for m in METHODS}
            best = max(means["SGD"], means["Adam"])
            out[(name, act)] = {**means, "best backprop": best, "gap": means["DANTE"] - best}
    return out


def worst_gaps(gaps: Mapping[tuple[str, str], Mapping[str, float]]) -> dict[str, float]:
    """Per activation, the smallest gap over data sets (:func:`accuracy_gaps`)."""
    acts = list(dict.fromkeys(a for _, a in gaps))
    return {act: min(g["gap"] for (_, a), g in gaps.items() if a == act) for act in acts}


def epoch_cost(by_data: Mapping[str, Mapping[str, Mapping[str, MethodRuns]]], method: str = "DANTE", baseline: str = "SGD") -> float:
    """Mean training time of ``method``'s runs over that of ``baseline``'s
    (same epochs and mini-batches): what one epoch of it costs, relatively."""
    ratios = []
    for by_act in by_data.values():
        for by_m in by_act.values():
            a = np.mean([h["time"][-1] for h in by_m[method].runs])
            b = np.mean([h["time"][-1] for h in by_m[baseline].runs])
            ratios.append(a / b)
    return float(np.mean(ratios))


def time_to_target(h: History, target: float, key: str = "test_acc") -> tuple[float, bool]:
    """Training wall time (s) when ``key`` first reaches ``target``, linearly
    interpolated between the two epochs around the crossing; when it never
    does, the run's whole training time and ``False`` (a lower bound).

    >>> h = History([{"time": 0.0, "test_acc": 0.1}, {"time": 2.0, "test_acc": 0.5}, {"time": 4.0, "test_acc": 0.9}])
    >>> time_to_target(h, 0.7), time_to_target(h, 0.5), time_to_target(h, 0.95)
    ((3.0, True), (2.0, True), (4.0, False))
    """
    return first_reach(h[key], target, times=h["time"], interpolate=True)


def speed_ratios(by_depth: Mapping[str, Mapping[str, Mapping[str, Mapping[str, MethodRuns]]]], fraction: float) -> list[dict]:
    """For every configuration (depth, data set, activation): the target
    ``fraction`` x the best mean final test accuracy of the three methods;
    each method's median over seeds of the time to reach it; backprop's time
    is the faster of SGD and Adam; the ratio DANTE / backprop."""
    rows = []
    for depth, by_data in by_depth.items():
        for name, by_act in by_data.items():
            for act, by_m in by_act.items():
                best = max(float(np.mean(final_accuracies(by_m[m].runs, by_m[m].num_classes))) for m in METHODS)
                target = fraction * best
                row = {"hidden layers": depth, "data": name, "activation": act, "target acc": target}
                censored = []
                for m in METHODS:
                    times = [time_to_target(h, target) for h in by_m[m].runs]
                    row[f"{m} s"] = float(np.median([t for t, _ in times]))
                    if not all(ok for _, ok in times):
                        censored.append(m)
                bp = min(row["SGD s"], row["Adam s"])
                row["backprop s"] = bp
                row["ratio"] = row["DANTE s"] / bp if bp > 0 else math.inf
                row["not reached by"] = ", ".join(censored)
                rows.append(row)
    return rows


def autoencoder_mse(ae: Mapping[str, MethodRuns]) -> dict[str, list[float]]:
    """Per method, the final test reconstruction MSE of each seed."""
    return {m: [final(h, "test_loss") for h in r.runs] for m, r in ae.items()}


def autoencoder_means(ae: Mapping[str, MethodRuns]) -> dict[str, float]:
    """Per method, the mean over seeds of the final test reconstruction MSE, and under
    ``"backprop"`` the better (lower) of SGD's and Adam's."""
    means = {m: float(np.mean(v)) for m, v in autoencoder_mse(ae).items()}
    return {**means, "backprop": min(means["SGD"], means["Adam"])}


def sensitivity_accuracy(sens: Mapping[str, Mapping[float, Sequence[History]]]) -> np.ndarray:
    """Mean final test accuracy, rows = schedules, columns = step sizes."""
    return np.array([[np.mean(final_accuracies(hs)) for hs in by_lr.values()] for by_lr in sens.values()])


def sensitivity_best(sens: Mapping[str, Mapping[float, Sequence[History]]]) -> tuple[float, str, float]:
    """The best mean final test accuracy of the sensitivity runs, its schedule and its step size."""
    table = sensitivity_accuracy(sens)
    i, j = np.unravel_index(np.nanargmax(table), table.shape)
    return float(table[i, j]), list(sens)[i], list(list(sens.values())[i])[j]


# --- the chapter -----------------------------------------------------------------------------


@dataclass
class Results:
    """What the DANTE chapter measured.

    Attributes:
        present, missing: the data sets of ``datasets`` found on this machine; why the others were not.
        n_train: data set -> training examples used.
        step_norm: activation -> the largest relative error of a DANTE step's norm (:func:`step_norm_check`).
        one, two: one and two hidden layers - data set -> activation -> method -> :class:`MethodRuns`.
        subproblems: activation -> the :func:`subproblem` result.
        autoencoders: method -> :class:`MethodRuns` (:func:`compare_autoencoders`).
        sensitivity: schedule -> step size -> histories (:func:`sensitivity`).
    """

    present: list[str]
    missing: dict[str, str]
    n_train: dict[str, int]
    step_norm: dict[str, float]
    one: dict[str, dict[str, dict[str, MethodRuns]]]
    two: dict[str, dict[str, dict[str, MethodRuns]]]
    subproblems: dict[str, dict]
    autoencoders: dict[str, MethodRuns]
    sensitivity: dict[str, dict[float, list[History]]]

    @property
    def gaps_one(self) -> dict[tuple[str, str], dict[str, float]]:
        """:func:`accuracy_gaps` with one hidden layer."""
        return accuracy_gaps(self.one)

    @property
    def gaps_two(self) -> dict[tuple[str, str], dict[str, float]]:
        """:func:`accuracy_gaps` with two hidden layers."""
        return accuracy_gaps(self.two)

    @property
    def by_depth(self) -> dict[str, dict]:
        """``{"1": one, "2": two}``."""
        return {"1": self.one, "2": self.two}


def run(p: Params) -> Results:
    """Every experiment of the chapter, from the cache when warm.

    Raises:
        RuntimeError: none of the data sets of ``datasets`` is on this machine.
    """
    device = str(resolve_device(p.device))
    present, missing = available(p.datasets, p.data_root)
    if not present:
        raise RuntimeError("none of the data sets in `datasets` is on this machine")
    with threads(p.threads):
        step_norm = step_norm_check(list(dict.fromkeys([*p.activations, "relu"])), lr=0.1, slope=p.slope)
        specs = {name: subset(name, p.data_root, p.max_train, p.max_test) for name in present}
        base = Training(widths=(p.width,), activation=p.activations[0], slope=p.slope, momentum=p.sgd_momentum,
                        epochs=p.epochs, batch_size=p.batch_size, schedule=p.dante_schedule, decay=p.decay)
        grid = dict(activations=p.activations, lrs=p.lrs, seeds=p.seeds, select_seeds=p.select_seeds, device=device)
        one = compare(specs, base, **grid)
        sub_setup = Subproblem(width=p.sub_width, slope=p.slope, base_epochs=p.sub_base_epochs, lr=p.sub_lr, sub_epochs=p.sub_epochs,
                               n_solutions=p.sub_solutions, batch_size=p.batch_size, radii=tuple(p.sub_radii),
                               n_segments=p.sub_segments, grid=p.sub_grid, seed=p.seeds[0])
        sub_data = subset(p.sub_dataset, p.data_root, p.sub_points, 50)
        subs = {act: subproblem(data=sub_data, setup=sub_setup, activation=act) for act in p.sub_activations}
        two = compare(specs, replace(base, widths=tuple(p.deep_widths)), **grid)
        ae_setup = Autoencoder(widths=tuple(p.ae_widths), activation=p.ae_activation, slope=p.slope, momentum=p.sgd_momentum,
                               pretrain_epochs=p.ae_pretrain_epochs, finetune_epochs=p.ae_finetune_epochs, batch_size=p.batch_size)
        ae = compare_autoencoders(subset(p.ae_dataset, p.data_root, p.ae_max_train, p.max_test), ae_setup, lrs=p.lrs,
                                  seeds=p.ae_seeds, device=device)
        sens = sensitivity(subset(p.sens_dataset, p.data_root, p.max_train, p.max_test), replace(base, activation=p.sens_activation),
                           lrs=p.sens_lrs, schedules=p.sens_schedules, seeds=p.sens_seeds, device=device)
    n_train = {name: len(spec.load().train[1]) for name, spec in specs.items()}
    return Results(present, missing, n_train, step_norm, one, two, subs, ae, sens)
