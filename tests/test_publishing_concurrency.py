"""Two runners at once: every pair finishes well under the cell timeout, in folders of its own.

Before the runner's sliced kernel waits (landscape/publishing/engine.py), 2 of 3 such pairs
stalled in the template's explore cell for exactly the cell timeout."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest

from conftest import REPO

pytestmark = pytest.mark.chapters

TIMEOUT = 40   # seconds per cell; the template's cells take about one second once its runs are cached
PAIRS = 5


def _runner(cache, out):
    env = {**os.environ, "LANDSCAPE_CACHE": str(cache)}
    return subprocess.Popen([sys.executable, "-m", "landscape", "run", "--profile", "smoke", "--timeout", str(TIMEOUT),
                             "--retries", "0", "--out", str(out), "template"],
                            cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _slowest_cell(nb_path) -> float:
    nb = json.loads(nb_path.read_text())
    return max(c["metadata"]["papermill"]["duration"] or 0.0 for c in nb["cells"] if c["cell_type"] == "code")


def test_two_runners_at_once_never_stall(tmp_path):
    cache = tmp_path / "cache"
    warm = _runner(cache, tmp_path / "warm")            # fill the cache once: the pairs then run fast
    assert warm.wait(timeout=300) == 0, warm.stdout.read()
    for i in range(PAIRS):
        outs = [tmp_path / f"pair{i}-{side}" for side in "ab"]
        t0 = time.monotonic()
        procs = [_runner(cache, out) for out in outs]
        codes = [p.wait(timeout=4 * TIMEOUT) for p in procs]
        logs = [p.stdout.read() for p in procs]
        assert codes == [0, 0], logs
        slowest = [_slowest_cell(out / "template.ipynb") for out in outs]
        assert max(slowest) < TIMEOUT - 10, f"pair {i}: a cell took {max(slowest):.1f} s (a stall waits the whole {TIMEOUT} s)"
        assert time.monotonic() - t0 < 2 * TIMEOUT
