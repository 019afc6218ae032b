"""The template chapter's experiment: one-hidden-layer MLPs trained with SGD on
``digits``, one per (learning rate, seed), cached; the best learning rate is
the one with the lowest mean final training loss."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from ...experiment.cache import cached
from ...experiment.params import Params
from ...training import models
from ...training.data import DataSpec
from ...training.loop import History, fit, resolve_device

__all__ = ["Results", "run", "train_mlp", "final"]


@cached("template/train_mlp", version=2, ignore=("device",))
def train_mlp(*, data: DataSpec, width: int, activation: str, epochs: int, batch_size: int, lr: float, seed: int,
              device: str) -> dict:
    """Train a one-hidden-layer MLP with SGD (momentum 0.9); returns the history
    (as a dict) and the final weights. Cached by everything but the device."""
    ds = data.load()
    model = models.build("mlp", in_features=int(np.prod(ds.input_shape)), widths=[width],
                         out_features=ds.num_classes, activation=activation, seed=seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    hist = fit(model, ds.train, test=ds.test, epochs=epochs, optimizer=opt, batch_size=batch_size, seed=seed, device=device)
    return {"history": hist.to_dict(), "state": model.state_dict()}


def final(histories: list[History], key: str = "test_acc") -> np.ndarray:
    """The last recorded value of ``key`` for each run (NaN for a diverged run)."""
    return np.array([h.last.get(key, math.nan) if not h.diverged else math.nan for h in histories])


@dataclass
class Results:
    """What the template chapter measured.

    Attributes:
        runs: learning rate -> one :class:`History` per seed.
        train_loss: learning rate -> mean final training loss over seeds.
        best_lr: the learning rate with the lowest ``train_loss``.
        final_acc, init_acc: per seed, the test accuracy at the best learning rate after
            training and before it (epoch 0).
    """

    runs: dict[float, list[History]]
    train_loss: dict[float, float]
    best_lr: float
    final_acc: np.ndarray
    init_acc: np.ndarray


def run(p: Params) -> Results:
    """Every (learning rate, seed) run, from the cache when warm."""
    device = str(resolve_device(p.device))
    data = DataSpec(p.dataset, root=p.data_root, n_train=p.n_train, n_test=p.n_test, seed=0)
    runs = {lr: [History.from_dict(train_mlp(data=data, width=p.width, activation=p.activation, epochs=p.epochs,
                                             batch_size=p.batch_size, lr=lr, seed=s, device=device)["history"])
                 for s in p.seeds] for lr in p.lrs}
    train_loss = {lr: float(final(hs, "train_eval_loss").mean()) for lr, hs in runs.items()}
    best = min(train_loss, key=train_loss.get)
    return Results(runs, train_loss, best, final(runs[best]), final([History(h.records[:1]) for h in runs[best]]))
