"""Tests for the ADINE chapter (landscape/chapters/adine/): the schema and its
rules, the experiments' parts (saddle runs of ADINE, the quadratic, the
training measures), the tables, and the claims on synthetic results.

The constant-momentum runs and theory are the library's; their tests are in
tests/test_methods_adine.py."""

from __future__ import annotations

import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from landscape.chapters import adine
from landscape.chapters.adine import experiments as ex
from landscape.chapters.adine import figures
from landscape.chapters.adine.claims import speed_pairs
from landscape.experiment.params import ParameterError
from landscape.methods.adine import ADINE, momentum_descent
from landscape.publishing.runner import notebook_defaults
from landscape.training.data import DataSpec
from landscape.training.synthetic import TOY_FUNCTIONS, TOY_GRADIENTS

F64 = torch.float64
METHODS = adine.METHODS


def _defaults() -> dict:
    return notebook_defaults(Path(__file__).resolve().parent.parent / adine.NOTEBOOK)


def _params(**changes):
    return adine.SCHEMA.validate({**_defaults(), **changes}, allow_extra=False)


# --------------------------------------------------------------- parameters
def test_the_notebook_defaults_pass_every_rule():
    p = _params()
    assert p.m_g >= p.m_s and p.tune_seed not in p.seeds


@pytest.mark.parametrize("change, names", [
    ({"settings": ["mlp:imagenet"]}, ["settings"]),
    ({"sens_setting": "digits"}, ["sens_setting"]),
    ({"n_train": {"mlp:digits": 0}}, ["n_train"]),
    ({"n_test": {"mlp:cifar": 10}}, ["n_test"]),
    ({"epochs": {"mlp:digits": 2.5}}, ["epochs"]),
    ({"epochs": {"mlp:digits": 2}}, ["settings", "sens_setting", "epochs"]),
    ({"lrs_adam": [1e-3]}, ["lrs_sgd", "lrs_momentum", "lrs_adam"]),
    ({"lrs_momentum": [1e-3, 1e-2]}, ["lrs_sgd", "lrs_momentum", "lrs_adam"]),
    ({"m_g": 0.5}, ["m_s", "m_g"]),
    ({"sens_m_g": [0.5, 1.0]}, ["m_s", "sens_m_g"]),
    ({"tune_seed": 0}, ["tune_seed", "seeds"]),
    ({"saddle_momenta": [0.5, 0.9]}, ["saddle_momenta"]),
    ({"saddle_momenta": [1.0, 1.1]}, ["saddle_momenta"]),
    ({"quad_momenta": [0.9, 1.0]}, ["quad_momenta"]),
])
def test_the_schema_rejects_each_rule_violation_naming_its_parameters(change, names):
    quoted = ", ".join(repr(n) for n in names)
    with pytest.raises(ParameterError, match=f"^parameters? {quoted}: "):
        _params(**change)


def test_a_rule_error_says_what_is_wrong():
    with pytest.raises(ParameterError, match=r"no entry for lenet5:digits, mlp:mnist10k, lenet5:mnist10k"):
        _params(epochs={"mlp:digits": 2})
    with pytest.raises(ParameterError, match=r"\[0.5\] below m_s"):
        _params(sens_m_g=[0.5, 1.0])
    with pytest.raises(ParameterError, match=r"'mlp:imagenet' is not 'model:dataset'"):
        _params(settings=["mlp:digits", "mlp:imagenet"])


def test_the_profiles_validate():
    from landscape.publishing.runner import plan

    root = Path(__file__).resolve().parent.parent
    for profile in ("smoke", "cpu", "gpu"):
        assert adine.SCHEMA.validate(plan(["adine"], profile, [], root)["adine"]).profile == profile


# ------------------------------------------------------------------ saddles
def test_start_points_are_eps_away_and_seeded():
    a, b = ex.start_points(0.01, 6, 3), ex.start_points(0.01, 6, 3)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 0.01)
    assert not np.allclose(a, ex.start_points(0.01, 6, 4))


def test_adine_2d_with_equal_momenta_is_nesterov():
    """ADINE with m_g = m_s is Nesterov SGD: the same escape step as the library's momentum_descent."""
    start = ex.start_points(0.01, 1, 0)
    r = ex.adine_2d("monkey", start[0], lr=0.01, m_s=0.9, m_g=0.9, tolerance=1.0, weight=0.9, max_steps=3000)
    ref = momentum_descent(TOY_FUNCTIONS["monkey"], TOY_GRADIENTS["monkey"], start, [0.9], lr=0.01, max_steps=3000, record=[0])
    assert r["steps"] == ref["steps"][0] > 0
    np.testing.assert_allclose(r["path"], ref["paths"][0], rtol=1e-10, atol=1e-12)
    assert set(r["momenta"].tolist()) == {0.9}


def test_adine_2d_uses_m_g_while_the_loss_falls():
    r = ex.adine_2d("quadratic", [0.0, 0.01], lr=0.01, m_s=0.9, m_g=1.0001, tolerance=1.0, weight=0.9, max_steps=2000)
    assert r["steps"] > 0
    assert r["momenta"][0] == 0.9 and (r["momenta"][1:] == 1.0001).all()


def test_saddle_escape_runs_every_momentum_from_every_start():
    setup = ex.SaddleSetup(("quadratic",), (0.5, 1.05), "nesterov", 0.01, 0.01, 3, 0, 2000, "loss", 1.0)
    esc = ex.saddle_escape(setup=setup, switch=ex.Switch(0.9, 1.0001, 1.0, 0.9))
    r = esc["quadratic"]
    assert esc["starts"].shape == (3, 2) and r["steps"].shape == (2, 3) and len(r["paths"]) == 2
    ref = momentum_descent(TOY_FUNCTIONS["quadratic"], TOY_GRADIENTS["quadratic"], esc["starts"], [1.05] * 3, lr=0.01, max_steps=2000)
    assert r["steps"][1].tolist() == ref["steps"].tolist() and (r["steps"] > 0).all()
    assert r["adine_steps"].shape == (3,) and r["adine_momenta"][0] == 0.9


def test_escape_summary_censors_and_picks_the_best_each_side():
    esc = {"starts": np.zeros((3, 2)),
           "s": {"steps": np.array([[-1, -1, -1], [50, 60, -1], [10, 12, 14]]), "adine_steps": np.array([20, -1, 30])}}
    s = ex.escape_summary(esc, [0.0, 0.9, 1.1], max_steps=100)["s"]
    np.testing.assert_array_equal(s["median"], [101, 60, 12])
    assert s["censored"].tolist() == [True, False, False]
    assert s["best_below"] == (0.9, 60.0, False) and s["best_above"] == (1.1, 12.0, False)
    assert s["ratio"] == pytest.approx(0.2)
    assert s["adine_median"] == 30.0
    both = {"starts": np.zeros((1, 2)), "s": {"steps": np.array([[-1], [-1]]), "adine_steps": np.array([-1])}}
    assert math.isnan(ex.escape_summary(both, [0.5, 1.5], max_steps=10)["s"]["ratio"])


def test_quadratic_run_growth_matches_the_spectral_radius_without_overflow():
    run = ex.quadratic_run([1.0, 0.1, 0.01], [0.9, 1.05, 1.3], lr=0.1, steps=3000)
    assert np.isfinite(run["log10_norm"]).all()
    np.testing.assert_allclose(run["rate"], run["rho"], rtol=1e-3)
    assert run["log10_norm"][0, -1] < 0 < run["log10_norm"][1, -1] < run["log10_norm"][2, -1]
    assert run["log10_norm"][2, -1] > 300  # beyond float64's range without the rescaling


def test_quadratic_run_is_momentum_descent_on_the_quadratic():
    """One curvature: the log-norm of quadratic_run is that of the library's 2-D run on 0.5 h x^2."""
    h, lr, m, steps = 0.5, 0.1, 0.9, 60
    run = ex.quadratic_run([h], [m], lr=lr, steps=steps)
    fn = lambda p: 0.5 * h * p[..., 0] ** 2 + 0.0 * p[..., 1]
    grad = lambda p: torch.stack([h * p[..., 0], 0.0 * p[..., 1]], -1)
    ref = momentum_descent(fn, grad, np.array([[1.0, 0.0]]), [m], lr=lr, max_steps=steps, escape_by="distance",
                           escape_at=1e300, record=[0])
    np.testing.assert_allclose(run["log10_norm"][0], np.log10(np.abs(ref["paths"][0][:, 0])), rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------ training parts
def test_final_loss_is_infinite_for_a_diverged_or_short_run():
    assert ex.final_loss(np.array([3.0, 2.0, 1.0]), 2, 3) == 1.5
    assert ex.final_loss(np.array([3.0, 2.0]), 2, 3) == math.inf
    assert ex.final_loss(np.array([3.0, 2.0, np.nan]), 2, 3) == math.inf


def test_steps_to_is_the_first_step_of_the_trailing_mean_at_the_target():
    x = np.array([4.0, 2.0, 6.0, 0.0, 8.0])  # trailing means over 2: 4, 3, 4, 3, 4
    assert ex.steps_to(x, 3.0, 2) == 2 and ex.steps_to(x, 1.0, 2) is None
    assert ex.steps_to(x, 0.0, 1) == 4 and ex.steps_to(np.zeros(0), 1.0, 2) is None
    assert ex.steps_to(np.array([1.0, np.nan, 0.5]), 0.9, 1) is None  # a non-finite loss: the run never counts as reached


def _run(n, acc, total=100, diverged=False):
    """A run whose loss falls linearly from 1, reaching 0.5 at step n (clipped at 0.01)."""
    losses = np.clip(1 - 0.5 * np.arange(1, total + 1) / n, 0.01, None)
    return {"losses": torch.tensor(losses), "planned_steps": total, "momenta": torch.zeros(0),
            "history": {"columns": {"test_acc": [0.1, acc]}, "diverged": diverged, "message": ""}}


def _training(adine_steps, baseline_steps, accs):
    runs = {m: [_run(n, accs[m]) for n in (adine_steps if m == "adine" else baseline_steps)] for m in METHODS}
    return {"mlp:digits": {"tuning": {"lr": {m: 0.1 for m in METHODS}, "grid": {}, "losses": {}}, "runs": runs}}


def test_speed_table_counts_steps_to_the_target():
    tr = _training([20, 21, 22], [40, 41, 42], {m: 0.9 for m in METHODS})
    sp = ex.speed_table(tr, window=1, slack=57.0)  # the baselines end at 0.01 (clipped): target 0.57, reached at 0.86 n
    r = sp["mlp:digits"]
    assert r["target"] == pytest.approx(0.57) and r["final"]["nesterov"] == pytest.approx(0.01)
    assert r["steps"]["adine"].tolist() == [18, 19, 19] and r["steps"]["momentum"].tolist() == [35, 36, 37]
    assert not r["censored"]["adine"].any()


def test_speed_table_censors_runs_that_never_reach_the_target():
    tr = _training([20, 21, 22], [40, 41, 42], {m: 0.9 for m in METHODS})
    tr["mlp:digits"]["runs"]["adine"][0]["losses"] = torch.full((100,), 2.0, dtype=F64)
    sp = ex.speed_table(tr, window=1, slack=2.0)
    assert sp["mlp:digits"]["target"] == pytest.approx(0.02)
    assert sp["mlp:digits"]["steps"]["adine"][0] == 101 and sp["mlp:digits"]["censored"]["adine"][0]


def test_accuracy_table_gap_and_fraction_at_mg():
    accs = {"sgd": 0.8, "momentum": 0.9, "nesterov": 0.92, "adam": 0.91, "adine": 0.915}
    tr = _training([20, 21, 22], [40, 41, 42], accs)
    a = ex.accuracy_table(tr)["mlp:digits"]
    assert a["best"] == "nesterov" and a["gap_points"] == pytest.approx(-0.5)
    tr["mlp:digits"]["runs"]["adine"][0]["history"]["diverged"] = True
    assert ex.accuracy_table(tr)["mlp:digits"]["acc"]["adine"][0] == 0.0
    for x in tr["mlp:digits"]["runs"]["adine"]:
        x["momenta"] = torch.tensor([0.9, 1.0001, 1.0001, 0.9], dtype=F64)
    np.testing.assert_allclose(ex.fraction_at_mg(tr, 1.0001)["mlp:digits"], [0.5, 0.5, 0.5])


def test_equal_lr_speed_uses_a_target_per_learning_rate():
    line = lambda n: np.clip(1 - 0.5 * np.arange(1, 101) / n, 0.01, None)  # reaches 0.5 at step n
    tuning = {
        "lr": {}, "grid": {"momentum": [(0.1, 0.4), (0.3, math.inf)], "nesterov": [(0.1, 0.5), (0.3, 0.2)],
                         "adine": [(0.1, 0.3), (0.3, 0.1)]},
        "losses": {"momentum": [line(40), line(10)], "nesterov": [line(50), line(10)], "adine": [line(20), line(10)]},
    }
    rows = ex.equal_lr_speed({"mlp:digits": {"tuning": tuning, "runs": {}}}, window=1, slack=1.0)
    assert [r["lr"] for r in rows] == [0.1, 0.3]
    assert rows[0]["target"] == 0.5 and (rows[0]["momentum"], rows[0]["nesterov"], rows[0]["adine"]) == (40, 50, 20)
    assert rows[1]["target"] == math.inf and rows[1]["adine"] is None  # a baseline diverged there
    assert not rows[0]["trivial"] and rows[1]["trivial"]
    tuning["grid"]["momentum"][1] = (0.3, 5.0)  # no progress: the target lies above the first loss
    assert ex.equal_lr_speed({"mlp:digits": {"tuning": tuning, "runs": {}}}, window=1, slack=1.0)[1]["trivial"]
    assert ex.equal_lr_speed({"s": {"tuning": {"lr": {}, "grid": {}, "losses": {}}, "runs": {}}}, 1, 1.0) == []


def test_each_method_has_its_grid():
    p = _params()
    g = ex._grids(p)
    assert g["sgd"] == p.lrs_sgd and g["adam"] == p.lrs_adam
    assert g["momentum"] == g["nesterov"] == g["adine"] == p.lrs_momentum


def test_make_optimizer_builds_each_method():
    w = torch.nn.Parameter(torch.zeros(2))
    sw = ex.Switch(0.9, 1.0001, 1.0, 0.9)
    opts = {m: ex.make_optimizer(ex.Optim(m, 0.1, 0.9, sw), [w]) for m in METHODS}
    assert opts["nesterov"].defaults["nesterov"] and not opts["momentum"].defaults["nesterov"]
    assert opts["sgd"].defaults["momentum"] == 0 and opts["momentum"].defaults["momentum"] == 0.9
    assert isinstance(opts["adine"], ADINE) and opts["adine"].defaults["m_g"] == 1.0001
    assert isinstance(opts["adam"], torch.optim.Adam)
    with pytest.raises(ValueError, match="method"):
        ex.make_optimizer(ex.Optim("rmsprop", 0.1, 0.9, sw), [w])


def _setting(**kw):
    return ex.Setting("mlp:digits", "mlp", DataSpec("digits", n_train=64, n_test=32), (8,), kw.get("epochs", 2), 16)


def test_train_run_records_every_step_and_adine_momenta():
    setting, sw = _setting(), ex.Switch(0.9, 1.0001, 1.0, 0.9)
    r = ex.train_run(setting=setting, optim=ex.Optim("adine", 0.05, 0.9, sw), seed=0, device="cpu")
    assert r["planned_steps"] == 8 and r["losses"].shape == (8,) and torch.isfinite(r["losses"]).all()
    assert r["momenta"].shape == (8,) and set(r["momenta"].tolist()) <= {0.9, 1.0001}
    assert len(r["history"]["columns"]["test_acc"]) == 3
    same = ex.train_run(setting=setting, optim=ex.Optim("adine", 0.05, 0.9, sw), seed=0, device="cpu")
    torch.testing.assert_close(same["losses"], r["losses"])
    # ADINE with m_g = m_s is Nesterov: the same losses
    nes = ex.train_run(setting=setting, optim=ex.Optim("adine", 0.05, 0.9, replace(sw, m_g=0.9)), seed=0, device="cpu")
    ref = ex.train_run(setting=setting, optim=ex.Optim("nesterov", 0.05, 0.9, sw), seed=0, device="cpu")
    torch.testing.assert_close(nes["losses"], ref["losses"], rtol=1e-6, atol=1e-7)


def test_tune_picks_the_lowest_final_loss_and_equal_mode_runs_nothing():
    setting = _setting(epochs=1)
    optims = {m: ex.Optim(m, 0.0, 0.9, ex.Switch(0.9, 1.0001, 1.0, 0.9)) for m in METHODS}
    grids = {m: (1e-4, 0.1) for m in METHODS}
    t = ex.tune(setting, optims, grids=grids, seed=100, window=2, device="cpu")
    for m in METHODS:
        (lr_a, fa), (lr_b, fb) = t["grid"][m]
        assert t["lr"][m] == (lr_a if (fa, lr_a) < (fb, lr_b) else lr_b) and len(t["losses"][m]) == 2
    assert t["lr"]["sgd"] == 0.1  # 1e-4 barely moves plain SGD
    eq = ex.tune(setting, optims, grids=None, equal={m: 0.01 for m in METHODS}, seed=100, window=2, device="cpu")
    assert eq == {"lr": {m: 0.01 for m in METHODS}, "grid": {}, "losses": {}}


def test_run_on_a_tiny_profile_gives_the_results_the_claims_read():
    p = _params(seeds=[0, 1], saddle_functions=["quadratic"], saddle_momenta=[0.9, 1.05], saddle_starts=1, saddle_max_steps=300,
                quad_momenta=[0.9, 1.1], quad_steps=50, settings=["mlp:digits", "lenet5:cifar10"], mlp_widths=[4],
                epochs={"mlp:digits": 1, "lenet5:cifar10": 1}, n_train={"mlp:digits": 48}, n_test={"mlp:digits": 24},
                batch_size=16, lr_mode="equal", sens_setting="mlp:digits", sens_m_g=[0.9, 1.0001], sens_tolerance=[1.0],
                smooth_window=2)
    r = adine.run(p)
    assert list(r.training) == ["mlp:digits"] and "lenet5:cifar10" in r.skipped
    assert r.escape["quadratic"]["median"].shape == (2,) and r.quad_growth == pytest.approx(r.quad["log10_norm"][1, -1])
    assert r.sens_grid.shape == (2, 1) and r.sens_reference == pytest.approx(r.sens_grid[0, 0]) and r.sens_lr == p.lr_equal_sgd
    assert r.equal_lr == [] and 0.0 <= r.frac_mg <= 1.0
    assert [c.id for c in adine.claims(r, p)] == ["4.1", "4.2", "4.3", "4.4"]
    assert "skipped" in figures.lr_table(r).columns


# ------------------------------------------------------------------- tables
def _summary(ratios: dict[str, float]) -> dict:
    return {n: {"median": np.array([100.0, 100.0 * q]), "censored": np.array([False, False]), "best_below": (0.9, 100.0, False),
                "best_above": (1.05, 100.0 * q, False), "ratio": q, "adine_median": 50.0, "adine_censored": False}
            for n, q in ratios.items()}


def test_escape_tables_show_censored_medians_as_lower_bounds():
    s = _summary({"quadratic": 0.5})
    s["quadratic"]["censored"] = np.array([True, False])
    s["quadratic"]["median"] = np.array([301.0, 50.0])
    s["quadratic"]["best_below"] = (0.9, 301.0, True)
    p = _params(saddle_momenta=[0.9, 1.05], saddle_max_steps=300)
    t = figures.escape_table(adine.Results(escape=s), p)
    assert t.to_dict("list") == {"m": ["0.9", "1.05", "ADINE"], "quadratic": ["> 300", "50", "50"]}
    b = figures.escape_best_table(adine.Results(escape=s))
    assert b["iterations below"].tolist() == ["> 301"] and b["iterations above"].tolist() == ["50"]


def test_iterations_and_accuracy_tables():
    tr = _training([20, 21, 22], [40, 41, 42], {"sgd": 0.8, "momentum": 0.9, "nesterov": 0.92, "adam": 0.91, "adine": 0.915})
    tr["mlp:digits"]["runs"]["adine"][0]["losses"] = torch.full((100,), 2.0, dtype=F64)
    res = adine.Results(training=tr, speed=ex.speed_table(tr, window=1, slack=57.0), accuracy=ex.accuracy_table(tr))
    it = figures.iterations_table(res)
    assert it["ADINE"].tolist() == ["46*"] and it["momentum"].tolist() == ["36"]  # ADINE: (101 + 19 + 19) / 3, one censored
    acc = figures.final_accuracy_table(res)
    assert acc["Nesterov"].tolist() == ["92.0±0.0"] and acc["best"].tolist() == ["Nesterov"]
    assert acc["gap"].tolist() == [pytest.approx(-0.5)]
    assert figures.lr_table(res).to_dict("list") == {"setting": ["mlp:digits"], **{figures.SHORT[m]: [0.1] for m in METHODS}}


def test_equal_lr_table_marks_untrained_rows_and_the_equal_mode():
    rows = [{"setting": "s", "lr": 0.1, "target": 0.5, "trivial": False, "momentum": 40, "nesterov": None, "adine": 20},
            {"setting": "s", "lr": 0.3, "target": math.inf, "trivial": True, "momentum": None, "nesterov": None, "adine": None}]
    t = figures.equal_lr_table(adine.Results(equal_lr=rows))
    assert t[["momentum", "Nesterov", "ADINE"]].values.tolist() == [["40", "-", "20"], ["", "", ""]]
    assert t["note"].tolist() == ["", "the baselines did not train here"]
    assert figures.equal_lr_table(adine.Results())["note"].tolist() == ["lr_mode is 'equal': no tuning runs"]


def test_thin_keeps_the_ends_and_at_most_about_n_points():
    y = np.arange(1000.0)
    x, t = figures._thin(y, 400)
    assert x[0] == 1 and x[-1] == 1000 and t[-1] == 999.0 and len(x) <= 401
    np.testing.assert_array_equal(t, y[x - 1])
    x2, t2 = figures._thin(np.stack([y, 2 * y]), 400)
    np.testing.assert_array_equal(t2[1], 2 * t2[0])
    assert figures._thin(np.arange(5.0))[0].tolist() == [1, 2, 3, 4, 5]


# ------------------------------------------------------------------- claims
def _speed(adine_steps, momentum_steps, nesterov_steps, censored_adine=(False, False, False)):
    f = lambda v: np.array(v, dtype=float)
    return {"mlp:digits": {"target": 0.5, "final": {}, "steps": {"adine": f(adine_steps), "momentum": f(momentum_steps),
                                                                 "nesterov": f(nesterov_steps)},
                           "censored": {"adine": np.array(censored_adine), "momentum": np.zeros(3, bool), "nesterov": np.zeros(3, bool)}}}


def _accuracy(gaps: dict[str, float]) -> dict:
    return {s: {"acc": {}, "best": "nesterov", "gap_points": g} for s, g in gaps.items()}


def _results(ratios=None, growth=10.0, speed=None, gaps=None) -> adine.Results:
    return adine.Results(escape=_summary(ratios or {"quadratic": 0.5, "monkey": 0.3}),
                         quad={"rate": np.array([0.99, 1.01]), "rho": np.array([0.99, 1.01])}, quad_growth=growth,
                         speed=speed if speed is not None else _speed([20, 21, 22], [40, 41, 42], [50, 52, 54]),
                         accuracy=_accuracy(gaps or {"mlp:digits": 0.2, "lenet5:digits": -0.4}))


P = None


def _p(**changes):
    global P
    if P is None:
        P = _params(quad_momenta=[0.9, 1.01])
    return P.replace(**changes) if changes else P


def _claim(results, cid, **changes):
    return {c.id: c for c in adine.claims(results, _p(**changes))}[cid]


def test_the_claims_reproduce_on_results_that_show_the_effects():
    cl = adine.claims(_results(), _p())
    assert [(c.id, c.verdict) for c in cl] == [("4.1", "reproduced"), ("4.2", "reproduced"), ("4.3", "reproduced"), ("4.4", "reproduced")]
    c41, c42, c43, c44 = cl
    assert c41.value == 0.5 and c41.rule == "< 1"  # the worst saddle
    assert c42.value == 10.0 and c42.rule == "> 6" and "m=1.01: rate 1.0100 (rho 1.0100)" in c42.detail
    assert c43.value == pytest.approx(21 / 41) and c43.rule == "<= 0.8"  # the worst pair: against SGD + momentum
    assert c44.value == -0.4 and c44.rule == ">= -1"  # the worst setting
    assert c41.statement.startswith("m >= 1 escapes saddles") and "quadratic" in c41.detail and "monkey" in c41.detail


def test_claim_4_1_fails_on_one_slow_saddle_and_is_inconclusive_when_nothing_escaped():
    c = _claim(_results(ratios={"quadratic": 0.5, "degenerate": 1.2, "monkey": 0.3}), "4.1")
    assert c.verdict == "not reproduced" and c.value == 1.2
    c = _claim(_results(ratios={"quadratic": 0.5, "degenerate": math.nan}), "4.1")
    assert c.verdict == "inconclusive"
    # a failing saddle decides even when another one gave no number (all_of: any failure fails the claim)
    c = _claim(_results(ratios={"quadratic": 1.5, "degenerate": math.nan}), "4.1")
    assert c.verdict == "not reproduced" and c.value == 1.5


def test_claim_4_2_needs_growth_beyond_the_factor():
    assert _claim(_results(growth=5.0), "4.2").verdict == "not reproduced"
    assert _claim(_results(growth=5.0), "4.2", diverge_factor=1e4).verdict == "reproduced"
    assert _claim(_results(growth=math.nan), "4.2").verdict == "inconclusive"


def test_claim_4_3_every_pair_beyond_noise():
    # ADINE as fast as Nesterov: that pair is within noise, the other reproduces
    c = _claim(_results(speed=_speed([50, 52, 54], [100, 101, 102], [50, 52, 54])), "4.3")
    assert c.verdict == "inconclusive" and c.value == pytest.approx(1.0)  # equal means: not beyond noise
    c = _claim(_results(speed=_speed([80, 81, 82], [100, 101, 102], [40, 41, 42])), "4.3")
    assert c.verdict == "not reproduced" and c.value == pytest.approx(81 / 41) and "Nesterov" in c.detail
    # faster in the mean, but within the noise of the seeds
    c = _claim(_results(speed=_speed([5, 60, 25], [40, 41, 42], [45, 40, 50])), "4.3")
    assert c.verdict == "inconclusive" and "within 2 standard errors" in c.detail
    # too few seeds
    two = {"mlp:digits": {**_speed([20, 21, 22], [40, 41, 42], [50, 52, 54])["mlp:digits"]}}
    two["mlp:digits"]["steps"] = {k: v[:2] for k, v in two["mlp:digits"]["steps"].items()}
    assert _claim(_results(speed=two), "4.3").verdict == "inconclusive"


def test_speed_pairs_name_each_setting_and_baseline_and_count_censored_seeds():
    pairs = speed_pairs(_speed([20, 21, 22], [40, 41, 42], [50, 52, 54], censored_adine=(True, False, False)), 0.8)
    assert [c.statement for c in pairs] == ["mlp:digits vs SGD + momentum", "mlp:digits vs Nesterov"]
    assert [c.value for c in pairs] == [pytest.approx(21 / 41), pytest.approx(21 / 52)]
    assert pairs[0].extra["adine_censored"] == 1 and pairs[0].extra["baseline"] == "momentum"
    t = figures.speed_pairs_table(_results(speed=_speed([20, 21, 22], [40, 41, 42], [50, 52, 54])), _p())
    assert t["verdict"].tolist() == ["reproduced", "reproduced"] and t["baseline"].tolist() == ["momentum", "Nesterov"]


def test_claim_4_4_every_setting_within_the_margin():
    c = _claim(_results(gaps={"mlp:digits": 0.5, "lenet5:digits": -1.5}), "4.4")
    assert c.verdict == "not reproduced" and c.value == -1.5 and "lenet5:digits vs Nesterov" in c.detail
    assert _claim(_results(gaps={"mlp:digits": -1.5}), "4.4", acc_margin=2.0).verdict == "reproduced"
    assert _claim(_results(gaps={"mlp:digits": 0.5, "lenet5:digits": math.nan}), "4.4").verdict == "inconclusive"


def test_claims_without_any_training_setting_are_inconclusive():
    r = _results(speed={}, gaps={})
    r.accuracy = {}
    c43, c44 = _claim(r, "4.3"), _claim(r, "4.4")
    assert c43.verdict == c44.verdict == "inconclusive" and math.isnan(c43.value) and "no case" in c44.detail
