"""Independent cached units, computed in several processes.

A chapter's experiments are many independent units - one model and seed, one
arm and seed - each a :func:`~landscape.experiment.cache.cached` function of
explicit arguments. :func:`compute` runs a list of such calls, in ``workers``
processes when more than one (each process computes some units, with one torch
thread, and the cache keeps their results), and returns the results in the
order of the calls. Results do not depend on ``workers``: every unit is seeded
by its own arguments.

Fan-out (``python -m landscape run --executor slurm --fan-out N``): with
``LANDSCAPE_SHARD=i/N`` in the environment, :func:`compute` is one of N tasks
sharing the results cache. It computes the calls whose index ``k`` has
``k % N == i``; when every other call's result is in the cache too it returns
them all, read from the cache, else it raises :class:`ShardPending` (the
runner starts another round of the N tasks, which find this stage cached and
share the next). The results are the cache's either way: they never depend on
the sharding.

Example:
    >>> from landscape.training.curves import trailing_mean
    >>> compute([(trailing_mean, {"values": [1.0, 3.0], "window": 2})], workers=1)[0].tolist()
    [1.0, 2.0]
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
import os
from typing import Any, Callable, Sequence

from ..validation import check_int

__all__ = ["compute", "ShardPending", "shard", "shared_units"]

_SHARED = [0]   # units this process has computed as a fan-out task: shared_units()


class ShardPending(Exception):
    """A fan-out task computed its share of a stage; other tasks' results of that stage are not cached yet.
    ``computed``: how many results this task computed (0 when it only read the cache)."""

    def __init__(self, computed: int, missing: int):
        super().__init__(f"computed {computed} unit(s); {missing} of other tasks not in the cache yet")
        self.computed, self.missing = computed, missing


def shared_units() -> int:
    """How many cached units this process has computed as a fan-out task (``LANDSCAPE_SHARD``) so far."""
    return _SHARED[0]


def shard() -> tuple[int, int] | None:
    """``(i, N)`` from ``LANDSCAPE_SHARD=i/N``, or None when unset.

    Raises:
        ValueError: a value that is not ``i/N`` with ``0 <= i < N``.
    """
    text = os.environ.get("LANDSCAPE_SHARD", "")
    if not text:
        return None
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        i, n = -1, 0
    if not 0 <= i < n:
        raise ValueError(f"Invalid LANDSCAPE_SHARD: {text!r} (must be i/N with 0 <= i < N)")
    return i, n


def _init_worker(threads: int) -> None:
    import torch

    torch.set_num_threads(threads)


def _call(fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    return fn(**kwargs)


def compute(calls: Sequence[tuple[Callable[..., Any], dict[str, Any]]], *, workers: int = 1,
            threads_per_worker: int = 1) -> list[Any]:
    """``[fn(**kwargs) for fn, kwargs in calls]``, in ``workers`` processes when ``workers > 1``.

    The functions must be importable by name (module-level, as cached units are); the
    processes are spawned (a clean interpreter each, safe beside a Jupyter kernel and CUDA).
    """
    workers = check_int("workers", workers, minimum=1)
    part = shard()
    if part is not None:
        return _compute_share(calls, part, workers, threads_per_worker)
    return _compute(calls, workers, threads_per_worker)


def _compute(calls, workers: int, threads_per_worker: int) -> list[Any]:
    if workers == 1 or len(calls) <= 1:
        return [fn(**kwargs) for fn, kwargs in calls]
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=min(workers, len(calls)), mp_context=ctx,
                                                initializer=_init_worker, initargs=(threads_per_worker,)) as pool:
        futures = [pool.submit(_call, fn, kwargs) for fn, kwargs in calls]
        return [f.result() for f in futures]


def _compute_share(calls, part: tuple[int, int], workers: int, threads_per_worker: int) -> list[Any]:
    """:func:`compute` as task ``i`` of ``N`` (module docstring): its share, then all from the cache or
    :class:`ShardPending`. Calls of functions that are not cached are every task's share."""
    i, n = part
    paths = [fn.path(**kwargs) if hasattr(fn, "path") else False for fn, kwargs in calls]
    if any(p is None for p in paths):
        raise RuntimeError("LANDSCAPE_SHARD needs the results cache (LANDSCAPE_CACHE is off): the tasks share "
                           "their results through it")
    mine = [k for k, p in enumerate(paths) if p is False or k % n == i]
    computed = sum(1 for k in mine if paths[k] is not False and not paths[k].exists())
    done = dict(zip(mine, _compute([calls[k] for k in mine], workers, threads_per_worker)))
    _SHARED[0] += computed
    missing = sum(1 for k, p in enumerate(paths) if k not in done and not p.exists())
    if missing:
        raise ShardPending(computed, missing)
    return [done[k] if k in done else fn(**kwargs) for k, (fn, kwargs) in enumerate(calls)]
