r"""Ways out of a saddle: perturbed gradient descent, and a step along negative curvature.

Used by the chapter "Are saddles good enough?" (``book/saddles.ipynb``,
sankar2017saddles), which asks whether leaving the saddle a network was
trained to buys any loss.

======================  ==========================================================
:class:`PerturbedGD`    gradient descent that adds isotropic noise from a ball
                        when the gradient is small (Jin et al. 2017), a
                        ``torch.optim`` optimizer
:func:`flat_parameters` the trainable parameters as one vector, in
                        :class:`~landscape.curvature.HessianOperator` order
:func:`loss_along`      the loss on the line :math:`\theta + \alpha v`
:func:`moved`           a copy of a model moved to :math:`\theta + \alpha v`
:func:`line_search`     the lowest loss on a geometric line search along one side of
                        a direction, run until the loss rises (no cap on the step)
:func:`two_sided_search` the same on both sides, :math:`\pm v`
:func:`random_directions` unit directions drawn uniformly from the sphere, seeded
======================  ==========================================================

Example:
    >>> x = torch.zeros(2, requires_grad=True)             # the saddle of x^2 - y^2
    >>> opt = PerturbedGD([x], lr=0.1, radius=1e-3, g_thres=1e-6, t_thres=100, seed=0)
    >>> for _ in range(60):
    ...     opt.zero_grad()
    ...     (x[0] ** 2 - x[1] ** 2).backward()
    ...     opt.step()
    >>> bool(abs(x[1]) > 1.0), opt.perturbations            # escaped along y, after one perturbation
    (True, 1)
"""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim import Optimizer

__all__ = ["PerturbedGD", "uniform_ball", "flat_parameters", "loss_along", "moved", "line_search", "two_sided_search",
           "random_directions"]


def uniform_ball(dim: int, radius: float, generator: torch.Generator) -> Tensor:
    r"""One point drawn uniformly from the ball :math:`\{\xi \in \mathbb R^d : \|\xi\| \le r\}`
    (float64, CPU): a Gaussian direction scaled to length :math:`r\,U^{1/d}`, :math:`U \sim U(0, 1)`,
    so that :math:`P(\|\xi\| \le s r) = s^d`.

    Example:
        >>> xi = uniform_ball(3, 0.5, torch.Generator().manual_seed(0))
        >>> tuple(xi.shape), bool(xi.norm() <= 0.5)
        ((3,), True)
    """
    if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1:
        raise ValueError(f"Invalid dim: {dim!r} (must be a positive integer)")
    if not radius >= 0:
        raise ValueError(f"Invalid radius: {radius!r} (must be >= 0)")
    z = torch.randn(dim, generator=generator, dtype=torch.float64)
    u = torch.rand((), generator=generator, dtype=torch.float64)
    return z * (radius * u.pow(1.0 / dim) / torch.linalg.vector_norm(z).clamp_min(1e-300))


def _pack(gen: torch.Generator) -> bytes:
    """The generator's state as ``bytes``: optimizer state that ``load_state_dict`` leaves alone
    (it casts every tensor in the state to the parameter's dtype)."""
    return gen.get_state().numpy().tobytes()


class PerturbedGD(Optimizer):
    r"""Perturbed gradient descent (Jin, Ge, Netrapalli, Kakade and Jordan, 2017).

    Plain gradient descent stays at a strict saddle point forever if it lands
    on one (the gradient is zero there). Perturbed gradient descent adds, when
    the gradient is small and no perturbation happened recently, a point drawn
    uniformly from a ball of radius :math:`r`; the negative-curvature direction
    then grows and the iterate leaves the saddle.

    **Algorithm** (per parameter group, its parameters flattened into one
    vector :math:`\theta`; :math:`t = 0, 1, \dots` counts this group's steps,
    :math:`g_t = \nabla f(\theta_t)` as computed before ``step``):

    .. math::

        \text{if } \|g_t\| \le g_{\text{thres}} \text{ and }
            (t_{\text{noise}} \text{ unset or } t - t_{\text{noise}} > t_{\text{thres}}):&\quad
            t_{\text{noise}} \leftarrow t,\quad \theta_t \leftarrow \theta_t + \xi_t,\quad
            \xi_t \sim \mathrm{Uniform}(B_0(r)) \\
        \theta_{t+1} &= \theta_t - \eta\, g_t

    When ``step`` is given a ``closure`` and a perturbation happened, the
    closure is called again so that :math:`g_t` is the gradient at the
    perturbed point, exactly as in the paper's Algorithm 2 (one extra forward
    and backward per perturbation); without a closure the step is
    :math:`\theta_{t+1} = \theta_t + \xi_t - \eta\,\nabla f(\theta_t)`. With
    mini-batch gradients (as the chapter trains) :math:`g_t` is the mini-batch
    gradient: this is then perturbed *stochastic* gradient descent. The
    paper's stopping rule (return :math:`\theta_{t_{\text{noise}}}` when the
    loss fell by less than :math:`f_{\text{thres}}` within
    :math:`t_{\text{thres}}` steps of a perturbation) is a termination test
    and is not part of the update; training runs for a fixed number of epochs.

    The noise is drawn on the CPU in float64 from a generator seeded with
    ``seed`` (mixed with the group's index) and then cast to each parameter's
    dtype and device, so a seed gives the same noise on every device. The
    generator's state is part of the optimizer state, so ``state_dict`` /
    ``load_state_dict`` resume the same noise sequence. Deciding whether to
    perturb reads :math:`\|g_t\|` on the host: one device sync per step.

    Args:
        params: parameters or parameter groups.
        lr: step size :math:`\eta` (``> 0``).
        radius: perturbation radius :math:`r` (``>= 0``; 0 gives plain gradient descent).
        g_thres: the gradient-norm threshold :math:`g_{\text{thres}}` (``>= 0``).
        t_thres: steps that must pass after a perturbation before the next
            one, :math:`t_{\text{thres}}` (an integer ``>= 0``).
        seed: seed of the noise (an integer ``>= 0``).

    State (in the state of each group's first parameter): ``step``,
    ``last_perturbation`` (``None`` before the first), ``perturbations``,
    ``last_norm`` (:math:`\|\xi\|` of the last perturbation) and ``rng_state`` (the
    noise generator's state as ``bytes``, since ``load_state_dict`` casts state tensors
    to the parameters' dtype).
    :attr:`perturbations` sums the count over groups.

    Reference:
        C. Jin, R. Ge, P. Netrapalli, S. M. Kakade, M. I. Jordan. *How to Escape
        Saddle Points Efficiently.* ICML 2017, arXiv:1703.00887 (Algorithm 2).

    Example:
        >>> w = torch.tensor([3.0], requires_grad=True)
        >>> opt = PerturbedGD([w], lr=0.25, radius=0.1, g_thres=0.01)
        >>> (w ** 2).sum().backward(); _ = opt.step()
        >>> w.item(), opt.perturbations      # large gradient: a plain step, no noise
        (1.5, 0)
    """

    def __init__(self, params: Iterable[Any], lr: float = 1e-2, *, radius: float = 1e-2, g_thres: float = 1e-3,
                 t_thres: int = 10, seed: int = 0) -> None:
        if not (isinstance(lr, (int, float)) and lr > 0 and math.isfinite(lr)):
            raise ValueError(f"Invalid learning rate: {lr}")
        if not (isinstance(radius, (int, float)) and radius >= 0 and math.isfinite(radius)):
            raise ValueError(f"Invalid radius: {radius}")
        if not (isinstance(g_thres, (int, float)) and g_thres >= 0 and math.isfinite(g_thres)):
            raise ValueError(f"Invalid g_thres: {g_thres}")
        if isinstance(t_thres, bool) or not isinstance(t_thres, int) or t_thres < 0:
            raise ValueError(f"Invalid t_thres: {t_thres}")
        if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
            raise ValueError(f"Invalid seed: {seed}")
        defaults = dict(lr=lr, radius=radius, g_thres=g_thres, t_thres=t_thres, seed=seed)
        super().__init__(params, defaults)

    @property
    def perturbations(self) -> int:
        """Perturbations made so far, over all groups."""
        total = 0
        for group in self.param_groups:
            if group["params"]:
                total += int(self.state[group["params"][0]].get("perturbations", 0))
        return total

    def _group_state(self, index: int, group: dict) -> dict:
        st = self.state[group["params"][0]]
        if "rng_state" not in st:
            gen = torch.Generator().manual_seed(int(group["seed"]) * 1_000_003 + index)
            st.update(step=0, last_perturbation=None, perturbations=0, last_norm=0.0, rng_state=_pack(gen))
        return st

    @torch.no_grad()
    def _perturb(self, st: dict, params: list[Tensor], radius: float) -> None:
        gen = torch.Generator()
        gen.set_state(torch.frombuffer(bytearray(st["rng_state"]), dtype=torch.uint8).clone())
        xi = uniform_ball(sum(p.numel() for p in params), radius, gen)
        st["rng_state"] = _pack(gen)
        st["last_norm"] = float(torch.linalg.vector_norm(xi))
        for p, piece in zip(params, torch.split(xi, [p.numel() for p in params])):
            p.add_(piece.reshape(p.shape).to(dtype=p.dtype, device=p.device))

    @torch.no_grad()
    def step(self, closure: Callable[[], Tensor] | None = None) -> Tensor | None:
        """One step of every group (see the class docstring); returns the closure's loss
        (at the perturbed point when a perturbation happened and a closure was given)."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        perturbed = False
        active = []
        for index, group in enumerate(self.param_groups):
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            st = self._group_state(index, group)
            gnorm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in params])).item()
            last = st["last_perturbation"]
            due = last is None or st["step"] - last > group["t_thres"]
            if group["radius"] > 0 and gnorm <= group["g_thres"] and due:
                self._perturb(st, params, group["radius"])
                st["last_perturbation"] = st["step"]
                st["perturbations"] += 1
                perturbed = True
            active.append((group, st))
        if perturbed and closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group, st in active:
            for p in group["params"]:
                if p.grad is not None:
                    p.add_(p.grad, alpha=-group["lr"])
            st["step"] += 1
        return loss


# --- moving along a direction -------------------------------------------------------


def flat_parameters(model: nn.Module) -> Tensor:
    """A detached copy of the trainable parameters as one vector, in ``named_parameters()``
    order (the order of :class:`~landscape.curvature.HessianOperator` with ``params=None``,
    hence of the rows of :func:`~landscape.curvature.dense_hessian`).

    Example:
        >>> flat_parameters(nn.Linear(2, 1, bias=False).requires_grad_(True)).shape
        torch.Size([2])
    """
    return torch.cat([p.detach().reshape(-1) for p in model.parameters() if p.requires_grad])


def _check_direction(model: nn.Module, direction: Tensor) -> list[tuple[str, Tensor]]:
    named = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    n = sum(p.numel() for _, p in named)
    if not isinstance(direction, Tensor) or direction.ndim != 1 or direction.numel() != n:
        shape = tuple(direction.shape) if isinstance(direction, Tensor) else type(direction).__name__
        raise ValueError(f"Invalid direction: shape {shape}, expected a vector of {n} entries (the model's trainable parameters)")
    return named


def moved(model: nn.Module, direction: Tensor, alpha: float) -> nn.Module:
    r"""A deep copy of ``model`` whose trainable parameters are :math:`\theta + \alpha v`
    (``model`` itself is not changed).

    Example:
        >>> m = nn.Linear(1, 1, bias=False)
        >>> with torch.no_grad(): _ = m.weight.fill_(1.0)
        >>> moved(m, torch.tensor([1.0]), 0.5).weight.item(), m.weight.item()
        (1.5, 1.0)
    """
    named = _check_direction(model, direction)
    out = copy.deepcopy(model)
    params = dict(out.named_parameters())
    with torch.no_grad():
        for (name, p), piece in zip(named, torch.split(direction.detach(), [p.numel() for _, p in named])):
            params[name].add_(piece.reshape(p.shape).to(dtype=p.dtype, device=p.device), alpha=float(alpha))
    return out


@torch.no_grad()
def loss_along(model: nn.Module, loss_fn: Callable, data: tuple[Tensor, Tensor], direction: Tensor,
               alphas: Any, *, batch_size: int | None = None) -> Tensor:
    r"""The mean loss :math:`f(\theta + \alpha v)` at each ``alpha`` (float64 tensor, one per alpha).

    The model is evaluated in the mode it is in, with
    :func:`torch.func.functional_call` on shifted parameters: neither the model
    nor ``direction`` is changed. Cost: one pass over ``data`` per alpha
    (in chunks of ``batch_size`` examples when given).

    Args:
        model: the network at :math:`\theta`.
        loss_fn: ``loss_fn(outputs, targets)``, a mean over the batch.
        data: ``(inputs, targets)``.
        direction: :math:`v`, a vector in :func:`flat_parameters` order.
        alphas: the step lengths.
        batch_size: examples per forward pass (None: all at once).

    Example:
        >>> m = nn.Linear(1, 1, bias=False)
        >>> with torch.no_grad(): _ = m.weight.zero_()
        >>> x, y = torch.ones(4, 1), torch.ones(4, 1)
        >>> loss_along(m, nn.functional.mse_loss, (x, y), torch.tensor([1.0]), [0.0, 1.0, 2.0]).tolist()
        [1.0, 0.0, 1.0]
    """
    from torch.func import functional_call

    named = _check_direction(model, direction)
    x, y = data
    dev = named[0][1].device
    x, y = x.to(dev), y.to(dev)
    pieces = [piece.reshape(p.shape).to(dtype=p.dtype, device=p.device)
              for (_, p), piece in zip(named, torch.split(direction.detach(), [p.numel() for _, p in named]))]
    base = {n: p.detach() for n, p in model.named_parameters()}
    step = x.shape[0] if batch_size is None else int(batch_size)
    out = []
    for a in torch.as_tensor(alphas, dtype=torch.float64).reshape(-1).tolist():
        params = dict(base)
        for (name, p), v in zip(named, pieces):
            params[name] = p.detach() + a * v
        total = torch.zeros((), dtype=torch.float64, device=dev)
        for s in range(0, x.shape[0], step):
            xb, yb = x[s:s + step], y[s:s + step]
            total += loss_fn(functional_call(model, params, (xb,)), yb).double() * xb.shape[0]
        out.append(total / x.shape[0])
    return torch.stack(out).cpu()


# --- line searches (no cap on the step) ---------------------------------------------


def line_search(f: Callable[[float], float], *, step: float, growth: float = 2.0, max_steps: int = 80) -> dict[str, Any]:
    r"""The lowest value of :math:`\phi(\alpha) = f(\alpha)` on the geometric grid
    :math:`\alpha_k = s\,g^k` (:math:`k = 0, 1, \dots`), run **until the loss rises**:
    it stops at the first :math:`k` with :math:`\phi(\alpha_k) > \phi(\alpha_{k-1})`
    (with :math:`\alpha_{-1} = 0`) or at a non-finite value; there is no cap on the step
    other than ``max_steps`` grid points (``capped`` says when that, not a rise, stopped it).

    Returns ``alpha`` (the best step, 0 when the first step already rose), ``loss`` (its
    value), ``decrease`` :math:`= \phi(0) - \phi(\alpha^*) \ge 0`, ``evaluations`` and ``capped``.

    Example:
        >>> r = line_search(lambda a: (a - 3.0) ** 2, step=0.1)      # minimum at 3: grid 0.1, 0.2, ..., 3.2, 6.4
        >>> round(r["alpha"], 1), round(r["decrease"], 2), r["capped"]
        (3.2, 8.96, False)
        >>> line_search(lambda a: a ** 2, step=0.1)["decrease"]       # a minimum: the first step rises
        0.0
    """
    if not (step > 0 and growth > 1):
        raise ValueError(f"Invalid step, growth: {step!r}, {growth!r} (must be step > 0 and growth > 1)")
    f0 = float(f(0.0))
    best_a, best, prev, n, capped = 0.0, f0, f0, 1, True
    a = float(step)
    for _ in range(int(max_steps)):
        v = float(f(a))
        n += 1
        if not math.isfinite(v) or v > prev:
            capped = False
            break
        if v < best:
            best_a, best = a, v
        prev, a = v, a * growth
    return {"alpha": best_a, "loss": best, "decrease": f0 - best, "evaluations": n, "capped": capped}


def two_sided_search(f: Callable[[float], float], **kwargs: Any) -> dict[str, Any]:
    r""":func:`line_search` along :math:`+v` and along :math:`-v` (``f(alpha)`` the loss at
    :math:`\theta + \alpha v`); the better side, with ``alpha`` signed. ``capped`` is True when
    either side hit ``max_steps``.

    Example:
        >>> r = two_sided_search(lambda a: -a ** 2 + a ** 4 + 0.1 * a, step=0.01)   # the left side goes lower
        >>> r["alpha"] < 0, r["decrease"] > 0
        (True, True)
    """
    plus = line_search(f, **kwargs)
    minus = line_search(lambda a: f(-a), **kwargs)
    best = plus if plus["decrease"] >= minus["decrease"] else {**minus, "alpha": -minus["alpha"]}
    return {**best, "evaluations": plus["evaluations"] + minus["evaluations"], "capped": plus["capped"] or minus["capped"]}


def random_directions(dim: int, n: int, seed: int, *, dtype: torch.dtype = torch.float64) -> Tensor:
    r"""``n`` unit vectors drawn uniformly from the sphere :math:`S^{d-1}` (normalized Gaussians;
    CPU generator seeded by ``seed``), as the rows of an ``(n, dim)`` tensor.

    Example:
        >>> U = random_directions(5, 3, seed=0)
        >>> tuple(U.shape), bool(torch.allclose(U.norm(dim=1), torch.ones(3, dtype=torch.float64)))
        ((3, 5), True)
    """
    g = torch.Generator().manual_seed(int(seed))
    z = torch.randn(int(n), int(dim), generator=g, dtype=torch.float64)
    return (z / torch.linalg.vector_norm(z, dim=1, keepdim=True)).to(dtype)
