"""The DANTE chapter's parameters (its notebook ``book/dante.ipynb``'s parameters cell
holds the defaults). The decision rules of claims 2.1-2.3 come last: ``acc_margin``,
``speed_fraction``, ``speed_ratio``, ``speed_summary`` (v1's, kept) and the v2 protocol's
``speed_min_seconds``, ``speed_repeats``, ``eval_every``; the grids ``lrs_sgd``,
``lrs_adam``, ``lrs_dante`` (v2) and ``v1_lrs`` (v1's, the variant) with ``val_fraction`` and
``seeds`` say how each method's rate is chosen."""

from __future__ import annotations

import math

from ...experiment.params import Param, Rule, Schema
from ..common import DATA_ROOT, DEVICE, PROFILE, SEEDS, THREADS
from .experiments import SCHEDULES

__all__ = ["SCHEMA", "DATASETS", "ACTIVATIONS", "GRIDS", "MIN_GRID", "log_spaced"]

DATASETS = ("digits", "mnist10k", "mnist", "fashion-mnist")
ACTIVATIONS = ("sigmoid", "grelu", "relu", "tanh")
#: the three methods' grids (rules v2: the same size, at least :data:`MIN_GRID` log-spaced points)
GRIDS = ("lrs_sgd", "lrs_adam", "lrs_dante")
#: the fewest points a v2 grid may have (the smoke profile is exempt)
MIN_GRID = 5


def log_spaced(values, tol: float = 0.25) -> bool:
    """Whether ``values`` increase with every ratio of neighbours within ``tol`` (relative) of
    their geometric mean: a log-spaced grid, allowing the rounding of 1-3-10 steps.

    >>> log_spaced([0.01, 0.03, 0.1, 0.3, 1.0]), log_spaced([0.01, 0.1, 0.2]), log_spaced([0.1, 0.01])
    (True, False, False)
    """
    v = [float(x) for x in values]
    if len(v) < 2:
        return True
    if any(b <= a for a, b in zip(v, v[1:])) or v[0] <= 0:
        return False
    r = [math.log(b / a) for a, b in zip(v, v[1:])]
    g = sum(r) / len(r)
    return all(abs(x - g) <= tol * g for x in r)


def _grids_rule(p) -> str | None:
    sizes = {n: len(getattr(p, n)) for n in GRIDS}
    if len(set(sizes.values())) > 1:
        return "the grids differ in size"
    if p.profile != "smoke" and min(sizes.values()) < MIN_GRID:
        return f"a grid has fewer than {MIN_GRID} points"
    bad = [n for n in GRIDS if not log_spaced(getattr(p, n))]
    return f"not log-spaced: {', '.join(bad)}" if bad else None


SCHEMA = Schema(
    profile=PROFILE,
    device=DEVICE,
    data_root=DATA_ROOT,
    threads=THREADS,
    workers=Param(int, "processes computing independent runs at once (1 on a GPU; results do not depend on it)", low=1, high=64),
    # classifiers
    datasets=Param(list, "data sets of the classifier comparisons (absent file-based ones are skipped)", item=str, choices=DATASETS,
                   min_len=1, unique=True),
    max_train=Param(int, "at most this many training examples per data set (None: all)", low=10, nullable=True),
    max_test=Param(int, "at most this many test examples per data set (None: all)", low=10, nullable=True),
    val_fraction=Param(float, "share of the training examples held out as the validation split (learning rates are chosen on it)",
                       low=0.05, high=0.5),
    width=Param(int, "hidden width of the one-hidden-layer MLP", low=1, high=8192),
    deep_widths=Param(list, "hidden widths of the two-hidden-layer MLP", item=int, low=1, high=8192, min_len=2),
    activations=Param(list, "hidden activations compared", item=str, choices=ACTIVATIONS, min_len=1, unique=True),
    slope=Param(float, "alpha of the generalized ReLU max(x, alpha x) (assumed form)", low=1e-4, high=0.999),
    lrs_sgd=Param(list, "SGD's learning-rate grid (log-spaced)", item=float, low=1e-6, high=100.0, min_len=1, unique=True),
    lrs_adam=Param(list, "Adam's learning-rate grid (log-spaced)", item=float, low=1e-6, high=100.0, min_len=1, unique=True),
    lrs_dante=Param(list, "DANTE's step-size grid (log-spaced)", item=float, low=1e-6, high=100.0, min_len=1, unique=True),
    v1_lrs=Param(list, "v1's grid, shared by the three methods (the variant protocol, and v1's rule)", item=float, low=1e-6,
                 high=100.0, min_len=1, unique=True),
    sgd_momentum=Param(float, "momentum of the SGD baseline", low=0.0, high=0.999),
    epochs=Param(int, "epochs of every classifier run (the same budget for every method)", low=1, high=1000),
    batch_size=Param(int, "mini-batch size", low=1, high=65536),
    dante_schedule=Param(str, "DANTE's alternation schedule in the comparisons", choices=SCHEDULES),
    decay=Param(float, "mini-batches of the 1/sqrt decay of schedule 'batch-decay'", low=1.0),
    seeds=SEEDS,
    select_seeds=Param(int, "every rate of a grid runs on the first this-many seeds; the best on validation is kept", low=1,
                       high=100),
    v1_seeds=Param(int, "seeds of v1's rule (the first this-many)", low=1, high=100),
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
    ae_lrs=Param(list, "the autoencoders' learning-rate grid, the same for the three methods", item=float, low=1e-6, high=100.0,
                 min_len=1, unique=True),
    ae_seeds=Param(list, "seeds of the autoencoder runs (each at most once)", item=int, low=0, high=2**31 - 1, min_len=1, unique=True),
    # sensitivity
    sens_dataset=Param(str, "data set of the sensitivity runs", choices=DATASETS),
    sens_activation=Param(str, "activation of the sensitivity runs", choices=ACTIVATIONS),
    sens_lrs=Param(list, "DANTE step sizes of the sensitivity runs", item=float, low=1e-6, high=100.0, min_len=1, unique=True),
    sens_schedules=Param(list, "alternation schedules of the sensitivity runs", item=str, choices=SCHEDULES, min_len=1, unique=True),
    sens_seeds=Param(list, "seeds of the sensitivity runs (each at most once)", item=int, low=0, high=2**31 - 1, min_len=1, unique=True),
    # claim 2.3's timing
    eval_every=Param(int, "claim 2.3: mini-batches between two validation evaluations of a timed run", low=1, high=100000),
    speed_min_seconds=Param(float, "claim 2.3: every timed run trains at least this many seconds", low=0.0, high=3600.0),
    speed_repeats=Param(int, "claim 2.3: timing repeats per method and configuration (their median is used)", low=1, high=20),
    speed_max_epochs=Param(int, "claim 2.3: a timed run stops after this many epochs, however short", low=1, high=100000),
    timing_session=Param(int, "claim 2.3: a label of the timing session - a new value re-measures the times, nothing else",
                         low=0, high=10**6),
    timing_workers=Param(int, "claim 2.3: timed runs at once (1 on a GPU)", low=1, high=64),
    # decision rules
    acc_margin=Param(float, "claims 2.1/2.2: DANTE's accuracy may be at most this many points below the best backprop method", low=0.0, high=100.0),
    speed_fraction=Param(float, "claim 2.3: the target is this fraction of the best final validation accuracy", low=0.0, high=1.0),
    speed_ratio=Param(float, "claim 2.3: DANTE's time to the target may be at most this multiple of backprop's", low=0.0),
    speed_summary=Param(str, "claim 2.3: how the per-configuration ratios are summarized", choices=("median", "max")),
    rules=[
        Rule(("select_seeds", "seeds"), lambda p: p.select_seeds <= len(p.seeds),
             "be at most the number of seeds (every rate runs on the first select_seeds seeds)"),
        Rule(("v1_seeds", "seeds"), lambda p: p.v1_seeds <= len(p.seeds), "be at most the number of seeds"),
        Rule(("profile", *GRIDS), _grids_rule,
             f"be grids of one size, each increasing and log-spaced, with at least {MIN_GRID} points (rules v2; smoke exempt)"),
        Rule(("v1_lrs",), lambda p: list(p.v1_lrs) == sorted(p.v1_lrs), "be increasing"),
    ],
)
