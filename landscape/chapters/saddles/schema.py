"""The saddles chapter's parameters (its notebook's parameters cell, ``book/saddles.ipynb``, holds the
defaults) and the rules between them, checked before any kernel starts."""

from __future__ import annotations

from ...experiment.params import Param, Rule, Schema
from ..common import DATA_ROOT, DEVICE, PROFILE, SEEDS, THREADS
from .experiments import NATIVE_SIZE, OPTIMIZERS, mlp_size

__all__ = ["SCHEMA"]

_lr = lambda what: Param(float, f"learning rate of {what}", low=1e-6, high=10.0)
_tols = lambda what: Param(list, what, item=float, low=0.0, high=1.0, min_len=1)
_side = lambda p, size: NATIVE_SIZE[p.dataset] if size is None else size


def _dense_fits(p) -> str | None:
    n = mlp_size(_side(p, p.input_size), p.widths)
    return None if n <= p.max_dense else f"the MLP has {n} parameters"


RULES = [
    Rule(("dataset", "input_size"), lambda p: p.input_size is None or p.input_size <= NATIVE_SIZE[p.dataset],
         "be at most the data set's native side, 8 for digits and 28 otherwise: images are average-pooled, not enlarged"),
    Rule(("dataset", "big_input_size"), lambda p: p.big_input_size is None or p.big_input_size <= NATIVE_SIZE[p.dataset],
         "be at most the data set's native side, 8 for digits and 28 otherwise: images are average-pooled, not enlarged"),
    Rule(("dataset", "input_size", "widths", "max_dense"), _dense_fits,
         "give an MLP of at most max_dense parameters: every spectrum of sections 1-4 is a dense Hessian"),
    Rule(("snapshot_epochs", "epochs"), lambda p: all(e < p.epochs for e in p.snapshot_epochs),
         "be below epochs: the spectrum at the last epoch is always taken"),
    Rule(("dataset", "input_size", "also_datasets"), lambda p: all(NATIVE_SIZE[d] == NATIVE_SIZE[p.dataset] if p.input_size is None else NATIVE_SIZE[d] >= p.input_size
                                                                  for d in p.also_datasets),
         "give every data set the same input side, at most its native one: the same MLP is trained on each"),
    Rule(("line_points",), lambda p: p.line_points % 2 == 1, "be odd, so that the line includes alpha = 0"),
    Rule(("big_hessian_n", "n_train"), lambda p: p.big_hessian_n is None or p.n_train is None or p.big_hessian_n <= p.n_train,
         "be at most n_train: the large network's Hessian is on the first big_hessian_n training examples"),
]

SCHEMA = Schema(
    rules=RULES,
    profile=PROFILE,
    device=DEVICE,
    threads=THREADS,
    # data and model
    dataset=Param(str, "data set", choices=tuple(NATIVE_SIZE)),
    data_root=DATA_ROOT,
    input_size=Param(int, "side the images are average-pooled to (None: native, 8 for digits, 28 otherwise)", low=2, high=28, nullable=True),
    n_train=Param(int, "training examples (None: all); the Hessian is that of the loss on all of them", low=10, nullable=True),
    n_test=Param(int, "test examples (None: all)", low=10, nullable=True),
    widths=Param(list, "hidden widths of the MLP", item=int, low=1, high=4096, min_len=1),
    activation=Param(str, "hidden activation of the MLP", choices=("tanh", "relu", "sigmoid", "grelu")),
    max_dense=Param(int, "refuse a dense Hessian above this many parameters", low=10, high=60000),
    # training
    optimizers=Param(list, "optimizers compared (pgd: perturbed gradient descent, the saddle-escaping method)", item=str,
                     choices=OPTIMIZERS, min_len=1, unique=True),
    epochs=Param(int, "training epochs of every run", low=1, high=5000),
    batch_size=Param(int, "mini-batch size", low=1, high=65536),
    lr_sgd=_lr("SGD"),
    lr_momentum=_lr("SGD + momentum"),
    momentum=Param(float, "momentum of SGD + momentum", low=0.0, high=0.999),
    lr_adam=_lr("Adam"),
    lr_adagrad=_lr("Adagrad"),
    lr_pgd=_lr("perturbed gradient descent"),
    pgd_radius=Param(float, "PGD: radius r of the perturbation ball", low=0.0, high=100.0),
    pgd_g_thres=Param(float, "PGD: perturb when the (mini-batch) gradient norm is at most this", low=0.0, high=1e3),
    pgd_t_thres=Param(int, "PGD: steps between two perturbations, at least", low=0, high=10**7),
    seeds=SEEDS,
    workers=Param(int, "processes training independent runs at once (1 on a GPU); the results do not depend on it", low=1, high=64),
    also_datasets=Param(list, "other data sets the same runs are repeated on, claims 5.1-5.4 decided on each (the gpu profile)",
                        item=str, choices=tuple(NATIVE_SIZE), unique=True),
    snapshot_epochs=Param(list, "epochs at which the exact spectrum is also taken during training, first seed only (besides 0 and the last)", item=int, low=1, high=5000),
    # reading the spectrum
    rel_tols=_tols("tolerances relative to lambda_max at which the fractions are reported"),
    abs_tols=_tols("absolute tolerances at which the fractions are reported"),
    # escaping
    n_directions=Param(int, "eigenvectors of the most negative eigenvalues followed from the converged point", low=1, high=50),
    line_radius=Param(float, "largest step length |alpha| along each direction (parameter-space units)", low=1e-6, high=1e3),
    line_points=Param(int, "step lengths on [-line_radius, line_radius] (odd: includes 0)", low=3, high=1001),
    search_step=Param(float, "v2 line search: first step length (parameter-space units); each next one search_growth times longer, until the loss rises", low=1e-12, high=10.0),
    search_growth=Param(float, "v2 line search: ratio of two successive step lengths", low=1.01, high=100.0),
    search_max_steps=Param(int, "v2 line search: steps per side at most (a search that reaches it is reported as capped)", low=1, high=1000),
    n_random=Param(int, "5.1(c): random unit directions whose line searches the one along v_min must beat (the median of them)", low=1, high=1000),
    escape_epochs=Param(int, "epochs trained after the escape step (and, as the control, without it)", low=1, high=1000),
    # semicircle
    bulk_trim=Param(float, "fraction of eigenvalues cut at each end before fitting the semicircle (the outliers)", low=0.0, high=0.25),
    # beyond exact size
    big_model=Param(str, "the network too large for a dense Hessian", choices=("lenet5",)),
    big_input_size=Param(int, "input side of the large network (None: native)", low=8, high=28, nullable=True),
    big_dtype=Param(str, "floating-point type of the large network and its Hessian-vector products", choices=("float32", "float64")),
    big_optimizer=Param(str, "optimizer of the large network (its learning rate as above)", choices=OPTIMIZERS),
    big_hessian_n=Param(int, "the large network's Hessian is on the first this many training examples (None: all)", low=1, nullable=True),
    big_epochs=Param(int, "training epochs of the large network", low=1, high=5000),
    slq_probes=Param(int, "SLQ: random probes", low=1, high=1000),
    slq_steps=Param(int, "SLQ: Lanczos steps per probe", low=2, high=2000),
    n_extreme=Param(int, "smallest eigenvalues found by Lanczos (which='smallest')", low=1, high=100),
    eig_tol=Param(float, "Lanczos: relative residual tolerance", low=1e-12, high=0.5),
    eig_max_hvps=Param(int, "Lanczos: Hessian-vector products allowed per call", low=10, high=10**6),
    # decision rules (declared before the run, in the notebook's parameters cell; landscape/chapters/saddles/claims.py)
    zero_tol=Param(float, "5.1/5.2: near zero means |lambda| <= zero_tol * lambda_max", low=0.0, high=1.0),
    neg_tol=Param(float, "5.1: negative means lambda < -neg_tol * lambda_max", low=0.0, high=1.0),
    stationary_tol=Param(float, "5.1(a), v2: near-stationary means a full-batch gradient norm at most this fraction of the initial one", low=0.0, high=1.0),
    zero_fraction_min=Param(float, "5.1: a run is a degenerate saddle when its near-zero fraction is at least this (and it has a negative eigenvalue)", low=0.0, high=1.0),
    most_fraction=Param(float, "5.1: 'most runs' means a fraction of runs above this", low=0.0, high=1.0),
    pgd_gap_max=Param(float, "5.2: |near-zero fraction of PGD - that of the plain methods| at most this", low=0.0, high=1.0),
    escape_gain_max=Param(float, "5.3: relative loss decrease bought by escaping at most this (median over runs)", low=0.0, high=1.0),
    ks_ratio_max=Param(float, "5.4: KS distance of the Hessian bulk to its semicircle at most this multiple of the GOE control's (median over runs)", low=0.0, high=1e6),
)
