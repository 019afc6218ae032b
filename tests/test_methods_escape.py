"""landscape.escape: perturbed gradient descent (noise only when the gradient is small, from a ball of
the stated radius, seeded, escapes a strict saddle, state_dict round trip) and moving along a direction."""

from __future__ import annotations

import copy
import io
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from landscape.curvature import HessianOperator
import numpy as np

from landscape.methods import escape
from landscape.methods.escape import PerturbedGD, flat_parameters, loss_along, moved, uniform_ball


def saddle(x: torch.Tensor) -> torch.Tensor:
    """f(x, y) = x^2 - y^2: a strict saddle at the origin (Hessian diag(2, -2))."""
    return x[0] ** 2 - x[1] ** 2


def run(opt: torch.optim.Optimizer, x: torch.Tensor, steps: int, f=saddle, closure: bool = False) -> None:
    for _ in range(steps):
        def c():
            opt.zero_grad()
            loss = f(x)
            loss.backward()
            return loss
        if closure:
            opt.step(c)
        else:
            c()
            opt.step()


def test_large_gradient_gives_exactly_the_sgd_step():
    a = torch.tensor([1.0, -2.0, 0.5], dtype=torch.float64, requires_grad=True)
    b = a.detach().clone().requires_grad_(True)
    f = lambda x: (x ** 2).sum() + x.prod()
    pgd = PerturbedGD([a], lr=0.05, radius=1.0, g_thres=0.1, t_thres=0)
    sgd = torch.optim.SGD([b], lr=0.05)
    run(pgd, a, 20, f)
    run(sgd, b, 20, f)
    assert pgd.perturbations == 0
    assert torch.equal(a, b)


def test_small_gradient_adds_noise_within_the_radius():
    x = torch.zeros(5, dtype=torch.float64, requires_grad=True)
    opt = PerturbedGD([x], lr=0.1, radius=0.3, g_thres=1e-8, t_thres=100, seed=7)
    run(opt, x, 1, lambda v: 0.0 * v.sum())  # zero gradient: one perturbation, no gradient move
    st = opt.state[x]
    assert opt.perturbations == 1 and st["last_perturbation"] == 0 and st["step"] == 1
    assert 0 < float(x.detach().norm()) <= 0.3
    assert float(x.detach().norm()) == pytest.approx(st["last_norm"], rel=1e-12)


def test_perturbations_respect_t_thres():
    x = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    opt = PerturbedGD([x], lr=0.1, radius=1e-3, g_thres=1.0, t_thres=3)
    counts = []
    for _ in range(9):
        run(opt, x, 1, lambda v: 0.0 * v.sum())
        counts.append(opt.perturbations)
    # perturbed at steps 0, 4, 8 (t - t_noise > t_thres)
    assert counts == [1, 1, 1, 1, 2, 2, 2, 2, 3]


def test_noise_is_uniform_in_the_ball():
    gen = torch.Generator().manual_seed(0)
    disc = torch.stack([uniform_ball(2, 2.0, gen) for _ in range(8000)])
    r = disc.norm(dim=1) / 2.0
    assert float(r.max()) <= 1.0
    assert float(r.mean()) == pytest.approx(2 / 3, abs=0.01)        # E|xi|/r = d / (d + 1)
    assert float((r <= 0.5).double().mean()) == pytest.approx(0.25, abs=0.015)  # P(|xi| <= r/2) = 2^-d
    assert float(disc.mean(0).norm()) < 0.05                         # isotropic
    ball = torch.stack([uniform_ball(3, 1.0, gen) for _ in range(8000)])
    assert float((ball.norm(dim=1) <= 0.5).double().mean()) == pytest.approx(1 / 8, abs=0.012)


def test_deterministic_under_a_seed():
    def final(seed):
        x = torch.zeros(2, dtype=torch.float64, requires_grad=True)
        opt = PerturbedGD([x], lr=0.1, radius=1e-3, g_thres=1e-6, t_thres=5, seed=seed)
        run(opt, x, 30)
        return x.detach().clone()

    assert torch.equal(final(1), final(1))
    assert not torch.equal(final(1), final(2))


def test_escapes_the_strict_saddle_while_gradient_descent_stays():
    x = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    y = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    pgd = PerturbedGD([x], lr=0.1, radius=1e-3, g_thres=1e-6, t_thres=50, seed=0)
    gd = torch.optim.SGD([y], lr=0.1)
    run(pgd, x, 60)
    run(gd, y, 60)
    assert torch.equal(y, torch.zeros(2, dtype=torch.float64))     # plain GD never moves
    x = x.detach()
    assert abs(float(x[1])) > 1.0 and abs(float(x[0])) < 1e-6      # PGD leaves along -y^2
    assert float(saddle(x)) < -1.0
    assert pgd.perturbations == 1
    # radius 0 is plain gradient descent
    z = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    run(PerturbedGD([z], lr=0.1, radius=0.0, g_thres=1e-6), z, 60)
    assert torch.equal(z, torch.zeros(2, dtype=torch.float64))


def test_with_a_closure_the_gradient_is_taken_at_the_perturbed_point():
    lr = 0.1
    a = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    run(PerturbedGD([a], lr=lr, radius=0.5, g_thres=1e-6, seed=3), a, 1, closure=True)
    run(PerturbedGD([b], lr=lr, radius=0.5, g_thres=1e-6, seed=3), b, 1, closure=False)
    xi = b.detach()  # without a closure: 0 + xi - lr * grad(0) = xi
    expected = torch.stack([xi[0] * (1 - 2 * lr), xi[1] * (1 + 2 * lr)])  # xi - lr * grad(xi)
    assert torch.allclose(a.detach(), expected, rtol=0, atol=1e-15)


def test_state_dict_round_trip_resumes_the_same_noise():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1)).double()
    x, y = torch.randn(16, 3, dtype=torch.float64), torch.randn(16, 1, dtype=torch.float64)
    opt = PerturbedGD(model.parameters(), lr=0.05, radius=0.01, g_thres=10.0, t_thres=1, seed=4)

    def steps(m, o, k):
        for _ in range(k):
            o.zero_grad()
            F.mse_loss(m(x), y).backward()
            o.step()

    steps(model, opt, 3)
    buffer = io.BytesIO()
    torch.save(opt.state_dict(), buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    twin = copy.deepcopy(model)
    opt2 = PerturbedGD(twin.parameters(), lr=0.05, radius=0.01, g_thres=10.0, t_thres=1, seed=4)
    opt2.load_state_dict(saved)
    steps(model, opt, 6)
    steps(twin, opt2, 6)
    assert opt.perturbations == opt2.perturbations == 5
    for p, q in zip(model.parameters(), twin.parameters()):
        assert torch.equal(p, q)
    # a fresh optimizer (no loaded state) draws the first noise again, so it differs
    fresh = copy.deepcopy(twin)
    opt3 = PerturbedGD(fresh.parameters(), lr=0.05, radius=0.01, g_thres=10.0, t_thres=1, seed=4)
    steps(twin, opt2, 1)
    steps(fresh, opt3, 1)
    assert any(not torch.equal(p, q) for p, q in zip(twin.parameters(), fresh.parameters()))


def test_two_groups_have_their_own_rate_and_noise():
    a = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    b = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    opt = PerturbedGD([{"params": [a]}, {"params": [b], "radius": 0.0, "lr": 0.5}], lr=0.1, radius=0.2, g_thres=1e-6)
    run(opt, a, 1, lambda v: 0.0 * (a.sum() + b.sum()))
    assert 0 < float(a.detach().norm()) <= 0.2 and float(b.detach().norm()) == 0.0
    assert opt.perturbations == 1
    # the second group's learning rate is its own
    c = torch.ones(1, dtype=torch.float64, requires_grad=True)
    d = torch.ones(1, dtype=torch.float64, requires_grad=True)
    opt = PerturbedGD([{"params": [c]}, {"params": [d], "lr": 0.5}], lr=0.1, radius=0.0)
    run(opt, c, 1, lambda v: (c ** 2).sum() + (d ** 2).sum())
    assert float(c.detach()) == pytest.approx(0.8) and float(d.detach()) == pytest.approx(0.0)


@pytest.mark.parametrize("kwargs, match", [
    ({"lr": 0.0}, "Invalid learning rate"), ({"lr": -1.0}, "Invalid learning rate"),
    ({"radius": -0.1}, "Invalid radius"), ({"g_thres": -1.0}, "Invalid g_thres"),
    ({"t_thres": -1}, "Invalid t_thres"), ({"t_thres": 1.5}, "Invalid t_thres"), ({"seed": -3}, "Invalid seed"),
])
def test_bad_hyperparameters_are_named(kwargs, match):
    with pytest.raises(ValueError, match=match):
        PerturbedGD([torch.zeros(1, requires_grad=True)], **kwargs)


# --- moving along a direction -----------------------------------------------------------


def _tiny():
    torch.manual_seed(1)
    model = nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 2)).double()
    x, y = torch.randn(10, 3, dtype=torch.float64), torch.randint(0, 2, (10,))
    return model, x, y


def test_flat_parameters_use_the_hessian_operator_order():
    model, x, y = _tiny()
    op = HessianOperator(model, F.cross_entropy, (x, y))
    assert torch.equal(flat_parameters(model), op.flat_params())


def test_loss_along_a_direction_is_exact_and_changes_nothing():
    model, x, y = _tiny()
    before = flat_parameters(model)
    v = torch.randn(before.numel(), dtype=torch.float64)
    alphas = [-0.5, 0.0, 0.25, 1.0]
    got = loss_along(model, F.cross_entropy, (x, y), v, alphas)
    ref = torch.stack([F.cross_entropy(moved(model, v, a)(x), y) for a in alphas]).detach()
    assert torch.allclose(got, ref, rtol=0, atol=1e-14)
    assert float(got[1]) == pytest.approx(float(F.cross_entropy(model(x), y).detach()), abs=1e-15)
    assert torch.equal(flat_parameters(model), before)
    # chunked evaluation gives the same sample-weighted mean
    assert torch.allclose(loss_along(model, F.cross_entropy, (x, y), v, alphas, batch_size=3), got, atol=1e-14)


def test_moved_shifts_a_copy_and_checks_the_direction():
    model, _, _ = _tiny()
    before = flat_parameters(model)
    v = torch.arange(before.numel(), dtype=torch.float64)
    m2 = moved(model, v, 0.5)
    assert torch.equal(flat_parameters(m2), before + 0.5 * v)
    assert torch.equal(flat_parameters(model), before)
    with pytest.raises(ValueError, match="Invalid direction"):
        moved(model, torch.zeros(3, dtype=torch.float64), 1.0)
    with pytest.raises(ValueError, match="Invalid dim"):
        uniform_ball(0, 1.0, torch.Generator())
    assert math.isclose(float(uniform_ball(4, 0.0, torch.Generator()).norm()), 0.0)


# --- line searches without a cap


def test_line_search_runs_until_the_loss_rises_without_a_cap():
    calls = []

    def f(a):
        calls.append(a)
        return (a - 100.0) ** 2                                             # the minimum is far beyond 1

    r = escape.line_search(f, step=0.01, growth=2.0)
    assert r["alpha"] == pytest.approx(0.01 * 2 ** 13) and not r["capped"]  # 81.92, then 163.84 rises
    assert calls[-1] == pytest.approx(0.01 * 2 ** 14) and r["evaluations"] == len(calls)
    assert r["decrease"] == pytest.approx(100.0 ** 2 - (100 - 81.92) ** 2)


def test_line_search_at_a_minimum_stays_put_and_reports_a_cap():
    r = escape.line_search(lambda a: a * a, step=1e-3)
    assert (r["alpha"], r["decrease"], r["capped"]) == (0.0, 0.0, False)
    r = escape.line_search(lambda a: -a, step=1.0, max_steps=5)            # never rises: stopped by max_steps
    assert r["capped"] and r["alpha"] == 16.0
    r = escape.line_search(lambda a: math.nan if a > 1 else -a, step=1.0)  # a non-finite value stops it
    assert r["alpha"] == 1.0 and not r["capped"]
    with pytest.raises(ValueError, match="growth"):
        escape.line_search(lambda a: a, step=1.0, growth=1.0)


def test_two_sided_search_takes_the_better_side_signed():
    r = escape.two_sided_search(lambda a: (a + 3.0) ** 2, step=0.5)        # the minimum is at -3
    assert r["alpha"] < 0 and r["decrease"] > 0
    sym = escape.two_sided_search(lambda a: -a * a + a ** 4, step=0.1)    # symmetric: + wins ties
    assert sym["alpha"] > 0


def test_random_directions_are_seeded_unit_vectors():
    U = escape.random_directions(50, 20, seed=3)
    assert U.shape == (20, 50) and torch.allclose(U.norm(dim=1), torch.ones(20, dtype=torch.float64))
    assert torch.equal(U, escape.random_directions(50, 20, seed=3))
    assert not torch.equal(U, escape.random_directions(50, 20, seed=4))


def test_a_line_search_along_negative_curvature_beats_random_directions_at_a_saddle():
    """At the saddle of x^2 - y^2 (plus 98 flat directions) the search along the negative eigenvector
    lowers the loss more than the median random direction; at the minimum x^2 + y^2 nothing does."""
    mu = torch.tensor([1.0, -1.0] + [0.0] * 98, dtype=torch.float64)
    quartic = lambda u, a: float(0.5 * a * a * (mu * u * u).sum() + 0.25 * a ** 4 * (u ** 4).sum())
    v = torch.zeros(100, dtype=torch.float64)
    v[1] = 1.0
    U = escape.random_directions(100, 20, seed=0)
    along = escape.two_sided_search(lambda a: quartic(v, a), step=1e-3)["decrease"]
    rand = sorted(escape.two_sided_search(lambda a: quartic(U[j], a), step=1e-3)["decrease"] for j in range(20))
    assert along > float(np.median(rand)) >= 0
    mu.abs_()
    assert escape.two_sided_search(lambda a: quartic(v, a), step=1e-3)["decrease"] == 0.0
