r"""The saddles chapter's claims 5.1-5.4, decided by the rules of its parameters cell
(``book/saddles.ipynb``; the decision-rule parameters of :mod:`.schema`), in two versions.

**v2, the headline** (the project's decision rules v2, declared before any v2 run):

- 5.1: an end point counts when (a) it is near-stationary,
  :math:`\|\nabla L(\theta^*)\| \le` ``stationary_tol`` :math:`\|\nabla L(\theta_0)\|`; (b) degenerate,
  a fraction :math:`\ge` ``zero_fraction_min`` of eigenvalues with
  :math:`|\lambda| \le` ``zero_tol`` :math:`\lambda_{\max}`; and (c) a saddle, not a flat minimum:
  :math:`\lambda_{\min} < -` ``neg_tol`` :math:`\lambda_{\max}` and the line search along
  :math:`\pm v_{\min}` (until the loss rises) lowers the loss by more than the median of the same
  search along ``n_random`` random unit directions (:func:`~.readings.point_reading`). The claim
  holds when the fraction of end points (optimizers x seeds) that count is above ``most_fraction``.
  The same reading at initialization is reported as the baseline (``extra["init"]``), with the
  shares of end points that are saddles by (c) and that are flat minima ((a), (b), not (c)).
  The null is a strict local minimum - the convex quadratic with the magnitudes of a trained
  spectrum (:func:`~.experiments.quadratic_null`): its fraction must fail the rule.
- 5.2: v1's rule, |near-zero fraction of PGD - that of the plain methods| <= ``pgd_gap_max``
  (means over seeds), with the manipulation check "PGD really perturbed" (its perturbation
  count above zero beyond noise over seeds); the MDE of the paired per-seed gap is reported.
- 5.3: per run, gain :math:`= (L_{\text{control}} - L_{\text{escaped}}) / (L(\theta_0) - L(\theta^*))`,
  the escape step from the uncapped line search (:func:`~.experiments.saddle_check`); the median
  gain <= ``escape_gain_max``.
- 5.4: v1's rule over the (now 5) seeds.

**v1** (:func:`claims_v1`, shown beside): the rules the chapter was first published with.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ...experiment.claims import Check, Claim, beside, decide
from ...experiment.params import Params
from ...experiment.stats import paired_difference
from .experiments import Results
from .readings import end_readings, final_summaries, init_readings, null_reading, pgd_gap, saddle_runs, shares

__all__ = ["claims", "claims_v1", "claims_v2", "claims_by_setting", "null_claims", "claim_glue", "pgd_perturbed",
           "NULLS", "CHANGES", "NULL_LABEL"]

#: what claim 5.1's null is
NULL_LABEL = ("a strict local minimum: the convex quadratic 1/2 sum mu_i theta_i^2 at theta = 0, mu_i = |lambda_i| of the "
              "first run's end spectrum (as degenerate and as stationary as the network)")
#: claims whose v2 rule names a null (the ledger refuses them without the null's glued score)
NULLS = {"5.1": NULL_LABEL}

#: why each rule changed from v1 to v2 (one line, shown beside the two verdicts)
CHANGES = {
    "5.1": "v1 passed at initialization and could not tell a degenerate saddle from a flat minimum: v2 also asks for "
           "near-stationarity and that a line search along -+v_min beat random directions, with initialization as baseline",
    "5.2": "rule unchanged; 5 seeds instead of 3, and the manipulation check that PGD really perturbed",
    "5.3": "v1 divided by a vanishing loss and capped the escape step at 1: v2 divides by all the decrease training "
           "achieved and searches the step until the loss rises",
    "5.4": "rule unchanged; 5 seeds instead of 3",
}


# ---------------------------------------------------------------------------
# v1: the rules the chapter was first published with (unchanged)


def claims_v1(results: Results, p: Params) -> list[Claim]:
    """Claims 5.1-5.4 by the v1 rules."""
    sums = final_summaries(results, p)
    ok = saddle_runs(results, p)
    zeros = [s["zero"] for s in sums.values()]
    below = [s["n_below"] for s in sums.values()]
    c1 = decide("5.1", "At convergence most runs sit at a degenerate saddle: a majority of eigenvalues near zero "
                "(|λ| ≤ zero_tol λmax) and at least one clearly negative (λ < −neg_tol λmax); value: fraction of runs",
                float(np.mean(ok)), ">", p.most_fraction,
                detail=f"{sum(ok)} of {len(ok)} runs; near-zero fractions {min(zeros):.3f}-{max(zeros):.3f}, "
                       f"eigenvalues below −{p.neg_tol:g} λmax {min(below)}-{max(below)}")
    c2 = _c52_v1(results, p)
    gains = np.array([e["gain"] for e in results.escapes.values()])
    c3 = decide("5.3", "Escaping along the most negative curvature (step + a few epochs) buys almost no loss: "
                "median relative decrease against the same epochs without the step", float(np.median(gains)), "<=",
                p.escape_gain_max, detail=f"per run {gains.min():+.2%} to {gains.max():+.2%}")
    return [c1, c2, c3, _c54(results, p)]


def _c52_v1(results: Results, p: Params) -> Claim:
    gap, plain, pgd = pgd_gap(results, p)
    return decide("5.2", "The saddle-escaping method (perturbed gradient descent) ends at an equally degenerate point: "
                  "|near-zero fraction of PGD − that of the plain methods|", gap, "<=", p.pgd_gap_max,
                  detail=(f"PGD {np.mean(pgd):.3f} vs plain {np.mean(plain):.3f} (means over seeds)" if pgd and plain
                          else "needs 'pgd' and at least one other optimizer"))


def _c54(results: Results, p: Params) -> Claim:
    semi = results.semicircle
    ratios = np.array(list(semi.ratio_final.values()))
    return decide("5.4", "The bulk of the spectrum at convergence follows Wigner's semicircle: median KS distance "
                  "to the fitted semicircle, as a multiple of the GOE control's", float(np.median(ratios)), "<=",
                  p.ks_ratio_max, detail=f"KS Hessian median {np.median([f.ks for f in semi.final.values()]):.3f}, "
                  f"GOE median {np.median([f.ks for f in semi.goe.values()]):.4f}; at initialization the ratio is "
                  f"{np.median(list(semi.ratio_init.values())):.3g}; {len(ratios)} runs")


# ---------------------------------------------------------------------------
# v2


def _fraction(readings: dict) -> float:
    ok = [r["all"] for r in readings.values() if r["finite"]]
    return float(np.mean(ok)) if ok else math.nan


def _c51(results: Results, p: Params) -> Claim:
    ends, inits = end_readings(results, p), init_readings(results, p)
    se, si = shares(ends), shares(inits)
    null = null_reading(results, p)
    value = _fraction(ends)
    c = decide("5.1", "At convergence most runs sit at a degenerate saddle, not a flat minimum: (a) near-stationary, "
               "(b) most eigenvalues near zero, (c) λmin < −neg_tol λmax and a line search along ±v_min lowers the loss "
               "more than along random directions; value: fraction of end points with (a), (b) and (c)",
               value, ">", p.most_fraction,
               detail=(f"{sum(r['all'] for r in ends.values())} of {se['n']} end points; (a) {se['stationary']:.2f}, "
                       f"(b) {se['degenerate']:.2f}, (c) {se['saddle']:.2f}, flat minima {se['flat']:.2f}; at "
                       f"initialization (a) {si['stationary']:.2f}, (b) {si['degenerate']:.2f}, (c) {si['saddle']:.2f}, "
                       f"all three {si['all']:.2f}"),
               null=float(null["all"]))
    c.null_label = NULL_LABEL
    c.summary = (f"end points: saddles by (c) {se['saddle']:.0%}, flat minima {se['flat']:.0%}, near-stationary "
                 f"{se['stationary']:.0%}, degenerate {se['degenerate']:.0%}; at initialization (c) {si['saddle']:.0%}, "
                 f"(b) {si['degenerate']:.0%}; the strict-minimum null scores {null['all']:.0f}")
    c.extra = {"end": se, "init": si, "null": null}
    return c


def pgd_perturbed(results: Results) -> Check:
    """5.2's manipulation check: PGD really perturbed - its per-seed perturbation counts above zero
    beyond noise (paired against the plain runs' exact 0)."""
    counts = [float(r.get("perturbations", 0)) for (o, _), r in results.runs.items() if o == "pgd"]
    if not counts:
        return Check("PGD perturbed", False, "no PGD run")
    d = paired_difference(counts, np.zeros(len(counts)))
    passed = bool(min(counts) > 0 and d.diff > 0 and (d.beyond or d.stderr == 0) and d.enough_seeds)
    return Check("PGD perturbed", passed, f"perturbations per run {int(min(counts))}-{int(max(counts))}, {d}")


def _c52(results: Results, p: Params) -> Claim:
    c = _c52_v1(results, p)
    zero = {k: s["zero"] for k, s in final_summaries(results, p).items()}
    plain = [o for o in p.optimizers if o != "pgd"]
    if "pgd" in p.optimizers and plain:
        per_pgd = [zero[("pgd", s)] for s in p.seeds]
        per_plain = [float(np.mean([zero[(o, s)] for o in plain])) for s in p.seeds]
        d = paired_difference(per_pgd, per_plain)
        c.mde = d.mde
        c.detail += f"; paired per-seed gap {d}, interval [{d.lower:+.3g}, {d.upper:+.3g}], MDE {d.mde:.3g}"
    c.manipulation = pgd_perturbed(results)
    if not c.manipulation.passed:
        c.verdict = "inconclusive"
        c.detail = f"treatment inactive: {c.manipulation.what} failed ({c.manipulation.detail}); {c.detail}"
    c.summary = f"|PGD - plain| near-zero fraction {c.value:.3f} (rule <= {p.pgd_gap_max:g}); {c.manipulation.detail}"
    return c


def _c53(results: Results, p: Params) -> Claim:
    gains = np.array([c["gain"] for c in results.checks.values()], dtype=float)
    finite = gains[np.isfinite(gains)]
    value = float(np.median(finite)) if finite.size else math.nan
    capped = sum(bool(c["capped_min"]) for c in results.checks.values())
    steps = np.abs([c["alpha_min"] for c in results.checks.values()])
    detail = (f"per run {finite.min():+.2g} to {finite.max():+.2g} of the decrease training achieved; escape steps |α*| "
              f"{steps.min():.3g}-{steps.max():.3g}, {capped} of {len(gains)} searches stopped by search_max_steps"
              if finite.size else "no finite gain (every control or escape diverged)")
    c = decide("5.3", "Escaping along the most negative curvature (uncapped line search + a few epochs) buys almost no "
               "loss: median over runs of (control − escaped loss) / (initial − end loss)", value, "<=", p.escape_gain_max,
               detail=detail)
    c.summary = (f"median gain {value:.2g} of all the loss decrease training achieved (rule <= {p.escape_gain_max:g}); "
                 f"v1's share of the remaining loss: {float(np.median([e['gain'] for e in results.escapes.values()])):.2g}")
    return c


def claims_v2(results: Results, p: Params) -> list[Claim]:
    """Claims 5.1-5.4 by the v2 rules (the headline)."""
    c4 = _c54(results, p)
    c4.summary = f"median KS ratio to the GOE control {c4.value:.3g} (rule <= {p.ks_ratio_max:g})"
    return [_c51(results, p), _c52(results, p), _c53(results, p), c4]


def claims(results: Results, p: Params) -> list[Claim]:
    """Claims 5.1-5.4: the v2 verdicts (the headline), each with its v1 verdict and why the rule changed."""
    v1 = {c.id: c for c in claims_v1(results, p)}
    return [beside(c, v1[c.id], CHANGES[c.id]) for c in claims_v2(results, p)]


def claims_by_setting(results: Results, p: Params) -> dict[str, list[Claim]]:
    """The v2 claims on each data set: the main one and each of ``results.others``."""
    return {results.dataset or p.dataset: claims_v2(results, p),
            **{d: claims_v2(r, p.replace(dataset=d, also_datasets=[])) for d, r in results.others.items()}}


def null_claims(results: Results, p: Params) -> list[Claim]:
    """5.1's v2 rule fed its null: every end point replaced by the strict-minimum quadratic
    (:func:`~.readings.null_reading`). It must come out ``not reproduced``."""
    null = null_reading(results, p)
    return [decide("5.1", "5.1's rule on its null (a strict local minimum)", float(null["all"]), ">", p.most_fraction,
                   detail=f"(a) {null['stationary']}, (b) {null['degenerate']} (near-zero {null['zero']:.3f}), (c) "
                          f"{null['saddle']}: λmin {null['lambda_min']:.3g}, decrease along v_min {null['decrease_min']:.3g}"
                          f" vs random median {null['decrease_random']:.3g}")]


def claim_glue(claims: list[Claim], nulls: list[Claim] | None = None) -> dict[str, Any]:
    """What the page glues beyond :meth:`~landscape.publishing.page.Chapter.show_claims`: 5.1's shares
    at the end and at initialization (``claim-5.1-end-<part>``, ``claim-5.1-init-<part>``), and the
    nulls' verdicts (``claim-<id>-null-verdict``)."""
    out: dict[str, Any] = {}
    for c in claims:
        for where in ("end", "init"):
            for key, v in c.extra.get(where, {}).items():
                out[f"claim-{c.id}-{where}-{key}"] = float(v)
    for n in nulls or []:
        out[f"claim-{n.id}-null-verdict"] = n.verdict
    return out
