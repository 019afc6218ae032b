"""The hessian chapter's claims 1.1-1.6, decided by the rules of its parameters cell
(``book/hessian.ipynb``; the decision-rule parameters ``w1_max`` ... ``acc_margin`` of
:mod:`.schema`).

- 1.1: for each model, the median over layers of the scaled W1 (layer vs full, last
  epoch) <= ``w1_max``;
- 1.2: for each model, the normalized depth of the layer closest to the full spectrum
  (sound measure, summed over training) in [``depth_low``, ``depth_high``];
- 1.3: the Spearman correlation with the epoch (after the first ``rho_skip``) <=
  ``rho_max`` for the full Hessian's lambda_max and trace (each model), and for more
  than ``most_frac`` of the (layer, quantity) pairs;
- 1.4: for H and for the GGN, the fraction of layers (both models pooled) with C +-
  ``outlier_slack`` outliers > ``most_frac``;
- 1.5: SGD + trace penalty - SGD: accuracy higher and final trace lower, each beyond
  noise (difference of means, 2 standard errors, at least 3 seeds);
- 1.6: the middle-only penalty's mean accuracy >= the full penalty's - ``acc_margin``.

A claim with several parts is :func:`~landscape.experiment.claims.all_of` them, the
parts in the order the page lists them (MLP before LeNet; lambda_max before trace).
"""

from __future__ import annotations

import math

import numpy as np

from ...experiment.claims import Claim, all_of, decide, fraction
from ...experiment.params import Params
from ...experiment.stats import Difference, difference
from .experiments import MODEL_LABELS, Results, column

__all__ = ["claims", "accuracy_gain"]


def accuracy_gain(results: Results) -> Difference | None:
    """Test accuracy of SGD + trace penalty minus SGD (points, difference of means over
    seeds); None when either arm was not run."""
    if "sgd" not in results.arms or "sgd+trace" not in results.arms:
        return None
    return difference(column(results.arms["sgd+trace"], "acc"), column(results.arms["sgd"], "acc"))


def claims(results: Results, p: Params) -> list[Claim]:
    """Claims 1.1-1.6."""
    models = list(results.near)
    names = {m: MODEL_LABELS.get(m, m) for m in models}
    w1 = results.w1_median
    c11 = all_of("1.1", "Each layer's spectrum is close to the full one (median scaled W1 over layers, last epoch)", [
        decide("1.1", f"{names[m]} median scaled W1", w1[m], "<=", p.w1_max) for m in models])

    near = results.near
    c12 = all_of("1.2", "The layer closest to the full spectrum is a middle one (normalized depth, sound measure, summed over training)", [
        decide("1.2", f"{names[m]} depth of {near[m]['sound']['sum'][0]}", near[m]["sound"]["sum"][1], "in",
               [p.depth_low, p.depth_high],
               detail=f"authors' measure: {near[m]['authors']['sum'][0]} at depth {near[m]['authors']['sum'][1]:.2f} "
                      f"(end: {near[m]['authors']['end'][0]})")
        for m in models])

    rho = results.rho
    parts13 = [decide("1.3", f"{names[m]} full {key} Spearman", rho[m]["full"][key], "<=", p.rho_max)
               for m in models for key in ("lmax", "trace")]
    layer_rhos = [rho[m][l][k] for m in models for l in results.layers(m) for k in ("lmax", "trace")]
    parts13.append(decide("1.3", "fraction of (layer, quantity) with Spearman <= rho_max",
                          fraction(layer_rhos, lambda r: r <= p.rho_max), ">", p.most_frac))
    c13 = all_of("1.3", "lambda_max and trace fall during training, full Hessian and most layers (Spearman with the epoch)", parts13)

    C, outl = results.classes, results.outliers
    frac14 = {kind: float(np.mean([abs(outl[m][kind][l]["count"] - C) <= p.outlier_slack
                                   for m in models for l in results.layers(m)]))
              for kind in ("hessian", "ggn")}
    c14 = all_of("1.4", "Most layers have C +- slack outliers, for H and GGN alike (fraction of layers)", [
        decide("1.4", f"{kind}: fraction of layers within C +- {p.outlier_slack}", frac14[kind], ">", p.most_frac)
        for kind in ("hessian", "ggn")])

    arms, gain = results.arms, accuracy_gain(results)
    if gain is not None:
        tr_drop = difference(column(arms["sgd+trace"], "trace"), column(arms["sgd"], "trace"))
        lm = column(arms["sgd+trace"], "lmax").mean() - column(arms["sgd"], "lmax").mean()
        c15 = all_of("1.5", "The trace penalty raises test accuracy and lowers the final trace (SGD + penalty - SGD, points)", [
            decide("1.5", "accuracy difference (points)", gain.diff, ">", 0.0, noise=gain),
            decide("1.5", "trace difference", tr_drop.diff, "<", 0.0, noise=tr_drop, detail=f"lambda_max difference {lm:+.4g}")])
    else:
        c15 = decide("1.5", "The trace penalty raises test accuracy and lowers the final trace", math.nan, ">", 0.0,
                     detail="arm sgd or sgd+trace not run")

    if "sgd+middle" in arms and "sgd+trace" in arms:
        mid = difference(column(arms["sgd+middle"], "acc"), column(arms["sgd+trace"], "acc"))
        c16 = decide("1.6", "The middle-layer penalty does as well as the full one (accuracy difference, points)", mid.diff,
                     ">=", -p.acc_margin, detail=f"middle - full: {mid}")
    else:
        c16 = decide("1.6", "The middle-layer penalty does as well as the full one", math.nan, ">=", -p.acc_margin,
                     detail="arm not run")
    return [c11, c12, c13, c14, c15, c16]
