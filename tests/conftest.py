"""Shared test set-up: data from ../shared/data when present, a private results cache."""

from __future__ import annotations

import os
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
