r"""Hessian- and Gauss-Newton-vector products as a linear operator.

:class:`HessianOperator` represents, without ever forming it, the Hessian of the
total loss with respect to a set of parameters,

.. math::

    L(\theta) = \sum_b w_b \, \ell_b(\theta), \qquad
    H = \nabla^2_\theta L(\theta), \qquad
    w_b = n_b / N \ \text{(a mean loss)}, \quad w_b = 1 \ \text{(a sum loss)},

where :math:`\ell_b` is the loss of batch :math:`b` of size :math:`n_b` and :math:`N = \sum_b n_b`
(so several unequal batches give exactly the Hessian of the concatenated batch; how batches,
reductions and sizes are read: :mod:`landscape.curvature.batches`),
or the generalized Gauss-Newton matrix (Schraudolph 2002; Martens 2010)

.. math::

    G = \sum_b w_b J_b^\top \, \nabla^2_z \ell_b \, J_b,
    \qquad J_b = \partial z_b / \partial \theta ,

with :math:`z_b` the network outputs of batch :math:`b`.  Products use Pearlmutter's
trick (Pearlmutter 1994) as double backprop: :math:`Hv = \nabla_\theta (\nabla_\theta
L \cdot v)`.

Cost model (one "HVP" = one column of ``op @ V``):

* one batch: the gradient graph is built once (``create_graph=True``) on the first
  product and kept; every HVP is one ``torch.autograd.grad(grads, params,
  grad_outputs=v, retain_graph=True)`` -- about the cost of one gradient;
* several batches: for every ``op @ V`` call each batch's graph is built once, used
  for all ``k`` columns of ``V`` and freed before the next batch (memory stays at
  one batch's graph), so wide blocks ``V`` amortize the rebuild;
* GGN products cost three backward passes through the kept graph.

References:
    B. A. Pearlmutter, "Fast exact multiplication by the Hessian", Neural
    Computation 6(1), 1994.
    N. N. Schraudolph, "Fast curvature matrix-vector products for second-order
    gradient descent", Neural Computation 14(7), 2002.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from typing import Any, Callable

import torch
from torch import nn

from ..validation import check_choice, check_int
from .batches import as_batches, batch_loss, read_batches, tensors_in

Tensor = torch.Tensor

__all__ = ["HessianOperator", "resolve_params", "as_batches"]

_KINDS = ("hessian", "ggn")


# ------------------------------------------------------------------------ parameters


def resolve_params(model: nn.Module, params: Any = None) -> tuple[list[str], list[Tensor]]:
    """Names and tensors of the selected parameters.

    Args:
        model: the network.
        params: ``None`` (every parameter with ``requires_grad``, in
            ``model.named_parameters()`` order), a name, or a sequence of names or
            parameter tensors (kept in the given order).

    Raises:
        ValueError: unknown name, duplicate, frozen parameter, or nothing trainable.
    """
    named = dict(model.named_parameters())
    if params is None:
        names = [n for n, p in named.items() if p.requires_grad]
        if not names:
            raise ValueError("the model has no trainable parameters (none with requires_grad=True)")
        return names, [named[n] for n in names]
    if isinstance(params, (str, torch.Tensor)):
        params = [params]
    if not isinstance(params, Sequence):
        params = list(params)
    by_id = {id(p): n for n, p in named.items()}
    names: list[str] = []
    for item in params:
        if isinstance(item, torch.Tensor):
            if id(item) not in by_id:
                raise ValueError("a tensor passed in params is not a parameter of the model")
            name = by_id[id(item)]
        elif isinstance(item, str):
            name = item
        else:
            raise ValueError(f"params entries must be parameter names, got {item!r}")
        if name not in named:
            raise ValueError(f"parameter {name!r} does not exist in the model; "
                             f"known parameters: {', '.join(named) or '(none)'}")
        if not named[name].requires_grad:
            raise ValueError(f"parameter {name!r} does not require grad (it is frozen): no trainable parameters to "
                             "differentiate")
        if name in names:
            raise ValueError(f"parameter {name!r} is listed twice in params")
        names.append(name)
    if not names:
        raise ValueError("params is empty: no trainable parameters selected")
    return names, [named[n] for n in names]


# ----------------------------------------------------------------------------- engine


class _Engine:
    """Shared state of an operator and its block views: model, data, graph cache."""

    def __init__(self, model, loss_fn, data, names, tensors, kind, forward_fn, forward_seed, group=None):
        self.model, self.loss_fn, self.data = model, loss_fn, data
        self.batches, self.weights, self.sizes = data.batches, data.weights, data.sizes
        self.names, self.tensors, self.kind = names, tensors, kind
        self.forward_fn, self.forward_seed, self.group = forward_fn, forward_seed, group
        self.index = {n: i for i, n in enumerate(names)}
        self.device = tensors[0].device
        self._cache: dict | None = None
        self._state: tuple | None = None
        self._values: list[Tensor] | None = None
        self._deterministic_in: tuple | None = None

    # The kept graph of a single batch is valid while the model computes the same function of the same data:
    # every parameter and buffer holds the values it had when the graph was built (compared exactly, so edits
    # through ``.data`` or ``vector_to_parameters``, which no version counter sees, are found), the selected
    # parameters are the model's (not replaced by new tensors), every submodule is in the same train/eval mode,
    # and the data tensors are the same storage at the same version.
    def _state_now(self) -> tuple:
        data = tensors_in(self.batches[0])
        return (tuple(m.training for m in self.model.modules())
                + tuple((t.data_ptr(), t._version, tuple(t.shape)) for t in data))

    def _values_now(self) -> list[Tensor]:
        return [t for t in self.model.parameters()] + [b for b in self.model.buffers()]

    def check_params(self) -> None:
        named = dict(self.model.named_parameters())
        for name, t in zip(self.names, self.tensors):
            if named.get(name) is not t:
                raise RuntimeError(f"HessianOperator: the model's parameter {name!r} was replaced by another tensor "
                                   "after the operator was made (assign values with .data or copy_ instead, or make "
                                   "a new HessianOperator)")

    def _unchanged(self) -> bool:
        if self._cache is None or self._state != self._state_now():
            return False
        return same_values(self._values_now(), self._values, fused=self.device.type != "cpu")

    def release(self) -> None:
        self._cache, self._state, self._values = None, None, None

    def check_deterministic(self) -> None:
        """At the first product in each train/eval state: refuse a random forward without ``forward_seed``."""
        modes = tuple(m.training for m in self.model.modules())
        if self.forward_seed is not None or modes == self._deterministic_in or not self.batches:
            return
        if _stochastic(self.model, self.batches, self.forward_fn, self.device):
            raise ValueError("HessianOperator: the model's forward is random (two forwards of the same batch differ: "
                             "dropout or another random layer in training mode), so it has no fixed Hessian; call "
                             "model.eval(), or pass forward_seed=<int> for the Hessian at one fixed mask per batch")
        self._deterministic_in = modes

    def _build(self, index: int) -> dict:
        inputs, targets = self.batches[index]
        with _seeded(self.forward_seed, index, self.device):
            loss, outputs = batch_loss(self.model, self.loss_fn, inputs, targets, self.device,
                                       forward_fn=self.forward_fn, keep_buffers=True)
        if self.kind == "hessian":
            if loss.requires_grad:
                grads = torch.autograd.grad(loss, self.tensors, create_graph=True, allow_unused=True)
            else:
                grads = (None,) * len(self.tensors)
            return {"grads": grads}
        if not isinstance(outputs, torch.Tensor):
            raise ValueError("kind='ggn' needs a model that returns a single tensor of outputs")
        cache: dict[str, Any] = {"z": outputs, "dldz": None, "u": None, "jtu": (None,) * len(self.tensors)}
        if outputs.requires_grad and loss.requires_grad:
            (dldz,) = torch.autograd.grad(loss, outputs, create_graph=True)
            u = torch.zeros_like(outputs, requires_grad=True)
            jtu = torch.autograd.grad(outputs, self.tensors, grad_outputs=u, create_graph=True, allow_unused=True)
            cache.update(dldz=dldz, u=u, jtu=jtu)
        return cache

    def _products(self, cache: dict, subset: list[int], cols: list[list[Tensor]]) -> list[list[Tensor | None]]:
        """Per column, per parameter in ``subset``: the block product (None = zero)."""
        inputs = [self.tensors[i] for i in subset]
        results = []
        if self.kind == "hessian":
            grads = [cache["grads"][i] for i in subset]
            active = [a for a, g in enumerate(grads) if g is not None and g.requires_grad]
            outs = [grads[a] for a in active]
            for pieces in cols:
                if not active:
                    results.append([None] * len(subset))
                    continue
                results.append(list(torch.autograd.grad(outs, inputs, grad_outputs=[pieces[a] for a in active],
                                                        retain_graph=True, allow_unused=True)))
            return results
        jtu = [cache["jtu"][i] for i in subset]
        active = [a for a, g in enumerate(jtu) if g is not None and g.requires_grad]
        z, dldz, u = cache["z"], cache["dldz"], cache["u"]
        for pieces in cols:
            if not active or dldz is None or not dldz.requires_grad:
                results.append([None] * len(subset))
                continue
            (jv,) = torch.autograd.grad([jtu[a] for a in active], u, grad_outputs=[pieces[a] for a in active],
                                        retain_graph=True, allow_unused=True)
            if jv is None:
                results.append([None] * len(subset))
                continue
            (hjv,) = torch.autograd.grad(dldz, z, grad_outputs=jv, retain_graph=True, allow_unused=True)
            if hjv is None:
                results.append([None] * len(subset))
                continue
            results.append(list(torch.autograd.grad(z, inputs, grad_outputs=hjv, retain_graph=True,
                                                    allow_unused=True)))
        return results

    def matmat(self, subset: list[int], V: Tensor) -> Tensor:
        """``H_SS @ V`` for a block ``V`` of shape (n_S, k)."""
        shapes = [self.tensors[i].shape for i in subset]
        numels = [self.tensors[i].numel() for i in subset]
        cols = []
        for c in range(V.shape[1]):
            col = V[:, c]
            cols.append([p.reshape(s) for p, s in zip(torch.split(col, numels), shapes)])
        # every entry is written by the first batch (a product, or zero where a parameter has none), so the
        # block needs no zero fill; later batches add to it
        out = torch.empty_like(V)
        offsets = [0]
        for m in numels:
            offsets.append(offsets[-1] + m)

        def accumulate(products, weight, first):
            # each product is written through a view of its rows shaped like the parameter: one pass, also
            # for products that come back with permuted strides (some convolutions' double backward)
            for c, per_param in enumerate(products):
                for a, prod in enumerate(per_param):
                    piece = out[offsets[a]:offsets[a + 1], c].view(shapes[a])
                    if prod is None:
                        if first:
                            piece.zero_()
                    elif first:
                        torch.mul(prod, weight, out=piece)
                    else:
                        piece.add_(prod, alpha=weight)

        self.check_params()
        self.check_deterministic()
        if len(self.batches) == 1:
            if not self._unchanged():
                self.release()  # free the old graph before building the new one
                self._cache = self._build(0)
                self._state = self._state_now()
                self._values = [t.detach().clone() for t in self._values_now()]
            accumulate(self._products(self._cache, subset, cols), self.weights[0], first=True)
        else:
            for index, weight in enumerate(self.weights):
                cache = self._build(index)
                accumulate(self._products(cache, subset, cols), weight, first=index == 0)
                del cache
            if not self.weights:                     # no batch here (a rank that holds no data): a zero block
                out.zero_()
        if self.group is not None:
            from .distributed import all_reduce_

            all_reduce_(out, self.group)             # one all-reduce per block: every rank's partial sum
        return out


def same_values(now: list[Tensor], saved: list[Tensor], *, fused: bool = False) -> bool:
    """Whether every tensor of ``now`` has the shape and exactly the values of its partner in ``saved``.

    ``fused=False`` (the CPU): one ``torch.equal`` per tensor, which stops at the first difference.
    ``fused=True`` (an accelerator, where each ``torch.equal`` waits for the device): the comparisons are
    queued on the device and read back once, one host sync for the whole model. Tensors on several devices
    fall back to ``torch.equal``.
    """
    if len(now) != len(saved) or any(a.shape != b.shape for a, b in zip(now, saved)):
        return False
    if not now:
        return True
    if not fused or len({t.device for t in now} | {t.device for t in saved}) > 1:
        return all(torch.equal(a.detach(), b) for a, b in zip(now, saved))
    differs = torch.stack([torch.ne(a.detach(), b).any() for a, b in zip(now, saved)])
    return not bool(differs.any())


@contextlib.contextmanager
def _seeded(seed: int | None, index: int, device: torch.device):
    """With a ``seed``, the forward of batch ``index`` under the RNG state of ``seed + index`` (and the global
    RNG restored after): a stochastic layer draws the same mask at every rebuild."""
    if seed is None:
        yield
        return
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed + index)
        yield


def _stochastic(model: nn.Module, batches, forward_fn, device) -> bool:
    """Whether two forwards of the first batch differ (a random layer active); on copies of the buffers."""
    if not any(m.training for m in model.modules()):
        return False
    inputs, targets = batches[0]
    with torch.no_grad():
        outs = [tensors_in(batch_loss(model, lambda o, y: torch.zeros((), device=device), inputs, targets, device,
                                      forward_fn=forward_fn, keep_buffers=True)[1]) for _ in range(2)]
    for a, b in zip(*outs):
        if a.is_floating_point() and float((a - b).abs().max()) > 1e-6 * max(float(a.abs().max()), 1e-30):
            return True
    return False


# --------------------------------------------------------------------------- operator


class HessianOperator:
    r"""The Hessian (or GGN) of the total loss as a symmetric linear operator.

    ``op @ v`` returns :math:`H_{BB} v` for the flattened parameters :math:`B` named in
    ``params`` (their tensors flattened and concatenated in that order; ``None``
    means every trainable parameter in ``model.named_parameters()`` order).  ``v``
    may be a vector of shape ``(n,)`` or a matrix ``(n, k)`` whose columns are
    vectors; ``op.hvps`` counts columns multiplied so far (assign 0 to reset).

    The loss is the total the user defined, :math:`L = \sum_b w_b \ell_b` over the batches
    (:mod:`landscape.curvature.batches`): for a mean loss :math:`w_b = n_b / N`, so unequal batches
    give the mean over all examples, and for a sum loss (``reduction="sum"``) :math:`w_b = 1`, the sum
    over all of them; either way the operator of the concatenated data. The reduction is read from
    the loss (an ``nn.Module``'s ``reduction``, a ``functools.partial``, a signature default such as
    ``F.cross_entropy``'s) or declared with ``reduction=``; several batches with a loss that says
    neither are refused. ``kind="ggn"`` gives the generalized Gauss-Newton matrix
    :math:`\sum_b w_b J_b^\top \nabla^2_z \ell_b J_b` instead.

    Side effects and modes: the constructor reads ``data`` (a one-shot iterator or a
    DataLoader is iterated once, here, and its batches kept: a shuffled loader is frozen
    in that order, and examples a ``drop_last`` loader leaves out are counted in a
    warning; ``op.num_samples`` is what is used).  The model is evaluated in the mode it
    is in: the operator never calls ``model.train()``/``model.eval()``.  A batch norm in
    training mode uses batch statistics (the curvature of that function), and its
    buffers (running statistics, ``num_batches_tracked``) are left exactly as they were:
    products run on copies.  A model whose forward is random (two forwards of the first
    batch differ: dropout in training mode) is refused at the first product unless
    ``forward_seed`` fixes the randomness: every forward of batch ``b`` then runs with the RNG seeded to
    ``forward_seed + b`` (one fixed mask per batch; the global RNG is restored).  Caller
    tensors are never modified.

    For one batch the double-backprop graph is kept between products.  It is rebuilt
    when the model would compute another function: a parameter or buffer value changed
    by any means (compared exactly with a copy kept at build time, so edits through
    ``.data``, ``vector_to_parameters``, ``load_state_dict`` or an optimizer step are all
    seen; cost one pass over the parameters per product), any submodule switched
    between train and eval, or a data tensor changed in place.  A parameter *replaced*
    by a new tensor is an error.  :meth:`release` frees the graph.  On a GPU, keep the
    data on the model's device (otherwise each rebuild copies it over).

    Forwards run with kernels that have a double backward: data convolutions rerouted,
    attention (``scaled_dot_product_attention``, transformer layers) on its math kernel,
    cuDNN off for recurrent layers.

    Args:
        model: the network (an ``nn.Module``); its parameters fix device and dtype.
        loss_fn: ``loss_fn(outputs, targets)`` returning the batch's loss (a 0-dim tensor).
        data: one batch or an iterable of them; a batch is an ``(inputs, targets)`` pair or a
            mapping with its targets under ``"labels"`` or ``"targets"``. ``inputs`` may be a
            tensor, a tuple (splatted) or any mapping (keywords); batches are moved to the
            parameters' device when needed (copies; the originals are kept).
        params: ``None``, a parameter name, or a list of names (the block).
        kind: ``"hessian"`` or ``"ggn"``.
        reduction: ``"mean"`` or ``"sum"``, for a loss whose reduction cannot be read.
        batch_size_fn: ``batch_size_fn(inputs, targets) -> int``, the weight :math:`n_b` of a batch
            of a mean loss; default the leading dimension of the targets (refused as ambiguous
            where the inputs' differs, or the model has sequence-first layers: pass
            ``lambda x, y: y.shape[1]`` for ``(T, N)`` targets).
        split_batch: ``split_batch(batch) -> (inputs, targets)`` for batches of another layout.
        forward_fn: ``forward_fn(model, inputs) -> outputs`` instead of the default call.
        forward_seed: fix the randomness of a stochastic forward (see above).
        process_group: a ``torch.distributed`` process group (``True``: the default group). ``data`` is then this
            rank's shard (possibly empty), and ``op @ V`` is, on every rank, the product with the curvature of the
            loss over all ranks' data: one all-reduce per block (:mod:`landscape.curvature.distributed`, which
            also says how to launch with torchrun and srun). A ``DistributedDataParallel`` model is unwrapped. Pass
            the same ``seed`` to the algorithms and they return the same result on every rank.

    Raises:
        ValueError: unknown ``kind``, unknown/frozen/duplicate parameter names, no
            trainable parameters, parameters of mixed dtype or device, bad ``data``
            (not batches, an empty batch, NaN or infinite values), an unknown reduction or
            ambiguous batch sizes over several batches, a model that is not an ``nn.Module``;
            at the first product, a random forward without ``forward_seed``.
        TypeError: floating-point data of another dtype than the parameters.
        RuntimeError: at a product, a selected parameter replaced by another tensor.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Tanh(), torch.nn.Linear(4, 2)).double()
        >>> x, y = torch.randn(8, 3, generator=g, dtype=torch.float64), torch.arange(8) % 2
        >>> op = HessianOperator(model, torch.nn.functional.cross_entropy, (x, y))
        >>> op.shape
        (26, 26)
        >>> hv = op @ torch.eye(26, dtype=torch.float64)[:, :2]
        >>> op.hvps
        2
    """

    def __init__(self, model: nn.Module, loss_fn: Callable, data: Any, *, params: Any = None,
                 kind: str = "hessian", reduction: str | None = None, batch_size_fn: Callable | None = None,
                 split_batch: Callable | None = None, forward_fn: Callable | None = None,
                 forward_seed: int | None = None, process_group: Any = None):
        check_choice("kind", kind, _KINDS)
        if process_group is not None:
            from .distributed import check_group, unwrap

            process_group = check_group(process_group)
            model = unwrap(model)
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}: wrap a function f(x) whose "
                             "parameters are tensors in a module that holds them as nn.Parameter attributes and calls "
                             "f in its forward (or pass the module and a forward_fn)")
        if forward_seed is not None:
            forward_seed = check_int("forward_seed", forward_seed, minimum=0)
        names, tensors = resolve_params(model, params)
        dtypes = {t.dtype for t in tensors}
        if len(dtypes) != 1:
            raise ValueError(f"the selected parameters have mixed dtypes {sorted(map(str, dtypes))}")
        if not tensors[0].dtype.is_floating_point:
            raise ValueError(f"parameters must be floating point, got {tensors[0].dtype}")
        devices = {t.device for t in tensors}
        if len(devices) != 1:
            raise ValueError(f"the selected parameters live on several devices {sorted(map(str, devices))}")
        data = read_batches(data, loss_fn, tensors[0].dtype, model=model, reduction=reduction,
                            batch_size_fn=batch_size_fn, split_batch=split_batch, group=process_group,
                            device=tensors[0].device)
        self._engine = _Engine(model, loss_fn, data, names, tensors, kind, forward_fn, forward_seed, process_group)
        self._subset = list(range(len(names)))
        self._init_view()

    @classmethod
    def _view(cls, engine: _Engine, subset: list[int]) -> "HessianOperator":
        op = cls.__new__(cls)
        op._engine, op._subset = engine, subset
        op._init_view()
        return op

    def _init_view(self) -> None:
        e = self._engine
        self.param_names: list[str] = [e.names[i] for i in self._subset]
        self.param_shapes: list[torch.Size] = [e.tensors[i].shape for i in self._subset]
        numels = [e.tensors[i].numel() for i in self._subset]
        self.param_slices: dict[str, slice] = {}
        start = 0
        for name, m in zip(self.param_names, numels):
            self.param_slices[name] = slice(start, start + m)
            start += m
        self._n = start
        self.hvps: int = 0

    # -- metadata ---------------------------------------------------------------
    @property
    def shape(self) -> tuple[int, int]:
        """``(n, n)`` with ``n`` the number of selected scalar parameters."""
        return (self._n, self._n)

    @property
    def dtype(self) -> torch.dtype:
        return self._engine.tensors[0].dtype

    @property
    def device(self) -> torch.device:
        return self._engine.device

    @property
    def kind(self) -> str:
        return self._engine.kind

    @property
    def num_samples(self) -> int:
        """Total number of samples ``N`` over all batches (``batch_size_fn``'s count where given; with a
        ``process_group``, over every rank's shard)."""
        return self._engine.data.num_samples

    @property
    def reduction(self) -> str | None:
        """``"mean"`` or ``"sum"`` as read or declared (``None``: one batch of a loss that says neither)."""
        return self._engine.data.reduction

    @property
    def num_batches(self) -> int:
        return len(self._engine.batches)

    @property
    def model(self) -> nn.Module:
        return self._engine.model

    def __repr__(self) -> str:
        return (f"HessianOperator(kind={self.kind!r}, n={self._n}, params={len(self.param_names)}, "
                f"batches={self.num_batches}, samples={self.num_samples}, reduction={self.reduction}, "
                f"dtype={self.dtype}, device={self.device}, hvps={self.hvps})")

    # -- structure ----------------------------------------------------------------
    def block(self, params: Any) -> "HessianOperator":
        """The diagonal block :math:`H_{BB}` for a subset of this operator's parameters.

        The view shares the model, data and (for one batch) the kept gradient graph
        with this operator, so blocks of the same network cost no extra forward or
        first backward.  It has its own ``hvps`` counter.
        """
        if isinstance(params, str):
            params = [params]
        subset = []
        for name in params:
            if name not in self.param_names:
                raise ValueError(f"parameter {name!r} does not exist in this operator "
                                 f"(it covers {', '.join(self.param_names)})")
            i = self._engine.index[name]
            if i in subset:
                raise ValueError(f"parameter {name!r} is listed twice")
            subset.append(i)
        if not subset:
            raise ValueError("block: no parameters selected")
        return HessianOperator._view(self._engine, subset)

    def flat_params(self) -> Tensor:
        """A detached copy of the selected parameters, flattened in operator order."""
        e = self._engine
        return torch.cat([e.tensors[i].detach().reshape(-1) for i in self._subset])

    def unflatten(self, v: Tensor) -> dict[str, Tensor]:
        """Split a flat vector into ``{name: tensor shaped like the parameter}`` (views)."""
        self._check(v)
        if v.ndim != 1:
            raise ValueError("unflatten expects a vector of shape (n,)")
        return {name: v[sl].reshape(shape) for (name, sl), shape in zip(self.param_slices.items(), self.param_shapes)}

    def release(self) -> None:
        """Free the kept gradient graph (it is rebuilt on the next product)."""
        self._engine.release()

    # -- products -------------------------------------------------------------------
    def _check(self, v: Any) -> None:
        if not isinstance(v, torch.Tensor):
            raise ValueError(f"v must be a torch.Tensor, got {type(v).__name__}")
        if v.ndim not in (1, 2) or v.shape[0] != self._n:
            raise ValueError(f"v has shape {tuple(v.shape)}; expected a vector of shape ({self._n},) or a matrix "
                             f"({self._n}, k)")
        if v.dtype != self.dtype:
            raise ValueError(f"v has dtype {v.dtype}, but the operator has dtype {self.dtype}")
        if v.device != self.device:
            raise ValueError(f"v is on device {v.device}, but the operator is on {self.device}")

    def matmat(self, V: Tensor) -> Tensor:
        """``H @ V`` for ``V`` of shape (n, k); costs ``k`` HVPs."""
        self._check(V)
        if V.ndim != 2:
            raise ValueError(f"matmat expects a matrix of shape ({self._n}, k), got shape {tuple(V.shape)}")
        if V.shape[1] == 0:
            return torch.zeros_like(V)
        out = self._engine.matmat(self._subset, V.detach())
        self.hvps += V.shape[1]
        return out

    def matvec(self, v: Tensor) -> Tensor:
        """``H @ v`` for a vector of shape (n,); costs one HVP."""
        self._check(v)
        if v.ndim != 1:
            raise ValueError(f"matvec expects a vector of shape ({self._n},), got shape {tuple(v.shape)}")
        return self.matmat(v[:, None])[:, 0]

    def __matmul__(self, v: Tensor) -> Tensor:
        self._check(v)
        return self.matvec(v) if v.ndim == 1 else self.matmat(v)
