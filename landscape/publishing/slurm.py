"""Chapter runs on a SLURM cluster: ``python -m landscape run --executor slurm ...`` (issue 20).

:class:`SlurmExecutor` is the runner's executor for a cluster: each chapter's notebook is executed by one SLURM
job, submitted through submitit (the standard Python client for SLURM), running the runner's own notebook
function (``runner.execute_chapter``) on a node. The executor waits, showing how many jobs are pending,
running and done, and hands each chapter's :class:`~landscape.publishing.jobs.Outcome` back to the runner,
which collects and publishes exactly as it does for a local run. The repository, the run folder and the
results cache (``LANDSCAPE_CACHE``) must be on a filesystem the nodes share; the jobs inherit the
environment of the command that submits them (``sbatch --export=ALL``).

Fan-out (``fan_out=N``): before its notebook job a chapter runs rounds of a job array of N tasks. Each task
runs the chapter's ``run(params)`` with ``LANDSCAPE_SHARD=i/N``: its independent cached units
(:func:`landscape.experiment.parallel.compute`) are shared out, task i computing those of index ``k % N == i``,
into the shared cache. A task that finds other tasks' units of a stage missing stops there
(:class:`~landscape.experiment.parallel.ShardPending`); the next round finds that stage cached and shares the
next one. When a round completes ``run(params)`` in every task, the notebook job executes against the warm
cache. The results are the cache's either way: they do not depend on N.

A job that ends without a result (cancelled, past its time limit, killed on the node) is a failed chapter
whose error names the job, its final state and its log; nothing waits for it. Job states come from
``squeue`` (which needs no accounting database), results from submitit's files in the run folder
(``<run>/slurm/``).
"""

from __future__ import annotations

import importlib
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Sequence

from ..experiment.parallel import ShardPending, shared_units
from .jobs import Outcome, StateLine, Task

__all__ = ["SlurmExecutor", "shard_task", "slurm_states", "MAX_ROUNDS"]

#: the most fan-out rounds for one chapter (one per stage of dependent units; the chapters have at most 3)
MAX_ROUNDS = 10
#: states in which a job will not run any more
FINISHED = {"COMPLETED", "FAILED", "CANCELLED", "TIMEOUT", "NODE_FAIL", "OUT_OF_MEMORY", "PREEMPTED",
            "BOOT_FAIL", "DEADLINE", "REVOKED", "SPECIAL_EXIT"}
#: seconds a finished job may take to show its result file (a slow shared filesystem), and a job to show in squeue
GRACE = 15.0


def shard_task(package: str, values: dict[str, Any], index: int, count: int) -> dict[str, Any]:
    """One fan-out task: chapter ``package``'s ``run(params)`` as task ``index`` of ``count``
    (``LANDSCAPE_SHARD``): ``{"done": <whether every unit it needed was computed or cached>, "computed":
    <how many units this task computed>}``."""
    os.environ["LANDSCAPE_SHARD"] = f"{index}/{count}"
    before = shared_units()
    try:
        chapter = importlib.import_module(package)
        params = chapter.SCHEMA.validate(values)
        try:
            chapter.run(params)
        except ShardPending:
            return {"done": False, "computed": shared_units() - before}
        return {"done": True, "computed": shared_units() - before}
    finally:
        os.environ.pop("LANDSCAPE_SHARD", None)


def slurm_states(job_ids: Sequence[str]) -> dict[str, str]:
    """``{job id: state}`` from ``squeue`` for this user's jobs among ``job_ids`` (array tasks as ``<id>_<i>``);
    a job squeue no longer lists is absent. An squeue that fails gives ``{}`` (the caller polls again)."""
    if not job_ids:
        return {}
    try:
        out = subprocess.run(["squeue", "-h", "-r", "-t", "all", "-u", str(os.getuid()), "-o", "%i|%T"],
                             capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError):
        return {}
    if out.returncode != 0:
        return {}
    wanted, states = set(job_ids), {}
    for line in out.stdout.splitlines():
        jid, _, state = line.strip().partition("|")
        if jid in wanted:
            states[jid] = state.split()[0] if state else "UNKNOWN"
    return states


def _trace_line(text: str) -> str:
    """The last line of a traceback inside submitit's error message (``ValueError: ...``)."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not set(ln.strip()) <= {"-"}]
    lines = [ln for ln in lines if not ln.startswith(("You can check full logs", "or at paths", "- /"))]
    return lines[-1] if lines else text.strip()


class _Watch:
    """A submitted job and what the executor saw of it."""

    def __init__(self, job, label: str):
        self.job, self.label = job, label
        self.submitted = time.monotonic()
        self.state = "PENDING"
        self.ended: float | None = None   # when squeue first showed it finished, or stopped listing it

    def update(self, states: dict[str, str], now: float) -> None:
        if self.job.job_id in states:
            self.state = states[self.job.job_id]
            if self.state in FINISHED and self.ended is None:
                self.ended = now
        elif now - self.submitted > GRACE and self.ended is None:
            self.state, self.ended = "GONE", now     # squeue forgot it (MinJobAge) or it never started

    def has_result(self) -> bool:
        return self.job.paths.result_pickle.exists()

    def finished(self, now: float) -> bool:
        return self.has_result() or (self.ended is not None and now - self.ended > GRACE)

    def result(self) -> tuple[bool, Any]:
        """``(True, value)``, or ``(False, why)`` naming the job, its state and its log."""
        if self.has_result():
            exc = self.job.exception()
            if exc is None:
                return True, self.job.result()
            return False, f"SLURM job {self.job.job_id} ({self.label}) raised {_trace_line(str(exc))} (log: {self.job.paths.stderr})"
        tail = ""
        err = self.job.paths.stderr
        if err.exists():
            lines = [ln for ln in err.read_text(errors="replace").splitlines() if ln.strip()]
            tail = f": {lines[-1].strip()[:200]}" if lines else ""
        return False, f"SLURM job {self.job.job_id} ({self.label}) ended {self.state} without a result (log: {err}){tail}"


class SlurmExecutor:
    """Run each chapter as a SLURM job (module docstring).

    Args:
        folder: submitit's folder for scripts, logs and results (the runner uses ``<run folder>/slurm``).
        execute: the runner's notebook function, ``execute(chapter, src, dst, parameters, root, *, timeout,
            retries) -> Outcome``, run in each chapter's job.
        partition, time_min, gpus, cpus: ``--partition``, ``--time`` (minutes), ``--gpus-per-node`` and
            ``--cpus-per-task`` of every job (None / 0: the cluster's default).
        fan_out: array tasks per round for chapters in ``packages`` (0 or 1: no fan-out).
        packages: chapter name -> its package's module name, for fan-out.
        poll: seconds between looks at squeue and the result files.
        stream: where the status line goes (default stderr).
    """

    def __init__(self, folder: str | os.PathLike, execute: Callable[..., Outcome], *, partition: str | None = None,
                 time_min: int = 120, gpus: int = 0, cpus: int | None = None, fan_out: int = 0,
                 packages: dict[str, str] | None = None, poll: float = 2.0, stream=None):
        self.folder, self.execute = Path(folder), execute
        self.partition, self.time_min, self.gpus, self.cpus = partition, time_min, gpus, cpus
        self.fan_out, self.packages = fan_out, dict(packages or {})
        self.poll = poll
        self.stream = sys.stderr if stream is None else stream

    def _executor(self, name: str, array: int = 0):
        import submitit

        ex = submitit.SlurmExecutor(folder=self.folder)
        options: dict[str, Any] = {"job_name": name, "time": self.time_min, "nodes": 1, "ntasks_per_node": 1}
        if self.partition:
            options["partition"] = self.partition
        if self.cpus:
            options["cpus_per_task"] = self.cpus
        if self.gpus:
            options["gpus_per_node"] = self.gpus
        if array:
            options["array_parallelism"] = array
        ex.update_parameters(**options)
        return ex

    def _pipeline(self, task: Task, root: Path, timeout: int | None, retries: int):
        """A chapter's jobs, as a generator: it yields the jobs to wait for and receives their results;
        its return value is the chapter's Outcome."""
        t0 = time.monotonic()
        package = self.packages.get(task.chapter)
        if self.fan_out > 1 and package:
            n = self.fan_out
            for round_ in range(1, MAX_ROUNDS + 1):
                ex = self._executor(f"landscape-{task.chapter}-units", array=n)
                jobs = ex.map_array(shard_task, [package] * n, [task.parameters] * n, list(range(n)), [n] * n)
                got = yield [_Watch(j, f"{task.chapter} units, round {round_}, task {i} of {n}") for i, j in enumerate(jobs)]
                failed = [why for ok, why in got if not ok]
                if failed:
                    return Outcome("failed", f"fan-out: {failed[0]}", time.monotonic() - t0)
                if all(v["done"] for _, v in got):
                    break
                if sum(v["computed"] for _, v in got) == 0:
                    return Outcome("failed", f"fan-out round {round_} computed nothing new: the tasks do not see each "
                                   "other's results (is LANDSCAPE_CACHE on a filesystem every node shares?)",
                                   time.monotonic() - t0)
            else:
                return Outcome("failed", f"fan-out: units still missing after {MAX_ROUNDS} rounds", time.monotonic() - t0)
        job = self._executor(f"landscape-{task.chapter}").submit(
            self.execute, task.chapter, task.src, task.dst, task.parameters, root, timeout=timeout, retries=retries)
        ((ok, value),) = yield [_Watch(job, f"{task.chapter} notebook")]
        if not ok:
            return Outcome("failed", value, time.monotonic() - t0)
        return Outcome(value.status, value.error, time.monotonic() - t0)

    def run(self, tasks: Sequence[Task], root: Path, *, timeout: int | None, retries: int):
        """Submit every chapter's jobs at once; yield ``(task, Outcome)`` as each chapter finishes. On Ctrl-C
        every job still queued or running is cancelled and the chapters are reported interrupted."""
        self.folder.mkdir(parents=True, exist_ok=True)
        line = StateLine(self.stream)
        active: dict[str, tuple[Task, Any, list[_Watch]]] = {}
        done = 0
        try:
            for task in tasks:
                pipe = self._pipeline(task, root, timeout, retries)
                active[task.chapter] = (task, pipe, next(pipe))
            while active:
                now = time.monotonic()
                watches = [w for _, _, ws in active.values() for w in ws]
                states = slurm_states([w.job.job_id for w in watches])
                for w in watches:
                    w.update(states, now)
                for chapter, (task, pipe, ws) in list(active.items()):
                    if not all(w.finished(now) for w in ws):
                        continue
                    done += len(ws)
                    try:
                        active[chapter] = (task, pipe, pipe.send([w.result() for w in ws]))
                    except StopIteration as stop:
                        del active[chapter]
                        yield task, stop.value
                watches = [w for _, _, ws in active.values() for w in ws if not w.finished(now)]
                pending = sum(1 for w in watches if w.state in ("PENDING", "CONFIGURING", "REQUEUED"))
                line.show(f"slurm jobs: {pending} pending, {len(watches) - pending} running, {done} done"
                          + (f" ({', '.join(sorted(active))})" if active else ""))
                if active:
                    time.sleep(self.poll)
        except KeyboardInterrupt:
            self._cancel(active)
            for task, _, _ in list(active.values()):
                yield task, Outcome("interrupted", "interrupted (its SLURM jobs were cancelled)", 0.0)
        except GeneratorExit:
            self._cancel(active)
            raise
        finally:
            line.finish()

    @staticmethod
    def _cancel(active) -> None:
        for _, _, ws in active.values():
            for w in ws:
                if not w.has_result():
                    w.job.cancel(check=False)
