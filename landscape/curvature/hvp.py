r"""Hessian- and Gauss-Newton-vector products as a linear operator.

:class:`HessianOperator` represents, without ever forming it, the Hessian of the
sample-weighted mean loss with respect to a set of parameters,

.. math::

    L(\theta) = \sum_b \frac{n_b}{N} \, \ell_b(\theta), \qquad
    H = \nabla^2_\theta L(\theta), \qquad N = \sum_b n_b,

where :math:`\ell_b` is the (mean) loss of batch :math:`b` of size :math:`n_b`
(so several unequal batches give exactly the Hessian of the concatenated batch),
or the generalized Gauss-Newton matrix (Schraudolph 2002; Martens 2010)

.. math::

    G = \sum_b \frac{n_b}{N} J_b^\top \, \nabla^2_z \ell_b \, J_b,
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

import warnings
from collections.abc import Iterable, Sequence
from typing import Any, Callable

import torch
from torch import nn

from ..validation import check_choice
from .dataconv import lean_data_convs

Tensor = torch.Tensor

__all__ = ["HessianOperator", "resolve_params", "as_batches"]

_KINDS = ("hessian", "ggn")
_STOCHASTIC = (nn.modules.dropout._DropoutNd, nn.modules.batchnorm._BatchNorm)


# ----------------------------------------------------------------------------- data


def _is_single_batch(data: Any) -> bool:
    return (isinstance(data, (tuple, list)) and len(data) == 2
            and isinstance(data[1], torch.Tensor))


def _first_tensor(x: Any) -> Tensor | None:
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, dict):
        x = list(x.values())
    if isinstance(x, (tuple, list)):
        for item in x:
            t = _first_tensor(item)
            if t is not None:
                return t
    return None


def _tensors_in(x: Any) -> list[Tensor]:
    if isinstance(x, torch.Tensor):
        return [x]
    if isinstance(x, dict):
        x = list(x.values())
    if isinstance(x, (tuple, list)):
        return [t for item in x for t in _tensors_in(item)]
    return []


def _batch_size(inputs: Any, targets: Tensor) -> int:
    if targets.ndim >= 1:
        return int(targets.shape[0])
    t = _first_tensor(inputs)
    if t is None or t.ndim == 0:
        raise ValueError("cannot infer the batch size: targets is 0-dimensional and inputs hold no batched tensor")
    return int(t.shape[0])


def as_batches(data: Any) -> list[tuple[Any, Tensor]]:
    """Normalize ``data`` to a list of ``(inputs, targets)`` batches.

    ``data`` is one batch -- a pair whose second element (the targets) is a tensor --
    or an iterable of such pairs (a list, a generator, a DataLoader: it is iterated
    once, here, and the batches are kept by reference).
    """
    if _is_single_batch(data):
        return [(data[0], data[1])]
    if isinstance(data, torch.Tensor) or not isinstance(data, Iterable):
        raise ValueError("data must be an (inputs, targets) batch or an iterable of such batches")
    batches = []
    for i, batch in enumerate(data):
        if not _is_single_batch(batch):
            raise ValueError(f"batch {i} of data is not an (inputs, targets) pair with a tensor of targets")
        batches.append((batch[0], batch[1]))
    if not batches:
        raise ValueError("data contains no batches")
    return batches


def check_batches(batches: list[tuple[Any, Tensor]], dtype: torch.dtype) -> list[int]:
    """The batch sizes of ``batches``, after checking what would make the curvature silently
    wrong or fail deep inside autograd.

    Raises:
        ValueError: an empty batch, or NaN / infinite values in a batch's inputs or targets.
        TypeError: floating-point inputs of another dtype than the parameters' ``dtype``.
    """
    sizes = []
    for i, (x, y) in enumerate(batches):
        n = _batch_size(x, y)
        if n == 0:
            raise ValueError(f"Invalid data: batch {i} is empty (must hold at least one example)")
        for what, tensors in (("inputs", _tensors_in(x)), ("targets", [y])):
            for t in tensors:
                if not t.is_floating_point():
                    continue
                if what == "inputs" and t.dtype != dtype:
                    raise TypeError(f"Invalid data: batch {i} has {t.dtype} inputs but the parameters are {dtype} "
                                    f"(must match: convert the data or the model with .to({dtype}))")
                if not bool(torch.isfinite(t).all()):
                    raise ValueError(f"Invalid data: batch {i} has NaN or infinite values in its {what} "
                                     "(must be finite: clean the data or drop those examples)")
        sizes.append(n)
    return sizes


def _to_device(x: Any, device: torch.device) -> Any:
    if isinstance(x, torch.Tensor):
        return x.to(device)
    if isinstance(x, dict):
        return {k: _to_device(v, device) for k, v in x.items()}
    if isinstance(x, (tuple, list)):
        return type(x)(_to_device(v, device) for v in x)
    return x


def forward(model: nn.Module, inputs: Any) -> Any:
    """Call ``model`` on ``inputs`` (a tensor; a tuple/list is splatted, a dict is passed as keywords)."""
    if isinstance(inputs, dict):
        return model(**inputs)
    if isinstance(inputs, (tuple, list)):
        return model(*inputs)
    return model(inputs)


def batch_loss(model: nn.Module, loss_fn: Callable, inputs: Any, targets: Tensor,
               device: torch.device) -> tuple[Tensor, Any]:
    """Forward one batch and check that the loss is a scalar; returns ``(loss, outputs)``.

    Convolutions of the data run through :func:`~landscape.curvature.dataconv.lean_data_convs`
    (same values, a double backward without PyTorch's unused input-gradient term).
    """
    inputs = _to_device(inputs, device)
    with lean_data_convs():
        outputs = forward(model, inputs)
    loss = loss_fn(outputs, targets.to(device))
    if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
        shape = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
        raise ValueError(f"loss_fn must return a scalar (0-dim) tensor, the mean loss; got {shape}")
    return loss, outputs


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

    def __init__(self, model, loss_fn, batches, names, tensors, kind):
        self.model, self.loss_fn, self.batches = model, loss_fn, batches
        self.names, self.tensors, self.kind = names, tensors, kind
        self.index = {n: i for i, n in enumerate(names)}
        self.device = tensors[0].device
        sizes = [_batch_size(x, y) for x, y in batches]
        if any(s <= 0 for s in sizes):
            raise ValueError("data contains an empty batch")
        total = float(sum(sizes))
        self.sizes = sizes
        self.weights = [s / total for s in sizes]
        self._cache: dict | None = None
        self._cache_key: tuple | None = None

    # The cache of a single batch is invalidated when a parameter or a data tensor is
    # modified in place (its version counter moves) or when model.training changes.
    def _key(self) -> tuple:
        data = _tensors_in(self.batches[0])
        return ((self.model.training,) + tuple(t._version for t in self.tensors)
                + tuple(t._version for t in data))

    def release(self) -> None:
        self._cache, self._cache_key = None, None

    def _build(self, inputs, targets) -> dict:
        loss, outputs = batch_loss(self.model, self.loss_fn, inputs, targets, self.device)
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
        out = torch.zeros_like(V)
        offsets = [0]
        for m in numels:
            offsets.append(offsets[-1] + m)

        def accumulate(products, weight):
            for c, per_param in enumerate(products):
                for a, prod in enumerate(per_param):
                    if prod is not None:
                        out[offsets[a]:offsets[a + 1], c].add_(prod.reshape(-1), alpha=weight)

        if len(self.batches) == 1:
            key = self._key()
            if self._cache is None or self._cache_key != key:
                self._cache = None  # free the old graph before building the new one
                self._cache = self._build(*self.batches[0])
                self._cache_key = key
            accumulate(self._products(self._cache, subset, cols), 1.0)
        else:
            for (inputs, targets), weight in zip(self.batches, self.weights):
                cache = self._build(inputs, targets)
                accumulate(self._products(cache, subset, cols), weight)
                del cache
        return out


# --------------------------------------------------------------------------- operator


class HessianOperator:
    r"""The Hessian (or GGN) of the mean loss as a symmetric linear operator.

    ``op @ v`` returns :math:`H_{BB} v` for the flattened parameters :math:`B` named in
    ``params`` (their tensors flattened and concatenated in that order; ``None``
    means every trainable parameter in ``model.named_parameters()`` order).  ``v``
    may be a vector of shape ``(n,)`` or a matrix ``(n, k)`` whose columns are
    vectors; ``op.hvps`` counts columns multiplied so far (assign 0 to reset).

    Over several batches the loss is the exact sample-weighted mean (a short last
    batch counts by its size), so a list of unequal batches gives the same operator
    as their concatenation.  ``kind="ggn"`` gives the generalized Gauss-Newton matrix
    :math:`\sum_b \tfrac{n_b}{N} J_b^\top \nabla^2_z \ell_b J_b` instead.

    Side effects and modes: the constructor only inspects names and shapes (a
    one-shot iterator or a DataLoader in ``data`` is iterated once, here); nothing is
    computed until the first product.  The model is evaluated in the mode it is in:
    the operator never calls ``model.train()``/``model.eval()``.  Call
    ``model.eval()`` yourself for networks with dropout or batch norm (in training
    mode their forward is random or batch-coupled and, for batch norm, updates
    running statistics at each forward); a warning is issued when such modules are
    found in training mode.  Caller tensors are never modified.

    For one batch the double-backprop graph is kept between products and rebuilt
    automatically when a parameter or a data tensor is changed in place (its version
    counter moves) or the training flag changes; :meth:`release` frees it.  On a GPU,
    keep the data on the model's device (otherwise each rebuild copies it over).

    Args:
        model: the network; its parameters fix device and dtype.
        loss_fn: ``loss_fn(outputs, targets)`` returning the mean loss (a 0-dim tensor).
        data: one ``(inputs, targets)`` batch or an iterable of them.  ``inputs`` may
            be a tensor, a tuple (splatted) or a dict (keywords); batches are moved
            to the parameters' device when needed (copies; the originals are kept).
        params: ``None``, a parameter name, or a list of names (the block).
        kind: ``"hessian"`` or ``"ggn"``.

    Raises:
        ValueError: unknown ``kind``, unknown/frozen/duplicate parameter names, no
            trainable parameters, parameters of mixed dtype or device, bad ``data``
            (not batches, an empty batch, NaN or infinite values).
        TypeError: floating-point data of another dtype than the parameters.

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
                 kind: str = "hessian"):
        check_choice("kind", kind, _KINDS)
        if not isinstance(model, nn.Module):
            raise ValueError(f"model must be a torch.nn.Module, got {type(model).__name__}")
        names, tensors = resolve_params(model, params)
        dtypes = {t.dtype for t in tensors}
        if len(dtypes) != 1:
            raise ValueError(f"the selected parameters have mixed dtypes {sorted(map(str, dtypes))}")
        if not tensors[0].dtype.is_floating_point:
            raise ValueError(f"parameters must be floating point, got {tensors[0].dtype}")
        devices = {t.device for t in tensors}
        if len(devices) != 1:
            raise ValueError(f"the selected parameters live on several devices {sorted(map(str, devices))}")
        batches = as_batches(data)
        check_batches(batches, tensors[0].dtype)
        if model.training and any(isinstance(m, _STOCHASTIC) for m in model.modules()):
            warnings.warn("HessianOperator: the model is in training mode and has dropout/batch-norm layers; "
                          "products will be random or batch-coupled (call model.eval() for a fixed operator)",
                          stacklevel=2)
        self._engine = _Engine(model, loss_fn, batches, names, tensors, kind)
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
        """Total number of samples ``N`` over all batches."""
        return sum(self._engine.sizes)

    @property
    def num_batches(self) -> int:
        return len(self._engine.batches)

    @property
    def model(self) -> nn.Module:
        return self._engine.model

    def __repr__(self) -> str:
        return (f"HessianOperator(kind={self.kind!r}, n={self._n}, params={len(self.param_names)}, "
                f"batches={self.num_batches}, dtype={self.dtype}, device={self.device}, hvps={self.hvps})")

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
