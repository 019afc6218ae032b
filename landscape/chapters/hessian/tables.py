"""The hessian chapter's tables (``book/hessian.ipynb``), as DataFrames for
:func:`landscape.publishing.page.table` (number formats in ``df.attrs["formats"]``),
and the few glued numbers and lines of text the page prints."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import torch

from ...experiment.params import Params
from ...spectra import authors_distance, scaled_wasserstein
from ...training.data import DataSpec
from .claims import accuracy_gain
from .experiments import MODEL_LABELS, Results, column, depths, ggn_gap, runner_up_gap
from .schema import ARMS

__all__ = ["PAPER", "spectra_table", "measure_check", "distance_table", "closest_table", "outlier_counts",
           "ggn_gap_table", "spearman_df", "middle_line", "arm_table", "per_seed_table", "cost_table", "penalty_cost",
           "regularizer_numbers", "paper_table", "paper_section", "paper_scale_text"]

#: the authors' numbers (code comments): LeNet on MNIST, 30 epochs, lr 1e-2, batch 256,
#: milestones 10 and 20; test top-1 in %, mean and std over 3 reruns
PAPER = {"sgd": (98.75, 0.03), "sgd+trace+l2": (98.847, 0.019)}


def _ms(v: np.ndarray) -> tuple[float, float]:
    return float(np.mean(v)), float(np.std(v, ddof=1)) if len(v) > 1 else 0.0


def _frame(rows: list[dict], formats: dict[str, str]) -> pd.DataFrame:
    df = pd.DataFrame(rows)
    df.attrs["formats"] = formats
    return df


def spectra_table(results: Results, p: Params) -> pd.DataFrame:
    """Per model of the spectra runs: size, layers, how its spectra were computed and
    at which epochs, and the final test accuracy, lambda_max and trace."""
    rows = []
    for m, run in results.runs.items():
        last = run["snapshots"][-1]["full"]
        rows.append({"model": MODEL_LABELS[m], "parameters": int(run["dim"]), "layers": ", ".join(run["layers"]),
                     "spectra": "exact (dense + eigh)" if run["exact"] else f"SLQ ({p.slq_probes} probes x {p.slq_steps} steps)",
                     "epochs": ", ".join(map(str, run["epochs"])),
                     "test accuracy (%)": 100 * run["history"]["columns"]["test_acc"][-1],
                     "lambda_max": last["lmax"], "trace": last["trace"]})
    return _frame(rows, {"test accuracy (%)": "{:.2f}", "lambda_max": "{:.4g}", "trace": "{:.4g}"})


def measure_check(p: Params) -> pd.DataFrame:
    """Both measures on known spectra: 200 eigenvalues spread on [0, 1] against themselves,
    shifted by 0.3 and squeezed onto [0, 0.1]."""
    base = torch.linspace(0.0, 1.0, 200, dtype=torch.float64) ** 3
    rows = [{"case": name,
             "authors' measure": authors_distance(other, base, eps=p.auth_eps, num_bins=p.auth_bins, sigma_squared=p.auth_sigma2),
             "sound measure": scaled_wasserstein(other, base)}
            for name, other in (("identical", base), ("shifted by 0.3", base + 0.3), ("squeezed x 0.1", 0.1 * base))]
    return _frame(rows, {"authors' measure": "{:.4f}", "sound measure": "{:.4f}"})


def distance_table(results: Results) -> pd.DataFrame:
    """Each layer's distance to the full spectrum, both measures, at the end and summed over training."""
    rows = []
    for m, run in results.runs.items():
        d = depths(run["layers"])
        A, S = results.dists[m]["authors"], results.dists[m]["sound"]
        for i, l in enumerate(run["layers"]):
            rows.append({"model": MODEL_LABELS[m], "layer": l, "depth": float(d[i]), "dim": int(run["snapshots"][-1][l]["dim"]),
                         "authors, end": A[-1, i], "authors, sum": A[:, i].sum(), "sound, end": S[-1, i],
                         "sound, sum": S[:, i].sum()})
    return _frame(rows, {"depth": "{:.2f}", "authors, end": "{:.4g}", "authors, sum": "{:.4g}", "sound, end": "{:.4g}",
                         "sound, sum": "{:.4g}"})


def closest_table(results: Results) -> pd.DataFrame:
    """Per model and measure, the layer closest to the full spectrum (and its depth) at the
    end and summed over training, and how much farther the runner-up is (summed; %)."""
    rows = []
    for m, near in results.near.items():
        for measure in ("authors", "sound"):
            (le, de), (ls, ds) = near[measure]["end"], near[measure]["sum"]
            rows.append({"model": MODEL_LABELS[m], "measure": measure, "closest at the end": le, "depth, end": de,
                         "closest summed over training": ls, "depth, summed": ds,
                         "runner-up farther by (%)": 100 * runner_up_gap(results.dists[m][measure])})
    return _frame(rows, {"depth, end": "{:.2f}", "depth, summed": "{:.2f}", "runner-up farther by (%)": "{:.0f}"})


def outlier_counts(results: Results) -> pd.DataFrame:
    """Outliers above the bulk edge (and the edge) per block at the last epoch, of H and of the GGN."""
    rows = []
    for m, run in results.runs.items():
        for b in [*run["layers"], "full"]:
            hh, gg = results.outliers[m]["hessian"][b], results.outliers[m]["ggn"][b]
            rows.append({"model": MODEL_LABELS[m], "block": b, "H outliers": hh["count"], "H bulk edge": hh["edge"],
                         "GGN outliers": gg["count"], "GGN bulk edge": gg["edge"]})
    return _frame(rows, {"H outliers": "{:.1f}", "H bulk edge": "{:.4g}", "GGN outliers": "{:.1f}", "GGN bulk edge": "{:.4g}"})


def ggn_gap_table(results: Results) -> pd.DataFrame:
    """For the exact runs: the largest |eigenvalue of H_ll - eigenvalue of G_ll| over the layers (:func:`~.experiments.ggn_gap`)."""
    rows = [{"model": MODEL_LABELS[m], "largest |eig H_ll - eig G_ll| over the layers": ggn_gap(run)}
            for m, run in results.runs.items() if run["exact"]]
    return _frame(rows, {"largest |eig H_ll - eig G_ll| over the layers": "{:.2e}"})


def spearman_df(results: Results) -> pd.DataFrame:
    """Spearman correlation with the epoch of lambda_max and of the trace, per block (claim 1.3)."""
    rows = [{"model": MODEL_LABELS[m], "block": b, "lambda_max": results.rho[m][b]["lmax"], "trace": results.rho[m][b]["trace"]}
            for m, run in results.runs.items() for b in [*run["layers"], "full"]]
    return _frame(rows, {"lambda_max": "{:+.3f}", "trace": "{:+.3f}"})


def middle_line(results: Results, model: str) -> str:
    """Which parameter tensors of the arms' model the middle-layer penalty covers."""
    n = len(results.reg_tensors)
    return (f"{MODEL_LABELS[model]}: n = {n} parameter tensors, middle = positions {n // 4}..{3 * n // 4}: "
            f"{', '.join(results.reg_middle)}")


def arm_table(results: Results) -> pd.DataFrame:
    """Final test accuracy, lambda_max and trace per arm (mean and sample std over seeds)."""
    rows = []
    for arm, runs in results.arms.items():
        (a, sa), (l, sl), (t, st) = (_ms(column(runs, k)) for k in ("acc", "lmax", "trace"))
        rows.append({"arm": ARMS[arm][0], "seeds": len(runs), "test acc (%)": a, "acc std": sa, "lambda_max": l,
                     "lambda_max std": sl, "trace": t, "trace std": st})
    return _frame(rows, {"test acc (%)": "{:.2f}", "acc std": "{:.2f}", "lambda_max": "{:.4g}", "lambda_max std": "{:.2g}",
                         "trace": "{:.4g}", "trace std": "{:.2g}"})


def per_seed_table(results: Results) -> pd.DataFrame:
    """Each arm's test accuracy minus SGD's, seed by seed (points): the runs of one seed share
    the initialization and the order of the mini-batches. Empty without the SGD arm."""
    if "sgd" not in results.arms:
        return _frame([], {})
    sgd = column(results.arms["sgd"], "acc")
    rows = []
    for arm, runs in results.arms.items():
        if arm != "sgd":
            d = column(runs, "acc") - sgd
            rows.append({"arm - SGD (points)": ARMS[arm][0], **{f"seed {i + 1}": float(v) for i, v in enumerate(d)}})
    cols = [c for c in (rows[0] if rows else {}) if c.startswith("seed")]
    return _frame(rows, {c: "{:+.2f}" for c in cols})


def _extra_ms(results: Results) -> dict[str, float]:
    sgd = {i: r for i, r in enumerate(results.arms.get("sgd", []))}
    extra: dict[str, float] = {}
    for arm, runs in results.arms.items():
        if np.mean([r["fired"] for r in runs]) > 0 and sgd:
            extra[arm] = float(np.mean([(r["seconds"] - sgd[i]["seconds"]) / r["fired"] for i, r in enumerate(runs) if i in sgd]) * 1e3)
    return extra


def cost_table(results: Results) -> pd.DataFrame:
    """Training time per step of each arm (mean over seeds), penalized steps per run, and the
    extra milliseconds per penalized step against plain SGD with the same seed (timings)."""
    extra = _extra_ms(results)
    rows = [{"arm": ARMS[arm][0], "ms / step": float(np.mean([r["seconds"] / max(r["steps"], 1) for r in runs]) * 1e3),
             "penalized steps": float(np.mean([r["fired"] for r in runs])),
             "ms / penalized step (extra)": extra.get(arm, "-")} for arm, runs in results.arms.items()]
    return _frame(rows, {"ms / step": "{:.2f}", "penalized steps": "{:.0f}", "ms / penalized step (extra)": "{:.1f}"})


def penalty_cost(results: Results, arm: str = "sgd+trace") -> float:
    """Extra milliseconds of one penalized step of ``arm`` against SGD (NaN when not measured)."""
    return _extra_ms(results).get(arm, math.nan)


def regularizer_numbers(results: Results, p: Params) -> dict[str, float]:
    """The glued numbers of section 5: ``hessian-sgd-acc`` (mean accuracy of SGD, %), and when
    both SGD and SGD + trace penalty ran ``hessian-acc-diff`` and ``hessian-acc-se`` (their
    difference of means and its standard error, points) and ``hessian-penalty-size``
    (``gamma`` times SGD's mean final trace)."""
    arms = results.arms
    out = {"hessian-sgd-acc": float(np.mean(column(arms["sgd"], "acc"))) if "sgd" in arms else math.nan}
    gain = accuracy_gain(results)
    if gain is not None:
        out.update({"hessian-acc-diff": gain.diff, "hessian-acc-se": gain.stderr,
                    "hessian-penalty-size": p.gamma * float(np.mean(column(arms["sgd"], "trace")))})
    return out


def paper_table(results: Results, p: Params) -> pd.DataFrame:
    """This run's SGD and SGD + trace penalty + L2 beside the authors' numbers."""
    rows = []
    for arm in ("sgd", "sgd+trace+l2"):
        ref = PAPER[arm]
        if arm in results.arms:
            m, s = _ms(column(results.arms[arm], "acc"))
            ours = f"{m:.3f} +- {s:.3f} % ({len(results.arms[arm])} seeds, {results.reg_data})"
        else:
            ours = "not run"
        rows.append({"arm": ARMS[arm][0], "paper (LeNet, MNIST, 30 ep.)": f"{ref[0]:.3f} +- {ref[1]:.3f} %",
                     f"this run ({p.profile} profile)": ours})
    return _frame(rows, {})


def paper_section(results: Results, p: Params, record: dict | None) -> str:
    """What section 6 says under the table: on a profile other than gpu, that the scale
    differs and the last gpu-profile run's ``record`` (:func:`paper_scale_text`, or that
    there is none); on the gpu profile, a note when full MNIST was not there."""
    if p.profile == "gpu":
        if results.reg_data != "mnist":
            return (f"Full MNIST is not on this machine: this gpu run used {results.reg_data}, so its accuracies are not "
                    "comparable with the paper's MNIST numbers.")
        return ""
    side = DataSpec(results.reg_data, root=p.data_root).load().input_shape[-1]
    lines = [f"This {p.profile} profile run is at a different scale: {results.reg_data}, a LeNet for {side}x{side} inputs, "
             f"{p.reg_epochs} epochs, batch {p.reg_batch_size}; the accuracies are not comparable with the paper's, only "
             "the differences between arms are."]
    if record is None:
        lines.append("\nNo gpu-profile run is recorded (results/hessian-gpu.json); `python -m landscape run --profile gpu hessian` "
                     "records one.")
    else:
        lines += ["\nThe paper's setting, from the last gpu-profile run (results/hessian-gpu.json, written by that run):\n",
                  paper_scale_text(record)]
    return "\n".join(lines)


def paper_scale_text(record: dict) -> str:
    """A gpu-profile record beside the paper's numbers: provenance, every arm, and the claims decided at that scale."""
    q = record["params"]
    lines = [f"Run: {record['profile']} profile, {record['date']}, {record['device']}, library commit "
             f"{record['commit']}, torch {record['torch']}, {record['seconds'] / 60:.0f} min.",
             f"Regularizer: {MODEL_LABELS.get(q['reg_model'], q['reg_model'])} on {record['reg_data']}, "
             f"{q['reg_epochs']} epochs, batch {q['reg_batch_size']}, lr {q['reg_lr']:g} x {q['lr_gamma']:g} at "
             f"{q['milestones']}, gamma {q['gamma']:g}, K {q['num_probes']}, freq {q['freq']}, sp {q['sp']}, "
             f"seeds {q['seeds']}; spectra on {record['spec_data']} for {q['spec_epochs']} epochs.", ""]
    lines.append(f"{'arm':<28}{'paper (LeNet, MNIST)':>22}{'test acc (%)':>22}{'lambda_max':>14}{'trace':>14}")
    for arm, d in record["arms"].items():
        acc, lm, tr = (np.array(d[k], dtype=float) for k in ("acc", "lmax", "trace"))
        a, s = _ms(acc)
        ref = f"{PAPER[arm][0]:.3f} +- {PAPER[arm][1]:.3f}" if arm in PAPER else "-"
        lines.append(f"{ARMS[arm][0] if arm in ARMS else arm:<28}{ref:>22}{f'{a:.3f} +- {s:.3f}':>22}"
                     f"{np.mean(lm):>14.4g}{np.mean(tr):>14.4g}")
    lines += ["", "Claims decided in that run:"]
    for c in record["claims"]:
        v = "nan" if c["value"] is None else f"{c['value']:.4g}"
        lines.append(f"  {c['id']:<5}{c['verdict']:<16}{v:>10} ({c['rule']})  {c['statement']}")
    return "\n".join(lines)
