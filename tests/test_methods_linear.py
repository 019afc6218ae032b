"""Tests for landscape/linear.py: rank measures on matrices with known
singular values, the closed-form optimum against brute-force optimization,
noise injectors' moments and seeding, rank-deficient starts, and the exact
behaviour of gradient descent at the saddles."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.optimize
import torch

from landscape.methods import linear as L
from landscape.training.models import DeepLinear

F64 = torch.float64


def _gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def _orth(n: int, seed: int) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(n, n, generator=_gen(seed), dtype=F64))
    return q


def _with_singular_values(s, m: int, n: int, seed: int = 0) -> torch.Tensor:
    u, v = _orth(m, seed), _orth(n, seed + 1)
    d = torch.zeros(m, n, dtype=F64)
    d[range(len(s)), range(len(s))] = torch.as_tensor(s, dtype=F64)
    return u @ d @ v.T


def _problem(n=60, d_in=4, d_out=4, seed=0):
    g = _gen(seed)
    x = torch.randn(n, d_in, generator=g, dtype=F64)
    m = torch.randn(d_out, d_in, generator=g, dtype=F64)
    y = x @ m.T + 0.3 * torch.randn(n, d_out, generator=g, dtype=F64)
    return x, y


# --- rank measures ---------------------------------------------------------------


def test_effective_rank_of_known_spectra():
    s = [3.0, 1.0]
    p = np.array(s) / sum(s)
    expected = math.exp(-(p * np.log(p)).sum())  # 1.7548...
    w = _with_singular_values(s, 5, 4, seed=3)
    assert float(L.effective_rank(w)) == pytest.approx(expected, abs=1e-12)
    assert float(L.effective_rank(7.0 * w)) == pytest.approx(expected, abs=1e-12)  # scale-invariant
    assert float(L.effective_rank(_with_singular_values([2.0], 4, 4))) == pytest.approx(1.0, abs=1e-12)
    assert float(L.effective_rank(_with_singular_values([1.0] * 4, 4, 4))) == pytest.approx(4.0, abs=1e-12)
    assert float(L.effective_rank(torch.zeros(3, 3))) == 0.0
    batch = torch.stack([_with_singular_values([1.0, 1.0, 1.0], 3, 3), _with_singular_values([1.0], 3, 3)])
    assert L.effective_rank(batch).tolist() == pytest.approx([3.0, 1.0], abs=1e-12)


def test_numerical_rank_and_smallest_singular_value():
    w = _with_singular_values([1.0, 1e-2, 1e-5], 3, 3)
    assert int(L.numerical_rank(w, rtol=1e-3)) == 2
    assert int(L.numerical_rank(w, rtol=1e-6)) == 3
    assert int(L.numerical_rank(torch.zeros(2, 3))) == 0
    assert float(L.smallest_singular_value(w, 2)) == pytest.approx(1e-2, rel=1e-10)
    assert float(L.smallest_singular_value(_with_singular_values([4.0, 2.0], 4, 3), 3)) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="Invalid rtol: 0"):
        L.numerical_rank(w, rtol=0)
    with pytest.raises(ValueError, match="Invalid r: 4"):
        L.smallest_singular_value(w, 4)


def test_rank_measures_agree_with_the_single_functions_and_survive_nan():
    w = torch.stack([_with_singular_values([3.0, 2.0, 0.5], 4, 5, seed=s) for s in range(3)])
    m = L.rank_measures(w, 2, rtol=0.1)
    assert m["effective_rank"].tolist() == pytest.approx(L.effective_rank(w).tolist(), abs=1e-12)
    assert m["numerical_rank"].tolist() == [3.0, 3.0, 3.0]
    assert L.rank_measures(w, 2, rtol=0.2)["numerical_rank"].tolist() == [2.0, 2.0, 2.0]  # 0.5 < 0.2 * 3
    assert m["smallest_sv"].tolist() == pytest.approx([2.0, 2.0, 2.0], rel=1e-10)
    bad = w.clone()
    bad[1, 0, 0] = math.nan
    m = L.rank_measures(bad, 2)
    assert math.isnan(m["effective_rank"][1]) and math.isnan(m["numerical_rank"][1]) and math.isnan(m["smallest_sv"][1])
    assert m["effective_rank"][0] == pytest.approx(float(L.effective_rank(w[0])), abs=1e-12)


def test_product_matches_deeplinear():
    net = DeepLinear([4, 3, 2, 5], generator=_gen(0))
    ws = [lin.weight.detach() for lin in net]
    assert torch.allclose(L.product(ws), net.product())
    assert torch.allclose(L.product(net), ws[2] @ ws[1] @ ws[0])
    with pytest.raises(ValueError, match="W2 has 3 inputs but W1 has 2 outputs"):
        L.product([torch.zeros(2, 4), torch.zeros(5, 3)])


# --- the optimum -------------------------------------------------------------------


def test_optimum_is_never_beaten_by_scipy_over_factorizations():
    """L-BFGS over (W1, W2) of a width-1 network from 20 random starts: never
    below the closed form, and the best within 1e-6 of it."""
    x, y = _problem(n=40, d_in=3, d_out=3, seed=1)
    _, l_star = L.optimum(x, y, 1)
    xs, ys = x.numpy(), y.numpy()

    def f(theta):
        w1, w2 = theta[:3].reshape(1, 3), theta[3:].reshape(3, 1)
        r = ys - xs @ (w2 @ w1).T
        g_w = -(r.T @ xs) / len(xs)
        return 0.5 * (r**2).sum() / len(xs), np.concatenate([(w2.T @ g_w).ravel(), (g_w @ w1.T).ravel()])

    rng = np.random.default_rng(0)
    found = [scipy.optimize.minimize(f, rng.standard_normal(6), jac=True, method="L-BFGS-B", options={"gtol": 1e-12, "ftol": 1e-15, "maxiter": 5000}).fun for _ in range(20)]
    assert min(found) >= l_star - 1e-12
    assert (min(found) - l_star) / l_star < 1e-6


def test_optimum_is_never_beaten_by_long_gradient_descent_from_many_starts():
    x, y = _problem(n=50, d_in=4, d_out=3, seed=2)
    _, l_star = L.optimum(x, y, 2)
    ws = L.init_batch([4, 2, 2, 3], "gaussian", list(range(16)), scale=1.0, dtype=F64)
    out = L.train_gd(ws, x, y, lr=0.05, iterations=6000, record_every=6000)
    final = out["loss"][:, -1]
    assert float(final.min()) >= l_star - 1e-12
    gaps = L.relative_gap(final, l_star)
    assert float(gaps.median()) < 1e-6  # most starts reach it (some may still sit on a plateau)
    assert L.critical_values(x, y, 2)[-1] == pytest.approx(l_star, rel=1e-12)


def test_critical_values_decrease_from_the_zero_product():
    x, y = _problem(seed=3)
    cv = L.critical_values(x, y, 3)
    assert cv[0] == pytest.approx(float(0.5 * (y**2).sum() / len(y)), rel=1e-12)
    assert all(a > b for a, b in zip(cv, cv[1:]))
    with pytest.raises(ValueError, match="Invalid rank: 5"):
        L.optimum(x, y, 5)
    with pytest.raises(ValueError, match="Invalid loss_star: 0"):
        L.relative_gap(1.0, 0.0)


def test_hessian_at_the_zero_saddle_and_at_the_optimum():
    x, y = _problem(n=80, d_in=3, d_out=3, seed=4)
    # two layers, width 2, at zero: eigenvalues +-s_i(Syx), each r times, nothing else
    zero = L.init_weights([3, 2, 3], "zero", dtype=F64)
    ev = L.hessian_eigenvalues(zero, x, y)
    s = torch.linalg.svdvals(y.T @ x / len(x))
    expected = torch.sort(torch.cat([s, -s, s, -s])).values
    assert torch.allclose(ev, expected, atol=1e-12)
    # three layers at zero: a degenerate saddle, the Hessian vanishes
    assert float(L.hessian_eigenvalues(L.init_weights([3, 2, 2, 3], "zero", dtype=F64), x, y).abs().max()) == 0.0
    # at the optimum reached by GD: no negative curvature
    ws = L.init_weights([3, 2, 3], "gaussian", generator=_gen(0), dtype=F64)
    out = L.train_gd(ws, x, y, lr=0.05, iterations=4000, record_every=4000)
    ev = L.hessian_eigenvalues(out["weights"], x, y)
    assert float(ev.min()) > -1e-8 and float(ev.max()) > 0.1


# --- initializations -----------------------------------------------------------------


def test_inits_have_the_stated_rank():
    g = _gen(5)
    ws = L.init_weights([6, 4, 3, 5], "deficient", dead=2, generator=g, dtype=F64)
    assert int(L.numerical_rank(L.product(ws), rtol=1e-10)) == 1  # r = 3 minus 2 dead units
    assert torch.count_nonzero(ws[1][:2]) == 0 and torch.count_nonzero(ws[2][:, :2]) == 0  # narrowest hidden layer is the second
    full = L.init_weights([6, 4, 3, 5], "gaussian", generator=_gen(5), dtype=F64)
    assert int(L.numerical_rank(L.product(full), rtol=1e-10)) == 3
    assert torch.equal(ws[0], full[0])
    assert all(torch.count_nonzero(w) == 0 for w in L.init_weights([6, 4, 5], "zero"))
    net = DeepLinear([6, 4, 5], init_scale=0.01, generator=_gen(7))
    assert all(torch.equal(a, lin.weight.detach()) for a, lin in zip(L.init_weights([6, 4, 5], scale=0.01, generator=_gen(7)), net))
    batch = L.init_batch([6, 4, 5], "gaussian", [3, 9], scale=0.5)
    assert torch.equal(batch[1][1], L.init_weights([6, 4, 5], scale=0.5, generator=_gen(9))[1])
    with pytest.raises(ValueError, match="Invalid init kind: 'tiny'"):
        L.init_weights([6, 4, 5], "tiny")
    with pytest.raises(ValueError, match="Invalid dead: 5"):
        L.init_weights([6, 4, 5], "deficient", dead=5)


# --- noise -------------------------------------------------------------------------


def test_noise_schedule_and_validation():
    n = L.Noise("gradient", 0.2, anneal=0.55, stop=100)
    assert n.level(0) == pytest.approx(0.2)
    assert n.level(99) == pytest.approx(0.2 * 100 ** (-0.275))
    assert n.level(100) == 0.0 and L.Noise("none", 0.5).level(0) == 0.0
    assert L.Noise("label", 0.3).level(10**6) == pytest.approx(0.3)  # constant
    with pytest.raises(ValueError, match="Invalid noise kind: 'salt'"):
        L.Noise("salt", 0.1)
    with pytest.raises(ValueError, match="Invalid magnitude: 1.0"):
        L.Noise("dropout", 1.0)
    with pytest.raises(ValueError, match="Invalid magnitude: -0.1"):
        L.Noise("gradient", -0.1)


def _mean_var_ok(sample: torch.Tensor, mean: float, var: float) -> None:
    n = sample.numel()
    assert abs(float(sample.mean()) - mean) < 5 * math.sqrt(var / n)
    assert float(sample.var()) == pytest.approx(var, rel=0.03)


def test_gradient_and_additive_noise_have_the_stated_moments_and_are_seeded():
    grads = [torch.zeros(300, 200, dtype=F64), torch.full((100,), 2.0, dtype=F64)]
    out = L.gradient_noise(grads, 0.3, generator=_gen(0))
    _mean_var_ok(out[0], 0.0, 0.09)
    assert torch.count_nonzero(grads[0]) == 0  # inputs untouched
    again = L.gradient_noise(grads, 0.3, generator=_gen(0))
    assert all(torch.equal(a, b) for a, b in zip(out, again))
    assert not torch.equal(out[0], L.gradient_noise(grads, 0.3, generator=_gen(1))[0])
    x = torch.ones(200, 50, dtype=F64)
    noisy = L.additive_noise(x, 0.5, generator=_gen(2), batch=8)
    assert noisy.shape == (8, 200, 50) and noisy.dtype == F64
    _mean_var_ok(noisy, 1.0, 0.25)
    assert torch.equal(noisy, L.additive_noise(x, 0.5, generator=_gen(2), batch=8))
    with pytest.raises(ValueError, match="Invalid sigma: -1"):
        L.additive_noise(x, -1)


def test_dropout_mask_and_weight_noise_moments():
    m = L.dropout_mask((400, 250), 0.3, generator=_gen(0), dtype=F64)
    assert torch.unique(m).tolist() == pytest.approx([0.0, 1 / 0.7], rel=1e-15)
    assert float((m == 0).double().mean()) == pytest.approx(0.3, abs=0.005)
    _mean_var_ok(m, 1.0, 0.3 / 0.7)
    assert torch.equal(m, L.dropout_mask((400, 250), 0.3, generator=_gen(0), dtype=F64))
    with pytest.raises(ValueError, match="Invalid p: 1"):
        L.dropout_mask((3,), 1)
    w = torch.full((400, 250), 2.0, dtype=F64)
    w[0] = 0.0
    wt, factor = L.weight_noise(w, 0.2, generator=_gen(1))
    assert torch.count_nonzero(wt[0]) == 0  # a zero weight stays zero
    _mean_var_ok(wt[1:], 2.0, (2.0 * 0.2) ** 2)
    assert torch.equal(wt, w * factor)


def test_label_noise_moment_matches_direct_sampling():
    """E^T X / n with E ~ N(0, s^2): the Cholesky draw has the same second moment as the direct one."""
    x, _ = _problem(n=30, d_in=3, seed=5)
    sigma, draws = 0.5, 20000
    fast = L.label_noise_moment(x, 2, sigma, generator=_gen(0), batch=draws)
    e = sigma * torch.randn(draws, 30, 2, generator=_gen(1), dtype=F64)
    direct = e.transpose(-1, -2) @ x / 30
    expected = 2 * sigma**2 * (x.T @ x) / 30**2  # E[M^T M]
    for sample in (fast, direct):
        got = (sample.transpose(-1, -2) @ sample).mean(0)
        assert torch.allclose(got, expected, rtol=0.05, atol=0.05 * float(expected.abs().max()))
        assert float(sample.mean(0).abs().max()) < 5 * sigma * float(x.norm(dim=0).max()) / 30 / math.sqrt(draws)


# --- gradients and training ------------------------------------------------------------


def test_gradients_match_autograd_with_masks_and_factors():
    x, y = _problem(n=20, d_in=4, d_out=3, seed=6)
    ws = L.init_weights([4, 3, 2, 3], generator=_gen(0), dtype=F64)
    masks = [L.dropout_mask((20, 3), 0.4, generator=_gen(1), dtype=F64), L.dropout_mask((20, 2), 0.4, generator=_gen(2), dtype=F64), None]
    pairs = [L.weight_noise(w, 0.3, generator=_gen(3 + i)) for i, w in enumerate(ws)]
    params = [w.clone().requires_grad_() for w in ws]
    h = x
    for l, (p_, (_, f)) in enumerate(zip(params, pairs)):
        h = h @ (p_ * f).T
        if masks[l] is not None:
            h = h * masks[l]
    auto = torch.autograd.grad(0.5 * ((h - y) ** 2).sum() / 20, params)
    grads, value = L.gradients(ws, x, y, masks=masks, factors=[f for _, f in pairs], forward_weights=[w_ for w_, _ in pairs])
    assert all(torch.allclose(a, b, atol=1e-12) for a, b in zip(auto, grads))
    plain, _ = L.gradients(ws, x, y)
    moment = L.moment_gradients(ws, x.T @ x / 20, y.T @ x / 20)
    assert all(torch.allclose(a, b, atol=1e-12) for a, b in zip(plain, moment))
    batch = L.init_batch([4, 3, 2, 3], "gaussian", [0, 1], dtype=F64)
    bg, bv = L.gradients(batch, x, y)
    assert bv.shape == (2,) and torch.allclose(bg[1][0], plain[1], atol=1e-12)


def test_batched_training_equals_single_runs():
    x, y = _problem(seed=7)
    batch = L.init_batch([4, 2, 4], "gaussian", [0, 1, 2], scale=0.5, dtype=F64)
    out = L.train_gd(batch, x, y, lr=0.05, iterations=300, record_every=100)
    assert out["loss"].shape == (3, 4) and out["iteration"].tolist() == [0, 100, 200, 300]
    assert out["singular_values"].shape == (3, 4, 4)
    single = L.train_gd([w[1] for w in batch], x, y, lr=0.05, iterations=300, record_every=100)
    assert torch.allclose(out["loss"][1], single["loss"], rtol=1e-12)
    assert torch.allclose(out["effective_rank"][1], single["effective_rank"], rtol=1e-10)
    with pytest.raises(ValueError, match="Invalid lr: 0"):
        L.train_gd(batch, x, y, lr=0, iterations=10)


def test_noisy_training_is_deterministic_under_a_seed():
    x, y = _problem(seed=8)
    ws = L.init_batch([4, 3, 4], "gaussian", [0, 1], scale=0.1, dtype=F64)
    for kind in ("gradient", "dropout", "weight", "input", "label"):
        noise = L.Noise(kind, 0.2, stop=50)
        a = L.train_gd(ws, x, y, lr=0.05, iterations=80, noise=noise, record_every=20, generator=_gen(3))
        b = L.train_gd(ws, x, y, lr=0.05, iterations=80, noise=noise, record_every=20, generator=_gen(3))
        c = L.train_gd(ws, x, y, lr=0.05, iterations=80, noise=noise, record_every=20, generator=_gen(4))
        assert torch.equal(a["loss"], b["loss"]), kind
        assert not torch.equal(a["loss"], c["loss"]), kind
        # after the noise stops, the same noiseless steps: the clean loss is recorded
        assert torch.isfinite(a["loss"]).all()


def test_gradient_descent_stays_exactly_at_the_zero_saddle():
    x, y = _problem(seed=9)
    for dims in ([4, 3, 4], [4, 3, 3, 4]):
        zero = L.init_batch(dims, "zero", [0, 1], dtype=F64)
        for kind in ("none", "dropout", "weight", "input", "label"):
            out = L.train_gd(zero, x, y, lr=0.05, iterations=200, noise=L.Noise(kind, 0.3 if kind != "none" else 0.0), record_every=50, generator=_gen(0))
            assert all(torch.count_nonzero(w) == 0 for w in out["weights"]), (dims, kind)
            assert torch.all(out["effective_rank"] == 0)
        moved = L.train_gd(zero, x, y, lr=0.05, iterations=200, noise=L.Noise("gradient", 0.3), record_every=50, generator=_gen(0))
        assert all(torch.count_nonzero(w) > 0 for w in moved["weights"])


def test_dead_units_stay_dead_without_additive_noise():
    """An exactly rank-deficient start (a dead hidden unit): gradient descent
    keeps it rank-deficient under every noise that multiplies through the
    weights, and converges to the best rank r-1 product (a saddle); gradient
    noise revives the unit and reaches the rank-r optimum."""
    x, y = _problem(n=80, seed=10)
    ws = L.init_batch([4, 2, 4], "deficient", [0, 1, 2], dtype=F64)
    _, l1 = L.optimum(x, y, 1)
    _, l2 = L.optimum(x, y, 2)
    for kind in ("none", "dropout", "weight", "input", "label"):
        its = 3000 if kind == "none" else 300  # the moment path is fast; per-example noise needs only to show the unit stays dead
        out = L.train_gd(ws, x, y, lr=0.05, iterations=its, noise=L.Noise(kind, 0.2 if kind != "none" else 0.0), record_every=100, generator=_gen(0))
        assert torch.count_nonzero(out["weights"][0][:, 0]) == 0 and torch.count_nonzero(out["weights"][1][:, :, 0]) == 0, kind
        assert torch.all(out["numerical_rank"] <= 1), kind
        if kind == "none":
            assert out["loss"][:, -1].tolist() == pytest.approx([l1] * 3, rel=1e-9)
            ev = L.hessian_eigenvalues([w[0] for w in out["weights"]], x, y)
            assert float(ev.min()) < -1e-3  # the rank-1 critical point is a strict saddle
    out = L.train_gd(ws, x, y, lr=0.05, iterations=3000, noise=L.Noise("gradient", 0.2, anneal=0.55, stop=1000), record_every=500, generator=_gen(0))
    assert out["loss"][:, -1].tolist() == pytest.approx([l2] * 3, rel=1e-6)
    assert torch.all(out["numerical_rank"][:, -1] == 2)


# --- the start's product norm (claim 3.3 of the trajectories chapter, v2) ---------------------


def test_rms_product_norm_matches_the_gaussian_start_on_average():
    dims = [8, 3, 3, 8]
    norms = torch.linalg.matrix_norm(L.product(L.init_batch(dims, "gaussian", list(range(4000)), scale=0.5,
                                                                      dtype=torch.float64)))
    assert float((norms ** 2).mean().sqrt()) == pytest.approx(L.rms_product_norm(dims, 0.5), rel=0.05)
    assert L.rms_product_norm([4, 2, 2, 2, 5], 0.01) == pytest.approx(1e-8 * 5 ** 0.5)
    with pytest.raises(ValueError, match="scale"):
        L.rms_product_norm(dims, -1.0)


def test_scale_to_product_norm_sets_each_runs_norm_and_keeps_direction():
    ws = L.init_batch([6, 3, 3, 3, 6], "gaussian", [0, 1, 2], scale=0.01, dtype=torch.float64)
    out = L.scale_to_product_norm(ws, 2e-3)
    before, after = L.product(ws), L.product(out)
    assert torch.allclose(torch.linalg.matrix_norm(after), torch.full((3,), 2e-3, dtype=torch.float64), rtol=1e-12)
    unit = lambda w: w / torch.linalg.matrix_norm(w)[:, None, None]
    assert torch.allclose(unit(after), unit(before), atol=1e-12)                  # same direction, same effective rank
    ratio = [float(torch.linalg.matrix_norm(o[0]) / torch.linalg.matrix_norm(w[0])) for o, w in zip(out, ws)]
    assert max(ratio) == pytest.approx(min(ratio))                                # one factor for every layer
    assert torch.equal(L.product(ws), before)                                # inputs unchanged
    with pytest.raises(ValueError, match="norm"):
        L.scale_to_product_norm(ws, 0.0)
    with pytest.raises(ValueError, match="zero"):
        L.scale_to_product_norm(L.init_batch([6, 3, 6], "zero", [0, 1], dtype=torch.float64), 1.0)
