"""What the DANTE chapter tabulates (``book/dante.ipynb``): tables as DataFrames
(number formats in ``df.attrs["formats"]``, shown with ``page.table``) and the
short plain-text summaries its deterministic cells print."""

from __future__ import annotations

import math
from typing import Mapping

import numpy as np
import pandas as pd

from ...experiment.claims import Claim, decide_non_inferior
from ...experiment.params import Params
from .experiments import (BACKPROP, METHODS, NULL_METHOD, PROTOCOLS, AutoencoderRuns, MethodRuns, Results, accuracy_gaps_v1,
                          autoencoder_mse, final, final_accuracies, paired_gaps, sensitivity_accuracy)

__all__ = ["ACT_LABEL", "DATA_LABEL", "overview", "step_norm_text", "summary_table", "gaps_table", "gaps_table_v1",
           "seed_table", "lr_table", "subproblem_table", "largest_excess", "describe_excess", "autoencoder_table",
           "sensitivity_table", "speed_table", "speed_table_v1", "paper_scale_text"]

ACT_LABEL = {"sigmoid": "sigmoid", "grelu": "generalized ReLU (assumed form)", "relu": "ReLU", "tanh": "tanh"}
DATA_LABEL = {"digits": "digits (8x8)", "mnist10k": "MNIST-10k", "mnist": "MNIST", "fashion-mnist": "Fashion-MNIST"}


def overview(results: Results, p: Params, device) -> str:
    """What runs: the data sets skipped (and why), the profile, device, splits, grids and seeds."""
    lines = [f"skipped {name}: {why}" for name, why in results.missing.items()]
    sizes = ", ".join(f"{n} {results.n_fit[n]} fit / {results.n_val[n]} validation" for n in results.present)
    lines.append(f"profile {p.profile}, device {device}; data: {sizes}")
    lines.append(f"grids: SGD {list(p.lrs_sgd)}, Adam {list(p.lrs_adam)}, DANTE {list(p.lrs_dante)}; v1's grid {list(p.v1_lrs)}; "
                 f"rates chosen on validation from the first {p.select_seeds} seed(s); seeds {list(p.seeds)}")
    return "\n".join(lines)


def step_norm_text(step_norm: Mapping[str, float], tol: float = 1e-12) -> str:
    """One line per activation: does every layer's step have norm eta (relative error < ``tol``)?"""
    return "\n".join(f"{act:8s} every layer's step has norm eta (relative error < {tol:g}): {err < tol}" for act, err in step_norm.items())


def summary_table(by_data: Mapping[str, Mapping[str, Mapping[str, MethodRuns]]], depth_label: str) -> pd.DataFrame:
    """Per configuration and method (the null included) at the headline rate: the rate (and
    whether it is an end of the grid), the final validation and test accuracy (mean over
    seeds, in %; test: also the sample std; a diverged run at chance level), the final
    training loss (runs that did not diverge), seeds and divergences."""
    rows = []
    for name, by_act in by_data.items():
        for act, by_m in by_act.items():
            for method in (*METHODS, NULL_METHOD):
                r = by_m[method]
                runs = r.at("v2")
                acc = r.accuracies("v2") * 100
                loss = np.array([final(x.history, "train_eval_loss") for x in runs])
                rows.append({"data": name, "activation": act, "hidden layers": depth_label, "method": method,
                             "lr": r.best_lr, "grid edge": "yes" if r.at_edge else "",
                             "val acc %": float(np.mean(r.accuracies("v2", key="val"))) * 100,
                             "test acc %": float(np.mean(acc)), "(std)": float(np.std(acc, ddof=1)) if len(acc) > 1 else 0.0,
                             "train loss": float(np.nanmean(loss)) if np.isfinite(loss).any() else math.nan,
                             "seeds": len(acc), "diverged": sum(x.history.diverged for x in runs)})
    df = pd.DataFrame(rows)
    df.attrs["formats"] = {"lr": "{:g}", "val acc %": "{:.2f}", "test acc %": "{:.2f}", "(std)": "{:.2f}", "train loss": "{:.4f}"}
    return df


def gaps_table(by_data: Mapping[str, Mapping[str, Mapping[str, MethodRuns]]], margin: float) -> pd.DataFrame:
    """Claims 2.1/2.2 case by case (v2): the backprop method chosen on validation, the mean test
    accuracies, the paired difference DANTE - backprop (points) with its SE, interval and MDE,
    the case's verdict by the interval rule; the variant's (v1's grid) interval and verdict;
    the null's (output layer only) lower end and verdict."""
    v2, var, null = paired_gaps(by_data), paired_gaps(by_data, "v1 grid"), paired_gaps(by_data, method=NULL_METHOD)
    verdict = lambda g: decide_non_inferior("", "", g["diff"], margin).verdict
    rows = []
    for key, g in v2.items():
        d, dv, dn = g["diff"], var[key]["diff"], null[key]["diff"]
        rows.append({"data": key[0], "activation": key[1], "vs": g["best"], "DANTE %": g["DANTE"], "backprop %": g["backprop"],
                     "DANTE - backprop": d.diff, "SE": d.stderr, "low": d.lower, "high": d.upper, "MDE": d.mde,
                     "verdict": verdict(g), "v1 grid: low": dv.lower, "v1 grid": verdict(var[key]),
                     "null: low": dn.lower, "null": verdict(null[key])})
    df = pd.DataFrame(rows)
    df.attrs["formats"] = {c: "{:.2f}" for c in ("DANTE %", "backprop %")} | {
        c: "{:+.2f}" for c in ("DANTE - backprop", "low", "high", "v1 grid: low", "null: low")} | {"SE": "{:.2f}", "MDE": "{:.2f}"}
    return df


def gaps_table_v1(by_data: Mapping[str, Mapping[str, Mapping[str, MethodRuns]]], seeds: int) -> pd.DataFrame:
    """v1's gaps per (data set, activation): DANTE's and the better backprop method's mean test
    accuracy over the first ``seeds`` seeds at the ``"v1"`` rates, and the gap (points)."""
    gaps = accuracy_gaps_v1(by_data, seeds)
    df = pd.DataFrame([{"data": name, "activation": act, "DANTE %": g["DANTE"], "best of SGD/Adam %": g["best backprop"],
                        "gap (points)": g["gap"]} for (name, act), g in gaps.items()])
    df.attrs["formats"] = {"DANTE %": "{:.2f}", "best of SGD/Adam %": "{:.2f}", "gap (points)": "{:+.2f}"}
    return df


def seed_table(by_data: Mapping[str, Mapping[str, Mapping[str, MethodRuns]]]) -> pd.DataFrame:
    """Final test accuracy (%) per seed at the headline rates: SGD, Adam, DANTE, the null, and
    the paired difference DANTE - the backprop method chosen on validation."""
    gaps = paired_gaps(by_data)
    rows = []
    for name, by_act in by_data.items():
        for act, by_m in by_act.items():
            acc = {m: by_m[m].accuracies("v2") * 100 for m in (*METHODS, NULL_METHOD)}
            best = gaps[(name, act)]["best"]
            for i in range(min(len(a) for a in acc.values())):
                rows.append({"data": name, "activation": act, "seed": i, **{m: float(acc[m][i]) for m in acc},
                             f"DANTE - backprop": float(acc["DANTE"][i] - acc[best][i])})
    df = pd.DataFrame(rows)
    df.attrs["formats"] = {c: "{:.2f}" for c in (*METHODS, NULL_METHOD)} | {"DANTE - backprop": "{:+.2f}"}
    return df


def lr_table(by_depth: Mapping[str, Mapping]) -> pd.DataFrame:
    """The rate each protocol chose, per configuration and method; a headline rate at an end of
    its grid is marked (a wider grid might have done better)."""
    rows = []
    for depth, by_data in by_depth.items():
        for name, by_act in by_data.items():
            for act, by_m in by_act.items():
                row = {"hidden layers": depth, "data": name, "activation": act}
                for m in METHODS:
                    r = by_m[m]
                    row[m] = f"{r.chosen['v2']:g}" + (" (edge)" if r.at_edge else "")
                    row[f"{m} v1 grid"] = f"{r.chosen['v1 grid']:g}"
                    row[f"{m} v1"] = f"{r.chosen['v1']:g}"
                rows.append(row)
    return pd.DataFrame(rows)


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


def autoencoder_table(ae: Mapping[str, AutoencoderRuns]) -> pd.DataFrame:
    """Per method: the chosen rate and the final test reconstruction MSE (mean, sample std over seeds)."""
    mse = autoencoder_mse(ae)
    df = pd.DataFrame([{"method": m, "lr": ae[m].best_lr, "final test MSE": float(np.mean(v)),
                        "(std)": float(np.std(v, ddof=1)) if len(v) > 1 else 0.0, "seeds": len(v)} for m, v in mse.items()])
    df.attrs["formats"] = {"lr": "{:g}", "final test MSE": "{:.5f}", "(std)": "{:.5f}"}
    return df


def sensitivity_table(sens: Mapping[str, Mapping[float, list]]) -> pd.DataFrame:
    """Mean final validation accuracy of DANTE: one row per schedule, one column per step size."""
    table = sensitivity_accuracy(sens)
    lrs = list(next(iter(sens.values())))
    df = pd.DataFrame([{"schedule": sched, **{f"step {lr:g}": float(v) for lr, v in zip(lrs, row)}} for sched, row in zip(sens, table)])
    df.attrs["formats"] = {f"step {lr:g}": "{:.4f}" for lr in lrs}
    return df


def speed_table(rows: list[dict]) -> pd.DataFrame:
    """Claim 2.3 per configuration (:func:`~.experiments.speed_rows`): the target, each method's
    time to it (training seconds, median of the repeats), backprop's (the faster), the ratio
    (with its upper end where a target was not reached), its range over the repeats, the same
    ratio on the CPU clock (a check of the machine's load), the cost
    per mini-batch (ms) and the per-epoch cost ratio DANTE / SGD, the shortest timed run."""
    out = []
    for r in rows:
        rep = [x for x in r["ratio per repeat"] if math.isfinite(x)]
        out.append({"hidden layers": r["hidden layers"], "data": r["data"], "activation": r["activation"],
                    "target acc": r["target acc"], **{f"{m} s": r[f"{m} s"] for m in METHODS}, "backprop": r["backprop"],
                    "ratio": r["ratio low"], "ratio at most": r["ratio high"],
                    "repeats": f"{min(rep):.2f}-{max(rep):.2f}" if rep else "",
                    "CPU-clock ratio": r.get("cpu ratio", math.nan),
                    **{f"{m} ms/batch": r[f"{m} per batch ms"] for m in METHODS}, "cost ratio": r["cost ratio"],
                    "shortest run s": r["shortest run s"], "not reached by": r["not reached by"]})
    df = pd.DataFrame(out)
    df.attrs["formats"] = {c: "{:.3f}" for c in ("target acc", *(f"{m} s" for m in METHODS))} | {
        "ratio": "{:.2f}", "ratio at most": "{:.3g}", "CPU-clock ratio": "{:.2f}", "cost ratio": "{:.2f}", "shortest run s": "{:.2f}",
        **{f"{m} ms/batch": "{:.3f}" for m in METHODS}}
    return df


def speed_table_v1(rows: list[dict]) -> pd.DataFrame:
    """v1's claim 2.3 per configuration (:func:`~.experiments.speed_ratios_v1`): per-epoch times
    to the target (median over seeds), backprop the faster of SGD and Adam, the ratio."""
    df = pd.DataFrame(rows)
    df.attrs["formats"] = {c: "{:.3f}" for c in ("target acc", *(f"{m} s" for m in METHODS), "backprop s", "ratio")}
    return df


def _four_digits(v) -> str:
    """A recorded number in four significant digits; a string (``"inf"``) as it is."""
    return f"{v:.4g}" if isinstance(v, (int, float)) else str(v)


def paper_scale_text(record: dict | None) -> str:
    """A gpu-profile record (:mod:`.record`) as text: provenance, the setting, and every claim
    decided in that run (both data sets, then each alone); or that there is none."""
    if record is None:
        return ("No gpu-profile run is recorded (results/dante-gpu.json); "
                "`python -m landscape run --profile gpu dante` records one.")
    q = record["params"]
    sets = ", ".join(f"{DATA_LABEL.get(d, d)} ({n} fit / {record['n_val'][d]} validation images)" for d, n in record["n_fit"].items())
    lines = [f"Run: {record['profile']} profile, {record['date']}, {record['device']}, library commit {record['commit']}, "
             f"torch {record['torch']}, {record['seconds'] / 60:.1f} min; rules {record.get('rules', 'v1')}.",
             f"MLPs of {q['width']} and {'-'.join(map(str, q['deep_widths']))} hidden units ({', '.join(q['activations'])}) on "
             f"{sets}; {q['epochs']} epochs, mini-batches of {q['batch_size']}, {len(q['seeds'])} seeds; "
             f"autoencoder 784-{'-'.join(map(str, q['ae_widths']))} on {DATA_LABEL.get(q['ae_dataset'], q['ae_dataset'])}.",
             "", "Claims decided in that run:"]
    for c in record["claims"]:
        value = "nan" if c.get("value") is None else f"{c['value']:+.4g}"
        lines.append(f"  {c['id']}  {c['verdict']:<15} [{c.get('setting', '')}] measured {value} ({c['rule']})"
                     + (f"; MDE {c['mde']:.3g}" if c.get("mde") is not None else "")
                     + (f"; null {_four_digits(c['null'])}" if c.get("null") is not None else "")
                     + (f"; v1's grid: {c['variant']}" if c.get("variant") else ""))
    if record.get("autoencoder"):
        lines.append("Autoencoder, final test MSE: " + ", ".join(f"{m} {v:.5f}" for m, v in record["autoencoder"].items()))
    return "\n".join(lines)
