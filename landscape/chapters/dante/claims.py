r"""The DANTE chapter's claims 2.1-2.3, decided by the rules of its parameters cell
(``book/dante.ipynb``; the decision-rule parameters of :mod:`.schema`), in two versions.

**v2, the headline** (the project's decision rules v2, declared before any v2 run):

- 2.1 (one hidden layer) and 2.2 (two): in every (data set, activation), each method at the
  rate its own ``len(lrs_*)``-point log grid gives on the validation split (every rate on the
  first ``select_seeds`` seeds, the best mean final validation accuracy kept), DANTE's final
  test accuracy minus that of the backprop method chosen on validation (SGD or Adam, the
  higher mean validation accuracy), paired by seed (:func:`~.experiments.paired_gaps`):
  :math:`d_i = a_i - b_i` in points, :math:`\mathrm{SE} = s_d/\sqrt n`. Non-inferiority with
  margin :math:`m` = ``acc_margin`` by the interval rule: ``reproduced`` when
  :math:`\bar d - 2\,\mathrm{SE} \ge -m`, ``not reproduced`` when
  :math:`\bar d + 2\,\mathrm{SE} < -m`, else ``inconclusive``
  (:func:`~landscape.experiment.claims.decide_non_inferior`); the claim holds when every case
  does (:func:`~landscape.experiment.claims.all_of`, worst lower end first). The variant
  ``"v1 grid"`` - the same rule with every rate chosen on validation from v1's shared 3-point
  grid - is reported in :attr:`~landscape.experiment.claims.Claim.variants`. The null is DANTE
  on the output layer only (the hidden layers left at their random start, a random-features
  network) in DANTE's place: it must fail the rule.
- 2.3: per configuration (depth, data set, activation) the time to ``speed_fraction`` of
  the best final validation accuracy, in timed runs that evaluate the validation accuracy
  every ``eval_every`` mini-batches and train at least ``speed_min_seconds``, each method's
  median over ``speed_repeats`` repeats (:func:`~.experiments.speed_rows`); the ratio DANTE /
  backprop (the faster of SGD and Adam); the median over configurations at most
  ``speed_ratio``. A run that never reaches the target bounds its time from below, so each
  ratio is an interval; the verdict is ``reproduced`` when the median of the upper ends is
  within the rule, ``not reproduced`` when the median of the lower ends is not, else
  ``inconclusive``. The per-epoch cost ratio (DANTE's time per mini-batch over SGD's) is
  reported beside. The null is the untrained network in DANTE's place (it never reaches
  the target: its ratio is infinite).

**v1** (:func:`claims_v1`, shown beside): the rules the chapter was first published with -
every method's rate from v1's 3-point grid by final training loss on the first seed, the
first ``v1_seeds`` seeds, non-inferiority on the point estimate of the means; 2.3 per epoch
from those runs' histories (the accuracy read on the validation split, since the test set is
now touched only at the end).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Sequence

import numpy as np

from ...experiment.claims import Claim, all_of, beside, compare, decide, decide_non_inferior, worst_first
from ...experiment.params import Params
from .experiments import NULL_METHOD, Results, accuracy_gaps_v1, paired_gaps, speed_ratios_v1, speed_rows

__all__ = ["claims", "claims_v1", "claims_v2", "claims_by_setting", "null_claims", "non_inferior", "non_inferior_v1",
           "speed_claim", "speed_claim_v1", "claim_glue", "NULLS", "CHANGES", "STATEMENTS", "VARIANT"]

STATEMENTS = {
    "2.1": "One hidden layer: DANTE's test accuracy is within the margin of the best of SGD and Adam, "
           "for sigmoid and generalized ReLU, on every data set",
    "2.2": "Two hidden layers: DANTE's test accuracy is within the margin of the best of SGD and Adam, on every data set",
}
#: the variant protocol of claims 2.1 and 2.2 (a key of :data:`~.experiments.PROTOCOLS`)
VARIANT = "v1 grid"
_VARIANT_LABEL = "v1's 3-point grid"

#: claims whose v2 rule names a null (the ledger refuses them without the null's glued score)
NULLS = {
    "2.1": "DANTE on the output layer only (the hidden layer left at its random start: a random-features network), paired "
           "with the backprop method chosen on validation",
    "2.2": "DANTE on the output layer only (both hidden layers left at their random start: a random-features network), "
           "paired with the backprop method chosen on validation",
    "2.3": "the untrained network (the start of every run) in DANTE's place: it never reaches the target, its ratio is infinite",
}

#: why each rule changed from v1 to v2 (one line, shown beside the two verdicts)
CHANGES = {
    "2.1": "v1 picked every rate from one 3-point grid by training loss and decided on the point estimate of 3 seeds; v2 "
           "gives each method its own 6-point log grid, picks on a validation split, pairs 5 seeds and applies the interval "
           "rule (v1's grid kept as a variant)",
    "2.2": "as 2.1: a 6-point log grid per method picked on validation, 5 paired seeds, the interval rule (v1's grid kept "
           "as a variant)",
    "2.3": "v1 read times per epoch from runs under 0.5 s, once; v2 evaluates every few mini-batches, times runs of at "
           "least 2 s and takes the median of 3 repeats, with the per-epoch cost ratio beside",
}


# ---------------------------------------------------------------------------
# v1: the rules the chapter was first published with (unchanged)


def non_inferior_v1(id: str, statement: str, gaps: dict[tuple[str, str], dict[str, float]], margin: float) -> Claim:
    """v1's rule: every (data set, activation) gap of :func:`~.experiments.accuracy_gaps_v1`
    must be ``>= -margin``; the claim shows the worst case and names it in its detail."""
    parts = [decide(id, f"{name}, {act}", g["gap"], ">=", -margin,
                    detail=f"DANTE {g['DANTE']:.2f} % vs best backprop {g['best backprop']:.2f} %")
             for (name, act), g in gaps.items()]
    ordered = worst_first(parts)
    c = all_of(id, statement, ordered)
    below = sum(p.verdict == "not reproduced" for p in parts)
    cases = "; ".join(f"{p.statement} {p.value:+.2f}" for p in parts)
    return replace(c, detail=f"worst: {ordered[0].statement} ({ordered[0].detail}); {below} of {len(parts)} cases below "
                             f"-{margin:g} points; gaps: {cases}")


def speed_claim_v1(rows: list[dict], p: Params) -> Claim:
    """v1's claim 2.3 from the rows of :func:`~.experiments.speed_ratios_v1`."""
    ratios = [r["ratio"] for r in rows]
    value = float(np.median(ratios) if p.speed_summary == "median" else np.max(ratios)) if ratios else math.nan
    unreached = [f"{r['hidden layers']}/{r['data']}/{r['activation']}: {r['not reached by']}" for r in rows if r["not reached by"]]
    detail = (f"ratios {min(ratios):.2f} to {max(ratios):.2f} over {len(ratios)} configurations" if ratios else "no configuration")
    if unreached:
        detail += f"; target not reached within the budget by some seeds ({'; '.join(unreached)}): their time is the whole run"
    return decide("2.3", f"Time to {p.speed_fraction:.0%} of the best final accuracy, per epoch: DANTE / backprop "
                  f"({p.speed_summary} over configurations)", value, "<=", p.speed_ratio, detail=detail)


def claims_v1(results: Results, p: Params) -> list[Claim]:
    """Claims 2.1-2.3 by the v1 rules."""
    return [non_inferior_v1("2.1", STATEMENTS["2.1"], accuracy_gaps_v1(results.one, p.v1_seeds), p.acc_margin),
            non_inferior_v1("2.2", STATEMENTS["2.2"], accuracy_gaps_v1(results.two, p.v1_seeds), p.acc_margin),
            speed_claim_v1(speed_ratios_v1(results.by_depth, p.speed_fraction, p.v1_seeds), p)]


# ---------------------------------------------------------------------------
# v2


def _cases(id: str, gaps: dict[tuple[str, str], dict[str, Any]], margin: float, method: str = "DANTE") -> list[Claim]:
    return [decide_non_inferior(id, f"{name}, {act}", g["diff"], margin,
                                detail=f"{'DANTE' if method == 'DANTE' else method} {g[method]:.2f} % (lr {g['lr']:g}) vs "
                                       f"{g['best']} {g['backprop']:.2f} % (lr {g['backprop lr']:g}; {g['other']} "
                                       f"{g['other acc']:.2f} %), {g['seeds']} seeds")
            for (name, act), g in gaps.items()]


def _lower(c: Claim) -> float:
    return c.value if isinstance(c.value, (int, float)) and math.isfinite(c.value) else -math.inf


def non_inferior(id: str, statement: str, by_data: dict, margin: float, *, variant: bool = True) -> Claim:
    """Claim 2.1 or 2.2 by the v2 rule (the module's docstring) on one depth's runs
    ``by_data`` (data set -> activation -> method -> :class:`~.experiments.MethodRuns`): every
    case by the interval rule, worst lower end first; the largest MDE of the cases, the
    null's score (the smallest lower end when the null takes DANTE's place), the variant's
    verdict and the one-line summary ride on the claim."""
    gaps = paired_gaps(by_data)
    parts = sorted(_cases(id, gaps, margin), key=_lower)
    c = all_of(id, statement, parts)
    c.mde = max((p.mde for p in parts if p.mde is not None and math.isfinite(p.mde)), default=None)
    nulls = _cases(id, paired_gaps(by_data, method=NULL_METHOD), margin, NULL_METHOD)
    c.null = min((_lower(n) for n in nulls), default=math.nan)
    c.null_label = NULLS[id]
    if variant:
        v = all_of(id, statement, _cases(id, paired_gaps(by_data, VARIANT), margin))
        c.variants = {_VARIANT_LABEL: v.verdict}
        c.extra["variant"] = v
    c.extra["cases"] = parts
    edges = [f"{name}/{act}: {m} {by_m[m].best_lr:g}" for name, by_act in by_data.items() for act, by_m in by_act.items()
             for m in ("SGD", "Adam", "DANTE") if by_m[m].at_edge]
    c.extra["edges"] = edges
    if edges:
        c.detail += f"; rates at an end of their grid: {', '.join(edges)}"
    worst = parts[0]
    g = gaps[tuple(worst.statement.split(", ", 1))]
    c.summary = (f"worst case {worst.statement}: DANTE - {g['best']} {g['diff'].diff:+.2f} points, interval from "
                 f"{worst.value:+.2f} (margin -{margin:g}; MDE {worst.mde:.2g}); {sum(p.verdict == 'reproduced' for p in parts)} "
                 f"of {len(parts)} cases within the margin; v1's grid: {c.variants.get(_VARIANT_LABEL, 'not run')}; "
                 f"the null scores {c.null:+.1f}")
    return c


def _median(values: Sequence[float]) -> float:
    return float(np.median(values)) if len(values) else math.nan


def speed_claim(rows: list[dict], p: Params) -> Claim:
    """Claim 2.3 by the v2 rule (the module's docstring) from the rows of
    :func:`~.experiments.speed_rows`: the value is the ``speed_summary`` of the ratios' lower
    ends (with every target reached, of the ratios); the verdict reads both ends. The null
    is the untrained network in DANTE's place."""
    pick = (lambda xs: _median(xs)) if p.speed_summary == "median" else (lambda xs: float(np.max(xs)) if len(xs) else math.nan)
    lo = pick([r["ratio low"] for r in rows])
    hi = pick([r["ratio high"] for r in rows])
    cost = _median([r["cost ratio"] for r in rows])
    statement = (f"Time to {p.speed_fraction:.0%} of the best final validation accuracy, evaluated every {p.eval_every} "
                 f"mini-batches: DANTE / backprop ({p.speed_summary} over configurations, median of {p.speed_repeats} repeats)")
    c = decide("2.3", statement, lo, "<=", p.speed_ratio)
    unreached = [f"{r['hidden layers']}/{r['data']}/{r['activation']}: {r['not reached by']}" for r in rows if r["not reached by"]]
    if not math.isnan(lo):                     # an infinite lower end (never reached, at any time) fails the rule
        if hi <= p.speed_ratio:
            c.verdict = "reproduced"
        elif lo > p.speed_ratio:
            c.verdict = "not reproduced"
        else:
            c.verdict = "inconclusive"
    spread = [x for r in rows for x in r["ratio per repeat"] if math.isfinite(x)]
    n_rep = min((len(r["ratio per repeat"]) for r in rows), default=0)
    per_repeat = [pick([r["ratio per repeat"][k] for r in rows]) for k in range(n_rep)]
    cpus = [r["cpu ratio"] for r in rows if math.isfinite(r.get("cpu ratio", math.nan))]   # where every target was reached
    cpu = pick(cpus) if cpus else math.nan
    short = min((r["shortest run s"] for r in rows), default=math.nan)
    c.detail = ((f"ratios {min(r['ratio low'] for r in rows):.2f} to {max(r['ratio low'] for r in rows):.2f} over {len(rows)} "
                 f"configurations; per repeat {min(spread, default=math.nan):.2f} to {max(spread, default=math.nan):.2f}; "
                 f"the {p.speed_summary} ratio of each repeat alone {', '.join(f'{x:.2f}' for x in per_repeat)}; the same on "
                 f"the CPU clock {cpu:.2f}; per-epoch cost ratio DANTE / SGD {cost:.2f} (median); shortest timed run {short:.2f} s")
                if rows else "no configuration")
    if unreached:
        c.detail += (f"; target never reached by ({'; '.join(unreached)}): their time is at least the whole run, "
                     f"the {p.speed_summary} ratio lies in [{lo:.3g}, {hi:.3g}]")
    c.null = pick([r["null ratio"] for r in rows])
    c.null_label = NULLS["2.3"]
    c.extra = {"cost ratio": cost, "ratio high": hi, "shortest run s": short, "per repeat": per_repeat, "cpu ratio": cpu}
    c.summary = (f"{p.speed_summary} time ratio {lo:.2f}" + (f" (at most {hi:.3g})" if hi != lo else "")
                 + f" over {len(rows)} configurations (rule <= {p.speed_ratio:g}; each repeat alone "
                 + ", ".join(f"{x:.2f}" for x in per_repeat) + f"); per-epoch cost ratio {cost:.2f}; "
                 f"timed runs of at least {short:.1f} s; the null scores {c.null:g}")
    return c


def claims_v2(results: Results, p: Params) -> list[Claim]:
    """Claims 2.1-2.3 by the v2 rules (the headline)."""
    return [non_inferior("2.1", STATEMENTS["2.1"], results.one, p.acc_margin),
            non_inferior("2.2", STATEMENTS["2.2"], results.two, p.acc_margin),
            speed_claim(speed_rows(results.by_depth, results.timing, p.speed_fraction), p)]


def claims(results: Results, p: Params) -> list[Claim]:
    """Claims 2.1-2.3: the v2 verdicts (the headline), each with its v1 verdict and why the rule changed."""
    v1 = {c.id: c for c in claims_v1(results, p)}
    return [beside(c, v1[c.id], CHANGES[c.id]) for c in claims_v2(results, p)]


def _only(by_depth_or_timing: dict, name: str) -> dict:
    return {k: {name: v[name]} for k, v in by_depth_or_timing.items() if name in v}


def claims_by_setting(results: Results, p: Params) -> dict[str, list[Claim]]:
    """The v2 claims decided on each data set alone (both activations): ``{data set: [2.1, 2.2, 2.3]}``."""
    out = {}
    for name in results.present:
        one, two = {name: results.one[name]}, {name: results.two[name]}
        rows = speed_rows({"1": one, "2": two}, _only(results.timing, name), p.speed_fraction)
        out[name] = [non_inferior("2.1", STATEMENTS["2.1"], one, p.acc_margin),
                     non_inferior("2.2", STATEMENTS["2.2"], two, p.acc_margin), speed_claim(rows, p)]
    return out


def null_claims(results: Results, p: Params) -> list[Claim]:
    """Each v2 rule fed its null: 2.1 and 2.2 with DANTE's runs replaced by the output-layer-only
    runs, 2.3 with DANTE's time replaced by the untrained network's (never). Each must come out
    ``not reproduced`` (or at least not ``reproduced``)."""
    out = []
    for id, by_data in (("2.1", results.one), ("2.2", results.two)):
        parts = sorted(_cases(id, paired_gaps(by_data, method=NULL_METHOD), p.acc_margin, NULL_METHOD), key=_lower)
        out.append(all_of(id, f"{id}'s rule on its null ({NULL_METHOD})", parts))
    rows = speed_rows(results.by_depth, results.timing, p.speed_fraction)
    nulls = [r["null ratio"] for r in rows]
    value = _median(nulls) if p.speed_summary == "median" else float(np.max(nulls))
    c = Claim("2.3", "2.3's rule on its null (the untrained network)", value, "<=", p.speed_ratio,
              "reproduced" if compare(value, "<=", p.speed_ratio) else "not reproduced",
              f"{sum(math.isinf(x) for x in nulls)} of {len(nulls)} configurations never reach the target")
    out.append(c)
    return out


def claim_glue(claims: Sequence[Claim], nulls: Sequence[Claim] = ()) -> dict[str, Any]:
    """What the page glues beyond :meth:`~landscape.publishing.page.Chapter.show_claims`: the
    variant's verdict (``claim-<id>-variant-verdict``), the worst case's interval
    (``claim-<id>-lower``, ``-upper``, ``-diff``, ``-case``), 2.3's per-epoch cost ratio and upper
    end (``claim-2.3-cost-ratio``, ``-ratio-high``), text forms of the nulls' scores
    (``claim-<id>-null-text``) and the nulls' verdicts (``claim-<id>-null-verdict``)."""
    out: dict[str, Any] = {}
    for c in claims:
        if "variant" in c.extra:
            out[f"claim-{c.id}-variant-verdict"] = c.extra["variant"].verdict
        if "cases" in c.extra:
            w = c.extra["cases"][0]                      # the worst case: lower end d - 2 SE, MDE 2 SE
            mde = float(w.mde) if w.mde is not None else math.nan
            out[f"claim-{c.id}-lower"] = float(w.value)
            out[f"claim-{c.id}-diff"] = float(w.value) + mde
            out[f"claim-{c.id}-upper"] = float(w.value) + 2 * mde
            out[f"claim-{c.id}-case"] = w.statement
        if c.id == "2.3":
            out["claim-2.3-cost-ratio"] = float(c.extra.get("cost ratio", math.nan))
            out["claim-2.3-ratio-high"] = f"{c.extra.get('ratio high', math.nan):.3g}"
            out["claim-2.3-per-repeat"] = ", ".join(f"{x:.2f}" for x in c.extra.get("per repeat", []))
            out["claim-2.3-cpu-ratio"] = float(c.extra.get("cpu ratio", math.nan))
        if "edges" in c.extra:
            out[f"claim-{c.id}-edges"] = len(c.extra["edges"])
        if c.null is not None:
            out[f"claim-{c.id}-null-text"] = "infinite (never reached)" if math.isinf(c.null) else f"{c.null:+.2f}"
    for n in nulls:
        out[f"claim-{n.id}-null-verdict"] = n.verdict
    return out
