"""The saddles chapter's claims 5.1-5.4, decided by the rules declared in its parameters cell
(``zero_tol``, ``neg_tol``, ``zero_fraction_min``, ``most_fraction``, ``pgd_gap_max``,
``escape_gain_max``, ``ks_ratio_max``: ``landscape/chapters/saddles/schema.py``).

- 5.1: the fraction of runs at a degenerate saddle (near-zero fraction >= ``zero_fraction_min``
  and an eigenvalue below ``-neg_tol`` lambda_max) is above ``most_fraction``;
- 5.2: |near-zero fraction of PGD - that of the plain methods| <= ``pgd_gap_max`` (means over runs;
  inconclusive without PGD or without another optimizer);
- 5.3: the median relative loss decrease bought by escaping <= ``escape_gain_max``;
- 5.4: the median KS distance of the bulk to its semicircle, over the GOE control's, <= ``ks_ratio_max``.
"""

from __future__ import annotations

import numpy as np

from ...experiment.claims import Claim, decide
from ...experiment.params import Params
from .experiments import Results
from .readings import final_summaries, pgd_gap, saddle_runs

__all__ = ["claims"]


def claims(results: Results, p: Params) -> list[Claim]:
    """Claims 5.1-5.4."""
    sums = final_summaries(results, p)
    ok = saddle_runs(results, p)
    zeros = [s["zero"] for s in sums.values()]
    below = [s["n_below"] for s in sums.values()]
    c1 = decide("5.1", "At convergence most runs sit at a degenerate saddle: a majority of eigenvalues near zero "
                "(|λ| ≤ zero_tol λmax) and at least one clearly negative (λ < −neg_tol λmax); value: fraction of runs",
                float(np.mean(ok)), ">", p.most_fraction,
                detail=f"{sum(ok)} of {len(ok)} runs; near-zero fractions {min(zeros):.3f}-{max(zeros):.3f}, "
                       f"eigenvalues below −{p.neg_tol:g} λmax {min(below)}-{max(below)}")
    gap, plain, pgd = pgd_gap(results, p)
    c2 = decide("5.2", "The saddle-escaping method (perturbed gradient descent) ends at an equally degenerate point: "
                "|near-zero fraction of PGD − that of the plain methods|", gap, "<=", p.pgd_gap_max,
                detail=(f"PGD {np.mean(pgd):.3f} vs plain {np.mean(plain):.3f} (means over seeds)" if pgd and plain
                        else "needs 'pgd' and at least one other optimizer"))
    gains = np.array([e["gain"] for e in results.escapes.values()])
    c3 = decide("5.3", "Escaping along the most negative curvature (step + a few epochs) buys almost no loss: "
                "median relative decrease against the same epochs without the step", float(np.median(gains)), "<=",
                p.escape_gain_max, detail=f"per run {gains.min():+.2%} to {gains.max():+.2%}")
    semi = results.semicircle
    ratios = np.array(list(semi.ratio_final.values()))
    c4 = decide("5.4", "The bulk of the spectrum at convergence follows Wigner's semicircle: median KS distance "
                "to the fitted semicircle, as a multiple of the GOE control's", float(np.median(ratios)), "<=",
                p.ks_ratio_max, detail=f"KS Hessian median {np.median([f.ks for f in semi.final.values()]):.3f}, "
                f"GOE median {np.median([f.ks for f in semi.goe.values()]):.4f}; at initialization the ratio is "
                f"{np.median(list(semi.ratio_init.values())):.3g}")
    return [c1, c2, c3, c4]
