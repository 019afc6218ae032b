"""hessian_trace_penalty: unbiased for tr(H_BB), exact for given probes, correct gradient."""

from __future__ import annotations

import copy

import pytest
import torch

from cases import DT, flat_loss, gen, make, randn, reference_hessian, single_thread  # noqa: F401
from landscape.curvature import hessian_trace_penalty

pytestmark = pytest.mark.usefixtures("single_thread")

BLOCK = ["2.weight", "2.bias"]


def block_index(model, names):
    offsets, start = {}, 0
    for n, p in model.named_parameters():
        offsets[n] = torch.arange(start, start + p.numel())
        start += p.numel()
    return torch.cat([offsets[n] for n in names])


@pytest.mark.parametrize("params", [None, BLOCK])
def test_value_is_the_quadratic_form_of_the_documented_probes(params):
    case = make("deep_tanh_ce")
    H = reference_hessian(case)
    if params is not None:
        idx = block_index(case.model, params)
        H = H[idx][:, idx]
    n = H.shape[0]
    pen = hessian_trace_penalty(case.model, case.loss_fn, case.batches, params=params, num_probes=3,
                                generator=gen(21))
    g = gen(21)
    Z = torch.randint(0, 2, (3, n), generator=g, dtype=torch.int8).to(DT) * 2 - 1      # row k = probe k
    expected = sum(z @ H @ z for z in Z) / 3
    assert pen.ndim == 0 and pen.requires_grad
    assert pen.item() == pytest.approx(float(expected), rel=1e-10)


@pytest.mark.parametrize("params", [None, BLOCK])
def test_mean_over_probes_is_the_block_trace(params):
    case = make("deep_tanh_ce")
    H = reference_hessian(case)
    if params is not None:
        idx = block_index(case.model, params)
        H = H[idx][:, idx]
    g = gen(22)
    means = torch.stack([hessian_trace_penalty(case.model, case.loss_fn, case.batches, params=params,
                                               num_probes=25, generator=g).detach() for _ in range(40)])
    stderr = means.std() / 40 ** 0.5
    assert abs(float(means.mean() - H.trace())) <= 4 * float(stderr)
    assert float(stderr) < 0.1 * abs(float(H.trace()))       # the check has teeth


def test_gradient_matches_finite_differences():
    case = make("deep_tanh_ce")
    model = case.model

    def penalty_at(m):
        return hessian_trace_penalty(m, case.loss_fn, case.batches, params=BLOCK, num_probes=2, generator=gen(5))

    pen = penalty_at(model)
    grads = torch.autograd.grad(pen, list(model.parameters()))
    g_flat = torch.cat([g.reshape(-1) for g in grads])
    assert g_flat.norm() > 0
    eps = 1e-5
    for seed in (1, 2, 3):
        d = randn(g_flat.numel(), g=gen(100 + seed))
        values = []
        for sign in (1, -1):
            m = copy.deepcopy(model)
            with torch.no_grad():
                theta = torch.nn.utils.parameters_to_vector(m.parameters())
                torch.nn.utils.vector_to_parameters(theta + sign * eps * d, m.parameters())
            values.append(penalty_at(m).item())
        fd = (values[0] - values[1]) / (2 * eps)
        assert float(g_flat @ d) == pytest.approx(fd, rel=1e-6, abs=1e-9)


def test_return_loss_and_training_step():
    case = make("deep_tanh_ce", batch_sizes=(16,))
    model = case.model
    f, theta0 = flat_loss(case)
    pen, loss = hessian_trace_penalty(model, case.loss_fn, case.batch, num_probes=1, generator=gen(1),
                                      return_loss=True)
    assert loss.item() == pytest.approx(f(theta0).item(), rel=1e-12)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    (loss + 0.1 * pen).backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())
    opt.step()
    assert not torch.equal(torch.nn.utils.parameters_to_vector(model.parameters()), theta0)


def test_bad_arguments_raise():
    case = make("deep_tanh_ce")
    with pytest.raises(ValueError, match="num_probes"):
        hessian_trace_penalty(case.model, case.loss_fn, case.batches, num_probes=0)
    with pytest.raises(ValueError, match="'9.weight' does not exist"):
        hessian_trace_penalty(case.model, case.loss_fn, case.batches, params=["9.weight"])
    with pytest.raises(ValueError, match="scalar"):
        hessian_trace_penalty(case.model, lambda o, y: o.sum(1), case.batches, reduction="mean")


# ---------------------------------------------------------------- estimator="gauss-newton"

from torch import nn  # noqa: E402

from cases import Case, reference_ggn  # noqa: E402


def relu_cnn_case() -> Case:
    """conv - ReLU - max-pool - linear: piecewise linear in every parameter."""
    g = gen(77)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(), nn.Linear(12, 3)).double()
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(randn(*p.shape, g=g) * 0.7)
    batches = [(randn(b, 1, 6, 6, g=g), torch.randint(0, 3, (b,), generator=g)) for b in (9, 7, 4)]
    return Case("relu_cnn", model, torch.nn.functional.cross_entropy, batches)


def gn_mean(case, *, params=None, draws=40, probes=25, seed=30, **kw):
    g = gen(seed)
    vals = torch.stack([hessian_trace_penalty(case.model, case.loss_fn, case.batches, params=params, num_probes=probes,
                                              generator=g, estimator="gauss-newton", **kw).detach()
                        for _ in range(draws)])
    return vals.mean(), vals.std() / draws ** 0.5


@pytest.mark.parametrize("name,params", [("deep_tanh_ce", None), ("deep_tanh_ce", BLOCK), ("mlp_sigmoid_mse", None),
                                         ("cnn_ce", None)])
def test_gauss_newton_mean_is_the_ggn_trace(name, params):
    case = make(name)
    G = reference_ggn(case)
    if params is not None:
        idx = block_index(case.model, params)
        G = G[idx][:, idx]
    mean, stderr = gn_mean(case, params=params)
    assert abs(float(mean - G.trace())) <= 4 * float(stderr)
    assert float(stderr) < 0.1 * float(G.trace())


@pytest.mark.parametrize("case_fn", [lambda: make("mlp_relu_ce"), relu_cnn_case])
def test_gauss_newton_is_the_hessian_trace_of_piecewise_linear_networks(case_fn):
    case = case_fn()
    H, G = reference_hessian(case), reference_ggn(case)
    assert float(H.trace()) == pytest.approx(float(G.trace()), rel=1e-10)   # the diagonals agree ...
    assert float((H - G).norm()) > 1e-3 * float(H.norm())                    # ... the matrices do not
    mean, stderr = gn_mean(case)
    assert abs(float(mean - H.trace())) <= 4 * float(stderr)
    assert float(stderr) < 0.1 * float(H.trace())


def test_gauss_newton_gradient_is_unbiased_for_the_ggn_trace():
    """E[grad P] = grad tr G, including the part through the output Hessian (the softmax)."""
    case = make("deep_tanh_ce")
    model = case.model
    d = randn(sum(p.numel() for p in model.parameters()), g=gen(55))

    def shifted(t):
        m = copy.deepcopy(model)
        with torch.no_grad():
            theta = torch.nn.utils.parameters_to_vector(m.parameters())
            torch.nn.utils.vector_to_parameters(theta + t * d, m.parameters())
        return m

    eps = 1e-4
    exact = (reference_ggn(Case("p", shifted(eps), case.loss_fn, case.batches)).trace()
             - reference_ggn(Case("m", shifted(-eps), case.loss_fn, case.batches)).trace()) / (2 * eps)
    g = gen(56)
    dirs = []
    for _ in range(300):
        pen = hessian_trace_penalty(model, case.loss_fn, case.batches, num_probes=4, generator=g,
                                    estimator="gauss-newton")
        grads = torch.autograd.grad(pen, list(model.parameters()))
        dirs.append(float(torch.cat([x.reshape(-1) for x in grads]) @ d))
    dirs = torch.tensor(dirs, dtype=DT)
    stderr = float(dirs.std() / len(dirs) ** 0.5)
    assert abs(float(dirs.mean()) - float(exact)) <= 4 * stderr
    assert stderr < 0.1 * abs(float(exact))


def test_gauss_newton_gradient_matches_finite_differences_for_fixed_probes():
    case = make("deep_tanh_ce")

    def penalty_at(m):
        return hessian_trace_penalty(m, case.loss_fn, case.batches, params=BLOCK, num_probes=2, generator=gen(6),
                                     estimator="gauss-newton")

    grads = torch.autograd.grad(penalty_at(case.model), list(case.model.parameters()))
    g_flat = torch.cat([g.reshape(-1) for g in grads])
    assert g_flat.norm() > 0
    eps = 1e-5
    for seed in (1, 2):
        d = randn(g_flat.numel(), g=gen(200 + seed))
        values = []
        for sign in (1, -1):
            m = copy.deepcopy(case.model)
            with torch.no_grad():
                theta = torch.nn.utils.parameters_to_vector(m.parameters())
                torch.nn.utils.vector_to_parameters(theta + sign * eps * d, m.parameters())
            values.append(penalty_at(m).item())
        assert float(g_flat @ d) == pytest.approx((values[0] - values[1]) / (2 * eps), rel=1e-6, abs=1e-9)


def test_gauss_newton_custom_square_root_and_errors():
    case = make("mlp_tanh_ce")
    from landscape.curvature.penalty import _cross_entropy_sqrt

    known = hessian_trace_penalty(case.model, case.loss_fn, case.batches, generator=3, estimator="gauss-newton")
    custom = hessian_trace_penalty(case.model, lambda z, y: torch.nn.functional.cross_entropy(z, y), case.batches,
                                   generator=3, estimator="gauss-newton", output_sqrt=_cross_entropy_sqrt,
                                   reduction="mean")
    assert known.item() == custom.item()
    with pytest.raises(ValueError, match="pass output_sqrt"):
        hessian_trace_penalty(case.model, lambda z, y: torch.nn.functional.cross_entropy(z, y), case.batches,
                              estimator="gauss-newton", reduction="mean")
    with pytest.raises(ValueError, match="shaped like the outputs"):
        hessian_trace_penalty(case.model, case.loss_fn, case.batches, estimator="gauss-newton",
                              output_sqrt=lambda z, y, r: r[:, :1])
    with pytest.raises(ValueError, match="estimator"):
        hessian_trace_penalty(case.model, case.loss_fn, case.batches, estimator="fisher")
