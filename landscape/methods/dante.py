r"""DANTE: training a network by alternating over its layers with normalized steps.

DANTE (Sinha et al., 2020) casts training as *alternating minimization*
over the layers: with every other layer held fixed, the loss as a function of
one layer's weights is (strictly locally) quasi-convex for sigmoid and
generalized-ReLU activations, and a quasi-convex problem is solved by
*stochastic normalized gradient descent* (SNGD; Hazan, Levy and
Shalev-Shwartz, 2015), which follows only the direction of the gradient:

.. math::

    \theta_\ell \leftarrow \theta_\ell - \eta_t \,
        \frac{g_\ell}{\lVert g_\ell \rVert_F},
    \qquad g_\ell = \nabla_{\theta_\ell} \frac{1}{|B|}
        \sum_{(x, y) \in B} \ell\big(f_\theta(x), y\big),

skipping the step when :math:`\lVert g_\ell \rVert_F \le \epsilon`.
Here :math:`\theta_\ell` is one *layer group* (by default a weight with its
bias, :func:`landscape.training.models.layers`) and :math:`\lVert g_\ell \rVert_F` is
the Frobenius norm of the group's *whole* gradient, weight and bias
together, so every step that is taken has norm exactly :math:`\eta_t`.

- :class:`DANTE` is the trainer. It plugs into the book's shared loop as the
  custom update, ``fit(model, data, step=DANTE(model), ...)``.
- :func:`greedy_autoencoder` is the autoencoder variant: greedy layer-wise
  one-hidden-layer autoencoders trained with DANTE on MSE, stacked, then
  fine-tuned with DANTE alternation over all layers.

What is *assumed* (the paper leaves it open or we could not pin it down): the
alternation schedule (``schedule``, ``order``, ``steps_per_layer``), the step
sizes and their decay (``lr``, ``decay``) and the threshold :math:`\epsilon`
(``eps``); all are parameters.

References:
    (``sinha2020dante`` in ``references.bib``)
    V. B. Sinha, S. Kudugunta, A. R. Sankar, S. T. Chavali, P. Kar,
    V. N. Balasubramanian. *DANTE: Deep AlterNations for Training nEural
    networks.* Neural Networks 131:127-143, 2020. arXiv:1902.00491.

    E. Hazan, K. Y. Levy, S. Shalev-Shwartz. *Beyond Convexity: Stochastic
    Quasi-Convex Optimization.* NeurIPS 2015. arXiv:1507.02030.
"""

from __future__ import annotations

import functools
import math
from collections import OrderedDict
from dataclasses import dataclass, field
from numbers import Real
from typing import Any, Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import nn

from ..training import models
from ..training.loop import History, fit
from ..validation import check_int, check_number

__all__ = ["DANTE", "AutoencoderResult", "greedy_autoencoder"]

SCHEDULES = ("batch", "epoch")
ORDERS = ("backward", "forward")


class DANTE:
    r"""Alternating layer-wise training with stochastic normalized gradient descent.

    Each *update* takes one layer group :math:`\theta_\ell` (the others fixed),
    computes the mini-batch gradient with respect to that group only and moves
    it by exactly :math:`\eta_t` along the negative normalized gradient:

    .. math::

        \theta_\ell \leftarrow \theta_\ell - \eta_t \,
            \frac{g_\ell}{\lVert g_\ell \rVert_F}
            \quad\text{if } \lVert g_\ell \rVert_F > \epsilon,
        \qquad
        \lVert g_\ell \rVert_F^2 = \sum_{p \in \theta_\ell} \lVert \nabla_p L \rVert_F^2 .

    The norm is that of the group's whole gradient (weight and bias
    together), so the step as a whole has Frobenius norm :math:`\eta_t`.
    The skip test runs on the device (``torch.where``): no host sync per step.

    **Alternation** (assumed; the paper describes "output layer, then hidden
    layer" for one hidden layer and cycling for more):

    - ``schedule="batch"``: on *every* mini-batch, each layer of ``order`` in
      turn takes ``steps_per_layer`` normalized steps (each on the current
      weights, so the later layers see the earlier layers' updates).
    - ``schedule="epoch"``: a whole epoch (``steps_per_epoch`` mini-batches)
      per layer: in epoch :math:`e` (from 0) only layer
      ``order[e % len(order)]`` is trained, ``steps_per_layer`` steps per
      mini-batch; layers cycle across epochs.

    **Step size**: with ``decay=None`` the step is constant,
    :math:`\eta_t = \eta` (SNGD's setting: it reaches an
    :math:`\eta`-neighbourhood of a minimizer). A number ``decay`` gives

    .. math::

        \eta_t = \frac{\eta}{\sqrt{1 + t / \text{decay}}},

    a callable gives :math:`\eta_t = \eta \cdot \text{decay}(t)`; :math:`t` is
    the number of mini-batches seen so far (from 0), shared by all layers.

    **Defaults and why**: ``lr=0.1``: SNGD's step is absolute in parameter
    space, and 0.1 is a few percent of the Frobenius norm of a default-
    initialized ``nn.Linear`` of the book's sizes (e.g. about 3.3 for 64x32),
    big enough to train the digits MLPs in a few epochs and small enough not
    to jump out of a basin; ``schedule="batch"`` with ``steps_per_layer=1``:
    the cheapest alternation that lets every layer see every mini-batch (one
    forward/backward per layer per batch); ``order="backward"``: the paper's
    one-hidden-layer description trains the output layer first; ``decay=None``:
    constant steps as analysed by Hazan et al.; ``eps=1e-12``: only a gradient
    that is zero up to rounding is skipped (its direction is meaningless).

    The instance is a ``step`` for :func:`landscape.training.fit`:
    ``trainer(model, x, y)`` (or ``trainer.step``) trains on the batch and
    returns the mini-batch loss *before* the update, detached.
    ``trainer.callback`` is an optional fit callback adding the current
    step size (``lr``) to each epoch's record.

    Args:
        model: the network; read only here (no side effects until a step).
        layers: the groups to alternate over: ``None`` for every layer of
            :func:`landscape.training.models.layers` (each weight with its bias), a
            list of some of those layer names, or a mapping
            ``name -> [parameter names]`` for custom groups (a frozen
            parameter named in a custom group is trained with its group;
            the default groups contain only trainable parameters).
        lr: the step size :math:`\eta > 0`.
        schedule: ``"batch"`` or ``"epoch"`` (above).
        order: ``"backward"`` (last layer first), ``"forward"``, or an explicit
            list of group names (repeats allowed, e.g. ``["fc2", "fc2", "fc1"]``).
        steps_per_layer: normalized steps per layer per mini-batch (>= 1).
        decay: ``None`` (constant), a number of mini-batches ``decay > 0`` for
            :math:`\eta / \sqrt{1 + t / \text{decay}}`, or a callable ``t -> factor``.
        loss_fn: mean loss ``loss_fn(outputs, targets)``.
        eps: skip the step when :math:`\lVert g_\ell \rVert_F \le` ``eps`` (>= 0).
        steps_per_epoch: mini-batches per epoch, required by
            ``schedule="epoch"`` (e.g. ``math.ceil(n_train / batch_size)``).
        record: keep the per-update norms (:attr:`step_norms`,
            :attr:`grad_norms`; one 0-d device tensor each per update).

    Attributes:
        groups: ``OrderedDict`` group name -> parameter names.
        order: the resolved alternation order (group names).
        active_layer: the group of the latest update (``None`` before any).
        trace: the group of every update, in order.
        counts: updates per group.
        num_steps: mini-batches seen (:math:`t`).

    Raises:
        ValueError: a bad argument, naming it (unknown layer, ``lr <= 0``,
            ``steps_per_layer < 1``, unknown schedule or order, ...).

    Example:
        >>> from landscape import data, models
        >>> from landscape.training import fit
        >>> ds = data.load("digits", n_train=200, n_test=100)
        >>> model = models.build("mlp", in_features=64, widths=[16], out_features=10, activation="sigmoid")
        >>> trainer = DANTE(model, lr=0.1)
        >>> trainer.order
        ['fc2', 'fc1']
        >>> h = fit(model, ds.train, test=ds.test, epochs=2, step=trainer, device="cpu")
        >>> trainer.trace[:3], trainer.counts
        (['fc2', 'fc1', 'fc2'], {'fc1': 4, 'fc2': 4})
        >>> round(float(trainer.step_norms.max()), 6)
        0.1
    """

    def __init__(
        self,
        model: nn.Module,
        *,
        layers: Sequence[str] | Mapping[str, Sequence[str]] | str | None = None,
        lr: float = 0.1,
        schedule: str = "batch",
        order: str | Sequence[str] = "backward",
        steps_per_layer: int = 1,
        decay: float | Callable[[int], float] | None = None,
        loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy,
        eps: float = 1e-12,
        steps_per_epoch: int | None = None,
        record: bool = True,
    ) -> None:
        if not isinstance(model, nn.Module):
            raise ValueError(f"Invalid model: {type(model).__name__} (must be a torch.nn.Module)")
        self.model = model
        self.groups = self._resolve_groups(model, layers)
        self.lr = check_number("lr", lr, low=0.0, low_open=True)
        if schedule not in SCHEDULES:
            raise ValueError(f"Invalid schedule: {schedule!r} (choose from {', '.join(SCHEDULES)})")
        self.schedule = schedule
        self.order = self._resolve_order(order)
        self.steps_per_layer = check_int("steps_per_layer", steps_per_layer, minimum=1)
        if decay is not None and not callable(decay):
            if not isinstance(decay, Real) or isinstance(decay, bool) or not decay > 0 or not math.isfinite(decay):
                raise ValueError(f"Invalid decay: {decay!r} (None, a number of steps > 0, or a callable t -> factor)")
            decay = float(decay)
        self.decay = decay
        if not callable(loss_fn):
            raise ValueError(f"Invalid loss_fn: {loss_fn!r} (must be callable)")
        self.loss_fn = loss_fn
        if not isinstance(eps, Real) or isinstance(eps, bool) or not eps >= 0:
            raise ValueError(f"Invalid eps: {eps!r} (must be >= 0)")
        self.eps = float(eps)
        if schedule == "epoch" and steps_per_epoch is None:
            raise ValueError(
                "Invalid steps_per_epoch: None (schedule='epoch' needs the number of mini-batches "
                "per epoch, e.g. math.ceil(n_train / batch_size))"
            )
        self.steps_per_epoch = None if steps_per_epoch is None else check_int("steps_per_epoch", steps_per_epoch, minimum=1)
        self.record = bool(record)
        self.active_layer: str | None = None
        self.trace: list[str] = []
        self.counts: dict[str, int] = {name: 0 for name in self.groups}
        self.num_steps = 0
        self._step_norms: list[torch.Tensor] = []
        self._grad_norms: list[torch.Tensor] = []

    # --- configuration ----------------------------------------------------

    @staticmethod
    def _resolve_groups(model: nn.Module, layers: Any) -> "OrderedDict[str, list[str]]":
        available = models.layers(model)
        if layers is None:
            if not available:
                raise ValueError("Invalid layers: the model has no trainable weight tensors to alternate over")
            return OrderedDict((k, list(v)) for k, v in available.items())
        if isinstance(layers, str):
            layers = [layers]
        if isinstance(layers, Mapping):
            params = dict(model.named_parameters())
            groups: "OrderedDict[str, list[str]]" = OrderedDict()
            for name, members in layers.items():
                members = [members] if isinstance(members, str) else list(members)
                if not members:
                    raise ValueError(f"Invalid layers: layer {name!r} has no parameters")
                for p in members:
                    if p not in params:
                        raise ValueError(f"Invalid layers: unknown parameter {p!r} in layer {name!r}")
                groups[str(name)] = members
        else:
            layers = list(layers)
            groups = OrderedDict()
            for name in layers:
                if name not in available:
                    raise ValueError(
                        f"Invalid layers: unknown layer {name!r} (the model's layers: {', '.join(available) or 'none'})"
                    )
                groups[name] = list(available[name])
        if not groups:
            raise ValueError("Invalid layers: empty (give at least one layer)")
        return groups

    def _resolve_order(self, order: Any) -> list[str]:
        names = list(self.groups)
        if isinstance(order, str):
            if order == "backward":
                return names[::-1]
            if order == "forward":
                return names
            raise ValueError(f"Invalid order: {order!r} (choose 'backward', 'forward' or a list of layer names)")
        try:
            order = list(order)
        except TypeError:
            raise ValueError(f"Invalid order: {order!r} (choose 'backward', 'forward' or a list of layer names)") from None
        if not order:
            raise ValueError("Invalid order: empty (give at least one layer name)")
        for name in order:
            if name not in self.groups:
                raise ValueError(f"Invalid order: unknown layer {name!r} (layers: {', '.join(names)})")
        return order

    # --- step sizes and records -------------------------------------------

    def lr_at(self, t: int) -> float:
        r"""The step size :math:`\eta_t` for mini-batch ``t`` (from 0)."""
        if self.decay is None:
            return self.lr
        if callable(self.decay):
            return self.lr * float(self.decay(t))
        return self.lr / math.sqrt(1.0 + t / self.decay)

    @property
    def current_lr(self) -> float:
        """The step size the next mini-batch will use."""
        return self.lr_at(self.num_steps)

    @property
    def step_norms(self) -> torch.Tensor:
        r"""Norm of every update actually taken (:math:`\eta_t`, or 0 when skipped), float64 on the CPU (syncs)."""
        return self._stack(self._step_norms)

    @property
    def grad_norms(self) -> torch.Tensor:
        r"""The gradient norm :math:`\lVert g_\ell \rVert_F` of every update, float64 on the CPU (syncs)."""
        return self._stack(self._grad_norms)

    @property
    def num_skipped(self) -> int:
        """Updates skipped because the gradient norm was at most ``eps`` (syncs)."""
        return int((self.step_norms == 0).sum())

    @staticmethod
    def _stack(values: list[torch.Tensor]) -> torch.Tensor:
        if not values:
            return torch.zeros(0, dtype=torch.float64)
        return torch.stack([v.detach().to("cpu", torch.float64) for v in values])

    def reset(self) -> None:
        """Forget the counters and records (the step counter :math:`t` too)."""
        self.active_layer = None
        self.trace = []
        self.counts = {name: 0 for name in self.groups}
        self.num_steps = 0
        self._step_norms = []
        self._grad_norms = []

    def phase(self, t: int | None = None) -> list[str]:
        """The groups trained on mini-batch ``t`` (default: the next one), in order."""
        t = self.num_steps if t is None else t
        if self.schedule == "batch":
            return list(self.order)
        return [self.order[(t // self.steps_per_epoch) % len(self.order)]]

    # --- updates ------------------------------------------------------------

    def layer_step(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor, layer: str, lr: float | None = None) -> torch.Tensor:
        r"""One normalized step on group ``layer`` only, on the batch ``(x, y)``.

        Gradients are computed for that group alone: every other parameter
        has ``requires_grad`` switched off for the forward pass (so no graph
        is built for it) and the model's flags are restored afterwards, even
        on error. Counts as an update (``trace``, ``counts``, norms) but does
        not advance :math:`t`.

        Args:
            model: the model (the one the trainer was built for).
            x, y: the mini-batch.
            layer: the group name.
            lr: the step size; default :math:`\eta_t` at the current :math:`t`.

        Returns:
            The loss before the step (detached, 0-d).
        """
        if layer not in self.groups:
            raise ValueError(f"Invalid layer: unknown layer {layer!r} (layers: {', '.join(self.groups)})")
        lr = self.lr_at(self.num_steps) if lr is None else check_number("lr", lr, low=0.0, low_open=True)
        params = dict(model.named_parameters())
        members = self.groups[layer]
        try:
            group = [params[n] for n in members]
        except KeyError as err:
            raise ValueError(f"Invalid model: it has no parameter {err.args[0]!r} (was the trainer built for another model?)") from None
        member_set = set(members)
        flags = {n: p.requires_grad for n, p in params.items()}
        try:
            for n, p in params.items():
                p.requires_grad_(n in member_set)
            with torch.enable_grad():
                loss = self.loss_fn(model(x), y)
                grads = torch.autograd.grad(loss, group, allow_unused=True)
        finally:
            for n, p in params.items():
                p.requires_grad_(flags[n])
        grads = [torch.zeros_like(p) if g is None else g for p, g in zip(group, grads)]
        with torch.no_grad():
            dtype = functools.reduce(torch.promote_types, [g.dtype for g in grads])
            norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g).to(dtype) for g in grads]))
            tiny = torch.finfo(dtype).tiny
            scale = torch.where(norm > self.eps, lr / norm.clamp_min(tiny), torch.zeros_like(norm))
            for p, g in zip(group, grads):
                p.sub_(g * scale.to(g.dtype))
        self.active_layer = layer
        self.trace.append(layer)
        self.counts[layer] += 1
        if self.record:
            self._step_norms.append(scale * norm)
            self._grad_norms.append(norm)
        return loss.detach()

    def step(self, model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Train on one mini-batch according to the schedule (the ``step`` of
        :func:`landscape.training.fit`) and return the loss before any update on
        it, detached."""
        if model is not self.model:
            raise ValueError("Invalid model: DANTE.step got a different model from the one the trainer was built for")
        lr = self.lr_at(self.num_steps)
        first: torch.Tensor | None = None
        for layer in self.phase():
            for _ in range(self.steps_per_layer):
                loss = self.layer_step(model, x, y, layer, lr=lr)
                if first is None:
                    first = loss
        self.num_steps += 1
        assert first is not None
        return first

    __call__ = step

    def callback(self, model: nn.Module, epoch: int, history: History) -> dict[str, Any]:
        """A :func:`landscape.training.fit` callback: records the step size of the
        epoch's last mini-batch as ``lr`` (the step size of epoch 0 before training)."""
        return {"lr": self.lr_at(max(self.num_steps - 1, 0))}

    def __repr__(self) -> str:
        return (
            f"DANTE(layers={list(self.groups)}, lr={self.lr}, schedule={self.schedule!r}, order={self.order}, "
            f"steps_per_layer={self.steps_per_layer}, decay={self.decay!r}, eps={self.eps})"
        )


# --- autoencoders -----------------------------------------------------------


@dataclass
class AutoencoderResult:
    """What :func:`greedy_autoencoder` returns.

    Attributes:
        model: the stacked autoencoder, ``nn.Sequential(encoder=..., decoder=...)``;
            ``model(x)`` reconstructs the flattened input, ``model.encoder(x)`` gives the code.
        pretrain: one :class:`~landscape.training.History` per greedy stage.
        finetune: the fine-tuning history (``None`` without fine-tuning).
        trainers: the :class:`DANTE` trainer of each stage, then of fine-tuning.
    """

    model: nn.Sequential
    pretrain: list[History] = field(default_factory=list)
    finetune: History | None = None
    trainers: list[DANTE] = field(default_factory=list)

    @property
    def encoder(self) -> nn.Module:
        return self.model.encoder

    @property
    def decoder(self) -> nn.Module:
        return self.model.decoder


def greedy_autoencoder(
    x: torch.Tensor,
    widths: Sequence[int],
    *,
    activation: str = "sigmoid",
    output_activation: str = "sigmoid",
    slope: float = 0.1,
    lr: float = 0.1,
    pretrain_epochs: int = 10,
    finetune_epochs: int = 10,
    finetune_lr: float | None = None,
    batch_size: int = 64,
    schedule: str = "batch",
    steps_per_layer: int = 1,
    decay: float | Callable[[int], float] | None = None,
    test: torch.Tensor | None = None,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool | None = None,
) -> AutoencoderResult:
    r"""Greedy layer-wise autoencoder trained with DANTE, then fine-tuned.

    Stage :math:`k = 1..K` trains a one-hidden-layer autoencoder on the codes
    :math:`h_{k-1}` of the previous stage (:math:`h_0 = x`, flattened),

    .. math::

        \min_{W_k, b_k, V_k, c_k} \frac{1}{n d_{k-1}} \sum_i
            \big\lVert \tau_k\big(V_k \sigma(W_k h_{k-1,i} + b_k) + c_k\big) - h_{k-1,i} \big\rVert^2,

    with :class:`DANTE` (alternating decoder and encoder, normalized steps),
    then sets :math:`h_k = \sigma(W_k h_{k-1} + b_k)`. Here :math:`\sigma` is
    ``activation`` and :math:`\tau_k` is ``output_activation`` for
    :math:`k = 1` (the data) and :math:`\sigma` for :math:`k > 1` (the codes
    live in :math:`\sigma`'s range). The stages stack into
    encoder :math:`x \mapsto h_K` and decoder :math:`h_K \mapsto \hat x`
    (:math:`V_K, \dots, V_1`), and the whole network is fine-tuned on the MSE
    with DANTE alternating over all :math:`2K` layers (order ``"backward"``).
    Weights are initialized with PyTorch's defaults under ``seed``.

    The paper trains autoencoders this way (greedy stacking, then
    fine-tuning); epochs and step sizes here are assumed.

    Args:
        x: training inputs ``(N, ...)``, flattened to ``(N, d)``; the targets are the inputs.
        widths: code sizes ``(d_1, ..., d_K)``, at least one.
        activation: hidden activation (``sigmoid`` or ``grelu`` for DANTE's theory;
            any name of :func:`landscape.training.models.activation`).
        output_activation: activation of the reconstruction (``sigmoid`` for data in [0, 1]).
        slope: the negative slope of ``grelu``.
        lr: DANTE's step size in the greedy stages.
        pretrain_epochs: epochs per greedy stage.
        finetune_epochs: epochs of fine-tuning (0 to skip).
        finetune_lr: DANTE's step size in fine-tuning (default ``lr``).
        batch_size: mini-batch size.
        schedule, steps_per_layer, decay: passed to :class:`DANTE`.
        test: held-out inputs, evaluated each epoch (``test_loss``).
        seed: seeds the initialization and :func:`~landscape.training.fit`.
        device: where to train (default: :func:`~landscape.training.default_device`).
        progress: passed to :func:`~landscape.training.fit`.

    Returns:
        An :class:`AutoencoderResult`.

    Example:
        >>> from landscape import data
        >>> ds = data.load("digits", n_train=200, n_test=100)
        >>> res = greedy_autoencoder(ds.train[0], [16], pretrain_epochs=1, finetune_epochs=1, device="cpu")
        >>> res.model(ds.test[0]).shape, res.encoder(ds.test[0]).shape
        (torch.Size([100, 64]), torch.Size([100, 16]))
    """
    widths = list(widths)
    if not widths:
        raise ValueError("Invalid widths: [] (needs at least one code size)")
    for w in widths:
        check_int("widths", w, minimum=1)
    check_int("pretrain_epochs", pretrain_epochs, minimum=0)
    check_int("finetune_epochs", finetune_epochs, minimum=0)
    check_int("batch_size", batch_size, minimum=1)
    check_number("lr", lr, low=0.0, low_open=True)
    finetune_lr = lr if finetune_lr is None else check_number("lr", finetune_lr, low=0.0, low_open=True)
    models.activation(activation, slope)  # validate the names early
    models.activation(output_activation, slope)
    if x.ndim < 2 or x.shape[0] < 1:
        raise ValueError(f"Invalid x: shape {tuple(x.shape)} (needs (N, ...) with N >= 1)")
    from ..training.loop import default_device

    device = torch.device(device) if device is not None else default_device()
    flat = x.detach().reshape(x.shape[0], -1).to(device)
    flat_test = None if test is None else test.detach().reshape(test.shape[0], -1).to(device)
    dtype = flat.dtype if flat.dtype.is_floating_point else torch.get_default_dtype()
    flat = flat.to(dtype)
    if flat_test is not None:
        flat_test = flat_test.to(dtype)
    sizes = [flat.shape[1], *widths]
    steps_per_epoch = math.ceil(flat.shape[0] / batch_size)

    def dante(model: nn.Module, eta: float) -> DANTE:
        return DANTE(
            model, lr=eta, schedule=schedule, steps_per_layer=steps_per_layer, decay=decay,
            loss_fn=F.mse_loss, steps_per_epoch=steps_per_epoch if schedule == "epoch" else None,
        )

    encoders: list[nn.Module] = []
    decoders: list[nn.Module] = []
    result = AutoencoderResult(model=nn.Sequential())
    codes, codes_test = flat, flat_test
    for k, (d_in, d_out) in enumerate(zip(sizes[:-1], sizes[1:]), start=1):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed * 1_000 + k)
            enc = nn.Linear(d_in, d_out)
            dec = nn.Linear(d_out, d_in)
        enc, dec = enc.to(device=device, dtype=dtype), dec.to(device=device, dtype=dtype)
        out_act = models.activation(output_activation if k == 1 else activation, slope)
        stage = nn.Sequential(
            OrderedDict(enc=enc, act=models.activation(activation, slope), dec=dec, out=out_act)
        )
        trainer = dante(stage, lr)
        hist = fit(
            stage, (codes, codes), epochs=pretrain_epochs, step=trainer, loss_fn=F.mse_loss,
            batch_size=batch_size, test=None if codes_test is None else (codes_test, codes_test),
            callbacks=[trainer.callback], seed=seed + k, device=device, progress=progress,
        )
        result.pretrain.append(hist)
        result.trainers.append(trainer)
        encoders += [(f"fc{k}", enc), (f"act{k}", models.activation(activation, slope))]
        decoders = [(f"fc{k}", dec), (f"act{k}", out_act)] + decoders
        with torch.no_grad():
            codes = stage.act(enc(codes))
            codes_test = None if codes_test is None else stage.act(enc(codes_test))
    encoder = nn.Sequential(OrderedDict([("flatten", nn.Flatten()), *encoders]))
    decoder = nn.Sequential(OrderedDict(decoders))
    model = nn.Sequential(OrderedDict(encoder=encoder, decoder=decoder))
    result.model = model
    if finetune_epochs > 0:
        trainer = dante(model, finetune_lr)
        result.finetune = fit(
            model, (flat, flat), epochs=finetune_epochs, step=trainer, loss_fn=F.mse_loss,
            batch_size=batch_size, test=None if flat_test is None else (flat_test, flat_test),
            callbacks=[trainer.callback], seed=seed, device=device, progress=progress,
        )
        result.trainers.append(trainer)
    return result
