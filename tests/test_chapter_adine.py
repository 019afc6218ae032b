"""Tests for landscape/chapters/adine.py: the 2-D momentum runs, the
iteration-matrix theory, the training-curve measures and the claim rules."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from landscape.chapters import adine
from landscape.experiment.params import ParameterError
from landscape.publishing.runner import notebook_defaults
from landscape.training.synthetic import TOY_FUNCTIONS

F64 = torch.float64


# ------------------------------------------------------------------ saddles
@pytest.mark.parametrize("name", list(TOY_FUNCTIONS))
def test_closed_form_gradients_match_autograd(name):
    fn = TOY_FUNCTIONS[name]
    pts = np.random.default_rng(0).normal(size=(7, 2))
    q = torch.tensor(pts, dtype=F64, requires_grad=True)
    (ref,) = torch.autograd.grad(fn(q).sum(), q)
    np.testing.assert_allclose(adine._gradients(fn)(pts), ref.numpy(), rtol=1e-12, atol=1e-12)


def test_autograd_fallback_for_other_functions():
    fn = lambda p: (p[..., 0] - 1.0) ** 2 + 3 * p[..., 1] ** 2
    pts = np.array([[0.5, -1.0], [2.0, 0.25]])
    np.testing.assert_allclose(adine._gradients(fn)(pts), np.stack([2 * (pts[:, 0] - 1), 6 * pts[:, 1]], 1))


@pytest.mark.parametrize("nesterov", [True, False])
@pytest.mark.parametrize("m", [0.0, 0.5, 0.9, 1.0, 1.05])
def test_momentum_descent_follows_torch_sgd(nesterov, m):
    """Each row is exactly torch.optim.SGD (also for m >= 1, which SGD accepts)."""
    fn = TOY_FUNCTIONS["monkey"]
    start = np.array([[0.1, -0.05]])
    steps = 25
    res = adine.momentum_descent(fn, start, [m], lr=0.02, max_steps=steps, nesterov=nesterov, escape_by="distance",
                                 escape_at=1e300, record=[0])
    w = torch.nn.Parameter(torch.tensor(start[0], dtype=F64))
    opt = torch.optim.SGD([w], lr=0.02, momentum=m, nesterov=nesterov and m > 0)
    ref = [w.detach().clone().numpy()]
    for _ in range(steps):
        opt.zero_grad()
        fn(w).backward()
        opt.step()
        ref.append(w.detach().clone().numpy())
    assert res["steps"][0] == -1
    np.testing.assert_allclose(res["paths"][0], np.array(ref), rtol=1e-12, atol=1e-14)


def test_escape_step_is_the_first_step_past_the_criterion():
    fn = TOY_FUNCTIONS["quadratic"]
    start = np.array([[0.0, 0.01], [0.0, 0.01]])
    lr = 0.1
    # gradient descent on -y^2: y_t = 0.01 * 1.2^t; the loss -y_t^2 drops by 1 once y_t^2 >= 1 + 1e-4
    res_loss = adine.momentum_descent(fn, start, [0.0, 0.0], lr=lr, max_steps=100, escape_by="loss", escape_at=1.0)
    res_dist = adine.momentum_descent(fn, start, [0.0, 0.0], lr=lr, max_steps=100, escape_by="distance", escape_at=1.0)
    y = 0.01 * 1.2 ** np.arange(101)
    assert res_loss["steps"].tolist() == [int(np.argmax(y**2 >= 1.0 + 1e-4))] * 2
    assert res_dist["steps"].tolist() == [int(np.argmax(y >= 1.0))] * 2


def test_a_point_on_the_stable_manifold_never_escapes():
    res = adine.momentum_descent(TOY_FUNCTIONS["quadratic"], np.array([[0.01, 0.0]]), [0.9], lr=0.01, max_steps=300)
    assert res["steps"].tolist() == [-1] and not res["diverged"][0]
    assert res["paths"] == []


def test_momentum_descent_rejects_bad_input():
    with pytest.raises(ValueError, match="escape_by"):
        adine.momentum_descent(TOY_FUNCTIONS["quadratic"], np.zeros((1, 2)), [0.9], lr=0.1, max_steps=5, escape_by="time")
    with pytest.raises(ValueError, match="shapes"):
        adine.momentum_descent(TOY_FUNCTIONS["quadratic"], np.zeros((2, 2)), [0.9], lr=0.1, max_steps=5)


def test_start_points_are_eps_away_and_seeded():
    a, b = adine.start_points(0.01, 6, 3), adine.start_points(0.01, 6, 3)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_allclose(np.linalg.norm(a, axis=1), 0.01)
    assert not np.allclose(a, adine.start_points(0.01, 6, 4))


def test_adine_2d_with_equal_momenta_is_nesterov():
    """ADINE with m_g = m_s is Nesterov SGD: the same escape step as momentum_descent."""
    start = adine.start_points(0.01, 1, 0)
    r = adine.adine_2d("monkey", start[0], lr=0.01, m_s=0.9, m_g=0.9, tolerance=1.0, weight=0.9, max_steps=3000)
    ref = adine.momentum_descent(TOY_FUNCTIONS["monkey"], start, [0.9], lr=0.01, max_steps=3000, record=[0])
    assert r["steps"] == ref["steps"][0] > 0
    np.testing.assert_allclose(r["path"], ref["paths"][0], rtol=1e-10, atol=1e-12)
    assert set(r["momenta"].tolist()) == {0.9}


def test_adine_2d_uses_m_g_while_the_loss_falls():
    r = adine.adine_2d("quadratic", [0.0, 0.01], lr=0.01, m_s=0.9, m_g=1.0001, tolerance=1.0, weight=0.9, max_steps=2000)
    assert r["steps"] > 0
    assert r["momenta"][0] == 0.9 and (r["momenta"][1:] == 1.0001).all()


def test_escape_summary_censors_and_picks_the_best_each_side():
    esc = {"starts": np.zeros((3, 2)),
           "s": {"steps": np.array([[-1, -1, -1], [50, 60, -1], [10, 12, 14]]), "adine_steps": np.array([20, -1, 30])}}
    s = adine.escape_summary(esc, [0.0, 0.9, 1.1], max_steps=100)["s"]
    np.testing.assert_array_equal(s["median"], [101, 60, 12])
    assert s["censored"].tolist() == [True, False, False]
    assert s["best_below"] == (0.9, 60.0, False) and s["best_above"] == (1.1, 12.0, False)
    assert s["ratio"] == pytest.approx(0.2)
    assert s["adine_median"] == 30.0
    both = {"starts": np.zeros((1, 2)), "s": {"steps": np.array([[-1], [-1]]), "adine_steps": np.array([-1])}}
    assert math.isnan(adine.escape_summary(both, [0.5, 1.5], max_steps=10)["s"]["ratio"])


# ---------------------------------------------------------- iteration matrix
@pytest.mark.parametrize("method", ["heavy-ball", "nesterov"])
@pytest.mark.parametrize("m, a", [(0.9, 0.01), (1.05, 0.001), (1.1, 0.5), (0.5, 0.3)])
def test_iteration_matrix_gives_the_recursion_of_the_iterates(method, m, a):
    """By Cayley-Hamilton every coordinate of a linear recursion with matrix T
    obeys x_{t+2} = tr(T) x_{t+1} - det(T) x_t; the iterates of
    momentum_descent on 0.5 h x^2 (PyTorch's form, a = lr h) must do so."""
    lr, steps = 0.1, 40
    h = a / lr
    fn = lambda p: 0.5 * h * p[..., 0] ** 2 + 0.0 * p[..., 1]
    res = adine.momentum_descent(fn, np.array([[1.0, 0.0]]), [m], lr=lr, max_steps=steps, nesterov=method == "nesterov",
                                 escape_by="distance", escape_at=1e300, record=[0])
    x = res["paths"][0][:, 0]
    T = adine.iteration_matrix(m, a, method)
    pred = np.trace(T) * x[1:-1] - np.linalg.det(T) * x[:-2]
    np.testing.assert_allclose(x[2:], pred, rtol=1e-9, atol=1e-12 * np.abs(x).max())
    # and the first step is plain gradient descent, as in torch.optim.SGD
    assert x[1] == pytest.approx(1 - a * (1 + m) if method == "nesterov" else 1 - a)


@pytest.mark.parametrize("m", [1.01, 1.1, 1.5])
@pytest.mark.parametrize("a", [1e-3, 0.1, 0.9])
def test_heavy_ball_spectral_radius_exceeds_sqrt_m(m, a):
    assert adine.spectral_radius(m, a, "heavy-ball") >= math.sqrt(m) - 1e-12


def test_nesterov_spectral_radius_bound_and_stable_case():
    for m in (1.01, 1.1):
        for a in (1e-4, 1e-3, 0.5 * (1 - 1 / m)):
            assert adine.spectral_radius(m, a, "nesterov") >= math.sqrt(m * (1 - a)) - 1e-12 > 1 - 1e-12
    # a stiff direction can still contract for m slightly above 1 (why small curvatures matter)
    assert adine.spectral_radius(1.1, 0.5, "nesterov") < 1
    with pytest.raises(ValueError, match="method"):
        adine.iteration_matrix(0.9, 0.1, "adam")


def test_quadratic_run_growth_matches_the_spectral_radius_without_overflow():
    run = adine.quadratic_run([1.0, 0.1, 0.01], [0.9, 1.05, 1.3], lr=0.1, steps=3000)
    assert np.isfinite(run["log10_norm"]).all()
    np.testing.assert_allclose(run["rate"], run["rho"], rtol=1e-3)
    assert run["log10_norm"][0, -1] < 0 < run["log10_norm"][1, -1] < run["log10_norm"][2, -1]
    assert run["log10_norm"][2, -1] > 300  # beyond float64's range without the rescaling


# ------------------------------------------------------------ training parts
def test_smooth_is_a_trailing_mean():
    x = np.array([4.0, 2.0, 6.0, 0.0, 8.0])
    np.testing.assert_allclose(adine.smooth(x, 2), [4, 3, 4, 3, 4])
    np.testing.assert_allclose(adine.smooth(x, 10), np.cumsum(x) / np.arange(1, 6))
    assert adine.steps_to(x, 3.0, 2) == 2 and adine.steps_to(x, 1.0, 2) is None


def test_final_loss_is_infinite_for_a_diverged_or_short_run():
    assert adine.final_loss(np.array([3.0, 2.0, 1.0]), 2, 3) == 1.5
    assert adine.final_loss(np.array([3.0, 2.0]), 2, 3) == math.inf
    assert adine.final_loss(np.array([3.0, 2.0, np.nan]), 2, 3) == math.inf


def _fake_results(adine_steps, baseline_steps, accs):
    """Results whose loss curves fall from 1 to 0 linearly, reaching 0.5 after the given steps."""
    def run(n, acc, total=100):
        losses = np.clip(1 - 0.5 * np.arange(1, total + 1) / n, 0.01, None)
        return {"losses": torch.tensor(losses), "planned_steps": total, "momenta": torch.zeros(0),
                "history": {"columns": {"test_acc": [0.1, acc]}, "diverged": False, "message": ""}}
    runs = {m: [run(n, accs[m]) for n in (adine_steps if m == "adine" else baseline_steps)] for m in adine.METHODS}
    return {"mlp:digits": {"tuning": {"lr": {m: 0.1 for m in adine.METHODS}, "grid": {}, "losses": {}}, "runs": runs}}


def test_speed_table_and_claim():
    accs = {m: 0.9 for m in adine.METHODS}
    res = _fake_results([20, 21, 22], [40, 41, 42], accs)
    sp = adine.speed_table(res, window=1, slack=1.0)
    # the baselines' final (mean of the last loss) is 0.01 (clipped); use a custom target instead
    sp["mlp:digits"]["target"] = 0.5
    for m in adine.METHODS:
        n = [adine.steps_to(x["losses"].numpy(), 0.5, 1) for x in res["mlp:digits"]["runs"][m]]
        sp["mlp:digits"]["steps"][m] = np.array(n, dtype=float)
    claim, rows = adine.speed_claim(sp, ratio_max=0.8)
    assert sp["mlp:digits"]["steps"]["adine"].tolist() == [20, 21, 22]
    assert claim.verdict == "reproduced" and claim.value == pytest.approx(21 / 41)
    assert {r["baseline"] for r in rows} == {"momentum", "nesterov"}
    sp["mlp:digits"]["steps"]["nesterov"] = np.array([20.0, 22.0, 21.0])
    claim, _ = adine.speed_claim(sp, ratio_max=0.8)
    assert claim.verdict == "inconclusive" and "Nesterov" in claim.detail


def test_speed_table_censors_runs_that_never_reach_the_target():
    res = _fake_results([20, 21, 22], [40, 41, 42], {m: 0.9 for m in adine.METHODS})
    res["mlp:digits"]["runs"]["adine"][0]["losses"] = torch.full((100,), 2.0, dtype=F64)
    sp = adine.speed_table(res, window=1, slack=2.0)
    assert sp["mlp:digits"]["target"] == pytest.approx(0.02)
    assert sp["mlp:digits"]["steps"]["adine"][0] == 101 and sp["mlp:digits"]["censored"]["adine"][0]


def test_accuracy_table_gap_and_fraction_at_mg():
    accs = {"sgd": 0.8, "momentum": 0.9, "nesterov": 0.92, "adam": 0.91, "adine": 0.915}
    res = _fake_results([20, 21, 22], [40, 41, 42], accs)
    a = adine.accuracy_table(res)["mlp:digits"]
    assert a["best"] == "nesterov" and a["gap_points"] == pytest.approx(-0.5)
    res["mlp:digits"]["runs"]["adine"][0]["history"]["diverged"] = True
    assert adine.accuracy_table(res)["mlp:digits"]["acc"]["adine"][0] == 0.0
    for x in res["mlp:digits"]["runs"]["adine"]:
        x["momenta"] = torch.tensor([0.9, 1.0001, 1.0001, 0.9], dtype=F64)
    np.testing.assert_allclose(adine.fraction_at_mg(res, 1.0001)["mlp:digits"], [0.5, 0.5, 0.5])


def test_equal_lr_speed_uses_a_target_per_learning_rate():
    line = lambda n: np.clip(1 - 0.5 * np.arange(1, 101) / n, 0.01, None)  # reaches 0.5 at step n
    tuning = {
        "lr": {}, "grid": {"momentum": [(0.1, 0.4), (0.3, math.inf)], "nesterov": [(0.1, 0.5), (0.3, 0.2)],
                         "adine": [(0.1, 0.3), (0.3, 0.1)]},
        "losses": {"momentum": [line(40), line(10)], "nesterov": [line(50), line(10)], "adine": [line(20), line(10)]},
    }
    rows = adine.equal_lr_speed({"mlp:digits": {"tuning": tuning, "runs": {}}}, window=1, slack=1.0)
    assert [r["lr"] for r in rows] == [0.1, 0.3]
    assert rows[0]["target"] == 0.5 and (rows[0]["momentum"], rows[0]["nesterov"], rows[0]["adine"]) == (40, 50, 20)
    assert rows[1]["target"] == math.inf and rows[1]["adine"] is None  # a baseline diverged there
    assert not rows[0]["trivial"] and rows[1]["trivial"]
    tuning["grid"]["momentum"][1] = (0.3, 5.0)  # no progress: the target lies above the first loss
    assert adine.equal_lr_speed({"mlp:digits": {"tuning": tuning, "runs": {}}}, window=1, slack=1.0)[1]["trivial"]
    assert adine.equal_lr_speed({"s": {"tuning": {"lr": {}, "grid": {}, "losses": {}}, "runs": {}}}, 1, 1.0) == []


def test_each_method_has_its_grid():
    p = _cpu_params()
    assert adine.grid_of(p, "sgd") == p["lrs_sgd"] and adine.grid_of(p, "adam") == p["lrs_adam"]
    assert adine.grid_of(p, "momentum") == adine.grid_of(p, "nesterov") == adine.grid_of(p, "adine") == p["lrs_momentum"]


def test_make_optimizer_builds_each_method():
    w = torch.nn.Parameter(torch.zeros(2))
    kw = dict(lr=0.1, momentum=0.9, m_s=0.9, m_g=1.0001, tolerance=1.0, weight=0.9)
    opts = {m: adine.make_optimizer(m, [w], **kw) for m in adine.METHODS}
    assert opts["nesterov"].defaults["nesterov"] and not opts["momentum"].defaults["nesterov"]
    assert opts["sgd"].defaults["momentum"] == 0
    assert isinstance(opts["adine"], adine.ADINE) and isinstance(opts["adam"], torch.optim.Adam)
    with pytest.raises(ValueError, match="method"):
        adine.make_optimizer("rmsprop", [w], **kw)


def test_train_run_records_every_step_and_adine_momenta():
    args = dict(model="mlp", dataset="digits", data_root=None, n_train=64, n_test=32, widths=[8], epochs=2, batch_size=16,
                momentum=0.9, m_s=0.9, m_g=1.0001, tolerance=1.0, weight=0.9, seed=0, device="cpu")
    r = adine.train_run(**args, method="adine", lr=0.05)
    assert r["planned_steps"] == 8 and r["losses"].shape == (8,) and torch.isfinite(r["losses"]).all()
    assert r["momenta"].shape == (8,) and set(r["momenta"].tolist()) <= {0.9, 1.0001}
    assert len(r["history"]["columns"]["test_acc"]) == 3
    same = adine.train_run(**args, method="adine", lr=0.05)
    torch.testing.assert_close(same["losses"], r["losses"])
    # ADINE with m_g = m_s is Nesterov: the same losses
    nes = adine.train_run(**{**args, "m_g": 0.9}, method="adine", lr=0.05)
    ref = adine.train_run(**args, method="nesterov", lr=0.05)
    torch.testing.assert_close(nes["losses"], ref["losses"], rtol=1e-6, atol=1e-7)


# --------------------------------------------------------------- parameters
def _cpu_params():
    p = notebook_defaults(Path(__file__).resolve().parent.parent / adine.NOTEBOOK)
    return adine.SCHEMA.validate(p, allow_extra=False)


def test_the_notebook_defaults_pass_the_checks():
    adine.check(_cpu_params())


@pytest.mark.parametrize("change, name", [
    ({"settings": ["mlp:imagenet"]}, "settings"),
    ({"epochs": {"mlp:digits": 2}}, "epochs"),
    ({"lrs_adam": [1e-3]}, "lrs_adam"),
    ({"lrs_momentum": [1e-3, 1e-2]}, "lrs_momentum"),
    ({"m_g": 0.5}, "m_g"),
    ({"tune_seed": 0}, "tune_seed"),
    ({"saddle_momenta": [0.5, 0.9]}, "saddle_momenta"),
    ({"quad_momenta": [0.9, 1.0]}, "quad_momenta"),
    ({"sens_m_g": [0.5, 1.0]}, "sens_m_g"),
    ({"n_train": {"mlp:digits": 0}}, "n_train"),
    ({"n_test": {"mlp:cifar": 10}}, "n_test"),
    ({"sens_setting": "digits"}, "sens_setting"),
])
def test_check_names_the_bad_parameter(change, name):
    with pytest.raises(ParameterError, match=f"parameter '{name}'"):
        adine.check({**_cpu_params(), **change})


def test_thin_keeps_the_ends_and_at_most_about_n_points():
    y = np.arange(1000.0)
    x, t = adine._thin(y, 400)
    assert x[0] == 1 and x[-1] == 1000 and t[-1] == 999.0 and len(x) <= 401
    np.testing.assert_array_equal(t, y[x - 1])
    x2, t2 = adine._thin(np.stack([y, 2 * y]), 400)
    np.testing.assert_array_equal(t2[1], 2 * t2[0])
    assert adine._thin(np.arange(5.0))[0].tolist() == [1, 2, 3, 4, 5]
