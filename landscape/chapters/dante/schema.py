"""The DANTE chapter's parameters (its notebook ``book/dante.ipynb``'s parameters cell
holds the defaults). The decision rules of claims 2.1-2.3 are the last four:
``acc_margin``, ``speed_fraction``, ``speed_ratio``, ``speed_summary``."""

from __future__ import annotations

from ...experiment.params import Param, Rule, Schema
from ..common import DATA_ROOT, DEVICE, PROFILE, SEEDS, THREADS
from .experiments import SCHEDULES

__all__ = ["SCHEMA", "DATASETS", "ACTIVATIONS"]

DATASETS = ("digits", "mnist10k", "mnist", "fashion-mnist")
ACTIVATIONS = ("sigmoid", "grelu", "relu", "tanh")

SCHEMA = Schema(
    profile=PROFILE,
    device=DEVICE,
    data_root=DATA_ROOT,
    threads=THREADS,
    # classifiers
    datasets=Param(list, "data sets of the classifier comparisons (absent file-based ones are skipped)", item=str, choices=DATASETS,
                   min_len=1, unique=True),
    max_train=Param(int, "at most this many training examples per data set (None: all)", low=10, nullable=True),
    max_test=Param(int, "at most this many test examples per data set (None: all)", low=10, nullable=True),
    width=Param(int, "hidden width of the one-hidden-layer MLP", low=1, high=8192),
    deep_widths=Param(list, "hidden widths of the two-hidden-layer MLP", item=int, low=1, high=8192, min_len=2),
    activations=Param(list, "hidden activations compared", item=str, choices=ACTIVATIONS, min_len=1, unique=True),
    slope=Param(float, "alpha of the generalized ReLU max(x, alpha x)", low=1e-4, high=0.999),
    lrs=Param(list, "the learning-rate grid, the same for SGD, Adam and DANTE", item=float, low=1e-6, high=100.0, min_len=1, unique=True),
    sgd_momentum=Param(float, "momentum of the SGD baseline", low=0.0, high=0.999),
    epochs=Param(int, "epochs of every classifier run (the same budget for every method)", low=1, high=1000),
    batch_size=Param(int, "mini-batch size", low=1, high=65536),
    dante_schedule=Param(str, "DANTE's alternation schedule in the comparisons", choices=SCHEDULES),
    decay=Param(float, "mini-batches of the 1/sqrt decay of schedule 'batch-decay'", low=1.0),
    seeds=SEEDS,
    select_seeds=Param(int, "the learning rate is chosen on the first this-many seeds", low=1, high=100),
    # the sub-problem
    sub_dataset=Param(str, "data set of the one-layer sub-problem", choices=DATASETS),
    sub_points=Param(int, "training examples in the sub-problem's loss", low=10),
    sub_width=Param(int, "hidden width of the sub-problem's network", low=1, high=4096),
    sub_activations=Param(list, "activations of the sub-problem", item=str, choices=ACTIVATIONS, min_len=1, unique=True),
    sub_base_epochs=Param(int, "DANTE epochs of the network whose output layer is then fixed", low=0, high=1000),
    sub_epochs=Param(int, "epochs of normalized GD on the hidden layer alone, per solution", low=1, high=1000),
    sub_lr=Param(float, "step size of the sub-problem's normalized GD (and of the base network)", low=1e-6, high=100.0),
    sub_solutions=Param(int, "solutions of the sub-problem, from independent starts", low=3, high=20),
    sub_radii=Param(list, "radii of the local check, as fractions of the mean distance between solutions", item=float, low=1e-4,
                    high=10.0, min_len=1, unique=True),
    sub_segments=Param(int, "random segments per radius in the local check", low=1, high=1000),
    sub_grid=Param(int, "points per axis of the 2-D slice", low=5, high=401),
    # autoencoder
    ae_dataset=Param(str, "data set of the autoencoder", choices=DATASETS),
    ae_widths=Param(list, "code sizes of the stacked autoencoder (encoder widths)", item=int, low=1, high=8192, min_len=1),
    ae_activation=Param(str, "hidden activation of the autoencoder", choices=ACTIVATIONS),
    ae_max_train=Param(int, "at most this many autoencoder training images (None: all)", low=10, nullable=True),
    ae_pretrain_epochs=Param(int, "DANTE epochs per greedy stage", low=1, high=1000),
    ae_finetune_epochs=Param(int, "DANTE fine-tuning epochs (backprop gets stages x pretrain + finetune epochs)", low=1, high=1000),
    ae_seeds=Param(list, "seeds of the autoencoder runs (each at most once)", item=int, low=0, high=2**31 - 1, min_len=1, unique=True),
    # sensitivity
    sens_dataset=Param(str, "data set of the sensitivity runs", choices=DATASETS),
    sens_activation=Param(str, "activation of the sensitivity runs", choices=ACTIVATIONS),
    sens_lrs=Param(list, "DANTE step sizes of the sensitivity runs", item=float, low=1e-6, high=100.0, min_len=1, unique=True),
    sens_schedules=Param(list, "alternation schedules of the sensitivity runs", item=str, choices=SCHEDULES, min_len=1, unique=True),
    sens_seeds=Param(list, "seeds of the sensitivity runs (each at most once)", item=int, low=0, high=2**31 - 1, min_len=1, unique=True),
    # decision rules
    acc_margin=Param(float, "claims 2.1/2.2: DANTE's accuracy may be at most this many points below the best backprop method", low=0.0, high=100.0),
    speed_fraction=Param(float, "claim 2.3: the target is this fraction of the best final accuracy", low=0.0, high=1.0),
    speed_ratio=Param(float, "claim 2.3: DANTE's time to the target may be at most this multiple of backprop's", low=0.0),
    speed_summary=Param(str, "claim 2.3: how the per-configuration ratios are summarized", choices=("median", "max")),
    rules=[
        Rule(("select_seeds", "seeds"), lambda p: p.select_seeds <= len(p.seeds),
             "be at most the number of seeds (the learning rate is chosen on the first select_seeds seeds)"),
    ],
)
