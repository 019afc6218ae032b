r"""Training timed at a fine resolution, for claim 2.3 (``book/dante.ipynb``).

The shared loop (:func:`landscape.training.fit`) evaluates once per epoch, and its clock
includes whatever runs between two batches. Claim 2.3's v2 rule asks for the time to a
target *evaluated every few batches*, in runs that train for at least a couple of seconds.
:func:`timed_fit` is that loop: the same mini-batches in the same order as ``fit`` (seeded
``seed * 100_003 + epoch``), a clock that runs only while the model trains, and the
validation accuracy every ``eval_every`` mini-batches, outside the clock. Its clock is

.. math::

    T_k = \sum_{j \le k} \big(t^{\text{end}}_j - t^{\text{start}}_j\big),

over the training segments :math:`j` between two evaluations (on a GPU each segment ends
with a device synchronization), so :math:`T_k` is the training wall time after the
:math:`k`-th evaluation's batches. Beside it runs the same sum on the process's own CPU
clock (``time.process_time``): on a CPU run it leaves out the time other processes took the
core, so comparing the two tells how much a busy machine moved a wall-clock reading (on a
GPU run it means little: the device works while the host waits). A few untimed warm-up batches on a copy of the model come
first (allocations, kernel selection), so the first timed segment is not a cold start.

:func:`reach` reads the time to a target off such a record, linearly interpolated between
the two evaluations around the first crossing
(:func:`landscape.training.curves.first_reach`).

(An evaluation cadence of a few batches belongs in the shared loop,
:func:`landscape.training.fit`; it lives here while that loop's code is frozen.)
"""

from __future__ import annotations

import copy
import math
import time
from typing import Callable

import torch
from torch import nn

from ...training.curves import first_reach
from ...training.data import batches
from ...training.loop import evaluate

__all__ = ["timed_fit", "reach"]

Step = Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed_fit(model: nn.Module, make_step: Callable[[nn.Module], Step], train: tuple[torch.Tensor, torch.Tensor],
              val: tuple[torch.Tensor, torch.Tensor], *, epochs: int, min_seconds: float, max_epochs: int, batch_size: int,
              seed: int, eval_every: int, device: torch.device | str, warmup: int = 5) -> dict:
    """Train ``model`` with the step ``make_step(model)`` for at least ``epochs`` epochs and at
    least ``min_seconds`` of training (whole epochs; at most ``max_epochs``), evaluating the
    validation accuracy before training and after every ``eval_every`` mini-batches.

    Returns a dict: ``step`` (mini-batches done at each evaluation), ``time`` (training seconds
    then, the clock :math:`T_k` of the module's docstring), ``cpu_time`` (the same on the
    process's CPU clock), ``val_acc``; ``batches``, ``seconds`` and ``cpu_seconds`` (the whole
    run's training time on each clock), ``epochs`` run, ``diverged`` (a non-finite mini-batch
    loss stopped the run) and ``per_batch`` (``seconds / batches``).
    """
    device = torch.device(device)
    model.to(device)
    train = (train[0].to(device), train[1].to(device))
    val = (val[0].to(device), val[1].to(device))
    if warmup > 0:  # untimed, on a copy: the timed model and its step start untouched
        twin = copy.deepcopy(model)
        warm = make_step(twin)
        for k, (x, y) in enumerate(batches(train, batch_size, shuffle=False)):
            if k >= warmup:
                break
            warm(twin, x, y)
        _sync(device)
        del twin, warm
    step = make_step(model)
    out = {"step": [0], "time": [0.0], "cpu_time": [0.0], "val_acc": [evaluate(model, val, device=device)["acc"]]}
    clock, cpu, done, diverged, epoch = 0.0, 0.0, 0, False, 0
    fork = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=fork):
        torch.manual_seed(seed)
        while epoch < max_epochs and not diverged and (epoch < epochs or clock < min_seconds):
            epoch += 1
            model.train()
            start, start_cpu = time.perf_counter(), time.process_time()
            loss = None
            for x, y in batches(train, batch_size, generator=torch.Generator().manual_seed(seed * 100_003 + epoch)):
                loss = step(model, x, y)
                done += 1
                if done % eval_every == 0:
                    _sync(device)
                    clock += time.perf_counter() - start
                    cpu += time.process_time() - start_cpu
                    if not bool(torch.isfinite(loss)):
                        diverged = True
                        break
                    out["step"].append(done)
                    out["time"].append(clock)
                    out["cpu_time"].append(cpu)
                    out["val_acc"].append(evaluate(model, val, device=device)["acc"])
                    start, start_cpu = time.perf_counter(), time.process_time()
            if not diverged:
                _sync(device)
                clock += time.perf_counter() - start
                cpu += time.process_time() - start_cpu
                if loss is not None and not bool(torch.isfinite(loss)):
                    diverged = True
    return {**out, "batches": done, "seconds": clock, "cpu_seconds": cpu, "epochs": epoch, "diverged": diverged,
            "per_batch": clock / done if done else math.nan}


def reach(record: dict, target: float, clock: str = "time") -> tuple[float, bool]:
    """Training seconds until the validation accuracy of a :func:`timed_fit` record first
    reaches ``target`` (interpolated between evaluations), and whether it did; when it never
    does, the whole run's training time and ``False`` (a lower bound). ``clock="cpu_time"``
    reads the process's CPU clock instead of the wall clock.

    >>> reach({"time": [0.0, 1.0, 2.0], "val_acc": [0.1, 0.5, 0.9], "seconds": 2.5}, 0.7)
    (1.5, True)
    >>> reach({"time": [0.0, 1.0], "val_acc": [0.1, 0.5], "seconds": 2.5}, 0.7)
    (2.5, False)
    """
    t, ok = first_reach(record["val_acc"], target, times=record[clock], interpolate=True)
    return (t, True) if ok else (float(record["seconds" if clock == "time" else "cpu_seconds"]), False)
