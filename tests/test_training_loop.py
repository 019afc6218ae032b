import math

import pytest
import torch
import torch.nn.functional as F

from landscape.training import data, models
from landscape.training.loop import History, evaluate, fit


@pytest.fixture(scope="module")
def digits():
    return data.load("digits", n_train=240, n_test=120, seed=0)


def _run(ds, seed, **kw):
    model = models.build("mlp", in_features=64, widths=[12], out_features=10, seed=seed)
    opt = torch.optim.SGD(model.parameters(), lr=0.2, momentum=0.9)
    return model, fit(model, ds.train, test=ds.test, epochs=3, optimizer=opt, batch_size=32, seed=seed, device="cpu", **kw)


def _without_time(h):
    return [{k: v for k, v in r.items() if k != "time"} for r in h.records]


def test_seeded_runs_are_identical_and_seeds_differ(digits):
    m1, h1 = _run(digits, 0)
    m2, h2 = _run(digits, 0)
    _, h3 = _run(digits, 1)
    assert _without_time(h1) == _without_time(h2)
    assert all(torch.equal(a, b) for a, b in zip(m1.state_dict().values(), m2.state_dict().values()))
    assert _without_time(h1) != _without_time(h3)
    assert [r["epoch"] for r in h1.records] == [0, 1, 2, 3] and h1.records[-1]["step"] == 3 * 8
    assert h1["test_acc"][-1] > h1["test_acc"][0]  # it learns
    assert h1.records[-1]["time"] >= h1.records[1]["time"] > 0


def test_fit_leaves_the_global_rng_alone(digits):
    torch.manual_seed(7)
    expected = torch.rand(3)
    torch.manual_seed(7)
    _run(digits, 0)
    assert torch.equal(torch.rand(3), expected)


def test_nan_guard_stops_and_names_the_step(digits):
    model = models.build("mlp", in_features=64, widths=[4], out_features=10)
    calls = {"n": 0}

    def step(m, x, y):
        calls["n"] += 1
        return torch.tensor(float("nan") if calls["n"] == 13 else 1.0)

    h = fit(model, digits.train, epochs=5, step=step, batch_size=32, device="cpu", guard_every=4)
    assert h.diverged
    # 8 steps per epoch: step 13 overall is step 5 of epoch 2; the guard checks every 4 steps
    assert "epoch 2, step 5 of the epoch (step 13 overall)" in h.message
    assert calls["n"] == 16 and h.records[-1]["diverged"] is True and h.records[-1]["epoch"] == 2


def test_a_really_diverging_run_is_a_result_not_a_crash():
    ds = data.load("lowrank", d_in=5, d_out=5, rank=2, n_train=64, n_test=16)
    model = models.build("linear", dims=[5, 5, 5])
    opt = torch.optim.SGD(model.parameters(), lr=50.0)
    h = fit(model, ds.train, test=ds.test, epochs=20, optimizer=opt, loss_fn=F.mse_loss, batch_size=16, device="cpu")
    assert h.diverged and "loss became" in h.message
    assert not math.isfinite(h.records[-1]["train_loss"])


def test_callbacks_scheduler_and_penalty(digits):
    model = models.build("mlp", in_features=64, widths=[12], out_features=10)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    norms = lambda m, epoch, h: {"weight_norm": float(sum(p.detach().norm() ** 2 for p in m.parameters()))}
    h = fit(model, digits.train, epochs=3, optimizer=opt, scheduler=sched, callbacks=[norms], device="cpu")
    assert h["lr"] == [0.1, 0.05, 0.025, 0.0125]
    assert len(h["weight_norm"]) == 4 and "weight_norm" in h.columns
    # a strong L2 penalty shrinks the weights compared with none
    model2 = models.build("mlp", in_features=64, widths=[12], out_features=10)
    opt2 = torch.optim.SGD(model2.parameters(), lr=0.1)
    l2 = lambda m, x, y, i: 1.0 * sum((p**2).sum() for p in m.parameters())
    h2 = fit(model2, digits.train, epochs=3, optimizer=opt2, penalty=l2, callbacks=[norms], device="cpu")
    assert h2["weight_norm"][-1] < 0.5 * h["weight_norm"][-1]


def test_history_round_trip_and_loader_input(digits):
    _, h = _run(digits, 0)
    back = History.from_dict(h.to_dict())
    assert back.records == h.records and back.diverged == h.diverged
    model = models.build("mlp", in_features=64, widths=[8], out_features=10)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    h2 = fit(model, digits.loader("train", batch_size=50), test=digits.test, epochs=1, optimizer=opt, device="cpu")
    assert h2.records[-1]["step"] == 5 and "train_acc" not in h2.records[-1]  # no full-train evaluation for loaders
    with pytest.raises(KeyError, match="no column 'accuracy'"):
        h2["accuracy"]


def test_evaluate_is_exact_on_a_known_model():
    lin = torch.nn.Linear(2, 2, bias=False)
    with torch.no_grad():
        lin.weight.copy_(torch.eye(2))
    x = torch.tensor([[1.0, 0.0], [0.0, 1.0], [2.0, 0.0], [0.0, 3.0]])
    y = torch.tensor([0, 1, 1, 1])
    res = evaluate(lin, (x, y), F.cross_entropy, batch_size=3)
    assert res["acc"] == 0.75
    assert res["loss"] == pytest.approx(float(F.cross_entropy(x, y)), rel=1e-6)


def test_bad_arguments(digits):
    model = models.build("mlp", in_features=64, widths=[4], out_features=10)
    with pytest.raises(ValueError, match="Invalid epochs: -1"):
        fit(model, digits.train, epochs=-1, optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
    with pytest.raises(ValueError, match="needs an optimizer"):
        fit(model, digits.train, epochs=1)


def test_fit_is_a_bare_loop_exactly():
    """fit adds nothing to the arithmetic: its history and final weights equal, bit for bit, those of a
    plain PyTorch loop with the same shuffles (float64, a last partial batch, momentum)."""
    g = torch.Generator().manual_seed(3)
    x, y = torch.randn(70, 6, generator=g, dtype=torch.float64), torch.randint(0, 3, (70,), generator=g)
    epochs, bs, seed = 3, 16, 5

    def make():
        model = models.build("mlp", in_features=6, widths=[5], out_features=3, seed=1, dtype=torch.float64)
        return model, torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)

    model, opt = make()
    h = fit(model, (x, y), epochs=epochs, optimizer=opt, batch_size=bs, seed=seed, device="cpu",
            eval_train=False, eval_at_start=False, progress=False)
    bare, opt = make()
    bare.train()
    means, steps = [], 0
    for epoch in range(1, epochs + 1):
        perm = torch.randperm(70, generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
        losses = []
        for start in range(0, 70, bs):
            idx = perm[start:start + bs]
            opt.zero_grad(set_to_none=True)
            loss = F.cross_entropy(bare(x[idx]), y[idx])
            loss.backward()
            opt.step()
            losses.append(loss.detach())
            steps += 1
        means.append(torch.stack(losses).mean().item())
    assert h["train_loss"] == means
    assert h["step"][-1] == steps == 3 * 5
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), bare.state_dict().values()))
