r"""The ADINE chapter's experiments (``book/adine.ipynb``), cached.

- **Saddles** (section 1): :func:`saddle_escape` runs constant-momentum descent
  (:func:`landscape.methods.adine.momentum_descent`) for every momentum of a
  grid from the same starting points (:func:`start_points`) on every toy
  saddle, and the library's :class:`~landscape.methods.adine.ADINE` from the
  same points (:func:`adine_2d`); :func:`escape_summary` reads the escape steps.
- **Why adaptive** (section 2): :func:`quadratic_run`, constant momentum on a
  convex quadratic (with :func:`~landscape.methods.adine.momentum_step`).
- **Training curves** (section 3): :func:`train_run` (one optimizer, one
  learning rate, one seed), :func:`tune` (each method's learning rate from its
  grid, the same budget for every method), :func:`run_training` (every
  setting, method and seed); then :func:`speed_table` and
  :func:`accuracy_table`, the measurements of claims 4.3 and 4.4.
- **Sensitivity** (section 4): :func:`sensitivity` (final training loss over a
  grid of :math:`m_g` and tolerance).

:func:`run` does all of it and returns the :class:`Results`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ...experiment.cache import cached
from ...experiment.params import Params
from ...methods.adine import ADINE, momentum_descent, momentum_step, spectral_radius
from ...training import models
from ...training.curves import first_reach, trailing_mean
from ...training.data import Dataset, DataSpec, available
from ...training.loop import backprop_step, fit, resolve_device, threads
from ...training.synthetic import toy_function, toy_gradient
from .schema import parse_setting

__all__ = ["METHODS", "LABELS", "Switch", "SaddleSetup", "Setting", "Optim", "Results", "run", "start_points", "adine_2d",
           "saddle_escape", "escape_summary", "quadratic_run", "make_optimizer", "train_run", "final_loss", "steps_to",
           "tune", "run_training", "speed_table", "equal_lr_speed", "accuracy_table", "final_acc", "fraction_at_mg",
           "sensitivity"]

#: the optimizers compared in section 3, in the order of the figures
METHODS = ("sgd", "momentum", "nesterov", "adam", "adine")
LABELS = {"sgd": "SGD", "momentum": "SGD + momentum", "nesterov": "Nesterov", "adam": "Adam", "adine": "ADINE"}


@dataclass(frozen=True)
class Switch:
    """ADINE's switching rule: :math:`m_s`, :math:`m_g`, the tolerance and the weight of the loss average."""

    m_s: float
    m_g: float
    tolerance: float
    weight: float


# ---------------------------------------------------------------------------
# 1. saddles: constant momentum in 2-D


@dataclass(frozen=True)
class SaddleSetup:
    """The saddle-escape experiment: which saddles and momenta, the update, the
    starting points (``starts`` random directions at distance ``eps``, seeded by
    ``seed``) and when a run counts as escaped."""

    functions: tuple[str, ...]
    momenta: tuple[float, ...]
    method: str
    lr: float
    eps: float
    starts: int
    seed: int
    max_steps: int
    escape_by: str
    escape_at: float


def start_points(eps: float, n: int, seed: int) -> np.ndarray:
    """``n`` points at distance ``eps`` from the origin, in seeded uniformly random directions, ``(n, 2)``.

    Example:
        >>> np.linalg.norm(start_points(0.01, 3, 0), axis=1).round(6).tolist()
        [0.01, 0.01, 0.01]
    """
    angles = np.random.default_rng(seed).uniform(0.0, 2 * np.pi, n)
    return eps * np.stack([np.cos(angles), np.sin(angles)], 1)


def adine_2d(
    fn: Callable[[torch.Tensor], torch.Tensor] | str,
    start: Sequence[float],
    *,
    lr: float,
    m_s: float,
    m_g: float,
    tolerance: float,
    weight: float,
    max_steps: int,
    escape_by: str = "loss",
    escape_at: float = 1.0,
) -> dict[str, Any]:
    """The library's :class:`~landscape.methods.adine.ADINE` on one 2-D point, until it escapes
    (the criterion of :func:`~landscape.methods.adine.momentum_descent`).

    Returns:
        dict with ``steps`` (escape step or -1), ``path`` (``(T + 1, 2)``)
        and ``momenta`` (the :math:`m_t` it used, ``T``).
    """
    fn = toy_function(fn) if isinstance(fn, str) else fn
    w = torch.nn.Parameter(torch.tensor(np.asarray(start, dtype=np.float64)))
    f0 = float(fn(w.detach()))
    opt = ADINE([w], lr=lr, m_s=m_s, m_g=m_g, tolerance=tolerance, weight=weight)

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = fn(w)
        loss.backward()
        return loss

    path, steps = [w.detach().clone()], -1
    for t in range(1, max_steps + 1):
        opt.step(closure)
        q = w.detach().clone()
        path.append(q)
        if not bool(torch.isfinite(q).all()):
            break
        if (float(fn(q)) <= f0 - escape_at) if escape_by == "loss" else (float(q.norm()) >= escape_at):
            steps = t
            break
    return {"steps": steps, "path": torch.stack(path).numpy(), "momenta": opt.momentum_history().numpy()}


@cached("adine/saddle_escape", version=2)
def saddle_escape(*, setup: SaddleSetup, switch: Switch) -> dict:
    """Escape steps of constant momentum (every momentum x every start) and of
    ADINE (every start) on each toy saddle; the trajectories from the first start.

    Returns:
        dict with ``starts`` (``(starts, 2)``) and, per saddle, ``steps`` and
        ``diverged`` (``(len(momenta), starts)``), ``paths`` (one per momentum,
        from the first start), ``adine_steps`` (per start), ``adine_path`` and
        ``adine_momenta`` (from the first start).
    """
    s = setup
    pts = start_points(s.eps, s.starts, s.seed)
    out: dict[str, Any] = {"starts": pts}
    for name in s.functions:
        fn = toy_function(name)
        rows_m = np.repeat(np.asarray(s.momenta, dtype=np.float64), s.starts)
        rows_p = np.tile(pts, (len(s.momenta), 1))
        res = momentum_descent(fn, toy_gradient(name), rows_p, rows_m, lr=s.lr, max_steps=s.max_steps,
                               nesterov=s.method == "nesterov", escape_by=s.escape_by, escape_at=s.escape_at,
                               record=[i * s.starts for i in range(len(s.momenta))])
        ad = [adine_2d(fn, x, lr=s.lr, m_s=switch.m_s, m_g=switch.m_g, tolerance=switch.tolerance, weight=switch.weight,
                       max_steps=s.max_steps, escape_by=s.escape_by, escape_at=s.escape_at) for x in pts]
        out[name] = {
            "steps": res["steps"].reshape(len(s.momenta), s.starts),
            "diverged": res["diverged"].reshape(len(s.momenta), s.starts),
            "paths": res["paths"],
            "adine_steps": np.array([a["steps"] for a in ad]),
            "adine_path": ad[0]["path"],
            "adine_momenta": ad[0]["momenta"],
        }
    return out


def escape_summary(esc: dict, momenta: Sequence[float], max_steps: int) -> dict[str, dict[str, Any]]:
    r"""Per saddle: the median escape step over starts for each :math:`m`
    (a run that did not escape counts as ``max_steps + 1``, a lower bound, and
    the median is flagged censored when it is one), the best :math:`m < 1`
    and :math:`m \ge 1` (each ``(m, median, censored)``), and their ratio
    (NaN when both are censored)."""
    momenta = np.asarray(momenta, dtype=float)
    out = {}
    for name, r in esc.items():
        if name == "starts":
            continue
        s = np.where(r["steps"] > 0, r["steps"], max_steps + 1).astype(float)
        med = np.median(s, axis=1)
        censored = med > max_steps
        lo, hi = momenta < 1, momenta >= 1
        i_lo = np.flatnonzero(lo)[np.argmin(med[lo])]
        i_hi = np.flatnonzero(hi)[np.argmin(med[hi])]
        ratio = med[i_hi] / med[i_lo]
        if censored[i_hi] and censored[i_lo]:
            ratio = math.nan
        a = np.where(r["adine_steps"] > 0, r["adine_steps"], max_steps + 1).astype(float)
        out[name] = {"median": med, "censored": censored, "best_below": (float(momenta[i_lo]), float(med[i_lo]), bool(censored[i_lo])),
                     "best_above": (float(momenta[i_hi]), float(med[i_hi]), bool(censored[i_hi])), "ratio": float(ratio),
                     "adine_median": float(np.median(a)), "adine_censored": bool(np.median(a) > max_steps)}
    return out


# ---------------------------------------------------------------------------
# 2. why adaptive: constant m > 1 on a convex quadratic


def quadratic_run(curvatures: Sequence[float], momenta: Sequence[float], *, lr: float, steps: int, method: str = "nesterov",
                  start: float = 1.0) -> dict[str, np.ndarray]:
    r"""Constant-momentum descent on :math:`f(x) = \tfrac12 \sum_i h_i x_i^2`
    from :math:`x_0 = (1, \dots, 1) \cdot` ``start``, one run per momentum,
    with :func:`~landscape.methods.adine.momentum_step` (the update of
    :func:`~landscape.methods.adine.momentum_descent`).

    Returns:
        dict with ``log10_norm`` (``(len(momenta), steps + 1)``, :math:`\log_{10}
        \|x_t\| / \|x_0\|`, computed with a rescaling that never overflows),
        ``rate`` (the measured growth factor per step: 10 to the least-squares
        slope of the log-norm over the second half of the run) and ``rho`` (the
        largest spectral radius over the curvatures, from
        :func:`~landscape.methods.adine.spectral_radius`).
    """
    h = torch.tensor(list(curvatures), dtype=torch.float64)
    out = np.zeros((len(momenta), steps + 1))
    for i, m in enumerate(momenta):
        # the iteration is linear in (p, buffer): rescale both whenever the norm
        # grows large, and keep the log of the scale aside
        p = torch.full_like(h, float(start))
        buffers: list[torch.Tensor | None] = [None]
        n0 = float(p.norm())
        log_scale = 0.0
        for t in range(1, steps + 1):
            momentum_step([p], [h * p], buffers, momentum=m, lr=lr, nesterov=method == "nesterov")
            n = float(p.norm())
            if n > 1e100 or (0 < n < 1e-100):
                p.div_(n)
                buffers[0].div_(n)
                log_scale += math.log10(n)
                n = 1.0
            out[i, t] = log_scale + (math.log10(n) if n > 0 else -math.inf) - math.log10(n0)
    half = steps // 2
    t = np.arange(half, steps + 1)
    rate = 10 ** np.polyfit(t, out[:, half:].T, 1)[0]  # least-squares slope: robust to the oscillation of complex roots
    rho = np.array([max(spectral_radius(m, lr * hi, method) for hi in curvatures) for m in momenta])
    return {"log10_norm": out, "rate": rate, "rho": rho}


# ---------------------------------------------------------------------------
# 3. training curves


@dataclass(frozen=True)
class Setting:
    """One 'model:dataset' setting as trained: the network, its data and the schedule."""

    name: str
    model: str
    data: DataSpec
    widths: tuple[int, ...]
    epochs: int
    batch_size: int


@dataclass(frozen=True)
class Optim:
    """One optimizer of :data:`METHODS` with its hyper-parameters (``momentum``: the
    baselines'; ``switch``: ADINE's)."""

    method: str
    lr: float
    momentum: float
    switch: Switch


def _model(model: str, ds: Dataset, widths: Sequence[int], seed: int) -> torch.nn.Module:
    c, h, _ = ds.input_shape
    if model == "mlp":
        return models.build("mlp", in_features=int(np.prod(ds.input_shape)), widths=list(widths), out_features=ds.num_classes, seed=seed)
    return models.build("lenet5", in_channels=c, num_classes=ds.num_classes, input_size=h, seed=seed)


def make_optimizer(optim: Optim, params) -> torch.optim.Optimizer:
    """The optimizer ``optim.method`` (see :data:`METHODS`) on ``params``."""
    method, lr, sw = optim.method, optim.lr, optim.switch
    if method == "sgd":
        return torch.optim.SGD(params, lr=lr)
    if method == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=optim.momentum)
    if method == "nesterov":
        return torch.optim.SGD(params, lr=lr, momentum=optim.momentum, nesterov=True)
    if method == "adam":
        return torch.optim.Adam(params, lr=lr)
    if method == "adine":
        return ADINE(params, lr=lr, m_s=sw.m_s, m_g=sw.m_g, tolerance=sw.tolerance, weight=sw.weight)
    raise ValueError(f"Invalid method: {method!r} (choose from {', '.join(METHODS)})")


@cached("adine/train_run", version=2, ignore=("device",))
def train_run(*, setting: Setting, optim: Optim, seed: int, device: str) -> dict:
    """One training run through the shared loop (:func:`landscape.training.loop.fit`,
    whose default step calls ``optimizer.step(closure)``): every mini-batch loss,
    the per-epoch history (test loss and accuracy) and, for ADINE, the momentum
    it used at each step. Cached by everything but the device."""
    ds = setting.data.load()
    net = _model(setting.model, ds, setting.widths, seed)
    opt = make_optimizer(optim, net.parameters())
    base = backprop_step(opt, F.cross_entropy)
    losses: list[torch.Tensor] = []

    def step(m, x, y):
        loss = base(m, x, y)
        losses.append(loss.reshape(()))
        return loss

    hist = fit(net, ds.train, test=ds.test, epochs=setting.epochs, optimizer=opt, step=step, batch_size=setting.batch_size,
               seed=seed, device=device, eval_train=False)
    per_epoch = math.ceil(ds.train[0].shape[0] / setting.batch_size)
    return {
        "losses": torch.stack(losses).double().cpu() if losses else torch.zeros(0, dtype=torch.float64),
        "history": hist.to_dict(),
        "momenta": opt.momentum_history() if isinstance(opt, ADINE) else torch.zeros(0, dtype=torch.float64),
        "planned_steps": per_epoch * setting.epochs,
    }


def final_loss(losses: np.ndarray, window: int, planned: int) -> float:
    """Mean of the last ``window`` mini-batch losses; ``inf`` when the run
    stopped early (diverged) or ended on a non-finite loss.

    Example:
        >>> final_loss([3.0, 2.0, 1.0], 2, 3), final_loss([3.0, 2.0], 2, 3)
        (1.5, inf)
    """
    x = np.asarray(losses, dtype=float)
    if x.size < planned or x.size == 0 or not np.isfinite(x[-window:]).all():
        return math.inf
    return float(x[-window:].mean())


def steps_to(losses: np.ndarray, target: float, window: int) -> int | None:
    """First step (1-based) whose trailing mean over ``window`` losses is at most
    ``target`` (:func:`~landscape.training.curves.first_reach`); None if never.

    Example:
        >>> steps_to([4.0, 2.0, 6.0, 0.0], 3.0, 2), steps_to([4.0, 2.0], 1.0, 2)
        (2, None)
    """
    x = np.asarray(losses, dtype=float)
    if x.size == 0:
        return None
    when, reached = first_reach(trailing_mean(x, window), target, direction="below")
    return int(when) if reached else None


def _optims(p: Params) -> dict[str, Optim]:
    """Each method with the parameters' hyper-parameters (learning rate 0, set per run)."""
    sw = Switch(p.m_s, p.m_g, p.tolerance, p.weight)
    return {m: Optim(m, 0.0, p.momentum, sw) for m in METHODS}


def _setting(p: Params, name: str) -> Setting:
    model, dataset = parse_setting(name)
    return Setting(name, model, DataSpec(dataset, root=p.data_root, n_train=p.n_train.get(name), n_test=p.n_test.get(name), seed=0),
                   tuple(p.mlp_widths), p.epochs[name], p.batch_size)


def _grids(p: Params) -> dict[str, tuple[float, ...]]:
    """The learning-rate grid of each method."""
    return {m: tuple(p.lrs_adam if m == "adam" else p.lrs_sgd if m == "sgd" else p.lrs_momentum) for m in METHODS}


def tune(setting: Setting, optims: dict[str, Optim], *, grids: dict[str, Sequence[float]] | None, equal: dict[str, float] | None = None,
         seed: int, window: int, device: str) -> dict[str, Any]:
    """Each method's learning rate for ``setting``.

    With ``grids`` (``lr_mode`` 'tuned'): every method runs every learning rate of its grid
    (``lrs_sgd`` for SGD, ``lrs_momentum`` for SGD + momentum, Nesterov and
    ADINE, ``lrs_adam`` for Adam; grids of the same length, so the same
    budget) once, with ``seed`` (``tune_seed``) and the setting's full number of
    epochs, and keeps the one with the lowest final training loss (mean of the
    last ``window`` mini-batch losses; a diverged run counts as infinite).
    Without (``lr_mode`` 'equal'): the learning rates ``equal`` (method -> lr), no tuning runs.

    Returns:
        dict with ``lr`` (method -> chosen lr), ``grid`` (method -> list of
        (lr, final loss)) and ``losses`` (method -> list of each tuning run's
        mini-batch losses, in grid order); the last two empty in the equal mode.
    """
    if grids is None:
        return {"lr": dict(equal or {}), "grid": {}, "losses": {}}
    chosen, grid, losses = {}, {}, {}
    for method in METHODS:
        rows, curves = [], []
        for lr in grids[method]:
            r = train_run(setting=setting, optim=replace(optims[method], lr=lr), seed=seed, device=device)
            rows.append((lr, final_loss(r["losses"].numpy(), window, r["planned_steps"])))
            curves.append(r["losses"].numpy())
        grid[method], losses[method] = rows, curves
        chosen[method] = min(rows, key=lambda row: (row[1], row[0]))[0]
    return {"lr": chosen, "grid": grid, "losses": losses}


def run_training(settings: Sequence[Setting], optims: dict[str, Optim], tuning: Callable[[Setting], dict], *, seeds: Sequence[int],
                 device: str) -> dict[str, dict[str, Any]]:
    """Every setting: the tuning (``tuning(setting)``, see :func:`tune`), then every
    method at its learning rate for every seed."""
    out = {}
    for s in settings:
        tuned = tuning(s)
        runs = {m: [train_run(setting=s, optim=replace(optims[m], lr=tuned["lr"][m]), seed=seed, device=device) for seed in seeds]
                for m in METHODS}
        out[s.name] = {"tuning": tuned, "runs": runs}
    return out


def final_acc(run: dict) -> float:
    """The final test accuracy of a training run (0 for a diverged one)."""
    h = run["history"]
    if h["diverged"]:
        return 0.0
    return float(h["columns"]["test_acc"][-1])


def speed_table(results: dict, window: int, slack: float) -> dict[str, dict[str, Any]]:
    """Per setting: the target loss (``slack`` x the final training loss of the
    slower of SGD + momentum and Nesterov, means over seeds) and, per method,
    each seed's steps to reach it (a seed that never does counts as its planned
    number of steps + 1, a lower bound, and is flagged)."""
    out = {}
    for s, r in results.items():
        finals = {m: np.mean([final_loss(x["losses"].numpy(), window, x["planned_steps"]) for x in r["runs"][m]]) for m in METHODS}
        target = slack * max(finals["momentum"], finals["nesterov"])
        steps, censored = {}, {}
        for m in METHODS:
            vals, cens = [], []
            for x in r["runs"][m]:
                n = steps_to(x["losses"].numpy(), target, window) if math.isfinite(target) else None
                vals.append(n if n is not None else x["planned_steps"] + 1)
                cens.append(n is None)
            steps[m], censored[m] = np.array(vals, dtype=float), np.array(cens)
        out[s] = {"target": float(target), "final": finals, "steps": steps, "censored": censored}
    return out


def equal_lr_speed(results: dict, window: int, slack: float) -> list[dict[str, Any]]:
    """From the tuning runs (one seed, ``tune_seed``): SGD + momentum,
    Nesterov and ADINE at each learning rate of their shared grid - the
    comparison at *equal* learning rates, at no extra cost. The target of a
    row is, as for claim 4.3, ``slack`` x the final training loss of the slower
    baseline *at that learning rate*; each method's entry is its steps to the
    target (None if it never reached it; the target is infinite, and the row
    empty, when a baseline diverged). ``trivial`` flags a row whose target is
    not below the baselines' first mini-batch loss (they did not train at
    that learning rate, so every method "reaches" it at once)."""
    rows = []
    for s, r in results.items():
        grid = r["tuning"]["grid"]
        if not grid:
            continue
        for i, (lr, _) in enumerate(grid["adine"]):
            target = slack * max(grid["momentum"][i][1], grid["nesterov"][i][1])
            first = min(float(r["tuning"]["losses"][b][i][0]) for b in ("momentum", "nesterov"))
            row = {"setting": s, "lr": lr, "target": target, "trivial": bool(target >= first)}
            for m in ("momentum", "nesterov", "adine"):
                row[m] = steps_to(r["tuning"]["losses"][m][i], target, window) if math.isfinite(target) else None
            rows.append(row)
    return rows


def accuracy_table(results: dict) -> dict[str, dict[str, Any]]:
    """Per setting: final test accuracy (per seed) of every method, the best
    baseline (highest mean) and ADINE's gap to it in points."""
    out = {}
    for s, r in results.items():
        acc = {m: np.array([final_acc(x) for x in r["runs"][m]]) for m in METHODS}
        best = max((m for m in METHODS if m != "adine"), key=lambda m: acc[m].mean())
        out[s] = {"acc": acc, "best": best, "gap_points": float(100 * (acc["adine"].mean() - acc[best].mean()))}
    return out


def fraction_at_mg(results: dict, m_g: float) -> dict[str, np.ndarray]:
    """Per setting: the fraction of ADINE's steps that used m_g, per seed."""
    return {s: np.array([float(np.mean(x["momenta"].numpy() == m_g)) if len(x["momenta"]) else math.nan for x in r["runs"]["adine"]])
            for s, r in results.items()}


# ---------------------------------------------------------------------------
# 4. sensitivity


def sensitivity(setting: Setting, optim: Optim, *, m_gs: Sequence[float], tolerances: Sequence[float], seeds: Sequence[int],
                window: int, device: str) -> np.ndarray:
    """Final training loss of ADINE (``optim``, at its learning rate) on ``setting``
    for every (m_g, tolerance) of the grid, mean over ``seeds``; ``inf``
    where a run diverged. Shape ``(len(m_gs), len(tolerances))``."""
    out = np.zeros((len(m_gs), len(tolerances)))
    for i, mg in enumerate(m_gs):
        for j, tol in enumerate(tolerances):
            o = replace(optim, switch=replace(optim.switch, m_g=mg, tolerance=tol))
            finals = []
            for seed in seeds:
                r = train_run(setting=setting, optim=o, seed=seed, device=device)
                finals.append(final_loss(r["losses"].numpy(), window, r["planned_steps"]))
            out[i, j] = np.mean(finals)
    return out


# ---------------------------------------------------------------------------
# everything


@dataclass
class Results:
    """What the ADINE chapter measured (every field has a default, so a test can
    build the few a claim reads).

    Attributes:
        saddles: :func:`saddle_escape`'s result. escape: :func:`escape_summary` of it.
        quad: :func:`quadratic_run`'s result. quad_growth: the smallest
            :math:`\\log_{10} \\|x_T\\| / \\|x_0\\|` over the momenta above 1 (claim 4.2).
        training: setting -> ``{"tuning": tune(...), "runs": method -> [train_run per seed]}``.
        skipped: setting -> why it was skipped (its data set is not on this machine).
        speed: :func:`speed_table` (claim 4.3). accuracy: :func:`accuracy_table` (claim 4.4).
        equal_lr: :func:`equal_lr_speed`'s rows.
        fractions: :func:`fraction_at_mg`; frac_mg: the mean over settings of
            their mean over seeds.
        sens_lr, sens_grid, sens_reference: ADINE's learning rate on
            ``sens_setting``, :func:`sensitivity`'s grid, and the grid's row
            :math:`m_g = m_s` (Nesterov) averaged, or None when it has no such row.
    """

    saddles: dict = field(default_factory=dict)
    escape: dict = field(default_factory=dict)
    quad: dict = field(default_factory=dict)
    quad_growth: float = math.nan
    training: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)
    speed: dict = field(default_factory=dict)
    accuracy: dict = field(default_factory=dict)
    equal_lr: list = field(default_factory=list)
    fractions: dict = field(default_factory=dict)
    frac_mg: float = math.nan
    sens_lr: float = math.nan
    sens_grid: np.ndarray | None = None
    sens_reference: float | None = None


def run(p: Params) -> Results:
    """Every experiment of the chapter, from the cache when warm."""
    device = str(resolve_device(p.device))
    with threads(p.threads):
        setup = SaddleSetup(tuple(p.saddle_functions), tuple(p.saddle_momenta), p.saddle_method, p.saddle_lr, p.saddle_eps,
                            p.saddle_starts, p.saddle_seed, p.saddle_max_steps, p.escape_by, p.escape_at)
        esc = saddle_escape(setup=setup, switch=Switch(p.m_s, p.m_g, p.tolerance, p.weight))
        summary = escape_summary(esc, p.saddle_momenta, p.saddle_max_steps)
        quad = quadratic_run(p.quad_curvatures, p.quad_momenta, lr=p.quad_lr, steps=p.quad_steps, method=p.saddle_method)
        quad_growth = float(min(quad["log10_norm"][i, -1] for i, m in enumerate(p.quad_momenta) if m > 1))

        optims = _optims(p)
        equal = {m: p.lr_equal_adam if m == "adam" else p.lr_equal_sgd for m in METHODS}
        tuning = lambda s: tune(s, optims, grids=_grids(p) if p.lr_mode == "tuned" else None, equal=equal, seed=p.tune_seed,
                                window=p.smooth_window, device=device)
        names = list(p.settings)
        ok, missing = available(sorted({parse_setting(s)[1] for s in names}), p.data_root)
        settings = [_setting(p, s) for s in names if parse_setting(s)[1] in ok]
        skipped = {s: missing[parse_setting(s)[1]] for s in names if parse_setting(s)[1] not in ok}
        training = run_training(settings, optims, tuning, seeds=p.seeds, device=device)
        fractions = fraction_at_mg(training, p.m_g)

        sens = _setting(p, p.sens_setting)
        sens_lr = training[sens.name]["tuning"]["lr"]["adine"] if sens.name in training else tuning(sens)["lr"]["adine"]
        grid = sensitivity(sens, replace(optims["adine"], lr=sens_lr), m_gs=p.sens_m_g, tolerances=p.sens_tolerance,
                           seeds=p.sens_seeds, window=p.smooth_window, device=device)
    ref = float(grid[list(p.sens_m_g).index(p.m_s)].mean()) if p.m_s in p.sens_m_g else None
    return Results(
        saddles=esc, escape=summary, quad=quad, quad_growth=quad_growth, training=training, skipped=skipped,
        speed=speed_table(training, p.smooth_window, p.target_slack), accuracy=accuracy_table(training),
        equal_lr=equal_lr_speed(training, p.smooth_window, p.target_slack), fractions=fractions,
        frac_mg=float(np.nanmean([f.mean() for f in fractions.values()])), sens_lr=sens_lr, sens_grid=grid, sens_reference=ref,
    )
