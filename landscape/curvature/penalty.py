r"""A differentiable Hutchinson estimate of the Hessian trace, for regularized training.

For Rademacher probes :math:`v_1, \dots, v_K` over the flattened parameters of the
block :math:`B`,

.. math::

    P(\theta) = \frac1K \sum_{k=1}^K v_k^\top H_{BB}(\theta)\, v_k,
    \qquad \mathbb E[P] = \operatorname{tr} H_{BB}(\theta),

computed by double backprop, :math:`v^\top H v = v \cdot \nabla_\theta(\nabla_\theta L
\cdot v)`, with ``create_graph=True`` so that :math:`P` can itself be backpropagated
(third derivatives of the loss): use ``loss + gamma * penalty`` with any optimizer.
Fresh probes at every step make :math:`\nabla P` an unbiased estimate of
:math:`\nabla \operatorname{tr} H_{BB}`.  Cost per call: one forward, about
``1 + 2 K`` backward passes, and the backward through all of it (roughly
``3 + 4K`` gradient costs in total).

References:
    M. F. Hutchinson (1989), see :mod:`landscape.curvature.trace`.
    A. R. Sankar, Y. Khasbage, R. Vigneswaran, V. N. Balasubramanian, "A deeper
    look at the Hessian eigenspectrum of deep neural networks and its applications
    to regularization", AAAI 2021 (layerwise Hessian-trace regularization).
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from ._utils import check_positive_int, make_generator, rademacher
from .hvp import _batch_size, as_batches, batch_loss, resolve_params

Tensor = torch.Tensor

__all__ = ["hessian_trace_penalty"]


def hessian_trace_penalty(model: nn.Module, loss_fn: Callable, batch: Any, *, params: Any = None,
                          num_probes: int = 1, generator: torch.Generator | int | None = None,
                          return_loss: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    r"""Differentiable :math:`\frac1K\sum_k v_k^\top H_{BB} v_k`, expectation :math:`\operatorname{tr} H_{BB}`.

    Args:
        model: the network (evaluated in its current train/eval mode).
        loss_fn: ``loss_fn(outputs, targets)`` returning the mean loss.
        batch: one ``(inputs, targets)`` batch (a list of batches is combined as in
            :class:`HessianOperator`, all in one graph).
        params: the block :math:`B` (``None`` = all trainable parameters, or names).
        num_probes: :math:`K`, Rademacher probes averaged.
        generator: a :class:`torch.Generator` or an int seed for the probes; ``None``
            draws a fresh OS-entropy seed (never the global RNG) -- pass a generator
            for reproducible runs.  Probe ``k`` is row ``k`` of
            ``torch.randint(0, 2, (K, n), generator=generator, dtype=torch.int8)``
            mapped to +-1 (``n`` = block size, flattened in ``params`` order).  On a
            GPU pass a generator on that device to avoid a host-to-device copy.
        return_loss: also return the loss of this forward (differentiable), so that
            ``penalty, loss = ...(return_loss=True)`` needs a single forward.

    Returns:
        The penalty (0-dim tensor attached to the graph), or ``(penalty, loss)``.

    Raises:
        ValueError: bad parameter names, no trainable parameters, non-scalar loss,
            ``num_probes < 1``.
    """
    num_probes = check_positive_int("num_probes", num_probes)
    names, tensors = resolve_params(model, params)
    gen = make_generator(generator)
    batches = as_batches(batch)
    sizes = [_batch_size(x, y) for x, y in batches]
    total = float(sum(sizes))
    device, dtype = tensors[0].device, tensors[0].dtype
    loss = None
    for (x, y), size in zip(batches, sizes):
        lb, _ = batch_loss(model, loss_fn, x, y, device)
        loss = lb * (size / total) if loss is None else loss + lb * (size / total)
    grads = torch.autograd.grad(loss, tensors, create_graph=True, allow_unused=True)
    active = [i for i, g in enumerate(grads) if g is not None and g.requires_grad]
    n = sum(t.numel() for t in tensors)
    numels = [t.numel() for t in tensors]
    probes = rademacher((num_probes, n), gen, dtype, device)    # row k is probe k (one transfer)
    penalty = torch.zeros((), dtype=dtype, device=device)
    for v in probes:
        vs = [piece.reshape(t.shape) for piece, t in zip(torch.split(v, numels), tensors)]
        if not active:
            continue
        gv = sum((grads[i] * vs[i]).sum() for i in active)
        hv = torch.autograd.grad(gv, [tensors[i] for i in active], create_graph=True, allow_unused=True)
        vhv = sum((h * vs[i]).sum() for h, i in zip(hv, active) if h is not None)
        if isinstance(vhv, torch.Tensor):
            penalty = penalty + vhv
    penalty = penalty / num_probes
    return (penalty, loss) if return_loss else penalty
