"""The hessian chapter: its schema's rules, claims 1.1-1.6 on synthetic results (v2, the
headline, with each claim's reproduced / not reproduced / inconclusive / null cases, and v1
beside it), its tables, and the paper-scale record (built, saved, read back, shown)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from landscape.chapters import hessian
from landscape.chapters.hessian.claims import CHANGES, NULLS, accuracy_gain, claims_v1, within_c
from landscape.chapters.hessian.experiments import (Results, closest, density_epochs, resolve_dataset, shape_readings,
                                                    snapshot_epochs, spearman_table)
from landscape.experiment.claims import decide
from landscape.experiment.params import ParameterError
from landscape.publishing.runner import load_profile, notebook_defaults
from landscape.spectra import semicircle_quantiles, shape_distance

ROOT = Path(__file__).resolve().parent.parent
DEFAULTS = notebook_defaults(ROOT / hessian.NOTEBOOK)
P = hessian.SCHEMA.validate({**DEFAULTS, "profile": "cpu"})
LAYERS = {"mlp": ["fc1", "fc2", "fc3"], "lenet5": ["conv1", "fc1", "fc2"], "smooth": ["fc1", "fc2", "fc3"]}
SEEDS = 5


# ---------------------------------------------------------------------------
# the schema's rules between parameters


@pytest.mark.parametrize("changes, names", [
    ({"depth_low": 0.7, "depth_high": 0.6}, "'depth_low', 'depth_high'"),
    ({"spec_every": 20, "spec_epochs": 16}, "'spec_every', 'spec_epochs'"),
    ({"milestones": [8, 4]}, "'milestones', 'reg_epochs'"),
    ({"milestones": [4, 13], "reg_epochs": 12}, "'milestones', 'reg_epochs'"),
    ({"spec_every": 2}, "'spec_epochs', 'spec_every', 'rho_skip', 'min_snapshots'"),       # 4 snapshots after 20 %
    ({"seeds_needed": 6}, "'seeds_needed', 'spec_seeds'"),
])
def test_schema_refuses_each_rule_violation_naming_the_parameters(changes, names):
    with pytest.raises(ParameterError, match=f"parameters {names}"):
        hessian.SCHEMA.validate({**DEFAULTS, **changes})


@pytest.mark.parametrize("name, value", [("arms", ["sgd", "sgd+l2", "sgd"]), ("seeds", [0, 1, 0]),
                                         ("spec_seeds", [0, 1, 1, 2, 3])])
def test_schema_refuses_a_repeated_arm_or_seed(name, value):
    with pytest.raises(ParameterError, match=f"parameter '{name}'.*twice"):
        hessian.SCHEMA.validate({**DEFAULTS, name: value})


@pytest.mark.parametrize("overrides, match", [
    ({"mnist": {"gamma": 1e-5}}, "'mnist' is not one of reg_datasets"),
    ({"digits": {"momentum": 0.5}}, "'momentum'"),
    ({"digits": {"gamma": "big"}}, "'gamma'"),
])
def test_schema_refuses_bad_per_data_set_overrides(overrides, match):
    with pytest.raises(ParameterError, match=match):
        hessian.SCHEMA.validate({**DEFAULTS, "reg_overrides": overrides})


def test_schema_accepts_the_notebook_defaults_edge_cases_and_every_profile():
    assert P.milestones == (4, 8) and P.arms[0] == "sgd" and P.seeds_needed <= len(P.spec_seeds) == 5
    q = P.replace(depth_low=0.5, depth_high=0.5, milestones=[12], reg_epochs=12)
    assert q.depth_low == q.depth_high and q.milestones == (12,)
    for profile in ("smoke", "cpu", "gpu"):
        p = hessian.SCHEMA.validate({**DEFAULTS, **load_profile(profile, ROOT).get("hessian", {}), "profile": profile})
        assert len(p.seeds) >= (5 if profile != "smoke" else 2)
    gpu = hessian.SCHEMA.validate({**DEFAULTS, **load_profile("gpu", ROOT)["hessian"], "profile": "gpu"})
    fashion = hessian.schema.arm_values(gpu, "fashion-mnist")      # the authors' Fashion values over the MNIST ones
    mnist = hessian.schema.arm_values(gpu, "mnist10k")
    assert (fashion["reg_epochs"], fashion["gamma"], fashion["gamma_middle"], fashion["sp"]) == (40, 1e-5, 1e-6, 20)
    assert (mnist["reg_epochs"], mnist["gamma"], mnist["sp"], mnist["freq"], mnist["num_probes"]) == (30, 1e-3, 10, 50, 10)
    assert gpu.reg_datasets == ("mnist10k", "fashion-mnist") and gpu.slq_steps >= 128 and len(gpu.spec_seeds) == 5


def test_density_epochs_are_few_and_even():
    assert density_epochs(10, 3) == (0, 5, 10) and density_epochs(10, 1) == (10,) and density_epochs(4, 9) == (0, 1, 2, 3, 4)


# ---------------------------------------------------------------------------
# synthetic results: the smallest Results the claims read


def arm(accs, traces=None, lmaxs=None):
    n = len(accs)
    traces = traces if traces is not None else [10.0] * n
    lmaxs = lmaxs if lmaxs is not None else [1.0] * n
    return [{"acc": a, "trace": t, "lmax": l} for a, t, l in zip(accs, traces, lmaxs)]


BASE = np.array([90.0, 90.3, 89.8, 90.1, 90.2])
NOISE = np.array([0.0, 0.05, -0.05, 0.02, -0.02])
SGD = arm(BASE, 20.0 + NOISE, [3.0] * 5)
TRACE = arm(BASE + 2.0 + NOISE, 10.0 + NOISE, [2.0] * 5)          # +2 points paired, trace halved
MIDDLE = arm(BASE + 1.9 - NOISE, 12.0 - NOISE, [2.0] * 5)         # 0.1 below the full penalty


def shape(median, null_min=0.4, closest="fc2", depth=0.5):
    return {"layer": np.full(3, median), "median": median, "nulls": {"point mass at zero": null_min, "GOE": null_min + 0.1},
            "null_min": null_min, "closest": closest, "closest_depth": depth}


def rho_table(layers, full=-0.9, layer=-0.9, pvalue=1e-4, n=9):
    t = {l: {"lmax": layer, "trace": layer, "lmax_p": pvalue, "trace_p": pvalue, "n": n} for l in layers}
    t["full"] = {"lmax": full, "trace": full, "lmax_p": pvalue, "trace_p": pvalue, "n": n}
    return t


def outlier_tab(layers, count, ggn=None):
    ggn = count if ggn is None else ggn
    return {kind: {b: {"count": float(c), "edge": 0.1, "dim": 5} for b in [*layers, "full"]}
            for kind, c in (("hessian", count), ("ggn", ggn))}


def per_seed(value, seeds=SEEDS):
    """``value`` for every seed, or the list given (one per seed)."""
    return list(value) if isinstance(value, (list, tuple)) else [value] * seeds


def make(*, shapes=None, rho=None, counts=None, arm_sets=None, w1=0.01, depth=0.5) -> Results:
    """Three networks (ReLU MLP, LeNet, tanh MLP) with three layers, over five spectra seeds;
    ``shapes`` / ``rho`` / ``counts``: model -> per-seed readings (the clear case by default)."""
    shapes = {m: [shape(0.05)] * SEEDS for m in ("mlp", "lenet5")} | (shapes or {})
    rho = {m: [rho_table(LAYERS[m])] * SEEDS for m in ("mlp", "lenet5")} | (rho or {})
    counts = {m: [outlier_tab(LAYERS[m], 10)] * SEEDS for m in LAYERS} | (counts or {})
    runs = {m: [{"layers": LAYERS[m], "num_classes": 10}] * SEEDS for m in LAYERS}
    dists = {m: {"sound": np.full((2, 3), w1), "authors": np.full((2, 3), w1 * 10)} for m in ("mlp", "lenet5")}
    near = {m: {"sound": {"end": ("fc2", depth), "sum": ("fc2", depth)}, "authors": {"end": (LAYERS[m][0], 0.0),
                                                                                      "sum": (LAYERS[m][0], 0.0)}}
            for m in ("mlp", "lenet5")}
    if arm_sets is None:
        arm_sets = {"digits": {"sgd": SGD, "sgd+trace": TRACE, "sgd+middle": MIDDLE}}
    return Results(spec_data="digits", reg_data={d: d for d in arm_sets}, seed_runs=runs, shapes=shapes, rho=rho,
                   outliers=counts, dists=dists, near=near, arm_sets=arm_sets)


def decided(results: Results, p=P) -> dict:
    return {c.id: c for c in hessian.claims(results, p)}


def test_every_claim_reproduces_on_a_clear_case_with_v1_beside():
    c = decided(make())
    assert list(c) == ["1.1", "1.2", "1.3", "1.4", "1.5", "1.6"]
    assert {k: v.verdict for k, v in c.items()} == {k: "reproduced" for k in c}
    assert {k: v.v1.verdict for k, v in c.items()} == {k: "reproduced" for k in c}
    assert all(v.change == CHANGES[k] and v.summary for k, v in c.items())
    assert (c["1.1"].value, c["1.1"].rule) == (5.0, ">= 4")                       # seeds where it holds
    assert c["1.1"].null == pytest.approx(0.4) and c["1.1"].null_label == NULLS["1.1"]
    assert c["1.5"].value == pytest.approx(2.0) and c["1.5"].mde == pytest.approx(2 * np.std(NOISE, ddof=1) / math.sqrt(5))
    assert c["1.5"].manipulation.passed
    assert c["1.6"].rule == ">= -0.5" and c["1.6"].value == pytest.approx(-0.1 - 2 * np.std(-2 * NOISE, ddof=1) / math.sqrt(5))
    assert [k for k, v in c.items() if v.null is not None] == list(NULLS)        # only 1.1's rule names a null


# --- 1.1 --------------------------------------------------------------------------------


def test_claim_1_1_not_reproduced_when_two_seeds_fail_and_inconclusive_when_one_is_unmeasured():
    two_fail = [shape(0.05)] * 3 + [shape(0.3)] * 2                   # 0.3 > 0.5 x 0.4
    c = decided(make(shapes={"lenet5": two_fail}))["1.1"]
    assert c.verdict == "not reproduced" and "holds in 3 of 5 seeds (needs 4)" in c.detail
    assert decided(make(shapes={"mlp": [shape(0.05)] * 4 + [shape(0.3)]}))["1.1"].verdict == "reproduced"
    c = decided(make(shapes={"mlp": [shape(0.05)] * 3 + [shape(math.nan), shape(0.05)]}))["1.1"]
    assert c.verdict == "reproduced"
    c = decided(make(shapes={"mlp": [shape(0.05)] * 3 + [shape(math.nan), shape(0.3)]}))["1.1"]
    assert c.verdict == "inconclusive"                                   # 3 hold, 1 unknown: 4 still possible


def _snap_run(layer_spectra, full):
    """A one-snapshot run whose blocks hold these exact eigenvalues."""
    blk = lambda e: {"eig": np.asarray(e, dtype=float), "dim": len(e)}
    return {"layers": list(layer_spectra), "num_classes": 10,
            "snapshots": [{**{l: blk(e) for l, e in layer_spectra.items()}, "full": blk(full)}]}


FULL = np.concatenate([np.zeros(150), np.geomspace(1e-5, 1e-2, 40), np.geomspace(0.5, 5.0, 10)])


def test_claim_1_1_fails_on_its_null_a_point_mass_at_zero_and_holds_on_the_full_shape():
    real = shape_readings(_snap_run({"fc1": FULL[::2] * 0.3, "fc2": FULL[1::2], "fc3": FULL * 2}, FULL))
    null = shape_readings(_snap_run({"fc1": np.zeros(100), "fc2": np.zeros(100), "fc3": np.zeros(200)}, FULL))
    goe = shape_readings(_snap_run({l: semicircle_quantiles(100) for l in ("fc1", "fc2", "fc3")}, FULL))
    assert real["median"] < 0.05 and real["null_min"] == pytest.approx(min(real["nulls"].values()))
    assert null["median"] == pytest.approx(real["nulls"]["point mass at zero"])  # the layers *are* the null
    assert goe["median"] == pytest.approx(real["nulls"]["GOE"], rel=0.05)
    assert decided(make(shapes={"mlp": [real] * 5, "lenet5": [real] * 5}))["1.1"].verdict == "reproduced"
    for spectra in (null, goe):
        c = decided(make(shapes={"mlp": [spectra] * 5, "lenet5": [real] * 5}))["1.1"]
        assert c.verdict == "not reproduced" and c.null == pytest.approx(real["null_min"])
    # v1's scaled W1 passes the point mass (the flaw v2 fixes): it is tiny for any spectrum near zero
    v1 = claims_v1(make(w1=0.003), P)[0]
    assert v1.verdict == "reproduced"


def test_shape_distance_on_exact_spectra():
    # log10 magnitudes over the top one, floored at 1e-6: [0, -1] vs [0, -1] -> 0; a point mass -> all at -6
    assert shape_distance(np.array([1.0, 0.1]), np.array([2.0, 0.2])) == pytest.approx(0.0)
    assert shape_distance(np.zeros(3), np.array([1.0, 0.1])) == pytest.approx((6 + 5) / 2)
    assert shape_distance(np.array([1.0, -0.01]), np.array([1.0, 1.0])) == pytest.approx(1.0)  # |-0.01| / 1 -> -2, W1 = 2 / 2
    q = semicircle_quantiles(4)
    assert q.shape == (4,) and np.allclose(q, -q[::-1]) and np.all(np.abs(q) < 2)


# --- 1.2 --------------------------------------------------------------------------------


def test_claim_1_2_depth_in_the_band_in_four_of_five_seeds():
    first = [shape(0.05, closest="fc1", depth=0.0)] * 2 + [shape(0.05)] * 3
    c = decided(make(shapes={"mlp": first}))["1.2"]
    assert c.verdict == "not reproduced" and "holds in 3 of 5 seeds" in c.detail
    c = decided(make(shapes={"lenet5": [shape(0.05)] * 3 + [shape(0.05, depth=math.nan)] * 2}))["1.2"]
    assert c.verdict == "inconclusive"
    assert "authors' measure" in decided(make())["1.2"].summary


def test_claim_1_2_fails_on_its_null_no_layer_closer_than_another():
    # equal distances: argmin is the first layer, depth 0 - a rule that names the middle only when it is closer
    flat = shape_readings(_snap_run({"fc1": FULL, "fc2": FULL, "fc3": FULL}, FULL))
    assert flat["closest"] == "fc1" and flat["closest_depth"] == 0.0
    assert decided(make(shapes={"mlp": [flat] * 5}))["1.2"].verdict == "not reproduced"


# --- 1.3 --------------------------------------------------------------------------------


def _series_run(values, layers=("fc1", "fc2", "fc3")):
    ep = list(range(len(values)))
    return {"layers": list(layers), "series_epochs": ep,
            "series": [{b: {"lmax": v, "trace": 2 * v} for b in [*layers, "full"]} for v in values]}


def test_spearman_table_one_sided_p_and_snapshots():
    t = spearman_table(_series_run([10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0.5]), skip=0.2)
    assert t["full"]["n"] == 8 and t["full"]["lmax"] == pytest.approx(-1.0)
    assert t["full"]["lmax_p"] == 0.0                                           # strictly monotone: t approximation at 0
    mid = spearman_table(_series_run([9, 10, 8, 9, 7, 8, 6, 7, 5, 6, 4]), skip=0.2)["full"]
    assert mid["lmax"] < -0.5 and 0.0 < mid["lmax_p"] < 0.05                         # a noisy fall, significant at 8 points
    up = spearman_table(_series_run(list(range(11))), skip=0.2)["full"]
    assert up["lmax"] == pytest.approx(1.0) and up["lmax_p"] == pytest.approx(1.0)
    flat = spearman_table(_series_run([1.0] * 11), skip=0.2)["full"]
    assert math.isnan(flat["lmax"]) and math.isnan(flat["lmax_p"])


def test_claim_1_3_needs_significance_in_four_seeds_and_most_layers():
    weak = [rho_table(LAYERS["mlp"], full=-0.6, pvalue=0.07)] * 5              # falls, but not significantly
    c = decided(make(rho={"mlp": weak}))["1.3"]
    assert c.verdict == "not reproduced" and "p = 0.07, 0.07" in c.detail
    c = decided(make(rho={m: [rho_table(LAYERS[m], layer=0.1)] * 5 for m in ("mlp", "lenet5")}))["1.3"]
    assert c.verdict == "not reproduced"                                         # the full Hessian falls, no layer does
    nan = [rho_table(LAYERS["lenet5"], full=math.nan, pvalue=math.nan)] * 2 + [rho_table(LAYERS["lenet5"])] * 3
    assert decided(make(rho={"lenet5": nan}))["1.3"].verdict == "inconclusive"


def test_claim_1_3_fails_on_its_null_a_series_without_trend():
    rng = np.random.default_rng(0)
    noise = [spearman_table(_series_run(rng.normal(5, 1, 11)), skip=0.2) for _ in range(5)]
    lenet = [spearman_table(_series_run(rng.normal(5, 1, 11), LAYERS["lenet5"]), skip=0.2) for _ in range(5)]
    c = decided(make(rho={"mlp": noise, "lenet5": lenet}))["1.3"]
    assert c.verdict == "not reproduced"
    falls = {m: [spearman_table(_series_run(10 - np.arange(11) + rng.normal(0, 0.1, 11), LAYERS[m]), skip=0.2)
                 for _ in range(5)] for m in ("mlp", "lenet5")}
    assert decided(make(rho=falls))["1.3"].verdict == "reproduced"


# --- 1.4 --------------------------------------------------------------------------------


def test_claim_1_4_on_the_smooth_mlp_and_the_slack():
    off = [outlier_tab(LAYERS["smooth"], 10, ggn=3)] * 5                         # tanh MLP: G has too few outliers
    c = decided(make(counts={"smooth": off}))["1.4"]
    assert c.verdict == "not reproduced" and "seed 0 (fails: tanh MLP G)" in c.detail
    assert decided(make(counts={"smooth": off}), P.replace(outlier_slack=7))["1.4"].verdict == "reproduced"
    near = [outlier_tab(LAYERS["mlp"], 12)] * 5                                  # C + 2
    assert decided(make(counts={"mlp": near}))["1.4"].verdict == "reproduced"
    unmeasured = [outlier_tab(LAYERS["mlp"], math.nan)] * 2 + [outlier_tab(LAYERS["mlp"], 10)] * 3
    assert decided(make(counts={"mlp": unmeasured}))["1.4"].verdict == "inconclusive"
    assert math.isnan(within_c(outlier_tab(["a"], math.nan), "hessian", ["a"], 10, 2))


def test_claim_1_4_fails_on_its_null_a_spectrum_without_outliers():
    assert decided(make(counts={m: [outlier_tab(LAYERS[m], 0)] * 5 for m in LAYERS}))["1.4"].verdict == "not reproduced"


# --- 1.5 and 1.6 ------------------------------------------------------------------------


def test_claim_1_5_paired_beyond_noise_with_the_manipulation_check():
    worse = arm(BASE - 1.0 + NOISE, 10.0 + NOISE)
    c = decided(make(arm_sets={"digits": {"sgd": SGD, "sgd+trace": worse, "sgd+middle": MIDDLE}}))["1.5"]
    assert (c.verdict, c.value) == ("not reproduced", pytest.approx(-1.0))
    noisy = arm(BASE + np.array([3.0, -2.5, 2.0, -1.0, 0.5]), 10.0 + NOISE)
    c = decided(make(arm_sets={"digits": {"sgd": SGD, "sgd+trace": noisy, "sgd+middle": MIDDLE}}))["1.5"]
    assert c.verdict == "inconclusive" and "underpowered: MDE" in c.detail and c.mde > 0.1
    untreated = arm(BASE + 2.0 + NOISE, 20.0 - NOISE)                            # +2 points, but the trace did not move
    c = decided(make(arm_sets={"digits": {"sgd": SGD, "sgd+trace": untreated, "sgd+middle": MIDDLE}}))["1.5"]
    assert c.verdict == "inconclusive" and "treatment inactive" in c.detail and not c.manipulation.passed
    two = {"sgd": SGD[:2], "sgd+trace": TRACE[:2], "sgd+middle": MIDDLE[:2]}
    assert decided(make(arm_sets={"digits": two}))["1.5"].verdict == "inconclusive"
    c = decided(make(arm_sets={"digits": {"sgd": SGD}}))["1.5"]
    assert c.verdict == "inconclusive" and math.isnan(c.value)


def test_claim_1_5_fails_on_its_null_identical_arms():
    same = arm(BASE, 20.0 + NOISE)
    c = decided(make(arm_sets={"digits": {"sgd": SGD, "sgd+trace": same, "sgd+middle": MIDDLE}}))["1.5"]
    assert c.verdict != "reproduced"


def test_claims_1_5_and_1_6_hold_only_on_every_data_set():
    bad = {"sgd": SGD, "sgd+trace": arm(BASE - 1.0 + NOISE, 10.0 + NOISE), "sgd+middle": arm(BASE - 3.0 + NOISE, 12.0 + NOISE)}
    r = make(arm_sets={"mnist10k": {"sgd": SGD, "sgd+trace": TRACE, "sgd+middle": MIDDLE}, "fashion-mnist": bad})
    c = decided(r)
    assert c["1.5"].verdict == c["1.6"].verdict == "not reproduced"
    assert "mnist10k: +2 points, reproduced" in c["1.5"].summary and "fashion-mnist: -1 points" in c["1.5"].summary
    by = hessian.claims_by_setting(r, P)
    assert [x.verdict for x in by["mnist10k"]] == ["reproduced", "reproduced"]


def test_claim_1_6_interval_rule_and_both_penalties_checked():
    def c16(middle):
        return decided(make(arm_sets={"digits": {"sgd": SGD, "sgd+trace": TRACE, "sgd+middle": middle}}))["1.6"]

    assert c16(MIDDLE).verdict == "reproduced"
    assert c16(arm(BASE + 0.5 + NOISE, 12.0 + NOISE)).verdict == "not reproduced"      # 1.5 below, interval below -0.5
    c = c16(arm(BASE + 1.6 + 6 * NOISE, 12.0 + NOISE))                                # straddles -0.5
    assert c.verdict == "inconclusive" and c.mde is not None
    c = c16(arm(BASE + 2.0 + NOISE, 20.0 - NOISE))                                    # as good, but untreated
    assert c.verdict == "inconclusive" and "sgd+middle lowered the final trace: no" in c.detail
    # v1 decided the same untreated comparison on a point estimate: "reproduced"
    assert c.v1.verdict == "reproduced"
    assert decided(make(arm_sets={"digits": {"sgd": SGD, "sgd+trace": TRACE}}))["1.6"].verdict == "inconclusive"


def test_claim_1_6_fails_on_its_null_an_untreated_middle_arm():
    # SGD itself as the "middle" arm, two points below the full penalty: not as good, and untreated
    assert decided(make(arm_sets={"digits": {"sgd": SGD, "sgd+trace": TRACE, "sgd+middle": SGD}}))["1.6"].verdict != "reproduced"


def test_v1_rules_are_kept_beside():
    c = {x.id: x for x in claims_v1(make(w1=0.5, depth=0.0), P)}
    assert c["1.1"].verdict == c["1.2"].verdict == "not reproduced"
    assert "authors' measure: fc1 at depth 0.00" in c["1.2"].detail
    worse = {"digits": {"sgd": SGD, "sgd+trace": arm(BASE - 2.0, 10.0 + NOISE), "sgd+middle": SGD}}
    assert claims_v1(make(arm_sets=worse), P)[4].verdict == "not reproduced"


def test_accuracy_gain_and_the_glued_regularizer_numbers():
    r = make()
    g = accuracy_gain(r)
    assert g.diff == pytest.approx(2.0)
    nums = hessian.tables.regularizer_numbers(r, P)
    assert nums["hessian-sgd-acc"] == pytest.approx(BASE.mean()) and nums["hessian-acc-diff"] == pytest.approx(2.0)
    assert nums["hessian-penalty-size"] == pytest.approx(P.gamma * 20.0)
    assert accuracy_gain(make(arm_sets={"digits": {"sgd": SGD}})) is None


# ---------------------------------------------------------------------------
# tables and helpers


def test_v2_tables_on_synthetic_results():
    r = make(shapes={"mlp": [shape(0.05)] * 4 + [shape(0.3, closest="fc1", depth=0.0)]})
    t = hessian.tables.shape_table(r, P)
    assert len(t) == 10 and t["holds"].tolist()[:5] == [True] * 4 + [False]
    assert t["threshold"].tolist()[0] == pytest.approx(0.2) and t["closest layer"].tolist()[4] == "fc1"
    s = hessian.tables.spearman_seeds(r, P)
    assert s["snapshots"].tolist() == [9] * 10 and s["layers falling significantly"].tolist() == [1.0] * 10
    o = hessian.tables.outlier_seeds(r, P)
    assert len(o) == 15 and set(o["network"]) == {"MLP", "LeNet", "tanh MLP"}
    pt = hessian.tables.paired_table(r)
    assert pt["accuracy (points)"].tolist() == pytest.approx([2.0, 1.9]) and pt["trace lower beyond noise"].tolist() == [True, True]


def test_per_seed_and_arm_tables():
    r = make(arm_sets={"digits": {"sgd": SGD[:3], "sgd+trace": arm([90.5, 90.0, 90.3])}})
    t = hessian.tables.per_seed_table(r)
    assert t["arm - SGD (points)"].tolist() == ["SGD + trace penalty"]
    assert t[["seed 1", "seed 2", "seed 3"]].to_numpy().round(6).tolist() == [[0.5, -0.3, 0.5]]
    a = hessian.tables.arm_table(r)
    assert a["test acc (%)"].tolist() == pytest.approx([90.0333333, 90.2666667]) and a["seeds"].tolist() == [3, 3]
    paper = hessian.tables.paper_table(r, P)
    assert paper["this run (cpu profile)"].tolist() == ["90.033 +- 0.252 % (3 seeds, digits)", "not run"]


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
                seeds=[0, 1, 2, 3, 4], spec_epochs=10, mlp_widths=[32, 32, 32], reg_datasets=["mnist10k", "fashion-mnist"],
                reg_overrides={"fashion-mnist": {"reg_epochs": 40, "gamma": 1e-5, "sp": 20}})


def gpu_results() -> Results:
    fashion = {"sgd": arm(BASE - 1.0), "sgd+trace": arm(BASE - 1.0 + NOISE, 20.0 - NOISE), "sgd+middle": MIDDLE}
    mnist = {"sgd": SGD, "sgd+trace": TRACE, "sgd+trace+l2": TRACE, "sgd+middle": MIDDLE}
    r = make(arm_sets={"mnist10k": mnist, "fashion-mnist": fashion})
    r.spec_data = "mnist10k"
    return r


def test_record_round_trip_and_text(tmp_path):
    results = gpu_results()
    claims = hessian.claims(results, GPU)
    rec = hessian.paper_scale_record(results, claims, GPU, device=torch.device("cpu"), seconds=600.0)
    assert rec["rules"] == "v2" and rec["arm_sets"]["mnist10k"]["sgd"]["acc"] == BASE.tolist()
    assert rec["params"]["reg_overrides"] == {"fashion-mnist": {"reg_epochs": 40, "gamma": 1e-5, "sp": 20}}
    ids = [(c["id"], c["setting"]) for c in rec["claims"]]
    assert ids == [("1.1", "mnist10k"), ("1.2", "mnist10k"), ("1.3", "mnist10k"), ("1.4", "mnist10k"),
                   ("1.5", "mnist10k"), ("1.6", "mnist10k"), ("1.5", "fashion-mnist"), ("1.6", "fashion-mnist")]
    by = {(c["id"], c["setting"]): c for c in rec["claims"]}
    assert by[("1.5", "mnist10k")]["verdict"] == "reproduced" and by[("1.5", "mnist10k")]["mde"] > 0
    assert by[("1.5", "fashion-mnist")]["verdict"] == "inconclusive" and by[("1.5", "fashion-mnist")]["manipulation"] is False
    assert by[("1.1", "mnist10k")]["v1"] == "reproduced"
    path = hessian.save_paper_scale(rec, tmp_path / "r" / "hessian-gpu.json")
    back = hessian.load_paper_scale(path)
    assert back["arm_sets"] == rec["arm_sets"] and back["params"]["seeds"] == [0, 1, 2, 3, 4]
    assert not list((tmp_path / "r").glob("*.tmp"))                       # written atomically
    assert hessian.paper_scale_verdicts(back)["1.5"] == [("mnist10k", "reproduced"), ("fashion-mnist", "inconclusive")]
    text = hessian.paper_scale_text(back)
    assert "98.750 +- 0.030" in text and "98.847 +- 0.019" in text         # the paper's numbers beside ours
    assert "90.080 +- 0.192" in text                                       # mean and sample std of the seeds
    assert "mnist10k:" in text and "fashion-mnist:" in text and "rules v2" in text and "NOT the paper's" not in text
    assert "1.5  inconclusive" in text and "[fashion-mnist]" in text and "92.080 +- 0.223" in text
    assert "fashion-mnist (the authors give no reference accuracy for it):" in text and "not the paper's 60,000" in text


def test_a_v1_record_says_it_is_not_the_papers_setting_and_gives_no_v2_verdicts():
    v1 = {"profile": "gpu", "date": "2026-11-01", "device": "cuda", "commit": "abc", "torch": "2.11", "seconds": 3240.0,
          "reg_data": "fashion-mnist", "spec_data": "fashion-mnist",
          "params": {k: getattr(GPU, k) for k in ("reg_model", "reg_epochs", "reg_batch_size", "reg_lr", "lr_gamma",
                                                  "num_probes", "freq", "sp", "seeds", "spec_epochs", "gamma")}
          | {"milestones": [10, 20]},
          "arms": {"sgd": {"acc": [90.0, 90.5], "lmax": [1.0, 1.0], "trace": [5.0, 5.0]}},
          "claims": [{"id": "1.5", "statement": "s", "value": 0.1, "rule": "> 0", "verdict": "reproduced"}]}
    assert "NOT the paper's setting" in hessian.paper_scale_text(v1) and hessian.paper_scale_verdicts(v1) == {}


def test_only_the_gpu_profile_writes_a_record(tmp_path):
    results = gpu_results()
    path = tmp_path / "hessian-gpu.json"
    assert hessian.record_gpu_run(results, [], P, device=torch.device("cpu"), seconds=1.0, path=path) is None
    assert not path.exists()
    claims = hessian.claims(results, GPU)
    assert hessian.record_gpu_run(results, claims, GPU, device=torch.device("cpu"), seconds=1.0, path=path) == path
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
