"""The hessian chapter's parameters (its notebook's parameters cell, ``book/hessian.ipynb``,
holds the defaults; the last block, from ``w1_max`` on, are the decision rules of claims 1.1-1.6)."""

from __future__ import annotations

from ...experiment.params import Param, Rule, Schema
from ..common import DATA_ROOT, DEVICE, PROFILE, SEEDS, THREADS

__all__ = ["SCHEMA", "ARMS", "DATASETS"]

#: the arms of the regularizer experiment: (label, L2?, penalty scope or None)
ARMS = {
    "sgd": ("SGD", False, None),
    "sgd+l2": ("SGD + L2", True, None),
    "sgd+trace": ("SGD + trace penalty", False, "full"),
    "sgd+trace+l2": ("SGD + trace penalty + L2", True, "full"),
    "sgd+middle": ("SGD + middle-layer penalty", False, "middle"),
}
DATASETS = ("digits", "mnist10k", "mnist", "fashion-mnist")

_seed = Param(int, "a random seed", low=0, high=2**31 - 1)


def _milestones_fit(p) -> bool:
    return list(p.milestones) == sorted(p.milestones) and all(m <= p.reg_epochs for m in p.milestones)


SCHEMA = Schema(
    profile=PROFILE,
    device=DEVICE,
    data_root=DATA_ROOT,
    threads=THREADS,
    fallback_dataset=Param(str, "data set used instead when a requested one is not on this machine (None: fail)", choices=DATASETS, nullable=True),
    # 1-4. spectra through training
    spec_dataset=Param(str, "data set of the spectra experiments", choices=DATASETS),
    spec_n_train=Param(int, "training examples of the spectra runs (None: all)", low=10, nullable=True),
    per_class=Param(int, "examples per class of the fixed subset on which spectra are computed", low=1, high=1000),
    mlp_widths=Param(list, "hidden widths of the MLP", item=int, low=1, high=4096, min_len=1),
    lenet_width=Param(int, "channel multiplier of the LeNet-style CNN", low=1, high=16),
    spec_epochs=Param(int, "training epochs of the spectra runs", low=1, high=500),
    spec_every=Param(int, "spectra after every this many epochs (and at the last)", low=1, high=500),
    spec_batch_size=Param(int, "mini-batch size of the spectra runs", low=1, high=8192),
    spec_lr=Param(float, "learning rate of the spectra runs (SGD, constant)", low=1e-6, high=10.0),
    spec_seed=_seed,
    exact_max_dim=Param(int, "dense Hessian + eigh for models with at most this many parameters, SLQ above", low=0, high=20000),
    slq_probes=Param(int, "SLQ: probes per density", low=1, high=100),
    slq_steps=Param(int, "SLQ: Lanczos steps per probe", low=2, high=1000),
    trace_matvecs=Param(int, "Hutch++ budget (HVPs) per trace", low=3, high=10000),
    eig_tol=Param(float, "relative residual tolerance of the top eigenvalue", low=1e-10, high=0.1),
    curvature_seed=_seed,
    grid_epochs=Param(int, "rows (epochs) of the density grid figures", low=1, high=6),
    # similarity measures and outliers
    auth_eps=Param(float, "authors' measure: eps in log(density + eps)", low=1e-30, high=1.0),
    auth_bins=Param(int, "authors' measure: grid points of each density vector", low=10, high=100000),
    auth_sigma2=Param(float, "authors' measure: Gaussian variance per unit of width (PyHessian's sigma_squared)", low=1e-12, high=1.0),
    edge_sigma=Param(float, "bulk edge: broadening, as a fraction of the spectrum's width", low=1e-5, high=0.5),
    edge_floor=Param(float, "bulk edge: the bulk is where the density exceeds this many isolated eigenvalues' peak height", low=1e-3, high=1e6),
    # 5-6. the regularizer
    reg_dataset=Param(str, "data set of the regularizer arms", choices=DATASETS),
    reg_n_train=Param(int, "training examples of the arms (None: all)", low=10, nullable=True),
    reg_n_test=Param(int, "test examples of the arms (None: all)", low=10, nullable=True),
    reg_model=Param(str, "model of the arms", choices=("lenet5", "mlp")),
    reg_epochs=Param(int, "training epochs of each arm", low=1, high=500),
    reg_batch_size=Param(int, "mini-batch size of the arms", low=1, high=8192),
    reg_lr=Param(float, "initial learning rate of the arms", low=1e-6, high=10.0),
    momentum=Param(float, "SGD momentum (all runs)", low=0.0, high=0.999),
    milestones=Param(list, "epochs at which the learning rate is multiplied by lr_gamma", item=int, low=1, high=500),
    lr_gamma=Param(float, "factor of the step schedule", low=1e-4, high=1.0),
    weight_decay=Param(float, "L2 (weight decay) of the + L2 arms", low=0.0, high=1.0),
    gamma=Param(float, "weight of the full trace penalty", low=0.0, high=10.0),
    gamma_middle=Param(float, "weight of the middle-layer penalty", low=0.0, high=10.0),
    num_probes=Param(int, "K: Rademacher probes per penalized step", low=1, high=100),
    freq=Param(int, "penalize mini-batches whose in-epoch index is a multiple of this", low=1, high=100000),
    sp=Param(int, "first (0-based) epoch with the penalty", low=0, high=500),
    arms=Param(list, "arms to run (each at most once)", item=str, choices=tuple(ARMS), min_len=1, unique=True),
    seeds=SEEDS,
    # decision rules (declared before the run)
    w1_max=Param(float, "1.1: median over layers of the scaled W1 (layer vs full) must be at most this", low=0.0, high=10.0),
    depth_low=Param(float, "1.2: the closest layer's normalized depth must be >= this (sound measure)", low=0.0, high=1.0),
    depth_high=Param(float, "1.2: ... and <= this", low=0.0, high=1.0),
    rho_max=Param(float, "1.3: Spearman correlation with epoch must be at most this", low=-1.0, high=1.0),
    rho_skip=Param(float, "1.3: fraction of the epochs left out at the start", low=0.0, high=0.9),
    outlier_slack=Param(int, "1.4: outliers must be within C +- this", low=0, high=1000),
    most_frac=Param(float, "1.3, 1.4: 'most layers' means a fraction of layers strictly above this", low=0.0, high=1.0),
    acc_margin=Param(float, "1.6: middle-only accuracy must be >= full-penalty accuracy - this many points", low=0.0, high=100.0),
    rules=[
        Rule(("depth_low", "depth_high"), lambda p: p.depth_low <= p.depth_high, "have depth_low <= depth_high"),
        Rule(("spec_every", "spec_epochs"), lambda p: p.spec_every <= p.spec_epochs, "have spec_every <= spec_epochs"),
        Rule(("milestones", "reg_epochs"), _milestones_fit, "list the milestones in increasing order, each at most reg_epochs"),
    ],
)
