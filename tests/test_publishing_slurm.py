"""Chapter runs on a real one-node SLURM cluster (issue 20), started by the ``slurm_cluster`` fixture
(``tests/slurm_cluster.py``): the runner's slurm executor against a local run of the same chapters, fan-out of
a chapter's units as a job array, failing and cancelled jobs reported, and the distributed products under
``srun -n 2``."""

from __future__ import annotations

import os
import pickle
import shutil
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import pytest
import torch

import distributed_worker as W
from landscape.curvature import HessianOperator
from landscape.publishing.notebooks import glued

REPO = Path(__file__).resolve().parent.parent
CHAPTERS = ["template", "trajectories"]      # trajectories: the cheapest smoke chapter with independent units
#: glued values that describe the run (its time, the commit it ran), not its results
PROVENANCE = {"run-seconds", "run-commit"}


def _root(tmp: Path) -> Path:
    """A copy of what running chapters reads (book/, profiles/, results/), so publishing never touches the repo."""
    for name in ("book", "profiles", "results"):
        shutil.copytree(REPO / name, tmp / name, ignore=shutil.ignore_patterns("_build", "*.html"))
    return tmp


def _runner(root: Path, out: Path, cache: Path, *args: str, env: dict | None = None, **kwargs):
    env = {**(env or os.environ), "LANDSCAPE_CACHE": str(cache), "LANDSCAPE_PROGRESS": "1",
           "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    cmd = [sys.executable, "-m", "landscape", "run", "--profile", "smoke", "--root", str(root), "--out", str(out), *args]
    return cmd, env


def _run(root, out, cache, *args, timeout=900, env=None):
    cmd, env = _runner(root, out, cache, *args, env=env)
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=root)


@pytest.fixture(scope="module")
def runs(slurm_cluster, tmp_path_factory):
    """The two chapters run locally (``--jobs 2``) and on the cluster (``--fan-out 2 --publish``), each with a
    fresh cache of its own."""
    local = tmp_path_factory.mktemp("local")
    t0 = time.perf_counter()
    loc = _run(REPO, local / "run", local / "cache", "--jobs", "2", *CHAPTERS)
    local_s = time.perf_counter() - t0
    on = tmp_path_factory.mktemp("slurm-run")
    root = _root(on / "root")
    t0 = time.perf_counter()
    sl = _run(root, on / "run", on / "cache", "--executor", "slurm", "--fan-out", "2", "--slurm-cpus", "1",
              "--slurm-time", "20", "--publish", *CHAPTERS, env=slurm_cluster.env())
    slurm_s = time.perf_counter() - t0
    print(f"local --jobs 2: {local_s:.0f} s, slurm --fan-out 2: {slurm_s:.0f} s")
    return {"local": (loc, local / "run"), "slurm": (sl, on / "run"), "root": root, "cache": on / "cache"}


@pytest.mark.chapters
def test_the_chapters_run_as_slurm_jobs_and_glue_what_a_local_run_glues(runs, slurm_cluster):
    loc, local_out = runs["local"]
    sl, slurm_out = runs["slurm"]
    assert loc.returncode == 0, loc.stdout[-3000:] + loc.stderr[-3000:]
    assert sl.returncode == 0, sl.stdout[-3000:] + sl.stderr[-3000:] + slurm_cluster.logs()
    for chapter in CHAPTERS:
        a, b = glued(local_out / f"{chapter}.ipynb"), glued(slurm_out / f"{chapter}.ipynb")
        assert set(a) == set(b) and len(a) > 10
        differ = {k for k in a if a[k] != b[k]} - PROVENANCE
        assert not differ, {k: (a[k], b[k]) for k in differ}
        # published from the run folder into the root's book/, as a local --publish does
        assert (runs["root"] / "book" / f"{chapter}.ipynb").read_bytes() == (slurm_out / f"{chapter}.ipynb").read_bytes()
    # the progress: jobs pending, running and done, one line per change when stderr is not a terminal
    lines = [ln for ln in sl.stderr.splitlines() if ln.startswith("[landscape] slurm jobs:")]
    assert any(" running" in ln and not ln.startswith("[landscape] slurm jobs: 0 pending, 0 running") for ln in lines)
    assert "slurm jobs: 0 pending, 0 running" in lines[-1] and lines[-1].endswith("done")


@pytest.mark.chapters
def test_fan_out_shares_the_units_among_the_array_tasks(runs):
    """Round 1's two array tasks each computed some of trajectories' units, together every one, once: the
    notebook job found them all in the shared cache. template reaches no units and is not fanned out."""
    sl, slurm_out = runs["slurm"]
    names = {}
    for script in (slurm_out / "slurm").glob("*_submission.sh"):
        names[script.name.split("_")[0]] = next(ln.split("=", 1)[1] for ln in script.read_text().splitlines()
                                                if ln.startswith("#SBATCH --job-name="))
    arrays = sorted((jid for jid, n in names.items() if n == "landscape-trajectories-units"), key=int)
    assert len(arrays) >= 2, names                              # a round that computes, one that finds all cached
    assert "landscape-template-units" not in names.values()
    rounds = [[pickle.loads((slurm_out / "slurm" / f"{a}_{i}_0_result.pkl").read_bytes()) for i in (0, 1)]
              for a in arrays]
    assert all(o[0] == "success" for r in rounds for o in r)
    first = [o[1]["computed"] for o in rounds[0]]
    assert first[0] > 0 and first[1] > 0 and abs(first[0] - first[1]) <= 1      # index % 2: an even split
    units = list((runs["cache"] / "trajectories_run").glob("*.npz"))
    # every unit computed exactly once, by the array tasks: the notebook job only read them
    assert sum(o[1]["computed"] for r in rounds for o in r) == len(units) > 10, (rounds, len(units))
    assert all(o[1]["done"] for o in rounds[-1]) and not all(o[1]["done"] for r in rounds[:-1] for o in r)


def _plant(notebook: Path, source: str) -> None:
    """Put a cell running ``source`` right after the parameters cell of ``notebook``."""
    nb = nbformat.read(notebook, as_version=4)
    at = next(i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", []))
    nb.cells.insert(at + 1, nbformat.v4.new_code_cell(source))
    nbformat.write(nb, notebook)


@pytest.mark.chapters
def test_a_failing_job_and_a_cancelled_job_are_reported_and_not_published(slurm_cluster, tmp_path):
    root = _root(tmp_path / "root")
    _plant(root / "book" / "template.ipynb", "raise RuntimeError('planted failure')")
    _plant(root / "book" / "trajectories.ipynb", "import time\ntime.sleep(600)")
    before = {c: (root / "book" / f"{c}.ipynb").read_bytes() for c in CHAPTERS}
    cmd, env = _runner(root, tmp_path / "run", tmp_path / "cache", "--executor", "slurm", "--slurm-cpus", "1",
                       "--publish", *CHAPTERS, env=slurm_cluster.env())
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=root)
    try:
        job = None
        while job is None and time.monotonic() - t0 < 180:             # trajectories' job sleeps in its planted cell
            q = slurm_cluster.run("squeue", "-h", "-n", "landscape-trajectories", "-t", "RUNNING", "-o", "%i")
            job = q.stdout.split()[0] if q.stdout.split() else None
            time.sleep(1)
        assert job, "the trajectories job never ran\n" + slurm_cluster.logs()
        time.sleep(15)                                                   # well inside the sleeping cell
        slurm_cluster.run("scancel", job)
        out, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 1, out[-3000:] + err[-3000:]
    errors = {ln.split(":", 1)[0]: ln for ln in out.splitlines() if ln.startswith(("template: ", "trajectories: "))}
    assert "RuntimeError" in errors["template"] and "planted failure" in errors["template"], out
    assert errors["trajectories"].startswith(f"trajectories: SLURM job {job} (trajectories notebook) ended CANCELLED "
                                             "without a result"), out
    for c in CHAPTERS:
        assert (root / "book" / f"{c}.ipynb").read_bytes() == before[c], f"{c} was published although it failed"


def test_distributed_products_under_srun(slurm_cluster, tmp_path):
    """The distributed curvature test's ranks as two SLURM tasks (``srun -n 2``): rank and world from
    SLURM_PROCID and SLURM_NTASKS, gloo on the node; every rank gets the single-process answer."""
    env = slurm_cluster.env({**os.environ, "MASTER_PORT": str(W.free_port()),
                             "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "tests")])})
    proc = subprocess.run(["srun", "-n", "2", "--cpus-per-task", "1", "--time", "5", sys.executable,
                           str(REPO / "tests" / "distributed_worker.py"), str(tmp_path), "uneven", "empty"],
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    got = [torch.load(tmp_path / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    model, batches = W.problem()
    torch.set_num_threads(1)
    ref = W.results(HessianOperator(model, torch.nn.functional.cross_entropy, batches))
    for name in ("uneven", "empty"):
        for r in got:
            assert "error" not in r[name], r[name].get("traceback")
            assert float((r[name]["products"] - ref["products"]).norm()) <= 1e-12 * float(ref["products"].norm())
            assert torch.allclose(r[name]["top"], ref["top"], rtol=1e-10, atol=0)
            assert r[name]["trace"] == pytest.approx(ref["trace"], rel=1e-10)
        assert torch.equal(got[0][name]["products"], got[1][name]["products"])
