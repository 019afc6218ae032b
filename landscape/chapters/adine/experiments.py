r"""The ADINE chapter's experiments (``book/adine.ipynb``), cached.

- **Saddles** (section 1): :func:`saddle_escape` runs constant-momentum descent
  (:func:`landscape.methods.adine.momentum_descent`) for every momentum and every
  learning rate of one grid from the same starting points (:func:`start_points`) on
  every toy saddle, the momenta below 1 again from other starting points (the null of
  claim 4.1), and the library's :class:`~landscape.methods.adine.ADINE` from the same
  points (:func:`adine_2d`); :func:`escape_summary` reads the escape steps: each
  :math:`m` at its best learning rate (claim 4.1) and at v1's fixed one (its variant).
- **Why adaptive** (section 2): :func:`quadratic_run`, constant momentum on a
  convex quadratic (with :func:`~landscape.methods.adine.momentum_step`).
- **Training** (section 3): :func:`train_run` (one optimizer, one learning rate, one
  seed; a longer budget continues the shorter run it doubles), :func:`tune` (each
  method's learning rate from its grid, chosen on a validation split carved from the
  training data, :func:`split_train`), :func:`run_training` (every setting: the tuning,
  every method and seed at its tuned learning rate, the equal-lr variant, the null of
  claim 4.3, and the budget doubling of claim 4.4 until every method has plateaued,
  :func:`plateau`); then :func:`speed` (claim 4.3), :func:`accuracy` (claim 4.4) and
  v1's :func:`speed_table_v1`.
- **Sensitivity** (section 4): :func:`sensitivity` (final training loss over a
  grid of :math:`m_g` and tolerance).

:func:`run` does all of it and returns the :class:`Results`.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ...experiment.cache import cached
from ...experiment.parallel import compute
from ...experiment.params import Params
from ...methods.adine import ADINE, momentum_descent, momentum_step, spectral_radius
from ...training import models
from ...training.curves import first_reach, trailing_mean
from ...training.data import Dataset, DataSpec, available, batches
from ...training.loop import backprop_step, fit, resolve_device, threads
from ...training.synthetic import toy_function, toy_gradient
from .schema import parse_setting

__all__ = ["METHODS", "LABELS", "BASELINES", "COMPARED", "Switch", "SaddleSetup", "Setting", "Optim", "Results", "run",
           "start_points", "adine_2d", "saddle_escape", "escape_summary", "quadratic_run", "split_train", "make_optimizer",
           "train_run", "final_loss", "steps_to", "epoch_losses", "plateau", "budgets", "tune", "run_training", "speed",
           "speed_table_v1", "grid_speed", "accuracy", "final_acc", "fraction_at_mg", "sensitivity"]

#: the optimizers compared in section 3, in the order of the figures
METHODS = ("sgd", "momentum", "nesterov", "adam", "adine")
LABELS = {"sgd": "SGD", "momentum": "SGD + momentum", "nesterov": "Nesterov", "adam": "Adam", "adine": "ADINE"}
#: the baselines of claim 4.4 (the best of them)
BASELINES = ("sgd", "momentum", "nesterov", "adam")
#: the methods claim 4.3 compares: ADINE and its two baselines
COMPARED = ("adine", "momentum", "nesterov")


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
    """The saddle-escape experiment: which saddles and momenta, the update, the learning-rate
    grid (``lrs``) and v1's fixed learning rate (``lr``, a point of it), the starting points
    (``starts`` random directions at distance ``eps``, seeded by ``seed``; the null's from
    ``null_seed``) and when a run counts as escaped."""

    functions: tuple[str, ...]
    momenta: tuple[float, ...]
    method: str
    lrs: tuple[float, ...]
    lr: float
    eps: float
    starts: int
    seed: int
    null_seed: int
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


@cached("adine/saddle_escape", version=3)
def saddle_escape(*, setup: SaddleSetup, switch: Switch) -> dict:
    """Escape steps of constant momentum - every momentum x every learning rate of
    ``setup.lrs`` x every start, in one vectorized run per saddle
    (:func:`~landscape.methods.adine.momentum_descent` with one learning rate per row) -
    the same for the momenta below 1 from the null's starting points, and ADINE's (at
    ``setup.lr``) from every start; the trajectories at ``setup.lr`` from the first start.

    Returns:
        dict with ``starts`` and ``null_starts`` (``(starts, 2)``) and, per saddle,
        ``steps`` and ``diverged`` (``(len(momenta), len(lrs), starts)``), ``null_steps``
        (``(number of momenta below 1, len(lrs), starts)``), ``paths`` (one per momentum,
        at ``setup.lr``, from the first start), ``adine_steps`` (per start), ``adine_path``
        and ``adine_momenta`` (from the first start).
    """
    s = setup
    pts, null_pts = start_points(s.eps, s.starts, s.seed), start_points(s.eps, s.starts, s.null_seed)
    momenta = np.asarray(s.momenta, dtype=np.float64)
    below = momenta[momenta < 1]
    n_m, n_l, n_s, n_b = len(momenta), len(s.lrs), s.starts, len(below)
    # rows: (momentum, lr, start) of the real starts, then (momentum below 1, lr, start) of the null's
    rows_m = np.r_[np.repeat(momenta, n_l * n_s), np.repeat(below, n_l * n_s)]
    rows_lr = np.r_[np.tile(np.repeat(s.lrs, n_s), n_m), np.tile(np.repeat(s.lrs, n_s), n_b)]
    rows_p = np.r_[np.tile(pts, (n_m * n_l, 1)), np.tile(null_pts, (n_b * n_l, 1))]
    fixed = list(s.lrs).index(s.lr)
    record = [(i * n_l + fixed) * n_s for i in range(n_m)]
    out: dict[str, Any] = {"starts": pts, "null_starts": null_pts}
    for name in s.functions:
        fn = toy_function(name)
        res = momentum_descent(fn, toy_gradient(name), rows_p, rows_m, lr=rows_lr, max_steps=s.max_steps,
                               nesterov=s.method == "nesterov", escape_by=s.escape_by, escape_at=s.escape_at, record=record)
        k = n_m * n_l * n_s
        ad = [adine_2d(fn, x, lr=s.lr, m_s=switch.m_s, m_g=switch.m_g, tolerance=switch.tolerance, weight=switch.weight,
                       max_steps=s.max_steps, escape_by=s.escape_by, escape_at=s.escape_at) for x in pts]
        out[name] = {
            "steps": res["steps"][:k].reshape(n_m, n_l, n_s),
            "diverged": res["diverged"][:k].reshape(n_m, n_l, n_s),
            "null_steps": res["steps"][k:].reshape(n_b, n_l, n_s),
            "paths": res["paths"],
            "adine_steps": np.array([a["steps"] for a in ad]),
            "adine_path": ad[0]["path"],
            "adine_momenta": ad[0]["momenta"],
        }
    return out


def _medians(steps: np.ndarray, max_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Median escape step over the last axis (the starts): a run that did not escape counts
    as ``max_steps + 1``, a lower bound, and a median above ``max_steps`` is censored."""
    med = np.median(np.where(steps > 0, steps, max_steps + 1).astype(float), axis=-1)
    return med, med > max_steps


def _best_sides(momenta: np.ndarray, med: np.ndarray, censored: np.ndarray, lrs_at: np.ndarray) -> dict[str, Any]:
    """The best m < 1 and the best m >= 1 of per-m medians, each ``(m, lr, median, censored)``, and their ratio
    (above / below; NaN when both are censored)."""
    lo, hi = momenta < 1, momenta >= 1
    i_lo = np.flatnonzero(lo)[np.argmin(med[lo])]
    i_hi = np.flatnonzero(hi)[np.argmin(med[hi])]
    ratio = math.nan if censored[i_hi] and censored[i_lo] else float(med[i_hi] / med[i_lo])
    side = lambda i: (float(momenta[i]), float(lrs_at[i]), float(med[i]), bool(censored[i]))
    return {"best_below": side(i_lo), "best_above": side(i_hi), "ratio": ratio}


def escape_summary(esc: dict, momenta: Sequence[float], lrs: Sequence[float], fixed_lr: float,
                   max_steps: int) -> dict[str, dict[str, Any]]:
    r"""Per saddle, the readings of claim 4.1 and its variant and null.

    With :math:`s_{m,\eta}` the median escape step over the starts of momentum :math:`m`
    at learning rate :math:`\eta` (censored runs count as ``max_steps + 1``):

    - **best lr** (v2): :math:`s_m = \min_\eta s_{m,\eta}` at :math:`\eta^*_m` (the
      smallest such :math:`\eta` on a tie); ``best_below``/``best_above`` are the best
      :math:`m < 1` and :math:`m \ge 1` as ``(m, lr, median, censored)`` and
      ``ratio`` :math:`= \min_{m \ge 1} s_m / \min_{m < 1} s_m` (NaN when both are censored);
    - **fixed lr** (v1, the variant): the same at ``fixed_lr`` for every :math:`m`
      (``fixed``, a dict of the same keys);
    - **null**: the best :math:`m < 1` (at its best lr) from the null's starting points,
      in the place of the best :math:`m \ge 1`: ``null_ratio`` :math:`= \min_{m<1} s'_m /
      \min_{m<1} s_m`, which the rule (ratio < 1) must not pass.

    Also ``grid`` (``(len(momenta), len(lrs))`` medians), ``median``/``censored``/``lr``
    (per :math:`m` at its best lr) and ADINE's median at ``fixed_lr``.
    """
    momenta, lrs = np.asarray(momenta, dtype=float), np.asarray(lrs, dtype=float)
    fixed = list(lrs).index(fixed_lr)
    out = {}
    for name, r in esc.items():
        if name in ("starts", "null_starts"):
            continue
        grid, grid_cen = _medians(r["steps"], max_steps)
        best_i = np.argmin(grid, axis=1)
        med, cen = grid[np.arange(len(momenta)), best_i], grid_cen[np.arange(len(momenta)), best_i]
        v2 = _best_sides(momenta, med, cen, lrs[best_i])
        v1 = _best_sides(momenta, grid[:, fixed], grid_cen[:, fixed], np.full(len(momenta), float(fixed_lr)))
        null_grid, null_cen = _medians(r["null_steps"], max_steps)
        j = np.unravel_index(np.argmin(null_grid), null_grid.shape)
        below = momenta[momenta < 1]
        null_best = (float(below[j[0]]), float(lrs[j[1]]), float(null_grid[j]), bool(null_cen[j]))
        lo = v2["best_below"]
        null_ratio = math.nan if null_best[3] and lo[3] else null_best[2] / lo[2]
        a_med, a_cen = _medians(r["adine_steps"], max_steps)
        out[name] = {**v2, "grid": grid, "grid_censored": grid_cen, "median": med, "censored": cen, "lr": lrs[best_i],
                     "fixed": {**v1, "median": grid[:, fixed], "censored": grid_cen[:, fixed]},
                     "null_best": null_best, "null_ratio": float(null_ratio),
                     "adine_median": float(a_med), "adine_censored": bool(a_cen)}
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
# 3. training


@dataclass(frozen=True)
class Setting:
    """One 'model:dataset' setting as trained: the network, its data and the schedule.

    The training split is the data set's training set less a validation split
    (:func:`split_train`: ``val_fraction`` of it, seeded by ``split_seed``); a run
    evaluates, after each epoch, the validation split (``held_out="val"``: the tuning
    runs) or the test set (``"test"``). ``base`` is the setting's own budget (its
    ``epochs`` parameter); a run of ``epochs = base x 2^k`` epochs continues the run of
    half as many (claim 4.4's doubling); ``base = 0``: every run from scratch. ``cap``:
    the largest budget the doubling may reach; a run that may still be doubled keeps its
    final state.
    """

    name: str
    model: str
    data: DataSpec
    widths: tuple[int, ...]
    epochs: int
    batch_size: int
    val_fraction: float
    split_seed: int
    held_out: str = "test"
    base: int = 0
    cap: int = 0

    def at(self, epochs: int) -> "Setting":
        """This setting at a budget of ``epochs`` (a doubling of ``base``)."""
        return replace(self, epochs=int(epochs))


@dataclass(frozen=True)
class Optim:
    """One optimizer of :data:`METHODS` with its hyper-parameters (``momentum``: the
    baselines'; ``switch``: ADINE's)."""

    method: str
    lr: float
    momentum: float
    switch: Switch


def split_train(data: tuple[torch.Tensor, torch.Tensor], fraction: float, seed: int
                ) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """``(train, val)``: a seeded random ``fraction`` of the examples (rounded, at least one) as
    the validation split, the rest (in their order) for training.

    Example:
        >>> x, y = torch.arange(10.0).reshape(10, 1), torch.arange(10)
        >>> (tx, ty), (vx, vy) = split_train((x, y), 0.2, 0)
        >>> len(ty), len(vy), sorted(ty.tolist() + vy.tolist()) == list(range(10))
        (8, 2, True)
    """
    n = int(data[1].shape[0])
    n_val = min(n - 1, max(1, round(fraction * n)))
    perm = np.random.default_rng(seed).permutation(n)
    val, train = np.sort(perm[:n_val]), np.sort(perm[n_val:])
    pick = lambda idx: (data[0][torch.from_numpy(idx)], data[1][torch.from_numpy(idx)])
    return pick(train), pick(val)


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


class _Epochs:
    """The mini-batches of epochs ``start + 1, start + 2, ...`` in the order the shared loop
    (:func:`landscape.training.loop.fit`) gives a pair of tensors - shuffled by a generator
    seeded ``seed * 100_003 + epoch`` - one epoch per iteration over this object: what a
    run continued after ``start`` epochs needs to see exactly what a run from scratch sees."""

    def __init__(self, data: tuple[torch.Tensor, torch.Tensor], batch_size: int, seed: int, start: int) -> None:
        self.data, self.batch_size, self.seed, self.epoch = data, batch_size, seed, start

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        self.epoch += 1
        return batches(self.data, self.batch_size, generator=torch.Generator().manual_seed(self.seed * 100_003 + self.epoch))


def _pack(net: torch.nn.Module, opt: torch.optim.Optimizer) -> torch.Tensor:
    """The model's and the optimizer's state as bytes (a uint8 tensor the cache stores)."""
    buf = io.BytesIO()
    torch.save({"model": net.state_dict(), "optimizer": opt.state_dict()}, buf)
    return torch.frombuffer(bytearray(buf.getvalue()), dtype=torch.uint8).clone()


def _unpack(state: torch.Tensor, device: str) -> dict:
    return torch.load(io.BytesIO(state.numpy().tobytes()), map_location=device, weights_only=True)


@cached("adine/train_run", version=3, ignore=("device",))
def train_run(*, setting: Setting, optim: Optim, seed: int, device: str) -> dict:
    """One training run through the shared loop (:func:`landscape.training.loop.fit`,
    whose default step calls ``optimizer.step(closure)``) on the setting's training
    split: every mini-batch loss, the per-epoch history (loss and accuracy on the
    held-out split, ``test_*`` in its columns) and, for ADINE, the momentum it used at
    each step. Cached by everything but the device.

    A budget above ``setting.base`` (``base x 2^k`` epochs) continues the (cached) run
    of half as many epochs from its final state - model, optimizer and the loop's data
    order - so it equals the run from scratch, at the cost of the added epochs only; a
    run that diverged is not continued (it stopped).

    Returns:
        dict with ``losses``, ``history``, ``momenta``, ``planned_steps`` (steps of the
        whole budget), ``epochs`` and ``state`` (the final model and optimizer state as
        bytes while the run may be doubled again within ``setting.cap``, else empty).
    """
    ds = setting.data.load()
    train, val = split_train(ds.train, setting.val_fraction, setting.split_seed)
    held = val if setting.held_out == "val" else ds.test
    per_epoch = math.ceil(train[0].shape[0] / setting.batch_size)
    net = _model(setting.model, ds, setting.widths, seed)
    opt = make_optimizer(optim, net.parameters())
    keep = setting.epochs * 2 <= setting.cap
    start, prev, data = 0, None, train
    if setting.base and setting.epochs > setting.base:
        if setting.epochs % 2 or setting.epochs // 2 < setting.base:
            raise ValueError(f"Invalid epochs: {setting.epochs} (must be base {setting.base} x a power of 2)")
        prev = train_run(setting=setting.at(setting.epochs // 2), optim=optim, seed=seed, device=device)
        if prev["history"]["diverged"]:
            return {**prev, "planned_steps": per_epoch * setting.epochs, "epochs": setting.epochs,
                    "state": torch.zeros(0, dtype=torch.uint8)}
        state = _unpack(prev["state"], device)
        net.load_state_dict(state["model"])
        opt.load_state_dict(state["optimizer"])
        start = int(prev["epochs"])
        data = _Epochs(train, setting.batch_size, seed, start)
    base = backprop_step(opt, F.cross_entropy)
    losses: list[torch.Tensor] = []

    def step(m, x, y):
        loss = base(m, x, y)
        losses.append(loss.reshape(()))
        return loss

    hist = fit(net, data, test=held, epochs=setting.epochs - start, optimizer=opt, step=step, batch_size=setting.batch_size,
               seed=seed, device=device, eval_train=False, eval_at_start=prev is None).to_dict()
    new = torch.stack(losses).double().cpu() if losses else torch.zeros(0, dtype=torch.float64)
    if prev is not None:
        cols, old = hist["columns"], prev["history"]["columns"]
        shift = {"epoch": start, "step": int(old["step"][-1]), "time": float(old["time"][-1])}
        n_old, n_new = len(old["epoch"]), len(cols["epoch"])
        hist["columns"] = {c: list(old.get(c, [math.nan] * n_old)) + [v + shift.get(c, 0) for v in cols.get(c, [math.nan] * n_new)]
                           for c in [*old, *(c for c in cols if c not in old)]}
        new = torch.cat([prev["losses"], new])
    return {
        "losses": new,
        "history": hist,
        "momenta": opt.momentum_history() if isinstance(opt, ADINE) else torch.zeros(0, dtype=torch.float64),
        "planned_steps": per_epoch * setting.epochs,
        "epochs": setting.epochs,
        "state": _pack(net, opt) if keep else torch.zeros(0, dtype=torch.uint8),
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


def epoch_losses(run: dict) -> np.ndarray:
    """The run's training loss per epoch (the mean of the epoch's mini-batch losses), epochs 1 to the last.

    Example:
        >>> epoch_losses({"history": {"columns": {"epoch": [0, 1, 2], "train_loss": [float("nan"), 2.0, 1.0]}}}).tolist()
        [2.0, 1.0]
    """
    cols = run["history"]["columns"]
    return np.array([v for e, v in zip(cols["epoch"], cols["train_loss"]) if e >= 1], dtype=float)


def plateau(curves: Sequence[np.ndarray], tail: float, reference: str = "window") -> float:
    r"""The relative change of the training loss over the last ``tail`` of the epochs, of the
    mean over seeds of the per-epoch curves (:func:`epoch_losses`; a diverged run left out).

    With :math:`\bar L_e` that mean at epoch :math:`e` of :math:`B` and
    :math:`k = \max(1, \mathrm{round}(\text{tail} \cdot B))`:

    .. math::

        c = \frac{|\bar L_{B-k} - \bar L_B|}{\bar L_{B-k}} \ (\text{reference "window": the
        declared rule}), \qquad
        c' = \frac{|\bar L_{B-k} - \bar L_B|}{\bar L_1} \ (\text{"first": relative to the
        first epoch's loss}).

    A method has plateaued at :math:`B` when :math:`c <` ``plateau_change``. NaN when no
    run is finite or :math:`B - k < 1`; 0 when every run diverged (it stopped: more
    epochs cannot change it).

    Example:
        >>> round(plateau([np.array([4.0, 2.0, 1.0, 0.99, 0.98])], 0.2), 4)
        0.0101
        >>> round(plateau([np.array([4.0, 2.0, 1.0, 0.99, 0.98])], 0.2, "first"), 4)
        0.0025
    """
    ok = [np.asarray(c, dtype=float) for c in curves]
    if ok and all(not np.isfinite(c).all() for c in ok):
        return 0.0
    ok = [c for c in ok if c.size and np.isfinite(c).all()]
    if not ok:
        return math.nan
    n = min(c.size for c in ok)
    mean = np.mean([c[:n] for c in ok], axis=0)
    k = max(1, round(tail * n))
    if n - k < 1:
        return math.nan
    before, end = mean[n - 1 - k], mean[n - 1]
    ref = before if reference == "window" else mean[0]
    return float(abs(before - end) / ref)


def budgets(epochs: int, cap: int) -> list[int]:
    """The budgets claim 4.4 may be decided at: ``epochs``, doubled while at most ``cap``.

    Example:
        >>> budgets(5, 20), budgets(5, 19), budgets(5, 5)
        ([5, 10, 20], [5, 10], [5])
    """
    out = [int(epochs)]
    while out[-1] * 2 <= cap:
        out.append(out[-1] * 2)
    return out


def _optims(p: Params) -> dict[str, Optim]:
    """Each method with the parameters' hyper-parameters (learning rate 0, set per run)."""
    sw = Switch(p.m_s, p.m_g, p.tolerance, p.weight)
    return {m: Optim(m, 0.0, p.momentum, sw) for m in METHODS}


def _setting(p: Params, name: str, held_out: str = "test") -> Setting:
    model, dataset = parse_setting(name)
    e = p.epochs[name]
    return Setting(name, model, DataSpec(dataset, root=p.data_root, n_train=p.n_train.get(name), n_test=p.n_test.get(name), seed=0),
                   tuple(p.mlp_widths), e, p.batch_size, p.val_fraction, p.split_seed, held_out, e,
                   e if held_out == "val" else p.epochs_cap.get(name, e))


def _grids(p: Params) -> dict[str, tuple[float, ...]]:
    """The learning-rate grid of each method."""
    return {m: tuple(p.lrs_adam if m == "adam" else p.lrs_sgd if m == "sgd" else p.lrs_momentum) for m in METHODS}


def final_acc(run: dict) -> float:
    """The final accuracy on the held-out split of a training run (0 for a diverged one)."""
    h = run["history"]
    if h["diverged"]:
        return 0.0
    return float(h["columns"]["test_acc"][-1])


def _held_loss(run: dict) -> float:
    h = run["history"]
    return math.inf if h["diverged"] else float(h["columns"]["test_loss"][-1])


def _choose(setting: Setting, optims: dict[str, Optim], grids: dict[str, Sequence[float]], runs: dict[str, list[dict]]) -> dict:
    """:func:`tune`'s choice from its runs (``runs[method]``: one per learning rate, in grid order)."""
    chosen, grid = {}, {}
    for m in METHODS:
        rows = [(lr, final_acc(r), _held_loss(r)) for lr, r in zip(grids[m], runs[m])]
        grid[m] = rows
        chosen[m] = min(rows, key=lambda row: (-row[1], row[2], row[0]))[0]
    return {"lr": chosen, "grid": grid, "losses": {m: [r["losses"] for r in runs[m]] for m in COMPARED},
            "planned": {m: [r["planned_steps"] for r in runs[m]] for m in COMPARED}}


def _tuning_calls(setting: Setting, optims: dict[str, Optim], grids: dict[str, Sequence[float]], seed: int,
                  device: str) -> list[tuple]:
    return [(train_run, {"setting": setting, "optim": replace(optims[m], lr=lr), "seed": seed, "device": device})
            for m in METHODS for lr in grids[m]]


def tune(setting: Setting, optims: dict[str, Optim], *, grids: dict[str, Sequence[float]], seed: int, device: str,
         workers: int = 1) -> dict[str, Any]:
    """Each method's learning rate for ``setting``, chosen on its validation split.

    Every method runs every learning rate of its grid (``lrs_sgd`` for SGD,
    ``lrs_momentum`` for SGD + momentum, Nesterov and ADINE, ``lrs_adam`` for Adam;
    grids of the same length, so the same budget) once, with ``seed`` (``tune_seed``),
    for the setting's epochs, on the training split; it keeps the learning rate with the
    highest final **validation** accuracy (ties: the lower validation loss, then the
    smaller learning rate). The test set is not touched. ``setting`` must hold out
    ``"val"``.

    Returns:
        dict with ``lr`` (method -> chosen lr), ``grid`` (method -> list of
        ``(lr, validation accuracy, validation loss)`` in grid order), and for the methods of
        claim 4.3 the tuning runs' mini-batch ``losses`` and ``planned`` steps (grid order).
    """
    if setting.held_out != "val":
        raise ValueError(f"Invalid setting: held_out {setting.held_out!r} (tuning must read the validation split, 'val')")
    done = compute(_tuning_calls(setting, optims, grids, seed, device), workers=workers)
    n = {m: len(grids[m]) for m in METHODS}
    runs, i = {}, 0
    for m in METHODS:
        runs[m], i = done[i: i + n[m]], i + n[m]
    return _choose(setting, optims, grids, runs)


def _unique(calls: list[tuple]) -> tuple[list[tuple], list[int]]:
    """The distinct calls (so that parallel workers never compute one twice) and each call's index among them."""
    keys, first, index = {}, [], []
    for fn, kw in calls:
        k = (kw["setting"], kw["optim"], kw["seed"])
        if k not in keys:
            keys[k] = len(first)
            first.append((fn, kw))
        index.append(keys[k])
    return first, index


def _compute(calls: list[tuple], workers: int) -> list[dict]:
    first, index = _unique(calls)
    done = compute(first, workers=workers)
    return [done[i] for i in index]


def run_training(settings: Sequence[Setting], optims: dict[str, Optim], p: Params, *, device: str) -> dict[str, dict[str, Any]]:
    r"""Every setting's runs, in stages whose independent runs go through
    :func:`~landscape.experiment.parallel.compute` (``p.workers`` processes):

    1. the tuning (:func:`tune`) of every setting;
    2. per setting, every method at its tuned learning rate for every seed (``runs``);
       the equal-lr variant of claim 4.3 - SGD + momentum, Nesterov and ADINE all at
       the tuned learning rate of ``p.equal_lr_from`` (``equal``, ``equal_lr``); and claim
       4.3's null, SGD + momentum at its tuned learning rate with ``p.null_seeds``
       (``null``);
    3. claim 4.4's budget: from the setting's epochs, while some method has not plateaued
       (:func:`plateau` of its runs >= ``p.plateau_change``) and the doubled budget is at
       most the setting's cap, every method's runs are doubled (continued). ``budget`` is
       the first budget at which every method has plateaued (None: none within the cap),
       ``budget_first`` the same by the variant reading (change relative to the first
       epoch's loss); ``by_budget``: budget -> method -> runs; ``plateau``: budget ->
       method -> ``(c, c')``.
    """
    tuning_set = {s.name: replace(s, held_out="val", cap=s.base) for s in settings}
    grids = _grids(p)
    calls = [c for s in settings for c in _tuning_calls(tuning_set[s.name], optims, grids, p.tune_seed, device)]
    done, i, out = _compute(calls, p.workers), 0, {}
    for s in settings:
        runs = {}
        for m in METHODS:
            runs[m], i = done[i: i + len(grids[m])], i + len(grids[m])
        out[s.name] = {"tuning": _choose(tuning_set[s.name], optims, grids, runs)}

    calls, layout = [], []
    for s in settings:
        lr = out[s.name]["tuning"]["lr"]
        eq = lr[p.equal_lr_from]
        for m in METHODS:
            calls += [(train_run, {"setting": s, "optim": replace(optims[m], lr=lr[m]), "seed": k, "device": device}) for k in p.seeds]
            layout.append((s.name, "runs", m))
        for m in ("momentum", "nesterov", "adine"):
            calls += [(train_run, {"setting": s, "optim": replace(optims[m], lr=eq), "seed": k, "device": device}) for k in p.seeds]
            layout.append((s.name, "equal", m))
        calls += [(train_run, {"setting": s, "optim": replace(optims["momentum"], lr=lr["momentum"]), "seed": k, "device": device})
                  for k in p.null_seeds]
        layout.append((s.name, "null", None))
        out[s.name].update(runs={}, equal={}, equal_lr=eq)
    done, i = _compute(calls, p.workers), 0
    n = len(p.seeds)
    for name, part, m in layout:
        if part == "null":
            out[name]["null"], i = done[i: i + len(p.null_seeds)], i + len(p.null_seeds)
        else:
            out[name][part][m], i = done[i: i + n], i + n

    by_set = {s.name: s for s in settings}
    for s in settings:
        o = out[s.name]
        o.update(budgets=budgets(s.base, s.cap), by_budget={s.base: o["runs"]}, plateau={}, budget=None, budget_first=None)
    open_ = [s.name for s in settings]
    while open_:
        grow = []
        for name in open_:
            o, b = out[name], max(out[name]["by_budget"])
            curves = {m: [epoch_losses(r) for r in o["by_budget"][b][m]] for m in METHODS}
            o["plateau"][b] = {m: (plateau(c, p.plateau_tail), plateau(c, p.plateau_tail, "first")) for m, c in curves.items()}
            if o["budget_first"] is None and all(v[1] < p.plateau_change for v in o["plateau"][b].values()):
                o["budget_first"] = b
            if all(v[0] < p.plateau_change for v in o["plateau"][b].values()):
                o["budget"] = b
            elif b * 2 <= by_set[name].cap:
                grow.append(name)
        calls = [(train_run, {"setting": by_set[name].at(2 * max(out[name]["by_budget"])), "optim": replace(optims[m], lr=out[name]["tuning"]["lr"][m]),
                              "seed": k, "device": device}) for name in grow for m in METHODS for k in p.seeds]
        done, i = _compute(calls, p.workers), 0
        for name in grow:
            b2 = 2 * max(out[name]["by_budget"])
            out[name]["by_budget"][b2] = {}
            for m in METHODS:
                out[name]["by_budget"][b2][m], i = done[i: i + n], i + n
        open_ = grow
    return out


def _finals(runs: Sequence[dict], window: int) -> np.ndarray:
    return np.array([final_loss(x["losses"].numpy(), window, x["planned_steps"]) for x in runs])


def speed(runs: dict[str, Sequence[dict]], window: int, compared: Sequence[str] = COMPARED) -> dict[str, Any]:
    r"""Claim 4.3's measure on one setting: iterations to the target loss.

    The **target** is the loss the slowest method reaches: each run's final loss is the
    mean of its last ``window`` mini-batch losses (``inf`` for a diverged run); among
    ``compared`` (ADINE and its two baselines) the slowest method is the one with the
    highest median final loss over its seeds, and the target is that median - a loss most
    of its runs reach by their last step, and one a single run that fails to train cannot
    move. Each run's iterations to the target are the first step at which the trailing
    mean over ``window`` losses is at most the target (:func:`steps_to`); a run that never
    reaches it counts as its planned steps + 1 (a lower bound) and is flagged. A method
    whose median final loss is not finite (most of its runs diverged) sets no target.

    Returns:
        dict with ``target``, ``slowest``, ``final`` (method -> final loss per seed),
        ``steps`` and ``censored`` (method -> per seed).
    """
    finals = {m: _finals(runs[m], window) for m in compared}
    medians = {m: float(np.median(f)) for m, f in finals.items()}
    candidates = [m for m in compared if math.isfinite(medians[m])]
    if candidates:
        slowest = max(candidates, key=lambda m: medians[m])
        target = medians[slowest]
    else:
        slowest, target = None, math.nan
    steps, censored = {}, {}
    for m in compared:
        vals, cens = [], []
        for x in runs[m]:
            k = steps_to(x["losses"].numpy(), target, window) if math.isfinite(target) else None
            vals.append(k if k is not None else x["planned_steps"] + 1)
            cens.append(k is None)
        steps[m], censored[m] = np.array(vals, dtype=float), np.array(cens)
    return {"target": target, "slowest": slowest, "final": finals, "steps": steps, "censored": censored}


def grid_speed(training: dict, window: int) -> list[dict[str, Any]]:
    """From the tuning runs (one seed, ``tune_seed``, no verdict rests on them): ADINE, SGD +
    momentum and Nesterov at each learning rate of their shared grid, each run's iterations
    to the target of :func:`speed` at that learning rate (the final loss of the slowest of
    the three there; None: never). Shows how claim 4.3 depends on the one learning rate all
    three share. ``trivial`` flags a row whose target is not below every first mini-batch
    loss (the methods did not train there)."""
    rows = []
    for s, o in training.items():
        t = o["tuning"]
        for i, (lr, _, _) in enumerate(t["grid"]["adine"]):
            runs = {m: [{"losses": t["losses"][m][i], "planned_steps": t["planned"][m][i]}] for m in COMPARED}
            sp = speed(runs, window)
            first = min(float(t["losses"][m][i][0]) for m in COMPARED if len(t["losses"][m][i]))
            row = {"setting": s, "lr": lr, "target": sp["target"], "trivial": bool(not sp["target"] < first)}
            for m in COMPARED:
                row[m] = None if sp["censored"][m][0] else int(sp["steps"][m][0])
            rows.append(row)
    return rows


def speed_table_v1(results: dict, window: int, slack: float) -> dict[str, dict[str, Any]]:
    """v1's measure of claim 4.3, per setting: the target loss is ``slack`` x the final
    training loss of the slower of SGD + momentum and Nesterov (means over seeds); per
    method, each seed's steps to reach it (a seed that never does counts as its planned
    steps + 1, a lower bound, and is flagged). ``results``: setting -> ``{"runs": ...}``."""
    out = {}
    for s, r in results.items():
        finals = {m: float(np.mean(_finals(r["runs"][m], window))) for m in METHODS}
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


def accuracy(runs: dict[str, Sequence[dict]]) -> dict[str, Any]:
    """Claim 4.4's measure on one setting: every method's final test accuracy per seed
    (a diverged run counts as 0), the best baseline (:data:`BASELINES`, highest mean) and
    ADINE's gap to it in points (difference of means)."""
    acc = {m: np.array([final_acc(x) for x in runs[m]]) for m in METHODS}
    best = max(BASELINES, key=lambda m: acc[m].mean())
    return {"acc": acc, "best": best, "gap_points": float(100 * (acc["adine"].mean() - acc[best].mean()))}


def fraction_at_mg(results: dict, m_g: float) -> dict[str, np.ndarray]:
    """Per setting: the fraction of ADINE's steps that used m_g, per seed."""
    return {s: np.array([float(np.mean(x["momenta"].numpy() == m_g)) if len(x["momenta"]) else math.nan for x in r["runs"]["adine"]])
            for s, r in results.items()}


# ---------------------------------------------------------------------------
# 4. sensitivity


def sensitivity(setting: Setting, optim: Optim, *, m_gs: Sequence[float], tolerances: Sequence[float], seeds: Sequence[int],
                window: int, device: str, workers: int = 1) -> np.ndarray:
    """Final training loss of ADINE (``optim``, at its learning rate) on ``setting``
    for every (m_g, tolerance) of the grid, mean over ``seeds``; ``inf``
    where a run diverged. Shape ``(len(m_gs), len(tolerances))``."""
    calls = [(train_run, {"setting": setting, "optim": replace(optim, switch=replace(optim.switch, m_g=mg, tolerance=tol)),
                          "seed": seed, "device": device}) for mg in m_gs for tol in tolerances for seed in seeds]
    done = _compute(calls, workers)
    finals = np.array([final_loss(r["losses"].numpy(), window, r["planned_steps"]) for r in done])
    return finals.reshape(len(m_gs), len(tolerances), len(seeds)).mean(axis=2)


# ---------------------------------------------------------------------------
# everything


@dataclass
class Results:
    """What the ADINE chapter measured (every field has a default, so a test can
    build the few a claim reads).

    Attributes:
        saddles: :func:`saddle_escape`'s result. escape: :func:`escape_summary` of it.
        quad: :func:`quadratic_run`'s result. quad_growth: the smallest
            :math:`\\log_{10} \\|x_T\\| / \\|x_0\\|` over the momenta above 1 (claim 4.2);
            quad_null: the largest over the momenta below 1 (its null).
        training: :func:`run_training`'s result (setting -> tuning, runs, equal, null,
            budgets, by_budget, plateau, budget, budget_first).
        skipped: setting -> why it was skipped (its data set is not on this machine).
        speed, speed_equal, speed_null: :func:`speed` per setting of the tuned runs, of the
            equal-lr variant, and of the null (SGD + momentum with other seeds in ADINE's place).
        accuracy: :func:`accuracy` per setting at its decided budget (at the last budget run
            when none was decided); accuracy_first: at the variant's budget (or the last).
        speed_v1, accuracy_v1: v1's measures (:func:`speed_table_v1`; :func:`accuracy` at the
            setting's own epochs). grid_speed: :func:`grid_speed`'s rows (every lr of the shared grid).
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
    quad_null: float = math.nan
    training: dict = field(default_factory=dict)
    skipped: dict = field(default_factory=dict)
    speed: dict = field(default_factory=dict)
    speed_equal: dict = field(default_factory=dict)
    speed_null: dict = field(default_factory=dict)
    accuracy: dict = field(default_factory=dict)
    accuracy_first: dict = field(default_factory=dict)
    speed_v1: dict = field(default_factory=dict)
    grid_speed: list = field(default_factory=list)
    accuracy_v1: dict = field(default_factory=dict)
    fractions: dict = field(default_factory=dict)
    frac_mg: float = math.nan
    sens_lr: float = math.nan
    sens_grid: np.ndarray | None = None
    sens_reference: float | None = None


def _at(o: dict, budget: int | None) -> dict:
    """The runs at ``budget``, or at the last budget run when it is None."""
    return o["by_budget"][budget if budget is not None else max(o["by_budget"])]


def measures(training: dict, p: Params) -> dict[str, dict]:
    """Claims 4.3's and 4.4's measures of every setting of :func:`run_training`'s result."""
    w = p.smooth_window
    null_arm = lambda o: {**o["runs"], "adine": o["null"]}
    return {
        "speed": {s: speed(o["runs"], w) for s, o in training.items()},
        "speed_equal": {s: speed(o["equal"], w) for s, o in training.items()},
        "speed_null": {s: speed(null_arm(o), w) for s, o in training.items()},
        "accuracy": {s: accuracy(_at(o, o["budget"])) for s, o in training.items()},
        "accuracy_first": {s: accuracy(_at(o, o["budget_first"])) for s, o in training.items()},
        "speed_v1": speed_table_v1(training, w, p.target_slack),
        "grid_speed": grid_speed(training, w),
        "accuracy_v1": {s: accuracy(o["runs"]) for s, o in training.items()},
    }


def run(p: Params) -> Results:
    """Every experiment of the chapter, from the cache when warm."""
    device = str(resolve_device(p.device))
    with threads(p.threads):
        setup = SaddleSetup(tuple(p.saddle_functions), tuple(p.saddle_momenta), p.saddle_method, tuple(p.saddle_lrs), p.saddle_lr,
                            p.saddle_eps, p.saddle_starts, p.saddle_seed, p.null_saddle_seed, p.saddle_max_steps, p.escape_by,
                            p.escape_at)
        esc = saddle_escape(setup=setup, switch=Switch(p.m_s, p.m_g, p.tolerance, p.weight))
        summary = escape_summary(esc, p.saddle_momenta, p.saddle_lrs, p.saddle_lr, p.saddle_max_steps)
        quad = quadratic_run(p.quad_curvatures, p.quad_momenta, lr=p.quad_lr, steps=p.quad_steps, method=p.saddle_method)
        final = quad["log10_norm"][:, -1]
        quad_growth = float(min(final[i] for i, m in enumerate(p.quad_momenta) if m > 1))
        quad_null = float(max(final[i] for i, m in enumerate(p.quad_momenta) if m < 1))

        optims = _optims(p)
        names = list(p.settings)
        ok, missing = available(sorted({parse_setting(s)[1] for s in names}), p.data_root)
        settings = [_setting(p, s) for s in names if parse_setting(s)[1] in ok]
        skipped = {s: missing[parse_setting(s)[1]] for s in names if parse_setting(s)[1] not in ok}
        training = run_training(settings, optims, p, device=device)
        fractions = fraction_at_mg(training, p.m_g)

        sens = _setting(p, p.sens_setting)
        if sens.name in training:
            sens_lr = training[sens.name]["tuning"]["lr"]["adine"]
        else:
            sens_lr = tune(replace(sens, held_out="val", cap=sens.base), optims, grids=_grids(p), seed=p.tune_seed, device=device,
                           workers=p.workers)["lr"]["adine"]
        grid = sensitivity(replace(sens, cap=sens.base), replace(optims["adine"], lr=sens_lr), m_gs=p.sens_m_g,
                           tolerances=p.sens_tolerance, seeds=p.sens_seeds, window=p.smooth_window, device=device, workers=p.workers)
    ref = float(grid[list(p.sens_m_g).index(p.m_s)].mean()) if p.m_s in p.sens_m_g else None
    return Results(
        saddles=esc, escape=summary, quad=quad, quad_growth=quad_growth, quad_null=quad_null, training=training, skipped=skipped,
        **measures(training, p), fractions=fractions,
        frac_mg=float(np.nanmean([f.mean() for f in fractions.values()])) if fractions else math.nan,
        sens_lr=sens_lr, sens_grid=grid, sens_reference=ref,
    )
