"""The two networks of the curvature benchmark, trained briefly and seeded.

* ``mlp``: MLP 784-W-W-10 (ReLU) on ``n`` MNIST-10k training images;
* ``cnn``: the LeNet-5-style CNN (``landscape.training.models.build("lenet5", input_size=28)``)
  on the first ``n`` of the same images.

Each is trained with ``steps`` SGD steps (momentum 0.9, batch 128, seeded
shuffles) on its image set, then put in eval mode; the Hessian is that of the mean
cross-entropy over the whole set (one batch).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

from landscape import data, models


@dataclass
class Problem:
    name: str
    label: str
    model: nn.Module
    batch: tuple[torch.Tensor, torch.Tensor]
    loss_fn: object = F.cross_entropy
    info: dict = field(default_factory=dict)

    @property
    def n_params(self) -> int:
        return sum(p.numel() for p in self.model.parameters() if p.requires_grad)


def train_sgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, *, steps: int, lr: float, batch_size: int = 128,
              momentum: float = 0.9, seed: int = 0) -> dict:
    """``steps`` SGD steps on mini-batches drawn (seeded) from ``(x, y)``; full-set loss before and after."""
    gen = torch.Generator().manual_seed(seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=momentum)
    with torch.no_grad():
        before = float(F.cross_entropy(model(x), y))
    done = 0
    while done < steps:
        perm = torch.randperm(x.shape[0], generator=gen)
        for start in range(0, x.shape[0] - batch_size + 1, batch_size):
            idx = perm[start:start + batch_size]
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            opt.step()
            done += 1
            if done == steps:
                break
    for p in model.parameters():
        p.grad = None
    model.eval()
    with torch.no_grad():
        out = model(x)
        after = float(F.cross_entropy(out, y))
        acc = float((out.argmax(1) == y).float().mean())
    return {"steps": steps, "lr": lr, "momentum": momentum, "batch_size": batch_size, "seed": seed,
            "loss_before": before, "loss_after": after, "train_acc": acc}


def bare_loop(model: nn.Module, x: torch.Tensor, y: torch.Tensor, optimizer: torch.optim.Optimizer, *, epochs: int,
              batch_size: int, seed: int = 0) -> list[float]:
    """Plain PyTorch training with ``landscape.training.fit``'s shuffles (``seed * 100003 + epoch``) and
    nothing else: zero_grad, forward, loss, backward, step; the mean loss of each epoch."""
    model.train()
    means = []
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        for epoch in range(1, epochs + 1):
            perm = torch.randperm(x.shape[0], generator=torch.Generator().manual_seed(seed * 100_003 + epoch))
            losses = []
            for start in range(0, x.shape[0], batch_size):
                idx = perm[start:start + batch_size]
                optimizer.zero_grad(set_to_none=True)
                loss = F.cross_entropy(model(x[idx]), y[idx])
                loss.backward()
                optimizer.step()
                losses.append(loss.detach())
            means.append(torch.stack(losses).double().mean().item())
    return means


def images(n: int) -> tuple[torch.Tensor, torch.Tensor]:
    ds = data.load("mnist10k", n_train=n, seed=0)
    return ds.train


def mlp_problem(*, widths=(256, 256), n: int = 2048, steps: int = 60, lr: float = 0.1, seed: int = 0) -> Problem:
    x, y = images(n)
    model = models.build("mlp", in_features=784, widths=list(widths), out_features=10, seed=seed)
    info = train_sgd(model, x, y, steps=steps, lr=lr, seed=seed)
    label = f"MLP 784-{'-'.join(map(str, widths))}-10, {n} images"
    return Problem("mlp", label, model, (x, y), info=info)


def cnn_problem(*, n: int = 1024, steps: int = 60, lr: float = 0.1, seed: int = 0) -> Problem:
    x, y = images(max(n, 2048))
    x, y = x[:n], y[:n]
    model = models.build("lenet5", input_size=28, seed=seed)
    info = train_sgd(model, x, y, steps=steps, lr=lr, seed=seed)
    return Problem("cnn", f"LeNet-5 CNN, {n} images", model, (x, y), info=info)
