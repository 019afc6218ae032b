"""The template chapter's parameters (its notebook's parameters cell holds the defaults)."""

from __future__ import annotations

from ...experiment.params import Param, Schema
from ..common import DATA_ROOT, DEVICE, PROFILE, SEEDS

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
    lrs=Param(list, "learning rates of SGD (momentum 0.9), one curve each", item=float, low=1e-6, high=10.0, min_len=1, unique=True),
    seeds=SEEDS,
    acc_threshold=Param(float, "claim 0.1: mean test accuracy at the best learning rate must reach this", low=0.0, high=1.0),
)
