r"""ADINE (Srinivasan, Sankar and Balasubramanian, CoDS-COMAD 2018,
arXiv:1712.07424): momentum that switches between a small and a large value -
a functional core, the :class:`torch.optim.Optimizer` built on it, and the
theory of constant momentum on a quadratic.

==============================  ============================================================
:func:`momentum_step`           one (Nesterov or heavy-ball) momentum step on tensors, in
                                place; the momentum may be one number or one per row
:func:`adine_momentum`          ADINE's switching rule: :math:`m_t` and the new loss average
:class:`ADINE`                  the optimizer: :func:`adine_momentum`, then :func:`momentum_step`
:func:`momentum_descent`        constant-momentum descent from many 2-D points at once (the
                                saddle-escape experiments), with :func:`momentum_step`
:func:`iteration_matrix`,       one step of constant momentum on :math:`\tfrac12 h x^2` as a
:func:`spectral_radius`         2x2 matrix, and its spectral radius (why :math:`m > 1` diverges)
==============================  ============================================================

The functional split follows :func:`torch.optim.sgd.sgd`: the optimizer holds
state and hyper-parameters, the update is a plain function any caller can use.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.optim import Optimizer

from ..validation import check_choice

__all__ = ["ADINE", "momentum_step", "adine_momentum", "momentum_descent", "iteration_matrix", "spectral_radius"]

# Initial length of the preallocated on-device momentum log; doubled on demand
# so that logging costs amortised O(1) per step and never syncs with the host.
_LOG_CAPACITY = 1024


def _state_dtype(device: torch.device) -> torch.dtype:
    """dtype of the per-group scalars (loss average, momentum, log)."""
    # float64 keeps the loss average and m_g = 1.0001 exact enough to be
    # checked against a plain-Python computation; MPS has no float64.
    return torch.float32 if device.type == "mps" else torch.float64


def momentum_step(params: list[Tensor], grads: list[Tensor], buffers: list[Tensor | None], *,
                  momentum: float | Tensor, lr: float, weight_decay: float = 0.0, nesterov: bool = True) -> None:
    r"""One momentum step on every tensor of ``params``, in place (the update of
    :class:`torch.optim.SGD` with ``dampening=0``, for any :math:`m \ge 0`):

    .. math::

        g &\leftarrow g + \lambda p, \qquad
        b \leftarrow \begin{cases} g & \text{first step } (b = \text{None}) \\
                                     m\, b + g & \text{otherwise} \end{cases} \\
        p &\leftarrow p - \eta\, (g + m\, b) \ \text{(Nesterov)}
            \quad\text{or}\quad p - \eta\, b \ \text{(heavy ball)}.

    Args:
        params, grads: the tensors and their gradients (same shapes).
        buffers: the momentum buffers :math:`b`, one per tensor, ``None`` before
            the first step; new buffers are written into this list.
        momentum: :math:`m`, a number, a 0-d tensor (computed on the device, cast
            to each parameter's dtype), or a tensor that broadcasts against each
            parameter (one momentum per row, for many independent runs at once).
        lr: :math:`\eta`. weight_decay: :math:`\lambda`. nesterov: Nesterov or heavy ball.

    With a number, the operations are those of :class:`torch.optim.SGD`, in the
    same order, so the iterates agree bit for bit.
    """
    cast: dict[tuple[torch.device, torch.dtype], Tensor] = {}
    for i, (p, d_p) in enumerate(zip(params, grads)):
        if weight_decay != 0:
            d_p = d_p.add(p, alpha=weight_decay)
        m: float | Tensor = momentum
        if isinstance(momentum, Tensor):
            key = (p.device, p.dtype)
            if key not in cast:
                cast[key] = momentum.to(device=p.device, dtype=p.dtype)
            m = cast[key]
        buf = buffers[i]
        if buf is None:
            buf = torch.clone(d_p).detach()
            buffers[i] = buf
        else:
            buf.mul_(m).add_(d_p)
        if nesterov:
            d_p = torch.addcmul(d_p, buf, m) if isinstance(m, Tensor) else d_p.add(buf, alpha=m)
        else:
            d_p = buf
        p.add_(d_p, alpha=-lr)


def adine_momentum(loss: Tensor, loss_avg: Tensor, *, m_s: float, m_g: float, tolerance: float,
                   weight: float) -> tuple[Tensor, Tensor]:
    r"""ADINE's switching rule for step :math:`t > 1`, on 0-d tensors (no host sync):
    :math:`m_t = m_g` when :math:`\bar L_{t-1}` is finite and :math:`L_t \le \tau \bar L_{t-1}`,
    else :math:`m_s`; then the loss average :math:`\bar L_t` (see :class:`ADINE`).

    Returns:
        ``(m_t, new_avg)``, 0-d tensors of ``loss_avg``'s dtype and device.
    """
    avg_finite = torch.isfinite(loss_avg)
    improving = (loss <= loss_avg * tolerance) & avg_finite  # False for a NaN loss
    momentum = torch.where(improving, loss_avg.new_full((), m_g), loss_avg.new_full((), m_s))
    # same operation order as the documented formula (and plain Python)
    new_avg = torch.where(avg_finite, loss_avg * weight + loss * (1.0 - weight), loss)
    return momentum, torch.where(torch.isfinite(loss), new_avg, loss_avg)


class ADINE(Optimizer):
    r"""ADINE: Nesterov momentum that switches between a small and a large momentum.

    Implements the method of Srinivasan, Sankar and Balasubramanian,
    *ADINE: An Adaptive Momentum Method for Stochastic Gradient Descent*,
    CoDS-COMAD 2018 (`arXiv:1712.07424 <https://arxiv.org/abs/1712.07424>`_).
    The paper's claim is that a momentum :math:`m \ge 1` escapes saddles faster,
    so ADINE uses a momentum :math:`m_g > 1` ("greater", weighing past updates
    more) while training goes well and falls back to a usual momentum
    :math:`m_s < 1` ("smaller") otherwise.

    .. warning::
        **Reconstructed rule.** The paper's Algorithm 1 could not be checked
        when this was written. The following are reconstructions, not quotes
        of the paper: the exact switching test (current loss against
        ``tolerance`` times an exponentially weighted average of past losses),
        the averaging formula and its ``weight``, the use of the average
        *before* the current loss is included, the first step using
        :math:`m_s`, the skipping of non-finite losses, and every default
        value. The momentum update itself is standard Nesterov momentum.

    **Algorithm** (as implemented). Let :math:`p_{t-1}` be the stored
    parameters, :math:`L_t = f(p_{t-1})` the loss passed to step :math:`t`
    (:math:`t = 1, 2, \dots`), :math:`g_t = \nabla f(p_{t-1}) + \lambda p_{t-1}`
    the gradient with coupled weight decay :math:`\lambda`, :math:`\eta` the
    learning rate, :math:`\tau` the ``tolerance`` and :math:`w` the ``weight``.

    .. math::

        m_t &= \begin{cases}
            m_g & t > 1,\ \bar L_{t-1} \text{ finite and }
                  L_t \le \tau\,\bar L_{t-1}, \\
            m_s & \text{otherwise (first step, non-finite } L_t
                  \text{ or } \bar L_{t-1}),
        \end{cases} \\
        \bar L_t &= \begin{cases}
            L_1 & t = 1, \\
            \bar L_{t-1} & t > 1,\ L_t \text{ not finite}, \\
            L_t & t > 1,\ L_t \text{ finite},\ \bar L_{t-1}
                  \text{ not finite}, \\
            w\,\bar L_{t-1} + (1 - w)\,L_t & \text{otherwise},
        \end{cases} \\
        b_t &= \begin{cases} g_1 & t = 1, \\
                             m_t\, b_{t-1} + g_t & t > 1, \end{cases} \\
        p_t &= \begin{cases}
            p_{t-1} - \eta\,(g_t + m_t\, b_t) & \text{nesterov=True}, \\
            p_{t-1} - \eta\, b_t & \text{nesterov=False (heavy ball)}.
        \end{cases}

    The comparison uses :math:`\bar L_{t-1}`, the average of the *past* losses,
    before :math:`L_t` is folded in. A NaN or infinite loss never selects
    :math:`m_g` and is left out of the average, so one bad batch cannot
    poison it; if the first losses are not finite, the average restarts at
    the first finite one. :math:`\bar L` is kept per parameter group
    (each group has its own ``tolerance`` and ``weight``), so with several
    groups the same loss drives several independent switches.

    **Relation to the textbook Nesterov form.** The update above is the
    re-parameterisation used by :class:`torch.optim.SGD` with
    ``nesterov=True``: with velocity :math:`v_t = -\eta\, b_t` and
    :math:`\theta_t = p_t - m_t v_t`, a constant :math:`m` gives exactly
    Sutskever et al.'s form

    .. math::

        v_t = m\, v_{t-1} - \eta\, \nabla f(\theta_{t-1} + m\, v_{t-1}),
        \qquad \theta_t = \theta_{t-1} + v_t,

    i.e. the stored parameter :math:`p_t` is the look-ahead point, where the
    gradient and the loss are evaluated. When :math:`m_t` switches, the same
    substitution gives

    .. math::

        v_t = m_t v_{t-1} - \eta\, \nabla f(\theta_{t-1} + m_{t-1} v_{t-1}),
        \qquad \theta_t = \theta_{t-1} + v_t + (m_{t-1} - m_t)\, v_{t-1}:

    the look-ahead of step :math:`t` uses :math:`m_{t-1}`, because the
    decision needs :math:`L_t = f(p_{t-1})`, the only loss available without
    an extra forward pass. Consequently, **with** ``m_g == m_s == m`` **ADINE is**
    ``torch.optim.SGD(params, lr, momentum=m, dampening=0,
    weight_decay=weight_decay, nesterov=nesterov)``: it then performs the
    same tensor operations in the same order, so the iterates agree bit for
    bit (the test suite checks this in float64 with and without weight
    decay). Whenever :math:`m_t` is known on the host (first step, or
    ``m_g == m_s``) it is used as a Python float exactly as SGD does; otherwise
    it is a 0-d tensor computed on the device and the Nesterov term is formed
    with :func:`torch.addcmul` (on CPU this also matched SGD bit for bit when
    no switch occurred; the tests require agreement to 1e-12).

    **Defaults** (reconstructed choices). ``lr=0.01`` and ``m_s=0.9`` are the
    usual SGD-with-momentum values. ``m_g=1.0001`` is just above 1: while the
    loss keeps improving, the weight of every past gradient in :math:`b_t` is
    multiplied by :math:`m_g` each step, so past updates count a little more
    (:math:`1.0001^{1000} \approx 1.105`) without the geometric blow-up of a
    larger :math:`m > 1` (on a quadratic with curvature :math:`\lambda`,
    constant-:math:`m` Nesterov diverges along every direction with
    :math:`\eta\lambda < 1 - 1/m`). Note that the switch does not tame a
    large :math:`m_g`: on such a quadratic ADINE with ``m_g=1.1`` still
    diverges, more slowly than constant :math:`m = 1.1`. ``tolerance=1.0`` means "use :math:`m_g` when the
    loss is no worse than its recent average". ``weight=0.9`` averages over
    roughly the last :math:`1 / (1 - w) = 10` losses, which smooths
    mini-batch noise yet reacts within a few steps once the loss goes up.

    **Momentum log.** Each step records :math:`m_t` per group without a host
    sync: the group state (``optimizer.state["adine_group_<i>"]``, saved with
    :meth:`state_dict`) holds ``"momentum"`` (the last :math:`m_t`, a 0-d
    tensor on the group's device), ``"loss_avg"`` (:math:`\bar L_t`, 0-d),
    ``"step"`` (a Python int) and ``"momentum_log"`` (a preallocated on-device
    buffer whose first ``step`` entries are :math:`m_1, \dots, m_t`; its
    length doubles when full). :meth:`momentum_history` copies the used part
    to the CPU in one transfer. Per-parameter state is the usual
    ``"momentum_buffer"`` (:math:`b_t`).

    .. note::
        A device-side :math:`m_t` is cast to each parameter's dtype before
        use; in float16/bfloat16, :math:`1.0001` rounds to :math:`1`. Keep
        float32 master weights (e.g. with autocast) when :math:`m_g` is that
        close to 1.

    Args:
        params: iterable of parameters or of dicts defining parameter groups;
            every hyper-parameter below can be overridden per group.
        lr: learning rate :math:`\eta \ge 0` (default: 0.01). Read from the
            group at every step, so LR schedulers work.
        m_s: momentum used when training does not improve,
            :math:`0 \le m_s < 1` (default: 0.9).
        m_g: momentum used while the loss is at most ``tolerance`` times its
            running average, :math:`m_g \ge m_s` (default: 1.0001). Setting
            ``m_g = m_s`` gives plain (Nesterov) SGD with momentum.
        tolerance: :math:`\tau > 0` in the test
            :math:`L_t \le \tau \bar L_{t-1}` (default: 1.0).
        weight: :math:`w \in [0, 1)` of the exponentially weighted loss
            average; ``0`` compares with the previous loss only (default: 0.9).
        weight_decay: coupled L2 penalty :math:`\lambda \ge 0`, added to the
            gradient as in SGD (default: 0).
        nesterov: Nesterov momentum if ``True`` (default), heavy-ball momentum
            if ``False``.

    :meth:`step` needs the loss :math:`L_t` at the current parameters (the
    one whose gradients are in ``.grad``): pass a ``closure`` that
    re-evaluates the model and returns the loss (it is called under
    :func:`torch.enable_grad`), or the already computed loss as ``loss=`` (a
    scalar tensor, used on its device without a sync, or a Python number).

    Example:
        >>> import torch
        >>> from landscape.methods.adine import ADINE
        >>> w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
        >>> opt = ADINE([w], lr=0.1)
        >>> def closure():
        ...     opt.zero_grad()
        ...     loss = (w ** 2).sum()
        ...     loss.backward()
        ...     return loss
        >>> for _ in range(3):
        ...     loss = opt.step(closure)
        >>> opt.momentum_history()
        tensor([0.9000, 1.0001, 1.0001], dtype=torch.float64)
        >>> # or, with a loss computed outside the optimizer:
        >>> opt.zero_grad()
        >>> loss = (w ** 2).sum()
        >>> loss.backward()
        >>> opt.step(loss=loss) is loss
        True
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 0.01,
        m_s: float = 0.9,
        m_g: float = 1.0001,
        tolerance: float = 1.0,
        weight: float = 0.9,
        weight_decay: float = 0.0,
        nesterov: bool = True,
    ) -> None:
        defaults = dict(
            lr=lr,
            m_s=m_s,
            m_g=m_g,
            tolerance=tolerance,
            weight=weight,
            weight_decay=weight_decay,
            nesterov=nesterov,
        )
        self._validate(defaults)
        super().__init__(params, defaults)

    # ------------------------------------------------------------------ setup
    @staticmethod
    def _validate(group: dict[str, Any]) -> None:
        """Raise ``ValueError("Invalid <name>: <value> ...")`` for a bad group."""

        def number(name: str) -> float:
            value = group[name]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ValueError(f"Invalid {name}: {value!r} (must be a real number)")
            if not math.isfinite(value):
                raise ValueError(f"Invalid {name}: {value} (must be finite)")
            return float(value)

        lr = number("lr")
        if lr < 0.0:
            raise ValueError(f"Invalid lr: {lr} (must be >= 0)")
        m_s = number("m_s")
        if not 0.0 <= m_s < 1.0:
            raise ValueError(f"Invalid m_s: {m_s} (must satisfy 0 <= m_s < 1)")
        m_g = number("m_g")
        if m_g < m_s:
            raise ValueError(f"Invalid m_g: {m_g} (must be >= m_s = {m_s})")
        tolerance = number("tolerance")
        if tolerance <= 0.0:
            raise ValueError(f"Invalid tolerance: {tolerance} (must be > 0)")
        weight = number("weight")
        if not 0.0 <= weight < 1.0:
            raise ValueError(f"Invalid weight: {weight} (must satisfy 0 <= weight < 1)")
        weight_decay = number("weight_decay")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay: {weight_decay} (must be >= 0)")
        if not isinstance(group["nesterov"], bool):
            raise ValueError(f"Invalid nesterov: {group['nesterov']!r} (must be a bool)")

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a parameter group after validating its hyper-parameters."""
        if isinstance(param_group, dict):
            self._validate({**self.defaults, **param_group})
        super().add_param_group(param_group)

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        for group in self.param_groups:
            group.setdefault("nesterov", True)

    @staticmethod
    def _group_key(index: int) -> str:
        return f"adine_group_{index}"

    @staticmethod
    def _group_device(group: dict[str, Any]) -> torch.device:
        params = group["params"]
        return params[0].device if params else torch.device("cpu")

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Load a state dict; group state is copied onto each group's device.

        :class:`torch.optim.Optimizer` casts per-parameter state to the
        parameter's dtype and stores other entries as given. The per-group
        ADINE state keeps its own dtype (float64) and is copied, so the loaded
        optimizer never aliases tensors of ``state_dict``.
        """
        super().load_state_dict(state_dict)
        for index, group in enumerate(self.param_groups):
            key = self._group_key(index)
            gstate = self.state.get(key)
            if gstate is None:
                continue
            device = self._group_device(group)
            self.state[key] = {
                k: (v.detach().to(device=device, copy=True) if isinstance(v, Tensor) else v)
                for k, v in gstate.items()
            }

    # ------------------------------------------------------------------ logs
    def momentum_history(self, group: int = 0) -> Tensor:
        """Momenta :math:`m_1, \\dots, m_t` used so far by parameter group ``group``.

        Returns a new 1-D CPU tensor (float64; empty before the first step).
        This is the only place the log is copied to the host: one transfer
        per call, none per step.
        """
        if not 0 <= group < len(self.param_groups):
            raise IndexError(f"no parameter group {group}; there are {len(self.param_groups)}")
        gstate = self.state.get(self._group_key(group))
        if not gstate:
            return torch.empty(0, dtype=torch.float64)
        return gstate["momentum_log"][: gstate["step"]].to("cpu", copy=True)

    # ------------------------------------------------------------------ step
    @staticmethod
    def _loss_tensor(loss: Any, device: torch.device, dtype: torch.dtype) -> Tensor:
        """The loss as a detached 0-d tensor on ``device``, without a device sync."""
        if isinstance(loss, Tensor):
            if loss.numel() != 1:
                raise ValueError(
                    f"ADINE needs a scalar loss, got a tensor of shape {tuple(loss.shape)}"
                )
            loss = loss.detach().reshape(())
            if loss.device.type == "cpu" and device.type != "cpu":
                # reading a CPU value is free; filling avoids a host-to-device copy
                return torch.full((), loss.item(), dtype=dtype, device=device)
            return loss.to(device=device, dtype=dtype)
        try:
            value = float(loss)
        except (TypeError, ValueError):
            raise TypeError(
                f"ADINE needs the loss as a scalar tensor or a number, got {type(loss).__name__}"
            ) from None
        return torch.full((), value, dtype=dtype, device=device)

    def _update_group_state(self, index: int, group: dict[str, Any], loss: Any) -> tuple[Tensor, float | None]:
        """Apply the switching rule; return m_t (0-d tensor) and, if known on the host, as a float."""
        key = self._group_key(index)
        gstate = self.state.get(key)
        device = self._group_device(group)
        m_s, m_g = float(group["m_s"]), float(group["m_g"])
        if not gstate:  # first step: L_bar_1 = L_1, m_1 = m_s
            dtype = _state_dtype(device)
            loss_t = self._loss_tensor(loss, device, dtype)
            momentum = torch.full((), m_s, dtype=dtype, device=device)
            gstate = {
                "step": 0,
                "loss_avg": loss_t.clone(),
                "momentum": momentum,
                "momentum_log": torch.zeros(_LOG_CAPACITY, dtype=dtype, device=device),
            }
            self.state[key] = gstate
            host_momentum: float | None = m_s
        else:
            avg = gstate["loss_avg"]
            loss_t = self._loss_tensor(loss, avg.device, avg.dtype)
            momentum, gstate["loss_avg"] = adine_momentum(loss_t, avg, m_s=m_s, m_g=m_g, tolerance=float(group["tolerance"]),
                                                          weight=float(group["weight"]))
            gstate["momentum"] = momentum
            host_momentum = m_s if m_g == m_s else None

        log, step = gstate["momentum_log"], gstate["step"]
        if step == log.numel():  # full: double the preallocated buffer
            grown = log.new_zeros(max(2 * log.numel(), _LOG_CAPACITY))
            grown[:step].copy_(log)
            gstate["momentum_log"] = log = grown
        log[step].copy_(momentum)
        gstate["step"] = step + 1
        return momentum, host_momentum

    @torch.no_grad()
    def step(  # type: ignore[override]
        self,
        closure: Callable[[], Any] | None = None,
        *,
        loss: Tensor | float | None = None,
    ) -> Any:
        """Perform one optimisation step.

        Args:
            closure: re-evaluates the model and returns the loss; called
                under :func:`torch.enable_grad`.
            loss: the loss at the current parameters (scalar tensor or
                number), for when the caller has already run backward.
                Exactly one of ``closure`` and ``loss`` must be given.

        Returns:
            The loss (the closure's return value, or ``loss`` itself).
        """
        if closure is not None and loss is not None:
            raise ValueError("ADINE.step takes either a closure or loss=, not both")
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        if loss is None:
            raise RuntimeError(
                "ADINE needs the loss to choose its momentum: pass a closure "
                "(optimizer.step(closure)) or the loss (optimizer.step(loss=loss))"
            )

        for index, group in enumerate(self.param_groups):
            params_with_grad = [p for p in group["params"] if p.grad is not None]
            for p in params_with_grad:
                if p.grad.is_sparse:
                    raise RuntimeError("ADINE does not support sparse gradients")

            momentum, host_momentum = self._update_group_state(index, group, loss)
            buffers = [self.state[p].get("momentum_buffer") for p in params_with_grad]
            momentum_step(params_with_grad, [p.grad for p in params_with_grad], buffers,
                          momentum=host_momentum if host_momentum is not None else momentum,
                          lr=group["lr"], weight_decay=group["weight_decay"], nesterov=group["nesterov"])
            for p, buf in zip(params_with_grad, buffers):
                self.state[p]["momentum_buffer"] = buf

        return loss


# --- constant momentum in 2-D, and the theory on a quadratic ----------------------------------


def momentum_descent(
    fn: Callable[[Tensor], Tensor],
    grad: Callable[[Tensor], Tensor],
    starts: Tensor | np.ndarray,
    momenta: Sequence[float] | Tensor | np.ndarray,
    *,
    lr: float | Sequence[float] | Tensor | np.ndarray,
    max_steps: int,
    nesterov: bool = True,
    escape_by: str = "loss",
    escape_at: float = 1.0,
    record: Sequence[int] = (),
) -> dict[str, Any]:
    r"""Constant-momentum descent from many 2-D points at once, until each escapes.

    Row ``k`` starts at ``starts[k]`` with momentum ``momenta[k]`` (any
    :math:`m \ge 0`, also :math:`m \ge 1`) and follows :func:`momentum_step`
    (one momentum per row) in float64. A row *escapes* at the first step
    :math:`t` with :math:`f(p_t) \le f(p_0) -` ``escape_at`` (``escape_by="loss"``)
    or :math:`\|p_t\| \ge` ``escape_at`` (``"distance"``); it is then frozen.
    A row whose iterate becomes non-finite before escaping is marked diverged.

    ``lr`` is one learning rate :math:`\eta` for every row, or one per row. Per
    row, the step size is folded into the gradient: with :math:`g' = \eta g`
    and :math:`b' = \eta b` the update of :func:`momentum_step` reads
    :math:`b' \leftarrow m b' + g'`, :math:`p \leftarrow p - (g' + m b')`
    (Nesterov; :math:`p - b'` heavy ball), which is that update at learning
    rate :math:`\eta` (equal up to rounding), so one call runs a whole grid of
    learning rates at once.

    Args:
        fn, grad: a function of points ``(..., 2)`` and its gradient
            (:data:`landscape.training.synthetic.TOY_FUNCTIONS` and ``TOY_GRADIENTS``).
        starts: ``(K, 2)`` starting points. momenta: ``K`` momenta.
        lr: one learning rate, or ``K`` (one per row).
        record: rows whose whole trajectory is returned (up to their escape).

    Returns:
        dict with ``steps`` (``K`` ints: the escape step, -1 when not escaped
        within ``max_steps``), ``diverged`` (``K`` bools) and ``paths`` (one
        ``(T + 1, 2)`` array per recorded row, starting at its start).
    """
    check_choice("escape_by", escape_by, ("loss", "distance"))
    p = torch.as_tensor(np.asarray(starts, dtype=np.float64) if not isinstance(starts, Tensor) else starts, dtype=torch.float64).clone()
    m = torch.as_tensor(np.asarray(momenta, dtype=np.float64), dtype=torch.float64).reshape(-1)
    if p.ndim != 2 or p.shape[1] != 2 or m.shape != (p.shape[0],):
        raise ValueError(f"Invalid starts/momenta: shapes {tuple(p.shape)} and {tuple(m.shape)} (must be (K, 2) and (K,))")
    k = p.shape[0]
    per_row = np.ndim(lr) > 0
    if per_row:
        rates = torch.as_tensor(np.asarray(lr, dtype=np.float64), dtype=torch.float64).reshape(-1)
        if rates.shape != (k,):
            raise ValueError(f"Invalid lr: {rates.numel()} learning rates for {k} rows (must be one, or one per row)")
        step_grad, step_lr = (lambda q: rates[:, None] * grad(q)), 1.0
    else:
        step_grad, step_lr = grad, float(lr)
    f0 = fn(p)
    steps = torch.full((k,), -1, dtype=torch.int64)
    diverged = torch.zeros(k, dtype=torch.bool)
    active = torch.ones(k, dtype=torch.bool)
    record = list(record)
    paths = torch.full((len(record), max_steps + 1, 2), math.nan, dtype=torch.float64)
    paths[:, 0] = p[record]
    buffers: list[Tensor | None] = [None]
    mc = m[:, None]
    t = 0
    for t in range(1, max_steps + 1):
        before = p.clone()
        momentum_step([p], [step_grad(p)], buffers, momentum=mc, lr=step_lr, nesterov=nesterov)
        p = torch.where(active[:, None], p, before)
        paths[:, t] = p[record]
        crit = fn(p) <= f0 - escape_at if escape_by == "loss" else torch.linalg.vector_norm(p, dim=1) >= escape_at
        done = active & crit
        steps[done] = t
        bad = active & ~done & ~torch.isfinite(p).all(1)
        diverged |= bad
        active &= ~(done | bad)
        if not bool(active.any()):
            break
    # each recorded path ends where its row escaped (frozen afterwards)
    ends = [int(steps[r]) if int(steps[r]) > 0 else t for r in record]
    return {"steps": steps.numpy(), "diverged": diverged.numpy(), "paths": [paths[i, : e + 1].numpy().copy() for i, e in enumerate(ends)]}


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
    check_choice("method", method, ("nesterov", "heavy-ball"))
    if method == "heavy-ball":
        return np.array([[1 + m - a, -m], [1.0, 0.0]])
    return np.array([[1 - a, m * (1 - a)], [-a, m * (1 - a)]])


def spectral_radius(m: float, a: float, method: str = "nesterov") -> float:
    r"""Largest :math:`|z|` over the eigenvalues of :func:`iteration_matrix`,
    i.e. the roots of :math:`z^2 - (1 + m - a) z + m` (heavy ball) or
    :math:`z^2 - (1 + m)(1 - a) z + m (1 - a)` (Nesterov). Above 1, the
    iterates grow geometrically at that rate.

    Example:
        >>> round(spectral_radius(0.9, 0.01), 4), round(spectral_radius(1.1, 0.001, "heavy-ball"), 4)
        (0.9439, 1.0876)
    """
    return float(np.abs(np.linalg.eigvals(iteration_matrix(m, a, method))).max())
