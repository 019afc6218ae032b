"""bench/gpu.py (the GPU path of issue 21, item 3), run on the CPU with --quick: the script is tested here,
its figures are read on a GPU. The values asserted are the ones that do not depend on the device: the
batched products equal the single ones, the data-convolution reroute changes no product, the certified
top-5 meets its accuracy, and the toolkit chapter's tables read what the script wrote."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from landscape.chapters.toolkit.bench import gpu_tables

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("gpu") / "results-gpu.json"
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "gpu.py"), "--device", "cpu", "--quick", "--only", "cnn",
                           "--out", str(out)], capture_output=True, text=True, timeout=900, cwd=REPO)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return out, json.loads(out.read_text()), proc.stdout


def test_the_quick_run_measures_every_section(quick_run):
    _, res, log = quick_run
    m, cnn = res["meta"], res["problems"]["cnn"]
    assert m["device"] == "cpu" and m["device_name"].startswith("CPU (") and m["quick"] and m["complete"] is True
    assert cnn["n_params"] == 61706 and set(cnn) >= {"hvp_cost", "blocks", "top5", "slq", "dataconv"}
    assert set(cnn["hvp_cost"]["seconds"]) >= {"gradient", "ours, graph rebuilt", "ours, graph kept"}
    assert cnn["hvp_cost"]["over_gradient"]["gradient"] == 1.0
    for k, b in cnn["blocks"].items():               # vmap over the columns computes the same products
        assert b["batched_rel_difference"] < 1e-5, (k, b)
        assert b["pays"] == (b["per_column_seconds"]["batched"] < b["per_column_seconds"]["single"])
    assert sorted(cnn["blocks"], key=int) == ["1", "4"]
    t5 = cnn["top5"]["ours"]
    assert t5["rel_err"] <= 1e-4 and all(r["converged"] for r in t5["runs"])   # certified to --acc
    assert cnn["top5"]["reference"]["converged"]
    assert cnn["slq"]["ours"]["hvps"] == 10                                      # 1 probe x 10 steps
    assert cnn["dataconv"]["rel_difference"] < 1e-5                              # the reroute changes no value
    assert "wrote" in log


def test_the_toolkit_tables_read_the_run(quick_run):
    path, res, _ = quick_run
    caption, tables = gpu_tables(path)
    assert "**The GPU path.** Measured on **CPU (" in caption and "A quick run" in caption and "61,706 parameters" in caption
    titles = [c.split("**")[1] for c, _ in tables]
    assert titles == ["One HVP against one gradient", "Block products.",
                      "Top-5 and the spectral density against PyHessian", "The data-convolution reroute"]
    blocks = tables[1][1]
    assert blocks["k"].tolist() == [1, 4]
    one = res["problems"]["cnn"]["blocks"]["1"]["per_column_seconds"]
    assert blocks["single, ms per column"].iloc[0] == pytest.approx(1e3 * one["single"])
    top = tables[2][1]
    assert top["method"].tolist() == ["landscape Lanczos (certified)", "landscape SLQ"]   # no PyHessian here


def test_a_cuda_device_without_cuda_is_refused():
    import torch

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    proc = subprocess.run([sys.executable, str(REPO / "bench" / "gpu.py"), "--device", "cuda"], capture_output=True,
                          text=True, timeout=300, cwd=REPO)
    assert proc.returncode != 0 and "Invalid --device: cuda (no CUDA device here; use --device cpu)" in proc.stderr


def test_gpu_tables_without_a_record_say_how_to_make_one(tmp_path):
    caption, tables = gpu_tables(tmp_path / "absent.json")
    assert tables == [] and "python bench/gpu.py" in caption and "No GPU figures are recorded" in caption


def test_gpu_tables_of_a_stopped_run_with_pyhessian_and_a_failed_batch(tmp_path):
    rec = {"meta": {"device_name": "NVIDIA H200", "torch": "2.11.0", "cuda": "13.0", "command": "python bench/gpu.py",
                    "date": "2026-12-02", "commit": "abc1234", "seconds": 300.0, "complete": False, "config": {"acc": 1e-4}},
           "problems": {"mlp": {
               "label": "MLP", "n_params": 269322,
               "hvp_cost": {"seconds": {"gradient": 0.002, "ours, graph kept": 0.003},
                            "over_gradient": {"gradient": 1.0, "ours, graph kept": 1.5}},
               "blocks": {"4": {"per_column_seconds": {"single": 0.004, "ours (op @ V)": 0.0041},
                                "pays": False, "batched_error": "RuntimeError: vmap: no rule"}},
               "top5": {"ours": {"hvps": 20, "seconds": 0.5, "rel_err": 2e-6, "outside_vs_products": 0.05},
                        "pyhessian": {"sweep": [{"tol": 1e-3, "hvps": 90, "seconds": 2.0, "rel_err": 3e-5}],
                                      "chosen": {"tol": 1e-3, "hvps": 90, "seconds": 2.0, "rel_err": 3e-5},
                                      "reaches_acc": True}},
               "slq": {"ours": {"hvps": 60, "seconds": 0.4, "outside_vs_products": 0.02},
                       "pyhessian_density": {"ok": False, "error": "RuntimeError: torch.eig was removed", "seconds": 0.1}}}}}
    (tmp_path / "g.json").write_text(json.dumps(rec))
    cpu = {"meta": {"host_cpu": "AMD EPYC"}, "problems": {
        "mlp": {"hvp_cost": {"seconds": {"gradient": 0.04}, "over_gradient": {"gradient": 1.0}}},
        "cnn": {"hvp_cost": {"seconds": {"gradient": 0.13}, "over_gradient": {"gradient": 1.0}}}}}
    caption, tables = gpu_tables(tmp_path / "g.json", cpu=cpu)
    assert "**NVIDIA H200**" in caption and "CUDA 13.0" in caption and "stopped at its time limit" in caption
    hvp = tables[0][1]
    assert hvp["device"].tolist() == ["CPU (AMD EPYC)", "NVIDIA H200", "NVIDIA H200"]   # the cnn's CPU row: no GPU row
    assert hvp["ms (median)"].tolist() == pytest.approx([40.0, 2.0, 3.0])
    blocks = tables[1][1]
    assert blocks["batched pays"].iloc[0] == "failed: RuntimeError: vmap: no rule"
    top = tables[2][1]
    assert top["method"].tolist() == ["landscape Lanczos (certified)", "PyHessian power iteration (tol 0.001)",
                                      "landscape SLQ", "PyHessian density() failed: RuntimeError: torch.eig was removed"]
    assert top["time / ours"].iloc[1] == pytest.approx(4.0) and top["HVPs"].iloc[1] == 90
    assert len(tables) == 3                                                      # no convolution: no reroute table
