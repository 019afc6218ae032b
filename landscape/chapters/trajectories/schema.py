"""The trajectories chapter's parameters (its notebook's parameters cell holds the defaults);
the last block holds the decision rules of claims 3.1-3.3 (v1's and v2's)."""

from __future__ import annotations

from ...experiment.params import Param, Rule, Schema
from ..common import DEVICE, PROFILE, SEEDS, THREADS
from .experiments import INITS

SCHEMA = Schema(
    rules=[
        Rule(("planted_rank", "d_in", "d_out"), lambda p: p.planted_rank <= min(p.d_in, p.d_out),
             "be at most min(d_in, d_out): a map of that rank must exist"),
        Rule(("dead_units", "width"), lambda p: p.dead_units <= p.width, "be at most width (units that exist can be switched off)"),
        Rule(("record_every", "iterations"), lambda p: p.record_every <= p.iterations, "be at most iterations"),
    ],
    profile=PROFILE,
    device=DEVICE,
    seeds=SEEDS,
    threads=THREADS,
    workers=Param(int, "processes computing independent batches of runs at once (results do not depend on it)", low=1, high=64),
    # synthetic data
    d_in=Param(int, "input dimension of the synthetic regression", low=2, high=256),
    d_out=Param(int, "output dimension of the synthetic regression", low=2, high=256),
    planted_rank=Param(int, "rank of the planted linear map", low=1, high=256),
    data_noise=Param(float, "standard deviation of the noise in the synthetic targets", low=0.0, high=10.0),
    n_train=Param(int, "training examples of the synthetic regression", low=4, high=100000),
    data_seed=Param(int, "seed of the synthetic data set", low=0, high=2**31 - 1),
    # network and training
    width=Param(int, "hidden width r of every hidden layer (the narrowest width)", low=1, high=256),
    depth=Param(int, "number of weight matrices H for sections 1-3", low=2, high=10),
    depths=Param(list, "depths compared in claim 3.3", item=int, low=2, high=10, min_len=1),
    lr=Param(float, "gradient-descent step size", low=1e-6, high=10.0),
    iterations=Param(int, "gradient-descent steps per run", low=1, high=1_000_000),
    record_every=Param(int, "record the loss and rank measures every this many steps", low=1, high=100_000),
    rtol=Param(float, "relative tolerance of the numerical rank (singular values above rtol * s_1 count)", low=1e-12, high=0.5),
    # initializations
    ordinary_scale=Param(float, "per-layer scale of the ordinary start (N(0, scale^2 / fan_in))", low=0.0, high=10.0),
    small_scale=Param(float, "per-layer scale of the small start, near the zero saddle", low=0.0, high=10.0),
    dead_units=Param(int, "hidden units switched off in the exactly rank-deficient start", low=1, high=256),
    claim_init=Param(str, "the start on which claims 3.1-3.3 are decided", choices=INITS),
    start_norm=Param(float, "claim 3.3 (v2): Frobenius norm of the initial product at every depth (None: the small start's "
                     "root-mean-square norm at `depth`, small_scale^depth sqrt(d_out))", low=1e-300, high=1e6, nullable=True),
    # noise
    grad_noise=Param(float, "gradient noise: standard deviation at step 0", low=0.0, high=100.0),
    grad_anneal=Param(float, "gradient noise: variance decays as (1 + t)^-gamma (Neelakantan et al. 2015)", low=0.0, high=10.0),
    dropout=Param(float, "dropout probability on the hidden units", low=0.0, high=0.99),
    weight_noise=Param(float, "multiplicative weight noise: standard deviation", low=0.0, high=100.0),
    input_noise=Param(float, "additive input noise: standard deviation", low=0.0, high=100.0),
    label_noise=Param(float, "additive label noise: standard deviation", low=0.0, high=100.0),
    noise_stop=Param(float, "fraction of the steps after which every noise is off (plain GD to the end)", low=0.0, high=1.0),
    noise_scales=Param(list, "multiples of each default magnitude for the magnitude sweep", item=float, low=0.0, high=100.0, min_len=1),
    # real data
    real_dataset=Param(str, "real data set of section 4", choices=("digits", "mnist10k")),
    real_n_train=Param(int, "training examples of the real data set (None: the whole training split)", low=20, nullable=True),
    real_pca=Param(int, "PCA components kept (whitened) as the inputs", low=2, high=784),
    real_width=Param(int, "hidden width of the real-data network", low=1, high=9),
    real_depth=Param(int, "number of weight matrices of the real-data network", low=2, high=10),
    real_lr=Param(float, "step size on the real data", low=1e-6, high=10.0),
    real_iterations=Param(int, "steps on the real data", low=1, high=1_000_000),
    real_runs=Param(int, "seeds used on the real data (the first ones of seeds)", low=1, high=1000),
    # decision rules
    gap_tol=Param(float, "a run reaches the optimum when (L - L*) / L* <= gap_tol", low=0.0, high=1.0),
    rank_margin=Param(float, "claims 3.1/3.3: noise's effective rank must exceed noiseless by more than this (v1: the difference, "
                      "beyond noise; v2: the lower end of the paired interval)", low=-10.0, high=10.0),
    min_rise=Param(float, "claims 3.1/3.3 (v2): a kind whose paired difference + 2 SE is below this shows no meaningful rise "
                   "(not reproduced)", low=0.0, high=10.0),
    success_margin=Param(float, "claim 3.2: noise's success fraction must exceed noiseless by more than this (and beyond noise)", low=-1.0, high=1.0),
)
