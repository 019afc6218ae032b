"""The hessian chapter's parameters (its notebook's parameters cell, ``book/hessian.ipynb``,
holds the defaults; the last blocks are the decision rules of claims 1.1-1.6: v2, the
headline, and v1, shown beside it)."""

from __future__ import annotations

from ...experiment.params import Param, Rule, Schema
from ..common import DATA_ROOT, DEVICE, PROFILE, SEEDS, THREADS

__all__ = ["SCHEMA", "ARMS", "DATASETS", "OVERRIDABLE", "arm_values"]

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

#: the arm parameters a regularizer data set may override (``reg_overrides``)
OVERRIDABLE = ("reg_n_train", "reg_n_test", "reg_epochs", "reg_batch_size", "reg_lr", "milestones", "lr_gamma",
               "weight_decay", "gamma", "gamma_middle", "num_probes", "freq", "sp")


def arm_values(p, dataset: str) -> dict:
    """The arm parameters of ``dataset``: the base values, with ``reg_overrides[dataset]``."""
    return {**{k: getattr(p, k) for k in OVERRIDABLE}, **dict(p.reg_overrides.get(dataset, {}))}


def _milestones_fit(p) -> bool:
    for d in p.reg_datasets:
        v = arm_values(p, d)
        if list(v["milestones"]) != sorted(v["milestones"]) or any(m > v["reg_epochs"] for m in v["milestones"]):
            return False
    return True


def _overrides_valid(p) -> str | None:
    for d, over in p.reg_overrides.items():
        if d not in p.reg_datasets:
            return f"{d!r} is not one of reg_datasets"
        for k, v in over.items():
            if k not in OVERRIDABLE:
                return f"{d!r} overrides {k!r}, which is not an arm parameter"
            try:
                SCHEMA.params[k].check(f"reg_overrides[{d!r}][{k!r}]", v)
            except ValueError as exc:
                return str(exc)
    return None


def _enough_snapshots(p) -> bool:
    epochs = list(range(0, p.spec_epochs + 1, p.spec_every))
    epochs = epochs if epochs[-1] == p.spec_epochs else epochs + [p.spec_epochs]
    return sum(e > p.rho_skip * p.spec_epochs for e in epochs) >= p.min_snapshots


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
    spec_seeds=Param(list, "seeds of the spectra runs (each model; each at most once)", item=int, low=0, high=2**31 - 1,
                     min_len=1, unique=True),
    density_snapshots=Param(int, "epochs (evenly from 0 to the last) at which every block's full spectrum is taken", low=1, high=100),
    smooth_activation=Param(str, "activation of the smooth MLP on which claim 1.4 is checked too (H_ll != G_ll)", choices=("tanh", "sigmoid")),
    workers=Param(int, "processes computing independent runs at once (1 on a GPU)", low=1, high=64),
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
    reg_datasets=Param(list, "data sets of the regularizer arms (each decides claims 1.5-1.6)", item=str, choices=DATASETS,
                       min_len=1, unique=True),
    reg_overrides=Param(dict, "data set -> arm parameters of its own (the authors' per-data-set values)"),
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
    # decision rules v2 (declared before any v2 run; the headline verdicts)
    shape_floor=Param(float, "1.1-1.2: magnitudes below this fraction of a spectrum's top one count as this (log10 map)", low=1e-30, high=0.1),
    shape_ratio=Param(float, "1.1: median over layers of d(layer, full) must be at most this x the nulls' smallest d(null, full)", low=0.0, high=1.0),
    seeds_needed=Param(int, "1.1-1.4: the rule must hold in at least this many of the spectra seeds", low=1, high=1000),
    rho_p=Param(float, "1.3: the Spearman correlation's one-sided p-value must be below this", low=0.0, high=1.0),
    min_snapshots=Param(int, "1.3: snapshots after the first rho_skip of the epochs, at least", low=3, high=1000),
    paper_effect=Param(float, "1.5: the paper's accuracy gain (points); a comparison whose MDE exceeds it is underpowered", low=0.0, high=100.0),
    # decision rules v1 (kept, and shown beside v2) and the thresholds v2 keeps
    w1_max=Param(float, "1.1 (v1): median over layers of the scaled W1 (layer vs full) must be at most this", low=0.0, high=10.0),
    depth_low=Param(float, "1.2: the closest layer's normalized depth must be >= this", low=0.0, high=1.0),
    depth_high=Param(float, "1.2: ... and <= this", low=0.0, high=1.0),
    rho_max=Param(float, "1.3: Spearman correlation with epoch must be at most this", low=-1.0, high=1.0),
    rho_skip=Param(float, "1.3: fraction of the epochs left out at the start", low=0.0, high=0.9),
    outlier_slack=Param(int, "1.4: outliers must be within C +- this", low=0, high=1000),
    most_frac=Param(float, "1.3, 1.4: 'most layers' means a fraction of layers strictly above this", low=0.0, high=1.0),
    acc_margin=Param(float, "1.6: middle-only accuracy must be >= full-penalty accuracy - this many points", low=0.0, high=100.0),
    rules=[
        Rule(("depth_low", "depth_high"), lambda p: p.depth_low <= p.depth_high, "have depth_low <= depth_high"),
        Rule(("spec_every", "spec_epochs"), lambda p: p.spec_every <= p.spec_epochs, "have spec_every <= spec_epochs"),
        Rule(("milestones", "reg_epochs", "reg_overrides"), _milestones_fit,
             "list the milestones in increasing order, each at most reg_epochs (for every data set)"),
        Rule(("reg_overrides", "reg_datasets"), _overrides_valid, "override arm parameters of listed data sets, with valid values"),
        Rule(("spec_epochs", "spec_every", "rho_skip", "min_snapshots"), _enough_snapshots,
             "leave at least min_snapshots series snapshots after the first rho_skip of the epochs"),
        Rule(("seeds_needed", "spec_seeds"), lambda p: p.seeds_needed <= len(p.spec_seeds), "be at most the number of spectra seeds"),
    ],
)
