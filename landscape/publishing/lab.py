"""``make lab``: JupyterLab on a working copy of the chapters, with the ``landscape`` kernel only.

``python -m landscape.publishing.lab [--dir runs/lab] [--port 8888] [--no-browser]``

- The chapters open from a working copy (``runs/lab/`` by default, git-ignored), made
  from ``book/`` when absent; a chapter missing from it is copied in, one already
  there is left as the user edited it. JupyterLab's root is that folder, so autosave
  and edits never reach ``book/``, which is what ``make html`` publishes.
- One kernel: a ``landscape`` kernelspec for this interpreter in a private folder
  (the runner's, :func:`landscape.publishing.runner.ensure_kernel`), and the server
  lists no other (``KernelSpecManager.allowed_kernelspecs``; the ``python3`` spec that
  ipykernel installs runs whichever ``python`` is first on PATH).
- It listens on 127.0.0.1 only, and adds ``--allow-root`` when run as root. Stopping it
  (Ctrl-C, SIGTERM, SIGHUP) stops JupyterLab and its kernels and removes the private folder.
- MyST (admonitions, roles) renders through ``jupyterlab-myst``; widgets through
  ``jupyterlab_widgets``; both are pinned in ``requirements.txt``.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

from .runner import KERNEL_NAME, _drop_kernel, ensure_kernel

__all__ = ["working_copy", "lab_command", "main", "DEFAULT_DIR"]

DEFAULT_DIR = "runs/lab"
#: what a working copy takes from book/: the chapters and the pages they link to
COPIED = ("*.ipynb", "*.md", "*.svg")


def working_copy(root: Path, target: Path) -> list[Path]:
    """Make ``target`` hold a copy of every chapter of ``root/book`` (and the book's pages),
    copying only the files it lacks; returns the files copied. ``book/`` is only read.

    Raises:
        ValueError: ``target`` is ``book/`` itself or inside it.
    """
    book = (root / "book").resolve()
    target = target.resolve()
    if target == book or target.is_relative_to(book):
        raise ValueError(f"Invalid working copy: {target} (must not be book/ or inside it: exploring would change the published book)")
    target.mkdir(parents=True, exist_ok=True)
    copied = []
    for pattern in COPIED:
        for src in sorted(book.glob(pattern)):
            dst = target / src.name
            if not dst.exists():
                shutil.copy2(src, dst)
                copied.append(dst)
    return copied


def lab_command(target: Path, port: int, *, open_browser: bool = True, extra: Sequence[str] = ()) -> list[str]:
    """The ``jupyter lab`` command line: ``target`` as its root, 127.0.0.1, the ``landscape`` kernel only."""
    cmd = [sys.executable, "-m", "jupyterlab", f"--ServerApp.root_dir={target}", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", f"--KernelSpecManager.allowed_kernelspecs={KERNEL_NAME}",
           "--KernelSpecManager.ensure_native_kernel=False", f"--MappingKernelManager.default_kernel_name={KERNEL_NAME}",
           f"--ServerApp.open_browser={open_browser}", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        cmd.append("--allow-root")
    return cmd + list(extra)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m landscape.publishing.lab", description="JupyterLab on a working copy of the chapters.")
    parser.add_argument("--dir", default=DEFAULT_DIR, help=f"the working copy, relative to --root (default {DEFAULT_DIR}; made from book/ when absent)")
    parser.add_argument("--port", type=int, default=8888)
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    parser.add_argument("--root", default=".", help="the repository root (holds book/)")
    args, extra = parser.parse_known_args(argv)
    root = Path(args.root).resolve()
    target = Path(args.dir) if Path(args.dir).is_absolute() else root / args.dir
    try:
        copied = working_copy(root, target)
    except ValueError as exc:
        print(f"error: --dir: {exc}", file=sys.stderr)
        return 2
    try:
        import jupyterlab  # noqa: F401
    except ImportError:
        print("error: JupyterLab is not installed in this environment (make setup installs it from requirements.txt)", file=sys.stderr)
        return 2
    print(f"[landscape] working copy {target}" + (f" ({len(copied)} files copied from book/)" if copied else " (as you left it)")
          + "; book/ is not opened, so exploring cannot change the published book", file=sys.stderr)
    kernel, folder = ensure_kernel()
    proc = subprocess.Popen(lab_command(target, args.port, open_browser=not args.no_browser, extra=extra), cwd=target)

    def stop(signum, frame):  # SIGTERM / SIGHUP: JupyterLab (and so its kernels) stops too, then we clean up
        raise KeyboardInterrupt

    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, stop)
    try:
        return proc.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGINT)   # JupyterLab shuts its kernels down on SIGINT (twice: no prompt)
            time.sleep(0.2)
            proc.send_signal(signal.SIGINT)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        _drop_kernel(folder)


if __name__ == "__main__":
    sys.exit(main())
