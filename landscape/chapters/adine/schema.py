"""The ADINE chapter's parameters (the parameters cell of ``book/adine.ipynb``
holds the defaults) and the rules between them, checked before any kernel starts.

Example:
    >>> parse_setting("lenet5:mnist10k")
    ('lenet5', 'mnist10k')
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from ...experiment.params import Param, Rule, Schema
from ...training.synthetic import TOY_FUNCTIONS
from ..common import DATA_ROOT, DEVICE, PROFILE, SEEDS, THREADS

__all__ = ["SCHEMA", "MODELS", "DATASETS", "parse_setting"]

MODELS = ("mlp", "lenet5")
DATASETS = ("digits", "mnist10k", "mnist", "fashion-mnist", "cifar10")
_SETTING = f"be 'model:dataset' with model in {', '.join(MODELS)} and dataset in {', '.join(DATASETS)}"


def parse_setting(text: str) -> tuple[str, str]:
    """``"lenet5:mnist10k"`` -> ``("lenet5", "mnist10k")``; raises ValueError for anything else."""
    parts = text.split(":") if isinstance(text, str) else []
    if len(parts) != 2 or parts[0] not in MODELS or parts[1] not in DATASETS:
        raise ValueError(f"Invalid setting: {text!r} (must {_SETTING})")
    return parts[0], parts[1]


def _unparsed(texts: Iterable[Any]) -> str | None:
    bad = []
    for t in texts:
        try:
            parse_setting(t)
        except ValueError:
            bad.append(t)
    return f"{', '.join(map(repr, bad))} {'is' if len(bad) == 1 else 'are'} not 'model:dataset'" if bad else None


def _bad_entries(mapping: Mapping[str, Any]) -> str | None:
    """A 'setting -> positive integer' mapping: what is wrong with it, or None."""
    wrong = _unparsed(mapping)
    if wrong:
        return wrong
    bad = [k for k, v in mapping.items() if isinstance(v, bool) or not isinstance(v, int) or v < 1]
    return f"{', '.join(f'{k!r}: {mapping[k]!r}' for k in bad)} is not a positive integer" if bad else None


def _missing_epochs(p) -> str | None:
    missing = [s for s in [*p.settings, p.sens_setting] if s not in p.epochs]
    return f"no entry for {', '.join(missing)}" if missing else None


def _below(values: Iterable[float], m_s: float) -> str | None:
    bad = [m for m in values if m < m_s]
    return f"{bad} below m_s" if bad else None


def _caps(p) -> str | None:
    """4.4's caps: each at least its setting's epochs (a setting without one is not doubled)."""
    wrong = _bad_entries(p.epochs_cap)
    if wrong:
        return wrong
    low = [f"{s!r}: {c} < {p.epochs.get(s)}" for s, c in p.epochs_cap.items() if s in p.epochs and c < p.epochs[s]]
    return f"{', '.join(low)} (a cap below the epochs)" if low else None


def _null_seeds(p) -> str | None:
    """4.3's null runs SGD + momentum with other seeds, paired with ``seeds`` by position."""
    if len(p.null_seeds) != len(p.seeds):
        return f"{len(p.null_seeds)} null seeds for {len(p.seeds)} seeds"
    shared = sorted(set(p.null_seeds) & {*p.seeds, p.tune_seed})
    return f"{shared} also among seeds or tune_seed" if shared else None


def _enough_seeds(p) -> str | None:
    return None if p.profile == "smoke" or len(p.seeds) >= 5 else f"{len(p.seeds)} seeds on the {p.profile} profile"


SCHEMA = Schema(
    profile=PROFILE,
    device=DEVICE,
    data_root=DATA_ROOT,
    seeds=SEEDS,
    threads=THREADS,
    # 1. saddles
    saddle_functions=Param(list, "toy saddles (landscape.training.synthetic.TOY_FUNCTIONS)", item=str, choices=tuple(TOY_FUNCTIONS), min_len=1),
    saddle_momenta=Param(list, "constant momenta m of the escape experiment, below and above 1", item=float, low=0.0, high=2.0, min_len=2),
    saddle_method=Param(str, "constant-momentum update of the saddle runs", choices=("nesterov", "heavy-ball")),
    saddle_lrs=Param(list, "4.1's one learning-rate grid: every constant m runs at each, and is compared at its best", item=float,
                     low=1e-6, high=1.0, min_len=5),
    saddle_lr=Param(float, "v1's fixed learning rate of every m (4.1's variant; a point of saddle_lrs), ADINE's saddle runs", low=1e-6, high=1.0),
    saddle_eps=Param(float, "distance of the starting points from the saddle", low=1e-8, high=0.5),
    saddle_starts=Param(int, "starting points per saddle (random directions at distance saddle_eps)", low=1, high=64),
    saddle_seed=Param(int, "seed of the starting directions", low=0, high=2**31 - 1),
    null_saddle_seed=Param(int, "4.1's null: seed of another set of starting directions (the best m < 1 from there)", low=0, high=2**31 - 1),
    saddle_max_steps=Param(int, "iterations before a run counts as not escaped", low=10, high=10**6),
    escape_by=Param(str, "escape criterion: 'loss' (f drops by escape_at below its start) or 'distance' (|p| >= escape_at)", choices=("loss", "distance")),
    escape_at=Param(float, "the loss drop or distance that counts as an escape", low=1e-6, high=1e6),
    # 2. why adaptive
    quad_curvatures=Param(list, "curvatures h_i of the convex quadratic 0.5 sum h_i x_i^2", item=float, low=1e-8, high=1e4, min_len=1),
    quad_lr=Param(float, "learning rate on the quadratic", low=1e-8, high=10.0),
    quad_momenta=Param(list, "constant momenta run on the quadratic", item=float, low=0.0, high=2.0, min_len=1),
    quad_steps=Param(int, "iterations on the quadratic", low=10, high=10**6),
    # 3. training
    settings=Param(list, "'model:dataset' pairs (models: mlp, lenet5; data: digits, mnist10k, mnist, fashion-mnist, cifar10); missing data sets are skipped", item=str, min_len=1),
    mlp_widths=Param(list, "hidden widths of the MLP", item=int, low=1, high=8192, min_len=1),
    epochs=Param(dict, "setting -> epochs of every run on it (every setting and sens_setting need one)"),
    n_train=Param(dict, "setting -> training examples (a subset; absent: all)"),
    n_test=Param(dict, "setting -> test examples (a subset; absent: all)"),
    batch_size=Param(int, "mini-batch size", low=1, high=8192),
    momentum=Param(float, "momentum of the SGD + momentum and Nesterov baselines", low=0.0, high=0.999),
    m_s=Param(float, "ADINE: momentum while the loss does not improve (< 1)", low=0.0, high=0.999),
    m_g=Param(float, "ADINE: momentum while the loss improves (>= 1 in the paper's spirit)", low=0.0, high=10.0),
    tolerance=Param(float, "ADINE: use m_g while loss <= tolerance * running average", low=1e-3, high=10.0),
    weight=Param(float, "ADINE: weight w of the running loss average (reconstruction)", low=0.0, high=0.999),
    lrs_sgd=Param(list, "learning-rate grid of plain SGD (log-spaced)", item=float, low=1e-6, high=10.0, min_len=5),
    lrs_momentum=Param(list, "learning-rate grid of SGD + momentum, Nesterov and ADINE (shared)", item=float, low=1e-6, high=10.0, min_len=5),
    lrs_adam=Param(list, "learning-rate grid of Adam (log-spaced)", item=float, low=1e-7, high=1.0, min_len=5),
    val_fraction=Param(float, "share of each training set carved off as the validation split the learning rates are tuned on", low=0.05, high=0.5),
    split_seed=Param(int, "seed of the validation split", low=0, high=2**31 - 1),
    tune_seed=Param(int, "seed of the tuning runs (not among seeds)", low=0, high=2**31 - 1),
    equal_lr_from=Param(str, "4.3's equal-lr variant: the three momentum methods all at this method's tuned learning rate",
                        choices=("momentum", "nesterov", "adine")),
    null_seeds=Param(list, "4.3's null: SGD + momentum again with these seeds (paired with seeds by position)", item=int,
                     low=0, high=2**31 - 1, min_len=1, unique=True),
    epochs_cap=Param(dict, "4.4: setting -> the largest budget (epochs) the plateau rule may double to (absent: epochs, no doubling)"),
    workers=Param(int, "processes for the independent training runs (1: in the kernel)", low=1, high=64),
    smooth_window=Param(int, "iterations of the trailing mean that smooths mini-batch losses", low=1, high=10**5),
    # 4. sensitivity
    sens_setting=Param(str, "the 'model:dataset' setting of the sensitivity grid"),
    sens_m_g=Param(list, "m_g values of the sensitivity grid", item=float, low=0.0, high=10.0, min_len=1),
    sens_tolerance=Param(list, "tolerance values of the sensitivity grid", item=float, low=1e-3, high=10.0, min_len=1),
    sens_seeds=Param(list, "seeds of the sensitivity grid", item=int, low=0, high=2**31 - 1, min_len=1),
    # live widget
    live_steps=Param(int, "iterations of the live 2-D ADINE run", low=10, high=10**5),
    # decision rules (v2, declared before the run; v1's beside)
    escape_ratio_max=Param(float, "4.1: on every saddle, (fewest iterations with m >= 1) / (fewest with m < 1), each m at its best lr, below this", low=0.0, high=10.0),
    diverge_factor=Param(float, "4.2: every m > 1 must multiply the iterates' norm by more than this within quad_steps", low=1.0, high=1e300),
    speed_ratio_max=Param(float, "4.3: ADINE's mean iterations to the target / a baseline's must be at most this, beyond noise (paired)", low=0.0, high=10.0),
    acc_margin=Param(float, "4.4: non-inferiority margin (points): the lower end of ADINE - best baseline must be >= -this", low=0.0, high=100.0),
    plateau_change=Param(float, "4.4: a method has plateaued when its training loss changed by less than this fraction over the last plateau_tail of the epochs", low=1e-6, high=1.0),
    plateau_tail=Param(float, "4.4: the share of the epochs the plateau is read over", low=0.01, high=1.0),
    null_deficit=Param(float, "4.4's null: ADINE's accuracies lowered by this many points (must not pass)", low=0.0, high=100.0),
    target_slack=Param(float, "v1's 4.3 only: target loss = this x the final training loss of the slower of SGD + momentum and Nesterov", low=1.0, high=100.0),
    rules=[
        Rule(("settings",), lambda p: _unparsed(p.settings), _SETTING),
        Rule(("sens_setting",), lambda p: _unparsed([p.sens_setting]), _SETTING),
        Rule(("epochs",), lambda p: _bad_entries(p.epochs), "map 'model:dataset' settings to positive integers"),
        Rule(("n_train",), lambda p: _bad_entries(p.n_train), "map 'model:dataset' settings to positive integers"),
        Rule(("n_test",), lambda p: _bad_entries(p.n_test), "map 'model:dataset' settings to positive integers"),
        Rule(("settings", "sens_setting", "epochs"), _missing_epochs, "give epochs for every setting and for sens_setting"),
        Rule(("lrs_sgd", "lrs_momentum", "lrs_adam"), lambda p: len(p.lrs_sgd) == len(p.lrs_momentum) == len(p.lrs_adam),
             "be equally long: every method gets the same tuning budget"),
        Rule(("m_s", "m_g"), lambda p: p.m_g >= p.m_s, "have m_g >= m_s (ADINE's momentum while improving is not the smaller one)"),
        Rule(("m_s", "sens_m_g"), lambda p: _below(p.sens_m_g, p.m_s), "have every sens_m_g >= m_s (ADINE needs m_g >= m_s)"),
        Rule(("tune_seed", "seeds"), lambda p: p.tune_seed not in p.seeds, "have tune_seed outside seeds (tuning must use another seed)"),
        Rule(("saddle_momenta",), lambda p: any(m < 1 for m in p.saddle_momenta) and any(m >= 1 for m in p.saddle_momenta),
             "hold values below 1 and values >= 1 (claim 4.1 compares them)"),
        Rule(("saddle_lr", "saddle_lrs"), lambda p: p.saddle_lr in p.saddle_lrs, "have saddle_lr in saddle_lrs (v1's fixed lr is a point of the grid)"),
        Rule(("saddle_seed", "null_saddle_seed"), lambda p: p.null_saddle_seed != p.saddle_seed,
             "have null_saddle_seed != saddle_seed (4.1's null starts elsewhere)"),
        Rule(("quad_momenta",), lambda p: any(m > 1 for m in p.quad_momenta) and any(m < 1 for m in p.quad_momenta),
             "hold a value above 1 (claim 4.2) and one below 1 (its null)"),
        Rule(("epochs_cap",), _caps, "map settings to caps of at least their epochs"),
        Rule(("null_seeds", "seeds", "tune_seed"), _null_seeds, "hold one null seed per seed, none among seeds or tune_seed"),
        Rule(("seeds", "profile"), _enough_seeds, "hold at least 5 seeds outside the smoke profile (the v2 rules)"),
    ],
)
