"""The toolkit chapter's parameters (its notebook's parameters cell holds the defaults);
the last block holds the decision rules of claims 6.1-6.5."""

from __future__ import annotations

from ...experiment.params import Param, Schema
from ..common import DATA_ROOT, DEVICE, PROFILE, THREADS

SCHEMA = Schema(
    profile=PROFILE,
    device=DEVICE,
    data_root=DATA_ROOT,
    threads=THREADS,
    # the small network
    dataset=Param(str, "data set of the small network", choices=("digits", "mnist10k")),
    n_train=Param(int, "training examples, also the batch whose Hessian is studied (None: all)", low=20, nullable=True),
    widths=Param(list, "hidden widths of the MLP", item=int, low=1, high=512, min_len=1),
    activation=Param(str, "hidden activation", choices=("tanh", "relu", "sigmoid")),
    epochs=Param(int, "training epochs before the Hessian is taken", low=0, high=500),
    lr=Param(float, "SGD learning rate (momentum 0.9)", low=1e-6, high=10.0),
    batch_size=Param(int, "mini-batch size of the training", low=1, high=8192),
    seed=Param(int, "seed of the weights, the shuffles and every estimator", low=0, high=2**31 - 1),
    dense_max_dim=Param(int, "largest parameter count for which the dense Hessian is formed", low=10, high=40000),
    # estimators
    eig_k=Param(int, "how many top (and bottom) eigenvalues Lanczos computes", low=1, high=50),
    eig_tol=Param(float, "relative residual tolerance of Lanczos", low=1e-14, high=1e-2),
    trail_max_hvps=Param(int, "largest HVP budget of the top-eigenvalue convergence trail", low=4, high=1000),
    trace_budgets=Param(list, "HVP budgets of the trace estimators", item=int, low=6, high=100000, min_len=2),
    trace_seeds=Param(list, "probe seeds of the trace study (one estimate per seed, budget and method)", item=int, low=0, high=2**31 - 1, min_len=2),
    slq_probes=Param(int, "SLQ: probes", low=1, high=1000),
    slq_steps=Param(int, "SLQ: Lanczos steps per probe (the density of claim 6.2)", low=2, high=2000),
    explore_steps=Param(list, "SLQ steps per probe offered in the Explore slider (at most 6)", item=int, low=2, high=2000, min_len=1),
    penalty_samples=Param(int, "evaluations (1 probe each) of the differentiable trace penalty", low=3, high=100000),
    bench_source=Param(str, "peer comparison: 'auto' (bench/results.json, else a live run if the peers import, else skip), 'json', 'live' or 'off'", choices=("auto", "json", "live", "off")),
    # decision rules (declared before the run)
    eig_rel_tol=Param(float, "6.1: max |Ritz value - exact| / ||H||_2 over the top and bottom eig_k must be at most this", low=0.0, high=1.0),
    w1_rel_tol=Param(float, "6.2: Wasserstein-1 (SLQ vs exact spectrum) / spectral range must be at most this", low=0.0, high=1.0),
    coverage_min=Param(float, "6.3: fraction of trace runs with |estimate - exact| <= 2 stderr must be at least this", low=0.0, high=1.0),
    block_rel_tol=Param(float, "6.4: max |block Ritz value - exact block eigenvalue| / ||H_ll||_2 must be at most this", low=0.0, high=1.0),
    penalty_z=Param(float, "6.5: |mean penalty - exact trace| / its standard error must be at most this", low=0.0, high=100.0),
)
