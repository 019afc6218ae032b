"""Timing, memory and machine facts for the curvature benchmark (``bench/run.py``).

Timings are wall-clock medians.  :func:`interleaved` runs several functions in
round-robin order (``a b c a b c ...``) so that a change of load on a shared machine
hits all of them alike: ratios of medians from one call are what the benchmark
reports.  :func:`step_peak_mib` measures the peak of torch's CPU allocations during
one call with the profiler's memory events (``tracemalloc`` does not see them).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable

import torch

REPO = Path(__file__).resolve().parent.parent


#: glibc malloc settings the benchmark runs under (set before the interpreter starts; ``bench/run.py``
#: re-executes itself with them): freed memory is kept for reuse instead of being returned to the
#: OS, as a caching allocator (CUDA's, jemalloc, tcmalloc) does.  With glibc's defaults, tensors of
#: tens of MiB are mmapped fresh and page-faulted on first touch, and which calls pay for that
#: depends on the order of earlier frees: the same LeNet gradient took 78 ms or 140 ms here.
#: Applied to the whole process, i.e. to every engine alike.
CACHING_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(2**40), "MALLOC_TRIM_THRESHOLD_": str(2**40)}


def caching_malloc_active() -> bool:
    return all(os.environ.get(k) == v for k, v in CACHING_MALLOC.items())


def sync(device: torch.device | str | None) -> None:
    """Wait for the work queued on ``device`` (a CUDA device; nothing to wait for on the CPU or None)."""
    if device is not None and torch.device(device).type == "cuda":
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], Any], device: torch.device | str | None = None) -> tuple[Any, float]:
    """``(fn(), seconds)``; on a CUDA ``device`` the clock stops when the queued kernels have run."""
    sync(device)
    t0 = time.perf_counter()
    out = fn()
    sync(device)
    return out, time.perf_counter() - t0


class TimedOperator:
    """An operator's products, timed: ``seconds`` is the wall time spent inside ``op @ V``.

    Wraps anything with ``shape``/``dtype``/``device`` and ``@``; the estimators see a plain
    operator.  The time of an estimator minus ``seconds`` is what it spends outside its products.
    ``synchronize=True`` (for a CUDA operator) waits for the queued kernels before and after each
    product, so that ``seconds`` holds their run time and not only their launch.
    """

    def __init__(self, op, *, synchronize: bool = False):
        self.op, self.seconds, self.calls = op, 0.0, 0
        self.shape, self.dtype, self.device = op.shape, op.dtype, op.device
        self._sync = self.device if synchronize else None

    def __matmul__(self, V):
        sync(self._sync)
        t0 = time.perf_counter()
        out = self.op @ V
        sync(self._sync)
        self.seconds += time.perf_counter() - t0
        self.calls += 1
        return out

    def release(self) -> None:
        self.op.release()


def interleaved(fns: dict[str, Callable[[], Any]], repeats: int, *, warmup: int = 1,
                device: torch.device | str | None = None) -> dict[str, dict]:
    """Median wall time of each function, measured round-robin (synchronized on a CUDA ``device``).

    Returns ``{name: {"median": s, "times": [...]}}``.
    """
    for _ in range(warmup):
        for fn in fns.values():
            fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            _, dt = timed(fn, device)
            times[name].append(dt)
    return {k: {"median": statistics.median(v), "times": v} for k, v in times.items()}


def step_peak_mib(fn: Callable[[], Any]) -> float:
    """Peak of torch CPU memory allocated during one call of ``fn``, above the level at its start (MiB).

    Uses ``torch.profiler`` with ``profile_memory=True``: every operator event carries
    the bytes it allocated (positive) or freed (negative) itself; summing them in the
    order the events started gives the live-allocation curve of the call, whose
    maximum is the peak.  Frees of blocks allocated before the call (unknown size to
    the profiler) are not subtracted, so the value is, if anything, an upper bound.
    """
    from torch.profiler import ProfilerActivity, profile

    with _quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn()
    events = sorted(prof.events(), key=lambda e: e.time_range.start)
    cur = peak = 0
    for e in events:
        cur += e.self_cpu_memory_usage
        peak = max(peak, cur)
    return peak / 2**20


@contextlib.contextmanager
def _quiet_stderr():
    """Silence file descriptor 2 (the profiler's C++ start/stop lines) for the duration."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def tensor_mib(*tensors: torch.Tensor) -> float:
    return sum(t.numel() * t.element_size() for t in tensors) / 2**20


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def git_commit() -> str:
    """The repository's short commit (``+dirty`` with uncommitted library changes); where there is no git
    history (a copy of the working tree on a lent machine), ``$LANDSCAPE_COMMIT`` as the caller set it."""
    given = os.environ.get("LANDSCAPE_COMMIT")
    if given and not (REPO / ".git").exists():
        return given
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "landscape"], cwd=REPO,
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return (sha or "unknown") + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def load_average() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def machine_info() -> dict:
    """The facts a reader needs to weigh the timings."""
    return {
        "date": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "host_cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "torch_threads": torch.get_num_threads(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "torch": torch.__version__,
        "commit": git_commit(),
        "load_average_start": load_average(),
    }
