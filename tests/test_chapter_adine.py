"""Tests for the ADINE chapter (landscape/chapters/adine/): the schema and its rules, the
experiments' parts (saddle runs over a learning-rate grid, the quadratic, the validation
split, the training runs and their continuation, the plateau and target readings), the
tables, the claims on synthetic results - for every claim a reproduced, a not-reproduced,
an inconclusive and a null case, its variant, and v1 beside - and the gpu record's round trip.

The constant-momentum runs and theory are the library's; their tests are in
tests/test_methods_adine.py."""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from landscape.chapters import adine
from landscape.chapters.adine import experiments as ex
from landscape.chapters.adine import figures, tables
from landscape.chapters.adine.claims import NULLS, accuracy_part, speed_pairs, speed_pairs_v1
from landscape.experiment.params import ParameterError
from landscape.methods.adine import ADINE, momentum_descent
from landscape.publishing.runner import notebook_defaults
from landscape.training.data import DataSpec
from landscape.training.synthetic import TOY_FUNCTIONS, TOY_GRADIENTS

F64 = torch.float64
METHODS = adine.METHODS
ROOT = Path(__file__).resolve().parent.parent


def _defaults() -> dict:
    return notebook_defaults(ROOT / adine.NOTEBOOK)


def _params(**changes):
    return adine.SCHEMA.validate({**_defaults(), **changes}, allow_extra=False)


# --------------------------------------------------------------- parameters
def test_the_notebook_defaults_pass_every_rule():
    p = _params()
    assert p.m_g >= p.m_s and p.tune_seed not in p.seeds and len(p.seeds) >= 5
    assert p.saddle_lr in p.saddle_lrs and len(p.lrs_sgd) == len(p.lrs_momentum) == len(p.lrs_adam) >= 5


@pytest.mark.parametrize("change, names", [
    ({"settings": ["mlp:imagenet"]}, ["settings"]),
    ({"sens_setting": "digits"}, ["sens_setting"]),
    ({"n_train": {"mlp:digits": 0}}, ["n_train"]),
    ({"n_test": {"mlp:cifar": 10}}, ["n_test"]),
    ({"epochs": {"mlp:digits": 2.5}}, ["epochs"]),
    ({"epochs": {"mlp:digits": 2}}, ["settings", "sens_setting", "epochs"]),
    ({"lrs_adam": [1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2]}, ["lrs_sgd", "lrs_momentum", "lrs_adam"]),
    ({"m_g": 0.5}, ["m_s", "m_g"]),
    ({"sens_m_g": [0.5, 1.0]}, ["m_s", "sens_m_g"]),
    ({"tune_seed": 0}, ["tune_seed", "seeds"]),
    ({"saddle_momenta": [0.5, 0.9]}, ["saddle_momenta"]),
    ({"saddle_momenta": [1.0, 1.1]}, ["saddle_momenta"]),
    ({"saddle_lr": 0.02}, ["saddle_lr", "saddle_lrs"]),
    ({"null_saddle_seed": 0}, ["saddle_seed", "null_saddle_seed"]),
    ({"quad_momenta": [0.9, 1.0]}, ["quad_momenta"]),
    ({"quad_momenta": [1.01, 1.1]}, ["quad_momenta"]),
    ({"epochs_cap": {"mlp:digits": 10}}, ["epochs_cap"]),
    ({"null_seeds": [5, 6]}, ["null_seeds", "seeds", "tune_seed"]),
    ({"null_seeds": [4, 5, 6, 7, 8]}, ["null_seeds", "seeds", "tune_seed"]),
    ({"seeds": [0, 1, 2], "null_seeds": [5, 6, 7]}, ["seeds", "profile"]),
])
def test_the_schema_rejects_each_rule_violation_naming_its_parameters(change, names):
    quoted = ", ".join(repr(n) for n in names)
    with pytest.raises(ParameterError, match=f"^parameters? {quoted}: "):
        _params(**change)


def test_a_grid_below_five_points_is_refused():
    with pytest.raises(ParameterError, match="parameter 'lrs_sgd': needs at least 5 entries"):
        _params(lrs_sgd=[0.1, 1.0], lrs_momentum=[0.01, 0.1], lrs_adam=[1e-3, 1e-2])
    with pytest.raises(ParameterError, match="saddle_lrs"):
        _params(saddle_lrs=[0.01, 0.1])


def test_a_rule_error_says_what_is_wrong():
    with pytest.raises(ParameterError, match=r"no entry for lenet5:digits, mlp:mnist10k"):
        _params(epochs={"mlp:digits": 2})
    with pytest.raises(ParameterError, match=r"\[0.5\] below m_s"):
        _params(sens_m_g=[0.5, 1.0])
    with pytest.raises(ParameterError, match=r"'mlp:imagenet' is not 'model:dataset'"):
        _params(settings=["mlp:digits", "mlp:imagenet"])
    with pytest.raises(ParameterError, match=r"'mlp:digits': 10 < 15 \(a cap below the epochs\)"):
        _params(epochs_cap={"mlp:digits": 10})
    with pytest.raises(ParameterError, match=r"\[4\] also among seeds or tune_seed"):
        _params(null_seeds=[4, 5, 6, 7, 8])
    assert _params(seeds=[0, 1, 2], null_seeds=[5, 6, 7], profile="smoke").profile == "smoke"  # smoke may run fewer


def test_the_profiles_validate_and_the_gpu_profile_is_the_papers_setting():
    from landscape.publishing.runner import plan

    got = {prof: adine.SCHEMA.validate(plan(["adine"], prof, [], ROOT)["adine"]) for prof in ("smoke", "cpu", "gpu")}
    assert all(q.profile == prof for prof, q in got.items())
    gpu = got["gpu"]
    assert set(gpu.settings) == {"mlp:mnist10k", "lenet5:mnist10k", "mlp:fashion-mnist", "lenet5:fashion-mnist"}
    assert all(gpu.epochs[s] >= 10 and gpu.epochs_cap[s] > gpu.epochs[s] for s in gpu.settings) and len(gpu.seeds) == 5
    assert not any("cifar" in s or s.endswith(":mnist") for s in gpu.settings)  # not available offline
    assert tuple(gpu.mlp_widths) == (512, 256) and gpu.n_train == {} and gpu.n_test == {}
    assert len(got["cpu"].seeds) == 5 and all(got["cpu"].epochs_cap[s] >= 2 * got["cpu"].epochs[s] for s in got["cpu"].settings)


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


def _setup(**kw):
    base = dict(functions=("quadratic",), momenta=(0.5, 0.9, 1.05), method="nesterov", lrs=(0.01, 0.03, 0.1), lr=0.01,
                eps=0.01, starts=3, seed=0, null_seed=1, max_steps=2000, escape_by="loss", escape_at=1.0)
    return ex.SaddleSetup(**{**base, **kw})


def test_saddle_escape_runs_every_momentum_and_learning_rate_from_every_start_and_the_null():
    setup = _setup()
    esc = ex.saddle_escape(setup=setup, switch=ex.Switch(0.9, 1.0001, 1.0, 0.9))
    r = esc["quadratic"]
    assert esc["starts"].shape == esc["null_starts"].shape == (3, 2) and not np.allclose(esc["starts"], esc["null_starts"])
    assert r["steps"].shape == (3, 3, 3) and r["null_steps"].shape == (2, 3, 3) and len(r["paths"]) == 3
    fn, grad = TOY_FUNCTIONS["quadratic"], TOY_GRADIENTS["quadratic"]
    for i, m in enumerate(setup.momenta):
        for j, lr in enumerate(setup.lrs):
            ref = momentum_descent(fn, grad, esc["starts"], [m] * 3, lr=lr, max_steps=2000)
            assert np.abs(r["steps"][i, j] - ref["steps"]).max() <= 1  # one run per row, up to rounding of the folded lr
    ref = momentum_descent(fn, grad, esc["null_starts"], [0.9] * 3, lr=0.1, max_steps=2000)
    assert np.abs(r["null_steps"][1, 2] - ref["steps"]).max() <= 1
    assert (r["steps"] > 0).all() and r["adine_steps"].shape == (3,) and r["adine_momenta"][0] == 0.9


def test_escape_summary_takes_each_m_at_its_best_lr_beside_the_fixed_lr_and_the_null():
    # momenta 0.5, 0.9, 1.1 x lrs 0.01, 0.1 x 3 starts
    steps = np.array([[[-1, -1, -1], [50, 60, 70]],
                      [[80, 90, 100], [20, 30, 40]],
                      [[10, 12, 14], [28, 30, 32]]])
    null = np.array([[[-1, -1, -1], [55, 65, 75]], [[85, 95, 99], [25, 36, 45]]])
    esc = {"starts": np.zeros((3, 2)), "null_starts": np.zeros((3, 2)),
           "s": {"steps": steps, "null_steps": null, "adine_steps": np.array([20, -1, 30])}}
    s = ex.escape_summary(esc, [0.5, 0.9, 1.1], [0.01, 0.1], 0.01, max_steps=100)["s"]
    np.testing.assert_array_equal(s["grid"], [[101, 60], [90, 30], [12, 30]])
    np.testing.assert_array_equal(s["median"], [60, 30, 12]) and np.testing.assert_array_equal(s["lr"], [0.1, 0.1, 0.01])
    assert s["best_below"] == (0.9, 0.1, 30.0, False) and s["best_above"] == (1.1, 0.01, 12.0, False)
    assert s["ratio"] == pytest.approx(0.4)
    assert s["fixed"]["best_below"] == (0.9, 0.01, 90.0, False) and s["fixed"]["ratio"] == pytest.approx(12 / 90)
    assert s["fixed"]["censored"].tolist() == [True, False, False]
    assert s["null_best"] == (0.9, 0.1, 36.0, False) and s["null_ratio"] == pytest.approx(36 / 30)
    assert s["adine_median"] == 30.0
    both = {"starts": 0, "null_starts": 0, "s": {"steps": np.full((2, 1, 1), -1), "null_steps": np.full((1, 1, 1), -1),
                                                   "adine_steps": np.array([-1])}}
    out = ex.escape_summary(both, [0.5, 1.5], [0.1], 0.1, max_steps=10)["s"]
    assert math.isnan(out["ratio"]) and math.isnan(out["null_ratio"])


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
def test_split_train_is_seeded_disjoint_and_keeps_the_order():
    x, y = torch.arange(50.0).reshape(50, 1), torch.arange(50)
    (tx, ty), (vx, vy) = ex.split_train((x, y), 0.2, 3)
    assert len(vy) == 10 and len(ty) == 40 and not set(ty.tolist()) & set(vy.tolist())
    assert ty.tolist() == sorted(ty.tolist()) and torch.equal(tx[:, 0].long(), ty)
    assert ex.split_train((x, y), 0.2, 3)[1][1].tolist() == vy.tolist() != ex.split_train((x, y), 0.2, 4)[1][1].tolist()


def test_final_loss_is_infinite_for_a_diverged_or_short_run():
    assert ex.final_loss(np.array([3.0, 2.0, 1.0]), 2, 3) == 1.5
    assert ex.final_loss(np.array([3.0, 2.0]), 2, 3) == math.inf
    assert ex.final_loss(np.array([3.0, 2.0, np.nan]), 2, 3) == math.inf


def test_steps_to_is_the_first_step_of_the_trailing_mean_at_the_target():
    x = np.array([4.0, 2.0, 6.0, 0.0, 8.0])  # trailing means over 2: 4, 3, 4, 3, 4
    assert ex.steps_to(x, 3.0, 2) == 2 and ex.steps_to(x, 1.0, 2) is None
    assert ex.steps_to(x, 0.0, 1) == 4 and ex.steps_to(np.zeros(0), 1.0, 2) is None
    assert ex.steps_to(np.array([1.0, np.nan, 0.5]), 0.9, 1) is None  # a non-finite loss: the run never counts as reached


def test_plateau_reads_the_change_over_the_last_share_of_the_epochs():
    falling = np.array([2.0, 1.0, 0.5, 0.25, 0.125])  # halves every epoch: never a plateau by the declared reading
    assert ex.plateau([falling], 0.2) == pytest.approx(0.5)
    assert ex.plateau([falling], 0.2, "first") == pytest.approx(0.125 / 2.0)
    flat = np.array([2.0, 1.0, 0.9, 0.9, 0.899])
    assert ex.plateau([flat, flat + 0.002], 0.4) == pytest.approx(abs(0.901 - 0.9) / 0.901)  # mean over seeds, k = 2
    assert ex.plateau([flat, np.array([2.0, np.nan])], 0.2) == pytest.approx(0.001 / 0.9)  # a diverged run left out
    assert ex.plateau([np.array([2.0, np.inf])], 0.2) == 0.0  # every run stopped: nothing more to wait for
    assert math.isnan(ex.plateau([np.array([2.0])], 0.2))  # one epoch: nothing to compare
    assert ex.budgets(4, 16) == [4, 8, 16] and ex.budgets(4, 4) == [4]


def _setting(epochs=2, cap=None, held_out="test"):
    return ex.Setting("mlp:digits", "mlp", DataSpec("digits", n_train=80, n_test=32), (8,), epochs, 16, 0.25, 0, held_out, 2,
                      cap if cap is not None else epochs)


def test_train_run_records_every_step_and_adine_momenta_on_the_training_split():
    setting, sw = _setting(), ex.Switch(0.9, 1.0001, 1.0, 0.9)
    r = ex.train_run(setting=setting, optim=ex.Optim("adine", 0.05, 0.9, sw), seed=0, device="cpu")
    assert r["planned_steps"] == 8 and r["losses"].shape == (8,) and torch.isfinite(r["losses"]).all()  # 60 of 80 images
    assert r["momenta"].shape == (8,) and set(r["momenta"].tolist()) <= {0.9, 1.0001}
    assert len(r["history"]["columns"]["test_acc"]) == 3 and r["epochs"] == 2 and r["state"].numel() == 0
    same = ex.train_run(setting=setting, optim=ex.Optim("adine", 0.05, 0.9, sw), seed=0, device="cpu")
    torch.testing.assert_close(same["losses"], r["losses"])
    nes = ex.train_run(setting=setting, optim=ex.Optim("adine", 0.05, 0.9, replace(sw, m_g=0.9)), seed=0, device="cpu")
    ref = ex.train_run(setting=setting, optim=ex.Optim("nesterov", 0.05, 0.9, sw), seed=0, device="cpu")
    torch.testing.assert_close(nes["losses"], ref["losses"], rtol=1e-6, atol=1e-7)  # ADINE with m_g = m_s is Nesterov
    val = ex.train_run(setting=_setting(held_out="val"), optim=ex.Optim("adine", 0.05, 0.9, sw), seed=0, device="cpu")
    torch.testing.assert_close(val["losses"], r["losses"])  # the same training, another held-out split
    assert val["history"]["columns"]["test_acc"] != r["history"]["columns"]["test_acc"]


@pytest.mark.parametrize("method", ["adine", "adam", "momentum"])
def test_a_doubled_budget_continues_the_shorter_run_and_equals_the_run_from_scratch(method):
    sw = ex.Switch(0.9, 1.0001, 1.0, 0.9)
    o = ex.Optim(method, 0.003 if method == "adam" else 0.05, 0.9, sw)
    s = _setting(cap=8)
    long = ex.train_run(setting=s.at(8), optim=o, seed=3, device="cpu")           # 2 -> 4 -> 8, continued
    scratch = ex.train_run.uncached(setting=replace(s, epochs=8, base=0, cap=0), optim=o, seed=3, device="cpu")
    assert torch.equal(long["losses"], scratch["losses"]) and torch.equal(long["momenta"], scratch["momenta"])
    for c in ("epoch", "step", "test_acc", "test_loss", "train_loss"):
        np.testing.assert_array_equal(long["history"]["columns"][c], scratch["history"]["columns"][c])
    assert long["planned_steps"] == 32 and long["state"].numel() == 0   # 16 > cap: not kept
    assert ex.train_run(setting=s.at(4), optim=o, seed=3, device="cpu")["state"].numel() > 0
    with pytest.raises(ValueError, match="power of 2"):
        ex.train_run.uncached(setting=s.at(6), optim=o, seed=3, device="cpu")


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


def test_each_method_has_its_grid():
    p = _params()
    g = ex._grids(p)
    assert g["sgd"] == p.lrs_sgd and g["adam"] == p.lrs_adam
    assert g["momentum"] == g["nesterov"] == g["adine"] == p.lrs_momentum


def _history(acc, loss, diverged=False):
    return {"columns": {"epoch": [0, 1], "test_acc": [0.1, acc], "test_loss": [2.3, loss], "train_loss": [math.nan, loss]},
            "diverged": diverged, "message": ""}


def test_tune_chooses_on_the_validation_split_by_accuracy_then_loss():
    setting = replace(_setting(epochs=1), held_out="val", base=1, cap=1)
    optims = {m: ex.Optim(m, 0.0, 0.9, ex.Switch(0.9, 1.0001, 1.0, 0.9)) for m in METHODS}
    grids = {m: (1e-4, 0.1, 0.3, 1.0, 3.0) for m in METHODS}
    t = ex.tune(setting, optims, grids=grids, seed=100, device="cpu")
    for m in METHODS:
        rows = t["grid"][m]
        assert t["lr"][m] == min(rows, key=lambda r: (-r[1], r[2], r[0]))[0] and len(rows) == 5
    with pytest.raises(ValueError, match="validation split"):
        ex.tune(_setting(epochs=1), optims, grids=grids, seed=100, device="cpu")
    runs = {m: [{"history": _history(a, l), "losses": torch.ones(3), "planned_steps": 3} for a, l in
                ((0.5, 1.0), (0.9, 0.4), (0.9, 0.3), (0.2, 2.0), (0.0, math.inf))] for m in METHODS}
    assert ex._choose(setting, optims, grids, runs)["lr"]["sgd"] == 0.3  # equal accuracy: the lower validation loss


def _line_run(n, total=100, level=0.01, acc=0.9, diverged=False):
    """A run whose loss falls linearly from 1, reaching 0.5 at step n (clipped at ``level``)."""
    losses = np.clip(1 - 0.5 * np.arange(1, total + 1) / n, level, None)
    return {"losses": torch.tensor(losses), "planned_steps": total, "momenta": torch.zeros(0),
            "history": _history(acc, float(losses[-1]), diverged)}


def test_speed_aims_at_the_median_final_loss_of_the_slowest_method():
    runs = {"adine": [_line_run(20, level=l) for l in (0.3, 0.4, 0.6)],       # the slowest: median final 0.4
            "momentum": [_line_run(40, level=0.01) for _ in range(3)], "nesterov": [_line_run(50, level=0.01) for _ in range(3)]}
    sp = ex.speed(runs, window=1)
    assert sp["slowest"] == "adine" and sp["target"] == pytest.approx(0.4)
    assert sp["steps"]["adine"].tolist() == [24.0, 24.0, 101.0] and sp["censored"]["adine"].tolist() == [False, False, True]
    assert sp["steps"]["momentum"].tolist() == [48.0] * 3   # 1 - 0.5 t / 40 <= 0.4 at t = 48
    dead = {m: [_line_run(20, total=50, diverged=True) | {"losses": torch.full((10,), math.nan)}] for m in ex.COMPARED}
    none = ex.speed(dead, window=1)
    assert none["slowest"] is None and math.isnan(none["target"]) and none["censored"]["adine"].all()


def test_speed_table_v1_targets_the_slower_baseline_with_slack():
    runs = {m: [_line_run(n) for n in ((20, 21, 22) if m == "adine" else (40, 41, 42))] for m in METHODS}
    sp = ex.speed_table_v1({"s": {"runs": runs}}, window=1, slack=57.0)["s"]  # the baselines end at 0.01: target 0.57
    assert sp["target"] == pytest.approx(0.57) and sp["steps"]["adine"].tolist() == [18, 19, 19]


def test_accuracy_picks_the_best_baseline_and_counts_a_diverged_run_as_zero():
    accs = {"sgd": 0.8, "momentum": 0.9, "nesterov": 0.92, "adam": 0.91, "adine": 0.915}
    runs = {m: [_line_run(20, acc=accs[m]) for _ in range(3)] for m in METHODS}
    a = ex.accuracy(runs)
    assert a["best"] == "nesterov" and a["gap_points"] == pytest.approx(-0.5)
    runs["adine"][0]["history"]["diverged"] = True
    assert ex.accuracy(runs)["acc"]["adine"][0] == 0.0


def test_grid_speed_reads_the_tuning_runs_at_each_learning_rate():
    line = lambda n, level=0.01: torch.tensor(np.clip(1 - 0.5 * np.arange(1, 101) / n, level, None))
    tuning = {"grid": {"adine": [(0.01, 0.9, 0.3), (0.1, 0.9, 0.3)]},
              "losses": {"adine": [line(20), line(10)], "momentum": [line(40, 0.25), line(10)], "nesterov": [line(50), line(10, 2.0)]},
              "planned": {m: [100, 100] for m in ex.COMPARED}}
    rows = ex.grid_speed({"s": {"tuning": tuning}}, window=1)
    assert rows[0]["target"] == 0.25 and (rows[0]["adine"], rows[0]["momentum"], rows[0]["nesterov"]) == (30, 60, 75)
    assert rows[1]["trivial"]  # Nesterov never trained there: the target is its first loss


def test_run_on_a_tiny_profile_gives_the_results_the_claims_read():
    p = _params(profile="smoke", seeds=[0, 1, 2], null_seeds=[5, 6, 7], saddle_functions=["quadratic"], saddle_momenta=[0.9, 1.05],
                saddle_lrs=[0.003, 0.01, 0.03, 0.1, 0.3], saddle_starts=1, saddle_max_steps=300, quad_momenta=[0.9, 1.1],
                quad_steps=50, settings=["mlp:digits", "lenet5:cifar10"], mlp_widths=[4], epochs={"mlp:digits": 1, "lenet5:cifar10": 1},
                epochs_cap={"mlp:digits": 2}, n_train={"mlp:digits": 48}, n_test={"mlp:digits": 24}, batch_size=16,
                sens_setting="mlp:digits", sens_m_g=[0.9, 1.0001], sens_tolerance=[1.0], smooth_window=2)
    r = adine.run(p)
    assert list(r.training) == ["mlp:digits"] and "lenet5:cifar10" in r.skipped
    o = r.training["mlp:digits"]
    assert sorted(o["by_budget"]) == [1, 2][: len(o["by_budget"])] and o["equal_lr"] == o["tuning"]["lr"]["momentum"]
    assert len(o["null"]) == 3 and all(len(v) == 3 for v in o["runs"].values())
    assert r.escape["quadratic"]["median"].shape == (2,) and r.quad_growth == pytest.approx(r.quad["log10_norm"][1, -1])
    assert r.quad_null == pytest.approx(r.quad["log10_norm"][0, -1])
    assert r.sens_grid.shape == (2, 1) and r.sens_reference == pytest.approx(r.sens_grid[0, 0])
    assert r.sens_lr == o["tuning"]["lr"]["adine"] and 0.0 <= r.frac_mg <= 1.0
    cl = adine.claims(r, p)
    assert [c.id for c in cl] == ["4.1", "4.2", "4.3", "4.4"] and all(c.v1 is not None for c in cl)
    assert "skipped" in tables.lr_table(r).columns and len(tables.grid_speed_table(r)) == 5


# ------------------------------------------------------- synthetic results
def _esc(ratio=0.5, fixed=0.3, null=1.2, below=100.0):
    side = lambda m, v: (m, 0.1, v, False)
    return {"ratio": ratio, "best_below": side(0.9, below), "best_above": side(1.05, below * ratio),
            "fixed": {"ratio": fixed, "best_below": side(0.9, 200.0), "best_above": side(1.05, 200.0 * fixed),
                      "median": np.array([200.0, 200.0 * fixed]), "censored": np.array([False, False])},
            "null_ratio": null, "null_best": side(0.5, below * null), "median": np.array([below, below * ratio]),
            "censored": np.array([False, False]), "lr": np.array([0.1, 0.1]), "adine_median": 50.0, "adine_censored": False,
            "grid": np.array([[below], [below * ratio]]), "grid_censored": np.zeros((2, 1), bool)}


def _sp(adine_steps, momentum_steps, nesterov_steps, target=0.5, slowest="momentum"):
    f = lambda v: np.array(v, dtype=float)
    steps = {"adine": f(adine_steps), "momentum": f(momentum_steps), "nesterov": f(nesterov_steps)}
    return {"target": target, "slowest": slowest, "final": {}, "steps": steps, "censored": {m: np.zeros(len(v), bool) for m, v in steps.items()}}


def _acc(adine_points, best_points, best="nesterov"):
    a = {m: np.array(best_points if m == best else [80.0] * len(best_points)) / 100 for m in ex.BASELINES}
    a["adine"] = np.array(adine_points) / 100
    return {"acc": a, "best": best, "gap_points": float(np.mean(adine_points) - np.mean(best_points))}


FAST = ([20, 21, 22, 20, 23], [40, 41, 42, 43, 40], [50, 52, 54, 51, 50])
SLOW = ([80, 81, 82, 80, 83], [40, 41, 42, 43, 40], [40, 42, 41, 44, 40])
SAME = ([90.1, 91.0, 89.9, 90.6, 90.2], [90.0, 91.0, 90.1, 90.5, 90.3])   # ADINE about the best: a tight interval above -1
WORSE = ([87.0, 88.1, 86.9, 87.6, 87.3], [90.0, 91.0, 90.1, 90.5, 90.3])  # three points below: interval below -1
NOISY = ([85.0, 95.0, 88.0, 93.0, 86.0], [90.0, 91.0, 90.1, 90.5, 90.3])  # the interval straddles -1
ITSELF = ([40, 42, 41, 43, 40], [40, 41, 42, 43, 40], [40, 42, 41, 44, 40])  # SGD + momentum, other seeds, in ADINE's place


def results(esc=None, growth=10.0, null_growth=-3.0, speed=None, equal=None, null_speed=None, acc=None, first=None,
            budget=20, budget_first=10) -> adine.Results:
    """A Results with two settings whose every claim reproduces, unless told otherwise."""
    sets = ("mlp:digits", "lenet5:digits")
    esc = esc or {"quadratic": _esc(), "degenerate": _esc(0.2), "monkey": _esc(0.7)}
    speed = speed or {s: _sp(*FAST) for s in sets}
    acc = acc or {s: _acc(*SAME) for s in sets}
    training = {s: {"budget": budget, "budget_first": budget_first, "by_budget": {10: {}, 20: {}, 40: {}},
                    "tuning": {"lr": {m: 0.1 for m in METHODS}}, "equal_lr": 0.1, "plateau": {}} for s in speed}
    return adine.Results(escape=esc, quad={"rate": np.array([0.99, 1.01]), "rho": np.array([0.99, 1.01])}, quad_growth=growth,
                         quad_null=null_growth, training=training, speed=speed, speed_equal=equal or speed,
                         speed_null=null_speed or {s: _sp(*ITSELF) for s in speed},
                         accuracy=acc, accuracy_first=first or acc, speed_v1={s: _sp(*FAST) for s in speed},
                         accuracy_v1={s: _acc(*SAME) for s in speed})


P = None


def _p(**changes):
    global P
    if P is None:
        P = _params(quad_momenta=[0.9, 1.01])
    return P.replace(**changes) if changes else P


def by_id(r, **changes):
    return {c.id: c for c in adine.claims(r, _p(**changes))}


# --------------------------------------------------------- reproduced / v1 beside
def test_every_claim_reproduces_on_a_clear_case_with_its_null_variant_and_v1_beside():
    cl = adine.claims(results(), _p())
    assert [(c.id, c.verdict) for c in cl] == [(i, "reproduced") for i in ("4.1", "4.2", "4.3", "4.4")]
    for c in cl:
        assert c.v1 is not None and c.change == adine.CHANGES[c.id] and c.summary
        assert c.null is not None and c.null_fails and c.null_label == NULLS[c.id]
    c41, c42, c43, c44 = cl
    assert c41.value == 0.7 and c41.rule == "< 1" and c41.variants == {"fixed lr (v1)": "reproduced"}  # the worst saddle
    assert c42.value == 10.0 and c42.rule == "> 6" and "m=1.01: rate 1.0100" in c42.detail and c42.null == -3.0
    assert c43.value == pytest.approx(21.2 / 41.2) and c43.rule == "<= 0.8" and c43.mde is not None
    assert c43.variants == {"equal lr": "reproduced"} and not c43.protocol_dependent
    assert c44.rule == ">= -1" and c44.value > -1 and c44.mde is not None and c44.variants == {"plateau vs first epoch": "reproduced"}
    assert [c.v1.verdict for c in cl] == ["reproduced"] * 4


# ------------------------------------------------------------------- 4.1
def test_claim_4_1_not_reproduced_on_a_tie_at_the_best_learning_rates_while_v1_holds():
    c = by_id(results(esc={"quadratic": _esc(1.0, fixed=0.7), "monkey": _esc(0.5)}))["4.1"]
    assert c.verdict == "not reproduced" and c.value == 1.0 and "quadratic" in c.detail
    assert c.variants == {"fixed lr (v1)": "reproduced"} and c.protocol_dependent and c.v1.verdict == "reproduced"


def test_claim_4_1_inconclusive_when_a_saddle_gave_no_number():
    c = by_id(results(esc={"quadratic": _esc(0.5), "degenerate": _esc(math.nan, fixed=math.nan)}))["4.1"]
    assert c.verdict == "inconclusive"
    c = by_id(results(esc={"quadratic": _esc(1.5), "degenerate": _esc(math.nan)}))["4.1"]  # a failing saddle still decides
    assert c.verdict == "not reproduced" and c.value == 1.5


def test_claim_4_1_fails_on_its_null():
    esc = {n: _esc(0.5, null=q) for n, q in (("quadratic", 1.17), ("monkey", 0.92))}
    nulls = {c.id: c for c in adine.null_claims(results(esc=esc), _p())}
    assert nulls["4.1"].verdict == "not reproduced" and nulls["4.1"].value == 1.17  # one saddle is enough to fail
    fed = {n: _esc(e["null_ratio"]) for n, e in esc.items()}   # the null in the place of m >= 1
    c = by_id(results(esc=fed))["4.1"]
    assert c.verdict == "not reproduced"
    assert by_id(results(esc=esc))["4.1"].null == 1.17 and by_id(results(esc=esc))["4.1"].null_fails


# ------------------------------------------------------------------- 4.2
def test_claim_4_2_needs_growth_beyond_the_factor_and_fails_on_its_null():
    assert by_id(results(growth=5.0))["4.2"].verdict == "not reproduced"
    assert by_id(results(growth=5.0), diverge_factor=1e4)["4.2"].verdict == "reproduced"
    assert by_id(results(growth=math.nan))["4.2"].verdict == "inconclusive"
    null = {c.id: c for c in adine.null_claims(results(null_growth=-4.6), _p())}["4.2"]
    assert null.verdict == "not reproduced" and null.value == -4.6
    c = by_id(results(growth=-4.6))["4.2"]  # claims() fed the null (m < 1 in the place of m > 1)
    assert c.verdict == "not reproduced"


# ------------------------------------------------------------------- 4.3
def test_claim_4_3_not_reproduced_when_adine_is_slower_beyond_noise():
    c = by_id(results(speed={"mlp:digits": _sp(*SLOW)}))["4.3"]
    assert c.verdict == "not reproduced" and c.value == pytest.approx(81.2 / 41.2) and "SGD + momentum" in c.detail


def test_claim_4_3_inconclusive_within_the_paired_noise_or_with_too_few_seeds():
    c = by_id(results(speed={"s": _sp([5, 60, 25, 70, 10], [40, 41, 42, 43, 40], [45, 40, 50, 41, 44])}))["4.3"]
    assert c.verdict == "inconclusive" and "within 2 standard errors" in c.detail
    two = {"s": _sp([20, 21], [40, 41], [50, 52])}
    assert by_id(results(speed=two))["4.3"].verdict == "inconclusive"


def test_claim_4_3_is_paired_by_seed():
    """Seeds that move both arms together: the paired test sees the gain that the unpaired one (v1) cannot."""
    base = np.array([40.0, 80.0, 120.0, 160.0, 200.0])
    sp = {"s": _sp(list(base - 30 + [1, -1, 2, -2, 0]), list(base), list(base + 5))}
    c = by_id(results(speed=sp))["4.3"]
    assert c.verdict == "reproduced" and c.value == pytest.approx(90 / 120)
    pairs = speed_pairs(sp, 0.8)
    assert pairs[0].extra["noise"].paired and pairs[0].extra["noise"].stderr < 2
    assert [x.verdict for x in speed_pairs_v1(sp, 0.8)] == ["inconclusive", "inconclusive"]  # v1's unpaired noise hides it


def test_claim_4_3_protocol_dependent_when_equal_learning_rates_disagree():
    sets = ("mlp:digits", "lenet5:digits")
    c = by_id(results(equal={s: _sp(*SLOW) for s in sets}))["4.3"]
    assert c.verdict == "reproduced" and c.variants == {"equal lr": "not reproduced"} and c.protocol_dependent


def test_claim_4_3_fails_on_its_null_sgd_momentum_against_itself():
    r = results(null_speed={"s": _sp(*ITSELF)}, speed={"s": _sp(*FAST)})
    null = {c.id: c for c in adine.null_claims(r, _p())}["4.3"]
    assert null.verdict != "reproduced" and null.value == pytest.approx(41.2 / 41.2)
    c = by_id(results(speed={"s": _sp(*ITSELF)}))["4.3"]  # claims() fed the null in ADINE's place
    assert c.verdict != "reproduced" and by_id(r)["4.3"].null_fails


# ------------------------------------------------------------------- 4.4
def test_claim_4_4_not_reproduced_when_the_interval_lies_below_the_margin():
    c = by_id(results(acc={"mlp:digits": _acc(*SAME), "lenet5:digits": _acc(*WORSE)}))["4.4"]
    assert c.verdict == "not reproduced" and c.value < -1 and "lenet5:digits" in c.detail


def test_claim_4_4_inconclusive_when_the_interval_straddles_the_margin_or_nothing_plateaued():
    c = by_id(results(acc={"s": _acc(*NOISY)}))["4.4"]
    assert c.verdict == "inconclusive" and "interval" in c.detail
    c = by_id(results(budget=None))["4.4"]
    assert c.verdict == "inconclusive" and "no budget up to the cap (40 epochs)" in c.detail
    assert c.v1.verdict == "reproduced"  # v1 decided at the setting's epochs, plateau or not
    assert c.variants == {"plateau vs first epoch": "reproduced"} and c.protocol_dependent


def test_claim_4_4_fails_on_its_null_adine_two_points_lower():
    r = results()
    null = {c.id: c for c in adine.null_claims(r, _p())}["4.4"]
    assert null.verdict == "not reproduced" and null.value < -1
    lowered = {s: _acc(list(np.array(SAME[0]) - 2.0), SAME[1]) for s in ("mlp:digits", "lenet5:digits")}
    c = by_id(results(acc=lowered))["4.4"]  # claims() fed the null
    assert c.verdict == "not reproduced" and by_id(r)["4.4"].null == pytest.approx(null.value) and by_id(r)["4.4"].null_fails


def test_accuracy_part_is_the_interval_rule_on_paired_points():
    c = accuracy_part("s", _acc(*WORSE), 20, 40, _p())
    d = c.extra["diff"]
    assert d.paired and d.diff == pytest.approx(np.mean(WORSE[0]) - np.mean(WORSE[1])) and c.value == pytest.approx(d.lower)
    assert accuracy_part("s", _acc(*SAME), None, 40, _p()).verdict == "inconclusive"


# -------------------------------------------------------------- the rest
def test_claims_without_any_training_setting_are_inconclusive():
    r = results()
    r.speed = r.speed_equal = r.speed_null = r.accuracy = r.accuracy_first = r.speed_v1 = r.accuracy_v1 = {}
    c = by_id(r)
    assert c["4.3"].verdict == c["4.4"].verdict == "inconclusive" and "no case" in c["4.4"].detail


def test_claims_by_setting_decide_4_3_and_4_4_per_setting():
    r = results(acc={"mlp:digits": _acc(*SAME), "lenet5:digits": _acc(*WORSE)})
    by = adine.claims_by_setting(r, _p())
    assert list(by) == ["mlp:digits", "lenet5:digits"]
    assert [c.verdict for c in by["mlp:digits"]] == ["reproduced", "reproduced"]
    assert [c.verdict for c in by["lenet5:digits"]] == ["reproduced", "not reproduced"]


def test_the_glue_names_every_variant_null_and_setting():
    r = results()
    cl, nulls = adine.claims(r, _p()), adine.null_claims(r, _p())
    g = tables.glue_values(r, cl, nulls)
    assert g["claim-4.3-variant"] == "reproduced" and g["claim-4.1-null-verdict"] == "not reproduced"
    assert g["adine-budget-mlp-digits"] == "20" and g["adine-escape-monkey-ratio"] == 0.7
    assert g["adine-speed-ratio"] == cl[2].value and g["adine-acc-lower"] == cl[3].value
    assert all(not k.endswith("-verdict") or k.endswith("null-verdict") for k in g)  # the ledger takes no glue here for a claim
    assert tables.glue_values(results(budget=None), cl, nulls)["adine-budget-lenet5-digits"] == "none"


def test_v2_tables_on_synthetic_results():
    r = results()
    assert tables.escape_best_table(r)["ratio"].tolist() == [0.5, 0.2, 0.7]
    assert tables.null_table(adine.null_claims(r, _p()))["the rule can fail"].tolist() == ["yes"] * 4
    pairs = tables.speed_pairs_table(r, _p())
    assert pairs["protocol"].tolist() == ["tuned lrs"] * 4 + ["equal lr"] * 4 + ["null"] * 2
    t = tables.speed_table(r)
    assert t["protocol"].tolist()[:3] == ["tuned lrs", "equal lr", "null"] and t["momentum"].tolist()[0] == "41"
    acc = tables.accuracy_table(r, _p())
    assert acc["verdict"].tolist() == ["reproduced"] * 2 and acc["epochs"].tolist() == ["20", "20"]
    r.training["mlp:digits"]["budget"] = None
    assert tables.accuracy_table(r, _p())["epochs"].tolist()[0] == "no plateau (40)"


def _results_with_training() -> adine.Results:
    r = results()
    for s, o in r.training.items():
        o["plateau"] = {10: {m: (0.2, 0.05) for m in METHODS}, 20: {m: (0.005, 0.001) for m in METHODS}}
        o["tuning"]["grid"] = {m: [(0.1, 0.9, 0.3)] for m in METHODS}
    return r


def test_plateau_and_lr_tables():
    r = _results_with_training()
    t = tables.plateau_table(r, _p())
    assert t["all plateaued"].tolist() == ["no", "yes"] * 2 and t["ADINE"].tolist()[0] == "20.00 (5.00)"
    lr = tables.lr_table(r)
    assert lr["ADINE"].tolist() == ["0.1 (90.0)"] * 2 and lr["equal lr"].tolist() == [0.1, 0.1]


def test_thin_keeps_the_ends_and_at_most_about_n_points():
    y = np.arange(1000.0)
    x, t = figures._thin(y, 400)
    assert x[0] == 1 and x[-1] == 1000 and t[-1] == 999.0 and len(x) <= 401
    np.testing.assert_array_equal(t, y[x - 1])
    assert figures._thin(np.arange(5.0))[0].tolist() == [1, 2, 3, 4, 5]


# ------------------------------------------------------------- the gpu record
def test_record_round_trip_text_and_verdicts(tmp_path):
    r = _results_with_training()
    p = _p(profile="gpu")
    cl = adine.claims(r, p)
    rec = adine.paper_scale_record(r, cl, p, device=torch.device("cpu"), seconds=12.0)
    path = adine.save_paper_scale(rec, tmp_path / "results" / "adine-gpu.json")
    back = adine.load_paper_scale(path)
    assert back == json.loads(json.dumps(rec)) and back["rules"] == "v2" and back["profile"] == "gpu"
    v = adine.paper_scale_verdicts(back)
    assert v["4.1"] == [("", "reproduced")] and v["4.2"] == [("", "reproduced")]
    assert v["4.3"] == [("mlp:digits", "reproduced"), ("lenet5:digits", "reproduced")]
    assert [c["v1"] for c in back["claims"][:2]] == ["reproduced", "reproduced"] and back["claims"][2]["variants"] == {"equal lr": "reproduced"}
    assert back["settings"]["mlp:digits"]["steps"]["null"]["momentum"] == [40.0, 41.0, 42.0, 43.0, 40.0]
    text = adine.paper_scale_text(back)
    assert "rules v2" in text and "4.4  reproduced" in text and "[lenet5:digits]" in text and "decided at 20 epochs" in text


def test_only_the_gpu_profile_writes_a_record(tmp_path):
    r = _results_with_training()
    out = tmp_path / "adine-gpu.json"
    assert adine.record_gpu_run(r, adine.claims(r, _p()), _p(), device=torch.device("cpu"), seconds=1.0, path=out) is None
    assert not out.exists()
    assert adine.record_gpu_run(r, adine.claims(r, _p()), _p(profile="gpu"), device=torch.device("cpu"), seconds=1.0, path=out) == out


def test_a_missing_unreadable_or_foreign_record_is_none(tmp_path):
    assert adine.load_paper_scale(tmp_path / "none.json") is None
    (tmp_path / "bad.json").write_text("{")
    assert adine.load_paper_scale(tmp_path / "bad.json") is None
    (tmp_path / "v1.json").write_text(json.dumps({"claims": [{"id": "4.1", "verdict": "reproduced"}], "settings": {}, "params": {}}))
    assert adine.paper_scale_verdicts(adine.load_paper_scale(tmp_path / "v1.json")) == {}  # not a v2 record
    assert "No gpu-profile run is recorded" in adine.paper_scale_text(None)
