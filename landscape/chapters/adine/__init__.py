r"""The ADINE chapter (``book/adine.ipynb``): momentum above one, adaptively
(Srinivasan, Sankar and Balasubramanian, CoDS-COMAD 2018, ``srinivasan2018adine``).

What the notebook calls, in the order it calls it:

- **Saddles** (section 1): :func:`momentum_descent` runs heavy-ball or
  Nesterov momentum with a *constant* :math:`m` (any :math:`m \ge 0`, also
  above 1) from many 2-D starting points at once and records when each
  escapes; :func:`saddle_escape` does that for every toy saddle of
  :data:`landscape.synthetic.TOY_FUNCTIONS` and every :math:`m` of a grid
  (cached); :func:`adine_2d` runs the library's :class:`~landscape.optim.ADINE`
  on one 2-D point (the live widget and the ADINE reference marks).
- **Why adaptive** (section 2): :func:`iteration_matrix` and
  :func:`spectral_radius` of constant-momentum descent on
  :math:`f(x) = \tfrac12 h x^2`, and :func:`quadratic_run` (the iterates on a
  convex quadratic).
- **Training curves** (section 3): :func:`train_run` (one optimizer, one
  learning rate, one seed; cached), :func:`tune` (each method's learning
  rate from its grid, the same budget for every method) and
  :func:`run_training` (every setting, method and seed), then
  :func:`speed_table` and :func:`accuracy_table` for claims 4.3 and 4.4.
- **Sensitivity** (section 4): :func:`sensitivity` (final training loss over a
  grid of :math:`m_g` and tolerance).

The update rule of ADINE is the library's reconstruction (see
:class:`landscape.optim.ADINE`); the chapter says so.
"""

from __future__ import annotations

import functools
import math
from typing import Any, Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
import torch.nn.functional as F

from ...training import data, models
from ...experiment.style import PALETTE
from ...experiment.cache import cached
from ...experiment.claims import Claim, decide
from ...experiment.stats import difference as beyond_noise
from ...methods.adine import ADINE
from ...experiment.params import Param, ParameterError, Schema
from ...training.synthetic import TOY_FUNCTIONS, toy_function
from ...training.loop import backprop_step, fit
from ..common import DATA_ROOT, DEVICE, PROFILE, SEEDS

NOTEBOOK = "book/adine.ipynb"
ORDER = 50
SMOKE_CHECKS = {
    "adine-escape-ratio": (0.0, 10.0),
    "adine-quad-log10-growth": (-50.0, 400.0),
    "adine-frac-mg": (0.0, 1.0),
    "adine-speed-ratio": (0.0, 100.0),
    "adine-acc-gap": (-100.0, 100.0),
}

#: the optimizers compared in section 3, in the order of the figures
METHODS = ("sgd", "momentum", "nesterov", "adam", "adine")
LABELS = {"sgd": "SGD", "momentum": "SGD + momentum", "nesterov": "Nesterov", "adam": "Adam", "adine": "ADINE"}
SHORT = {"sgd": "SGD", "momentum": "momentum", "nesterov": "Nesterov", "adam": "Adam", "adine": "ADINE"}  # table headers
COLOURS = {"sgd": PALETTE[7], "momentum": PALETTE[0], "nesterov": PALETTE[5], "adam": PALETTE[2], "adine": PALETTE[3]}
MODELS = ("mlp", "lenet5")
DATASETS = ("digits", "mnist10k", "mnist", "fashion-mnist", "cifar10")
SADDLE_LABELS = {"quadratic": r"$x^2 - y^2$", "degenerate": r"$x^2 - y^4$", "monkey": r"$x^3 - 3xy^2$"}

SCHEMA = Schema(
    profile=PROFILE,
    device=DEVICE,
    data_root=DATA_ROOT,
    seeds=SEEDS,
    threads=Param(int, "CPU threads of torch in this chapter (None: torch's default; 1 is fastest for these small models on a busy machine)", low=1, high=256, nullable=True),
    # 1. saddles
    saddle_functions=Param(list, "toy saddles (landscape.synthetic.TOY_FUNCTIONS)", item=str, choices=tuple(TOY_FUNCTIONS), min_len=1),
    saddle_momenta=Param(list, "constant momenta m of the escape experiment, below and above 1", item=float, low=0.0, high=2.0, min_len=2),
    saddle_method=Param(str, "constant-momentum update of the saddle runs", choices=("nesterov", "heavy-ball")),
    saddle_lr=Param(float, "learning rate of the saddle runs (the same for every m)", low=1e-6, high=1.0),
    saddle_eps=Param(float, "distance of the starting points from the saddle", low=1e-8, high=0.5),
    saddle_starts=Param(int, "starting points per saddle (random directions at distance saddle_eps)", low=1, high=64),
    saddle_seed=Param(int, "seed of the starting directions", low=0, high=2**31 - 1),
    saddle_max_steps=Param(int, "iterations before a run counts as not escaped", low=10, high=10**6),
    escape_by=Param(str, "escape criterion: 'loss' (f drops by escape_at below its start) or 'distance' (|p| >= escape_at)", choices=("loss", "distance")),
    escape_at=Param(float, "the loss drop or distance that counts as an escape", low=1e-6, high=1e6),
    # 2. why adaptive
    quad_curvatures=Param(list, "curvatures h_i of the convex quadratic 0.5 sum h_i x_i^2", item=float, low=1e-8, high=1e4, min_len=1),
    quad_lr=Param(float, "learning rate on the quadratic", low=1e-8, high=10.0),
    quad_momenta=Param(list, "constant momenta run on the quadratic", item=float, low=0.0, high=2.0, min_len=1),
    quad_steps=Param(int, "iterations on the quadratic", low=10, high=10**6),
    # 3. training
    settings=Param(list, "'model:dataset' pairs (models: mlp, lenet5; data: digits, mnist10k, mnist, fashion-mnist, cifar10); missing data sets are skipped", item=str, min_len=1),
    mlp_widths=Param(list, "hidden widths of the MLP", item=int, low=1, high=8192, min_len=1),
    epochs=Param(dict, "setting -> epochs of every run on it (every setting and sens_setting need one)"),
    n_train=Param(dict, "setting -> training examples (a subset; absent: all)"),
    n_test=Param(dict, "setting -> test examples (a subset; absent: all)"),
    batch_size=Param(int, "mini-batch size", low=1, high=8192),
    momentum=Param(float, "momentum of the SGD + momentum and Nesterov baselines", low=0.0, high=0.999),
    m_s=Param(float, "ADINE: momentum while the loss does not improve (< 1)", low=0.0, high=0.999),
    m_g=Param(float, "ADINE: momentum while the loss improves (>= 1 in the paper's spirit)", low=0.0, high=10.0),
    tolerance=Param(float, "ADINE: use m_g while loss <= tolerance * running average", low=1e-3, high=10.0),
    weight=Param(float, "ADINE: weight w of the running loss average (reconstruction)", low=0.0, high=0.999),
    lr_mode=Param(str, "'tuned' (each method's best learning rate from its grid) or 'equal' (lr_equal_sgd for the SGD family, lr_equal_adam for Adam)", choices=("tuned", "equal")),
    lrs_sgd=Param(list, "learning-rate grid of plain SGD", item=float, low=1e-6, high=10.0, min_len=1),
    lrs_momentum=Param(list, "learning-rate grid of SGD + momentum, Nesterov and ADINE (shared: equal learning rates come free)", item=float, low=1e-6, high=10.0, min_len=1),
    lrs_adam=Param(list, "learning-rate grid of Adam", item=float, low=1e-7, high=1.0, min_len=1),
    lr_equal_sgd=Param(float, "lr_mode 'equal': learning rate of the SGD family", low=1e-6, high=10.0),
    lr_equal_adam=Param(float, "lr_mode 'equal': learning rate of Adam", low=1e-7, high=1.0),
    tune_seed=Param(int, "seed of the tuning runs (not among seeds)", low=0, high=2**31 - 1),
    smooth_window=Param(int, "iterations of the trailing mean that smooths mini-batch losses", low=1, high=10**5),
    # 4. sensitivity
    sens_setting=Param(str, "the 'model:dataset' setting of the sensitivity grid"),
    sens_m_g=Param(list, "m_g values of the sensitivity grid", item=float, low=0.0, high=10.0, min_len=1),
    sens_tolerance=Param(list, "tolerance values of the sensitivity grid", item=float, low=1e-3, high=10.0, min_len=1),
    sens_seeds=Param(list, "seeds of the sensitivity grid", item=int, low=0, high=2**31 - 1, min_len=1),
    # live widget
    live_steps=Param(int, "iterations of the live 2-D ADINE run", low=10, high=10**5),
    # decision rules (declared before the run)
    escape_ratio_max=Param(float, "4.1: on every saddle, (fewest iterations with m >= 1) / (fewest with m < 1) must be below this", low=0.0, high=10.0),
    diverge_factor=Param(float, "4.2: every m > 1 must multiply the iterates' norm by more than this within quad_steps", low=1.0, high=1e300),
    target_slack=Param(float, "4.3: target loss = this x the final training loss of the slower of SGD + momentum and Nesterov", low=1.0, high=100.0),
    speed_ratio_max=Param(float, "4.3: ADINE's iterations to the target / a baseline's must be at most this, beyond noise", low=0.0, high=10.0),
    acc_margin=Param(float, "4.4: ADINE's final test accuracy must be >= best baseline - this many points", low=0.0, high=100.0),
)


# ---------------------------------------------------------------------------
# parameters


def parse_setting(text: str, *, name: str = "settings") -> tuple[str, str]:
    """``"lenet5:mnist10k"`` -> ``("lenet5", "mnist10k")``; raises
    :class:`ParameterError` naming parameter ``name``."""
    parts = text.split(":") if isinstance(text, str) else []
    if len(parts) != 2 or parts[0] not in MODELS or parts[1] not in DATASETS:
        raise ParameterError(
            f"parameter {name!r}: {text!r} is not 'model:dataset' with model in {', '.join(MODELS)} "
            f"and dataset in {', '.join(DATASETS)}"
        )
    return parts[0], parts[1]


def check(p: dict[str, Any]) -> dict[str, Any]:
    """Checks across parameters that the schema cannot express; returns ``p``.

    Raises :class:`~landscape.params.ParameterError` naming the parameter.
    """
    for s in p["settings"]:
        parse_setting(s)
    parse_setting(p["sens_setting"], name="sens_setting")
    for name in ("epochs", "n_train", "n_test"):
        for key, value in p[name].items():
            parse_setting(key, name=name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ParameterError(f"parameter {name!r}: {key!r}: {value!r} is not a positive integer")
    missing = [s for s in [*p["settings"], p["sens_setting"]] if s not in p["epochs"]]
    if missing:
        raise ParameterError(f"parameter 'epochs': no entry for {', '.join(missing)}")
    for name in ("lrs_momentum", "lrs_adam"):
        if len(p[name]) != len(p["lrs_sgd"]):
            raise ParameterError(
                f"parameter {name!r}: {len(p[name])} values, but lrs_sgd has {len(p['lrs_sgd'])}: "
                "every method gets the same tuning budget"
            )
    if p["m_g"] < p["m_s"]:
        raise ParameterError(f"parameter 'm_g': {p['m_g']} is below m_s = {p['m_s']} (ADINE needs m_g >= m_s)")
    bad = [m for m in p["sens_m_g"] if m < p["m_s"]]
    if bad:
        raise ParameterError(f"parameter 'sens_m_g': {bad} below m_s = {p['m_s']} (ADINE needs m_g >= m_s)")
    if p["tune_seed"] in p["seeds"]:
        raise ParameterError(f"parameter 'tune_seed': {p['tune_seed']} is one of the seeds; tuning must use another seed")
    ms = p["saddle_momenta"]
    if not any(m < 1 for m in ms) or not any(m >= 1 for m in ms):
        raise ParameterError(f"parameter 'saddle_momenta': {ms} needs values below 1 and values >= 1 (claim 4.1 compares them)")
    if not any(m > 1 for m in p["quad_momenta"]):
        raise ParameterError(f"parameter 'quad_momenta': {p['quad_momenta']} has no value above 1 (claim 4.2 is about m > 1)")
    return p


# ---------------------------------------------------------------------------
# 1. saddles: constant momentum in 2-D


def _gradients(fn: Callable[[Any], Any]) -> Callable[[np.ndarray], np.ndarray]:
    """Row-wise gradients of a toy function at points ``(K, 2)`` (NumPy, float64):
    closed forms for the three toy saddles (fast; checked against autograd in
    the tests), autograd for any other torch function."""
    if fn is TOY_FUNCTIONS["quadratic"]:
        return lambda p: np.stack([2 * p[:, 0], -2 * p[:, 1]], 1)
    if fn is TOY_FUNCTIONS["degenerate"]:
        return lambda p: np.stack([2 * p[:, 0], -4 * p[:, 1] ** 3], 1)
    if fn is TOY_FUNCTIONS["monkey"]:
        return lambda p: np.stack([3 * p[:, 0] ** 2 - 3 * p[:, 1] ** 2, -6 * p[:, 0] * p[:, 1]], 1)

    def grad(p: np.ndarray) -> np.ndarray:
        with torch.enable_grad():
            q = torch.tensor(p, dtype=torch.float64, requires_grad=True)
            (g,) = torch.autograd.grad(fn(q).sum(), q)
        return g.numpy()

    return grad


def _values(fn: Callable[[Any], Any], p: np.ndarray) -> np.ndarray:
    """``fn`` at points ``(K, 2)`` as a NumPy array (the toy functions take NumPy arrays as they are)."""
    v = fn(p)
    return v.detach().numpy() if isinstance(v, torch.Tensor) else np.asarray(v, dtype=np.float64)


def start_points(eps: float, n: int, seed: int) -> np.ndarray:
    """``n`` points at distance ``eps`` from the origin, in seeded uniformly random directions, ``(n, 2)``."""
    angles = np.random.default_rng(seed).uniform(0.0, 2 * np.pi, n)
    return eps * np.stack([np.cos(angles), np.sin(angles)], 1)


def momentum_descent(
    fn: Callable[[Any], Any],
    starts: np.ndarray | torch.Tensor,
    momenta: Sequence[float] | np.ndarray,
    *,
    lr: float,
    max_steps: int,
    nesterov: bool = True,
    escape_by: str = "loss",
    escape_at: float = 1.0,
    record: Sequence[int] = (),
) -> dict[str, Any]:
    r"""Constant-momentum descent from many 2-D points at once, until each escapes.

    Row ``k`` starts at ``starts[k]`` with momentum ``momenta[k]`` (any
    :math:`m \ge 0`, also :math:`m \ge 1`, which :class:`torch.optim.SGD`
    accepts too) and follows exactly :class:`torch.optim.SGD`'s update, in
    float64: :math:`b_1 = g_1`, :math:`b_t = m b_{t-1} + g_t`,
    :math:`p_t = p_{t-1} - \eta (g_t + m b_t)` (Nesterov) or
    :math:`p_t = p_{t-1} - \eta b_t` (heavy ball). A row *escapes* at the first
    step :math:`t` with :math:`f(p_t) \le f(p_0) -` ``escape_at`` (``escape_by="loss"``)
    or :math:`\|p_t\| \ge` ``escape_at`` (``"distance"``); it is then frozen.
    A row whose iterate becomes non-finite before escaping is marked diverged.

    Args:
        fn: a toy function of points ``(..., 2)``.
        starts: ``(K, 2)`` starting points.
        momenta: ``K`` momenta.
        record: rows whose whole trajectory is returned (up to their escape).

    Returns:
        dict with ``steps`` (``K`` ints: the escape step, -1 when not escaped
        within ``max_steps``), ``diverged`` (``K`` bools) and ``paths`` (one
        ``(T + 1, 2)`` array per recorded row, starting at its start).
    """
    if escape_by not in ("loss", "distance"):
        raise ValueError(f"Invalid escape_by: {escape_by!r} (choose 'loss' or 'distance')")
    p = np.array(starts.detach().numpy() if isinstance(starts, torch.Tensor) else starts, dtype=np.float64)
    m = np.array(momenta, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != 2 or m.shape != (p.shape[0],):
        raise ValueError(f"Invalid starts/momenta: shapes {p.shape} and {m.shape} (need (K, 2) and (K,))")
    grad = _gradients(fn)
    k = p.shape[0]
    f0 = _values(fn, p)
    steps = np.full(k, -1, dtype=np.int64)
    diverged = np.zeros(k, dtype=bool)
    active = np.ones(k, dtype=bool)
    record = list(record)
    paths = np.full((len(record), max_steps + 1, 2), np.nan)
    paths[:, 0] = p[record]
    buf = np.zeros_like(p)
    mc = m[:, None]
    t = 0
    with np.errstate(over="ignore", invalid="ignore"):
        for t in range(1, max_steps + 1):
            g = grad(p)
            buf = g.copy() if t == 1 else mc * buf + g
            d = g + mc * buf if nesterov else buf
            p = np.where(active[:, None], p - lr * d, p)
            paths[:, t] = p[record]
            crit = _values(fn, p) <= f0 - escape_at if escape_by == "loss" else np.linalg.norm(p, axis=1) >= escape_at
            done = active & crit
            steps[done] = t
            bad = active & ~done & ~np.isfinite(p).all(1)
            diverged |= bad
            active &= ~(done | bad)
            if not active.any():
                break
    # each recorded path ends where its row escaped (frozen afterwards)
    ends = [steps[r] if steps[r] > 0 else t for r in record]
    return {"steps": steps, "diverged": diverged, "paths": [paths[i, : e + 1].copy() for i, e in enumerate(ends)]}


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
    """The library's :class:`~landscape.optim.ADINE` on one 2-D point, until it escapes.

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


@cached("adine/saddle_escape", version=1)
def saddle_escape(*, functions: list[str], momenta: list[float], method: str, lr: float, eps: float, starts: int,
                  seed: int, max_steps: int, escape_by: str, escape_at: float, m_s: float, m_g: float,
                  tolerance: float, weight: float) -> dict:
    """Escape steps of constant momentum (every ``momenta`` x every start) and
    of ADINE (every start) on each toy saddle; the trajectories from the
    first start. Cached by all arguments."""
    pts = start_points(eps, starts, seed)
    out: dict[str, Any] = {"starts": pts}
    for name in functions:
        fn = toy_function(name)
        rows_m = np.repeat(np.asarray(momenta, dtype=np.float64), starts)
        rows_p = np.tile(pts, (len(momenta), 1))
        res = momentum_descent(fn, rows_p, rows_m, lr=lr, max_steps=max_steps, nesterov=method == "nesterov",
                               escape_by=escape_by, escape_at=escape_at, record=[i * starts for i in range(len(momenta))])
        ad = [adine_2d(fn, s, lr=lr, m_s=m_s, m_g=m_g, tolerance=tolerance, weight=weight, max_steps=max_steps,
                       escape_by=escape_by, escape_at=escape_at) for s in pts]
        out[name] = {
            "steps": res["steps"].reshape(len(momenta), starts),
            "diverged": res["diverged"].reshape(len(momenta), starts),
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
    and :math:`m \ge 1`, and their ratio (NaN when both are censored)."""
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


def _steps_text(v: float, censored: bool, max_steps: int) -> str:
    return f"> {max_steps}" if censored else f"{v:.0f}"


def escape_table(summary: dict, momenta: Sequence[float], max_steps: int) -> str:
    """A text table: median escape steps per momentum (rows, then ADINE) and saddle (columns)."""
    names = list(summary)
    head = f"{'m':>8}" + "".join(f"{n:>12}" for n in names)
    lines = [head, "-" * len(head)]
    for i, m in enumerate(momenta):
        lines.append(f"{m:>8g}" + "".join(f"{_steps_text(summary[n]['median'][i], summary[n]['censored'][i], max_steps):>12}" for n in names))
    lines.append(f"{'ADINE':>8}" + "".join(f"{_steps_text(summary[n]['adine_median'], summary[n]['adine_censored'], max_steps):>12}" for n in names))
    return "\n".join(lines)


def _contour(ax, fn, lim: float) -> None:
    """The map of ``fn`` on ``[-lim, lim]^2``: filled levels over the central 94% of values, the zero level in black."""
    g = np.linspace(-lim, lim, 121)
    xx, yy = np.meshgrid(g, g)
    zz = _values(fn, np.stack([xx.ravel(), yy.ravel()], 1)).reshape(xx.shape)
    lo, hi = np.percentile(zz, [3, 97])
    ax.contourf(xx, yy, zz, levels=np.linspace(lo, hi, 13), cmap="RdBu_r", alpha=0.55, extend="both")
    ax.contour(xx, yy, zz, levels=[0.0], colors="k", linewidths=0.6)
    ax.plot([0], [0], marker="x", color="k", ms=7)
    ax.set(xlim=(-lim, lim), ylim=(-lim, lim), aspect="equal")
    ax.grid(False)


def _escape_lim(escape_by: str, escape_at: float) -> float:
    return 1.6 * (escape_at if escape_by == "distance" else max(escape_at, 1e-3) ** 0.25 + 0.2)


def plot_saddle_paths(esc: dict, momenta: Sequence[float], index: int, *, escape_by: str, escape_at: float, max_steps: int, adine: bool = False):
    """One panel per saddle: the contour map and the trajectory of momentum
    ``momenta[index]`` (and, with ``adine=True``, ADINE's) from the first start."""
    names = [k for k in esc if k != "starts"]
    fig, axes = plt.subplots(1, len(names), figsize=(3.1 * len(names), 3.3), squeeze=False)
    lim = _escape_lim(escape_by, escape_at)
    m = momenta[index]
    for ax, name in zip(axes[0], names):
        r = esc[name]
        _contour(ax, toy_function(name), lim)
        path = r["paths"][index]
        ax.plot(path[:, 0], path[:, 1], color=PALETTE[0], lw=1.6, label=f"m = {m:g}")
        ax.plot(path[-1:, 0], path[-1:, 1], "o", color=PALETTE[0], ms=4)
        if adine:
            ap = r["adine_path"]
            ax.plot(ap[:, 0], ap[:, 1], color=PALETTE[3], lw=1.2, ls="--", label="ADINE")
        n = r["steps"][index, 0]
        ax.set_title(f"{SADDLE_LABELS.get(name, name)}: {'escapes at ' + str(n) if n > 0 else 'no escape in ' + str(max_steps)}", fontsize=9)
        ax.legend(loc="lower left", fontsize=7)
    fig.suptitle(f"constant momentum m = {m:g} from a point {np.linalg.norm(esc['starts'][0]):.2g} away from each saddle", fontsize=10)
    fig.tight_layout()
    return fig


def plot_escape_vs_m(summary: dict, momenta: Sequence[float], *, max_steps: int, method: str):
    """Median escape iterations against m, one line per saddle; ADINE as a dashed level."""
    fig, ax = plt.subplots(figsize=(7.6, 3.6))
    x = np.asarray(momenta, dtype=float)
    for i, (name, s) in enumerate(summary.items()):
        c = PALETTE[i]
        ax.plot(x, s["median"], "o-", color=c, label=SADDLE_LABELS.get(name, name))
        cen = s["censored"]
        if cen.any():
            ax.plot(x[cen], s["median"][cen], "^", color=c, ms=9, mfc="white")
        ax.axhline(s["adine_median"], color=c, ls="--", lw=1)
    ax.axvline(1.0, color="k", lw=0.8, ls=":")
    ax.set(yscale="log", xlabel="momentum m (constant)", ylabel="iterations to escape (median over starts)",
           title=f"{method} momentum, same learning rate for every m")
    ax.plot([], [], "^", color="grey", mfc="white", label=f"not escaped in {max_steps}\n(a lower bound)")
    ax.plot([], [], "--", color="grey", label="ADINE (same colour)")
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------
# 2. why adaptive: constant m > 1 on a convex quadratic


def iteration_matrix(m: float, a: float, method: str = "nesterov") -> np.ndarray:
    r"""The 2x2 matrix of one step of constant-momentum descent on
    :math:`f(x) = \tfrac12 h x^2`, with :math:`a = \eta h`.

    Heavy ball, on :math:`(x_t, x_{t-1})`:
    :math:`x_{t+1} = x_t - a x_t + m (x_t - x_{t-1})`, so
    :math:`\begin{pmatrix} 1 + m - a & -m \\ 1 & 0 \end{pmatrix}`.
    Nesterov (Sutskever's form), on :math:`(x_t, v_t)`:
    :math:`v_{t+1} = m v_t - a (x_t + m v_t)`, :math:`x_{t+1} = x_t + v_{t+1}`, so
    :math:`\begin{pmatrix} 1 - a & m (1 - a) \\ -a & m (1 - a) \end{pmatrix}`.
    """
    if method == "heavy-ball":
        return np.array([[1 + m - a, -m], [1.0, 0.0]])
    if method == "nesterov":
        return np.array([[1 - a, m * (1 - a)], [-a, m * (1 - a)]])
    raise ValueError(f"Invalid method: {method!r} (choose 'nesterov' or 'heavy-ball')")


def spectral_radius(m: float, a: float, method: str = "nesterov") -> float:
    r"""Largest :math:`|z|` over the eigenvalues of :func:`iteration_matrix`,
    i.e. the roots of :math:`z^2 - (1 + m - a) z + m` (heavy ball) or
    :math:`z^2 - (1 + m)(1 - a) z + m (1 - a)` (Nesterov).

    Example:
        >>> round(spectral_radius(0.9, 0.01), 4), round(spectral_radius(1.1, 0.001, "heavy-ball"), 4)
        (0.9439, 1.0876)
    """
    return float(np.abs(np.linalg.eigvals(iteration_matrix(m, a, method))).max())


def quadratic_run(curvatures: Sequence[float], momenta: Sequence[float], *, lr: float, steps: int, method: str = "nesterov",
                  start: float = 1.0) -> dict[str, np.ndarray]:
    r"""Constant-momentum descent on :math:`f(x) = \tfrac12 \sum_i h_i x_i^2`
    from :math:`x_0 = (1, \dots, 1) \cdot` ``start``, one run per momentum,
    with the same update as :func:`momentum_descent`.

    Returns:
        dict with ``log10_norm`` (``(len(momenta), steps + 1)``, :math:`\log_{10}
        \|x_t\| / \|x_0\|`, computed with a rescaling that never overflows) and
        ``rate`` (the measured growth factor per step: 10 to the least-squares
        slope of the log-norm over the second half of the run) and ``rho`` (the largest spectral radius
        over the curvatures, from :func:`spectral_radius`).
    """
    h = torch.tensor(list(curvatures), dtype=torch.float64)
    out = np.zeros((len(momenta), steps + 1))
    for i, m in enumerate(momenta):
        # the iteration is linear in (p, buf): rescale both whenever the norm
        # grows large, and keep the log of the scale aside
        p = torch.full_like(h, float(start))
        buf = torch.zeros_like(h)
        n0 = float(p.norm())
        log_scale = 0.0
        for t in range(1, steps + 1):
            g = h * p
            buf = g.clone() if t == 1 else m * buf + g
            p = p - lr * (g + m * buf if method == "nesterov" else buf)
            n = float(p.norm())
            if n > 1e100 or (0 < n < 1e-100):
                p, buf = p / n, buf / n
                log_scale += math.log10(n)
                n = 1.0
            out[i, t] = log_scale + (math.log10(n) if n > 0 else -math.inf) - math.log10(n0)
    half = steps // 2
    t = np.arange(half, steps + 1)
    rate = 10 ** np.polyfit(t, out[:, half:].T, 1)[0]  # least-squares slope: robust to the oscillation of complex roots
    rho = np.array([max(spectral_radius(m, lr * hi, method) for hi in curvatures) for m in momenta])
    return {"log10_norm": out, "rate": rate, "rho": rho}


def plot_spectral_radius(curvature_lrs: Sequence[float], *, m_max: float = 1.2):
    """Spectral radius against m for a few values of a = lr * h, heavy ball and Nesterov."""
    ms = np.linspace(0.0, m_max, 241)
    fig, axes = plt.subplots(1, 2, figsize=(9.0, 3.4), sharey=True)
    for ax, method in zip(axes, ("heavy-ball", "nesterov")):
        for i, a in enumerate(curvature_lrs):
            ax.plot(ms, [spectral_radius(m, a, method) for m in ms], color=PALETTE[i], label=rf"$\eta h$ = {a:g}")
        ax.axhline(1.0, color="k", lw=0.8)
        ax.axvline(1.0, color="k", lw=0.8, ls=":")
        ax.set(xlabel="momentum m", title=method, ylim=(0.0, max(1.6, math.sqrt(m_max) + 0.1)))
    axes[0].set_ylabel("spectral radius")
    axes[1].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_quadratic(run: dict, momenta: Sequence[float], *, factor: float):
    """log10 of the iterates' norm (relative to the start) against the step, one line per m."""
    fig, ax = plt.subplots(figsize=(6.4, 3.4))
    steps = np.arange(run["log10_norm"].shape[1])
    for i, m in enumerate(momenta):
        ax.plot(steps, run["log10_norm"][i], color=PALETTE[i % len(PALETTE)], label=f"m = {m:g}")
    ax.axhline(math.log10(factor), color="k", ls="--", lw=0.8, label=f"claim 4.2 bound ({factor:g} x)")
    ax.set(xlabel="iteration", ylabel=r"$\log_{10} \|x_t\| / \|x_0\|$", title="constant momentum on a convex quadratic")
    ax.legend(fontsize=7, ncol=2)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------
# 3. training curves


@functools.lru_cache(maxsize=8)
def _dataset(name: str, root: str | None, n_train: int | None, n_test: int | None) -> data.Dataset:
    return data.load(name, root=root, n_train=n_train, n_test=n_test, seed=0)


def _model(model: str, ds: data.Dataset, widths: Sequence[int], seed: int) -> torch.nn.Module:
    c, h, _ = ds.input_shape
    if model == "mlp":
        return models.build("mlp", in_features=int(np.prod(ds.input_shape)), widths=list(widths), out_features=ds.num_classes, seed=seed)
    return models.build("lenet5", in_channels=c, num_classes=ds.num_classes, input_size=h, seed=seed)


def make_optimizer(method: str, params, *, lr: float, momentum: float, m_s: float, m_g: float, tolerance: float, weight: float) -> torch.optim.Optimizer:
    """The optimizer called ``method`` (see :data:`METHODS`)."""
    if method == "sgd":
        return torch.optim.SGD(params, lr=lr)
    if method == "momentum":
        return torch.optim.SGD(params, lr=lr, momentum=momentum)
    if method == "nesterov":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, nesterov=True)
    if method == "adam":
        return torch.optim.Adam(params, lr=lr)
    if method == "adine":
        return ADINE(params, lr=lr, m_s=m_s, m_g=m_g, tolerance=tolerance, weight=weight)
    raise ValueError(f"Invalid method: {method!r} (choose from {', '.join(METHODS)})")


@cached("adine/train_run", version=1)
def train_run(*, model: str, dataset: str, data_root: str | None, n_train: int | None, n_test: int | None,
              widths: list[int], epochs: int, batch_size: int, method: str, lr: float, momentum: float,
              m_s: float, m_g: float, tolerance: float, weight: float, seed: int, device: str) -> dict:
    """One training run through the shared loop (``landscape.train.fit``, whose
    default step calls ``optimizer.step(closure)``): every mini-batch loss,
    the per-epoch history (test loss and accuracy) and, for ADINE, the momentum
    it used at each step. Cached by all arguments."""
    ds = _dataset(dataset, data_root, n_train, n_test)
    net = _model(model, ds, widths, seed)
    opt = make_optimizer(method, net.parameters(), lr=lr, momentum=momentum, m_s=m_s, m_g=m_g, tolerance=tolerance, weight=weight)
    base = backprop_step(opt, F.cross_entropy)
    losses: list[torch.Tensor] = []

    def step(m, x, y):
        loss = base(m, x, y)
        losses.append(loss.reshape(()))
        return loss

    hist = fit(net, ds.train, test=ds.test, epochs=epochs, optimizer=opt, step=step, batch_size=batch_size,
               seed=seed, device=device, eval_train=False)
    per_epoch = math.ceil(ds.train[0].shape[0] / batch_size)
    return {
        "losses": torch.stack(losses).double().cpu() if losses else torch.zeros(0, dtype=torch.float64),
        "history": hist.to_dict(),
        "momenta": opt.momentum_history() if isinstance(opt, ADINE) else torch.zeros(0, dtype=torch.float64),
        "planned_steps": per_epoch * epochs,
    }


def smooth(losses: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean over ``window`` iterations (over the first ``i + 1`` at step ``i < window``).

    Example:
        >>> smooth([4.0, 2.0, 6.0], 2).tolist()
        [4.0, 3.0, 4.0]
    """
    x = np.asarray(losses, dtype=float)
    if x.size == 0:
        return x
    c = np.concatenate([[0.0], np.cumsum(x)])
    i = np.arange(1, x.size + 1)
    lo = np.maximum(0, i - window)
    return (c[i] - c[lo]) / (i - lo)


def final_loss(losses: np.ndarray, window: int, planned: int) -> float:
    """Mean of the last ``window`` mini-batch losses; ``inf`` when the run
    stopped early (diverged) or ended on a non-finite loss."""
    x = np.asarray(losses, dtype=float)
    if x.size < planned or x.size == 0 or not np.isfinite(x[-window:]).all():
        return math.inf
    return float(x[-window:].mean())


def steps_to(losses: np.ndarray, target: float, window: int) -> int | None:
    """First step (1-based) whose smoothed loss is at most ``target``; None if never."""
    s = smooth(losses, window)
    hit = np.flatnonzero(s <= target)
    return int(hit[0]) + 1 if hit.size else None


def _setting_args(p: dict, setting: str, device: torch.device) -> dict:
    model, dataset = parse_setting(setting)
    return dict(model=model, dataset=dataset, data_root=p["data_root"], n_train=p["n_train"].get(setting),
                n_test=p["n_test"].get(setting), widths=list(p["mlp_widths"]), epochs=p["epochs"][setting],
                batch_size=p["batch_size"], momentum=p["momentum"], m_s=p["m_s"], m_g=p["m_g"], tolerance=p["tolerance"],
                weight=p["weight"], device=str(device))


def available(p: dict) -> tuple[list[str], dict[str, str]]:
    """The settings whose data set is on this machine, and why the others were skipped."""
    ok, skipped = [], {}
    for s in p["settings"]:
        _, name = parse_setting(s)
        try:
            _dataset(name, p["data_root"], None, None)
            ok.append(s)
        except (data.DataNotFoundError, ImportError) as exc:  # CIFAR needs torchvision
            skipped[s] = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    return ok, skipped


def grid_of(p: dict, method: str) -> list[float]:
    """The learning-rate grid of ``method``."""
    return list(p["lrs_adam"] if method == "adam" else p["lrs_sgd"] if method == "sgd" else p["lrs_momentum"])


def tune(p: dict, setting: str, device: torch.device) -> dict[str, Any]:
    """Each method's learning rate for ``setting``.

    ``lr_mode == "tuned"``: every method runs every learning rate of its grid
    (``lrs_sgd`` for SGD, ``lrs_momentum`` for SGD + momentum, Nesterov and
    ADINE, ``lrs_adam`` for Adam; grids of the same length, so the same
    budget) once, with ``tune_seed`` and the
    setting's full number of epochs, and keeps the one with the lowest final
    training loss (mean of the last ``smooth_window`` mini-batch losses; a
    diverged run counts as infinite). ``"equal"``: ``lr_equal_sgd`` /
    ``lr_equal_adam``, no tuning runs.

    Returns:
        dict with ``lr`` (method -> chosen lr), ``grid`` (method -> list of
        (lr, final loss)) and ``losses`` (method -> list of each tuning run's
        mini-batch losses, in grid order); the last two empty in the equal mode.
    """
    if p["lr_mode"] == "equal":
        return {"lr": {m: p["lr_equal_adam"] if m == "adam" else p["lr_equal_sgd"] for m in METHODS}, "grid": {}, "losses": {}}
    args = _setting_args(p, setting, device)
    chosen, grid, losses = {}, {}, {}
    for method in METHODS:
        rows, curves = [], []
        for lr in grid_of(p, method):
            r = train_run(**args, method=method, lr=lr, seed=p["tune_seed"])
            rows.append((lr, final_loss(r["losses"].numpy(), p["smooth_window"], r["planned_steps"])))
            curves.append(r["losses"].numpy())
        grid[method], losses[method] = rows, curves
        chosen[method] = min(rows, key=lambda row: (row[1], row[0]))[0]
    return {"lr": chosen, "grid": grid, "losses": losses}


def run_training(p: dict, device: torch.device) -> dict[str, dict[str, Any]]:
    """Every available setting: the tuning, then every method at its learning rate for every seed."""
    out = {}
    settings, _ = available(p)
    for s in settings:
        tuned = tune(p, s, device)
        args = _setting_args(p, s, device)
        runs = {m: [train_run(**args, method=m, lr=tuned["lr"][m], seed=seed) for seed in p["seeds"]] for m in METHODS}
        out[s] = {"tuning": tuned, "runs": runs}
    return out


def _final_acc(run: dict) -> float:
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


def speed_claim(speed: dict, *, ratio_max: float) -> tuple[Claim, list[dict]]:
    """Claim 4.3 over every setting and both momentum baselines.

    For each (setting, baseline) pair: ratio = mean steps of ADINE / mean steps
    of the baseline, with the difference of the per-seed steps and its noise
    (:func:`landscape.claims.beyond_noise`). The claim is decided on one pair
    by :func:`landscape.claims.decide`: a pair that is not reproduced if any
    (the largest ratio among those), else an inconclusive pair if any, else
    the pair with the largest ratio - so the verdict is "reproduced" only when
    every pair is.
    """
    rows = []
    for s, r in speed.items():
        a = r["steps"]["adine"]
        for b in ("momentum", "nesterov"):
            base = r["steps"][b]
            ratio = float(a.mean() / base.mean())
            noise = beyond_noise(a, base)
            c = decide("4.3", "", ratio, "<=", ratio_max, noise=noise)
            rows.append({"setting": s, "baseline": b, "ratio": ratio, "noise": noise, "verdict": c.verdict,
                         "adine_censored": int(r["censored"]["adine"].sum()), "baseline_censored": int(r["censored"][b].sum())})
    order = {"not reproduced": 0, "inconclusive": 1, "reproduced": 2}
    pick = min(rows, key=lambda row: (order[row["verdict"]], -row["ratio"]))
    claim = decide("4.3", "ADINE reaches a given training loss in fewer iterations than SGD + momentum and Nesterov "
                   "(ratio of mean iterations, worst setting and baseline)", pick["ratio"], "<=", ratio_max, noise=pick["noise"],
                   detail=f"decided on {pick['setting']} vs {LABELS[pick['baseline']]}")
    return claim, rows


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
        acc = {m: np.array([_final_acc(x) for x in r["runs"][m]]) for m in METHODS}
        best = max((m for m in METHODS if m != "adine"), key=lambda m: acc[m].mean())
        out[s] = {"acc": acc, "best": best, "gap_points": float(100 * (acc["adine"].mean() - acc[best].mean()))}
    return out


def fraction_at_mg(results: dict, m_g: float) -> dict[str, np.ndarray]:
    """Per setting: the fraction of ADINE's steps that used m_g, per seed."""
    return {s: np.array([float(np.mean(x["momenta"].numpy() == m_g)) if len(x["momenta"]) else math.nan for x in r["runs"]["adine"]])
            for s, r in results.items()}


def _thin(y: np.ndarray, n_max: int = 400) -> tuple[np.ndarray, np.ndarray]:
    """Iterations 1..len(y) and ``y``, keeping at most about ``n_max`` evenly
    spaced points (the curves are smoothed, so nothing visible is lost and the
    page's PNGs stay small)."""
    y = np.asarray(y)
    n = y.shape[-1]
    k = max(1, math.ceil(n / n_max))
    idx = np.unique(np.r_[np.arange(0, n, k), n - 1]) if n else np.arange(0)
    return idx + 1, y[..., idx]


def as_image(fig, dpi: int = 100):
    """The figure as a PNG :class:`IPython.display.Image` at ``dpi`` (1x: a
    quarter of the pixels of the book's retina figures), closed. For the
    widgets, whose figures all go into the page."""
    import io

    from IPython.display import Image

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)
    return Image(data=buf.getvalue(), format="png")


def _panels(n: int, width: float, height: float):
    """A figure with ``n`` panels: one row of up to 3, a 2x2 grid for 4, else rows of 3."""
    cols = min(n, 2 if n == 4 else 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(width * cols, height * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_visible(False)
    return fig, axes


def _mean_curve(runs: list[dict], window: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    curves = [smooth(x["losses"].numpy(), window) for x in runs]
    n = max(len(c) for c in curves)
    a = np.full((len(curves), n), np.nan)
    for i, c in enumerate(curves):
        a[i, : len(c)] = c
    with np.errstate(all="ignore"):
        return np.nanmean(a, 0), np.nanmin(a, 0), np.nanmax(a, 0)


def plot_training(results: dict, speed: dict, *, window: int, title_extra: str = ""):
    """One row per setting: smoothed training loss against iterations (mean
    over seeds, band: min to max) with the target of claim 4.3, and test
    accuracy against epochs (mean, band: min to max)."""
    settings = list(results)
    fig, axes = plt.subplots(len(settings), 2, figsize=(9.0, 2.6 * len(settings)), squeeze=False)
    for row, s in enumerate(settings):
        ax_l, ax_a = axes[row]
        for m in METHODS:
            runs = results[s]["runs"][m]
            mean, lo, hi = _mean_curve(runs, window)
            it, (mean, lo, hi) = _thin(np.stack([mean, lo, hi]))
            lr = results[s]["tuning"]["lr"][m]
            ax_l.plot(it, mean, color=COLOURS[m], lw=1.6 if m == "adine" else 1.1, label=f"{LABELS[m]} (lr {lr:g})")
            ax_l.fill_between(it, lo, hi, color=COLOURS[m], alpha=0.15, lw=0)
            accs = [x["history"]["columns"]["test_acc"] for x in runs if not x["history"]["diverged"]]
            if accs:
                n = min(len(a) for a in accs)
                a = np.array([a[:n] for a in accs], dtype=float)
                ep = np.arange(n)
                ax_a.plot(ep, a.mean(0), "o-", ms=3, color=COLOURS[m], lw=1.6 if m == "adine" else 1.1, label=LABELS[m])
                ax_a.fill_between(ep, a.min(0), a.max(0), color=COLOURS[m], alpha=0.15, lw=0)
        ax_l.axhline(speed[s]["target"], color="k", ls="--", lw=0.8, label="target (claim 4.3)")
        ax_l.set(yscale="log", xlabel="iteration", ylabel=f"training loss (mean of {window})", title=f"{s}{title_extra}")
        ax_a.set(xlabel="epoch", ylabel="test accuracy", title=f"{s}: test accuracy")
        lo_acc = min(np.nanmin([_final_acc(x) for x in results[s]["runs"][m]]) for m in METHODS)
        ax_a.set_ylim(max(0.0, min(lo_acc, 0.9) - 0.05), 1.0)
        ax_l.legend(fontsize=6.5, loc="upper right")
        ax_a.legend(fontsize=6.5, loc="lower right")
    fig.tight_layout()
    return fig


def plot_method(results: dict, method: str, *, window: int):
    """Training loss of one method (each seed, thin; mean, bold) against the
    other methods' means (grey), one panel per setting."""
    settings = list(results)
    fig, axes = _panels(len(settings), 3.6, 2.7)
    for ax, s in zip(axes.flat, settings):
        for m in METHODS:
            if m != method:
                mean, _, _ = _mean_curve(results[s]["runs"][m], window)
                ax.plot(*_thin(mean), color="0.75", lw=1)
        for x in results[s]["runs"][method]:
            ax.plot(*_thin(smooth(x["losses"].numpy(), window)), color=COLOURS[method], lw=0.7, alpha=0.6)
        mean, _, _ = _mean_curve(results[s]["runs"][method], window)
        ax.plot(*_thin(mean), color=COLOURS[method], lw=2)
        ax.set(yscale="log", title=s)
        ax.set_xlabel("iteration", fontsize=9)
        ax.set_ylabel("training loss", fontsize=9)
    fig.suptitle(f"{LABELS[method]} (colour: each seed and their mean); other methods grey (means)", fontsize=10)
    fig.tight_layout()
    return fig


def plot_momentum(results: dict, fractions: dict, *, m_g: float, window: int):
    """Left: the fraction of ADINE's steps at m_g per setting (each seed a
    dot). Right: the running fraction over iterations (first seed)."""
    settings = list(results)
    fig, (ax_b, ax_r) = plt.subplots(1, 2, figsize=(10.0, 3.2), gridspec_kw={"width_ratios": [1, 2]})
    for i, s in enumerate(settings):
        f = fractions[s]
        ax_b.bar(i, np.nanmean(f), color=PALETTE[i % len(PALETTE)], alpha=0.7)
        ax_b.plot(np.full(f.size, i), f, "k.", ms=4)
        mom = results[s]["runs"]["adine"][0]["momenta"].numpy()
        if mom.size:
            ax_r.plot(*_thin(smooth((mom == m_g).astype(float), window)), color=PALETTE[i % len(PALETTE)], label=s)
    ax_b.set_xticks(range(len(settings)), settings, rotation=30, ha="right", fontsize=7)
    ax_b.set(ylim=(0, 1), ylabel=f"fraction of steps at m_g = {m_g:g}")
    ax_r.set(ylim=(0, 1), xlabel="iteration", ylabel=f"fraction at m_g (last {window} steps)", title="ADINE's switch over training (first seed)")
    ax_r.legend(fontsize=7)
    fig.tight_layout()
    return fig


def plot_tuning(results: dict):
    """Final training loss against the learning rate, per method and setting (the tuning runs)."""
    settings = [s for s in results if results[s]["tuning"]["grid"]]
    if not settings:
        return None
    fig, axes = _panels(len(settings), 3.6, 2.7)
    for ax, s in zip(axes.flat, settings):
        for m, rows in results[s]["tuning"]["grid"].items():
            lrs, finals = zip(*rows)
            finals = np.array(finals, dtype=float)
            ok = np.isfinite(finals)
            ax.plot(np.array(lrs)[ok], finals[ok], "o-", color=COLOURS[m], label=LABELS[m], ms=3)
            if (~ok).any():
                ax.plot(np.array(lrs)[~ok], np.full((~ok).sum(), np.nanmax(np.where(ok, finals, np.nan)) if ok.any() else 1.0), "x", color=COLOURS[m])
            chosen = results[s]["tuning"]["lr"][m]
            f = dict(rows)[chosen]
            if math.isfinite(f):
                ax.plot([chosen], [f], "o", mfc="none", mec="k", ms=8)
        ax.set(xscale="log", yscale="log", title=s)
        ax.set_xlabel("learning rate", fontsize=9)
        ax.set_ylabel("final training loss", fontsize=9)
    axes.flat[0].legend(fontsize=6.5)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------
# 4. sensitivity


def sensitivity(p: dict, lr: float, device: torch.device) -> np.ndarray:
    """Final training loss of ADINE at learning rate ``lr`` on ``sens_setting``
    for every (m_g, tolerance) of the grid, mean over ``sens_seeds``; ``inf``
    where a run diverged. Shape ``(len(sens_m_g), len(sens_tolerance))``."""
    args = _setting_args(p, p["sens_setting"], device)
    out = np.zeros((len(p["sens_m_g"]), len(p["sens_tolerance"])))
    for i, mg in enumerate(p["sens_m_g"]):
        for j, tol in enumerate(p["sens_tolerance"]):
            finals = []
            for seed in p["sens_seeds"]:
                r = train_run(**{**args, "m_g": mg, "tolerance": tol}, method="adine", lr=lr, seed=seed)
                finals.append(final_loss(r["losses"].numpy(), p["smooth_window"], r["planned_steps"]))
            out[i, j] = np.mean(finals)
    return out


def plot_sensitivity(grid: np.ndarray, m_gs: Sequence[float], tols: Sequence[float], *, m_s: float, reference: float | None = None):
    """Heat map of the final training loss over (m_g, tolerance), annotated
    with the loss ('div' where a run stopped on a non-finite loss). With a
    ``reference`` (Nesterov's loss, the row m_g = m_s) the colour is the ratio
    to it on a log scale, blue better and red worse (clipped at 10x either way)."""
    from matplotlib.colors import LogNorm

    fig, ax = plt.subplots(figsize=(1.2 * len(tols) + 2.6, 0.55 * len(m_gs) + 1.7))
    finite = np.isfinite(grid)
    if reference is not None and reference > 0:
        shown = np.where(finite, grid / reference, 10.0)
        im = ax.imshow(np.clip(shown, 0.1, 10.0), cmap="RdBu_r", aspect="auto", norm=LogNorm(vmin=0.1, vmax=10.0))
        label = "loss / Nesterov's"
        dark = lambda v: v < 0.25 or v > 4.0
    else:
        shown = np.where(finite, grid, np.nan)
        lo, hi = (np.nanmin(shown), np.nanmax(shown)) if finite.any() else (1e-3, 1.0)
        im = ax.imshow(shown, cmap="viridis", aspect="auto", norm=LogNorm(vmin=max(lo, 1e-8), vmax=max(hi, lo * 1.01, 1e-8)))
        label = "final training loss"
        dark = lambda v: v < np.sqrt(max(lo, 1e-8) * max(hi, 1e-8))
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            txt = f"{grid[i, j]:.3g}" if finite[i, j] else "div"
            ax.text(j, i, txt, ha="center", va="center", fontsize=7,
                    color="w" if not finite[i, j] or dark(shown[i, j]) else "k")
    ax.set_xticks(range(len(tols)), [f"{t:g}" for t in tols])
    ax.set_yticks(range(len(m_gs)), [f"{m:g}" + (" (= m_s)" if m == m_s else "") for m in m_gs])
    ax.set(xlabel="tolerance", ylabel="m_g")
    ax.grid(False)
    title = "ADINE's final training loss"
    if reference is not None:
        title += f" (Nesterov at the same lr: {reference:.3g})"
    ax.set_title(title, fontsize=9)
    fig.colorbar(im, ax=ax, shrink=0.85, label=label)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------------------
# live widget


def plot_live(name: str, *, start: Sequence[float], lr: float, m_s: float, m_g: float, tolerance: float, weight: float,
              steps: int, escape_by: str, escape_at: float):
    """ADINE on a toy saddle with the given settings: trajectory on the contour map and the momentum it used."""
    r = adine_2d(name, start, lr=lr, m_s=m_s, m_g=m_g, tolerance=tolerance, weight=weight, max_steps=steps,
                 escape_by=escape_by, escape_at=escape_at)
    fig, (ax, ax_m) = plt.subplots(1, 2, figsize=(8.4, 3.4), gridspec_kw={"width_ratios": [1, 1.3]})
    _contour(ax, toy_function(name), _escape_lim(escape_by, escape_at))
    ax.plot(r["path"][:, 0], r["path"][:, 1], color=PALETTE[3], lw=1.5)
    ax.set_title(f"{SADDLE_LABELS[name]}: {'escapes at ' + str(r['steps']) if r['steps'] > 0 else 'no escape in ' + str(steps)}", fontsize=9)
    ax_m.plot(np.arange(1, r["momenta"].size + 1), r["momenta"], color=PALETTE[3], lw=1)
    ax_m.set(xlabel="iteration", ylabel="momentum m_t", title=f"m_s = {m_s:g}, m_g = {m_g:g}, tolerance = {tolerance:g}")
    fig.tight_layout()
    return fig
