"""The ADINE chapter's tables (``book/adine.ipynb``) as DataFrames, their number formats in
``df.attrs["formats"]`` (shown with ``page.table``): the saddle escape per momentum at its best
learning rate and at v1's fixed one, the quadratic, the tuned learning rates, claim 4.3's
iterations and pairs under each protocol, claim 4.4's plateau readings and accuracies, the
nulls, and ADINE's use of m_g."""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
import pandas as pd

from ...experiment.claims import Claim
from ...experiment.params import Params
from .claims import accuracy_part, speed_pairs
from .experiments import COMPARED, LABELS, METHODS, Results

__all__ = ["SHORT", "escape_table", "escape_best_table", "quad_table", "lr_table", "speed_table", "speed_pairs_table",
           "grid_speed_table", "plateau_table", "accuracy_table", "fraction_table", "null_table", "glue_values"]

SHORT = {"sgd": "SGD", "momentum": "momentum", "nesterov": "Nesterov", "adam": "Adam", "adine": "ADINE"}  # table headers
PROTOCOLS = {"tuned": "tuned lrs", "equal": "equal lr", "null": "null"}


def _frame(rows: list[dict], formats: dict[str, str] | None = None, columns: Sequence[str] | None = None) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=list(columns) if columns is not None else None)
    df.attrs["formats"] = dict(formats or {})
    return df


def _its(v: float, censored: bool) -> str:
    return f"> {v - 1:.0f}" if censored else f"{v:.0f}"


def escape_table(results: Results, p: Params, *, fixed: bool = False) -> pd.DataFrame:
    """Median escape iterations over the starting points, per constant momentum (rows, then
    ADINE at ``saddle_lr``) and saddle (columns): at each m's best learning rate (in
    brackets), or with ``fixed=True`` at v1's fixed one; ``> N``: most runs had not escaped
    in ``N``."""
    summary = results.escape
    rows = []
    for i, m in enumerate(p.saddle_momenta):
        row = {"m": f"{m:g}"}
        for s, r in summary.items():
            src = r["fixed"] if fixed else r
            row[s] = _its(src["median"][i], src["censored"][i]) + ("" if fixed else f" ({r['lr'][i]:g})")
        rows.append(row)
    rows.append({"m": f"ADINE ({p.saddle_lr:g})", **{s: _its(r["adine_median"], r["adine_censored"]) for s, r in summary.items()}})
    return _frame(rows)


def escape_best_table(results: Results) -> pd.DataFrame:
    """Per saddle: the best constant momentum below 1 and at least 1, each at its best
    learning rate, their median escape iterations and the ratio of claim 4.1; the same
    ratio at v1's fixed learning rate (the variant), and the null's ratio (the best m < 1
    from other starting points over the best m < 1)."""
    side = lambda t: f"m={t[0]:g}, lr {t[1]:g}: {_its(t[2], t[3])}"
    rows = [{"saddle": s, "best m < 1": side(r["best_below"]), "best m >= 1": side(r["best_above"]), "ratio": r["ratio"],
             "ratio at fixed lr": r["fixed"]["ratio"], "null ratio": r["null_ratio"]}
            for s, r in results.escape.items()]
    return _frame(rows, {"ratio": "{:.3g}", "ratio at fixed lr": "{:.3g}", "null ratio": "{:.3g}"})


def quad_table(results: Results, p: Params) -> pd.DataFrame:
    """Per constant momentum on the quadratic: the largest spectral radius over the
    curvatures, the measured growth factor per step and the final log10 norm ratio."""
    q = results.quad
    rows = [{"m": m, "rho (theory)": rho, "measured rate": rate, "log10 |x_T|/|x_0|": g}
            for m, rho, rate, g in zip(p.quad_momenta, q["rho"], q["rate"], q["log10_norm"][:, -1])]
    return _frame(rows, {"m": "{:g}", "rho (theory)": "{:.6f}", "measured rate": "{:.6f}", "log10 |x_T|/|x_0|": "{:.2f}"})


def lr_table(results: Results) -> pd.DataFrame:
    """Per setting: each method's learning rate tuned on the validation split (with its
    validation accuracy, %), and the equal learning rate of claim 4.3's variant; a setting
    whose data set is missing is listed with the reason it was skipped."""
    rows = []
    for s, r in results.training.items():
        t = r["tuning"]
        acc = {m: dict((lr, a) for lr, a, _ in t["grid"][m])[t["lr"][m]] for m in METHODS}
        rows.append({"setting": s, **{SHORT[m]: f"{t['lr'][m]:g} ({100 * acc[m]:.1f})" for m in METHODS}, "equal lr": r["equal_lr"]})
    if results.skipped:
        rows = [{**row, "skipped": ""} for row in rows] + [{"setting": s, "skipped": why} for s, why in results.skipped.items()]
    return _frame(rows, {"equal lr": "{:g}"})


def speed_table(results: Results) -> pd.DataFrame:
    """Claim 4.3's measure per setting and protocol (tuned learning rates, the equal-lr
    variant, the null with SGD + momentum's other seeds in ADINE's place): the target (the
    loss the slowest method reaches), the slowest method, and each method's mean iterations
    to it over seeds (``*``: some seed never reached it and counts as its iterations + 1)."""
    rows = []
    for s in results.speed:
        for key, sp in (("tuned", results.speed), ("equal", results.speed_equal), ("null", results.speed_null)):
            r = sp[s]
            arm = "momentum, other seeds" if key == "null" else "ADINE"
            cell = lambda m: f"{r['steps'][m].mean():.0f}{'*' if r['censored'][m].any() else ''}"
            slow = r["slowest"]
            rows.append({"setting": s, "protocol": PROTOCOLS[key], "target": r["target"],
                         "slowest": (arm if slow == "adine" else SHORT[slow]) if slow else "-",
                         "ADINE's place": f"{cell('adine')} ({arm})", "momentum": cell("momentum"), "Nesterov": cell("nesterov")})
    return _frame(rows, {"target": "{:.4f}"})


def speed_pairs_table(results: Results, p: Params) -> pd.DataFrame:
    """Claim 4.3 pair by pair under each protocol: the ratio of mean iterations, the paired
    difference with its noise, the MDE, the pair's verdict, and the seeds that never reached
    the target on each side."""
    rows = []
    for key, sp, kw in (("tuned", results.speed, {}), ("equal", results.speed_equal, {}),
                        ("null", results.speed_null, {"baselines": ("momentum",), "arm": "SGD + momentum (other seeds)"})):
        for c in speed_pairs(sp, p.speed_ratio_max, **kw):
            rows.append({"protocol": PROTOCOLS[key], "setting": c.extra["setting"], "baseline": SHORT[c.extra["baseline"]],
                         "ratio": c.value, "difference (paired)": str(c.extra["noise"]), "MDE": c.mde, "verdict": c.verdict,
                         "censored": f"{c.extra['adine_censored']}, {c.extra['baseline_censored']}"})
    return _frame(rows, {"ratio": "{:.3f}", "MDE": "{:.3g}"})


def grid_speed_table(results: Results) -> pd.DataFrame:
    """ADINE, SGD + momentum and Nesterov at each learning rate of their shared grid (the
    tuning runs, one seed: no verdict rests on it): iterations to that learning rate's
    target, ``-`` where a run never reached it; a row where the methods did not train says so."""
    cols = ["setting", "lr", "target", "ADINE", "momentum", "Nesterov", "note"]
    cell = lambda v: "-" if v is None else str(v)
    rows = [{"setting": r["setting"], "lr": r["lr"], "target": r["target"],
             **({"ADINE": "", "momentum": "", "Nesterov": "", "note": "did not train here"} if r["trivial"] else
                {"ADINE": cell(r["adine"]), "momentum": cell(r["momentum"]), "Nesterov": cell(r["nesterov"]), "note": ""})}
            for r in results.grid_speed]
    return _frame(rows, {"lr": "{:g}", "target": "{:.3f}"}, cols)


def plateau_table(results: Results, p: Params) -> pd.DataFrame:
    """Claim 4.4's budget per setting: at each budget run, every method's change of the
    training loss over the last ``plateau_tail`` of the epochs - relative to the loss at the
    window's start (the rule), and relative to the first epoch's loss (the variant) - and
    whether every method has plateaued by each reading."""
    rows = []
    for s, o in results.training.items():
        for b, ch in sorted(o["plateau"].items()):
            rows.append({"setting": s, "epochs": b, **{SHORT[m]: f"{100 * ch[m][0]:.2f} ({100 * ch[m][1]:.2f})" for m in METHODS},
                         "all plateaued": "yes" if all(v[0] < p.plateau_change for v in ch.values()) else "no",
                         "vs first epoch": "yes" if all(v[1] < p.plateau_change for v in ch.values()) else "no"})
    return _frame(rows)


def accuracy_table(results: Results, p: Params, *, first: bool = False) -> pd.DataFrame:
    """Claim 4.4 per setting: the budget it was decided at, every method's test accuracy
    there (%, mean +- sample std over seeds; a diverged run counts as 0), the best baseline,
    the paired difference ADINE - best (points) with its interval and the verdict; with
    ``first=True``, at the variant's budget."""
    acc = results.accuracy_first if first else results.accuracy
    sd = lambda v: v.std(ddof=1) if len(v) > 1 else 0.0
    rows = []
    for s, a in acc.items():
        o = results.training[s]
        budget, last = o["budget_first" if first else "budget"], max(o["by_budget"])
        c = accuracy_part(s, a, budget, last, p)
        d = c.extra["diff"]
        rows.append({"setting": s, "epochs": f"{budget}" if budget is not None else f"no plateau ({last})",
                     **{SHORT[m]: f"{100 * a['acc'][m].mean():.2f}±{100 * sd(a['acc'][m]):.2f}" for m in METHODS},
                     "best": SHORT[a["best"]], "ADINE - best": d.diff, "interval": f"[{d.lower:+.2f}, {d.upper:+.2f}]",
                     "verdict": c.verdict})
    return _frame(rows, {"ADINE - best": "{:+.2f}"})


def fraction_table(results: Results) -> pd.DataFrame:
    """Per setting: the fraction of ADINE's steps at m_g, mean over seeds and per seed."""
    rows = [{"setting": s, "fraction at m_g": float(f.mean()), "per seed": ", ".join(f"{v:.3f}" for v in f)}
            for s, f in results.fractions.items()]
    return _frame(rows, {"fraction at m_g": "{:.3f}"})


def null_table(nulls: list[Claim]) -> pd.DataFrame:
    """Each v2 rule on its null: the measured value, the rule, the verdict and whether the rule
    failed there (it must: the null is not ``reproduced``)."""
    rows = [{"claim": c.id, "null": c.statement, "measured": c.value, "rule": c.rule, "verdict": c.verdict,
             "the rule can fail": "yes" if c.verdict != "reproduced" else "NO"} for c in nulls]
    return _frame(rows, {"measured": "{:.4g}"})


def glue_values(results: Results, claims: list[Claim], nulls: list[Claim]) -> dict[str, float | str]:
    """The numbers and verdicts the page's prose quotes (``{glue:text}``), by name: per saddle
    the escape ratio at the best lrs (``adine-escape-<saddle>-ratio``), at the fixed lr
    (``-fixed``) and the null's (``-null``), the best iterations below and above 1
    (``-below``, ``-above``); the claims' headline values (``adine-escape-ratio``,
    ``adine-speed-ratio``, ``adine-acc-lower``), each claim's variant verdict and each
    null's verdict (:func:`~.claims.claim_glue`); per setting claim 4.4's budget
    (``adine-budget-<setting>``: epochs, or ``none``) and ADINE's gap to the best baseline
    there (``adine-gap-<setting>``, points)."""
    from .claims import claim_glue

    out: dict[str, float | str] = {}
    for name, s in results.escape.items():
        out.update({f"adine-escape-{name}-ratio": s["ratio"], f"adine-escape-{name}-fixed": s["fixed"]["ratio"],
                    f"adine-escape-{name}-null": s["null_ratio"], f"adine-escape-{name}-below": s["best_below"][2],
                    f"adine-escape-{name}-above": s["best_above"][2]})
    by = {c.id: c for c in claims}
    out.update({"adine-escape-ratio": by["4.1"].value, "adine-speed-ratio": by["4.3"].value, "adine-acc-lower": by["4.4"].value})
    for s, o in results.training.items():
        key = s.replace(":", "-")
        out[f"adine-budget-{key}"] = str(o["budget"]) if o["budget"] is not None else "none"
        a = results.accuracy[s]
        out[f"adine-gap-{key}"] = float(100 * (a["acc"]["adine"].mean() - a["acc"][a["best"]].mean()))
    out.update(claim_glue(claims, nulls))
    return out
