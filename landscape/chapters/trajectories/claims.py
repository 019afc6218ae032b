"""The trajectories chapter's claims 3.1-3.3, decided by the rules in its parameters cell
(``gap_tol``, ``rank_margin``, ``success_margin``; the v1 rules: unpaired differences of
means over seeds, beyond noise at 2 standard errors).

- 3.1: for each kind of noise, the effective rank of the product (mean over matched
  iterations) is higher than noiseless GD's, beyond noise, from ``claim_init``;
- 3.2: noise (mean over the kinds) raises the fraction of runs within ``gap_tol`` of the
  closed-form optimum, beyond noise;
- 3.3: 3.1 at every depth tried.

"For each" is :func:`~landscape.experiment.claims.all_of` over the cases, ordered so that
the case shown is the weakest: a difference at or below zero beyond noise if there is one
(the most negative), else the one with the lowest lower bound :math:`\\bar d - 2\\,\\mathrm{SE}`.
"""

from __future__ import annotations

from typing import Any, Mapping

from ...experiment.claims import Claim, all_of, decide
from ...experiment.params import Params
from ...experiment.stats import Difference, difference
from .experiments import KINDS, Results, pooled_success, rank_differences, rank_given_success, summary

__all__ = ["claims", "weakest_first"]


def weakest_first(diffs: Mapping[Any, Difference]) -> list[tuple[Any, Difference]]:
    """The cases of a "for each" comparison, weakest first: differences at or below zero beyond
    noise (most negative first), then the others by their lower bound ``diff - 2 stderr``."""
    if not diffs:
        raise ValueError("Invalid diffs: {} (must hold at least one comparison)")
    against = sorted(((k, d) for k, d in diffs.items() if d.beyond and d.diff <= 0), key=lambda kv: kv[1].diff)
    rest = sorted(((k, d) for k, d in diffs.items() if not (d.beyond and d.diff <= 0)), key=lambda kv: kv[1].diff - 2 * kv[1].stderr)
    return against + rest


def _for_each(id: str, statement: str, diffs: Mapping[Any, Difference], margin: float, label) -> Claim:
    parts = [decide(id, label(k), d.diff, ">", margin, noise=d) for k, d in weakest_first(diffs)]
    return all_of(id, statement, parts)


def claims(results: Results, p: Params) -> list[Claim]:
    """Claims 3.1-3.3 from the runs of :func:`~.experiments.run`."""
    gt, ci = p.gap_tol, p.claim_init
    sec = results.sections[ci]
    c31 = _for_each("3.1", f"Each kind of noise yields a higher effective rank of the product than noiseless GD at matched "
                    f"iterations ({ci} start, H = {p.depth}; weakest kind)", rank_differences(sec, gt), p.rank_margin,
                    lambda k: f"{k}: effective rank, noise - none")
    noisy, clean = pooled_success(sec, gt)
    d32 = difference(noisy, clean)
    per_kind = {k: summary(sec[k], gt)["success"].mean() for k in KINDS if k in sec}
    full = rank_given_success(results.sections, gt)
    c32 = decide("3.2", f"Noise raises the fraction of runs within {gt:.0%} of the closed-form optimum loss ({ci} start; mean "
                 f"over kinds minus noiseless)", d32.diff, ">", p.success_margin, noise=d32,
                 detail=f"noiseless {clean.mean():.2f}; " + ", ".join(f"{k} {v:.2f}" for k, v in per_kind.items())
                 + f"; full rank at end -> within gap {full['success_given_full']:.2f}, rank-deficient -> "
                 f"{full['success_given_deficient']:.2f}")
    d33 = {(d, k): diff for d in p.depths for k, diff in rank_differences(results.by_depth[d], gt).items()}
    c33 = _for_each("3.3", f"Claim 3.1 holds at every depth tried (H in {list(p.depths)}; weakest depth and kind)", d33,
                    p.rank_margin, lambda dk: f"H = {dk[0]}, {dk[1]}: effective rank, noise - none")
    return [c31, c32, c33]
