"""Seeded float64 test cases for the curvature toolkit, and independent references.

Every model is built without touching the global RNG (``skip_init`` + a
``torch.Generator``), so each case is fully determined by its seed.  References are
computed on a flat parameter vector, independently of ``landscape.curvature``, by
reverse-over-reverse differentiation (``torch.autograd.functional.hessian``): in
torch 2.14 ``torch.func.hessian`` (forward-over-reverse) is wrong for LayerNorm and for
batch norm in training mode (``tests/test_curvature_user_models.py`` shows it), so it is
not a reference.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import lru_cache
from typing import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call

DT = torch.float64


@pytest.fixture
def single_thread():
    """Run a test with one intra-op thread (tiny models: threads only add overhead,
    and much more so on a loaded 2-core machine); restores the previous setting."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(*shape, g: torch.Generator) -> torch.Tensor:
    return torch.randn(*shape, generator=g, dtype=DT)


def _linear(i: int, o: int) -> nn.Linear:
    return nn.utils.skip_init(nn.Linear, i, o, dtype=DT)


def _init_(model: nn.Module, g: torch.Generator, bias_scale: float = 0.3) -> nn.Module:
    with torch.no_grad():
        for _, p in model.named_parameters():
            if p.ndim >= 2:
                p.copy_(randn(*p.shape, g=g) / p[0].numel() ** 0.5)
            else:
                p.copy_(bias_scale * randn(*p.shape, g=g))
    return model


ACTIVATIONS = {"tanh": nn.Tanh, "relu": nn.ReLU, "sigmoid": nn.Sigmoid}


def mlp(sizes: tuple[int, ...], activation: str, g: torch.Generator) -> nn.Sequential:
    layers: list[nn.Module] = []
    for a, b in zip(sizes[:-1], sizes[1:]):
        layers += [_linear(a, b), ACTIVATIONS[activation]()]
    return _init_(nn.Sequential(*layers[:-1]), g)


class SmallCNN(nn.Module):
    """conv 1->3 (3x3) - tanh - conv 3->2 (3x3) - tanh - flatten - linear -> 3 on 7x7 inputs."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.utils.skip_init(nn.Conv2d, 1, 3, 3, dtype=DT)
        self.conv2 = nn.utils.skip_init(nn.Conv2d, 3, 2, 3, dtype=DT)
        self.fc = _linear(2 * 3 * 3, 3)

    def forward(self, x):
        x = torch.tanh(self.conv1(x))
        x = torch.tanh(self.conv2(x))
        return self.fc(x.flatten(1))


@dataclass
class Case:
    name: str
    model: nn.Module
    loss_fn: Callable
    batches: list[tuple[torch.Tensor, torch.Tensor]]
    extra: dict = field(default_factory=dict)

    @property
    def batch(self) -> tuple[torch.Tensor, torch.Tensor]:
        """All batches concatenated into one."""
        return (torch.cat([x for x, _ in self.batches]), torch.cat([y for _, y in self.batches]))

    @property
    def n(self) -> int:
        return sum(p.numel() for p in self.model.parameters())


def _classification(seed, sizes_in, n_classes, batch_sizes, g):
    xs = [randn(b, *sizes_in, g=g) for b in batch_sizes]
    ys = [torch.randint(0, n_classes, (b,), generator=g) for b in batch_sizes]
    return list(zip(xs, ys))


def make(name: str, seed: int = 0, batch_sizes: tuple[int, ...] = (9, 7, 4)) -> Case:
    """A named case: ``mlp_tanh_ce``, ``mlp_relu_ce``, ``mlp_sigmoid_mse``, ``deep_tanh_ce``, ``cnn_ce``."""
    g = gen(1000 + seed)
    if name == "mlp_tanh_ce":
        model, loss = mlp((5, 8, 3), "tanh", g), F.cross_entropy
        batches = _classification(seed, (5,), 3, batch_sizes, g)
    elif name == "mlp_relu_ce":
        model, loss = mlp((5, 8, 3), "relu", g), F.cross_entropy
        batches = _classification(seed, (5,), 3, batch_sizes, g)
    elif name == "mlp_sigmoid_mse":
        model, loss = mlp((4, 7, 2), "sigmoid", g), F.mse_loss
        batches = [(randn(b, 4, g=g), randn(b, 2, g=g)) for b in batch_sizes]
    elif name == "deep_tanh_ce":
        model, loss = mlp((5, 8, 6, 3), "tanh", g), F.cross_entropy
        batches = _classification(seed, (5,), 3, batch_sizes, g)
    elif name == "cnn_ce":
        model, loss = _init_(SmallCNN(), g), F.cross_entropy
        batches = _classification(seed, (1, 7, 7), 3, batch_sizes, g)
    else:
        raise KeyError(name)
    return Case(name, model, loss, batches)


NAMES = ("mlp_tanh_ce", "mlp_relu_ce", "mlp_sigmoid_mse", "deep_tanh_ce", "cnn_ce")


# ------------------------------------------------------------------ references


def flat_loss(case: Case, names: list[str] | None = None, batches=None):
    """``(f, theta0)``: the sample-weighted mean loss as a function of the flat block ``names``."""
    named = {n: p.detach() for n, p in case.model.named_parameters()}
    names = list(named) if names is None else list(names)
    shapes = [named[n].shape for n in names]
    numels = [named[n].numel() for n in names]
    theta0 = torch.cat([named[n].reshape(-1) for n in names])
    batches = case.batches if batches is None else batches
    total = sum(y.shape[0] for _, y in batches)

    def params_of(flat):
        p = dict(named)
        for n, piece, s in zip(names, torch.split(flat, numels), shapes):
            p[n] = piece.reshape(s)
        return p

    def f(flat):
        p = params_of(flat)
        out = 0.0
        for x, y in batches:
            out = out + (y.shape[0] / total) * case.loss_fn(functional_call(case.model, p, (x,)), y)
        return out

    f.params_of = params_of
    return f, theta0


def reference_hessian(case: Case, names: list[str] | None = None) -> torch.Tensor:
    f, theta0 = flat_loss(case, names)
    return torch.autograd.functional.hessian(f, theta0)


def reference_ggn(case: Case) -> torch.Tensor:
    """sum_b (n_b/N) J_b^T H_out,b J_b, built densely with torch.func."""
    f, theta0 = flat_loss(case)
    total = sum(y.shape[0] for _, y in case.batches)
    G = torch.zeros(theta0.numel(), theta0.numel(), dtype=DT)
    for x, y in case.batches:
        def outputs(flat, x=x):
            return functional_call(case.model, f.params_of(flat), (x,))
        z = outputs(theta0)
        J = torch.func.jacrev(lambda t: outputs(t).reshape(-1))(theta0)            # (N*C, n)
        Hout = torch.autograd.functional.hessian(lambda zz: case.loss_fn(zz.reshape(z.shape), y), z.reshape(-1).detach())
        G += (y.shape[0] / total) * J.T @ Hout @ J
    return G


# ------------------------------------------------------------- a 2-3k-parameter MLP


@lru_cache(maxsize=None)
def medium() -> tuple[Case, torch.Tensor, torch.Tensor]:
    """MLP 20-40-30-5 (tanh, cross-entropy, 160 samples; 2225 parameters), its dense
    Hessian and exact eigenvalues (ascending).  Cached for the whole test session.

    The matrix comes from ``dense_hessian`` (n HVPs, ~1.5 s) rather than torch.func
    (2-3x slower here); ``dense_hessian`` itself is checked against torch.func and
    torch.autograd.functional on the small cases."""
    from landscape.curvature import dense_hessian

    g = gen(7)
    model = mlp((20, 40, 30, 5), "tanh", g)
    x = randn(160, 20, g=g)
    y = torch.randint(0, 5, (160,), generator=g)
    case = Case("medium_mlp", model, F.cross_entropy, [(x, y)])
    H = dense_hessian(model, F.cross_entropy, (x, y))
    return case, H, torch.linalg.eigvalsh(H)
