"""Every chapter on the smoke profile through papermill (the ``smoke_run`` fixture of
conftest.py), asserting on its glued values; nbval (lax) on the cells tagged deterministic; the HTML build."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from landscape.publishing import runner
from landscape.chapters import CHAPTERS, module
from landscape.experiment.claims import VERDICTS
from landscape.publishing.notebooks import errors, glued

pytestmark = pytest.mark.chapters
REPO = Path(__file__).resolve().parent.parent



@pytest.mark.parametrize("chapter", list(CHAPTERS))
def test_chapter_runs_on_smoke_and_glues_sane_values(smoke_run, chapter):
    results, out, _ = smoke_run
    res = results[chapter]
    nb_path = out / Path(CHAPTERS[chapter]).name
    assert res.status == "ok", f"{chapter} failed: {res.error} (see {nb_path})"
    assert errors(nb_path) == []
    values = glued(nb_path)
    assert values["run-profile"] == "smoke"
    ids = sorted({k.split("-")[1] for k in values if k.startswith("claim-")})
    assert ids, f"{chapter} glued no claims"
    for cid in ids:
        assert values[f"claim-{cid}-verdict"] in VERDICTS
        assert isinstance(values[f"claim-{cid}-statement"], str) and values[f"claim-{cid}-statement"]
        v = values[f"claim-{cid}-value"]
        assert isinstance(v, (int, float)) and (math.isfinite(v) or values[f"claim-{cid}-verdict"] == "inconclusive")
        assert values[f"claim-{cid}-threshold"]
    for name, (lo, hi) in getattr(module(chapter), "SMOKE_CHECKS", {}).items():
        assert lo <= values[name] <= hi, f"{chapter}: {name} = {values[name]} outside [{lo}, {hi}]"


def test_deterministic_cells_give_the_same_output_twice(smoke_run, tmp_path):
    """nbval (lax) re-executes each smoke notebook with an empty cache and
    compares the cells tagged nbval-check-output with the first run's."""
    _, out, _ = smoke_run
    notebooks = sorted(str(p) for p in out.glob("*.ipynb"))
    assert notebooks
    env = {**os.environ, "LANDSCAPE_CACHE": str(tmp_path / "cache")}
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "--nbval-lax", "--nbval-current-env", *notebooks],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]


def test_book_builds_without_warnings(built_book):
    """The HTML from the committed notebooks, with -W -n (warnings are errors); every chapter page has a figure."""
    for path in CHAPTERS.values():
        if Path(path).with_suffix("").as_posix() not in _toc_files():
            continue  # test_every_chapter_is_in_the_toc reports it
        page = built_book / Path(path).with_suffix(".html")
        html = page.read_text()
        assert "data:image/png;base64" in html or "<img" in html, f"{page} has no figure"


def _toc_files() -> set[str]:
    import yaml

    toc = yaml.safe_load((REPO / "_toc.yml").read_text())
    files = set()

    def walk(node):
        if isinstance(node, dict):
            if "file" in node:
                files.add(str(node["file"]))
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(toc)
    return files


def test_every_chapter_is_in_the_toc():
    missing = [name for name, path in CHAPTERS.items() if Path(path).with_suffix("").as_posix() not in _toc_files()]
    assert not missing, f"chapters missing from _toc.yml: {missing}"
