r"""The data as the curvature operators read it: batches, the weight of each in the total loss,
and the one forward convention.

The loss whose curvature is taken is the total the user defined,

.. math::

    L(\theta) = \sum_b w_b \, \ell_b(\theta), \qquad
    w_b = \begin{cases} n_b / N & \text{``reduction="mean"'' (a mean over examples)} \\
                        1       & \text{``reduction="sum"'' (a sum over examples)} \end{cases}

with :math:`\ell_b` the value of ``loss_fn`` on batch :math:`b`, :math:`n_b` its size and
:math:`N = \sum_b n_b`. So unequal batches of a mean loss give the mean over all examples, and
batches of a sum loss give the sum over all of them: either way the Hessian of the
concatenated data. The reduction is read from the loss (:func:`loss_reduction`); where it
cannot be read and it matters (more than one batch), it must be declared.

Conventions (one for each thing, the same in every function of :mod:`landscape.curvature`):

- **a batch** is a pair ``(inputs, targets)`` with a tensor of targets, or a mapping (a
  ``dict``, a tokenizer's ``BatchEncoding``, any :class:`collections.abc.Mapping`) holding
  its targets under ``"labels"`` or ``"targets"``: the other entries are the inputs.
  ``split_batch(batch) -> (inputs, targets)`` reads any other layout;
- **data** is one batch or an iterable of them (a list, a generator, a DataLoader). An
  iterable is read **once**, when the operator is made, and its batches are kept: a shuffled
  loader is frozen in the order of that pass, and one that drops its last batch
  (``drop_last=True``) is short of those examples (a warning says how many);
- **the forward**: a tensor of inputs is passed as ``model(x)``, a tuple or list is splatted
  (``model(*x)``) and every mapping is passed as keywords (``model(**x)``);
  ``forward_fn(model, inputs) -> outputs`` replaces this for anything else;
- **the batch size** :math:`n_b` is the leading dimension of the targets and of the inputs'
  first tensor when they agree; where they do not, or the model has sequence-first layers
  (``nn.LSTM``/``nn.GRU``/``nn.RNN``, or ``nn.MultiheadAttention``, as in every transformer layer, with
  ``batch_first=False``), it is ambiguous and ``batch_size_fn(inputs, targets) -> int`` must
  say it when it matters (a mean loss over several batches). For a loss averaged over tokens
  rather than sequences, count tokens: ``batch_size_fn=lambda x, y: y.numel()``.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Callable

import torch
from torch import nn

from .dataconv import lean_data_convs

Tensor = torch.Tensor

__all__ = ["Batches", "as_batches", "read_batches", "loss_reduction", "check_batches", "forward", "batch_loss",
           "tensors_in", "TARGET_KEYS"]

TARGET_KEYS = ("labels", "targets")
_REDUCTIONS = {"mean": "mean", "batchmean": "mean", "sum": "sum"}
_SEQUENCE_FIRST = (nn.RNNBase, nn.MultiheadAttention)      # transformer layers hold a MultiheadAttention


# ----------------------------------------------------------------------------- structure


def tensors_in(x: Any) -> list[Tensor]:
    """Every tensor in a nest of tensors, tuples, lists and mappings (in order)."""
    if isinstance(x, torch.Tensor):
        return [x]
    if isinstance(x, Mapping):
        x = list(x.values())
    if isinstance(x, (tuple, list)):
        return [t for item in x for t in tensors_in(item)]
    return []


def _first_tensor(x: Any) -> Tensor | None:
    found = tensors_in(x)
    return found[0] if found else None


def _split(batch: Any, split_batch: Callable | None, where: str) -> tuple[Any, Tensor]:
    if split_batch is not None:
        out = split_batch(batch)
        if not (isinstance(out, (tuple, list)) and len(out) == 2 and isinstance(out[1], torch.Tensor)):
            raise ValueError(f"split_batch must return an (inputs, targets) pair with a tensor of targets; for {where} "
                             f"it returned {type(out).__name__}")
        return out[0], out[1]
    if isinstance(batch, Mapping):
        keys = [k for k in TARGET_KEYS if k in batch]
        if len(keys) != 1 or not isinstance(batch[keys[0]], torch.Tensor):
            raise ValueError(f"{where} is a mapping with keys {sorted(map(str, batch))}: its targets must be a tensor "
                             f"under exactly one of {TARGET_KEYS}, or pass split_batch=lambda b: (inputs, targets)")
        return {k: v for k, v in batch.items() if k != keys[0]}, batch[keys[0]]
    if isinstance(batch, (tuple, list)) and len(batch) == 2 and isinstance(batch[1], torch.Tensor):
        return batch[0], batch[1]
    raise ValueError(f"{where} is not an (inputs, targets) pair with a tensor of targets, nor a mapping with "
                     f"'labels' or 'targets' (pass split_batch=lambda b: (inputs, targets) for another layout)")


def _is_one_batch(data: Any) -> bool:
    return isinstance(data, Mapping) or (isinstance(data, (tuple, list)) and len(data) == 2
                                         and isinstance(data[1], torch.Tensor))


def as_batches(data: Any, split_batch: Callable | None = None) -> list[tuple[Any, Tensor]]:
    """Normalize ``data`` to a list of ``(inputs, targets)`` batches (the module's conventions).

    ``data`` is one batch or an iterable of batches, read once, here (a DataLoader's batches are
    kept by reference, in the order of this pass). With ``split_batch``, ``data`` is a mapping (one
    batch) or an iterable of batches: put a single batch of another layout in a list.
    """
    if isinstance(data, Mapping) or (split_batch is None and _is_one_batch(data)):
        return [_split(data, split_batch, "data")]
    if isinstance(data, torch.Tensor) or not isinstance(data, Iterable):
        raise ValueError("data must be an (inputs, targets) batch or an iterable of such batches")
    batches = [_split(batch, split_batch, f"batch {i} of data") for i, batch in enumerate(data)]
    if not batches:
        raise ValueError("data contains no batches")
    return batches


def _dropped(data: Any, total: int) -> int:
    """Examples of a DataLoader's data set that its batches leave out (``drop_last``)."""
    if isinstance(data, torch.utils.data.DataLoader) and getattr(data, "drop_last", False):
        try:
            return max(0, len(data.dataset) - total)
        except TypeError:       # an iterable data set without a length
            return 0
    return 0


# ----------------------------------------------------------------------------- the loss


def loss_reduction(loss_fn: Callable, reduction: str | None = None) -> str | None:
    """``"mean"`` or ``"sum"``: how ``loss_fn`` reduces over the examples of a batch.

    Declared (``reduction``) it wins; else it is read from an ``nn.Module`` loss's ``reduction``
    attribute, a :func:`functools.partial`'s ``reduction=`` keyword, or the default of a
    ``reduction`` parameter in the function's signature (``F.cross_entropy``: ``"mean"``).
    ``"batchmean"`` (``nn.KLDivLoss``) counts as a mean. Returns ``None`` where nothing says it.

    Raises:
        ValueError: an unknown declared value, or ``"none"`` (per-example losses: the operator needs
            the scalar total).
    """
    if reduction is not None:
        if reduction not in ("mean", "sum"):
            raise ValueError(f"Invalid reduction: {reduction!r} (must be 'mean' or 'sum')")
        return reduction
    found = getattr(loss_fn, "reduction", None) if isinstance(loss_fn, nn.Module) else None
    if found is None and isinstance(loss_fn, functools.partial):
        found = loss_fn.keywords.get("reduction", _signature_default(loss_fn.func))
    elif found is None:
        found = _signature_default(loss_fn)
    if found == "none":
        raise ValueError(f"loss_fn {loss_fn!r} has reduction='none' (one loss per example): the operator needs the "
                         "scalar total; use reduction='mean' or 'sum'")
    return _REDUCTIONS.get(found) if isinstance(found, str) else None


def _signature_default(fn: Callable) -> Any:
    try:
        par = inspect.signature(fn).parameters.get("reduction")
    except (TypeError, ValueError):
        return None
    return None if par is None or par.default is inspect.Parameter.empty else par.default


# ----------------------------------------------------------------------------- checks


def _default_size(inputs: Any, targets: Tensor, model: nn.Module | None) -> tuple[int, str | None]:
    """The batch size from the leading dimensions, and why it is ambiguous (``None`` when it is not)."""
    first = _first_tensor(inputs)
    if targets.ndim == 0:
        if first is None or first.ndim == 0:
            raise ValueError("cannot infer the batch size: targets is 0-dimensional and inputs hold no batched tensor "
                             "(pass batch_size_fn=lambda inputs, targets: ...)")
        return int(first.shape[0]), None
    n = int(targets.shape[0])
    if first is not None and first.ndim >= 1 and int(first.shape[0]) != n:
        return n, f"the targets' leading dimension ({n}) differs from the inputs' ({int(first.shape[0])})"
    if model is not None:
        for name, m in model.named_modules():
            if isinstance(m, _SEQUENCE_FIRST) and not getattr(m, "batch_first", False):
                return n, f"{name or 'the model'} ({type(m).__name__}) is sequence-first (batch_first=False)"
    return n, None


def check_batches(batches: list[tuple[Any, Tensor]], dtype: torch.dtype, *,
                  batch_size_fn: Callable | None = None, model: nn.Module | None = None) -> tuple[list[int], str | None]:
    """The batch sizes of ``batches`` (``batch_size_fn`` or the leading dimensions) and why they are ambiguous
    (``None`` when they are not), after checking what would make the curvature silently wrong or fail deep
    inside autograd.

    Raises:
        ValueError: an empty batch, a ``batch_size_fn`` that returns no positive int, or NaN / infinite values.
        TypeError: floating-point inputs of another dtype than the parameters' ``dtype``.
    """
    sizes, why = [], None
    for i, (x, y) in enumerate(batches):
        if batch_size_fn is not None:
            n = batch_size_fn(x, y)
            if isinstance(n, torch.Tensor) and n.numel() == 1:
                n = n.item()
            if isinstance(n, bool) or not isinstance(n, int) or n < 0:
                raise ValueError(f"Invalid batch_size_fn: it returned {n!r} for batch {i} (must be an int >= 0)")
        else:
            n, reason = _default_size(x, y, model)
            why = why or reason
        if n == 0 or (isinstance(y, Tensor) and y.numel() == 0):
            raise ValueError(f"Invalid data: batch {i} is empty (must hold at least one example)")
        for what, tensors in (("inputs", tensors_in(x)), ("targets", [y])):
            for t in tensors:
                if not t.is_floating_point():
                    continue
                if what == "inputs" and t.dtype != dtype:
                    raise TypeError(f"Invalid data: batch {i} has {t.dtype} inputs but the parameters are {dtype} "
                                    f"(must match: convert the data or the model with .to({dtype}))")
                if not bool(torch.isfinite(t).all()):
                    raise ValueError(f"Invalid data: batch {i} has NaN or infinite values in its {what} "
                                     "(must be finite: clean the data or drop those examples)")
        sizes.append(int(n))
    return sizes, why


@dataclass
class Batches:
    """Data read by the conventions of this module: the batches, their sizes, the loss's reduction and the
    weight :math:`w_b` of each batch's loss in the total."""

    batches: list[tuple[Any, Tensor]]
    sizes: list[int]
    reduction: str | None
    weights: list[float]
    dropped: int = 0
    total: int | None = None        # N over every rank of a process group (None: this process's data)

    @property
    def num_samples(self) -> int:
        """:math:`N`: the examples of the whole loss (over every rank of a process group)."""
        return sum(self.sizes) if self.total is None else self.total


def read_batches(data: Any, loss_fn: Callable, dtype: torch.dtype, *, model: nn.Module | None = None,
                 reduction: str | None = None, batch_size_fn: Callable | None = None,
                 split_batch: Callable | None = None, caller: str = "HessianOperator", group: Any = None,
                 device: torch.device | None = None) -> Batches:
    """``data`` as :class:`Batches`: split (:func:`as_batches`), checked (:func:`check_batches`) and weighted.

    With a process ``group`` (:mod:`landscape.curvature.distributed`), ``data`` is this rank's shard (it may be
    empty), the weights are those of the loss over every rank's data (:math:`N` all-reduced), and an error on any
    rank is raised on every rank.

    Raises:
        ValueError: several batches with a loss whose reduction is unknown (declare ``reduction=``), or a mean
            loss over several batches whose sizes are ambiguous (declare ``batch_size_fn=``); and every error of
            :func:`as_batches`, :func:`loss_reduction` and :func:`check_batches`.
        RankFailure: another rank of ``group`` failed to read its data.
    """
    error: Exception | None = None
    batches, sizes, why, red, dropped = [], [], None, None, 0
    try:
        if group is None or not _is_empty(data):
            batches = as_batches(data, split_batch)
        red = loss_reduction(loss_fn, reduction)
        sizes, why = check_batches(batches, dtype, batch_size_fn=batch_size_fn, model=model)
        dropped = _dropped(data, sum(sizes))
    except (ValueError, TypeError) as err:
        if group is None:
            raise
        error = err
    if group is None:
        total, count, ambiguous = sum(sizes), len(batches), why is not None
    else:
        from .distributed import RankFailure, all_sum, failures

        failed = failures(error is not None, group, device or torch.device("cpu"))
        if error is not None:
            raise error
        if failed:
            raise RankFailure(f"{caller}: rank(s) {failed} of the process group failed to read their data "
                              "(their error is raised there)")
        total, count, flag = all_sum([sum(sizes), len(batches), float(why is not None)], group,
                                     device or torch.device("cpu"))
        total, count, ambiguous = int(total), int(count), flag > 0
        if count == 0:
            raise ValueError(f"{caller}: no rank of the process group holds any data")
    if dropped:
        warnings.warn(f"{caller}: the DataLoader drops its last batch (drop_last=True): {dropped} of "
                      f"{sum(sizes) + dropped} examples are left out; the curvature is that of the other {sum(sizes)}",
                      stacklevel=3)
    if count == 1:
        return Batches(batches, sizes, red, [1.0] * len(batches), dropped, total)
    if red is None:
        raise ValueError(f"{caller}: cannot tell whether loss_fn {loss_fn!r} averages or sums over a batch, and over "
                         f"{count} batches that decides the total: pass reduction='mean' or reduction='sum'")
    if red == "sum":
        return Batches(batches, sizes, red, [1.0] * len(batches), dropped, total)
    if ambiguous:
        raise ValueError(f"{caller}: the batch size is ambiguous ({why or 'on another rank'}), and a mean over {count} "
                         "batches weighs each by its size: pass batch_size_fn, e.g. lambda inputs, targets: "
                         "targets.shape[1] for sequence-first (T, N) targets, or lambda inputs, targets: targets.shape[0]")
    return Batches(batches, sizes, red, [s / total for s in sizes], dropped, total)


def _is_empty(data: Any) -> bool:
    return isinstance(data, (list, tuple)) and len(data) == 0


# ----------------------------------------------------------------------------- the forward


def _to_device(x: Any, device: torch.device) -> Any:
    if isinstance(x, torch.Tensor):
        return x.to(device)
    if isinstance(x, Mapping):
        return {k: _to_device(v, device) for k, v in x.items()}
    if isinstance(x, (tuple, list)):
        return type(x)(_to_device(v, device) for v in x)
    return x


def forward(model: nn.Module, inputs: Any, forward_fn: Callable | None = None) -> Any:
    """``forward_fn(model, inputs)``, else ``model`` on ``inputs``: a tensor as is, a tuple/list splatted,
    every mapping as keywords."""
    if forward_fn is not None:
        return forward_fn(model, inputs)
    if isinstance(inputs, Mapping):
        return model(**inputs)
    if isinstance(inputs, (tuple, list)):
        return model(*inputs)
    return model(inputs)


@contextlib.contextmanager
def differentiable_twice(model: nn.Module):
    """Kernels with a double backward for the forward: data convolutions rerouted
    (:func:`~landscape.curvature.dataconv.lean_data_convs`), attention on the math kernel of
    ``scaled_dot_product_attention`` (the fused CPU/GPU kernels have no double backward), and cuDNN off
    for recurrent layers on a GPU (its RNN backward is not differentiable)."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    rnn = any(isinstance(m, nn.RNNBase) for m in model.modules())
    with contextlib.ExitStack() as stack:
        stack.enter_context(lean_data_convs())
        stack.enter_context(sdpa_kernel(SDPBackend.MATH))
        if rnn:
            stack.enter_context(torch.backends.cudnn.flags(enabled=False))
        yield


def batch_loss(model: nn.Module, loss_fn: Callable, inputs: Any, targets: Tensor, device: torch.device, *,
               forward_fn: Callable | None = None, keep_buffers: bool = False) -> tuple[Tensor, Any]:
    """Forward one batch (inside :func:`differentiable_twice`) and check that the loss is a scalar; returns
    ``(loss, outputs)``.

    With ``keep_buffers`` the forward runs on copies of the model's buffers
    (:func:`torch.func.functional_call`), so a batch norm in training mode uses its batch statistics but leaves
    its running statistics and ``num_batches_tracked`` exactly as they were.
    """
    inputs = _to_device(inputs, device)
    with differentiable_twice(model):
        if keep_buffers:
            buffers = {name: b.detach().clone() for name, b in model.named_buffers()}
            adapter = _Forward(model, forward_fn)
            outputs = torch.func.functional_call(adapter, {f"model.{k}": v for k, v in buffers.items()}, (inputs,),
                                                 strict=False)
        else:
            outputs = forward(model, inputs, forward_fn)
    loss = loss_fn(outputs, targets.to(device))
    if not isinstance(loss, torch.Tensor) or loss.ndim != 0:
        shape = tuple(loss.shape) if isinstance(loss, torch.Tensor) else type(loss).__name__
        raise ValueError(f"loss_fn must return a scalar (0-dim) tensor, the batch's total or mean loss; got {shape}")
    return loss, outputs


class _Forward(nn.Module):
    """``model`` under :func:`forward`'s convention, as a module (for :func:`torch.func.functional_call`)."""

    def __init__(self, model: nn.Module, forward_fn: Callable | None):
        super().__init__()
        self.model, self.forward_fn = model, forward_fn

    def forward(self, inputs: Any) -> Any:
        return forward(self.model, inputs, self.forward_fn)
