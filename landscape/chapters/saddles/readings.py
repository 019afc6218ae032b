r"""What the saddles chapter reads off its results at the declared tolerances
(``zero_tol``, ``neg_tol`` in ``landscape/chapters/saddles/schema.py``): one
spectrum's summary, the spectrum along training, the SLQ check against the dense
answer, the large network's reading, the two numbers claims 5.1 and 5.2 decide
on, and every ``saddles-*`` value the page glues (:func:`summary_values`).

The statistics themselves are :mod:`landscape.spectra`'s (:func:`~landscape.spectra.spectrum_summary`,
:func:`~landscape.spectra.fractions`, :func:`~landscape.spectra.weighted_fractions`,
:func:`~landscape.spectra.spectrum_distance`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch

from ... import spectra
from ...experiment.params import Params
from ...training.loop import History
from .experiments import Results

__all__ = ["summary", "final_summaries", "trajectory", "saddle_runs", "pgd_gap", "slq_compare", "big_summary",
           "summary_values", "v2_values", "point_reading", "end_readings", "init_readings", "null_reading", "shares"]


def summary(eigs: Any, p: Params) -> dict[str, float]:
    """:func:`landscape.spectra.spectrum_summary` at the chapter's tolerances.

    Example:
        >>> from types import SimpleNamespace
        >>> summary([-0.01, 0.0, 0.0, 1.0], SimpleNamespace(zero_tol=1e-3, neg_tol=1e-4))["n_below"]
        1
    """
    return spectra.spectrum_summary(eigs, zero_tol=p.zero_tol, neg_tol=p.neg_tol)


def final_summaries(results: Results, p: Params) -> dict[tuple[str, int], dict[str, float]]:
    """(optimizer, seed) -> :func:`summary` of the final spectrum."""
    return {k: summary(r["eigenvalues"], p) for k, r in results.runs.items()}


def trajectory(results: Results, optimizer: str, seed: int, p: Params) -> dict[str, np.ndarray]:
    """Epochs with an exact spectrum (0, the snapshots, the last) of one run, and their summaries."""
    run, init_eigs = results.runs[(optimizer, seed)], results.inits[seed]
    hist = History.from_dict(run["history"])
    epochs = [0, *run["snapshot_epochs"], hist.last["epoch"]]
    eigs = [init_eigs, *list(run["snapshot_eigenvalues"]), run["eigenvalues"]]
    sums = [summary(e, p) for e in eigs]
    out = {"epoch": np.array(epochs)}
    for key in ("zero", "negative", "n_below", "lambda_min", "lambda_max", "neg_ratio"):
        out[key] = np.array([s[key] for s in sums], dtype=float)
    return out


def saddle_runs(results: Results, p: Params) -> list[bool]:
    """Per run (in ``results.runs`` order): a degenerate saddle, i.e. a near-zero fraction of at least
    ``zero_fraction_min`` and at least one eigenvalue below ``-neg_tol`` lambda_max (claim 5.1)."""
    return [s["zero"] >= p.zero_fraction_min and s["n_below"] >= 1 for s in final_summaries(results, p).values()]


def pgd_gap(results: Results, p: Params) -> tuple[float, list[float], list[float]]:
    """Claim 5.2's measure: |mean near-zero fraction of PGD - that of the other optimizers| (NaN without
    'pgd' or without another optimizer), and the two lists of fractions (plain, PGD)."""
    sums = final_summaries(results, p)
    plain = [sums[k]["zero"] for k in sums if k[0] != "pgd"]
    pgd = [sums[k]["zero"] for k in sums if k[0] == "pgd"]
    gap = abs(float(np.mean(pgd)) - float(np.mean(plain))) if pgd and plain else math.nan
    return gap, plain, pgd


def point_reading(check: dict, eigs: Any, p: Params) -> dict[str, Any]:
    r"""Claim 5.1's v2 reading of one point (an end point, an initial point or the null) from its
    spectrum ``eigs`` and its line searches ``check`` (:func:`~.experiments.saddle_check`,
    :func:`~.experiments.init_check` or :func:`~.experiments.quadratic_null`):

    - (a) ``stationary``: :math:`\|\nabla L\| / \|\nabla L_0\| \le` ``stationary_tol``;
    - (b) ``degenerate``: the fraction with :math:`|\lambda| \le` ``zero_tol`` :math:`\lambda_{\max}`
      at least ``zero_fraction_min``;
    - (c) ``saddle``: :math:`\lambda_{\min} < -` ``neg_tol`` :math:`\lambda_{\max}` and the line search
      along :math:`\pm v_{\min}` lowers the loss by more than the median of the searches along
      random unit directions;
    - ``all``: (a), (b) and (c); ``flat``: (a) and (b) without (c) - a flat (approximate) minimum.

    A NaN anywhere makes ``finite`` False (the point is left out of the fractions).

    Example:
        >>> from types import SimpleNamespace
        >>> q = SimpleNamespace(zero_tol=1e-3, neg_tol=1e-4, zero_fraction_min=0.5, stationary_tol=1e-2)
        >>> r = point_reading({"grad_ratio": 1e-3, "decrease_min": 1e-4, "decrease_random": [0.0, 1e-6]},
        ...                   [-0.01, 0.0, 0.0, 1.0], q)
        >>> r["stationary"], r["degenerate"], r["saddle"], r["all"], r["flat"]
        (True, True, True, True, False)
    """
    s = summary(eigs, p)
    rand = np.asarray(torch.as_tensor(check["decrease_random"], dtype=torch.float64))
    med = float(np.median(rand)) if rand.size else math.nan
    ratio, dmin = float(check["grad_ratio"]), float(check["decrease_min"])
    finite = all(math.isfinite(x) for x in (ratio, dmin, med, s["lambda_min"], s["lambda_max"]))
    a = ratio <= p.stationary_tol
    b = s["zero"] >= p.zero_fraction_min
    c = s["lambda_min"] < -p.neg_tol * s["lambda_max"] and dmin > med
    return {"grad_ratio": ratio, "zero": s["zero"], "lambda_min": s["lambda_min"], "lambda_max": s["lambda_max"],
            "neg_ratio": s["neg_ratio"], "decrease_min": dmin, "decrease_random": med,
            "stationary": bool(a), "degenerate": bool(b), "saddle": bool(c), "all": bool(a and b and c),
            "flat": bool(a and b and not c), "finite": bool(finite)}


def end_readings(results: Results, p: Params) -> dict[tuple[str, int], dict[str, Any]]:
    """(optimizer, seed) -> :func:`point_reading` of the end point."""
    return {k: point_reading(results.checks[k], r["eigenvalues"], p) for k, r in results.runs.items()}


def init_readings(results: Results, p: Params) -> dict[int, dict[str, Any]]:
    """seed -> :func:`point_reading` at initialization (the baseline)."""
    return {s: point_reading(c, results.inits[s], p) for s, c in results.init_checks.items()}


def null_reading(results: Results, p: Params) -> dict[str, Any]:
    """:func:`point_reading` of claim 5.1(c)'s null (:func:`~.experiments.quadratic_null` built on the
    first run's end spectrum)."""
    from .experiments import quadratic_null, search_setting

    k = next(iter(results.runs))
    q = quadratic_null(results.runs[k]["eigenvalues"], search_setting(p), seed=k[1])
    return point_reading(q, q["eigenvalues"], p)


def shares(readings: dict) -> dict[str, float]:
    """Over the finite readings: the fractions that are (a), (b), (c), all three (``all``: degenerate
    saddles by v2's rule) and flat minima (``flat``); ``n`` the points counted."""
    ok = [r for r in readings.values() if r["finite"]]
    mean = lambda key: float(np.mean([r[key] for r in ok])) if ok else math.nan
    return {**{key: mean(key) for key in ("stationary", "degenerate", "saddle", "all", "flat")}, "n": len(ok)}


def v2_values(results: Results, p: Params) -> dict[str, Any]:
    """The ``saddles-*`` values of the v2 readings: 5.1's shares at the end points, at initialization and
    on the null (``saddles-end-*``, ``saddles-init-*``, ``saddles-null-*``), the medians of its measures,
    and 5.3's uncapped escape (``saddles-v2-*``); v1's capped escape steps (``saddles-v1-capped``)."""
    ends, inits = end_readings(results, p), init_readings(results, p)
    null = null_reading(results, p)
    checks = list(results.checks.values())
    gains = np.array([c["gain"] for c in checks], dtype=float)
    gains = gains[np.isfinite(gains)]
    med = lambda rs, key: float(np.median([r[key] for r in rs.values()]))
    pgd = [int(r.get("perturbations", 0)) for (o, _), r in results.runs.items() if o == "pgd"]
    out: dict[str, Any] = {}
    for where, rs in (("end", ends), ("init", inits)):
        out.update({f"saddles-{where}-{k}": v for k, v in shares(rs).items() if k != "n"})
    out.update({
        "saddles-null-all": float(null["all"]), "saddles-null-zero": float(null["zero"]),
        "saddles-null-lmin": float(null["lambda_min"]),
        "saddles-grad-ratio-median": med(ends, "grad_ratio"), "saddles-grad-ratio-max": float(max(r["grad_ratio"] for r in ends.values())),
        "saddles-negratio-median": med(ends, "neg_ratio"),
        "saddles-decrease-min-median": med(ends, "decrease_min"), "saddles-decrease-random-median": med(ends, "decrease_random"),
        "saddles-drop-ratio": med(ends, "decrease_min") / med(ends, "decrease_random") if med(ends, "decrease_random") > 0 else math.inf,
        "saddles-init-decrease-min-median": med(inits, "decrease_min"),
        "saddles-init-decrease-random-median": med(inits, "decrease_random"),
        "saddles-v2-gain-median": float(np.median(gains)) if gains.size else math.nan,
        "saddles-v2-gain-max": float(gains.max()) if gains.size else math.nan,
        "saddles-v2-alpha-median": float(np.median([abs(c["alpha_min"]) for c in checks])),
        "saddles-v2-alpha-max": float(max(abs(c["alpha_min"]) for c in checks)),
        "saddles-v2-capped": int(sum(bool(c["capped_min"]) for c in checks)),
        "saddles-v2-total-decrease-median": float(np.median([c["loss_init"] - c["loss_star"] for c in checks])),
        # the largest gain 5.3's v2 measure could show: the whole end loss over the decrease
        "saddles-v2-gain-bound": float(max(c["loss_star"] / (c["loss_init"] - c["loss_star"]) for c in checks)),
        "saddles-v1-capped": int(sum(abs(e["alpha"]) >= p.line_radius for e in results.escapes.values())),
        "saddles-runs": len(results.runs),
        "saddles-pgd-perturbations-min": min(pgd) if pgd else 0,
    })
    return out


def slq_compare(results: Results, p: Params) -> dict[str, float]:
    """SLQ / Lanczos (``results.check``) against the exact spectrum of the same run (the first optimizer's
    first seed): Wasserstein-1 (divided by the exact spectrum's width), the near-zero and negative fractions
    each way, and the extreme eigenvalues."""
    check = results.check
    exact = results.runs[(p.optimizers[0], p.seeds[0])]["eigenvalues"]
    ex = np.asarray(torch.as_tensor(exact, dtype=torch.float64))
    width = ex.max() - ex.min()
    lmax = float(check["largest"][0])
    est = spectra.weighted_fractions(check["nodes"], check["weights"], p.zero_tol * lmax)
    neg = spectra.weighted_fractions(check["nodes"], check["weights"], p.neg_tol * lmax)
    tr = summary(ex, p)
    return {"w1": spectra.spectrum_distance((check["nodes"], check["weights"]), ex) / width,
            "zero_slq": est["zero"], "zero_exact": tr["zero"],
            "negative_slq": neg["negative"], "negative_exact": spectra.fractions(ex, p.neg_tol).negative,
            "lambda_min_lanczos": float(check["smallest"][0]), "lambda_min_exact": float(ex.min()),
            "lambda_max_lanczos": lmax, "lambda_max_exact": float(ex.max()),
            "n_below_lanczos": int((check["smallest"] < -p.neg_tol * lmax).sum()),
            "hvps": int(check["slq_hvps"] + check["smallest_hvps"] + check["largest_hvps"])}


def big_summary(results: Results, p: Params) -> dict[str, float]:
    """The section-1 questions answered from SLQ (fractions) and Lanczos (ends) for the large network."""
    res = results.big["final"]
    lmax = float(res["largest"][0])
    z = spectra.weighted_fractions(res["nodes"], res["weights"], p.zero_tol * lmax)
    lmin = float(res["smallest"][0])
    return {"lambda_max": lmax, "lambda_min": lmin, "neg_ratio": abs(min(lmin, 0.0)) / lmax, "zero": z["zero"],
            "n_below": int((res["smallest"] < -p.neg_tol * lmax).sum()),
            "converged": bool(res["smallest_converged"] and res["largest_converged"]),
            "residual_min": float(res["smallest_residuals"][0]),
            "hvps": int(res["slq_hvps"] + res["smallest_hvps"] + res["largest_hvps"])}


def summary_values(results: Results, p: Params) -> dict[str, Any]:
    """Every ``saddles-*`` value the page glues (its prose cites them), by glue name."""
    sums = final_summaries(results, p)
    runs, semi, escapes = results.runs, results.semicircle, results.escapes
    s0 = p.seeds[0]
    init = summary(results.inits[s0], p)
    final_s0 = [trajectory(results, o, s0, p) for o in p.optimizers]
    gains = np.array([e["gain"] for e in escapes.values()])
    slq = slq_compare(results, p)
    big = big_summary(results, p)
    gap = pgd_gap(results, p)[0]
    return {
        # 1. the spectrum at convergence
        "saddles-n-params": results.n_params,
        "saddles-zero-mean": float(np.mean([s["zero"] for s in sums.values()])),
        "saddles-zero-min": float(np.min([s["zero"] for s in sums.values()])),
        "saddles-nbelow-min": int(np.min([s["n_below"] for s in sums.values()])),
        "saddles-negratio-max": float(np.max([s["neg_ratio"] for s in sums.values()])),
        "saddles-loss-max": float(max(History.from_dict(r["history"]).last["train_eval_loss"] for r in runs.values())),
        "saddles-blank-pixels": int(results.blank_pixels),
        "saddles-structural-zero": float(np.mean([spectra.fractions(r["eigenvalues"], 1e-12).zero for r in runs.values()])),
        # 2. how it gets there (first seed)
        "saddles-zero-init": float(init["zero"]),
        "saddles-zero-final-s0": float(np.mean([t["zero"][-1] for t in final_s0])),
        "saddles-nbelow-init": int(init["n_below"]),
        "saddles-nbelow-final-s0": float(np.mean([t["n_below"][-1] for t in final_s0])),
        "saddles-negratio-init": float(init["neg_ratio"]),
        # 3. leaving the saddle
        "saddles-escape-gain-median": float(np.median(gains)),
        "saddles-escape-gain-max": float(gains.max()),
        "saddles-escape-jump-median": float(np.median([e["jump_gain"] for e in escapes.values()])),
        "saddles-progress-median": float(np.median([(e["loss_star"] - e["loss_control"]) / e["loss_star"] for e in escapes.values()])),
        # 4. the semicircle
        "saddles-ks-goe-median": float(np.median([f.ks for f in semi.goe.values()])),
        "saddles-ks-final-median": float(np.median([f.ks for f in semi.final.values()])),
        "saddles-ks-init-median": float(np.median([f.ks for f in semi.init.values()])),
        "saddles-ks-ratio-median": float(np.median(list(semi.ratio_final.values()))),
        # 5. beyond exact size
        "saddles-slq-w1": float(slq["w1"]),
        "saddles-slq-zero": float(slq["zero_slq"]),
        "saddles-exact-zero": float(slq["zero_exact"]),
        "saddles-big-n-params": int(results.big["n_params"]),
        "saddles-big-zero": float(big["zero"]),
        "saddles-big-nbelow": int(big["n_below"]),
        "saddles-big-negratio": float(big["neg_ratio"]),
        "saddles-big-residual": float(big["residual_min"]),
        "saddles-big-lmin-error": float(big["residual_min"] * abs(big["lambda_min"])),
        # v2: saddle or flat minimum (5.1), the uncapped escape (5.3)
        **v2_values(results, p),
        # the claims' measures (claims 5.1, 5.2; the gap reads 0 where 5.2 has no measure)
        "saddles-runs-saddle": float(np.mean(saddle_runs(results, p))),
        "saddles-pgd-gap": gap if math.isfinite(gap) else 0.0,
    }
