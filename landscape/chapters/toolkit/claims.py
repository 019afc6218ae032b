"""The toolkit chapter's claims 6.1-6.5: each estimate against the exact answer, by the rules
in its parameters cell (``eig_rel_tol``, ``w1_rel_tol``, ``coverage_min``, ``block_rel_tol``, ``penalty_z``)."""

from __future__ import annotations

from ...experiment.claims import Claim, decide
from ...experiment.params import Params
from .experiments import Results

__all__ = ["claims"]


def claims(results: Results, p: Params) -> list[Claim]:
    """Claims 6.1-6.5 from :attr:`Results.numbers`."""
    n = results.numbers
    return [
        decide("6.1", "Lanczos eigenvalues (top and bottom) match eigvalsh of the dense Hessian (max error / ||H||)",
               n["eig_max_err"], "<=", p.eig_rel_tol),
        decide("6.2", "The SLQ density is close to the exact spectrum (W1 / spectral range)", n["slq_w1"], "<=", p.w1_rel_tol),
        decide("6.3", "The reported trace standard error covers the exact trace (share within 2 stderr)",
               n["trace_coverage"], ">=", p.coverage_min),
        decide("6.4", "Per-layer block eigenvalues match eigvalsh of the dense slices (max error / ||H_ll||)",
               n["block_max_err"], "<=", p.block_rel_tol),
        decide("6.5", "The one-probe trace penalty is an unbiased estimate of tr H (|mean - tr H| / stderr)",
               n["penalty"]["z"], "<=", p.penalty_z),
    ]
