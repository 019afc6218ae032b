"""landscape.regularizers: the middle mask, the schedule, and the penalty's value and gradient."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from landscape.training import data, models
from landscape.curvature import hessian_trace_penalty
from landscape.methods.trace_penalty import TracePenalty, fires, middle_indices, middle_params, steps_per_epoch
from landscape.training.loop import fit

DT = torch.float64


@pytest.fixture(autouse=True)
def _one_thread():
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def tiny_mlp(seed: int = 0, widths=(5, 4)) -> torch.nn.Module:
    return models.build("mlp", in_features=6, widths=list(widths), out_features=3, activation="tanh", seed=seed, dtype=DT)


def tiny_batch(n: int = 12, seed: int = 1) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 6, generator=g, dtype=DT), torch.randint(0, 3, (n,), generator=g)


# --- the middle mask ----------------------------------------------------------


@pytest.mark.parametrize("n, expected", [(1, [0]), (2, [0, 1]), (4, [1, 2, 3]), (8, [2, 3, 4, 5, 6]),
                                         (10, [2, 3, 4, 5, 6, 7]), (13, [3, 4, 5, 6, 7, 8, 9])])
def test_middle_indices_are_the_closed_interval(n, expected):
    assert middle_indices(n) == expected


def test_middle_mask_of_lenet_is_positions_2_to_7_of_named_parameters():
    model = models.build("lenet5", input_size=8)
    names = [n for n, _ in model.named_parameters()]
    assert len(names) == 10
    assert middle_params(model) == names[2:8]
    assert middle_params(model) == ["conv2.weight", "conv2.bias", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]


def test_middle_mask_of_an_mlp_counts_biases_as_tensors():
    model = models.build("mlp", in_features=4, widths=[3, 3, 3], out_features=2)   # 8 tensors -> positions 2..6
    assert middle_params(model) == ["fc2.weight", "fc2.bias", "fc3.weight", "fc3.bias", "fc4.weight"]
    small = models.build("mlp", in_features=4, widths=[3], out_features=2)          # 4 tensors -> positions 1..3
    assert middle_params(small) == ["fc1.bias", "fc2.weight", "fc2.bias"]


def test_middle_mask_skips_frozen_tensors_but_keeps_their_positions():
    model = models.build("lenet5", input_size=8)
    model.conv2.bias.requires_grad_(False)
    assert middle_params(model) == ["conv2.weight", "fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]


# --- the schedule -------------------------------------------------------------


def test_fires_only_at_multiples_of_freq_within_the_epoch_from_start_epoch_on():
    got = [s for s in range(40) if fires(s, steps_per_epoch=7, freq=3, start_epoch=2)]
    assert got == [14, 17, 20, 21, 24, 27, 28, 31, 34, 35, 38]
    assert not any(fires(s, steps_per_epoch=7, freq=3, start_epoch=2) for s in range(14))


def test_steps_per_epoch_counts_the_short_last_batch():
    assert steps_per_epoch(50, 8) == 7
    assert steps_per_epoch(48, 8) == 6
    with pytest.raises(ValueError, match="batch_size"):
        steps_per_epoch(10, 0)


def test_penalty_fires_exactly_on_schedule_inside_fit():
    ds = data.load("digits", n_train=50, n_test=20, seed=0)
    model = models.build("mlp", in_features=64, widths=[6], out_features=10, seed=0)
    spe = steps_per_epoch(50, 8)
    pen = TracePenalty(gamma=1e-3, steps_per_epoch=spe, num_probes=1, freq=3, start_epoch=2, seed=0)
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    hist = fit(model, ds.train, epochs=4, optimizer=opt, batch_size=8, penalty=pen, device="cpu", eval_train=False)
    assert hist.last["step"] == 4 * spe
    assert pen.fired == [14, 17, 20, 21, 24, 27]
    assert pen.last is not None and torch.isfinite(pen.last)


def test_zero_gamma_and_off_schedule_steps_add_nothing():
    model, batch = tiny_mlp(), tiny_batch()
    assert TracePenalty(gamma=0.0, steps_per_epoch=5, freq=1)(model, *batch, 0) is None
    pen = TracePenalty(gamma=1.0, steps_per_epoch=5, freq=2, start_epoch=1)
    assert pen(model, *batch, 3) is None and pen(model, *batch, 6) is None
    assert pen(model, *batch, 5) is not None and pen.fired == [5]


# --- value and gradient ---------------------------------------------------------


@pytest.mark.parametrize("scope", ["full", "middle"])
def test_penalty_and_its_gradient_are_gamma_times_hessian_trace_penalty(scope):
    model, batch = tiny_mlp(), tiny_batch()
    params = list(model.parameters())
    pen = TracePenalty(gamma=0.25, steps_per_epoch=1, num_probes=3, freq=1, scope=scope, seed=7)
    out = pen(model, *batch, 0)
    block = middle_params(model) if scope == "middle" else None
    ref = 0.25 * hessian_trace_penalty(model, F.cross_entropy, batch, params=block, num_probes=3,
                                       generator=torch.Generator().manual_seed(7))
    assert out.item() == pytest.approx(ref.item(), rel=1e-12)
    g_out = torch.autograd.grad(out, params)
    g_ref = torch.autograd.grad(ref, params)
    for a, b in zip(g_out, g_ref):
        torch.testing.assert_close(a, b, rtol=1e-11, atol=1e-13)
    assert any(float(g.abs().max()) > 1e-6 for g in g_out)      # the gradient is not trivially zero


def test_one_sgd_step_of_fit_follows_loss_plus_penalty():
    model, (x, y) = tiny_mlp(), tiny_batch()
    before = [p.detach().clone() for p in model.parameters()]
    # the expected step, by hand: theta - lr * grad(L + gamma * P) with the same probes
    ref_model = tiny_mlp()
    P = hessian_trace_penalty(ref_model, F.cross_entropy, (x, y), num_probes=2, generator=torch.Generator().manual_seed(3))
    total = F.cross_entropy(ref_model(x), y) + 0.5 * P
    grads = torch.autograd.grad(total, list(ref_model.parameters()))
    pen = TracePenalty(gamma=0.5, steps_per_epoch=1, num_probes=2, freq=1, seed=3)
    fit(model, (x, y), epochs=1, optimizer=torch.optim.SGD(model.parameters(), lr=0.1), batch_size=len(y), penalty=pen,
        device="cpu", eval_train=False, eval_at_start=False)
    for p, p0, g in zip(model.parameters(), before, grads):
        torch.testing.assert_close(p.detach(), p0 - 0.1 * g, rtol=1e-10, atol=1e-12)


def test_middle_penalty_is_the_trace_of_the_middle_block_on_average():
    from landscape.curvature import dense_hessian

    model, batch = tiny_mlp(widths=(3, 3)), tiny_batch()
    H = dense_hessian(model, F.cross_entropy, batch)
    names = middle_params(model)
    offs, start = {}, 0
    for n, p in model.named_parameters():
        offs[n] = (start, start + p.numel())
        start += p.numel()
    idx = torch.cat([torch.arange(*offs[n]) for n in names])
    expected = float(H[idx][:, idx].trace())
    pen = TracePenalty(gamma=1.0, steps_per_epoch=1, num_probes=50, freq=1, scope="middle", seed=11)
    draws = torch.stack([pen(model, *batch, 0).detach() for _ in range(40)])
    stderr = float(draws.std() / 40 ** 0.5)
    assert abs(float(draws.mean()) - expected) <= 4 * stderr
    assert stderr < 0.2 * abs(expected)


def test_same_seed_same_run():
    ds = data.load("digits", n_train=40, n_test=10, seed=0)
    out = []
    for _ in range(2):
        model = models.build("mlp", in_features=64, widths=[5], out_features=10, seed=4)
        pen = TracePenalty(gamma=0.1, steps_per_epoch=5, num_probes=2, freq=2, seed=4)
        fit(model, ds.train, epochs=2, optimizer=torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), batch_size=8,
            penalty=pen, seed=4, device="cpu", eval_train=False)
        out.append(torch.cat([p.detach().reshape(-1) for p in model.parameters()]))
    assert torch.equal(out[0], out[1])


# --- validation -------------------------------------------------------------------


@pytest.mark.parametrize("kwargs, word", [
    (dict(gamma=-1.0), "gamma"), (dict(gamma=float("nan")), "gamma"), (dict(freq=0), "freq"),
    (dict(num_probes=0), "num_probes"), (dict(start_epoch=-1), "start_epoch"), (dict(scope="last"), "scope"),
    (dict(steps_per_epoch=0), "steps_per_epoch"), (dict(params="fc1.weight"), "params"),
])
def test_bad_hyper_parameters_are_named(kwargs, word):
    args = dict(gamma=1e-3, steps_per_epoch=10) | kwargs
    with pytest.raises(ValueError, match=f"Invalid {word}"):
        TracePenalty(**args)
