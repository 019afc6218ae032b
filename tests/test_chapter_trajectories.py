"""The trajectories chapter's claims(), fed synthetic runs: for each of 3.1-3.3 (v2, the headline)
a reproduced, a not-reproduced, an inconclusive and a null case; the manipulation check; the
per-kind and pooled verdicts of 3.2; the two protocols of 3.3; v1 beside v2; the v2 tables; the
gpu-profile record (built, saved, read back, shown); the schema's rules and every profile."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from landscape.chapters import trajectories as tj
from landscape.chapters.trajectories.claims import null_section, weakest_first
from landscape.chapters.trajectories.experiments import INITS, KINDS, PROTOCOLS, Results
from landscape.experiment.params import ParameterError
from landscape.experiment.stats import difference
from landscape.publishing.runner import load_profile, notebook_defaults

from conftest import REPO

DEFAULTS = notebook_defaults(REPO / tj.NOTEBOOK)
P = tj.SCHEMA.validate(DEFAULTS).replace(depths=[2, 3], depth=3, claim_init="small")
SEEDS = 10
#: each seed's own level of the effective rank, shared by every arm of that seed (the start): what pairing removes
BASE = 2.0 + 0.5 * np.random.default_rng(0).standard_normal(SEEDS)
#: a fixed zero-mean pattern of unit sample deviation-ish: per-seed differences rise + scatter * Z have SE = scatter / 3
Z = np.array([1.0, -1.0] * (SEEDS // 2))


def arm(rise: float = 0.0, success: float = 0.2, *, scatter: float = 0.0, roll: int = 0, seed: int = 0) -> dict:
    """A batch of SEEDS runs: effective rank BASE + rise + scatter * Z at every recorded iteration;
    the runs ``np.roll(first round(success * SEEDS), roll)`` end at the optimum (L* = 1, gap 0;
    the others gap 1); the loss path before the end jittered per ``seed`` (so that noise changed it)."""
    g = np.random.default_rng(seed)
    e = BASE + rise + scatter * Z
    ok = np.roll(np.arange(SEEDS) < round(success * SEEDS), roll)
    loss = np.where(ok, 1.0, 2.0)[:, None] * np.ones((SEEDS, 3))
    loss[:, :2] += 1.0 + 0.01 * g.random((SEEDS, 2))
    return {"effective_rank": np.repeat(e[:, None], 3, 1), "loss": loss, "loss_star": 1.0, "iteration": np.arange(3.0),
            "numerical_rank": np.full((SEEDS, 3), 3), "width": 3, "magnitude": 0.1, "start_norm": np.full(SEEDS, 1e-5)}


def section(rise: dict | float = 1.0, *, none_success=0.2, noise_success=0.8, scatter=0.01, roll=0) -> dict:
    """Noiseless runs and every kind of noise (rise per kind, or one for all)."""
    rise = rise if isinstance(rise, dict) else {k: rise for k in KINDS}
    out = {"none": arm(0.0, none_success)}
    out.update({k: arm(rise[k], noise_success, scatter=scatter, roll=roll, seed=i + 1) for i, k in enumerate(KINDS)})
    return out


GOOD = section(1.0)
FLAT = section({**{k: 1.0 for k in KINDS}, "label": 1e-4}, scatter=1e-4)   # label noise: a paired rise of ~1e-4
LOOSE = section(0.05, scatter=0.15)                                         # interval [-0.05, +0.15]: straddles 0, reaches 0.05


def results(syn: dict, *, by_norm: dict | None = None, by_fixed: dict | None = None, real: dict | None = None) -> Results:
    return Results(torch.zeros(1, 1), torch.zeros(1, 1), [2.0, 1.0], {init: syn for init in INITS}, {},
                   by_fixed or {2: syn, 3: syn}, {"small": real or syn, "ordinary": real or syn}, [], P.gap_tol, "small",
                   by_depth_norm=by_norm or {2: syn, 3: syn}, start_norm=1e-5)


def verdicts(r: Results, p=P) -> dict[str, str]:
    return {c.id: c.verdict for c in tj.claims(r, p)}


def by_id(r: Results, p=P) -> dict:
    return {c.id: c for c in tj.claims(r, p)}


# ---------------------------------------------------------------------------
# reproduced / not reproduced / inconclusive / null, per claim


def test_every_claim_reproduces_on_a_clear_case_with_v1_beside():
    cs = by_id(results(GOOD))
    assert {k: c.verdict for k, c in cs.items()} == {"3.1": "reproduced", "3.2": "reproduced", "3.3": "reproduced"}
    for c in cs.values():
        assert c.v1 is not None and c.v1.verdict == "reproduced" and c.change == tj.CHANGES[c.id]
        assert c.null is not None and c.null_fails and c.null_label and c.summary and c.mde is not None
    assert cs["3.1"].value == pytest.approx(1.0 - 2 * 0.01 / 3, abs=1e-9)      # the lower end of the paired interval
    assert cs["3.1"].extra["kinds"] == {k: "reproduced" for k in KINDS}
    assert cs["3.2"].extra["kinds"] == {k: "reproduced" for k in KINDS}
    assert set(tj.NULLS) == {"3.1", "3.2", "3.3"}


def test_claim_3_1_not_reproduced_for_a_kind_with_no_meaningful_rise_where_v1_was_inconclusive():
    cs = by_id(results(FLAT))
    c = cs["3.1"]
    assert c.verdict == "not reproduced" and c.extra["kinds"]["label"] == "not reproduced"
    assert all(v == "reproduced" for k, v in c.extra["kinds"].items() if k != "label")
    assert "label" in c.statement or "label" in c.detail.split(";")[0]        # the deciding (weakest) kind is shown first
    assert "no meaningful rise" in c.detail
    # v1's unpaired test cannot see it: the seeds' own levels (BASE) swamp a difference of 1e-4
    assert c.v1.verdict == "inconclusive"
    d = difference(FLAT["label"]["effective_rank"].mean(1), FLAT["none"]["effective_rank"].mean(1))
    assert not d.beyond


def test_claim_3_1_not_reproduced_for_a_kind_lower_beyond_noise():
    low = section({**{k: 1.0 for k in KINDS}, "dropout": -0.5})
    assert by_id(results(low))["3.1"].verdict == "not reproduced"


def test_claim_3_1_inconclusive_when_the_interval_straddles_zero_and_reaches_the_minimum_rise():
    c = by_id(results(LOOSE))["3.1"]
    assert c.verdict == "inconclusive" and c.value == pytest.approx(0.05 - 2 * 0.05, abs=1e-9)
    assert c.mde == pytest.approx(0.1, abs=1e-9) and "straddles" in c.detail


def test_claim_3_1_inactive_noise_is_inconclusive():
    sec = {**GOOD, "input": {**GOOD["input"], "loss": GOOD["none"]["loss"].copy()}}   # rank moved, loss path did not
    c = by_id(results(sec))["3.1"]
    assert c.verdict == "inconclusive" and c.extra["kinds"]["input"] == "inconclusive"
    assert "treatment inactive" in c.detail


def test_claim_3_1_fails_on_its_null_the_noiseless_run_against_itself():
    null = null_section(GOOD)
    assert all(null[k] is GOOD["none"] for k in KINDS)
    nulls = {c.id: c for c in tj.null_claims(results(GOOD), P)}
    assert nulls["3.1"].verdict == "not reproduced" and nulls["3.1"].value == 0.0
    c = by_id(results(null))["3.1"]                      # claims() fed the null: not reproduced (the check fails too)
    assert c.verdict != "reproduced" and c.null == 0.0 and c.null_fails


def test_claim_3_2_pooled_and_per_kind():
    assert by_id(results(GOOD))["3.2"].verdict == "reproduced"
    worse = section(1.0, none_success=0.8, noise_success=0.2)
    c = by_id(results(worse))["3.2"]
    assert c.verdict == "not reproduced" and c.value == pytest.approx(-0.6)
    assert c.extra["kinds"] == {k: "not reproduced" for k in KINDS}
    # two kinds carry it, three equal no noise: pooled reproduced, per kind reported
    mixed = {**section(1.0, none_success=0.2, noise_success=0.2)}
    mixed.update({k: arm(1.0, 1.0, seed=9 + i) for i, k in enumerate(("gradient", "weight"))})
    c = by_id(results(mixed))["3.2"]
    assert c.verdict == "reproduced" and c.value == pytest.approx(0.8 * 2 / 5)
    assert c.extra["kinds"]["gradient"] == "reproduced" and c.extra["kinds"]["input"] == "inconclusive"
    assert "input 0.20 (+0.00, inconclusive)" in c.summary


def test_claim_3_2_inconclusive_within_noise():
    same = section(1.0, none_success=0.5, noise_success=0.5, roll=1)   # per seed +-1 where the masks differ: mean 0
    c = by_id(results(same))["3.2"]
    assert c.verdict == "inconclusive" and c.value == 0.0 and c.mde > 0


def test_claim_3_2_fails_on_its_null():
    nulls = {c.id: c for c in tj.null_claims(results(GOOD), P)}
    assert nulls["3.2"].verdict != "reproduced" and nulls["3.2"].value == 0.0
    c = by_id(results(null_section(GOOD)))["3.2"]
    assert c.verdict != "reproduced" and c.null == 0.0 and c.null_fails


def test_claim_3_3_every_depth_of_the_primary_protocol_and_the_variant_beside():
    c = by_id(results(GOOD, by_norm={2: GOOD, 3: GOOD}, by_fixed={2: GOOD, 3: FLAT}))["3.3"]
    assert c.verdict == "reproduced" and c.variants == {PROTOCOLS[1]: "not reproduced"} and c.protocol_dependent
    assert c.extra["depths"][PROTOCOLS[1]] == {2: "reproduced", 3: "not reproduced"}
    assert c.v1.verdict == "inconclusive"                            # v1 decided on the fixed scale, unpaired
    c = by_id(results(GOOD, by_norm={2: GOOD, 3: FLAT}, by_fixed={2: GOOD, 3: GOOD}))["3.3"]
    assert c.verdict == "not reproduced" and c.extra["depths"][PROTOCOLS[0]] == {2: "reproduced", 3: "not reproduced"}
    assert c.variants == {PROTOCOLS[1]: "reproduced"} and c.protocol_dependent
    c = by_id(results(GOOD, by_norm={2: LOOSE, 3: GOOD}))["3.3"]
    assert c.verdict == "inconclusive"


def test_claim_3_3_fails_on_its_null():
    nulls = {c.id: c for c in tj.null_claims(results(GOOD), P)}
    assert nulls["3.3"].verdict == "not reproduced"
    null = null_section(GOOD)
    c = by_id(results(GOOD, by_norm={2: null, 3: null}))["3.3"]
    assert c.verdict != "reproduced" and c.null == 0.0 and c.null_fails


def test_claims_per_data_set_and_the_glue():
    r = results(GOOD, real=FLAT)
    by = tj.claims_by_setting(r, P)
    assert list(by) == ["synthetic", P.real_dataset]
    assert [c.verdict for c in by["synthetic"]] == ["reproduced", "reproduced"]
    assert by[P.real_dataset][0].verdict == "not reproduced"
    cs, nulls = tj.claims(r, P), tj.null_claims(r, P)
    glue = tj.claim_glue(cs, nulls)
    assert glue["claim-3.1-kind-label"] == "reproduced" and glue["claim-3.3-protocol-0"] == "reproduced"
    assert glue["claim-3.3-protocol-1-h3"] == "reproduced" and glue["claim-3.1-null-verdict"] == "not reproduced"


def test_v1_rules_are_kept_beside():
    v1 = {c.id: c for c in tj.claims_v1(results(FLAT), P)}
    assert v1["3.1"].verdict == "inconclusive"
    low = section({**{k: 2.5 for k in KINDS}, "label": -1.0}, none_success=0.8, noise_success=0.2)
    v1 = {c.id: c for c in tj.claims_v1(results(low), P)}
    assert {k: c.verdict for k, c in v1.items()} == {"3.1": "not reproduced", "3.2": "not reproduced", "3.3": "not reproduced"}
    assert v1["3.1"].value == pytest.approx(difference(low["label"]["effective_rank"].mean(1),
                                                       low["none"]["effective_rank"].mean(1)).diff)


def test_weakest_first_order():
    d = {"a": difference([1.0, 1.1, 1.2], [0.0, 0.0, 0.0]), "b": difference([0.1, 0.3, 0.2], [0.0, 0.0, 0.0]),
         "c": difference([-1.0, -1.1, -1.2], [0.0, 0.0, 0.0]), "d": difference([-0.2, -0.3, -0.4], [0.0, 0.0, 0.0])}
    assert [k for k, _ in weakest_first(d)] == ["c", "d", "b", "a"]


def test_v2_tables_on_synthetic_results():
    r = results(GOOD, by_norm={2: GOOD, 3: FLAT})
    kt = tj.tables.kind_table(FLAT, P)
    assert list(kt["noise"]) == list(KINDS) and kt.set_index("noise").loc["label", "3.1"] == "not reproduced"
    assert (kt["loss path changed"] == "yes").all() and "formats" in kt.attrs
    dt = tj.tables.depth_table(r, P)
    assert list(dt["protocol"]) == [PROTOCOLS[0]] * 2 + [PROTOCOLS[1]] * 2
    assert list(dt["verdict (every kind)"]) == ["reproduced", "not reproduced", "reproduced", "reproduced"]
    assert dt["weakest kind"].iloc[1].endswith("label")
    st = tj.tables.setting_table(r, P)
    assert list(st["claim"]) == ["3.1", "3.2", "3.1", "3.2"]
    nt = tj.tables.null_table(tj.null_claims(r, P))
    assert list(nt["claim"]) == ["3.1", "3.2", "3.3"] and (nt["the rule can fail"] == "yes").all()


# ---------------------------------------------------------------------------
# the gpu-profile record

GPU = tj.SCHEMA.validate({**DEFAULTS, **load_profile("gpu", REPO)["trajectories"], "profile": "gpu"}).replace(depths=[2, 3])


def test_record_round_trip_and_text(tmp_path):
    r = results(GOOD, real=FLAT, by_fixed={2: GOOD, 3: FLAT})
    cs = tj.claims(r, GPU)
    rec = tj.paper_scale_record(r, cs, GPU, device=torch.device("cpu"), seconds=540.0)
    assert rec["rules"] == "v2" and rec["settings"]["synthetic"]["none"]["er_mean"] == pytest.approx(BASE.tolist())
    ids = [(c["id"], c["setting"]) for c in rec["claims"]]
    assert ids == [("3.1", "synthetic"), ("3.2", "synthetic"), ("3.1", GPU.real_dataset), ("3.2", GPU.real_dataset),
                   ("3.3", "synthetic")]
    by = {(c["id"], c["setting"]): c for c in rec["claims"]}
    assert by[("3.1", GPU.real_dataset)]["verdict"] == "not reproduced" and by[("3.1", "synthetic")]["v1"] == "reproduced"
    assert by[("3.3", "synthetic")]["variants"] == {PROTOCOLS[1]: "not reproduced"} and by[("3.1", "synthetic")]["mde"] > 0
    path = tj.save_paper_scale(rec, tmp_path / "r" / "trajectories-gpu.json")
    back = tj.load_paper_scale(path)
    assert back["settings"] == json.loads(json.dumps(rec["settings"])) and back["params"]["seeds"] == list(GPU.seeds)
    assert not list((tmp_path / "r").glob("*.tmp"))
    v = tj.paper_scale_verdicts(back)
    assert v["3.1"] == [("synthetic", "reproduced"), (GPU.real_dataset, "not reproduced")] and v["3.3"] == [("synthetic", "reproduced")]
    text = tj.paper_scale_text(back)
    assert text.startswith("Run: gpu profile") and "rules v2" in text and "Claims decided in that run:" in text
    assert f"[{GPU.real_dataset}]" in text and "variants: fixed per-layer scale not reproduced" in text


def test_only_the_gpu_profile_writes_a_record(tmp_path):
    r = results(GOOD)
    path = tmp_path / "trajectories-gpu.json"
    assert tj.record_gpu_run(r, tj.claims(r, P), P, device=torch.device("cpu"), seconds=1.0, path=path) is None
    assert not path.exists()
    assert tj.record_gpu_run(r, tj.claims(r, GPU), GPU, device=torch.device("cpu"), seconds=1.0, path=path) == path
    assert tj.load_paper_scale(path)["params"]["iterations"] == GPU.iterations


def test_missing_foreign_or_v1_record():
    assert tj.paper_scale_verdicts(None) == {} and tj.paper_scale_verdicts({"rules": "v1", "claims": []}) == {}
    assert "No gpu-profile run is recorded" in tj.paper_scale_text(None)


def test_missing_or_unreadable_record_is_none(tmp_path):
    assert tj.load_paper_scale(tmp_path / "absent.json") is None
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert tj.load_paper_scale(bad) is None
    bad.write_text(json.dumps({"something": 1}))
    assert tj.load_paper_scale(bad) is None


# ---------------------------------------------------------------------------
# parameters


@pytest.mark.parametrize("change, names", [
    ({"planted_rank": 9}, "'planted_rank', 'd_in', 'd_out'"),
    ({"dead_units": 4, "width": 3}, "'dead_units', 'width'"),
    ({"record_every": 5000}, "'record_every', 'iterations'"),
])
def test_schema_rules_name_every_parameter(change, names):
    with pytest.raises(ParameterError, match=f"parameters {names}"):
        P.replace(**change)


def test_every_profile_validates_with_enough_seeds_and_the_gpu_profile_is_larger():
    for profile in ("smoke", "cpu", "gpu"):
        p = tj.SCHEMA.validate({**DEFAULTS, **load_profile(profile, REPO).get("trajectories", {}), "profile": profile})
        assert len(p.seeds) >= (3 if profile == "smoke" else 5)
    cpu = tj.SCHEMA.validate(DEFAULTS)
    assert len(GPU.seeds) > len(cpu.seeds) and GPU.width > cpu.width and GPU.real_dataset == "mnist10k"
    assert GPU.real_n_train > cpu.real_n_train and GPU.real_runs >= 10


def test_start_norm_is_the_small_starts_at_the_claims_depth():
    from landscape.chapters.trajectories.experiments import dims, start_norm
    p = P.replace(start_norm=None)
    assert start_norm(p) == pytest.approx(p.small_scale ** p.depth * np.sqrt(p.d_out))
    assert start_norm(p.replace(start_norm=1e-3)) == 1e-3
    assert dims(8, 8, 3, 3) == [8, 3, 3, 8]
