"""What the DANTE chapter tabulates (``book/dante.ipynb``): tables as DataFrames
(number formats in ``df.attrs["formats"]``, shown with ``page.table``) and the
short plain-text summaries its deterministic cells print."""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np
import pandas as pd

from ...experiment.params import Params
from .experiments import (METHODS, MethodRuns, Results, autoencoder_mse, final, final_accuracies, sensitivity_accuracy,
                          speed_ratios)

__all__ = ["ACT_LABEL", "DATA_LABEL", "overview", "step_norm_text", "summary_table", "gaps_table", "subproblem_table",
           "largest_excess", "describe_excess", "autoencoder_table", "sensitivity_table", "speed_table"]

ACT_LABEL = {"sigmoid": "sigmoid", "grelu": "generalized ReLU", "relu": "ReLU", "tanh": "tanh"}
DATA_LABEL = {"digits": "digits (8x8)", "mnist10k": "MNIST-10k", "mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}


def overview(results: Results, p: Params, device) -> str:
    """What runs: the data sets skipped (and why), the profile, device and grid."""
    lines = [f"skipped {name}: {why}" for name, why in results.missing.items()]
    lines.append(f"profile {p.profile}, device {device}; data: {', '.join(results.present)}; "
                 f"{len(p.lrs)} learning rates x {len(METHODS)} methods x {len(p.activations)} activations; seeds {list(p.seeds)}")
    return "\n".join(lines)


def step_norm_text(step_norm: Mapping[str, float], tol: float = 1e-12) -> str:
    """One line per activation: does every layer's step have norm eta (relative error < ``tol``)?"""
    return "\n".join(f"{act:8s} every layer's step has norm eta (relative error < {tol:g}): {err < tol}" for act, err in step_norm.items())


def summary_table(by_data: Mapping[str, Mapping[str, Mapping[str, MethodRuns]]], depth_label: str) -> pd.DataFrame:
    """Final test accuracy (mean and std over seeds, in %; a diverged run counts at
    chance level), final training loss (of the runs that did not diverge) and best rate per method."""
    rows = []
    for name, by_act in by_data.items():
        for act, by_m in by_act.items():
            for method, r in by_m.items():
                acc = final_accuracies(r.runs, r.num_classes) * 100
                loss = np.array([final(h, "train_eval_loss") for h in r.runs])
                rows.append({"data": name, "activation": act, "hidden layers": depth_label, "method": method,
                             "best lr": r.best_lr, "test acc % (mean)": float(np.mean(acc)),
                             "(std)": float(np.std(acc, ddof=1)) if len(acc) > 1 else 0.0,
                             "train loss": float(np.nanmean(loss)) if np.isfinite(loss).any() else math.nan,
                             "seeds": len(acc), "diverged": sum(h.diverged for h in r.runs)})
    df = pd.DataFrame(rows)
    df.attrs["formats"] = {"best lr": "{:g}", "test acc % (mean)": "{:.2f}", "(std)": "{:.2f}", "train loss": "{:.4f}"}
    return df


def gaps_table(gaps: Mapping[tuple[str, str], Mapping[str, float]]) -> pd.DataFrame:
    """Per (data set, activation): DANTE's and the best backprop method's mean test accuracy and the gap (points)."""
    df = pd.DataFrame([{"data": name, "activation": act, "DANTE %": g["DANTE"], "best of SGD/Adam %": g["best backprop"],
                        "gap (points)": g["gap"]} for (name, act), g in gaps.items()])
    df.attrs["formats"] = {"DANTE %": "{:.2f}", "best of SGD/Adam %": "{:.2f}", "gap (points)": "{:+.2f}"}
    return df


def subproblem_table(subs: Mapping[str, dict], tol: float = 1e-9) -> pd.DataFrame:
    """Per activation: the loss at the solutions, the largest excess between solutions, how many
    segments exceed ``tol``, and the largest excess near a solution at each radius."""
    rows = []
    for act, r in subs.items():
        row = {"activation": act, "loss at the solutions": float(r["solution_loss"].mean()),
               "largest excess between solutions (nats)": float(r["excess"].max()),
               f"segments above {tol:g}": f"{int((r['excess'] > tol).sum())} of {len(r['excess'])}"}
        row.update({f"near a solution, r={k}": float(v.max()) for k, v in r["local"].items()})
        rows.append(row)
    df = pd.DataFrame(rows)
    df.attrs["formats"] = {c: ("{:.4f}" if c == "loss at the solutions" else "{:.3g}") for c in df.columns
                           if c not in ("activation", f"segments above {tol:g}")}
    return df


def largest_excess(subs: Mapping[str, dict]) -> dict[str, float]:
    """Per activation, the largest excess over the segments between solutions (nats)."""
    return {act: float(r["excess"].max()) for act, r in subs.items()}


def describe_excess(subs: Mapping[str, dict], tol: float = 1e-9) -> str:
    """One sentence: which activations show an excess above ``tol`` between solutions, and near one."""
    flat = [a for a, r in subs.items() if float(r["excess"].max()) <= tol]
    bump = [a for a, r in subs.items() if float(r["excess"].max()) > tol]
    local = [a for a, r in subs.items() if all(float(v.max()) <= tol for v in r["local"].values())]
    name = lambda acts: ", ".join(ACT_LABEL.get(a, a) for a in acts) or "none"
    return (f"Between solutions, no excess above {tol:g}: {name(flat)}; an excess: {name(bump)}. "
            f"Near a solution (every radius), no excess: {name(local)}.")


def autoencoder_table(ae: Mapping[str, MethodRuns]) -> pd.DataFrame:
    """Per method: the chosen rate and the final test reconstruction MSE (mean, sample std over seeds)."""
    mse = autoencoder_mse(ae)
    df = pd.DataFrame([{"method": m, "lr": ae[m].best_lr, "final test MSE": float(np.mean(v)),
                        "(std)": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0, "seeds": len(v)} for m, v in mse.items()])
    df.attrs["formats"] = {"lr": "{:g}", "final test MSE": "{:.5f}", "(std)": "{:.5f}"}
    return df


def sensitivity_table(sens: Mapping[str, Mapping[float, list]]) -> pd.DataFrame:
    """Mean final test accuracy of DANTE: one row per schedule, one column per step size."""
    table = sensitivity_accuracy(sens)
    lrs = list(next(iter(sens.values())))
    df = pd.DataFrame([{"schedule": sched, **{f"step {lr:g}": float(v) for lr, v in zip(lrs, row)}} for sched, row in zip(sens, table)])
    df.attrs["formats"] = {f"step {lr:g}": "{:.4f}" for lr in lrs}
    return df


def speed_table(results: Results, fraction: float) -> pd.DataFrame:
    """Time to ``fraction`` of the best final test accuracy, per configuration (seconds of
    training, median over seeds; backprop is the faster of SGD and Adam), and the ratio."""
    df = pd.DataFrame(speed_ratios(results.by_depth, fraction))
    df.attrs["formats"] = {c: "{:.3f}" for c in ("target acc", *(f"{m} s" for m in METHODS), "backprop s", "ratio")}
    return df
