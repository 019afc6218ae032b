r"""The ADINE chapter's claims 4.1-4.4, decided by the rules of its parameters cell
(the *decision rules* block of ``book/adine.ipynb``), in two versions.

**v2, the headline** (the project's decision rules v2, declared before any v2 run):

- 4.1: on every saddle, :math:`\min_{m \ge 1} s_m / \min_{m < 1} s_m <`
  ``escape_ratio_max``, where :math:`s_m` is the median escape iteration of constant
  momentum :math:`m` at **its best learning rate** from one grid (``saddle_lrs``,
  :func:`~.experiments.escape_summary`); variant "fixed lr": v1's rule, every :math:`m`
  at ``saddle_lr``. Null: the best :math:`m < 1` from other starting points in the place
  of the best :math:`m \ge 1` (ratio about 1, which must not pass).
- 4.2 (as v1): the smallest :math:`\log_{10} \|x_T\| / \|x_0\|` over the constant
  :math:`m > 1` runs on the convex quadratic :math:`> \log_{10}` ``diverge_factor``.
  Null: the largest over the :math:`m < 1` runs (they converge: it must not pass).
- 4.3: for every setting and each baseline :math:`b` (SGD + momentum, Nesterov),
  with learning rates tuned per method on the validation split, the ratio
  :math:`\bar n_{\mathrm{ADINE}} / \bar n_b \le` ``speed_ratio_max`` of the mean
  iterations to the target loss - the loss the slowest of the three methods reaches
  (:func:`~.experiments.speed`) - beyond noise, **paired** by seed (the runs of a seed
  share the initialization and the data order):
  :math:`d_i = n_{\mathrm{ADINE},i} - n_{b,i}`, :math:`|\bar d| > 2\,s_d/\sqrt{n}`;
  variant "equal lr": the three methods at one learning rate (``equal_lr_from``'s tuned
  one). Null: SGD + momentum with other seeds (``null_seeds``) in ADINE's place, against
  SGD + momentum (must not pass).
- 4.4: at the first budget (the setting's epochs, doubled up to its cap) at which every
  method has plateaued - training loss changed by less than ``plateau_change`` over the
  last ``plateau_tail`` of the epochs (:func:`~.experiments.plateau`) - ADINE is
  non-inferior to the best baseline with margin ``acc_margin`` points by the interval
  rule on the paired per-seed differences (lower end :math:`\bar d - 2\,\mathrm{SE} \ge
  -m`: reproduced; upper end :math:`< -m`: not reproduced; else inconclusive); no
  plateau within the cap: inconclusive. Variant "plateau vs first epoch": the change
  read relative to the first epoch's loss. Null: ADINE's accuracies lowered by
  ``null_deficit`` points (must not pass).

Each claim must hold in every case (saddle; setting and baseline; setting):
:func:`~landscape.experiment.claims.all_of` over the cases, worst first.

**v1** (:func:`claims_v1`, shown beside): the rules the chapter was first published
with, on this run's data - 4.1 at the fixed learning rate, 4.3 against a target of
``target_slack`` x the slower baseline's final loss with the unpaired noise of the
difference of means, 4.4 on the difference of means at the setting's own epochs.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Callable

from ...experiment.claims import Claim, all_of, beside, decide, decide_non_inferior, worst_first
from ...experiment.params import Params
from ...experiment.stats import difference, paired_difference
from .experiments import LABELS, Results

__all__ = ["claims", "claims_v1", "claims_v2", "claims_by_setting", "speed_pairs", "speed_pairs_v1", "accuracy_part",
           "null_claims", "claim_glue", "NULLS", "CHANGES", "VARIANTS"]

#: claims whose v2 rule names a null (the ledger refuses them without the null's glued score)
NULLS = {
    "4.1": "the best m < 1 (at its best lr) from other starting points, in the place of the best m >= 1",
    "4.2": "a constant m < 1 on the same quadratic (the largest growth of the norm over the m < 1 runs)",
    "4.3": "SGD + momentum with other seeds in ADINE's place, against SGD + momentum",
    "4.4": "ADINE's accuracies lowered by null_deficit points",
}
#: the protocol variant of each claim that has one (its verdict sits in Claim.variants)
VARIANTS = {"4.1": "fixed lr (v1)", "4.3": "equal lr", "4.4": "plateau vs first epoch"}

#: why each rule changed from v1 to v2 (one line, shown beside the two verdicts)
CHANGES = {
    "4.1": "v1 ran every m at one learning rate, so m >= 1 also took a larger effective step lr / (1 - m); v2 gives each m "
           "its best learning rate from one grid (v1's fixed lr kept as a variant)",
    "4.2": "unchanged; v2 shows the rule failing on its null (a constant m < 1 converges)",
    "4.3": "v1 tuned learning rates on the training loss, set the target at 1.25 x the slower baseline's loss and compared "
           "unpaired means; v2 tunes on a validation split, aims at the loss the slowest method reaches, pairs 5 seeds, and "
           "reports the equal-lr variant",
    "4.4": "v1 decided on a point estimate at a fixed budget, which left LeNet on MNIST-10k unconverged; v2 decides at a "
           "budget where every method has plateaued (doubled up to the cap) by the interval rule",
}

S41 = ("m >= 1 escapes saddles in fewer iterations than the best m < 1, each m at its best learning rate "
       "(ratio of median iterations, worst saddle)")
S42 = "A constant momentum m > 1 diverges on a convex quadratic (smallest log10 growth of the norm over m > 1)"
S43 = ("ADINE reaches the loss the slowest method reaches in fewer iterations than SGD + momentum and Nesterov, learning "
       "rates tuned on validation (ratio of mean iterations, paired; worst setting and baseline)")
S44 = ("ADINE's test accuracy at a budget where every method has plateaued is at least the best baseline's minus the margin "
       "(lower end of the paired difference, points; worst setting)")


def _every(id: str, statement: str, parts: list[Claim], op: str, threshold: Any) -> Claim:
    """:func:`all_of` the parts, worst first; with no part (no setting ran), inconclusive."""
    if not parts:
        return decide(id, statement, math.nan, op, threshold, detail="no case was measured (no data set of the settings is here)")
    return all_of(id, statement, worst_first(parts))


def _mde(parts: list[Claim]) -> float | None:
    """The largest MDE of the parts (the least powerful case), None when none has one."""
    m = [c.mde for c in parts if c.mde is not None and math.isfinite(c.mde)]
    return max(m) if m else None


# ---------------------------------------------------------------------------
# 4.1 and 4.2


def _escape_parts(escape: dict, p: Params, key: Callable[[dict], dict], label: str) -> list[Claim]:
    parts = []
    for name, s in escape.items():
        r = key(s)
        lo, hi = r["best_below"], r["best_above"]
        parts.append(decide("4.1", f"{name} ({label})", r["ratio"], "<", p.escape_ratio_max,
                            detail=f"best m < 1: m={lo[0]:g} at lr {lo[1]:g}, {'> ' if lo[3] else ''}{lo[2]:.0f} iterations; "
                                   f"best m >= 1: m={hi[0]:g} at lr {hi[1]:g}, {'> ' if hi[3] else ''}{hi[2]:.0f}"))
    return parts


def _c41(results: Results, p: Params) -> Claim:
    parts = _escape_parts(results.escape, p, lambda s: s, "each m at its best lr")
    c = _every("4.1", S41, parts, "<", p.escape_ratio_max)
    fixed = _every("4.1", "fixed lr", _escape_parts(results.escape, p, lambda s: s["fixed"], f"every m at lr {p.saddle_lr:g}"),
                   "<", p.escape_ratio_max)
    c.variants = {VARIANTS["4.1"]: fixed.verdict}
    nulls = [s["null_ratio"] for s in results.escape.values() if math.isfinite(s["null_ratio"])]
    c.null, c.null_label = (max(nulls) if nulls else math.nan), NULLS["4.1"]
    c.summary = ("ratio m >= 1 / m < 1 at each m's best lr: " + ", ".join(f"{n} {s['ratio']:.3g}" for n, s in results.escape.items())
                 + f" (needs < {p.escape_ratio_max:g}); at v1's fixed lr {p.saddle_lr:g}: "
                 + ", ".join(f"{n} {s['fixed']['ratio']:.3g}" for n, s in results.escape.items())
                 + f" ({fixed.verdict}); the null scores {c.null:.3g}")
    c.detail = f"variant {VARIANTS['4.1']}: {fixed.verdict} ({fixed.detail}); {c.detail}"
    return c


def _c42(results: Results, p: Params) -> Claim:
    rates = ", ".join(f"m={m:g}: rate {r:.4f} (rho {q:.4f})"
                      for m, r, q in zip(p.quad_momenta, results.quad["rate"], results.quad["rho"]) if m > 1)
    c = decide("4.2", S42, results.quad_growth, ">", math.log10(p.diverge_factor), detail=rates)
    c.null, c.null_label = results.quad_null, NULLS["4.2"]
    c.summary = (f"smallest log10 growth over m > 1: {results.quad_growth:.4g} (needs > {math.log10(p.diverge_factor):g}); "
                 f"the null (m < 1) scores {results.quad_null:.3g}")
    return c


# ---------------------------------------------------------------------------
# 4.3


def speed_pairs(speed: dict, ratio_max: float, *, baselines=("momentum", "nesterov"), arm: str = "ADINE") -> list[Claim]:
    """Claim 4.3 (v2) for each (setting, baseline) pair, in the order setting, then
    baseline: ratio = mean iterations of ADINE / mean iterations of the baseline (each
    setting's :func:`~.experiments.speed`), beyond the noise of the **paired** per-seed
    differences. ``extra`` holds the setting, the baseline, the difference and how many
    seeds of each side never reached the target."""
    parts = []
    for s, r in speed.items():
        a = r["steps"]["adine"]
        for b in baselines:
            base = r["steps"][b]
            noise = paired_difference(a, base)
            c = decide("4.3", f"{s}: {arm} vs {LABELS[b]}", float(a.mean() / base.mean()), "<=", ratio_max, noise=noise)
            c.extra = {"setting": s, "baseline": b, "noise": noise, "adine_censored": int(r["censored"]["adine"].sum()),
                       "baseline_censored": int(r["censored"][b].sum()), "target": r["target"], "slowest": r["slowest"]}
            parts.append(c)
    return parts


def speed_pairs_v1(speed: dict, ratio_max: float) -> list[Claim]:
    """v1's claim 4.3 pairs: the same ratio, beyond the **unpaired** noise of the difference of means."""
    parts = []
    for s, r in speed.items():
        a = r["steps"]["adine"]
        for b in ("momentum", "nesterov"):
            noise = difference(a, r["steps"][b])
            parts.append(decide("4.3", f"{s} vs {LABELS[b]}", float(a.mean() / r["steps"][b].mean()), "<=", ratio_max, noise=noise))
    return parts


def _c43_from(speed: dict, p: Params, statement: str = S43, **kw) -> Claim:
    parts = speed_pairs(speed, p.speed_ratio_max, **kw)
    c = _every("4.3", statement, parts, "<=", p.speed_ratio_max)
    c.mde = _mde(parts)
    return c


def _null43(results: Results, p: Params) -> Claim:
    return _c43_from(results.speed_null, p, "4.3's rule on its null: SGD + momentum with other seeds vs SGD + momentum",
                     baselines=("momentum",), arm="SGD + momentum (other seeds)")


def _c43(results: Results, p: Params) -> Claim:
    c = _c43_from(results.speed, p)
    eq = _c43_from(results.speed_equal, p)
    null = _null43(results, p)
    c.variants = {VARIANTS["4.3"]: eq.verdict}
    c.null, c.null_label = null.value, NULLS["4.3"]
    pairs = lambda sp: ", ".join(f"{x.extra['setting']} vs {x.extra['baseline']} {x.value:.3g}" for x in speed_pairs(sp, p.speed_ratio_max))
    c.summary = (f"tuned lrs: {pairs(results.speed)} (needs <= {p.speed_ratio_max:g}, beyond noise); equal lr "
                 f"({LABELS[p.equal_lr_from]}'s): {pairs(results.speed_equal)} ({eq.verdict}); the null scores {null.value:.3g}")
    c.detail = f"variant {VARIANTS['4.3']}: {eq.verdict} ({eq.detail}); {c.detail}"
    return c


# ---------------------------------------------------------------------------
# 4.4


def accuracy_part(setting: str, acc: dict, budget: int | None, last: int, p: Params, *, deficit: float = 0.0) -> Claim:
    """Claim 4.4 on one setting: the interval rule on the paired per-seed difference of test
    accuracy (points), ADINE - the best baseline, at ``budget``; with no budget (no plateau
    within the cap, the accuracies are those at ``last``), inconclusive. ``deficit``
    lowers ADINE's accuracies by that many points (the null)."""
    a, b = 100 * acc["acc"]["adine"] - deficit, 100 * acc["acc"][acc["best"]]
    d = paired_difference(a, b)
    label = f"{setting}: ADINE{f' - {deficit:g}' if deficit else ''} vs {LABELS[acc['best']]}"
    c = decide_non_inferior("4.4", f"{label} at {budget if budget is not None else last} epochs", d, p.acc_margin)
    if budget is None:
        c = replace(c, verdict="inconclusive",
                    detail=f"no budget up to the cap ({last} epochs) where every method has plateaued; at {last} epochs: {c.detail}")
    c.extra = {"setting": setting, "best": acc["best"], "diff": d, "budget": budget, "last": last}
    return c


def _c44_from(results: Results, p: Params, *, first: bool = False, deficit: float = 0.0, statement: str = S44) -> Claim:
    acc = results.accuracy_first if first else results.accuracy
    parts = []
    for s, a in acc.items():
        o = results.training.get(s, {})
        budget = o.get("budget_first" if first else "budget")
        parts.append(accuracy_part(s, a, budget, max(o.get("by_budget", {0: None})), p, deficit=deficit))
    c = _every("4.4", statement, parts, ">=", -p.acc_margin)
    c.mde = _mde(parts)
    return c


def _budget_text(results: Results, key: str = "budget") -> str:
    out = []
    for s, o in results.training.items():
        b = o.get(key)
        out.append(f"{s} {b} epochs" if b is not None else f"{s} no plateau by {max(o['by_budget'])}")
    return ", ".join(out)


def _c44(results: Results, p: Params) -> Claim:
    c = _c44_from(results, p)
    var = _c44_from(results, p, first=True)
    null = _c44_from(results, p, deficit=p.null_deficit, statement="4.4's rule on its null")
    c.variants = {VARIANTS["4.4"]: var.verdict}
    c.null, c.null_label = null.value, NULLS["4.4"]
    lows = ", ".join(f"{s} {100 * (a['acc']['adine'].mean() - a['acc'][a['best']].mean()):+.2f}" for s, a in results.accuracy.items())
    c.summary = (f"budgets: {_budget_text(results)}; ADINE - best baseline (points): {lows} (lower end needs >= "
                 f"{-p.acc_margin:g}); plateau read against the first epoch: {_budget_text(results, 'budget_first')} "
                 f"({var.verdict}); the null scores {null.value:.3g}")
    c.detail = f"variant {VARIANTS['4.4']}: {var.verdict} ({var.detail}); {c.detail}"
    return c


# ---------------------------------------------------------------------------
# the claims


def claims_v1(results: Results, p: Params) -> list[Claim]:
    """Claims 4.1-4.4 by the v1 rules, on this run's data (see the module's docstring)."""
    c41 = _every("4.1", "m >= 1 escapes saddles in fewer iterations than the best m < 1, on each saddle (worst ratio over saddles)",
                 _escape_parts(results.escape, p, lambda s: s["fixed"], f"every m at lr {p.saddle_lr:g}"), "<", p.escape_ratio_max)
    rates = ", ".join(f"m={m:g}: rate {r:.4f} (rho {q:.4f})"
                      for m, r, q in zip(p.quad_momenta, results.quad["rate"], results.quad["rho"]) if m > 1)
    c42 = decide("4.2", S42, results.quad_growth, ">", math.log10(p.diverge_factor), detail=rates)
    c43 = _every("4.3", "ADINE reaches a given training loss in fewer iterations than SGD + momentum and Nesterov "
                 "(ratio of mean iterations, worst setting and baseline)", speed_pairs_v1(results.speed_v1, p.speed_ratio_max),
                 "<=", p.speed_ratio_max)
    c44 = _every("4.4", "ADINE's final test accuracy is at least the best baseline's minus the margin (worst setting, points)",
                 [decide("4.4", f"{s} vs {LABELS[a['best']]}", a["gap_points"], ">=", -p.acc_margin)
                  for s, a in results.accuracy_v1.items()], ">=", -p.acc_margin)
    return [c41, c42, c43, c44]


def claims_v2(results: Results, p: Params) -> list[Claim]:
    """Claims 4.1-4.4 by the v2 rules."""
    return [_c41(results, p), _c42(results, p), _c43(results, p), _c44(results, p)]


def claims(results: Results, p: Params) -> list[Claim]:
    """Claims 4.1-4.4: the v2 verdicts (the headline), each with its v1 verdict and why the rule changed."""
    v1 = {c.id: c for c in claims_v1(results, p)}
    return [beside(c, v1[c.id], CHANGES[c.id]) for c in claims_v2(results, p)]


def claims_by_setting(results: Results, p: Params) -> dict[str, list[Claim]]:
    """Claims 4.3 and 4.4 (v2) on each training setting alone, ``{setting: [4.3, 4.4]}``
    (for the gpu record: a verdict per setting), with their variants."""
    out = {}
    for s in results.speed:
        one = replace(results, speed={s: results.speed[s]}, speed_equal={s: results.speed_equal[s]},
                      speed_null={s: results.speed_null[s]}, accuracy={s: results.accuracy[s]},
                      accuracy_first={s: results.accuracy_first[s]}, training={s: results.training[s]})
        out[s] = [_c43(one, p), _c44(one, p)]
    return out


def null_claims(results: Results, p: Params) -> list[Claim]:
    """Each v2 rule fed its null (see :data:`NULLS`); each must come out not ``reproduced``."""
    esc = results.escape
    parts41 = [decide("4.1", f"{n}: best m < 1 from other starts / best m < 1", s["null_ratio"], "<", p.escape_ratio_max)
               for n, s in esc.items()]
    c41 = _every("4.1", "4.1's rule on its null (other starting points, m < 1 against m < 1)", parts41, "<", p.escape_ratio_max)
    c42 = decide("4.2", "4.2's rule on its null (the largest log10 growth over m < 1)", results.quad_null, ">",
                 math.log10(p.diverge_factor))
    return [c41, c42, _null43(results, p),
            _c44_from(results, p, deficit=p.null_deficit, statement=f"4.4's rule on its null (ADINE - {p.null_deficit:g} points)")]


def claim_glue(claims: list[Claim], nulls: list[Claim] | None = None) -> dict[str, Any]:
    """What the page glues beyond :meth:`~landscape.publishing.page.Chapter.show_claims`: each
    claim's variant verdict (``claim-<id>-variant``) and each null's verdict
    (``claim-<id>-null-verdict``), under names the ledger's claim pattern does not take for claims."""
    out: dict[str, Any] = {}
    for c in claims:
        for name, v in c.variants.items():
            out[f"claim-{c.id}-variant"] = v
    for n in nulls or []:
        out[f"claim-{n.id}-null-verdict"] = n.verdict
    return out
