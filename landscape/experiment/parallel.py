"""Independent cached units, computed in several processes.

A chapter's experiments are many independent units - one model and seed, one
arm and seed - each a :func:`~landscape.experiment.cache.cached` function of
explicit arguments. :func:`compute` runs a list of such calls, in ``workers``
processes when more than one (each process computes some units, with one torch
thread, and the cache keeps their results), and returns the results in the
order of the calls. Results do not depend on ``workers``: every unit is seeded
by its own arguments.

Example:
    >>> from landscape.training.curves import trailing_mean
    >>> compute([(trailing_mean, {"values": [1.0, 3.0], "window": 2})], workers=1)[0].tolist()
    [1.0, 2.0]
"""

from __future__ import annotations

import concurrent.futures
import multiprocessing
from typing import Any, Callable, Sequence

from ..validation import check_int

__all__ = ["compute"]


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
    if workers == 1 or len(calls) <= 1:
        return [fn(**kwargs) for fn, kwargs in calls]
    ctx = multiprocessing.get_context("spawn")
    with concurrent.futures.ProcessPoolExecutor(max_workers=min(workers, len(calls)), mp_context=ctx,
                                                initializer=_init_worker, initargs=(threads_per_worker,)) as pool:
        futures = [pool.submit(_call, fn, kwargs) for fn, kwargs in calls]
        return [f.result() for f in futures]
