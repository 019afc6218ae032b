"""The template chapter (``book/template.ipynb``): the whole path once on
``digits`` - parameters, validation, a cached training run, a glued number,
a claim with a computed verdict, a figure, a kernel-free widget and the
re-run box. Paper chapters copy its shape.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
import torch

from .. import data, models
from ..cache import cached
from ..params import Param, Schema
from ..train import History, fit
from .common import DATA_ROOT, DEVICE, PROFILE, SEEDS

NOTEBOOK = "book/template.ipynb"
ORDER = 0
SMOKE_CHECKS = {"template-best-acc": (0.0, 1.0), "template-best-lr": (1e-6, 10.0)}

SCHEMA = Schema(
    profile=PROFILE,
    device=DEVICE,
    dataset=Param(str, "data set", choices=("digits", "mnist10k", "fashion-mnist", "mnist")),
    data_root=DATA_ROOT,
    n_train=Param(int, "training examples (None: all)", low=10, nullable=True),
    n_test=Param(int, "test examples (None: all)", low=10, nullable=True),
    width=Param(int, "hidden width of the one-hidden-layer MLP", low=1, high=4096),
    activation=Param(str, "hidden activation", choices=("sigmoid", "tanh", "relu", "grelu")),
    epochs=Param(int, "training epochs", low=1, high=500),
    batch_size=Param(int, "mini-batch size", low=1, high=8192),
    lrs=Param(list, "learning rates of SGD (momentum 0.9), one curve each", item=float, low=1e-6, high=10.0, min_len=1),
    seeds=SEEDS,
    acc_threshold=Param(float, "claim 0.1: mean test accuracy at the best learning rate must reach this", low=0.0, high=1.0),
)


@cached("template/train_mlp", version=1)
def train_mlp(*, dataset: str, data_root: str | None, n_train: int | None, n_test: int | None, width: int,
              activation: str, epochs: int, batch_size: int, lr: float, seed: int, device: str) -> dict:
    """Train a one-hidden-layer MLP with SGD (momentum 0.9); returns the
    history (as a dict) and the final weights. Cached by all arguments."""
    ds = data.load(dataset, root=data_root, n_train=n_train, n_test=n_test, seed=0)
    model = models.build("mlp", in_features=int(np.prod(ds.input_shape)), widths=[width],
                         out_features=ds.num_classes, activation=activation, seed=seed)
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    hist = fit(model, ds.train, test=ds.test, epochs=epochs, optimizer=opt, batch_size=batch_size, seed=seed, device=device)
    return {"history": hist.to_dict(), "state": model.state_dict()}


def run_grid(p: dict, device: torch.device) -> dict[float, list[History]]:
    """Every (learning rate, seed) run of the chapter, from the cache when warm."""
    keys = ("dataset", "data_root", "n_train", "n_test", "width", "activation", "epochs", "batch_size")
    out: dict[float, list[History]] = {}
    for lr in p["lrs"]:
        out[lr] = [History.from_dict(train_mlp(**{k: p[k] for k in keys}, lr=lr, seed=s, device=str(device))["history"])
                   for s in p["seeds"]]
    return out


def final(histories: list[History], key: str = "test_acc") -> np.ndarray:
    """The last recorded value of ``key`` for each run (NaN for a diverged run)."""
    return np.array([h.last.get(key, math.nan) if not h.diverged else math.nan for h in histories])


def plot_curves(histories: list[History], *, title: str, ax=None):
    """Test accuracy against epoch, one line per seed, mean in bold."""
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 3.2))
    for i, h in enumerate(histories):
        ax.plot(h["epoch"], h["test_acc"], color="C0", alpha=0.35, lw=1, label="one seed" if i == 0 else None)
    n = min(len(h) for h in histories)
    mean = np.nanmean([h["test_acc"][:n] for h in histories], axis=0)
    ax.plot(histories[0]["epoch"][:n], mean, color="C0", lw=2.5, label=f"mean of {len(histories)} seeds")
    ax.set(xlabel="epoch", ylabel="test accuracy", title=title, ylim=(0, 1))
    ax.legend(loc="lower right")
    return fig if fig is not None else ax.figure
