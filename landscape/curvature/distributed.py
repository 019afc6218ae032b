r"""Curvature across processes with :mod:`torch.distributed`: the collectives the operator needs.

With a process group, every rank holds its own shard of the data and the operator is that of the loss over
*all* ranks' data,

.. math::

    H = \sum_r \sum_{b \in r} w_b H_b, \qquad w_b = n_b / N \ (\text{mean}), \quad w_b = 1 \ (\text{sum}),
    \qquad N = \sum_r \sum_{b \in r} n_b ,

so a product is each rank's partial sum, added by one all-reduce per block ``op @ V``. The sample count
:math:`N` is all-reduced once, when the operator is made, together with every rank's reading errors: a rank
that cannot read its shard raises its own error and every other rank raises one that names it, instead of
waiting in the next collective.

All-reduce results are the same bits on every rank (ring and tree all-reduces broadcast each reduced chunk), so
the algorithms built on the products (Lanczos, Hutch++, SLQ), given the same ``seed``, take the same steps and
return the same result on every rank.

Launch (one process per GPU, or per CPU socket with the ``gloo`` backend)::

    torchrun --nproc-per-node 4 my_script.py          # one machine
    srun --ntasks 8 --gpus-per-task 1 python my_script.py   # SLURM: set MASTER_ADDR/MASTER_PORT from the job

and in the script::

    torch.distributed.init_process_group("nccl")          # or "gloo" on CPUs
    shard = my_batches[rank::world]                        # this rank's data
    op = HessianOperator(model, loss_fn, shard, process_group=torch.distributed.group.WORLD)
    top = eigenvalues(op, 5, seed=0)                       # the same on every rank
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import torch.distributed as dist
from torch import nn

__all__ = ["check_group", "all_sum", "all_reduce_", "failures", "unwrap", "RankFailure"]


class RankFailure(RuntimeError):
    """Another rank of the process group failed (its own error is raised on that rank)."""


def check_group(group: Any) -> Any:
    """``group`` as a usable process group (``torch.distributed.group.WORLD`` for ``True``).

    Raises:
        RuntimeError: ``torch.distributed`` is not initialized.
    """
    if not dist.is_available() or not dist.is_initialized():
        raise RuntimeError("process_group given but torch.distributed is not initialized: call "
                           "torch.distributed.init_process_group(...) first (torchrun and srun set its environment)")
    return dist.group.WORLD if group is True else group


def _comm_device(group: Any, device: torch.device) -> torch.device:
    return device if dist.get_backend(group) == "nccl" else torch.device("cpu")


def all_sum(values: Sequence[float], group: Any, device: torch.device) -> list[float]:
    """The sums over all ranks of a few numbers, in float64 (exact for counts below 2^53)."""
    t = torch.tensor([float(v) for v in values], dtype=torch.float64, device=_comm_device(group, device))
    dist.all_reduce(t, op=dist.ReduceOp.SUM, group=group)
    return t.cpu().tolist()


def all_reduce_(t: torch.Tensor, group: Any) -> torch.Tensor:
    """Sum ``t`` over all ranks, in place (through the CPU for a non-NCCL backend on a GPU tensor)."""
    dev = _comm_device(group, t.device)
    if dev == t.device:
        dist.all_reduce(t, op=dist.ReduceOp.SUM, group=group)
        return t
    host = t.to(dev)
    dist.all_reduce(host, op=dist.ReduceOp.SUM, group=group)
    t.copy_(host)
    return t


def failures(failed: bool, group: Any, device: torch.device) -> list[int]:
    """The ranks (in ``group``) that report a failure; one all-reduce of a flag per rank."""
    world, me = dist.get_world_size(group), dist.get_rank(group)
    flags = [0.0] * world
    flags[me] = 1.0 if failed else 0.0
    return [r for r, f in enumerate(all_sum(flags, group, device)) if f > 0]


def unwrap(model: nn.Module) -> nn.Module:
    """The module inside a ``DistributedDataParallel`` (or ``DataParallel``) wrapper: products need no gradient
    synchronization (the operator all-reduces them) and must not trigger the wrapper's reducer."""
    while isinstance(model, (nn.parallel.DistributedDataParallel, nn.DataParallel)):
        model = model.module
    return model
