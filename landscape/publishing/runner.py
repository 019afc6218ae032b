"""The chapter runner: ``python -m landscape run [--profile P] [-p NAME VALUE] [--publish] [CHAPTER ...]``.

For each chapter it merges the parameters - the notebook's parameters cell,
then ``profiles/<profile>.yaml``, then ``-p`` overrides - and validates them
against the chapter's schema *before any chapter runs*; then it executes the
notebooks with papermill, one after another, into a run folder of its own
(``runs/<time>-<profile>-<pid>/``, so two runs never share one), and prints a
closing table (chapter, profile, status, duration, device), then the answer:
each chapter's claims (id, verdict, the value against the rule), the executed
notebook's path and the command that renders it as a page. On a terminal it
shows, inside a chapter, which cell runs (cell k of n, under which heading). A failed chapter does not stop the others; the
exit code is 1 when any failed. With ``--publish`` each chapter that
succeeded replaces its notebook in ``book/`` atomically (a temporary file in
``book/``, flushed to disk, then :func:`os.replace`), under a lock per
chapter, so an interrupted run leaves ``book/`` as it was and two runners
never interleave a publish.

Where chapters execute is the executor's business, and only that: ``--executor local`` (the default) runs
them one after another in this process, or ``--jobs N`` at once in worker processes (:class:`LocalExecutor`);
``--executor slurm`` submits a SLURM job per chapter through submitit, optionally after fanning its
independent units out as job arrays (``--fan-out N``; :mod:`landscape.publishing.slurm`). Every executor runs
the same :func:`execute_chapter` and hands back an :class:`~landscape.publishing.jobs.Outcome`; the closing
table and publishing are the same for all. Options of one executor given to the other are errors.

Every problem with the configuration - the profile file, ``-p`` values, the
run folder - is an ``error: <file or option>: <what> (<how to fix>)`` line
and exit code 2, before any kernel starts. A cell that runs past ``--timeout``
is a failure (it is not retried: the limit was the user's); a kernel that
died is retried ``--retries`` times.

The kernel is this interpreter's own: the runner writes a kernelspec named
``landscape`` (``sys.executable -m ipykernel_launcher``) into a private
folder put first on ``JUPYTER_PATH``, so a stale user kernelspec can never
run a chapter with another Python. The kernel talks to the runner over IPC
sockets in that folder (no TCP port, so no "running over TCP without
encryption" warning); the folder is removed at the end, and a folder left by a
runner that was killed is removed by the next one.

On a GPU machine without internet (a cluster node that already has torch),
``make wheelhouse`` on a machine with internet downloads the wheels the
runner needs; there::

    pip install --no-index --find-links wheelhouse -r requirements-runner.txt
    pip install --no-deps -e .
    python -m landscape run --profile gpu
"""

from __future__ import annotations

import argparse
import ast
import contextlib
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import yaml

from ..chapters import CHAPTERS, schema
from ..training.loop import resolve_device
from .engine import ENGINE_NAME
from .jobs import Outcome, StateLine, Task
from .notebooks import glued, read
from ..experiment.params import ParameterError

__all__ = ["main", "plan", "run_chapters", "notebook_defaults", "Result", "KERNEL_NAME", "format_table", "format_answers",
           "render_command", "cell_progress", "sweep_kernel_dirs"]

KERNEL_NAME = "landscape"
DEFAULT_TIMEOUT = 900  # seconds per cell: no chapter cell takes this long on any profile; a stalled kernel does
PROFILES = ("smoke", "cpu", "gpu")


@dataclass
class Result:
    chapter: str
    profile: str
    status: str  # "ok" | "failed" | "interrupted"
    seconds: float
    device: str
    output: str
    error: str = ""
    published: bool = False


def notebook_defaults(path: str | os.PathLike) -> dict[str, Any]:
    """The values assigned in the notebook's cell tagged ``parameters``
    (``name = literal`` or ``name: type = literal`` lines)."""
    path = Path(path)
    try:
        nb = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ParameterError(f"{path}: no such notebook (every chapter needs its notebook in book/)") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise ParameterError(f"{path}: not a notebook ({exc}) (restore it from git)") from None
    for cell in nb.get("cells", []):
        if cell.get("cell_type") == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            source = "".join(cell["source"])
            out: dict[str, Any] = {}
            try:
                for node in ast.parse(source).body:
                    if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                        out[node.targets[0].id] = ast.literal_eval(node.value)
                    elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
                        out[node.target.id] = ast.literal_eval(node.value)
            except (SyntaxError, ValueError) as exc:
                raise ParameterError(f"{path}: the parameters cell holds something other than 'name = literal' lines ({exc}) "
                                     "(keep that cell to plain assignments)") from None
            return out
    raise ParameterError(f"{path}: no cell tagged 'parameters' (tag the parameters cell)")


def load_profile(profile: str, root: Path) -> dict[str, dict[str, Any]]:
    """``profiles/<profile>.yaml``: chapter name -> parameter values.

    Raises:
        ParameterError: ``<file>: <what> (<how to fix>)`` for a missing, unreadable,
            non-UTF-8 or malformed file, an unknown chapter, or an entry that is not a mapping.
    """
    if profile not in PROFILES:
        raise ParameterError(f"--profile: unknown profile {profile!r} (choose from {', '.join(PROFILES)})")
    path = root / "profiles" / f"{profile}.yaml"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ParameterError(f"{path}: no such profile file (restore it from git, or run from the repository root / pass --root)") from None
    except UnicodeDecodeError as exc:
        raise ParameterError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start}) (save the file as UTF-8)") from None
    except OSError as exc:
        raise ParameterError(f"{path}: cannot be read ({exc.strerror}) (check its permissions)") from None
    try:
        values = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ParameterError(f"{path}: YAML syntax error{where}: {getattr(exc, 'problem', None) or exc} "
                             "(fix the YAML: one 'chapter:' block of 'name: value' lines per chapter)") from None
    values = {} if values is None else values
    if not isinstance(values, dict):
        raise ParameterError(f"{path}: expected a mapping of chapter names to parameters, got {type(values).__name__} "
                             "(write one 'chapter:' block per chapter)")
    unknown = [c for c in values if c not in CHAPTERS]
    if unknown:
        raise ParameterError(f"{path}: unknown chapter(s) {', '.join(map(str, unknown))} (known: {', '.join(CHAPTERS)})")
    out = {}
    for chapter, entry in values.items():
        entry = {} if entry is None else entry
        if not isinstance(entry, dict):
            raise ParameterError(f"{path}: chapter {chapter!r} must map parameter names to values, got "
                                 f"{type(entry).__name__} {entry!r} (write '{chapter}: {{}}' or 'name: value' lines under it)")
        if "profile" in entry:
            raise ParameterError(f"{path}: chapter {chapter!r} sets 'profile' (the file names the profile; remove that line)")
        out[chapter] = entry
    return out


def _parse_value(name: str, text: str) -> Any:
    """A ``-p`` value as YAML (``3`` -> int, ``1e-2`` -> float, ``[1, 2]`` -> list, ``null`` -> None)."""
    try:
        value = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ParameterError(f"-p {name} {text!r}: not a YAML value ({getattr(exc, 'problem', None) or exc}) "
                             "(lists as [1, 2], strings quoted when they contain ':' or brackets)") from None
    if isinstance(value, str):
        try:  # YAML 1.1 reads 1e-2 as a string
            return float(value) if value.lower() not in ("nan", "inf", "-inf") else value
        except ValueError:
            return value
    return value


def plan(chapters: Sequence[str], profile: str, overrides: Sequence[tuple[str, str]], root: Path) -> dict[str, dict[str, Any]]:
    """The validated parameters of each chapter (plain values, for papermill): each parameter
    and every rule between parameters (:class:`~landscape.experiment.params.Rule`) is checked
    here, so :class:`ParameterError` is raised before any kernel starts."""
    unknown = [c for c in chapters if c not in CHAPTERS]
    if unknown:
        raise ParameterError(f"unknown chapter(s) {', '.join(unknown)} (known: {', '.join(CHAPTERS)})")
    prof = load_profile(profile, root)
    for name, text in overrides:
        if name == "profile":
            raise ParameterError(f"-p profile {text}: the profile is chosen with --profile, not -p (use --profile {text})")
    parsed = [(name, _parse_value(name, text)) for name, text in overrides]
    out = {}
    for chapter in chapters:
        sch = schema(chapter)
        defaults = notebook_defaults(root / CHAPTERS[chapter])
        sch.check_names(defaults, where=f" in the parameters cell of {CHAPTERS[chapter]}")
        values = {**defaults, **prof.get(chapter, {}), "profile": profile}
        sch.check_names(values, where=f" in profiles/{profile}.yaml for chapter {chapter!r}")
        for name, value in parsed:
            sch.check_names([name], where=f" given with -p for chapter {chapter!r}")
            values[name] = value
        try:
            out[chapter] = sch.validate(values, allow_extra=False).as_dict()
            if "device" in out[chapter]:
                resolve_device(out[chapter]["device"])
        except ParameterError as exc:
            raise ParameterError(f"chapter {chapter!r}: {exc}") from None
        except ValueError as exc:  # the device
            raise ParameterError(f"chapter {chapter!r}: parameter 'device': {exc}") from None
    return out


KERNEL_DIR_PREFIX = "landscape-jupyter-"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_kernel_dirs(tmp: str | os.PathLike | None = None) -> list[Path]:
    """Remove the private kernel folders (:func:`ensure_kernel`) of runners that are gone
    (``landscape-jupyter-<pid>-*`` whose process no longer exists); returns them."""
    removed = []
    for folder in Path(tmp or tempfile.gettempdir()).glob(KERNEL_DIR_PREFIX + "*-*"):
        pid = folder.name[len(KERNEL_DIR_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)) and folder.is_dir():
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def ensure_kernel() -> tuple[str, Path]:
    """Register a kernelspec for this interpreter under :data:`KERNEL_NAME` in a private
    folder (``landscape-jupyter-<pid>-*`` in the temporary directory) put first on
    ``JUPYTER_PATH``; returns the name and the folder (the caller removes it with
    :func:`_drop_kernel`; folders of runners that died are swept here first)."""
    sweep_kernel_dirs()
    folder = Path(tempfile.mkdtemp(prefix=f"{KERNEL_DIR_PREFIX}{os.getpid()}-"))
    spec_dir = folder / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"], "display_name": "Python (landscape)", "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
    os.environ["JUPYTER_PATH"] = os.pathsep.join([str(folder), *filter(None, [os.environ.get("JUPYTER_PATH")])])
    return KERNEL_NAME, folder


def _drop_kernel(folder: Path) -> None:
    """Undo :func:`ensure_kernel`: the folder leaves ``JUPYTER_PATH`` and the disk."""
    parts = [x for x in os.environ.get("JUPYTER_PATH", "").split(os.pathsep) if x and x != str(folder)]
    if parts:
        os.environ["JUPYTER_PATH"] = os.pathsep.join(parts)
    else:
        os.environ.pop("JUPYTER_PATH", None)
    shutil.rmtree(folder, ignore_errors=True)


def _headings(nb_path: Path) -> dict[str, str]:
    """Cell id -> the last markdown heading above it (``"## Training, cached"`` -> ``Training, cached``)."""
    out, heading = {}, ""
    for cell in read(nb_path).get("cells", []):
        src = cell.get("source", "")
        src = "".join(src) if isinstance(src, list) else src
        if cell.get("cell_type") == "markdown":
            for line in src.splitlines():
                if line.startswith("#"):
                    heading = line.lstrip("#").strip()
        elif cell.get("id"):
            out[cell["id"]] = heading
    return out


def cell_progress(chapter: str, nb_path: Path, stream=None):
    """An nbclient ``on_cell_start`` hook that writes ``[landscape] <chapter>: cell k of n - <heading>``
    on one terminal line, or None when ``stream`` (default stderr) is not a terminal or
    ``LANDSCAPE_PROGRESS=0``. n counts the code cells as papermill runs them (its injected cell included)."""
    stream = sys.stderr if stream is None else stream
    if os.environ.get("LANDSCAPE_PROGRESS") == "0" or not getattr(stream, "isatty", lambda: False)():
        return None
    nb = read(nb_path)
    code = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    injected = any("injected-parameters" in c.get("metadata", {}).get("tags", []) for c in code)
    n = len(code) + (0 if injected else 1)   # papermill replaces an injected cell, or adds one
    headings = _headings(nb_path)
    state = {"k": 0, "heading": ""}

    def hook(cell, cell_index):
        if cell.get("cell_type") != "code":
            return
        state["k"] += 1
        tags = cell.get("metadata", {}).get("tags", [])
        state["heading"] = "parameters (injected)" if "injected-parameters" in tags else headings.get(cell.get("id"), state["heading"])
        text = f"[landscape] {chapter}: cell {min(state['k'], n)} of {n}" + (f" - {state['heading']}" if state["heading"] else "")
        width = shutil.get_terminal_size((100, 20)).columns - 1
        stream.write("\r" + text[:width].ljust(width))
        stream.flush()

    hook.finish = lambda: (stream.write("\r" + " " * (shutil.get_terminal_size((100, 20)).columns - 1) + "\r"), stream.flush())
    return hook


def _device_of(nb_path: Path) -> str:
    try:
        return str(glued(nb_path).get("run-device", "?"))
    except (OSError, ValueError):
        return "?"


@contextlib.contextmanager
def chapter_lock(root: Path, chapter: str):
    """An exclusive lock on publishing ``chapter`` (``runs/.locks/<chapter>.lock``): two runners
    never copy into ``book/`` at the same time."""
    import fcntl

    folder = root / "runs" / ".locks"
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{chapter}.lock", "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def publish(executed: Path, target: Path) -> None:
    """Replace ``target`` with ``executed`` atomically: a temporary file beside it, written and
    flushed to disk, then renamed over it (and the folder flushed)."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f, open(executed, "rb") as src:
            shutil.copyfileobj(src, f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a published chapter is an ordinary readable file
        os.replace(tmp, target)
        dirfd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(dirfd)
        finally:
            os.close(dirfd)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _failure(exc: BaseException, timeout: int | None) -> tuple[str, bool]:
    """What went wrong, in one line, and whether running the chapter again may help
    (a kernel that died may; a cell past the user's timeout, or the chapter's own error, may not)."""
    name = type(exc).__name__
    lines = [ln.strip() for ln in str(exc).strip().splitlines() if ln.strip() and not set(ln.strip()) <= {"-"}]
    if name == "CellTimeoutError":
        at = next((i for i, ln in enumerate(lines) if "preview of the cell" in ln), None)
        cell = lines[at + 1] if at is not None and at + 1 < len(lines) else ""
        return f"a cell ran past the cell timeout of {timeout} s (--timeout): {cell[:100]}", False
    if name == "DeadKernelError":
        return "the kernel died (out of memory, or killed)", True
    return f"{name}: {lines[-1] if lines else ''}", False


def execute_chapter(chapter: str, src: str | os.PathLike, dst: Path, parameters: dict[str, Any], root: Path, *,
                    timeout: int | None, retries: int, kernel: str | None = None,
                    kernel_dir: Path | None = None) -> Outcome:
    """Execute the notebook ``src`` (relative to ``root``) with ``parameters`` into ``dst`` with papermill,
    running it again up to ``retries`` times when its kernel died. Without ``kernel`` it registers a kernel
    of its own for the call (:func:`ensure_kernel`), as a local worker process or a SLURM job does."""
    import papermill as pm

    own = kernel is None
    if own:
        kernel, kernel_dir = ensure_kernel()
    src = Path(src)
    t0 = time.perf_counter()
    try:
        for attempt in range(retries + 1):
            status, error = "ok", ""
            print(f"[landscape] running {chapter} ({parameters.get('profile', '?')}) -> {dst}" + (f" (retry {attempt})" if attempt else ""),
                  file=sys.stderr, flush=True)
            cwd = os.getcwd()
            progress = cell_progress(chapter, root / src)
            try:
                os.chdir(root)  # relative paths in the notebook's metadata, chapters run from the repo root
                pm.execute_notebook(
                    str(src), str(os.path.relpath(dst, root)) if dst.is_absolute() else str(dst),
                    parameters=parameters, kernel_name=kernel, engine_name=ENGINE_NAME, progress_bar=False,
                    cwd=str(src.parent), execution_timeout=timeout, report_mode=False,
                    on_cell_start=progress, ipc_dir=str(kernel_dir),
                )
            except KeyboardInterrupt:
                status, error = "interrupted", "interrupted"
            except Exception as exc:  # PapermillExecutionError and friends: report, go on
                error, again = _failure(exc, timeout)
                status = "failed"
                if again and attempt < retries:
                    print(f"[landscape] {chapter}: {error}; running it again", file=sys.stderr, flush=True)
                    continue
            finally:
                os.chdir(cwd)
                if progress is not None:
                    progress.finish()
            if status == "ok" and attempt:
                error = f"succeeded on retry {attempt} after its kernel died"
            break
    finally:
        if own:
            _drop_kernel(kernel_dir)
    return Outcome(status, error, time.perf_counter() - t0)


class LocalExecutor:
    """Chapters on this machine: one after another in this process (``jobs=1``, the cell shown on a terminal),
    or ``jobs`` at once, each in a spawned worker process with a kernel of its own."""

    def __init__(self, jobs: int = 1):
        self.jobs = jobs

    def run(self, tasks: Sequence[Task], root: Path, *, timeout: int | None, retries: int):
        """Yield ``(task, Outcome)`` as each chapter finishes; after an interruption the rest are not started."""
        if self.jobs <= 1 or len(tasks) <= 1:
            yield from self._one_by_one(tasks, root, timeout=timeout, retries=retries)
        else:
            yield from self._at_once(tasks, root, timeout=timeout, retries=retries)

    def _one_by_one(self, tasks, root, *, timeout, retries):
        from tqdm import tqdm

        kernel, kernel_dir = ensure_kernel()
        try:
            bar = tqdm(list(tasks), desc="chapters", unit="chapter", disable=None, file=sys.stderr)
            for task in bar:
                bar.set_postfix_str(task.chapter)
                yield task, execute_chapter(task.chapter, task.src, task.dst, task.parameters, root, timeout=timeout,
                                            retries=retries, kernel=kernel, kernel_dir=kernel_dir)
            bar.close()
        finally:
            _drop_kernel(kernel_dir)

    def _at_once(self, tasks, root, *, timeout, retries):
        import concurrent.futures
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")
        progress = StateLine(sys.stderr)
        pool = concurrent.futures.ProcessPoolExecutor(max_workers=self.jobs, mp_context=ctx, initializer=_quiet_worker)
        futures = {pool.submit(execute_chapter, t.chapter, t.src, t.dst, t.parameters, root, timeout=timeout,
                               retries=retries): t for t in tasks}
        done = 0
        try:
            pending = set(futures)
            while pending:
                finished, pending = concurrent.futures.wait(pending, timeout=1.0, return_when="FIRST_COMPLETED")
                for f in finished:
                    done += 1
                    try:
                        outcome = f.result()
                    except Exception as exc:  # the worker process died
                        outcome = Outcome("failed", f"the worker process failed: {type(exc).__name__}: {exc}", 0.0)
                    yield futures[f], outcome
                running = min(self.jobs, len(pending))
                progress.show(f"chapters: {len(pending) - running} waiting, {running} running, {done} done")
        except KeyboardInterrupt:
            for f in futures:
                f.cancel()
            for f in pending:
                yield futures[f], Outcome("interrupted", "interrupted", 0.0)
        finally:
            progress.finish()
            pool.shutdown(wait=True, cancel_futures=True)


def _quiet_worker() -> None:
    """A local worker process: no per-cell line (several chapters share the terminal); Ctrl-C is the parent's."""
    import signal

    os.environ["LANDSCAPE_PROGRESS"] = "0"
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def run_chapters(params: dict[str, dict[str, Any]], profile: str, root: Path, out_dir: Path, *, publish_to_book: bool = False,
                 timeout: int | None = DEFAULT_TIMEOUT, retries: int = 1, executor=None) -> list[Result]:
    """Execute each chapter with its parameters; publish the ones that succeed when asked.

    ``timeout`` bounds each cell (seconds; None for no bound): a cell past it fails the
    chapter. A chapter whose kernel died (not one whose code raised) is run again up to
    ``retries`` times, and the closing table says so. ``executor`` says where the chapters
    run - :class:`LocalExecutor` (the default: one after another here) or
    :class:`~landscape.publishing.slurm.SlurmExecutor` (a SLURM job each); what happens to
    an executed notebook (the closing table, publishing) is the same for every executor.
    Results come in the chapters' order.
    """
    executor = executor or LocalExecutor()
    out_dir.mkdir(parents=True, exist_ok=True)
    tasks = [Task(chapter, CHAPTERS[chapter], out_dir / Path(CHAPTERS[chapter]).name, params[chapter]) for chapter in params]
    results: list[Result] = []
    with contextlib.closing(executor.run(tasks, root, timeout=timeout, retries=retries)) as outcomes:
        for task, outcome in outcomes:
            executed = task.dst if task.dst.is_absolute() else root / task.dst
            shown = os.path.relpath(executed, root) if executed.is_relative_to(root) else str(executed)
            res = Result(task.chapter, profile, outcome.status, outcome.seconds, _device_of(executed), shown, outcome.error)
            results.append(res)
            if outcome.status == "ok" and publish_to_book:
                with chapter_lock(root, task.chapter):
                    publish(executed, root / task.src)
                res.published = True
            if outcome.status == "interrupted":
                break
    order = list(params)
    return sorted(results, key=lambda r: order.index(r.chapter))


def format_table(results: Sequence[Result]) -> str:
    """The closing table."""
    rows = [("chapter", "profile", "status", "duration", "device")]
    rows += [(r.chapter, r.profile, r.status, f"{r.seconds:.1f} s", r.device) for r in results]
    widths = [max(len(str(row[i])) for row in rows) for i in range(5)]
    line = lambda row: "  ".join(str(v).ljust(w) for v, w in zip(row, widths)).rstrip()
    out = [line(rows[0]), line(["-" * w for w in widths])] + [line(r) for r in rows[1:]]
    for r in results:
        if r.error:
            out.append(f"{r.chapter}: {r.error} (see {r.output})")
    return "\n".join(out)


def _claims_of(nb_path: Path) -> list[tuple[str, str, str, str]]:
    """(id, verdict, value, rule) of every claim glued in the executed notebook, ordered by id.

    A claim is glued as ``claim-<id>-verdict`` with an id free of hyphens (``2.1``). A verdict glued
    under a longer name, ``claim-<id>-<what>-verdict`` (its null, its variant protocol, its v1 rule),
    belongs to that claim: the null and the variant are told beside its rule, never as claims."""
    from .page import _value_text

    try:
        values = glued(nb_path)
    except (OSError, ValueError):
        return []
    ids = [k[len("claim-"):-len("-verdict")] for k in values if k.startswith("claim-") and k.endswith("-verdict")]
    ids = [cid for cid in ids if "-" not in cid]
    key = lambda cid: tuple(int(x) if x.isdigit() else 0 for x in cid.split("."))

    def rule(cid: str) -> str:
        text = f"reproduced when {values.get(f'claim-{cid}-threshold', '')}"
        for what in ("null", "variant"):
            other = values.get(f"claim-{cid}-{what}-verdict")
            if other is not None:
                text += f"; its {what}: {other}"
        return text

    return [(cid, str(values[f"claim-{cid}-verdict"]), _value_text(values.get(f"claim-{cid}-value", "")), rule(cid))
            for cid in sorted(ids, key=key)]


def render_command(notebook: str) -> str:
    """The command that renders an executed notebook as an HTML page beside it (nbconvert)."""
    python = Path(sys.executable)
    try:
        python = python.relative_to(Path.cwd())
    except ValueError:
        pass
    return f"{python} -m nbconvert --to html {notebook}"


def format_answers(results: Sequence[Result], root: Path) -> str:
    """After the closing table: per chapter that ran, its claims (id, verdict, value against the
    rule), where the executed notebook is, and how to look at it as a page."""
    out = []
    for r in results:
        executed = Path(r.output) if Path(r.output).is_absolute() else root / r.output
        if r.status == "interrupted" or not executed.is_file():
            continue
        claims = _claims_of(executed)
        out.append(f"  {r.chapter} ({r.profile}, {r.status}): " + (f"{len(claims)} claims" if claims else "no claims decided"))
        if claims:
            w_id = max(len(c[0]) for c in claims)
            w_v = max(len(c[1]) for c in claims)
            for cid, verdict, value, rule in claims:
                out.append(f"    {cid.ljust(w_id)}  {verdict.ljust(w_v)}  {value} ({rule})")
        out.append(f"    executed notebook: {r.output}")
        out.append(f"    as a page: {render_command(r.output)}")
        if r.published:
            out.append(f"    published to {CHAPTERS.get(r.chapter, 'book/')}: make html renders the book with it")
    return "\n".join(["", "The answer, chapter by chapter:", *out]) if out else ""


def _fresh_run_folder(root: Path, profile: str) -> Path:
    """``runs/<time>-<profile>-<pid>``, with a counter when that exists: never another run's folder."""
    base = Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{profile}-{os.getpid()}"
    out, n = base, 1
    while (root / out).exists():
        n += 1
        out = base.with_name(f"{base.name}-{n}")
    return out


def _nonnegative(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative (must be 0 or more)")
    return value


def _positive(text: str) -> int:
    value = _nonnegative(text)
    if value == 0:
        raise argparse.ArgumentTypeError("0 (must be 1 or more)")
    return value


#: the default time limit of a SLURM job, in minutes
SLURM_TIME = 120


def _check_executor_options(args) -> None:
    """Options that only one executor reads, given to the other, and a fan-out without a shared cache:
    ParameterError naming the option."""
    slurm_only = {"--slurm-partition": args.slurm_partition, "--slurm-time": args.slurm_time,
                  "--slurm-gpus": args.slurm_gpus, "--slurm-cpus": args.slurm_cpus, "--fan-out": args.fan_out}
    given = [name for name, value in slurm_only.items() if value is not None]
    if args.executor == "local" and given:
        raise ParameterError(f"{', '.join(given)}: only for --executor slurm (add --executor slurm, or drop them)")
    if args.executor == "slurm" and args.jobs is not None:
        raise ParameterError("--jobs: only for --executor local (on SLURM every chapter is a job of its own, all "
                             "submitted at once; drop --jobs)")
    if args.executor == "slurm":
        try:
            import submitit  # noqa: F401
        except ImportError:
            raise ParameterError("--executor slurm: submitit is not installed (pip install submitit==1.5.4, "
                                 "pinned in requirements.txt)") from None
    if args.fan_out and args.fan_out > 1:
        from ..experiment.cache import cache_dir

        if cache_dir() is None:
            raise ParameterError("--fan-out: LANDSCAPE_CACHE is off, and the array tasks share their results "
                                 "through it (set LANDSCAPE_CACHE to a folder every node sees)")


def _executor(args, out: Path, params: dict[str, dict[str, Any]]):
    """The executor the options ask for (checked by :func:`_check_executor_options`)."""
    if args.executor == "local":
        return LocalExecutor(args.jobs or 1)
    from ..chapters import module
    from ..experiment.sources import closure
    from .slurm import SlurmExecutor

    # fan-out shares the units of experiment.parallel.compute: a chapter whose code never reaches it has none
    packages = {c: module(c).__name__ for c in params if c in CHAPTERS
                and "landscape.experiment.parallel" in closure(module(c).__name__ + ".experiments")}
    return SlurmExecutor(out / "slurm", execute_chapter, partition=args.slurm_partition,
                         time_min=args.slurm_time or SLURM_TIME, gpus=args.slurm_gpus or 0, cpus=args.slurm_cpus,
                         fan_out=args.fan_out or 0, packages=packages)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m landscape", description="Run the book's chapters.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute chapters with papermill")
    run.add_argument("chapters", nargs="*", metavar="CHAPTER", help=f"chapters to run (default: all: {', '.join(CHAPTERS)})")
    run.add_argument("--profile", default="cpu", choices=PROFILES)
    run.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"), help="override one parameter (YAML value)")
    run.add_argument("--publish", action="store_true", help="replace each chapter that succeeds in book/")
    run.add_argument("--out", default=None, help="run folder, relative to --root (default runs/<time>-<profile>-<pid>)")
    run.add_argument("--timeout", type=_nonnegative, default=DEFAULT_TIMEOUT, help=f"seconds per cell (default {DEFAULT_TIMEOUT}; 0 for none)")
    run.add_argument("--retries", type=_nonnegative, default=1, help="re-runs of a chapter whose kernel died (default 1)")
    run.add_argument("--root", default=".", help="the repository root (holds book/ and profiles/)")
    run.add_argument("--executor", default="local", choices=("local", "slurm"),
                     help="where chapters run: here (default) or a SLURM job each, through submitit")
    run.add_argument("--jobs", type=_positive, default=None, metavar="N", help="local: run N chapters at once (default 1)")
    slurm = run.add_argument_group("SLURM (--executor slurm)")
    slurm.add_argument("--slurm-partition", default=None, metavar="P", help="the partition (default: the cluster's)")
    slurm.add_argument("--slurm-time", type=_positive, default=None, metavar="MIN",
                       help=f"time limit of each job in minutes (default {SLURM_TIME})")
    slurm.add_argument("--slurm-gpus", type=_nonnegative, default=None, metavar="N", help="GPUs per job (default 0)")
    slurm.add_argument("--slurm-cpus", type=_positive, default=None, metavar="N", help="CPUs per job (default: the cluster's)")
    slurm.add_argument("--fan-out", type=_positive, default=None, metavar="N",
                       help="first compute each chapter's independent units in rounds of an N-task job array filling "
                            "the shared LANDSCAPE_CACHE, then execute the notebook against it")
    sub.add_parser("chapters", help="list the chapters and their parameters")
    args = parser.parse_args(argv)

    if args.command == "chapters":
        for name, path in CHAPTERS.items():
            print(f"{name} ({path})\n  " + schema(name).describe().replace("\n", "\n  "))
        return 0

    root = Path(args.root).resolve()
    chapters = args.chapters or list(CHAPTERS)
    try:
        _check_executor_options(args)
        params = plan(chapters, args.profile, args.param, root)
    except ParameterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else _fresh_run_folder(root, args.profile)
    out = out if out.is_absolute() else root / out
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        print(f"error: {out}: cannot create the run folder ({exc.strerror}) (choose another with --out)", file=sys.stderr)
        return 2
    if not os.access(out, os.W_OK):
        print(f"error: {out}: the run folder is not writable (choose another with --out)", file=sys.stderr)
        return 2
    import signal

    def _terminated(signum, frame):  # a killed runner cleans up as an interrupted one does
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, _terminated)
    executor = _executor(args, out, params)
    results = run_chapters(params, args.profile, root, out, publish_to_book=args.publish, timeout=args.timeout or None,
                           retries=args.retries, executor=executor)
    print(format_table(results))
    print(format_answers(results, root))
    return 0 if all(r.status == "ok" for r in results) and len(results) == len(params) else 1
