"""Take the book away: every chapter's notebook in one zip, and the whole book as one PDF.

- :func:`notebooks_zip` (run by the Sphinx extension at every HTML build): the chapters'
  notebooks as committed in ``book/`` (with their outputs), the profiles and a short
  README, in ``landscape-notebooks.zip`` at the site's root. Entries carry a fixed date,
  so the same notebooks give the same zip.
- ``python -m landscape.publishing.takeaway pdf`` (``make pdf``): the book built once more
  as a single HTML page (Sphinx's ``singlehtml`` builder), printed to
  ``_build/html/landscape.pdf`` by headless Chromium (``--print-to-pdf``), offline: the
  page's MathJax and widget manager are served from the build itself.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Sequence

__all__ = ["notebooks_zip", "print_pdf", "CHROMIUM_FLAGS", "main"]

#: headless Chromium, offline and quiet (a fresh profile is added per run)
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
_DATE = (2026, 1, 1, 0, 0, 0)
_README = """landscape: the book's chapters as notebooks
============================================

Each notebook is a chapter as published (with the outputs of its cpu-profile run).
To run one yourself, clone the repository and, at its root:

    make setup
    make lab                      # JupyterLab on a working copy, the landscape kernel
    .venv/bin/python -m landscape run --profile smoke template

profiles/ holds the parameters of each profile (smoke, cpu, gpu).
"""


def notebooks_zip(root: str | Path, notebooks: Sequence[str], dest: str | Path) -> Path:
    """Write ``dest``: ``landscape-notebooks/<chapter>.ipynb`` for each of ``notebooks`` (paths
    relative to ``root``; the Sphinx extension passes the chapter registry's) found under
    ``root``, ``profiles/*.yaml`` and a README. Returns ``dest``."""
    root, dest = Path(root), Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    files = [(root / nb, f"landscape-notebooks/{Path(nb).name}") for nb in notebooks if (root / nb).is_file()]
    files += [(p, f"landscape-notebooks/profiles/{p.name}") for p in sorted((root / "profiles").glob("*.yaml"))]
    tmp = dest.with_name(f".{dest.name}.tmp")
    with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as z:
        info = zipfile.ZipInfo("landscape-notebooks/README.txt", _DATE)
        info.compress_type = zipfile.ZIP_DEFLATED
        z.writestr(info, _README)
        for path, name in files:
            info = zipfile.ZipInfo(name, _DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            z.writestr(info, path.read_bytes())
    os.replace(tmp, dest)
    return dest


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def print_pdf(page: str | Path, dest: str | Path, *, chromium: str | None = None, budget_ms: int = 30000) -> Path:
    """Print one HTML file to ``dest`` with headless Chromium, after ``budget_ms`` of virtual time
    for its scripts (MathJax, widgets).

    Raises:
        RuntimeError: no Chromium, or it printed nothing.
    """
    chromium = chromium or _chromium()
    if chromium is None:
        raise RuntimeError("Chromium is not installed (apt-get install chromium): it prints the PDF")
    dest = Path(dest).resolve()
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="landscape-chromium-") as profile:
        cmd = [chromium, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "--no-pdf-header-footer",
               f"--virtual-time-budget={budget_ms}", "--run-all-compositor-stages-before-draw",
               f"--print-to-pdf={dest}", Path(page).resolve().as_uri()]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    if not dest.is_file() or dest.stat().st_size == 0:
        raise RuntimeError(f"Chromium printed no PDF (exit {proc.returncode}): {proc.stderr.strip()[-500:]}")
    return dest


def _single_page(folder: Path) -> Path:
    """The page of a singlehtml build: the book's root document (``index.html`` only redirects to it)."""
    import re

    index = folder / "index.html"
    m = re.search(r'http-equiv="Refresh" content="0; url=([^"]+)"', index.read_text(encoding="utf-8"))
    return folder / m[1] if m else index


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m landscape.publishing.takeaway", description="The book as a zip and a PDF.")
    sub = parser.add_subparsers(dest="command", required=True)
    pdf = sub.add_parser("pdf", help="the whole book as one PDF (headless Chromium)")
    pdf.add_argument("dest", nargs="?", default="_build/html/landscape.pdf")
    parser.add_argument("--root", default=".")
    args = parser.parse_args(argv)
    root = Path(args.root).resolve()
    if _chromium() is None:
        print("error: Chromium is not installed (apt-get install chromium): it prints the PDF", file=sys.stderr)
        return 2
    out = root / "_build" / "pdf"
    jb = Path(sys.executable).with_name("jupyter-book")
    proc = subprocess.run([str(jb), "build", str(root), "--builder", "singlehtml", "--path-output", str(out), "--quiet"])
    if proc.returncode != 0:
        print("error: the single-page build failed (see above)", file=sys.stderr)
        return 1
    dest = Path(args.dest) if Path(args.dest).is_absolute() else root / args.dest
    print(print_pdf(_single_page(out / "_build" / "singlehtml"), dest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
