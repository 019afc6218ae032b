"""Tests of the DANTE chapter (landscape/chapters/dante/): its schema's rules; claims 2.1-2.3 on
synthetic results - v2, the headline, with each claim's reproduced / not reproduced /
inconclusive / null cases, the variant of 2.1/2.2 and v1 beside; the decision quantities
(paired gaps, the choice of rate and of backprop method on validation, time to target); the
timed loop of claim 2.3 against the shared loop; the small pieces of the experiments; and the
paper-scale record (built, saved, read back, shown)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from landscape.chapters import dante
from landscape.chapters.dante import experiments as ex
from landscape.chapters.dante.claims import CHANGES, NULLS, STATEMENTS, claims_v1
from landscape.chapters.dante.experiments import NULL_METHOD, MethodRuns, Results, Run, Timing, Training
from landscape.chapters.dante.schema import log_spaced
from landscape.chapters.dante.timing import reach, timed_fit
from landscape.experiment.params import ParameterError
from landscape.publishing.runner import load_profile, notebook_defaults, plan
from landscape.training import models
from landscape.training.data import DataSpec, load
from landscape.training.loop import History, backprop_step

REPO = Path(__file__).resolve().parent.parent
DEFAULTS = notebook_defaults(REPO / dante.NOTEBOOK)
P = dante.SCHEMA.validate(DEFAULTS)
SEEDS = 5


# --- the schema ----------------------------------------------------------------------------


def test_schema_accepts_the_notebook_and_every_profile():
    assert P.profile == "cpu" and len(P.seeds) == 5 and P.select_seeds == 1 and P.v1_seeds == 3
    assert len(P.lrs_sgd) == len(P.lrs_adam) == len(P.lrs_dante) == 6 and P.v1_lrs == (0.01, 0.1, 1.0)
    assert P.speed_min_seconds == 2.0 and P.speed_repeats == 3 and P.acc_margin == 2.0 and P.speed_ratio == 2.0
    for profile in ("smoke", "cpu", "gpu"):
        p = dante.SCHEMA.validate(plan(["dante"], profile, [], REPO)["dante"])
        assert len(p.seeds) >= (5 if profile != "smoke" else 2)
    gpu = dante.SCHEMA.validate(plan(["dante"], "gpu", [], REPO)["dante"])
    assert gpu.datasets == ("mnist10k", "fashion-mnist") and gpu.ae_widths == (500, 200) and gpu.ae_dataset == "mnist10k"
    assert gpu.workers == 1 and gpu.timing_workers == 1 and len(gpu.lrs_dante) == 6 and gpu.max_train is None


@pytest.mark.parametrize("changes, match", [
    ({"select_seeds": 6}, "'select_seeds', 'seeds'"),
    ({"v1_seeds": 6}, "'v1_seeds', 'seeds'"),
    ({"lrs_adam": [0.001, 0.003, 0.01, 0.03, 0.1]}, "the grids differ in size"),
    ({"lrs_sgd": [0.01, 0.03, 0.1], "lrs_adam": [0.001, 0.003, 0.01], "lrs_dante": [0.01, 0.03, 0.1]}, "fewer than 5 points"),
    ({"lrs_dante": [0.01, 0.03, 0.1, 0.3, 1.0, 1.5]}, "not log-spaced: lrs_dante"),
    ({"lrs_sgd": [3.0, 1.0, 0.3, 0.1, 0.03, 0.01]}, "not log-spaced: lrs_sgd"),
    ({"v1_lrs": [1.0, 0.1]}, "parameter 'v1_lrs'"),
])
def test_schema_refuses_each_rule_violation_naming_the_parameters(changes, match):
    with pytest.raises(ParameterError, match=match):
        P.replace(**changes)


def test_a_smoke_run_may_use_small_grids_of_one_size():
    q = P.replace(profile="smoke", lrs_sgd=[0.1, 1.0], lrs_adam=[0.001, 0.01], lrs_dante=[0.1, 1.0])
    assert len(q.lrs_adam) == 2


@pytest.mark.parametrize("name, value", [("lrs_dante", [0.1, 0.1]), ("activations", ["grelu", "grelu"]), ("sens_seeds", [0, 0]),
                                         ("seeds", [0, 1, 1, 2, 3]), ("datasets", ["digits", "digits"])])
def test_schema_rejects_repeated_entries(name, value):
    with pytest.raises(ParameterError, match=f"parameter '{name}'.*twice"):
        P.replace(**{name: value})


def test_log_spaced():
    assert log_spaced([0.0001, 0.0003, 0.001, 0.003, 0.01, 0.03]) and log_spaced([1.0]) and not log_spaced([0.0, 1.0])


# --- synthetic results: the smallest Results the claims read ------------------------------------

BASE = np.array([0.900, 0.905, 0.895, 0.902, 0.898])
NOISE = np.array([0.002, -0.002, 0.001, -0.001, 0.0])


def run_(test: float, val: float | None = None, *, diverged: bool = False, loss: float = 0.3) -> Run:
    val = test if val is None else val
    h = History([{"epoch": 0, "time": 0.0, "val_acc": 0.1, "train_eval_loss": 2.3},
                 {"epoch": 1, "time": 1.0, "val_acc": val, "train_eval_loss": loss}], diverged=diverged)
    return Run(h, math.nan if diverged else test)


def mr(tests, vals=None, *, lr=0.1, lrs=(0.01, 0.1, 1.0), variant=None, v1=None, diverged=()) -> MethodRuns:
    """A method whose runs at ``lr`` have these test (and validation) accuracies; ``variant`` /
    ``v1``: other accuracies at another rate that the "v1 grid" / "v1" protocols choose."""
    vals = tests if vals is None else vals
    runs = {lr: [run_(t, v, diverged=i in diverged) for i, (t, v) in enumerate(zip(tests, vals))]}
    chosen = {"v2": lr, "v1 grid": lr, "v1": lr}
    for proto, accs, other in (("v1 grid", variant, 0.01), ("v1", v1, 1.0)):
        if accs is not None:
            runs[other] = [run_(t) for t in accs]
            chosen[proto] = other
    return MethodRuns(tuple(lrs), runs, chosen)


def timed(t_reach: float, *, seconds: float = 3.0, per_batch: float = 1e-3, start: float = 0.1, end: float = 0.95) -> dict:
    """A timed run whose validation accuracy climbs linearly from ``start`` (t = 0) to ``end`` (t = ``t_reach``)."""
    return {"step": [0, 100, 200], "time": [0.0, t_reach, seconds], "cpu_time": [0.0, t_reach, seconds],
            "val_acc": [start, end, end], "seconds": seconds, "cpu_seconds": seconds,
            "batches": int(seconds / per_batch) if math.isfinite(seconds) else 0, "per_batch": per_batch, "epochs": 20, "diverged": False}


def never(seconds: float = 3.0) -> dict:
    return {**timed(1.0, seconds=seconds), "val_acc": [0.1, 0.2, 0.3]}


def config(dnt=0.0, *, sgd=0.0, adam=-0.01, noise=NOISE, null=-0.08, variant=None, v1=None, dnt_val=None):
    """SGD, Adam, DANTE and the null on one configuration: test accuracies BASE + offset (+ noise for DANTE)."""
    d = BASE + dnt + noise
    return {"SGD": mr(BASE + sgd), "Adam": mr(BASE + adam, lrs=(0.0003, 0.001, 0.003)),
            "DANTE": mr(d, dnt_val, variant=variant, v1=v1), NULL_METHOD: mr(BASE + null, lrs=(0.1,))}


def times(dnt=1.5, sgd=1.0, adam=2.0, repeats=3):
    return {"SGD": [timed(sgd)] * repeats, "Adam": [timed(adam)] * repeats, "DANTE": [timed(dnt)] * repeats}


def results(one=None, two=None, timing=None) -> Results:
    one = one or {"digits": {"sigmoid": config(), "grelu": config()}, "mnist10k": {"sigmoid": config(), "grelu": config()}}
    two = two or one
    timing = timing or {d: {n: {a: times() for a in by_a} for n, by_a in by.items()} for d, by in (("1", one), ("2", two))}
    return Results(present=list(one), missing={}, n_fit={n: 1000 for n in one}, n_val={n: 250 for n in one}, step_norm={},
                   one=one, two=two, timing=timing, subproblems={}, autoencoders={}, sensitivity={})


def decided(r: Results, p=P) -> dict:
    return {c.id: c for c in dante.claims(r, p)}


def with_case(case: dict, where=("mnist10k", "sigmoid")) -> dict:
    base = {"digits": {"sigmoid": config(), "grelu": config()}, "mnist10k": {"sigmoid": config(), "grelu": config()}}
    base[where[0]][where[1]] = case
    return base


# --- reproduced / not reproduced / inconclusive / null, per claim ------------------------------------


def test_every_claim_reproduces_on_a_clear_case_with_v1_and_the_variant_beside():
    c = decided(results())
    assert [c[i].verdict for i in ("2.1", "2.2", "2.3")] == ["reproduced"] * 3
    for i in ("2.1", "2.2"):
        assert c[i].v1.verdict == "reproduced" and c[i].change == CHANGES[i] and c[i].statement == STATEMENTS[i]
        assert c[i].variants == {"v1's 3-point grid": "reproduced"} and not c[i].protocol_dependent
        assert c[i].null is not None and c[i].null_fails and c[i].null_label == NULLS[i] and c[i].mde is not None
        assert c[i].rule == ">= -2" and c[i].summary.startswith("worst case")
    assert c["2.3"].value == pytest.approx(1.5) and c["2.3"].rule == "<= 2" and c["2.3"].null == math.inf and c["2.3"].null_fails
    assert set(NULLS) == {"2.1", "2.2", "2.3"}


def test_claim_2_1_is_the_interval_rule_on_paired_seeds():
    c = decided(results())["2.1"]
    d = ex.paired_gaps(results().one)[("digits", "sigmoid")]["diff"]
    assert d.paired and d.n_a == SEEDS and d.diff == pytest.approx(0.0, abs=1e-9)
    assert d.stderr == pytest.approx(100 * np.std(NOISE, ddof=1) / math.sqrt(SEEDS))
    assert c.value == pytest.approx(d.lower) and c.mde == pytest.approx(d.mde)


def test_claim_2_1_not_reproduced_when_the_whole_interval_is_below_the_margin():
    c = decided(results(with_case(config(-0.05))))["2.1"]
    assert c.verdict == "not reproduced" and c.value == pytest.approx(-5.0 - 2 * 100 * np.std(NOISE, ddof=1) / math.sqrt(5))
    assert c.summary.startswith("worst case mnist10k, sigmoid: DANTE - SGD -5.00 points")
    assert decided(results(with_case(config(-0.05))))["2.2"].verdict == "not reproduced"     # two hidden: the same runs here
    two_ok = results(with_case(config(-0.05)), two={"digits": {"sigmoid": config()}})
    assert decided(two_ok)["2.2"].verdict == "reproduced" and decided(two_ok)["2.1"].verdict == "not reproduced"


def test_claim_2_1_inconclusive_when_the_interval_straddles_the_margin_where_v1_said_reproduced():
    noisy = np.array([0.02, -0.02, 0.015, -0.015, 0.0])            # SE about 0.76 points: [-3.0, 0.0] around -1.5
    c = decided(results(with_case(config(-0.015, noise=noisy))))["2.1"]
    assert c.verdict == "inconclusive" and c.value < -2 < c.value + 2 * c.mde
    assert c.v1.verdict == "reproduced"                               # v1: -1.5 on the point estimate, within 2


def test_claim_2_1_fails_on_its_null_the_output_layer_alone():
    r = results()
    nulls = {n.id: n for n in dante.null_claims(r, P)}
    assert nulls["2.1"].verdict == nulls["2.2"].verdict == nulls["2.3"].verdict == "not reproduced"
    fed = {n: {a: {**by, "DANTE": by[NULL_METHOD]} for a, by in by_a.items()} for n, by_a in r.one.items()}
    c = decided(results(fed, fed))                                    # claims() fed the null: DANTE's runs are the null's
    assert c["2.1"].verdict == "not reproduced" and c["2.2"].verdict == "not reproduced"
    assert c["2.1"].null == pytest.approx(c["2.1"].value)


def test_the_variant_disagreeing_marks_the_claim_protocol_dependent():
    case = config(0.0, variant=BASE - 0.06)                           # v1's grid picks a rate 6 points worse
    c = decided(results(with_case(case)))["2.1"]
    assert c.verdict == "reproduced" and c.variants == {"v1's 3-point grid": "not reproduced"} and c.protocol_dependent
    glue = dante.claim_glue([c])
    assert glue["claim-2.1-variant-verdict"] == "not reproduced" and glue["claim-2.1-case"]


def test_backprop_is_chosen_on_validation_not_on_the_test_set():
    case = config(-0.015)
    case["Adam"] = mr(BASE + 0.01, BASE - 0.02)                       # Adam tests 1 point above SGD but validates lower
    g = ex.paired_gaps({"d": {"a": case}})[("d", "a")]
    assert g["best"] == "SGD" and g["diff"].diff == pytest.approx(-1.5)
    assert ex.accuracy_gaps_v1({"d": {"a": case}}, 3)[("d", "a")]["gap"] == pytest.approx(-2.5 + 100 * NOISE[:3].mean())


def test_a_diverged_run_counts_at_chance_level():
    case = config()
    case["DANTE"] = mr(BASE, diverged=(4,))
    acc = case["DANTE"].accuracies()
    assert acc[4] == pytest.approx(0.1) and acc[:4] == pytest.approx(BASE[:4])
    c = decided(results(with_case(case)))["2.1"]
    assert c.verdict == "inconclusive" and c.value < -30             # one seed at chance: -16 points on average, SE 16


def test_claim_2_2_inconclusive_with_too_few_seeds():
    two = {"digits": {"sigmoid": {m: MethodRuns(r.lrs, {lr: rs[:2] for lr, rs in r.runs.items()}, r.chosen)
                                  for m, r in config().items()}}}
    c = decided(results(two=two, timing={d: {"digits": {"sigmoid": times()}} for d in ("1", "2")},
                        one={"digits": {"sigmoid": config()}}))["2.2"]
    assert c.verdict == "inconclusive" and "too few seeds" in c.detail


# --- claim 2.3 ---------------------------------------------------------------------------------------


def speed(dnt=1.5, sgd=1.0, adam=2.0, **kw):
    one = {"digits": {"grelu": config()}}
    return results(one, one, {d: {"digits": {"grelu": times(dnt, sgd, adam, **kw)}} for d in ("1", "2")})


def test_claim_2_3_reproduced_not_reproduced_and_the_faster_backprop():
    c = decided(speed(1.5))["2.3"]
    assert c.verdict == "reproduced" and c.value == pytest.approx(1.5)          # against SGD, the faster
    assert "per-epoch cost ratio DANTE / SGD 1.00" in c.detail and c.extra["cost ratio"] == pytest.approx(1.0)
    assert decided(speed(2.5))["2.3"].verdict == "not reproduced"
    assert decided(speed(2.5, sgd=3.0, adam=1.5))["2.3"].value == pytest.approx(2.5 / 1.5)


def test_claim_2_3_takes_the_median_of_the_repeats():
    r = speed()
    r.timing["1"]["digits"]["grelu"]["DANTE"] = [timed(1.5), timed(9.0), timed(1.4)]   # one slow repeat (a loaded machine)
    row = ex.speed_rows(r.by_depth, r.timing, P.speed_fraction)[0]
    assert row["DANTE s"] == pytest.approx(1.5 * (0.95 * 0.9 - 0.1) / 0.85, rel=0.02) and row["ratio"] == pytest.approx(1.5)
    assert max(row["ratio per repeat"]) == pytest.approx(9.0)


def test_claim_2_3_inconclusive_when_dante_never_reaches_the_target_and_its_bound_is_within_the_rule():
    r = speed()
    for d in ("1", "2"):
        r.timing[d]["digits"]["grelu"]["DANTE"] = [never(seconds=1.2)] * 3
    c = decided(r)["2.3"]
    assert c.verdict == "inconclusive" and "target never reached by" in c.detail and math.isinf(c.extra["ratio high"])
    for d in ("1", "2"):
        r.timing[d]["digits"]["grelu"]["DANTE"] = [never(seconds=30.0)] * 3
    assert decided(r)["2.3"].verdict == "not reproduced"                         # even the lower bound is 30x


def test_claim_2_3_fails_on_its_null_the_untrained_network():
    r = speed()
    c = decided(r)["2.3"]
    assert c.null == math.inf and c.null_fails
    assert {n.id: n for n in dante.null_claims(r, P)}["2.3"].verdict == "not reproduced"
    for d in ("1", "2"):                                                            # claims() fed the null: never reached
        r.timing[d]["digits"]["grelu"]["DANTE"] = [never(seconds=math.inf)] * 3
    assert decided(r)["2.3"].verdict == "not reproduced"


def test_claim_2_3_summary_median_or_max():
    one = {"digits": {"grelu": config(), "sigmoid": config()}}
    timing = {"1": {"digits": {"grelu": times(0.5), "sigmoid": times(1.5)}},
              "2": {"digits": {"grelu": times(1.0), "sigmoid": times(5.0)}}}
    r = results(one, one, timing)
    assert decided(r)["2.3"].value == pytest.approx(1.25)                   # ratios 0.5, 1.5, 1, 5
    mx = decided(r, P.replace(speed_summary="max"))["2.3"]
    assert mx.value == pytest.approx(5.0) and mx.verdict == "not reproduced" and "max over configurations" in mx.statement


def test_v1_rules_are_kept_beside():
    v1 = {c.id: c for c in claims_v1(results(), P)}
    assert v1["2.1"].rule == ">= -2" and v1["2.1"].detail.startswith("worst:")
    assert v1["2.3"].statement.startswith("Time to 95% of the best final accuracy, per epoch")
    assert v1["2.3"].value == pytest.approx(1.0, rel=0.01)           # the accuracy runs' per-epoch times are all 1 s


def test_claims_per_data_set():
    by = dante.claims_by_setting(results(with_case(config(-0.05))), P)
    assert list(by) == ["digits", "mnist10k"]
    assert [c.verdict for c in by["digits"]] == ["reproduced"] * 3
    assert [c.verdict for c in by["mnist10k"]][:2] == ["not reproduced"] * 2


# --- decision quantities and the experiments' pieces ---------------------------------------------------


def test_choose_on_validation_or_by_training_loss_first_rate_on_a_tie():
    runs = {0.01: [run_(0.5, 0.80, loss=0.2)], 0.1: [run_(0.5, 0.90, loss=0.3)], 1.0: [run_(0.5, 0.90, diverged=True)]}
    assert ex.choose(runs, [0.01, 0.1, 1.0], 1, 10) == 0.1
    assert ex.choose(runs, [0.01, 0.1, 1.0], 1, 10, by="training loss") == 0.01
    tie = {0.01: [run_(0.5, 0.9)], 0.1: [run_(0.5, 0.9)]}
    assert ex.choose(tie, [0.01, 0.1], 1, 10) == 0.01
    assert mr(BASE, lr=0.01).at_edge and not mr(BASE).at_edge


def test_split_validation_is_stratified_disjoint_and_fixed():
    ds = load("digits")
    (xf, yf), (xv, yv) = ex.split_validation(ds.train, 0.2)
    assert len(yf) + len(yv) == len(ds.train[1]) and abs(len(yv) - 0.2 * len(ds.train[1])) <= 10
    assert (yv.bincount().float() / yf.bincount().float()).sub(0.25).abs().max() < 0.05
    rows = {tuple(r.tolist()) for r in xf.flatten(1)}
    assert not any(tuple(r.tolist()) in rows for r in xv.flatten(1)[:50])
    again = ex.split_validation(ds.train, 0.2)
    assert torch.equal(again[1][0], xv)


def test_time_to_target_interpolates_and_the_timed_reach():
    h = History([{"time": 0.0, "val_acc": 0.1}, {"time": 2.0, "val_acc": 0.5}, {"time": 4.0, "val_acc": 0.9}])
    assert ex.time_to_target(h, 0.7) == (3.0, True) and ex.time_to_target(h, 0.95) == (4.0, False)
    assert reach(timed(2.0), 0.525) == (pytest.approx(1.0), True) and reach(never(5.0), 0.9) == (5.0, False)


def test_timed_fit_follows_the_shared_loops_trajectory_and_runs_long_enough():
    """The timed run of a method is the accuracy run, evaluated more often: same start, same
    batches, the same weights after the same epochs - so its crossing belongs to the runs of 2.1."""
    spec = DataSpec("digits", n_train=200, n_test=50)
    setup = Training((8,), "grelu", 0.1, 0.0, 2, 32)
    for method in ("SGD", "DANTE"):
        acc = ex.train_run(data=spec, setup=setup, method=method, lr=0.1, seed=3, device="cpu")
        rec = ex.timing_run(data=spec, setup=setup, timing=Timing(eval_every=2, min_seconds=0.0, max_epochs=100), method=method,
                            lr=0.1, seed=3, repeat=0, device="cpu")
        last = History.from_dict(acc["history"]).last
        assert rec["epochs"] == 2 and rec["batches"] == 2 * math.ceil(acc["n_fit"] / 32)
        at_end = rec["val_acc"][rec["step"].index(rec["batches"])] if rec["batches"] in rec["step"] else None
        assert at_end == pytest.approx(last["val_acc"])                     # the same weights after 2 epochs
        assert rec["step"][1] == 2 and all(b >= a for a, b in zip(rec["time"], rec["time"][1:]))
    floor = 3 * rec["seconds"] + 0.05                                  # well beyond 2 epochs' time, on any machine
    long = ex.timing_run(data=spec, setup=setup, timing=Timing(eval_every=5, min_seconds=floor, max_epochs=10_000), method="SGD",
                         lr=0.1, seed=3, repeat=0, device="cpu")
    # the guarantee is the floor (how many epochs that takes depends on the machine's load: not asserted)
    assert long["seconds"] >= floor and long["per_batch"] == pytest.approx(long["seconds"] / long["batches"])


def test_timed_fit_warm_up_leaves_the_model_untouched():
    ds = load("digits", n_train=100, n_test=20)
    m1 = models.build("mlp", in_features=64, widths=[8], out_features=10, seed=0)
    m2 = models.build("mlp", in_features=64, widths=[8], out_features=10, seed=0)
    step = lambda m: backprop_step(torch.optim.SGD(m.parameters(), lr=0.1), torch.nn.functional.cross_entropy)
    kw = dict(epochs=1, min_seconds=0.0, max_epochs=1, batch_size=20, seed=0, eval_every=1, device="cpu")
    a = timed_fit(m1, step, ds.train, ds.test, warmup=3, **kw)
    b = timed_fit(m2, step, ds.train, ds.test, warmup=0, **kw)
    assert a["val_acc"] == b["val_acc"] and a["step"] == [0, 1, 2, 3, 4, 5]


def test_train_run_has_validation_curves_and_a_test_accuracy_read_once():
    r = ex.train_run(data=DataSpec("digits", n_train=100, n_test=50), setup=Training((8,), "grelu", 0.1, 0.0, 2, 32),
                     method="DANTE", lr=0.1, seed=0, device="cpu")
    h = History.from_dict(r["history"])
    assert h["epoch"] == [0, 1, 2] and "val_acc" in h.columns and "test_acc" not in h.columns
    assert r["n_fit"] + r["n_val"] == 100 and abs(r["n_val"] - 20) <= 3 and 0.0 <= r["test_acc"] <= 1.0
    assert r["updates"] == 2 * 3 * 2 and r["skipped"] == 0 and r["step_norm_rel_error"] < 1e-5   # 2 epochs x 3 batches x 2 layers


def test_the_null_trains_the_output_layer_only():
    spec, setup = DataSpec("digits", n_train=100, n_test=50), Training((8,), "sigmoid", 0.1, 0.0, 1, 32)
    r = ex.train_run(data=spec, setup=setup, method=NULL_METHOD, lr=0.1, seed=0, device="cpu")
    assert r["updates"] == 3                                              # one layer x 3 batches
    with pytest.raises(ValueError, match="Invalid method: 'x'"):
        ex.train_run(data=spec, setup=setup, method="x", lr=0.1, seed=0, device="cpu")


def test_compare_all_runs_every_protocol_and_the_null_on_a_tiny_case():
    spec = DataSpec("digits", n_train=100, n_test=50)
    cs = ex.cells({"digits": spec}, Training((8,), "sigmoid", 0.1, 0.0, 1, 50), activations=["sigmoid"], deep_widths=[8, 8])
    grids = {"SGD": (0.1, 1.0), "Adam": (0.001, 0.01), "DANTE": (0.1, 1.0)}
    out = ex.compare_all(cs, grids, v1_lrs=(0.01, 0.1), seeds=[0, 1, 2], select_seeds=1, v1_seeds=2, device="cpu")
    assert list(out) == ["1", "2"] and list(out["1"]["digits"]["sigmoid"]) == ["SGD", "Adam", "DANTE", NULL_METHOD]
    adam = out["1"]["digits"]["sigmoid"]["Adam"]
    assert set(adam.runs) == {0.001, 0.01, 0.1} and adam.best_lr in (0.001, 0.01) and adam.chosen["v1 grid"] in (0.01, 0.1)
    assert len(adam.at("v2")) == 3 and len(adam.at("v1 grid")) == 3 and len(adam.at("v1", 2)) == 2
    null = out["2"]["digits"]["sigmoid"][NULL_METHOD]
    assert null.best_lr == out["2"]["digits"]["sigmoid"]["DANTE"].best_lr and len(null.at()) == 3


def test_units_compute_each_call_once_and_read_cached_ones_without_processes(monkeypatch):
    kw = dict(data=DataSpec("digits", n_train=60, n_test=20), setup=Training((4,), "sigmoid", 0.1, 0.0, 1, 30), method="SGD",
              lr=0.1, seed=0, device="cpu")
    first = ex.train_run(**kw)                                          # now in the (test's private) cache
    monkeypatch.setattr(ex, "compute", lambda calls, workers: pytest.fail("a cached call went to a process pool"))
    units = ex.Units(workers=2)
    got = units.run([(ex.train_run, kw), (ex.train_run, kw)])
    assert got[0]["test_acc"] == got[1]["test_acc"] == first["test_acc"] and len(units.done) == 1


def test_subset_keeps_the_whole_split_when_the_bound_exceeds_it():
    whole = ex.subset("digits", None, 2000, 1000)
    assert (whole.n_train, whole.n_test) == (None, None)
    part = ex.subset("digits", None, 200, 50)
    assert (part.n_train, part.n_test) == (200, 50) and len(whole.load().train[1]) == 1438


def test_schedule_options():
    assert ex.schedule_options("batch", 5.0) == {"schedule": "batch", "order": "backward", "steps_per_layer": 1, "decay": None}
    assert ex.schedule_options("epoch", 5.0)["schedule"] == "epoch" and ex.schedule_options("batch-decay", 5.0)["decay"] == 5.0
    with pytest.raises(ValueError, match="Invalid schedule: 'x'"):
        ex.schedule_options("x", 1.0)


def test_segment_excess_and_the_step_norm_check():
    assert ex.segment_excess(torch.tensor([[1.0, 0.5, 2.0], [1.0, 3.0, 2.0]])).tolist() == [0.0, 1.0]
    errs = ex.step_norm_check(["sigmoid", "relu"])
    assert list(errs) == ["sigmoid", "relu"] and max(errs.values()) < 1e-12


def test_the_cache_keys():
    """Timings depend on the device: both classifier units keep it in the key; the timing session re-measures."""
    assert ex.train_run.ignored == () and ex.timing_run.ignored == () and ex.autoencoder_run.ignored == ("device",)
    kw = dict(data=DataSpec("digits", n_train=100, n_test=50), setup=Training((8,), "grelu", 0.1, 0.0, 1, 32), method="SGD",
              lr=0.1, seed=0, repeat=0, device="cpu")
    assert (ex.timing_run.path(**kw, timing=Timing(5, 2.0, 100)) != ex.timing_run.path(**kw, timing=Timing(5, 2.0, 100, session=1)))


def test_sensitivity_best_and_table():
    sens = {"batch": {0.1: [run_(0.0, 0.5)], 1.0: [run_(0.0, 0.7)]}, "epoch": {0.1: [run_(0.0, 0.9)], 1.0: [run_(0.0, 0.2)]}}
    assert ex.sensitivity_best(sens) == (0.9, "epoch", 0.1)
    df = dante.figures.sensitivity_table(sens)
    assert list(df.columns) == ["schedule", "step 0.1", "step 1"] and df["step 0.1"].tolist() == [0.5, 0.9]


def test_autoencoder_means():
    ae = {m: ex.AutoencoderRuns(0.1, {}, {}, [History([{"test_loss": v}]), History([{"test_loss": v + 0.02}])])
          for m, v in (("SGD", 0.05), ("Adam", 0.03), ("DANTE", 0.04))}
    means = ex.autoencoder_means(ae)
    assert means["DANTE"] == pytest.approx(0.05) and means["backprop"] == pytest.approx(0.04)


def test_v2_tables_on_synthetic_results():
    r = results(with_case(config(-0.05)))
    g = dante.figures.gaps_table(r.one, 2.0)
    assert list(g["verdict"]) == ["reproduced", "reproduced", "not reproduced", "reproduced"] and list(g["null"]) == ["not reproduced"] * 4
    assert g.attrs["formats"]["low"] == "{:+.2f}"
    s = dante.figures.seed_table(r.one)
    assert len(s) == 4 * SEEDS and s["DANTE - backprop"].iloc[0] == pytest.approx(100 * NOISE[0])
    assert set(dante.figures.summary_table(r.one, "1")["method"]) == {"SGD", "Adam", "DANTE", NULL_METHOD}
    assert list(dante.figures.lr_table(r.by_depth).columns)[:4] == ["hidden layers", "data", "activation", "SGD"]
    sp = dante.figures.speed_table(ex.speed_rows(r.by_depth, r.timing, 0.95))
    assert len(sp) == 8 and sp["ratio"].tolist() == pytest.approx([1.5] * 8) and sp["repeats"].iloc[0] == "1.50-1.50"


# --- the paper-scale record ---------------------------------------------------------------------


def test_record_round_trip_and_text(tmp_path):
    r = results(with_case(config(-0.05)))
    cs = dante.claims(r, P)
    gpu = P.replace(profile="gpu")
    rec = dante.paper_scale_record(r, cs, gpu, device=torch.device("cpu"), seconds=120.0)
    assert rec["rules"] == "v2" and rec["profile"] == "gpu" and len(rec["configs"]) == 8 and len(rec["speed"]) == 8
    path = dante.save_paper_scale(rec, tmp_path / "results" / "dante-gpu.json")
    back = dante.load_paper_scale(path)
    assert back["claims"] == rec["claims"]
    v = dante.paper_scale_verdicts(back)
    assert v["2.1"] == [("all data sets", "not reproduced"), ("digits (8x8)", "reproduced"), ("MNIST-10k", "not reproduced")]
    assert back["claims"][0]["v1"] == cs[0].v1.verdict and back["claims"][0]["variant"] == "not reproduced"
    assert back["claims"][2]["null"] == "inf"
    text = dante.paper_scale_text(back)
    assert "rules v2" in text and "2.1  not reproduced" in text and "[MNIST-10k]" in text
    null = back["claims"][0]["null"]
    assert f"null {null:.4g};" in text and repr(null) not in text and "null inf" in text  # four digits, not a float's repr


def test_only_the_gpu_profile_writes_a_record(tmp_path):
    r = results()
    cs = dante.claims(r, P)
    assert dante.record_gpu_run(r, cs, P, device=torch.device("cpu"), seconds=1.0, path=tmp_path / "x.json") is None
    assert not (tmp_path / "x.json").exists()
    out = dante.record_gpu_run(r, cs, P.replace(profile="gpu"), device=torch.device("cpu"), seconds=1.0, path=tmp_path / "x.json")
    assert out == tmp_path / "x.json" and dante.load_paper_scale(out)["rules"] == "v2"


def test_missing_foreign_or_v1_record(tmp_path):
    assert dante.load_paper_scale(tmp_path / "none.json") is None
    (tmp_path / "foreign.json").write_text('{"claims": [], "arms": {}}')
    assert dante.load_paper_scale(tmp_path / "foreign.json") is None
    assert dante.paper_scale_verdicts({"claims": [{"id": "2.1", "verdict": "reproduced"}]}) == {}
    assert "No gpu-profile run is recorded" in dante.paper_scale_text(None)
