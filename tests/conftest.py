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
def smoke_run(tmp_path_factory):
    """Every chapter once on the smoke profile (a fresh cache) into a temporary run folder, as the
    runner runs it, with ``tests/figure_probe.py`` in each kernel's IPython startup: it measures
    every figure the kernel renders. Returns ``(results by chapter, run folder, figure records by
    chapter)``; ``tests/test_chapters.py`` and ``tests/test_chapter_figures.py`` share it."""
    import json
    import shutil

    from landscape.chapters import CHAPTERS
    from landscape.publishing import runner

    out = tmp_path_factory.mktemp("smoke-run")
    ipydir = tmp_path_factory.mktemp("ipython")
    (ipydir / "profile_default" / "startup").mkdir(parents=True)
    shutil.copy(Path(__file__).with_name("figure_probe.py"), ipydir / "profile_default" / "startup" / "00-figure-probe.py")
    log = tmp_path_factory.mktemp("figures") / "figures.jsonl"
    log.write_text("")
    env = {"LANDSCAPE_CACHE": str(tmp_path_factory.mktemp("smoke-cache")), "IPYTHONDIR": str(ipydir),
           "LANDSCAPE_FIGURE_LOG": str(log)}
    with pytest.MonkeyPatch.context() as mp:
        for k, v in env.items():
            mp.setenv(k, v)
        params = runner.plan(list(CHAPTERS), "smoke", [], REPO)
        # smoke chapters take seconds: a cell running 5 minutes has stalled (retried once, reported)
        results = runner.run_chapters(params, "smoke", REPO, out, timeout=300, retries=1)
    figures: dict[str, list[dict]] = {}
    for line in log.read_text().splitlines():
        record = json.loads(line)
        figures.setdefault(record.get("chapter"), []).append(record)
    return {r.chapter: r for r in results}, out, figures


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


@pytest.fixture(scope="session")
def slurm_cluster(tmp_path_factory):
    """A one-node SLURM cluster started for this test session (``tests/slurm_cluster.py``), with
    ``SLURM_CONF`` pointing at it while it runs; its daemons are stopped by PID at the end. Skipped, with
    the reason, when slurm-wlm or munge is not installed - a failure under ``LANDSCAPE_REQUIRE_SLURM=1``
    (set by ``.ci/run``, which installs them)."""
    import slurm_cluster as sc

    missing = sc.missing_commands()
    if missing:
        why = f"SLURM is not installed (no {', '.join(missing)}; apt-get install slurm-wlm munge)"
        if os.environ.get("LANDSCAPE_REQUIRE_SLURM") == "1":
            pytest.fail(f"LANDSCAPE_REQUIRE_SLURM=1 but {why}")
        pytest.skip(why)
    cluster = sc.start(tmp_path_factory.mktemp("slurm"))
    old = os.environ.get("SLURM_CONF")
    os.environ["SLURM_CONF"] = str(cluster.conf)
    try:
        yield cluster
    finally:
        cluster.stop()
        if old is None:
            os.environ.pop("SLURM_CONF", None)
        else:
            os.environ["SLURM_CONF"] = old
