"""Tests for landscape.methods.adine (values, not just shapes): the ADINE
optimizer, and the constant-momentum runs and theory (momentum_descent,
iteration_matrix, spectral_radius; moved here from the ADINE chapter's tests)."""

from __future__ import annotations

import doctest
import io
import math

import numpy as np
import pytest
import torch

import landscape.methods.adine
from landscape.methods.adine import ADINE, iteration_matrix, momentum_descent, spectral_radius
from landscape.training.synthetic import TOY_FUNCTIONS, TOY_GRADIENTS, toy_gradient

F64 = torch.float64


# ----------------------------------------------------------------- helpers
def _mlp(seed: int = 0, dtype: torch.dtype = F64) -> torch.nn.Module:
    torch.manual_seed(seed)
    return torch.nn.Sequential(
        torch.nn.Linear(5, 8), torch.nn.Tanh(), torch.nn.Linear(8, 1)
    ).to(dtype)


def _data(dtype: torch.dtype = F64, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(32, 5, generator=g, dtype=dtype)
    y = torch.randn(32, 1, generator=g, dtype=dtype)
    return x, y


def _closure(model, opt, x, y):
    def closure():
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        return loss

    return closure


def _reference_rule(losses, m_s, m_g, tolerance, weight):
    """The documented switching rule, in plain Python floats."""
    history, avgs, avg = [], [], None
    for t, loss in enumerate(losses):
        if t == 0:
            m, avg = m_s, loss
        else:
            # NaN compares False
            m = m_g if math.isfinite(avg) and loss <= avg * tolerance else m_s
            if math.isfinite(loss):
                avg = avg * weight + loss * (1.0 - weight) if math.isfinite(avg) else loss
        history.append(m)
        avgs.append(avg)
    return history, avgs


# ---------------------------------------------------------- validation etc.
@pytest.mark.parametrize(
    "name, value",
    [
        ("lr", -0.1),
        ("m_s", 1.0),
        ("m_s", -0.1),
        ("m_g", 0.5),  # < m_s = 0.9
        ("tolerance", 0.0),
        ("weight", 1.0),
        ("weight", -0.5),
        ("weight_decay", -1e-4),
        ("lr", float("nan")),
        ("nesterov", "yes"),
    ],
)
def test_invalid_hyperparameters_name_the_parameter(name, value):
    p = torch.nn.Parameter(torch.zeros(2))
    with pytest.raises(ValueError, match=f"^Invalid {name}: "):
        ADINE([p], **{name: value})
    # per-group overrides are validated too, at construction and when added
    with pytest.raises(ValueError, match=f"^Invalid {name}: "):
        ADINE([{"params": [p], name: value}])
    opt = ADINE([p])
    with pytest.raises(ValueError, match=f"^Invalid {name}: "):
        opt.add_param_group({"params": [torch.nn.Parameter(torch.zeros(1))], name: value})
    assert len(opt.param_groups) == 1


def test_valid_edge_values_are_accepted():
    p = torch.nn.Parameter(torch.zeros(2))
    opt = ADINE([p], lr=0.0, m_s=0.0, m_g=0.0, weight=0.0, tolerance=1e-9)
    assert opt.defaults["m_g"] == 0.0


def test_missing_loss_is_a_clear_error():
    p = torch.nn.Parameter(torch.ones(2))
    p.grad = torch.ones(2)
    opt = ADINE([p])
    with pytest.raises(RuntimeError, match="ADINE needs the loss.*closure.*loss="):
        opt.step()
    with pytest.raises(ValueError, match="either a closure or loss="):
        opt.step(lambda: torch.tensor(1.0), loss=1.0)
    with pytest.raises(ValueError, match="scalar loss"):
        opt.step(loss=torch.ones(3))
    assert torch.equal(p.detach(), torch.ones(2))  # nothing happened


def test_sparse_gradients_are_rejected():
    emb = torch.nn.Embedding(10, 3, sparse=True)
    opt = ADINE(emb.parameters())
    loss = emb(torch.tensor([1, 2])).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match="ADINE does not support sparse gradients"):
        opt.step(loss=loss)


def test_loss_forms_and_return_value():
    p = torch.nn.Parameter(torch.tensor([3.0]))
    opt = ADINE([p], lr=0.1)
    for loss in (4.0, torch.tensor(2.0), torch.tensor([[1.0]], requires_grad=True)):
        p.grad = torch.ones(1)
        assert opt.step(loss=loss) is loss
    loss = torch.tensor(0.5)
    p.grad = torch.ones(1)
    assert opt.step(lambda: loss) is loss
    # 4.0, 2.0 (<= 4) , 1.0 (<= avg), 0.5 (<= avg)
    assert opt.momentum_history().tolist() == [0.9, 1.0001, 1.0001, 1.0001]
    assert opt.state["adine_group_0"]["loss_avg"].requires_grad is False


def test_closure_runs_with_grad_enabled():
    p = torch.nn.Parameter(torch.tensor([1.0]))
    opt = ADINE([p])
    seen = []

    def closure():
        seen.append(torch.is_grad_enabled())
        opt.zero_grad()
        loss = (p**2).sum()
        loss.backward()
        return loss

    with torch.no_grad():
        opt.step(closure)
    assert seen == [True]


def test_momentum_history_before_first_step_and_bad_group():
    p = torch.nn.Parameter(torch.zeros(1))
    opt = ADINE([p])
    h = opt.momentum_history()
    assert h.dtype == F64 and h.numel() == 0
    with pytest.raises(IndexError):
        opt.momentum_history(1)


def test_docstring_examples():
    result = doctest.testmod(landscape.methods.adine, raise_on_error=False)
    assert result.attempted > 0 and result.failed == 0


# ------------------------------------------------- equivalence with torch SGD
@pytest.mark.parametrize("nesterov", [True, False])
@pytest.mark.parametrize("weight_decay", [0.0, 1e-2])
def test_equal_momenta_reproduce_sgd_bit_for_bit(weight_decay, nesterov):
    x, y = _data()
    model_a, model_b = _mlp(), _mlp()
    opt_a = ADINE(
        model_a.parameters(), lr=0.05, m_s=0.8, m_g=0.8,
        weight_decay=weight_decay, nesterov=nesterov,
    )
    opt_b = torch.optim.SGD(
        model_b.parameters(), lr=0.05, momentum=0.8, dampening=0,
        weight_decay=weight_decay, nesterov=nesterov,
    )
    for _ in range(20):
        la = opt_a.step(_closure(model_a, opt_a, x, y))
        lb = opt_b.step(_closure(model_b, opt_b, x, y))
        assert torch.equal(la, lb)
        for pa, pb in zip(model_a.parameters(), model_b.parameters()):
            assert torch.equal(pa, pb)
            assert torch.equal(
                opt_a.state[pa]["momentum_buffer"], opt_b.state[pb]["momentum_buffer"]
            )
    assert opt_a.momentum_history().tolist() == [0.8] * 20


@pytest.mark.parametrize("weight_decay", [0.0, 1e-2])
def test_device_momentum_path_matches_sgd_when_it_never_switches(weight_decay):
    # m_g != m_s, so m_t is a device tensor; a tiny tolerance keeps m_t = m_s.
    x, y = _data()
    model_a, model_b = _mlp(), _mlp()
    opt_a = ADINE(model_a.parameters(), lr=0.05, m_s=0.9, m_g=1.5,
                  tolerance=1e-9, weight_decay=weight_decay)
    opt_b = torch.optim.SGD(model_b.parameters(), lr=0.05, momentum=0.9,
                            weight_decay=weight_decay, nesterov=True)
    for _ in range(20):
        opt_a.step(_closure(model_a, opt_a, x, y))
        opt_b.step(_closure(model_b, opt_b, x, y))
    for pa, pb in zip(model_a.parameters(), model_b.parameters()):
        torch.testing.assert_close(pa, pb, rtol=0, atol=1e-12)
    assert opt_a.momentum_history().tolist() == [0.9] * 20


# ------------------------------------------------------- closed-form values
def test_quadratic_by_hand_nesterov():
    # f(x) = 0.5 * a * x^2 with a = 2, x0 = 1, lr = 0.1, m_s = 0.5, m_g = 1.5,
    # tolerance = 1, weight = 0.5.  By hand (b: momentum buffer):
    # t=1: L=1,      m=m_s=0.5 (first step), avg=1,      g=2,     b=2,    x=1-0.1*(2+0.5*2)      = 0.7
    # t=2: L=0.49   <= 1      -> m=1.5,      avg=0.745,  g=1.4,   b=4.4,  x=0.7-0.1*(1.4+1.5*4.4)  = -0.1
    # t=3: L=0.01   <= 0.745  -> m=1.5,      avg=0.3775, g=-0.2,  b=6.4,  x=-0.1-0.1*(-0.2+1.5*6.4)= -1.04
    # t=4: L=1.0816 > 0.3775  -> m=0.5,      avg=0.72955,g=-2.08, b=1.12, x=-1.04-0.1*(-2.08+0.56)= -0.888
    x = torch.nn.Parameter(torch.tensor([1.0], dtype=F64))
    opt = ADINE([x], lr=0.1, m_s=0.5, m_g=1.5, tolerance=1.0, weight=0.5)

    def closure():
        opt.zero_grad()
        loss = 0.5 * 2.0 * (x**2).sum()
        loss.backward()
        return loss

    expected_x = [0.7, -0.1, -1.04, -0.888]
    expected_b = [2.0, 4.4, 6.4, 1.12]
    expected_avg = [1.0, 0.745, 0.3775, 0.72955]
    for xe, be, ae in zip(expected_x, expected_b, expected_avg):
        opt.step(closure)
        assert x.item() == pytest.approx(xe, abs=1e-12)
        assert opt.state[x]["momentum_buffer"].item() == pytest.approx(be, abs=1e-12)
        assert opt.state["adine_group_0"]["loss_avg"].item() == pytest.approx(ae, abs=1e-12)
    assert opt.momentum_history().tolist() == [0.5, 1.5, 1.5, 0.5]
    assert opt.state["adine_group_0"]["momentum"].item() == 0.5


def test_quadratic_by_hand_heavy_ball():
    # Same problem, nesterov=False: x <- x - lr * b.
    # t=1: L=1,       m=0.5, g=2,    b=2,    x=0.8
    # t=2: L=0.64<=1, m=1.5, g=1.6,  b=4.6,  x=0.34
    # t=3: L=0.1156<=0.82, m=1.5, g=0.68, b=7.58, x=-0.418
    x = torch.nn.Parameter(torch.tensor([1.0], dtype=F64))
    opt = ADINE([x], lr=0.1, m_s=0.5, m_g=1.5, tolerance=1.0, weight=0.5, nesterov=False)

    def closure():
        opt.zero_grad()
        loss = (x**2).sum()
        loss.backward()
        return loss

    for xe in [0.8, 0.34, -0.418]:
        opt.step(closure)
        assert x.item() == pytest.approx(xe, abs=1e-12)
    assert opt.momentum_history().tolist() == [0.5, 1.5, 1.5]


@pytest.mark.parametrize(
    "losses",
    [
        [5.0, 4.0, 4.5, 4.9, 6.0, float("nan"), 3.0, 3.0, 10.0, 2.0, 2.2, 1.0],
        # non-finite first losses: the average restarts at the first finite one
        [float("nan"), float("inf"), 4.0, 3.0, 3.5, 3.3, 5.0, 3.0, 3.0, 2.0, 2.9, 1.0],
    ],
)
def test_switch_rule_on_scripted_losses(losses):
    m_s, m_g, tolerance, weight = 0.7, 1.2, 1.05, 0.6
    p = torch.nn.Parameter(torch.zeros(3, dtype=F64))
    opt = ADINE([p], lr=0.01, m_s=m_s, m_g=m_g, tolerance=tolerance, weight=weight)
    grad = torch.tensor([1.0, -2.0, 0.5], dtype=F64)
    for loss in losses:
        p.grad = grad.clone()
        opt.step(loss=torch.tensor(loss, dtype=F64) if loss == 3.0 else loss)
    history, avgs = _reference_rule(losses, m_s, m_g, tolerance, weight)
    assert opt.momentum_history().tolist() == history  # exact, float64
    assert opt.state["adine_group_0"]["loss_avg"].item() == avgs[-1]
    assert math.isfinite(avgs[-1])
    # the rule picks both values, and a non-finite loss falls back to m_s
    assert set(history) == {m_s, m_g}
    assert all(m == m_s for m, loss in zip(history, losses) if not math.isfinite(loss))

    # the parameter follows the momenta in the log (heavy-ball-free check):
    # b_t = m_t b_{t-1} + g,  x_t = x_{t-1} - lr (g + m_t b_t)
    b, x = None, torch.zeros(3, dtype=F64)
    for m in history:
        b = grad.clone() if b is None else m * b + grad
        x = x - 0.01 * (grad + m * b)
    torch.testing.assert_close(p.detach(), x, rtol=0, atol=1e-12)


def test_two_parameter_groups_follow_their_own_rules():
    # f(u, v) = |u|^2 + 0.5 |v|^2: group 0 (u) is plain Nesterov SGD (m_g == m_s),
    # group 1 (v) switches with its own tolerance and weight on the same loss.
    u = torch.nn.Parameter(torch.tensor([1.0, -1.0], dtype=F64))
    v = torch.nn.Parameter(torch.tensor([2.0], dtype=F64))
    opt = ADINE(
        [
            {"params": [u], "m_s": 0.6, "m_g": 0.6, "lr": 0.05},
            {"params": [v], "m_s": 0.5, "m_g": 1.3, "tolerance": 0.98, "weight": 0.3},
        ],
        lr=0.1,
    )
    u_ref = torch.nn.Parameter(u.detach().clone())
    sgd = torch.optim.SGD([u_ref], lr=0.05, momentum=0.6, nesterov=True)
    losses = []

    def closure():
        opt.zero_grad()
        loss = (u**2).sum() + 0.5 * (v**2).sum()
        loss.backward()
        losses.append(loss.item())
        return loss

    for _ in range(15):
        opt.step(closure)
        sgd.zero_grad()
        (u_ref**2).sum().backward()
        sgd.step()
        assert torch.equal(u, u_ref)

    assert opt.momentum_history(0).tolist() == [0.6] * 15
    hist1, avgs1 = _reference_rule(losses, 0.5, 1.3, 0.98, 0.3)
    assert opt.momentum_history(1).tolist() == hist1
    assert set(hist1) == {0.5, 1.3}
    assert opt.state["adine_group_1"]["loss_avg"].item() == avgs1[-1]
    # v follows the 1-D Nesterov recursion with group 1's momenta and lr
    b, x = None, 2.0
    for m in hist1:
        g = x
        b = g if b is None else m * b + g
        x = x - 0.1 * (g + m * b)
    assert v.item() == pytest.approx(x, abs=1e-12)


# ------------------------------------------------------------ persistence
def test_state_dict_round_trip_is_bit_identical(monkeypatch):
    # A tiny log capacity forces the on-device log to grow before and after saving.
    monkeypatch.setattr(landscape.methods.adine, "_LOG_CAPACITY", 4)
    x, y = _data(torch.float32)
    kwargs = dict(lr=0.05, m_s=0.8, m_g=1.05, tolerance=1.0, weight=0.7, weight_decay=1e-3)
    model = _mlp(dtype=torch.float32)
    opt = ADINE(model.parameters(), **kwargs)
    for _ in range(7):
        opt.step(_closure(model, opt, x, y))

    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "opt": opt.state_dict()}, buffer)
    buffer.seek(0)
    ckpt = torch.load(buffer, weights_only=True)
    model2 = _mlp(seed=123, dtype=torch.float32)  # different init, overwritten
    model2.load_state_dict(ckpt["model"])
    opt2 = ADINE(model2.parameters(), **kwargs)
    opt2.load_state_dict(ckpt["opt"])
    # group state keeps float64 although the parameters are float32
    assert opt2.state["adine_group_0"]["loss_avg"].dtype == F64

    for _ in range(10):
        opt.step(_closure(model, opt, x, y))
        opt2.step(_closure(model2, opt2, x, y))
    for p1, p2 in zip(model.parameters(), model2.parameters()):
        assert torch.equal(p1, p2)
        assert torch.equal(opt.state[p1]["momentum_buffer"], opt2.state[p2]["momentum_buffer"])
    h1, h2 = opt.momentum_history(), opt2.momentum_history()
    assert h1.numel() == 17 and torch.equal(h1, h2)
    assert set(h1.tolist()) == {0.8, 1.05}  # the run did switch
    g1, g2 = opt.state["adine_group_0"], opt2.state["adine_group_0"]
    assert torch.equal(g1["loss_avg"], g2["loss_avg"]) and g1["step"] == g2["step"] == 17


def test_load_state_dict_does_not_alias_the_source():
    p = torch.nn.Parameter(torch.ones(2, dtype=F64))
    opt = ADINE([p])
    for loss in (3.0, 2.0):
        p.grad = torch.ones(2, dtype=F64)
        opt.step(loss=loss)
    sd = opt.state_dict()
    q = torch.nn.Parameter(p.detach().clone())
    opt2 = ADINE([q])
    opt2.load_state_dict(sd)
    q.grad = torch.ones(2, dtype=F64)
    opt2.step(loss=5.0)
    assert opt.momentum_history().tolist() == [0.9, 1.0001]
    assert opt2.momentum_history().tolist() == [0.9, 1.0001, 0.9]


# ---------------------------------------------------------------- schedulers
def test_step_lr_scheduler_changes_are_applied():
    # m_s = m_g = 0: x <- x - lr_t * g, so each step's change exposes lr_t.
    p = torch.nn.Parameter(torch.zeros(2, dtype=F64))
    opt = ADINE([p], lr=0.1, m_s=0.0, m_g=0.0)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    grad = torch.tensor([1.0, -3.0], dtype=F64)
    deltas = []
    for t in range(6):
        before = p.detach().clone()
        p.grad = grad.clone()
        opt.step(loss=10.0 - t)
        sched.step()
        deltas.append(((before - p.detach()) / grad).tolist())
    expected = [0.1, 0.1, 0.05, 0.05, 0.025, 0.025]
    for d, lr in zip(deltas, expected):
        assert d == pytest.approx([lr, lr], abs=1e-15)

    # and with m_g == m_s, ADINE + StepLR follows SGD + StepLR exactly
    x, y = _data()
    model_a, model_b = _mlp(), _mlp()
    opt_a = ADINE(model_a.parameters(), lr=0.1, m_s=0.9, m_g=0.9)
    opt_b = torch.optim.SGD(model_b.parameters(), lr=0.1, momentum=0.9, nesterov=True)
    sa = torch.optim.lr_scheduler.StepLR(opt_a, step_size=3, gamma=0.1)
    sb = torch.optim.lr_scheduler.StepLR(opt_b, step_size=3, gamma=0.1)
    for _ in range(8):
        opt_a.step(_closure(model_a, opt_a, x, y))
        opt_b.step(_closure(model_b, opt_b, x, y))
        sa.step()
        sb.step()
    assert opt_a.param_groups[0]["lr"] == pytest.approx(1e-3)  # 0.1 * 0.1**2
    for pa, pb in zip(model_a.parameters(), model_b.parameters()):
        assert torch.equal(pa, pb)


# ------------------------------------------------------------ behaviour
def test_constant_momentum_above_one_diverges_adine_converges():
    A = torch.diag(torch.tensor([1.0, 0.1], dtype=F64))

    def run(make):
        x = torch.nn.Parameter(torch.ones(2, dtype=F64))
        opt = make([x])

        def closure():
            opt.zero_grad()
            loss = 0.5 * x @ A @ x
            loss.backward()
            return loss

        for _ in range(500):
            opt.step(closure)
        return x.detach().norm().item(), opt

    diverged, _ = run(
        lambda p: torch.optim.SGD(p, lr=0.01, momentum=1.1, dampening=0, nesterov=True)
    )
    converged, opt = run(lambda p: ADINE(p))  # defaults: lr=0.01, m_s=0.9, m_g=1.0001
    assert diverged > 1e6
    assert converged < 1e-2  # from |x_0| = 1.41
    used = opt.momentum_history()
    assert used.numel() == 500 and set(used.tolist()) == {0.9, 1.0001}


# ------------------------------------------------------------------- CUDA
@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu_and_never_syncs():
    x_cpu, y_cpu = _data()
    model_cpu = _mlp()
    model_gpu = _mlp().cuda()
    x_gpu, y_gpu = x_cpu.cuda(), y_cpu.cuda()
    kwargs = dict(lr=0.05, m_s=0.8, m_g=1.05, weight_decay=1e-3)
    opt_cpu = ADINE(model_cpu.parameters(), **kwargs)
    opt_gpu = ADINE(model_gpu.parameters(), **kwargs)
    for _ in range(20):
        opt_cpu.step(_closure(model_cpu, opt_cpu, x_cpu, y_cpu))
        opt_gpu.zero_grad()
        loss = torch.nn.functional.mse_loss(model_gpu(x_gpu), y_gpu)
        loss.backward()
        torch.cuda.set_sync_debug_mode("error")
        try:
            opt_gpu.step(loss=loss)
        finally:
            torch.cuda.set_sync_debug_mode("default")
    gstate = opt_gpu.state["adine_group_0"]
    assert gstate["loss_avg"].is_cuda and gstate["momentum_log"].is_cuda
    assert torch.equal(opt_cpu.momentum_history(), opt_gpu.momentum_history())
    for pc, pg in zip(model_cpu.parameters(), model_gpu.parameters()):
        torch.testing.assert_close(pg.cpu(), pc, rtol=1e-9, atol=1e-9)

    # float32 parameters, float loss on the host, and m_g == m_s vs SGD
    model_a, model_b = _mlp(dtype=torch.float32).cuda(), _mlp(dtype=torch.float32).cuda()
    opt_a = ADINE(model_a.parameters(), lr=0.05, m_s=0.9, m_g=0.9)
    opt_b = torch.optim.SGD(model_b.parameters(), lr=0.05, momentum=0.9, nesterov=True)
    xf, yf = x_gpu.float(), y_gpu.float()
    for _ in range(20):
        opt_a.step(_closure(model_a, opt_a, xf, yf))
        opt_b.step(_closure(model_b, opt_b, xf, yf))
    for pa, pb in zip(model_a.parameters(), model_b.parameters()):
        torch.testing.assert_close(pa, pb, rtol=1e-6, atol=1e-6)


# --------------------------------------------- constant momentum in 2-D, and its theory
def _autograd(fn):
    """The gradient of ``fn`` at points ``(K, 2)`` by autograd."""
    def grad(p):
        with torch.enable_grad():
            q = p.detach().clone().requires_grad_(True)
            (g,) = torch.autograd.grad(fn(q).sum(), q)
        return g
    return grad


@pytest.mark.parametrize("name", list(TOY_FUNCTIONS))
def test_closed_form_gradients_match_autograd(name):
    pts = torch.tensor(np.random.default_rng(0).normal(size=(7, 2)), dtype=F64)
    torch.testing.assert_close(TOY_GRADIENTS[name](pts), _autograd(TOY_FUNCTIONS[name])(pts), rtol=1e-12, atol=1e-12)
    assert toy_gradient(name) is TOY_GRADIENTS[name]
    with pytest.raises(ValueError, match="toy function"):
        toy_gradient("saddle")


@pytest.mark.parametrize("name", list(TOY_FUNCTIONS))
def test_momentum_descent_with_closed_forms_equals_autograd_gradients(name):
    fn = TOY_FUNCTIONS[name]
    starts = 0.01 * np.array([[1.0, 0.3], [-0.2, 1.0], [0.7, -0.7]])
    kw = dict(lr=0.01, max_steps=3000, record=[0, 2])
    a = momentum_descent(fn, TOY_GRADIENTS[name], starts, [0.9, 1.0, 1.05], **kw)
    b = momentum_descent(fn, _autograd(fn), starts, [0.9, 1.0, 1.05], **kw)
    assert a["steps"].tolist() == b["steps"].tolist() and (a["steps"] > 0).any()
    for pa, pb in zip(a["paths"], b["paths"]):
        np.testing.assert_allclose(pa, pb, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("nesterov", [True, False])
@pytest.mark.parametrize("m", [0.0, 0.5, 0.9, 1.0, 1.05])
def test_momentum_descent_follows_torch_sgd(nesterov, m):
    """Each row is torch.optim.SGD, run explicitly (also for m >= 1, which SGD accepts)."""
    fn = TOY_FUNCTIONS["monkey"]
    start = np.array([[0.1, -0.05], [0.02, 0.3]])
    steps = 25
    res = momentum_descent(fn, TOY_GRADIENTS["monkey"], start, [m, m], lr=0.02, max_steps=steps, nesterov=nesterov,
                           escape_by="distance", escape_at=1e300, record=[0, 1])
    for row in range(2):
        w = torch.nn.Parameter(torch.tensor(start[row], dtype=F64))
        opt = torch.optim.SGD([w], lr=0.02, momentum=m, nesterov=nesterov and m > 0)
        ref = [w.detach().clone().numpy()]
        for _ in range(steps):
            opt.zero_grad()
            fn(w).backward()
            opt.step()
            ref.append(w.detach().clone().numpy())
        np.testing.assert_allclose(res["paths"][row], np.array(ref), rtol=1e-12, atol=1e-14)
    assert res["steps"].tolist() == [-1, -1]


def test_rows_with_different_momenta_are_independent_runs():
    fn, grad = TOY_FUNCTIONS["degenerate"], TOY_GRADIENTS["degenerate"]
    start = np.array([[0.005, 0.01]])
    both = momentum_descent(fn, grad, np.tile(start, (2, 1)), [0.99, 1.05], lr=0.01, max_steps=10000, record=[0, 1])
    for row, m in enumerate((0.99, 1.05)):
        one = momentum_descent(fn, grad, start, [m], lr=0.01, max_steps=10000, record=[0])
        assert both["steps"][row] == one["steps"][0] > 0
        np.testing.assert_allclose(both["paths"][row], one["paths"][0], rtol=1e-12, atol=1e-15)
    assert both["steps"][1] < both["steps"][0]  # m above 1 escapes the degenerate saddle sooner


@pytest.mark.parametrize("nesterov", [True, False])
def test_one_learning_rate_per_row_is_each_rate_run_alone(nesterov):
    """A grid of learning rates in one call: each row as if run alone at its rate (up to rounding)."""
    fn, grad = TOY_FUNCTIONS["monkey"], TOY_GRADIENTS["monkey"]
    starts = np.tile(0.01 * np.array([[0.6, 0.8]]), (3, 1))
    lrs, momenta = [0.003, 0.03, 0.3], [0.9, 1.01, 0.5]
    grid = momentum_descent(fn, grad, starts, momenta, lr=np.array(lrs), max_steps=20000, nesterov=nesterov, record=[0, 1, 2])
    for row, (lr, m) in enumerate(zip(lrs, momenta)):
        one = momentum_descent(fn, grad, starts[:1], [m], lr=lr, max_steps=20000, nesterov=nesterov, record=[0])
        assert abs(int(grid["steps"][row]) - int(one["steps"][0])) <= 1 and one["steps"][0] > 0
        n = min(len(grid["paths"][row]), len(one["paths"][0]))
        np.testing.assert_allclose(grid["paths"][row][:n], one["paths"][0][:n], rtol=1e-6, atol=1e-9)
    same = momentum_descent(fn, grad, starts, momenta, lr=[0.03] * 3, max_steps=20000, nesterov=nesterov)
    ref = momentum_descent(fn, grad, starts, momenta, lr=0.03, max_steps=20000, nesterov=nesterov)
    assert same["steps"].tolist() == ref["steps"].tolist()
    with pytest.raises(ValueError, match="lr: 2 learning rates for 3 rows"):
        momentum_descent(fn, grad, starts, momenta, lr=[0.1, 0.2], max_steps=5)


def test_escape_step_is_the_first_step_past_the_criterion():
    fn, grad = TOY_FUNCTIONS["quadratic"], TOY_GRADIENTS["quadratic"]
    start = np.array([[0.0, 0.01], [0.0, 0.01]])
    lr = 0.1
    # gradient descent on -y^2: y_t = 0.01 * 1.2^t; the loss -y_t^2 drops by 1 once y_t^2 >= 1 + 1e-4
    res_loss = momentum_descent(fn, grad, start, [0.0, 0.0], lr=lr, max_steps=100, escape_by="loss", escape_at=1.0)
    res_dist = momentum_descent(fn, grad, start, [0.0, 0.0], lr=lr, max_steps=100, escape_by="distance", escape_at=1.0)
    y = 0.01 * 1.2 ** np.arange(101)
    assert res_loss["steps"].tolist() == [int(np.argmax(y**2 >= 1.0 + 1e-4))] * 2
    assert res_dist["steps"].tolist() == [int(np.argmax(y >= 1.0))] * 2


def test_a_point_on_the_stable_manifold_never_escapes():
    res = momentum_descent(TOY_FUNCTIONS["quadratic"], TOY_GRADIENTS["quadratic"], np.array([[0.01, 0.0]]), [0.9],
                           lr=0.01, max_steps=300)
    assert res["steps"].tolist() == [-1] and not res["diverged"][0]
    assert res["paths"] == []


def test_a_row_that_overflows_is_marked_diverged():
    fn = lambda p: 0.0 * p.sum(-1)  # flat: the loss never drops (0, then NaN once p overflows)
    res = momentum_descent(fn, lambda p: -2 * p, np.array([[1.0, 1.0]]), [1.5], lr=1.0, max_steps=2000)
    assert res["steps"].tolist() == [-1] and res["diverged"].tolist() == [True]


def test_momentum_descent_rejects_bad_input():
    fn, grad = TOY_FUNCTIONS["quadratic"], TOY_GRADIENTS["quadratic"]
    with pytest.raises(ValueError, match="escape_by"):
        momentum_descent(fn, grad, np.zeros((1, 2)), [0.9], lr=0.1, max_steps=5, escape_by="time")
    with pytest.raises(ValueError, match="shapes"):
        momentum_descent(fn, grad, np.zeros((2, 2)), [0.9], lr=0.1, max_steps=5)


@pytest.mark.parametrize("method", ["heavy-ball", "nesterov"])
@pytest.mark.parametrize("m, a", [(0.9, 0.01), (1.05, 0.001), (1.1, 0.5), (0.5, 0.3)])
def test_iteration_matrix_gives_the_recursion_of_the_iterates(method, m, a):
    """By Cayley-Hamilton every coordinate of a linear recursion with matrix T
    obeys x_{t+2} = tr(T) x_{t+1} - det(T) x_t; the iterates of
    momentum_descent on 0.5 h x^2 (PyTorch's form, a = lr h) must do so."""
    lr, steps = 0.1, 40
    h = a / lr
    fn = lambda p: 0.5 * h * p[..., 0] ** 2 + 0.0 * p[..., 1]
    grad = lambda p: torch.stack([h * p[..., 0], 0.0 * p[..., 1]], -1)
    res = momentum_descent(fn, grad, np.array([[1.0, 0.0]]), [m], lr=lr, max_steps=steps, nesterov=method == "nesterov",
                           escape_by="distance", escape_at=1e300, record=[0])
    x = res["paths"][0][:, 0]
    T = iteration_matrix(m, a, method)
    pred = np.trace(T) * x[1:-1] - np.linalg.det(T) * x[:-2]
    np.testing.assert_allclose(x[2:], pred, rtol=1e-9, atol=1e-12 * np.abs(x).max())
    # and the first step is plain gradient descent, as in torch.optim.SGD
    assert x[1] == pytest.approx(1 - a * (1 + m) if method == "nesterov" else 1 - a)


@pytest.mark.parametrize("m", [1.01, 1.1, 1.5])
@pytest.mark.parametrize("a", [1e-3, 0.1, 0.9])
def test_heavy_ball_spectral_radius_exceeds_sqrt_m(m, a):
    assert spectral_radius(m, a, "heavy-ball") >= math.sqrt(m) - 1e-12


def test_nesterov_spectral_radius_bound_and_stable_case():
    for m in (1.01, 1.1):
        for a in (1e-4, 1e-3, 0.5 * (1 - 1 / m)):
            assert spectral_radius(m, a, "nesterov") >= math.sqrt(m * (1 - a)) - 1e-12 > 1 - 1e-12
    # a stiff direction can still contract for m slightly above 1 (why small curvatures matter)
    assert spectral_radius(1.1, 0.5, "nesterov") < 1
    # gradient descent (m = 0) on a = 0.3 contracts by exactly 1 - a
    assert spectral_radius(0.0, 0.3, "heavy-ball") == pytest.approx(0.7)
    with pytest.raises(ValueError, match="method"):
        iteration_matrix(0.9, 0.1, "adam")
