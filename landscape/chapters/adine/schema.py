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
    saddle_lr=Param(float, "learning rate of the saddle runs (the same for every m)", low=1e-6, high=1.0),
    saddle_eps=Param(float, "distance of the starting points from the saddle", low=1e-8, high=0.5),
    saddle_starts=Param(int, "starting points per saddle (random directions at distance saddle_eps)", low=1, high=64),
    saddle_seed=Param(int, "seed of the starting directions", low=0, high=2**31 - 1),
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
    lr_mode=Param(str, "'tuned' (each method's best learning rate from its grid) or 'equal' (lr_equal_sgd for the SGD family, lr_equal_adam for Adam)", choices=("tuned", "equal")),
    lrs_sgd=Param(list, "learning-rate grid of plain SGD", item=float, low=1e-6, high=10.0, min_len=1),
    lrs_momentum=Param(list, "learning-rate grid of SGD + momentum, Nesterov and ADINE (shared: equal learning rates come free)", item=float, low=1e-6, high=10.0, min_len=1),
    lrs_adam=Param(list, "learning-rate grid of Adam", item=float, low=1e-7, high=1.0, min_len=1),
    lr_equal_sgd=Param(float, "lr_mode 'equal': learning rate of the SGD family", low=1e-6, high=10.0),
    lr_equal_adam=Param(float, "lr_mode 'equal': learning rate of Adam", low=1e-7, high=1.0),
    tune_seed=Param(int, "seed of the tuning runs (not among seeds)", low=0, high=2**31 - 1),
    smooth_window=Param(int, "iterations of the trailing mean that smooths mini-batch losses", low=1, high=10**5),
    # 4. sensitivity
    sens_setting=Param(str, "the 'model:dataset' setting of the sensitivity grid"),
    sens_m_g=Param(list, "m_g values of the sensitivity grid", item=float, low=0.0, high=10.0, min_len=1),
    sens_tolerance=Param(list, "tolerance values of the sensitivity grid", item=float, low=1e-3, high=10.0, min_len=1),
    sens_seeds=Param(list, "seeds of the sensitivity grid", item=int, low=0, high=2**31 - 1, min_len=1),
    # live widget
    live_steps=Param(int, "iterations of the live 2-D ADINE run", low=10, high=10**5),
    # decision rules (declared before the run)
    escape_ratio_max=Param(float, "4.1: on every saddle, (fewest iterations with m >= 1) / (fewest with m < 1) must be below this", low=0.0, high=10.0),
    diverge_factor=Param(float, "4.2: every m > 1 must multiply the iterates' norm by more than this within quad_steps", low=1.0, high=1e300),
    target_slack=Param(float, "4.3: target loss = this x the final training loss of the slower of SGD + momentum and Nesterov", low=1.0, high=100.0),
    speed_ratio_max=Param(float, "4.3: ADINE's iterations to the target / a baseline's must be at most this, beyond noise", low=0.0, high=10.0),
    acc_margin=Param(float, "4.4: ADINE's final test accuracy must be >= best baseline - this many points", low=0.0, high=100.0),
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
        Rule(("quad_momenta",), lambda p: any(m > 1 for m in p.quad_momenta), "hold a value above 1 (claim 4.2 is about m > 1)"),
    ],
)
