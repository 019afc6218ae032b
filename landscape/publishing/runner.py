"""The chapter runner: ``python -m landscape run [--profile P] [-p NAME VALUE] [--publish] [CHAPTER ...]``.

For each chapter it merges the parameters - the notebook's parameters cell,
then ``profiles/<profile>.yaml``, then ``-p`` overrides - and validates them
against the chapter's schema *before any chapter runs*; then it executes the
notebooks with papermill, one after another, into a run folder
(``runs/<time>-<profile>/``), and prints a closing table (chapter, profile,
status, duration, device). A failed chapter does not stop the others; the
exit code is 1 when any failed. With ``--publish`` each chapter that
succeeded replaces its notebook in ``book/`` atomically (a temporary file in
``book/``, then :func:`os.replace`), so an interrupted run leaves ``book/``
as it was.

The kernel is this interpreter's own: the runner writes a kernelspec named
``landscape`` (``sys.executable -m ipykernel_launcher``) into a private
folder put first on ``JUPYTER_PATH``, so a stale user kernelspec can never
run a chapter with another Python.

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
from .engine import ENGINE_NAME
from .notebooks import glued
from ..experiment.params import ParameterError

__all__ = ["main", "plan", "run_chapters", "notebook_defaults", "Result", "KERNEL_NAME"]

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


def notebook_defaults(path: str | os.PathLike) -> dict[str, Any]:
    """The values assigned in the notebook's cell tagged ``parameters``
    (``name = literal`` or ``name: type = literal`` lines)."""
    nb = json.loads(Path(path).read_text())
    for cell in nb["cells"]:
        if cell["cell_type"] == "code" and "parameters" in cell.get("metadata", {}).get("tags", []):
            source = "".join(cell["source"])
            out: dict[str, Any] = {}
            for node in ast.parse(source).body:
                if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
                    out[node.targets[0].id] = ast.literal_eval(node.value)
                elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) and node.value is not None:
                    out[node.target.id] = ast.literal_eval(node.value)
            return out
    raise ParameterError(f"{path} has no cell tagged 'parameters'")


def load_profile(profile: str, root: Path) -> dict[str, dict[str, Any]]:
    """``profiles/<profile>.yaml``: chapter name -> parameter values."""
    if profile not in PROFILES:
        raise ParameterError(f"unknown profile {profile!r} (choose from {', '.join(PROFILES)})")
    path = root / "profiles" / f"{profile}.yaml"
    values = yaml.safe_load(path.read_text()) or {}
    unknown = [c for c in values if c not in CHAPTERS]
    if unknown:
        raise ParameterError(f"{path}: unknown chapter(s) {', '.join(unknown)}")
    return values


def _parse_value(text: str) -> Any:
    """A ``-p`` value as YAML (``3`` -> int, ``1e-2`` -> float, ``[1, 2]`` -> list, ``null`` -> None)."""
    value = yaml.safe_load(text)
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
    parsed = [(name, _parse_value(text)) for name, text in overrides]
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
        except ParameterError as exc:
            raise ParameterError(f"chapter {chapter!r}: {exc}") from None
    return out


def ensure_kernel() -> str:
    """Register a kernelspec for this interpreter under :data:`KERNEL_NAME` (private folder, first on JUPYTER_PATH)."""
    folder = Path(tempfile.mkdtemp(prefix="landscape-jupyter-"))
    spec_dir = folder / "kernels" / KERNEL_NAME
    spec_dir.mkdir(parents=True)
    spec = {"argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"], "display_name": "Python (landscape)", "language": "python"}
    (spec_dir / "kernel.json").write_text(json.dumps(spec, indent=1))
    os.environ["JUPYTER_PATH"] = os.pathsep.join([str(folder), *filter(None, [os.environ.get("JUPYTER_PATH")])])
    return KERNEL_NAME


def _device_of(nb_path: Path) -> str:
    try:
        return str(glued(nb_path).get("run-device", "?"))
    except (OSError, ValueError):
        return "?"


def publish(executed: Path, target: Path) -> None:
    """Replace ``target`` with ``executed`` atomically (temporary file beside it, then rename)."""
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(fd)
    try:
        shutil.copyfile(executed, tmp)
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; a published chapter is an ordinary readable file
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


#: exceptions that mean the kernel, not the chapter, failed: a cell that never
#: finished (seen here under heavy load: an idle kernel and papermill waiting
#: for a message that never came) or a kernel that died
_STALLS = ("CellTimeoutError", "DeadKernelError", "TimeoutError")


def run_chapters(params: dict[str, dict[str, Any]], profile: str, root: Path, out_dir: Path, *, publish_to_book: bool = False,
                 timeout: int | None = DEFAULT_TIMEOUT, retries: int = 1) -> list[Result]:
    """Execute each chapter with its parameters; publish the ones that succeed when asked.

    ``timeout`` bounds each cell (seconds; None for no bound); a chapter
    whose kernel stalled or died (not one whose code raised) is run again up
    to ``retries`` times, and the closing table says so.
    """
    import papermill as pm
    from tqdm import tqdm

    kernel = ensure_kernel()
    out_dir.mkdir(parents=True, exist_ok=True)
    results: list[Result] = []
    bar = tqdm(list(params), desc="chapters", unit="chapter", disable=None, file=sys.stderr)
    for chapter in bar:
        bar.set_postfix_str(chapter)
        src = Path(CHAPTERS[chapter])
        dst = out_dir / src.name
        t0 = time.perf_counter()
        for attempt in range(retries + 1):
            status, error = "ok", ""
            print(f"[landscape] running {chapter} ({profile}) -> {dst}" + (f" (retry {attempt})" if attempt else ""), file=sys.stderr, flush=True)
            cwd = os.getcwd()
            try:
                os.chdir(root)  # relative paths in the notebook's metadata, chapters run from the repo root
                pm.execute_notebook(
                    str(src), str(os.path.relpath(dst, root)) if dst.is_absolute() else str(dst),
                    parameters=params[chapter], kernel_name=kernel, engine_name=ENGINE_NAME, progress_bar=False,
                    cwd=str(src.parent), execution_timeout=timeout, report_mode=False,
                )
            except KeyboardInterrupt:
                status, error = "interrupted", "interrupted"
            except Exception as exc:  # PapermillExecutionError and friends: report, go on
                status, error = "failed", f"{type(exc).__name__}: {str(exc).strip().splitlines()[-1] if str(exc).strip() else ''}"
                if type(exc).__name__ in _STALLS and attempt < retries:
                    print(f"[landscape] {chapter}: the kernel stalled ({error}); running it again", file=sys.stderr, flush=True)
                    continue
            finally:
                os.chdir(cwd)
            if status == "ok" and attempt:
                error = f"succeeded on retry {attempt} after a stalled kernel"
            break
        seconds = time.perf_counter() - t0
        executed = dst if dst.is_absolute() else root / dst
        res = Result(chapter, profile, status, seconds, _device_of(executed), str(dst), error)
        results.append(res)
        if status == "ok" and publish_to_book:
            publish(executed, root / src)
        if status == "interrupted":
            break
    bar.close()
    return results


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


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m landscape", description="Run the book's chapters.")
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="execute chapters with papermill")
    run.add_argument("chapters", nargs="*", metavar="CHAPTER", help=f"chapters to run (default: all: {', '.join(CHAPTERS)})")
    run.add_argument("--profile", default="cpu", choices=PROFILES)
    run.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"), help="override one parameter (YAML value)")
    run.add_argument("--publish", action="store_true", help="replace each chapter that succeeds in book/")
    run.add_argument("--out", default=None, help="run folder (default runs/<time>-<profile>)")
    run.add_argument("--timeout", type=int, default=DEFAULT_TIMEOUT, help=f"seconds per cell (default {DEFAULT_TIMEOUT}; 0 for none)")
    run.add_argument("--retries", type=int, default=1, help="re-runs of a chapter whose kernel stalled or died (default 1)")
    run.add_argument("--root", default=".", help="the repository root (holds book/ and profiles/)")
    sub.add_parser("chapters", help="list the chapters and their parameters")
    args = parser.parse_args(argv)

    if args.command == "chapters":
        for name, path in CHAPTERS.items():
            print(f"{name} ({path})\n  " + schema(name).describe().replace("\n", "\n  "))
        return 0

    root = Path(args.root).resolve()
    chapters = args.chapters or list(CHAPTERS)
    try:
        params = plan(chapters, args.profile, args.param, root)
    except ParameterError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else Path("runs") / f"{time.strftime('%Y%m%d-%H%M%S')}-{args.profile}"
    if out.is_absolute():
        try:
            out = out.relative_to(root)
        except ValueError:
            pass
    results = run_chapters(params, args.profile, root, out, publish_to_book=args.publish, timeout=args.timeout or None, retries=max(args.retries, 0))
    print(format_table(results))
    return 0 if all(r.status == "ok" for r in results) and len(results) == len(params) else 1
