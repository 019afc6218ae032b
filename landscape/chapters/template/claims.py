"""The template chapter's two claims, decided by the rules in its parameters cell.

- 0.1: mean test accuracy at the best learning rate >= ``acc_threshold``;
- 0.2: training raises test accuracy over the untrained network, beyond noise
  (difference of means over seeds, 2 standard errors).
"""

from __future__ import annotations

from ...experiment.claims import Claim, decide
from ...experiment.params import Params
from ...experiment.stats import difference
from .experiments import Results

__all__ = ["claims"]


def claims(results: Results, p: Params) -> list[Claim]:
    """Claims 0.1 and 0.2."""
    c1 = decide("0.1", "A one-hidden-layer MLP trained with SGD classifies held-out digits (mean test accuracy)",
                float(results.final_acc.mean()), ">=", p.acc_threshold)
    gain = difference(results.final_acc, results.init_acc)
    c2 = decide("0.2", "Training improves test accuracy over the untrained network (difference of means)",
                gain.diff, ">", 0.0, noise=gain)
    return [c1, c2]
