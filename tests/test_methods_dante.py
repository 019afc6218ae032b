"""Tests of landscape.dante: normalized steps, alternation, GLM limit, digits, autoencoder."""

from __future__ import annotations

import doctest
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from landscape.methods import dante as dante_module
from landscape.training import data, models
from landscape.methods.dante import DANTE, greedy_autoencoder
from landscape.training.loop import fit


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """These models are tiny: one intra-op thread is faster and keeps timings
    stable when other processes share the cores (restored afterwards)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def digits():
    return data.load("digits", n_train=500, n_test=300)


def snapshot(model: nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.detach().clone() for n, p in model.named_parameters()}


def mlp64(widths=(32,), activation="sigmoid", seed=0, dtype=None):
    return models.build("mlp", in_features=64, widths=list(widths), out_features=10, activation=activation, seed=seed, dtype=dtype)


def group_step_norm(before, after, names):
    return math.sqrt(sum(float(((after[n] - before[n]).double() ** 2).sum()) for n in names))


# --- the normalized step ------------------------------------------------------


@pytest.mark.parametrize("layer", ["fc1", "fc2"])
def test_step_has_norm_eta_exactly(digits, layer):
    model = mlp64(dtype=torch.float64)
    x, y = digits.train[0][:64].double(), digits.train[1][:64]
    trainer = DANTE(model, lr=0.37)
    before = snapshot(model)
    loss = trainer.layer_step(model, x, y, layer)
    after = snapshot(model)
    # the loss returned is the loss before the step
    with torch.no_grad():
        for n, p in model.named_parameters():
            p.copy_(before[n])
        assert loss.item() == pytest.approx(F.cross_entropy(model(x), y).item(), rel=1e-12)
    names = trainer.groups[layer]
    assert names == [f"{layer}.weight", f"{layer}.bias"]
    assert group_step_norm(before, after, names) == pytest.approx(0.37, rel=1e-6)
    # the bias moved too: the norm is over weight and bias together
    assert not torch.equal(before[f"{layer}.bias"], after[f"{layer}.bias"])
    assert trainer.step_norms.tolist() == pytest.approx([0.37], rel=1e-12)
    assert trainer.grad_norms.item() > 0
    assert trainer.active_layer == layer and trainer.counts[layer] == 1


def test_zero_gradient_is_skipped(digits):
    model = mlp64(dtype=torch.float64)
    with torch.no_grad():
        model.fc2.weight.zero_()  # the output no longer depends on fc1: its gradient is exactly 0
    x, y = digits.train[0][:64].double(), digits.train[1][:64]
    trainer = DANTE(model, lr=0.5)
    before = snapshot(model)
    trainer.layer_step(model, x, y, "fc1")
    after = snapshot(model)
    for n in before:
        assert torch.equal(before[n], after[n]), n
    assert trainer.grad_norms.tolist() == [0.0]
    assert trainer.step_norms.tolist() == [0.0]
    assert trainer.num_skipped == 1
    # a gradient below eps is skipped as well, a larger one is not
    trainer = DANTE(model, lr=0.5, eps=1e6)
    trainer.layer_step(model, x, y, "fc2")
    assert torch.equal(model.fc2.bias, before["fc2.bias"])
    trainer = DANTE(model, lr=0.5)
    trainer.layer_step(model, x, y, "fc2")
    assert trainer.step_norms.tolist() == pytest.approx([0.5], rel=1e-6)


def test_decay_schedule():
    model = mlp64()
    assert DANTE(model, lr=0.2).lr_at(10**6) == 0.2
    tr = DANTE(model, lr=0.2, decay=100)
    assert tr.lr_at(0) == 0.2
    assert tr.lr_at(300) == pytest.approx(0.2 / 2)
    tr = DANTE(model, lr=0.2, decay=lambda t: 1.0 / (1 + t))
    assert tr.lr_at(3) == pytest.approx(0.05)


# --- alternation ----------------------------------------------------------------


def test_only_the_active_layer_changes(digits):
    model = mlp64(widths=(16, 16))
    x, y = digits.train[0][:32], digits.train[1][:32]
    frozen_flags = {n: p.requires_grad for n, p in model.named_parameters()}
    trainer = DANTE(model, lr=0.1)
    assert trainer.order == ["fc3", "fc2", "fc1"]
    for layer in ["fc1", "fc2", "fc3", "fc2"]:
        before = snapshot(model)
        trainer.layer_step(model, x, y, layer)
        after = snapshot(model)
        for n in before:
            if n.startswith(layer + "."):
                assert not torch.equal(before[n], after[n]), n
            else:
                assert torch.equal(before[n], after[n]), (layer, n)
        assert {n: p.requires_grad for n, p in model.named_parameters()} == frozen_flags
        assert all(p.grad is None for p in model.parameters())
    assert trainer.trace == ["fc1", "fc2", "fc3", "fc2"]
    assert trainer.counts == {"fc1": 1, "fc2": 2, "fc3": 1}


def test_requires_grad_flags_restored_with_a_frozen_parameter(digits):
    model = mlp64()
    model.fc1.bias.requires_grad_(False)
    trainer = DANTE(model, layers={"w1": ["fc1.weight"], "l2": ["fc2.weight", "fc2.bias"]})
    x, y = digits.train[0][:32], digits.train[1][:32]
    before = snapshot(model)
    trainer.step(model, x, y)
    flags = {n: p.requires_grad for n, p in model.named_parameters()}
    assert flags == {"fc1.weight": True, "fc1.bias": False, "fc2.weight": True, "fc2.bias": True}
    assert torch.equal(before["fc1.bias"], model.fc1.bias)
    assert trainer.trace == ["l2", "w1"]


def test_batch_schedule_order_and_counts(digits):
    model = mlp64(widths=(8, 8))
    trainer = DANTE(model, order=["fc3", "fc1"], steps_per_layer=2)
    fit(model, digits.train, epochs=1, batch_size=100, step=trainer, device="cpu", eval_train=False)
    assert trainer.num_steps == 5
    assert trainer.trace == ["fc3", "fc3", "fc1", "fc1"] * 5
    assert trainer.counts == {"fc1": 10, "fc2": 0, "fc3": 10}
    assert trainer.active_layer == "fc1"
    trainer = DANTE(model, order="forward")
    trainer.step(model, *digits.train)
    assert trainer.trace == ["fc1", "fc2", "fc3"]


def test_epoch_schedule_trains_one_layer_per_epoch(digits):
    model = mlp64(widths=(8, 8))
    n_batches = math.ceil(500 / 100)
    trainer = DANTE(model, schedule="epoch", steps_per_epoch=n_batches, lr=0.05)
    snaps = []
    fit(model, digits.train, epochs=4, batch_size=100, step=trainer, device="cpu", eval_train=False,
        callbacks=[lambda m, e, h: snaps.append(snapshot(m))])
    assert len(snaps) == 5  # epoch 0 (before training) and 4 epochs
    expected = ["fc3", "fc2", "fc1", "fc3"]  # backward order, cycling
    for epoch, layer in enumerate(expected, start=1):
        before, after = snaps[epoch - 1], snaps[epoch]
        changed = {n.split(".")[0] for n in before if not torch.equal(before[n], after[n])}
        assert changed == {layer}, (epoch, changed)
    assert trainer.trace == [layer for layer in expected for _ in range(n_batches)]


def test_step_returns_the_loss_before_any_update(digits):
    model = mlp64()
    x, y = digits.train[0][:50], digits.train[1][:50]
    with torch.no_grad():
        expected = F.cross_entropy(model(x), y)
    loss = DANTE(model, steps_per_layer=3)(model, x, y)
    assert not loss.requires_grad and loss.ndim == 0
    assert loss.item() == expected.item()


# --- one layer: normalized gradient descent ---------------------------------------


def separable_data(n=200, d=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(d, generator=g)
    x = torch.randn(4 * n, d, generator=g)
    margin = x @ w / w.norm()
    keep = margin.abs() > 0.2
    x, margin = x[keep][:n], margin[keep][:n]
    return x, (margin > 0).long()


def test_one_layer_is_normalized_gd():
    x, y = separable_data()
    model = models.build("mlp", in_features=2, widths=[], out_features=2, seed=3, dtype=torch.float64)
    manual = models.build("mlp", in_features=2, widths=[], out_features=2, seed=3, dtype=torch.float64)
    trainer = DANTE(model, lr=0.3)
    assert list(trainer.groups) == ["fc1"]
    x = x.double()
    for _ in range(10):
        trainer.step(model, x, y)
        grads = torch.autograd.grad(F.cross_entropy(manual(x), y), list(manual.parameters()))
        norm = torch.sqrt(sum((g**2).sum() for g in grads))
        with torch.no_grad():
            for p, g in zip(manual.parameters(), grads):
                p -= 0.3 * g / norm
    for p, q in zip(model.parameters(), manual.parameters()):
        torch.testing.assert_close(p, q, rtol=1e-12, atol=1e-12)


def test_separable_data_reaches_full_training_accuracy():
    x, y = separable_data(seed=1)
    model = models.build("mlp", in_features=2, widths=[], out_features=2, seed=0)
    h = fit(model, (x, y), epochs=30, batch_size=20, step=DANTE(model, lr=0.1), device="cpu", seed=0)
    assert h.last["train_acc"] == 1.0
    assert not h.diverged


def test_least_squares_converges_to_an_eta_neighbourhood():
    g = torch.Generator().manual_seed(0)
    n, d = 200, 5
    x = torch.randn(n, d, generator=g, dtype=torch.float64)
    y = x @ torch.randn(d, 1, generator=g, dtype=torch.float64) + 0.5 + 0.1 * torch.randn(n, 1, generator=g, dtype=torch.float64)
    optimum = torch.linalg.lstsq(torch.cat([x, torch.ones(n, 1, dtype=torch.float64)], 1), y).solution.squeeze(1)

    def distance(model):
        return float((torch.cat([model.weight.flatten(), model.bias]).detach() - optimum).norm())

    # decaying step: full-batch normalized GD stays within eta_t of the optimum, and eta_t -> 0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = nn.Linear(d, 1).double()
    trainer = DANTE(model, lr=0.5, decay=10, loss_fn=F.mse_loss)
    start = distance(model)
    dists = []
    for t in range(1, 401):
        trainer.step(model, x, y)
        if t in (50, 200, 400):
            dists.append(distance(model))
            assert dists[-1] <= trainer.lr_at(t - 1), (t, dists[-1], trainer.lr_at(t - 1))
    assert start > 2.0 and dists[0] > dists[1] > dists[2]
    assert dists[-1] < 0.05 * start

    # constant step: an eta-neighbourhood, not the optimum
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = nn.Linear(d, 1).double()
    trainer = DANTE(model, lr=0.5, loss_fn=F.mse_loss)
    for _ in range(200):
        trainer.step(model, x, y)
    assert distance(model) <= 0.5
    assert trainer.step_norms[-10:].tolist() == pytest.approx([0.5] * 10)


# --- the shared loop ------------------------------------------------------------------


def test_deterministic_under_a_seed(digits):
    runs = []
    for _ in range(2):
        model = mlp64(activation="grelu", seed=5)
        trainer = DANTE(model, lr=0.1, decay=50)
        h = fit(model, digits.train, test=digits.test, epochs=3, batch_size=64, step=trainer,
                callbacks=[trainer.callback], seed=7, device="cpu")
        runs.append((h, snapshot(model), trainer.step_norms))
    (h1, w1, s1), (h2, w2, s2) = runs
    strip = lambda h: [{k: v for k, v in r.items() if k != "time"} for r in h.records]
    assert strip(h1) == strip(h2)
    assert h1["lr"][-1] == pytest.approx(0.1 / math.sqrt(1 + (3 * 8 - 1) / 50))
    for n in w1:
        assert torch.equal(w1[n], w2[n]), n
    assert torch.equal(s1, s2)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(layers=["fc1", "fc9"]), r"layers.*'fc9'"),
        (dict(layers={"a": ["fc1.weight", "nope"]}), r"layers.*'nope'"),
        (dict(lr=0), r"Invalid lr: 0"),
        (dict(lr=-0.1), r"Invalid lr: -0.1"),
        (dict(lr=float("nan")), r"Invalid lr"),
        (dict(steps_per_layer=0), r"Invalid steps_per_layer: 0"),
        (dict(steps_per_layer=1.5), r"Invalid steps_per_layer"),
        (dict(schedule="layer"), r"Invalid schedule: 'layer'"),
        (dict(order="sideways"), r"Invalid order: 'sideways'"),
        (dict(order=["fc2", "fc7"]), r"Invalid order: .*'fc7'"),
        (dict(order=[]), r"Invalid order"),
        (dict(decay=-1), r"Invalid decay"),
        (dict(eps=-1.0), r"Invalid eps"),
        (dict(schedule="epoch"), r"Invalid steps_per_epoch"),
        (dict(schedule="epoch", steps_per_epoch=0), r"Invalid steps_per_epoch: 0"),
    ],
)
def test_bad_configurations_are_rejected(kwargs, match):
    with pytest.raises(ValueError, match=match):
        DANTE(mlp64(), **kwargs)


def test_constructor_has_no_side_effects_and_other_model_is_rejected(digits):
    model = mlp64()
    before = snapshot(model)
    trainer = DANTE(model)
    assert all(torch.equal(before[n], p) for n, p in model.named_parameters())
    assert trainer.active_layer is None and trainer.num_steps == 0
    with pytest.raises(ValueError, match="model"):
        trainer.step(mlp64(), *digits.train)
    with pytest.raises(ValueError, match="'fc5'"):
        trainer.layer_step(model, *digits.train, "fc5")


# --- digits ----------------------------------------------------------------------------


@pytest.mark.parametrize("activation, lr, epochs", [("sigmoid", 0.2, 15), ("grelu", 0.1, 10)])
def test_one_hidden_layer_mlp_learns_digits(digits, activation, lr, epochs):
    model = mlp64(activation=activation)
    if activation == "grelu":
        assert isinstance(model.act1, models.GeneralizedReLU)
    trainer = DANTE(model, lr=lr)
    h = fit(model, digits.train, test=digits.test, epochs=epochs, batch_size=32, step=trainer, device="cpu", seed=0)
    assert h["test_acc"][0] < 0.3  # chance is 0.1
    assert h.last["test_acc"] > 0.75
    assert trainer.counts == {"fc1": epochs * 16, "fc2": epochs * 16}


def test_epoch_schedule_learns_digits(digits):
    model = mlp64(activation="grelu")
    trainer = DANTE(model, lr=0.2, schedule="epoch", steps_per_epoch=16, steps_per_layer=2)
    h = fit(model, digits.train, test=digits.test, epochs=10, batch_size=32, step=trainer, device="cpu", eval_train=False)
    assert h.last["test_acc"] > 0.7


# --- autoencoder -----------------------------------------------------------------------------


def test_greedy_autoencoder_beats_the_mean_image(digits):
    xtr, xte = digits.train[0], digits.test[0]
    res = greedy_autoencoder(xtr, [32, 16], activation="sigmoid", lr=0.2, pretrain_epochs=8, finetune_epochs=8,
                             batch_size=32, test=xte, device="cpu", seed=0)
    flat_te = xte.flatten(1)
    mean_mse = F.mse_loss(xtr.flatten(1).mean(0).expand_as(flat_te), flat_te).item()
    with torch.no_grad():
        mse = F.mse_loss(res.model(xte), flat_te).item()
        code = res.encoder(xte)
    assert code.shape == (300, 16)
    assert mse < 0.7 * mean_mse
    assert mse == pytest.approx(res.finetune.last["test_loss"], rel=1e-5)
    assert len(res.pretrain) == 2 and len(res.trainers) == 3
    assert list(res.trainers[-1].groups) == ["encoder.fc1", "encoder.fc2", "decoder.fc2", "decoder.fc1"]
    # fine-tuning improved on the stacked network
    assert res.finetune["test_loss"][-1] < res.finetune["test_loss"][0]


def test_greedy_autoencoder_rejects_bad_arguments(digits):
    with pytest.raises(ValueError, match="widths"):
        greedy_autoencoder(digits.train[0], [])
    with pytest.raises(ValueError, match="Invalid lr"):
        greedy_autoencoder(digits.train[0], [8], lr=0)


# --- docs and devices -------------------------------------------------------------------------


def test_docstring_examples():
    result = doctest.testmod(dante_module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_step_without_host_sync(digits):
    device = torch.device("cuda")
    model = mlp64().to(device)
    x, y = digits.train[0][:64].to(device), digits.train[1][:64].to(device)
    trainer = DANTE(model, lr=0.25)
    trainer.step(model, x, y)  # warm up (lazy CUDA initialisation may sync)
    before = snapshot(model)
    torch.cuda.synchronize()
    previous = torch.cuda.get_sync_debug_mode()
    torch.cuda.set_sync_debug_mode("error")
    try:
        for _ in range(3):
            trainer.step(model, x, y)
    finally:
        torch.cuda.set_sync_debug_mode(previous)
    after = snapshot(model)
    assert trainer.step_norms.tolist() == pytest.approx([0.25] * 8, rel=1e-5)
    assert any(not torch.equal(before[n], after[n]) for n in before)
