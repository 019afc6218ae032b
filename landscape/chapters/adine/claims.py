"""The ADINE chapter's four claims, decided by the rules of its parameters cell
(the *decision rules* block of ``book/adine.ipynb``: ``escape_ratio_max``,
``diverge_factor``, ``target_slack``, ``speed_ratio_max``, ``acc_margin``).

- 4.1: on every saddle, (fewest median iterations with :math:`m \\ge 1`) /
  (fewest with :math:`m < 1`) < ``escape_ratio_max``; the worst saddle is shown;
- 4.2: the smallest :math:`\\log_{10}` growth of the iterates' norm over the
  constant :math:`m > 1` runs on the quadratic > :math:`\\log_{10}` ``diverge_factor``;
- 4.3: ADINE's mean iterations to the target / each baseline's (SGD + momentum,
  Nesterov) <= ``speed_ratio_max``, beyond noise, in every setting; the worst pair is shown;
- 4.4: ADINE's mean final test accuracy - the best baseline's >= -``acc_margin``
  points in every setting; the worst setting is shown.

"Every case, worst shown" is :func:`~landscape.experiment.claims.all_of` over the
cases ordered by :func:`~landscape.experiment.claims.worst_first`.
"""

from __future__ import annotations

import math

from ...experiment.claims import Claim, all_of, decide, worst_first
from ...experiment.params import Params
from ...experiment.stats import difference
from .experiments import LABELS, Results

__all__ = ["claims", "speed_pairs"]

S41 = "m >= 1 escapes saddles in fewer iterations than the best m < 1, on each saddle (worst ratio over saddles)"
S42 = "A constant momentum m > 1 diverges on a convex quadratic (smallest log10 growth of the norm over m > 1)"
S43 = ("ADINE reaches a given training loss in fewer iterations than SGD + momentum and Nesterov "
       "(ratio of mean iterations, worst setting and baseline)")
S44 = "ADINE's final test accuracy is at least the best baseline's minus the margin (worst setting, points)"


def speed_pairs(speed: dict, ratio_max: float) -> list[Claim]:
    """Claim 4.3 for each (setting, baseline) pair, in the order setting, then SGD +
    momentum and Nesterov: ratio = mean steps of ADINE / mean steps of the
    baseline, beyond the noise of the difference of the per-seed steps.
    ``extra`` holds the setting, the baseline, the difference and how many seeds
    of each side never reached the target."""
    parts = []
    for s, r in speed.items():
        a = r["steps"]["adine"]
        for b in ("momentum", "nesterov"):
            base = r["steps"][b]
            noise = difference(a, base)
            c = decide("4.3", f"{s} vs {LABELS[b]}", float(a.mean() / base.mean()), "<=", ratio_max, noise=noise)
            c.extra = {"setting": s, "baseline": b, "noise": noise, "adine_censored": int(r["censored"]["adine"].sum()),
                       "baseline_censored": int(r["censored"][b].sum())}
            parts.append(c)
    return parts


def _every(id: str, statement: str, parts: list[Claim], op: str, threshold: float) -> Claim:
    """:func:`all_of` the parts, worst first; with no part (no setting ran), inconclusive."""
    if not parts:
        return decide(id, statement, math.nan, op, threshold, detail="no case was measured (no data set of the settings is here)")
    return all_of(id, statement, worst_first(parts))


def claims(results: Results, p: Params) -> list[Claim]:
    """Claims 4.1 to 4.4."""
    c41 = _every("4.1", S41, [decide("4.1", name, s["ratio"], "<", p.escape_ratio_max) for name, s in results.escape.items()],
                 "<", p.escape_ratio_max)
    rates = ", ".join(f"m={m:g}: rate {r:.4f} (rho {q:.4f})"
                      for m, r, q in zip(p.quad_momenta, results.quad["rate"], results.quad["rho"]) if m > 1)
    c42 = decide("4.2", S42, results.quad_growth, ">", math.log10(p.diverge_factor), detail=rates)
    c43 = _every("4.3", S43, speed_pairs(results.speed, p.speed_ratio_max), "<=", p.speed_ratio_max)
    c44 = _every("4.4", S44, [decide("4.4", f"{s} vs {LABELS[a['best']]}", a["gap_points"], ">=", -p.acc_margin)
                              for s, a in results.accuracy.items()], ">=", -p.acc_margin)
    return [c41, c42, c43, c44]
