"""Shared test set-up: data from ../shared/data when present, a private results cache."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SHARED_DATA = REPO.parent / "shared" / "data"

if "LANDSCAPE_DATA" not in os.environ and SHARED_DATA.is_dir():
    os.environ["LANDSCAPE_DATA"] = str(SHARED_DATA)
os.environ.setdefault("LANDSCAPE_PROGRESS", "0")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Every test gets an empty results cache of its own."""
    monkeypatch.setenv("LANDSCAPE_CACHE", str(tmp_path_factory.mktemp("cache")))


@pytest.fixture(scope="session")
def built_book(tmp_path_factory):
    """The HTML book built once per test session from the committed notebooks,
    with -W -n --keep-going (warnings are errors). Returns the ``_build/html`` folder."""
    out = tmp_path_factory.mktemp("book")
    jb = Path(sys.executable).with_name("jupyter-book")
    proc = subprocess.run(
        [str(jb), "build", str(REPO), "--path-output", str(out), "--warningiserror", "--nitpick", "--keep-going", "--quiet"],
        capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, "the book build failed:\n" + proc.stdout[-4000:] + proc.stderr[-4000:]
    return out / "_build" / "html"
