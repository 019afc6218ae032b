"""Tests of the DANTE chapter (landscape/chapters/dante/): its schema's rules, the
decision quantities (gaps, time to target, speed ratios) and claims 2.1-2.3 on
synthetic results, and the small pieces of its experiments."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from landscape.chapters import dante
from landscape.chapters.dante import experiments as ex
from landscape.chapters.dante.claims import STATEMENTS
from landscape.chapters.dante.experiments import MethodRuns, Results, Training
from landscape.experiment.params import ParameterError
from landscape.publishing.runner import notebook_defaults
from landscape.training.curves import first_reach
from landscape.training.data import DataSpec, load
from landscape.training.loop import History

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def params():
    """The notebook's parameters cell (the cpu profile), validated."""
    return dante.SCHEMA.validate(notebook_defaults(REPO / dante.NOTEBOOK))


# --- synthetic results -------------------------------------------------------------------


def history(acc: float, time: float = 1.0, *, start: float = 0.1, diverged: bool = False) -> History:
    """Two records: before training (``start``) and after one epoch (``acc`` at ``time`` seconds)."""
    return History([{"epoch": 0, "time": 0.0, "test_acc": start}, {"epoch": 1, "time": time, "test_acc": acc}], diverged=diverged)


def method(accs, times=None, *, diverged=()) -> MethodRuns:
    times = times or [1.0] * len(accs)
    runs = [history(a, t, diverged=i in diverged) for i, (a, t) in enumerate(zip(accs, times))]
    return MethodRuns(best_lr=0.1, train_loss={0.1: 0.5}, grid={0.1: runs[:1]}, runs=runs, num_classes=10)


def config(sgd, adam, dnt, times=(1.0, 1.0, 1.0), **kw) -> dict[str, MethodRuns]:
    """SGD, Adam and DANTE with three seeds each, at the given accuracies and (same per seed) times."""
    return {"SGD": method([sgd] * 3, [times[0]] * 3), "Adam": method([adam] * 3, [times[1]] * 3),
            "DANTE": method(dnt if isinstance(dnt, list) else [dnt] * 3, [times[2]] * 3, **kw)}


def results(one: dict, two: dict | None = None) -> Results:
    """The smallest Results the claims read: the two comparisons."""
    return Results(present=list(one), missing={}, n_train={}, step_norm={}, one=one, two=two if two is not None else one,
                   subproblems={}, autoencoders={}, sensitivity={})


GOOD = {"digits": {"sigmoid": config(0.90, 0.92, 0.915), "grelu": config(0.95, 0.93, 0.945)},
        "mnist10k": {"sigmoid": config(0.88, 0.89, 0.885), "grelu": config(0.90, 0.91, 0.90)}}


# --- the schema ----------------------------------------------------------------------------


def test_schema_accepts_the_notebook_and_the_profiles(params):
    from landscape.publishing.runner import plan

    assert params.select_seeds == 1 and params.seeds == (0, 1, 2)
    for profile in ("smoke", "cpu", "gpu"):
        dante.SCHEMA.validate(plan(["dante"], profile, [], REPO)["dante"])


def test_schema_rejects_more_selection_seeds_than_seeds(params):
    with pytest.raises(ParameterError, match=r"parameters 'select_seeds', 'seeds': select_seeds 4, seeds \[0, 1, 2\]") as e:
        params.replace(select_seeds=4)
    assert "at most the number of seeds" in str(e.value)
    assert params.replace(select_seeds=3).select_seeds == 3


@pytest.mark.parametrize("name, value", [("lrs", [0.1, 0.1]), ("activations", ["grelu", "grelu"]), ("sens_seeds", [0, 0]),
                                         ("sens_schedules", ["batch", "batch"]), ("datasets", ["digits", "digits"])])
def test_schema_rejects_repeated_entries(params, name, value):
    with pytest.raises(ParameterError, match=f"parameter '{name}'.*twice"):
        params.replace(**{name: value})


def test_schema_rejects_an_unknown_schedule(params):
    with pytest.raises(ParameterError, match="parameter 'dante_schedule'"):
        params.replace(dante_schedule="sometimes")


# --- decision quantities -----------------------------------------------------------------------


def test_accuracy_gaps_are_dante_minus_the_best_backprop_in_points():
    gaps = ex.accuracy_gaps(GOOD)
    assert list(gaps) == [("digits", "sigmoid"), ("digits", "grelu"), ("mnist10k", "sigmoid"), ("mnist10k", "grelu")]
    g = gaps[("digits", "sigmoid")]
    assert g["SGD"] == pytest.approx(90.0) and g["best backprop"] == pytest.approx(92.0) and g["gap"] == pytest.approx(-0.5)
    assert ex.worst_gaps(gaps) == pytest.approx({"sigmoid": -0.5, "grelu": -1.0})


def test_a_diverged_run_counts_at_chance_level():
    runs = [history(0.9), history(0.9, diverged=True)]
    assert ex.final_accuracies(runs, num_classes=10).tolist() == [0.9, 0.1]
    gaps = ex.accuracy_gaps({"d": {"a": config(0.9, 0.9, [0.9, 0.9, 0.9], diverged=(2,))}})
    assert gaps[("d", "a")]["DANTE"] == pytest.approx((0.9 + 0.9 + 0.1) / 3 * 100)


def test_time_to_target_interpolates_and_is_first_reach():
    h = History([{"time": 0.0, "test_acc": 0.1}, {"time": 2.0, "test_acc": 0.5}, {"time": 4.0, "test_acc": 0.9}])
    assert ex.time_to_target(h, 0.7) == (3.0, True)
    assert ex.time_to_target(h, 0.1) == (0.0, True)
    assert ex.time_to_target(h, 0.95) == (4.0, False)                 # never reached: the whole run, censored
    nan = History([{"time": 0.0, "test_acc": math.nan}, {"time": 1.0, "test_acc": 0.8}])
    assert ex.time_to_target(nan, 0.5) == (1.0, True) == first_reach([math.nan, 0.8], 0.5, times=[0.0, 1.0], interpolate=True)


def test_speed_ratios_take_the_faster_backprop_and_the_median_over_seeds():
    cfg = config(0.9, 0.9, 0.9, times=(2.0, 4.0, 3.0))
    cfg["DANTE"] = method([0.9, 0.9, 0.9], [1.0, 3.0, 10.0])
    rows = ex.speed_ratios({"1": {"digits": {"grelu": cfg}}}, 0.5)
    (row,) = rows
    # target 0.45: reached on the way from 0.1 (t=0) to 0.9 (t=T) at 0.4375 T
    assert row["target acc"] == pytest.approx(0.45)
    assert row["SGD s"] == pytest.approx(0.4375 * 2) and row["Adam s"] == pytest.approx(0.4375 * 4)
    assert row["DANTE s"] == pytest.approx(0.4375 * 3)                   # median of 1, 3, 10 seconds
    assert row["backprop s"] == row["SGD s"] and row["ratio"] == pytest.approx(1.5)
    assert row["not reached by"] == ""
    late = ex.speed_ratios({"1": {"d": {"a": config(0.9, 0.9, 0.5)}}}, 0.95)[0]
    assert late["not reached by"] == "DANTE" and late["DANTE s"] == 1.0   # censored at the run's whole time


# --- claims 2.1 and 2.2 ----------------------------------------------------------------------


def test_claims_2_1_and_2_2_reproduce_when_every_case_is_within_the_margin(params):
    c1, c2, _ = dante.claims(results(GOOD), params)
    assert (c1.id, c1.verdict, c1.op, c1.rule) == ("2.1", "reproduced", ">=", ">= -2")
    assert c1.value == pytest.approx(-1.0)                                # the worst case: mnist10k, grelu
    assert c1.detail.startswith("worst: mnist10k, grelu (DANTE 90.00 % vs best backprop 91.00 %)")
    assert c1.statement == STATEMENTS["2.1"]
    assert c2.id == "2.2" and c2.verdict == "reproduced" and c2.value == pytest.approx(-1.0)


def test_claim_2_1_is_not_reproduced_when_one_case_is_below_the_margin(params):
    one = {**GOOD, "mnist10k": {**GOOD["mnist10k"], "sigmoid": config(0.88, 0.89, 0.86)}}
    c1, c2, _ = dante.claims(results(one, GOOD), params)
    assert c1.verdict == "not reproduced" and c1.value == pytest.approx(-3.0)
    assert c1.detail.startswith("worst: mnist10k, sigmoid (DANTE 86.00 % vs best backprop 89.00 %)")
    assert "1 of 4 cases below -2 points; gaps: digits, sigmoid -0.50; digits, grelu -0.50; mnist10k, sigmoid -3.00; " \
           "mnist10k, grelu -1.00" in c1.detail                                # every case is listed
    assert c2.verdict == "reproduced"                                      # two hidden layers: the good results
    # the margin decides: 3 points below is within a margin of 3.5
    assert dante.claims(results(one, GOOD), params.replace(acc_margin=3.5))[0].verdict == "reproduced"


def test_claim_2_2_is_inconclusive_when_a_gap_is_not_a_number(params):
    """A run without a test accuracy gives no number: the claim cannot be decided, and shows the worst measured gap."""
    two = {**GOOD, "digits": {**GOOD["digits"], "grelu": config(0.95, 0.93, 0.945)}}
    two["digits"]["grelu"]["DANTE"].runs[0] = History([{"epoch": 0, "time": 0.0, "test_acc": math.nan}])
    _, c2, _ = dante.claims(results(GOOD, two), params)
    assert c2.verdict == "inconclusive" and c2.value == pytest.approx(-1.0)
    assert "0 of 4 cases below -2 points" in c2.detail and "digits, grelu +nan" in c2.detail


# --- claim 2.3 -------------------------------------------------------------------------------


def speedy(dante_time: float) -> dict:
    return {"digits": {"grelu": config(0.9, 0.9, 0.9, times=(2.0, 3.0, dante_time))}}


def test_claim_2_3_reproduces_when_dante_is_at_most_twice_as_slow(params):
    c = dante.claims(results(speedy(3.0)), params)[2]
    assert (c.id, c.verdict, c.rule) == ("2.3", "reproduced", "<= 2")
    assert c.value == pytest.approx(1.5)
    assert c.statement == "Time to 95% of the best final test accuracy: DANTE / backprop (median over configurations)"
    assert c.detail == "ratios 1.50 to 1.50 over 2 configurations"         # one and two hidden layers


def test_claim_2_3_is_not_reproduced_when_dante_is_slower(params):
    c = dante.claims(results(speedy(5.0)), params)[2]
    assert c.verdict == "not reproduced" and c.value == pytest.approx(2.5)


def test_claim_2_3_summary_median_or_max(params):
    one = {"digits": {"grelu": speedy(1.0)["digits"]["grelu"], "sigmoid": speedy(3.0)["digits"]["grelu"]}}
    two = {"digits": {"grelu": speedy(2.0)["digits"]["grelu"], "sigmoid": speedy(10.0)["digits"]["grelu"]}}
    med = dante.claims(results(one, two), params)[2]                       # ratios 0.5, 1.5, 1, 5
    assert med.value == pytest.approx(1.25) and med.verdict == "reproduced"
    mx = dante.claims(results(one, two), params.replace(speed_summary="max"))[2]
    assert mx.value == pytest.approx(5.0) and mx.verdict == "not reproduced"
    assert "max over configurations" in mx.statement


def test_claim_2_3_is_inconclusive_without_a_time(params):
    cfg = speedy(3.0)
    cfg["digits"]["grelu"]["DANTE"] = MethodRuns(0.1, {0.1: 0.5}, {}, [History([{"epoch": 0, "time": math.nan, "test_acc": 0.9}])] * 3)
    c = dante.claims(results(cfg), params)[2]
    assert c.verdict == "inconclusive" and math.isnan(c.value)


def test_claim_2_3_says_which_configurations_did_not_reach_the_target(params):
    cfg = {"digits": {"grelu": config(0.9, 0.9, [0.9, 0.9, 0.5], times=(2.0, 3.0, 3.0))}}
    c = dante.claims(results(cfg), params)[2]
    assert "target not reached within the budget by some seeds (1/digits/grelu: DANTE; 2/digits/grelu: DANTE)" in c.detail


# --- the experiments' pieces -------------------------------------------------------------------


def test_subset_keeps_the_whole_split_when_the_bound_exceeds_it():
    """As the chapter's v1 loader: a bound at or above the set's size is no bound (n_train=None)."""
    whole = ex.subset("digits", None, 2000, 1000)
    assert (whole.n_train, whole.n_test) == (None, None)
    part = ex.subset("digits", None, 200, 50)
    assert (part.n_train, part.n_test) == (200, 50)
    ds = whole.load()
    ref = load("digits", n_train=None, n_test=None, seed=0)
    assert torch.equal(ds.train[0], ref.train[0]) and torch.equal(ds.test[1], ref.test[1])
    assert len(ds.train[1]) == 1438


def test_schedule_options():
    assert ex.schedule_options("batch", 5.0) == {"schedule": "batch", "order": "backward", "steps_per_layer": 1, "decay": None}
    assert ex.schedule_options("forward", 5.0)["order"] == "forward"
    assert ex.schedule_options("epoch", 5.0)["schedule"] == "epoch"
    assert ex.schedule_options("batch-decay", 5.0)["decay"] == 5.0
    with pytest.raises(ValueError, match="Invalid schedule: 'x'"):
        ex.schedule_options("x", 1.0)


def test_segment_excess():
    losses = torch.tensor([[1.0, 0.5, 2.0], [1.0, 3.0, 2.0], [2.0, 2.5, 1.0]])
    assert ex.segment_excess(losses).tolist() == [0.0, 1.0, 0.5]


def test_train_run_keys_the_device_but_the_autoencoder_does_not():
    """train_run's history holds the wall times of claim 2.3: another device is another result."""
    assert ex.train_run.ignored == () and ex.autoencoder_run.ignored == ("device",)
    kw = dict(data=DataSpec("digits", n_train=100, n_test=50),
              setup=Training((8,), "grelu", 0.1, 0.0, 1, 32), method="DANTE", lr=0.1, seed=0)
    assert ex.train_run.path(**kw, device="cpu") != ex.train_run.path(**kw, device="cuda")


def test_a_small_dante_run_takes_steps_of_norm_eta():
    r = ex.train_run(data=DataSpec("digits", n_train=100, n_test=50), setup=Training((8,), "grelu", 0.1, 0.0, 2, 32),
                     method="DANTE", lr=0.1, seed=0, device="cpu")
    h = History.from_dict(r["history"])
    assert h["epoch"] == [0, 1, 2] and r["updates"] == 2 * 4 * 2 and r["skipped"] == 0   # 2 epochs x 4 batches x 2 layers
    assert r["step_norm_rel_error"] < 1e-5
    assert 0.0 <= h.last["test_acc"] <= 1.0


def test_step_norm_check_is_exact_in_float64():
    errs = ex.step_norm_check(["sigmoid", "relu"])
    assert list(errs) == ["sigmoid", "relu"] and max(errs.values()) < 1e-12


def test_sensitivity_best_and_table():
    sens = {"batch": {0.1: [history(0.5)], 1.0: [history(0.7)]}, "epoch": {0.1: [history(0.9)], 1.0: [history(0.2)]}}
    assert ex.sensitivity_best(sens) == (0.9, "epoch", 0.1)
    df = dante.figures.sensitivity_table(sens)
    assert list(df.columns) == ["schedule", "step 0.1", "step 1"] and df["step 0.1"].tolist() == [0.5, 0.9]


def test_autoencoder_means():
    ae = {m: MethodRuns(0.1, {}, {}, [History([{"test_loss": v}]), History([{"test_loss": v + 0.02}])])
          for m, v in (("SGD", 0.05), ("Adam", 0.03), ("DANTE", 0.04))}
    means = ex.autoencoder_means(ae)
    assert means["DANTE"] == pytest.approx(0.05) and means["backprop"] == pytest.approx(0.04)
    assert np.allclose(dante.figures.autoencoder_table(ae)["final test MSE"], [0.06, 0.04, 0.05])


def test_largest_excess_and_its_sentence():
    subs = {"sigmoid": {"excess": torch.tensor([0.0, 0.0]), "local": {"0.1": torch.tensor([0.0])}},
            "relu": {"excess": torch.tensor([0.0, 0.03]), "local": {"0.1": torch.tensor([0.01])}}}
    assert dante.figures.largest_excess(subs) == pytest.approx({"sigmoid": 0.0, "relu": 0.03})
    assert dante.figures.describe_excess(subs) == ("Between solutions, no excess above 1e-09: sigmoid; an excess: ReLU. "
                                                   "Near a solution (every radius), no excess: sigmoid.")
