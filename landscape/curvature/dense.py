r"""The exact Hessian (or GGN) as a dense matrix, for small models.

Column :math:`j` of :math:`H` is :math:`H e_j`, so the matrix costs :math:`n` HVPs
(applied in blocks of identity columns: for several batches each batch's graph is
built once per block).  The result is symmetrized, :math:`(H + H^\top)/2`, which only
removes rounding noise.
"""

from __future__ import annotations

from typing import Any, Callable

import torch
from torch import nn

from ..validation import check_int
from ._utils import sym
from .hvp import HessianOperator

__all__ = ["dense_hessian", "DEFAULT_MAX_DIM"]

DEFAULT_MAX_DIM = 5000


def dense_hessian(model: nn.Module, loss_fn: Callable, data: Any, *, params: Any = None,
                  max_dim: int = DEFAULT_MAX_DIM, kind: str = "hessian", block_size: int = 256,
                  **data_options: Any) -> torch.Tensor:
    r"""Exact Hessian :math:`\nabla^2_\theta L` (or GGN) of the total loss as an ``(n, n)`` tensor.

    Args:
        model, loss_fn, data, params, kind: as for :class:`HessianOperator`.
        data_options: ``reduction``, ``batch_size_fn``, ``split_batch``, ``forward_fn``,
            ``forward_seed``, passed to :class:`HessianOperator`.
        max_dim: refuse above this many parameters (memory is :math:`n^2` numbers and
            time :math:`n` HVPs).
        block_size: identity columns per ``op @ E`` call.

    Returns:
        The symmetric matrix, dtype/device of the parameters, rows/columns in the
        operator's flattening order.

    Raises:
        ValueError: the dimension exceeds ``max_dim`` (and every error of
            :class:`HessianOperator`).
    """
    max_dim = check_int("max_dim", max_dim, minimum=1)
    block_size = check_int("block_size", block_size, minimum=1)
    op = HessianOperator(model, loss_fn, data, params=params, kind=kind, **data_options)
    n = op.shape[0]
    if n > max_dim:
        raise ValueError(f"dense_hessian: the Hessian dimension n={n} exceeds max_dim={max_dim} "
                         "(raise max_dim, or use HessianOperator with eigenvalues/trace/spectral_density)")
    H = torch.empty(n, n, dtype=op.dtype, device=op.device)
    for start in range(0, n, block_size):
        stop = min(n, start + block_size)
        E = torch.zeros(n, stop - start, dtype=op.dtype, device=op.device)
        E[torch.arange(start, stop), torch.arange(stop - start)] = 1
        H[:, start:stop] = op @ E
    op.release()
    return sym(H)
