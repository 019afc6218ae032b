"""The hessian chapter: its schema's rules, claims 1.1-1.6 on synthetic results, its tables,
and the paper-scale record (built from arms and claims, saved, read back, shown)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from landscape.chapters import hessian
from landscape.chapters.hessian.claims import accuracy_gain
from landscape.chapters.hessian.experiments import Results, closest, resolve_dataset, snapshot_epochs
from landscape.experiment.claims import decide
from landscape.experiment.params import ParameterError
from landscape.publishing.runner import notebook_defaults

ROOT = Path(__file__).resolve().parent.parent
DEFAULTS = notebook_defaults(ROOT / hessian.NOTEBOOK)
P = hessian.SCHEMA.validate({**DEFAULTS, "profile": "cpu"})
LAYERS = {"mlp": ["fc1", "fc2", "fc3"], "lenet5": ["conv1", "fc1", "fc2"]}


# ---------------------------------------------------------------------------
# the schema's rules between parameters


@pytest.mark.parametrize("changes, names", [
    ({"depth_low": 0.7, "depth_high": 0.6}, "'depth_low', 'depth_high'"),
    ({"spec_every": 20, "spec_epochs": 16}, "'spec_every', 'spec_epochs'"),
    ({"milestones": [8, 4]}, "'milestones', 'reg_epochs'"),
    ({"milestones": [4, 13], "reg_epochs": 12}, "'milestones', 'reg_epochs'"),
])
def test_schema_refuses_each_rule_violation_naming_the_parameters(changes, names):
    with pytest.raises(ParameterError, match=f"parameters {names}"):
        hessian.SCHEMA.validate({**DEFAULTS, **changes})


@pytest.mark.parametrize("name, value", [("arms", ["sgd", "sgd+l2", "sgd"]), ("seeds", [0, 1, 0])])
def test_schema_refuses_a_repeated_arm_or_seed(name, value):
    with pytest.raises(ParameterError, match=f"parameter '{name}'.*twice"):
        hessian.SCHEMA.validate({**DEFAULTS, name: value})


def test_schema_accepts_the_notebook_defaults_and_edge_cases():
    assert P.milestones == (4, 8) and P.arms[0] == "sgd"
    q = P.replace(depth_low=0.5, depth_high=0.5, spec_every=16, milestones=[12], reg_epochs=12)
    assert q.depth_low == q.depth_high and q.milestones == (12,)


# ---------------------------------------------------------------------------
# synthetic results: the smallest Results the claims read


def arm(accs, traces=None, lmaxs=None):
    n = len(accs)
    traces = traces if traces is not None else [10.0] * n
    lmaxs = lmaxs if lmaxs is not None else [1.0] * n
    return [{"acc": a, "trace": t, "lmax": l} for a, t, l in zip(accs, traces, lmaxs)]


SGD = arm([90.0, 90.1, 90.2], [20.0, 20.1, 20.2], [3.0, 3.0, 3.0])


def make(*, w1=(0.01, 0.02), depth=(0.5, 0.5), rho_full=(-0.9, -0.9), rho_layers=-0.9, counts=(10, 10),
         arms=None) -> Results:
    """Two models with three layers each; ``w1``, ``depth``, ``rho_full`` and ``counts`` per model."""
    runs, dists, near, rho, outl = {}, {}, {}, {}, {}
    for k, m in enumerate(LAYERS):
        layers = LAYERS[m]
        runs[m] = {"layers": layers, "num_classes": 10}
        sound = np.full((2, 3), w1[k])
        dists[m] = {"sound": sound, "authors": sound * 10}
        name = layers[int(round(depth[k] * 2))] if math.isfinite(depth[k]) else "fc1"
        near[m] = {"sound": {"end": (name, depth[k]), "sum": (name, depth[k])},
                   "authors": {"end": (layers[0], 0.0), "sum": (layers[0], 0.0)}}
        rho[m] = {l: {"lmax": rho_layers, "trace": rho_layers} for l in layers}
        rho[m]["full"] = {"lmax": rho_full[k], "trace": rho_full[k]}
        outl[m] = {kind: {b: {"count": float(counts[k]), "edge": 0.1, "dim": 5} for b in [*layers, "full"]}
                   for kind in ("hessian", "ggn")}
    if arms is None:
        arms = {"sgd": SGD, "sgd+trace": arm([92.0, 92.1, 92.2], [10.0, 10.1, 10.2], [2.0, 2.0, 2.0]),
                "sgd+middle": arm([92.0, 92.1, 92.2])}
    return Results(spec_data="digits", reg_data="digits", runs=runs, dists=dists, near=near, rho=rho, outliers=outl,
                   arms=arms)


def decided(results: Results, p=P) -> dict:
    return {c.id: c for c in hessian.claims(results, p)}


def test_every_claim_reproduces_on_a_clear_case():
    c = decided(make())
    assert [k for k in c] == ["1.1", "1.2", "1.3", "1.4", "1.5", "1.6"]
    assert {k: v.verdict for k, v in c.items()} == {k: "reproduced" for k in c}
    assert c["1.1"].value == 0.01 and c["1.1"].rule == "<= 0.1"                    # the first model's part shown
    assert c["1.2"].value == 0.5 and c["1.2"].rule == "in [0.3333, 0.6667]"
    assert c["1.3"].value == -0.9 and c["1.4"].value == 1.0 and c["1.4"].rule == "> 0.5"
    assert c["1.5"].value == pytest.approx(2.0) and c["1.5"].rule == "> 0"
    assert c["1.6"].value == pytest.approx(0.0) and c["1.6"].rule == ">= -0.5"


def test_claim_1_1_not_reproduced_shows_the_failing_model_and_nan_is_inconclusive():
    c = decided(make(w1=(0.01, 0.5)))["1.1"]
    assert (c.verdict, c.value) == ("not reproduced", 0.5)
    assert "LeNet median scaled W1: 0.5 <= 0.1 -> not reproduced" in c.detail
    c = decided(make(w1=(math.nan, 0.02)))["1.1"]
    assert (c.verdict, c.value) == ("inconclusive", 0.02)                        # NaN part decides, finite value shown


def test_claim_1_2_not_reproduced_at_the_first_layer_and_inconclusive_without_a_depth():
    c = decided(make(depth=(0.0, 0.5)))["1.2"]
    assert (c.verdict, c.value) == ("not reproduced", 0.0)
    assert "MLP depth of fc1" in c.detail and "authors' measure: fc1 at depth 0.00" in c.detail
    assert decided(make(depth=(0.5, math.nan)))["1.2"].verdict == "inconclusive"


def test_claim_1_3_needs_the_full_hessian_and_most_layers():
    c = decided(make(rho_full=(-0.9, 0.2)))["1.3"]
    assert (c.verdict, c.value) == ("not reproduced", 0.2)
    c = decided(make(rho_layers=0.0))["1.3"]                                        # no layer falls
    assert (c.verdict, c.value, c.rule) == ("not reproduced", 0.0, "> 0.5")
    c = decided(make(rho_full=(math.nan, math.nan), rho_layers=math.nan))["1.3"]  # too few snapshots
    assert c.verdict == "inconclusive" and math.isnan(c.value)


def test_claim_1_4_counts_layers_within_slack_of_c():
    assert decided(make(counts=(12, 8)))["1.4"].verdict == "reproduced"             # C +- 2
    c = decided(make(counts=(3, 10)))["1.4"]
    assert (c.verdict, c.value) == ("not reproduced", 0.5)                          # half the layers: not "most"
    c = decided(make(counts=(3, 10)), P.replace(outlier_slack=7))["1.4"]
    assert (c.verdict, c.value) == ("reproduced", 1.0)


def test_claim_1_5_needs_both_effects_beyond_noise():
    worse = {"sgd": SGD, "sgd+trace": arm([88.0, 88.1, 88.2], [10.0, 10.1, 10.2]), "sgd+middle": SGD}
    c = decided(make(arms=worse))["1.5"]
    assert (c.verdict, c.value) == ("not reproduced", pytest.approx(-2.0))
    noisy = {"sgd": SGD, "sgd+trace": arm([85.0, 92.0, 99.0], [10.0, 10.1, 10.2]), "sgd+middle": SGD}
    c = decided(make(arms=noisy))["1.5"]
    assert c.verdict == "inconclusive" and "within 2 standard errors" in c.detail
    two = {"sgd": SGD[:2], "sgd+trace": arm([92.0, 92.1], [10.0, 10.1]), "sgd+middle": SGD[:2]}
    c = decided(make(arms=two))["1.5"]
    assert c.verdict == "inconclusive" and "too few seeds" in c.detail
    c = decided(make(arms={"sgd": SGD}))["1.5"]
    assert c.verdict == "inconclusive" and math.isnan(c.value) and c.detail == "arm sgd or sgd+trace not run"


def test_claim_1_6_middle_within_the_margin():
    full = arm([92.0, 92.1, 92.2])
    c = decided(make(arms={"sgd": SGD, "sgd+trace": full, "sgd+middle": arm([91.7, 91.8, 91.9])}))["1.6"]
    assert (c.verdict, c.value) == ("reproduced", pytest.approx(-0.3))
    c = decided(make(arms={"sgd": SGD, "sgd+trace": full, "sgd+middle": arm([90.0, 90.1, 90.2])}))["1.6"]
    assert (c.verdict, c.value) == ("not reproduced", pytest.approx(-2.0))
    c = decided(make(arms={"sgd": SGD, "sgd+trace": full}))["1.6"]
    assert c.verdict == "inconclusive" and math.isnan(c.value)


def test_accuracy_gain_and_the_glued_regularizer_numbers():
    r = make()
    g = accuracy_gain(r)
    assert g.diff == pytest.approx(2.0) and g.stderr == pytest.approx(math.sqrt(2 * 0.01 / 3))
    nums = hessian.tables.regularizer_numbers(r, P)
    assert nums["hessian-sgd-acc"] == pytest.approx(90.1) and nums["hessian-acc-diff"] == pytest.approx(2.0)
    assert nums["hessian-penalty-size"] == pytest.approx(1e-3 * 20.1)
    assert accuracy_gain(make(arms={"sgd": SGD})) is None
    assert list(hessian.tables.regularizer_numbers(make(arms={"sgd+l2": SGD}), P)) == ["hessian-sgd-acc"]


# ---------------------------------------------------------------------------
# tables and helpers


def test_tables_on_synthetic_arms():
    r = make(arms={"sgd": SGD, "sgd+trace": arm([90.5, 90.0, 90.3])})
    t = hessian.tables.per_seed_table(r)
    assert t["arm - SGD (points)"].tolist() == ["SGD + trace penalty"]
    assert t[["seed 1", "seed 2", "seed 3"]].to_numpy().round(6).tolist() == [[0.5, -0.1, 0.1]]
    a = hessian.tables.arm_table(r)
    assert a["test acc (%)"].tolist() == pytest.approx([90.1, 90.2666667]) and a["seeds"].tolist() == [3, 3]
    paper = hessian.tables.paper_table(r, P)
    assert paper["this run (cpu profile)"].tolist() == ["90.100 +- 0.100 % (3 seeds, digits)", "not run"]


def test_snapshots_closest_and_the_fallback():
    assert snapshot_epochs(16, 2) == [0, 2, 4, 6, 8, 10, 12, 14, 16] and snapshot_epochs(3, 2) == [0, 2, 3]
    near = closest(["a", "b", "c"], {"sound": np.array([[3.0, 2.0, 1.0], [3.0, 0.5, 1.0]])})
    assert near["sound"] == {"end": ("b", 0.5), "sum": ("c", 1.0)}                 # 2.5 vs 2.0 summed
    assert resolve_dataset("digits", None, None) == ("digits", "")


def test_a_missing_data_set_falls_back_and_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("LANDSCAPE_DATA", str(tmp_path))
    from landscape.training.data import available

    if available(["fashion-mnist"], str(tmp_path))[0]:
        pytest.skip("fashion-mnist is on this machine in a system folder")
    name, note = resolve_dataset("fashion-mnist", "digits", str(tmp_path))
    assert name == "digits" and note.startswith("fashion-mnist is not on this machine") and "using digits instead" in note
    with pytest.raises(FileNotFoundError):
        resolve_dataset("fashion-mnist", None, str(tmp_path))


# ---------------------------------------------------------------------------
# the paper-scale record

GPU = P.replace(profile="gpu", reg_epochs=30, reg_batch_size=256, reg_lr=0.01, milestones=[10, 20], freq=50, sp=10,
                seeds=[0, 1], spec_epochs=10, mlp_widths=[32, 32, 32])
RECORD_ARMS = {"sgd": arm([90.0, 90.5], [20.0, 30.0], [3.0, 5.0]), "sgd+trace+l2": arm([91.0, 91.5], [10.0, 12.0], [2.0, 2.5])}


def test_record_round_trip_and_text(tmp_path):
    claims = [decide("1.5", "penalty helps", 0.75, ">=", 0.5), decide("1.1", "shape", float("nan"), "<=", 0.1)]
    results = make(arms=RECORD_ARMS)
    results.reg_data = results.spec_data = "fashion-mnist"
    rec = hessian.paper_scale_record(results, claims, GPU, device=torch.device("cpu"), seconds=600.0)
    assert rec["arms"]["sgd"]["acc"] == [90.0, 90.5] and rec["arms"]["sgd+trace+l2"]["trace"] == [10.0, 12.0]
    assert [c["id"] for c in rec["claims"]] == ["1.5", "1.1"] and rec["claims"][0]["verdict"] == "reproduced"
    assert rec["profile"] == "gpu" and rec["seconds"] == 600.0 and rec["params"]["milestones"] == [10, 20]
    path = hessian.save_paper_scale(rec, tmp_path / "r" / "hessian-gpu.json")
    back = hessian.load_paper_scale(path)
    assert back["arms"] == rec["arms"] and back["params"]["seeds"] == [0, 1]
    assert not list((tmp_path / "r").glob("*.tmp"))                       # written atomically
    text = hessian.paper_scale_text(back)
    assert "98.750 +- 0.030" in text and "98.847 +- 0.019" in text         # the paper's numbers beside ours
    assert "90.250 +- 0.354" in text                                       # mean and sample std of the seeds
    assert "fashion-mnist" in text and "1.5  reproduced" in text and "1.1  inconclusive" in text


def test_only_the_gpu_profile_writes_a_record(tmp_path):
    results = make(arms=RECORD_ARMS)
    path = tmp_path / "hessian-gpu.json"
    assert hessian.record_gpu_run(results, [], P, device=torch.device("cpu"), seconds=1.0, path=path) is None
    assert not path.exists()
    assert hessian.record_gpu_run(results, [], GPU, device=torch.device("cpu"), seconds=1.0, path=path) == path
    assert hessian.load_paper_scale(path)["params"]["reg_epochs"] == 30


def test_missing_or_foreign_record_is_none(tmp_path):
    assert hessian.load_paper_scale(tmp_path / "absent.json") is None
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert hessian.load_paper_scale(bad) is None
    bad.write_text(json.dumps({"something": 1}))
    assert hessian.load_paper_scale(bad) is None


def test_the_committed_gpu_record_reads_and_shows():
    rec = hessian.load_paper_scale()
    if rec is None:
        pytest.skip("no gpu-profile record in results/")
    text = hessian.paper_scale_text(rec)
    assert text.startswith("Run: gpu profile") and "Claims decided in that run:" in text
