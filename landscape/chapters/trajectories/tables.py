r"""The trajectories chapter's v2 tables: per kind of noise the paired comparisons of claims
3.1 and 3.2 (:func:`kind_table`), per protocol and depth those of claim 3.3
(:func:`depth_table`), the claims per data set (:func:`setting_table`) and each rule on its
null (:func:`null_table`). Every paired difference is over seeds that share start and data,
:math:`d_i = a_i - b_i`, shown with its interval :math:`\bar d \pm 2\,\mathrm{SE}`,
:math:`\mathrm{SE} = s_d / \sqrt n`."""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ...experiment.claims import Claim, all_of
from ...experiment.params import Params
from .claims import claims_by_setting, rank_parts, success_parts
from .experiments import KINDS, PROTOCOLS, Results, paired_rank_differences, success_by_kind, summary

__all__ = ["kind_table", "depth_table", "setting_table", "null_table", "v2_numbers"]


def kind_table(section: Mapping[str, dict], p: Params) -> pd.DataFrame:
    """One row per kind of noise of ``section`` (kind -> runs): the paired rise of the effective
    rank (noise - none, mean over the matched iterations) with its interval and claim 3.1's
    verdict for that kind, whether the noise changed the loss path (the manipulation check), and
    the fraction within the gap with the paired success difference and claim 3.2's per-kind verdict."""
    rise, succ = paired_rank_differences(section, p.gap_tol), success_by_kind(section, p.gap_tol)
    v31, v32 = rank_parts(section, p), success_parts(section, p)
    rows = []
    for k in (k for k in KINDS if k in section):
        d, s = rise[k], succ[k]
        rows.append({"noise": k, "rank rise (paired)": d.diff, "lower": d.lower, "upper": d.upper, "MDE": d.mde,
                     "loss path changed": "yes" if v31[k].manipulation.passed else "no", "3.1": v31[k].verdict,
                     "within gap": float(summary(section[k], p.gap_tol)["success"].mean()),
                     "success diff (paired)": s.diff, "success MDE": s.mde, "3.2 (per kind)": v32[k].verdict})
    df = pd.DataFrame(rows)
    df.attrs["formats"] = {c: "{:+.3g}" for c in ("rank rise (paired)", "lower", "upper", "success diff (paired)")}
    df.attrs["formats"].update({"MDE": "{:.3g}", "success MDE": "{:.3f}", "within gap": "{:.2f}"})
    return df


def depth_table(results: Results, p: Params) -> pd.DataFrame:
    """One row per protocol of claim 3.3 and depth: the initial product's Frobenius norm (median
    over seeds), the noiseless fraction within the gap, the weakest kind's lower end of the
    paired rank rise, and claim 3.1's rule at that depth (every kind)."""
    rows = []
    for name in PROTOCOLS:
        for d, runs in results.protocol(name).items():
            parts = list(rank_parts(runs, p, id="3.3").values())
            c = all_of("3.3", f"H = {d}", parts)
            weakest = min(parts, key=lambda x: x.value if np.isfinite(x.value) else -np.inf)
            rows.append({"protocol": name, "H": d, "initial product norm": float(np.median(runs["none"]["start_norm"])),
                         "no noise: within gap": float(summary(runs["none"], p.gap_tol)["success"].mean()),
                         "weakest kind": weakest.statement.split(":")[0], "its lower end": weakest.value,
                         "verdict (every kind)": c.verdict})
    df = pd.DataFrame(rows)
    df.attrs["formats"] = {"initial product norm": "{:.3g}", "no noise: within gap": "{:.2f}", "its lower end": "{:+.4f}"}
    return df


def setting_table(results: Results, p: Params) -> pd.DataFrame:
    """Claims 3.1 and 3.2 (v2) per data set (:func:`~.claims.claims_by_setting`): verdict, the
    measured value (3.1: the weakest kind's lower end; 3.2: the pooled paired difference), MDE and
    the per-kind verdicts."""
    rows = []
    for setting, cs in claims_by_setting(results, p).items():
        for c in cs:
            rows.append({"data": setting, "claim": c.id, "verdict": c.verdict, "measured": c.value, "rule": c.rule,
                         "MDE": c.mde if c.mde is not None else np.nan,
                         "per kind": ", ".join(f"{k} {v}" for k, v in c.extra.get("kinds", {}).items())})
    df = pd.DataFrame(rows)
    df.attrs["formats"] = {"measured": "{:+.4f}", "MDE": "{:.4f}"}
    return df


def null_table(nulls: Sequence[Claim]) -> pd.DataFrame:
    """Each v2 rule on its null (:func:`~.claims.null_claims`): the measured value, the rule and
    the verdict - which must not be ``reproduced``."""
    df = pd.DataFrame([{"claim": c.id, "null": c.statement, "measured": c.value, "rule": c.rule, "verdict": c.verdict,
                        "the rule can fail": "yes" if c.verdict != "reproduced" else "NO"} for c in nulls])
    df.attrs["formats"] = {"measured": "{:+.4g}"}
    return df


def v2_numbers(results: Results, p: Params) -> dict[str, float]:
    """The v2 values the chapter's prose cites (glued as ``traj-v2-<name>``): per kind of noise on
    the claims' start, the paired rank rise and the ends of its interval (``rise-<kind>``,
    ``-lower``, ``-upper``) and the fraction within the gap (``success-<kind>``); the same rise on
    the real data (``real-rise-<kind>``); and per protocol of claim 3.3 and depth the noiseless
    fraction within the gap (``success-<protocol n>-h<depth>``, and at the shallowest and deepest depth
    ``-shallowest``, ``-deepest``)."""
    sec, gt = results.sections[results.claim_init], p.gap_tol
    out: dict[str, float] = {"traj-v2-success-none": float(summary(sec["none"], gt)["success"].mean())}
    for k, d in paired_rank_differences(sec, gt).items():
        out.update({f"traj-v2-rise-{k}": d.diff, f"traj-v2-rise-{k}-lower": d.lower, f"traj-v2-rise-{k}-upper": d.upper,
                    f"traj-v2-success-{k}": float(summary(sec[k], gt)["success"].mean())})
    for k, d in paired_rank_differences(results.real[results.real_init], gt).items():
        out[f"traj-v2-real-rise-{k}"] = d.diff
    for i, name in enumerate(PROTOCOLS):
        runs = results.protocol(name)
        for d in runs:
            out[f"traj-v2-success-{i}-h{d}"] = float(summary(runs[d]["none"], gt)["success"].mean())
        out[f"traj-v2-success-{i}-shallowest"] = out[f"traj-v2-success-{i}-h{min(runs)}"]
        out[f"traj-v2-success-{i}-deepest"] = out[f"traj-v2-success-{i}-h{max(runs)}"]
    return {k: float(v) for k, v in out.items()}
