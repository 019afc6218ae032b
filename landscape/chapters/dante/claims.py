"""The DANTE chapter's claims, decided by the rules in its parameters cell
(``book/dante.ipynb``; the schema's ``acc_margin``, ``speed_fraction``,
``speed_ratio``, ``speed_summary``):

- 2.1 (one hidden layer) and 2.2 (two): in every (data set, activation), DANTE's
  mean final test accuracy minus the best of SGD's and Adam's is at least
  ``-acc_margin`` points (non-inferiority on the point estimate); the worst case
  is the value shown;
- 2.3: per configuration (depth, data set, activation), DANTE's time to
  ``speed_fraction`` of the best final test accuracy over the faster of SGD and
  Adam (median over seeds); the ``speed_summary`` (median or max) of these
  ratios is at most ``speed_ratio``.
"""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ...experiment.claims import Claim, all_of, decide, worst_first
from ...experiment.params import Params
from .experiments import Results, speed_ratios

__all__ = ["claims", "non_inferior", "speed_claim"]

STATEMENTS = {
    "2.1": "One hidden layer: DANTE's test accuracy is within the margin of the best of SGD and Adam, "
           "for sigmoid and generalized ReLU (points, worst case)",
    "2.2": "Two hidden layers: DANTE's test accuracy is within the margin of the best of SGD and Adam (points, worst case)",
}


def non_inferior(id: str, statement: str, gaps: dict[tuple[str, str], dict[str, float]], margin: float) -> Claim:
    """Every (data set, activation) gap of :func:`~landscape.chapters.dante.experiments.accuracy_gaps`
    must be ``>= -margin``; the claim shows the worst case (the smallest gap; on a tie, the
    first in the order of the gaps) and names it in its detail."""
    parts = [decide(id, f"{name}, {act}", g["gap"], ">=", -margin,
                    detail=f"DANTE {g['DANTE']:.2f} % vs best backprop {g['best backprop']:.2f} %")
             for (name, act), g in gaps.items()]
    ordered = worst_first(parts)
    c = all_of(id, statement, ordered)
    below = sum(p.verdict == "not reproduced" for p in parts)
    cases = "; ".join(f"{p.statement} {p.value:+.2f}" for p in parts)
    return replace(c, detail=f"worst: {ordered[0].statement} ({ordered[0].detail}); {below} of {len(parts)} cases below "
                             f"-{margin:g} points; gaps: {cases}")


def speed_claim(rows: list[dict], p: Params) -> Claim:
    """Claim 2.3 from the rows of :func:`~landscape.chapters.dante.experiments.speed_ratios`."""
    ratios = [r["ratio"] for r in rows]
    value = float(np.median(ratios) if p.speed_summary == "median" else np.max(ratios)) if ratios else math.nan
    unreached = [f"{r['hidden layers']}/{r['data']}/{r['activation']}: {r['not reached by']}" for r in rows if r["not reached by"]]
    detail = (f"ratios {min(ratios):.2f} to {max(ratios):.2f} over {len(ratios)} configurations" if ratios else "no configuration")
    if unreached:
        detail += f"; target not reached within the budget by some seeds ({'; '.join(unreached)}): their time is the whole run"
    return decide("2.3", f"Time to {p.speed_fraction:.0%} of the best final test accuracy: DANTE / backprop "
                  f"({p.speed_summary} over configurations)", value, "<=", p.speed_ratio, detail=detail)


def claims(results: Results, p: Params) -> list[Claim]:
    """Claims 2.1, 2.2 and 2.3."""
    return [non_inferior("2.1", STATEMENTS["2.1"], results.gaps_one, p.acc_margin),
            non_inferior("2.2", STATEMENTS["2.2"], results.gaps_two, p.acc_margin),
            speed_claim(speed_ratios(results.by_depth, p.speed_fraction), p)]
