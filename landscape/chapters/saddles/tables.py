"""The saddles chapter's tables, as DataFrames with their number formats in ``df.attrs["formats"]``
(the notebook shows them with ``page.table``)."""

from __future__ import annotations

import pandas as pd

from ... import spectra
from ...experiment.params import Params
from ...training.loop import History
from .experiments import Results
from .readings import big_summary, end_readings, init_readings, null_reading, slq_compare, summary

__all__ = ["LABELS", "SHORT", "final_table", "tolerance_table", "escape_table", "semicircle_table", "slq_table",
           "big_table", "live_fractions", "saddle_table", "shares_table", "escape_v2_table", "null_table"]

LABELS = {"sgd": "SGD", "momentum": "SGD + momentum", "adam": "Adam", "adagrad": "Adagrad", "pgd": "PGD (perturbed)"}
SHORT = {"sgd": "SGD", "momentum": "Momentum", "adam": "Adam", "adagrad": "Adagrad", "pgd": "PGD"}


def _formatted(rows, fmt: str, skip=("seed",)) -> pd.DataFrame:
    """A DataFrame of ``rows`` with format ``fmt`` on every numeric column but ``skip``."""
    df = pd.DataFrame(rows)
    df.attrs["formats"] = {c: fmt for c in df.columns if c not in skip and pd.api.types.is_numeric_dtype(df[c])
                           and not pd.api.types.is_bool_dtype(df[c])}
    return df


def final_table(results: Results, p: Params) -> pd.DataFrame:
    """One row per run: training loss, gradient norm, test accuracy, the spectrum's ends and fractions."""
    rows = []
    for (o, s), r in results.runs.items():
        last = History.from_dict(r["history"]).last
        sm = summary(r["eigenvalues"], p)
        rows.append({"optimizer": LABELS[o], "seed": s, "train loss": last["train_eval_loss"], "|grad|": last["grad_norm"],
                     "test acc": last["test_acc"], "lambda_min": sm["lambda_min"], "lambda_max": sm["lambda_max"],
                     "|lambda_min|/lambda_max": sm["neg_ratio"], f"near zero (<= {p.zero_tol:g} lmax)": sm["zero"],
                     f"n below -{p.neg_tol:g} lmax": sm["n_below"], "perturbations": r["perturbations"]})
    return _formatted(rows, "{:.4g}", skip=("seed", f"n below -{p.neg_tol:g} lmax", "perturbations"))


def tolerance_table(results: Results, p: Params) -> pd.DataFrame:
    """Fractions negative / near zero / positive of every run's final spectrum at every tolerance (relative to
    lambda_max, then absolute): one row per optimizer and seed, one column per fraction and tolerance."""
    rows = []
    for (o, s), r in results.runs.items():
        row = {"optimizer": LABELS[o], "seed": s}
        fs = spectra.fraction_table(r["eigenvalues"], p.rel_tols, p.abs_tols)
        for what in ("negative", "zero", "positive"):
            for f in fs:
                row[f"{what}, {f['tol']:g} {'λmax' if f['relative'] else 'abs.'}"] = f[what]
        rows.append(row)
    return _formatted(rows, "{:.3f}")


def escape_table(results: Results) -> pd.DataFrame:
    """One row per run: the loss at the saddle, after the step, and after the extra epochs with and without it."""
    return _formatted([{"optimizer": LABELS[o], "seed": s, "lambda_min": float(e["values"][0]), "step alpha": e["alpha"],
                        "L at saddle": e["loss_star"], "change by step": e["loss_jump"] - e["loss_star"],
                        "gradient term": e["linear"], "curvature term": e["quadratic"], "L escaped + epochs": e["loss_escaped"],
                        "L control + epochs": e["loss_control"], "gain": e["gain"]} for (o, s), e in results.escapes.items()],
                      "{:.4g}")


def semicircle_table(results: Results) -> pd.DataFrame:
    """KS distance and radius of every semicircle fit: the GOE controls, the spectra at initialization, the
    final spectra; and each KS as a multiple of its seed's GOE control's."""
    semi = results.semicircle
    rows = [{"spectrum": "GOE control", "seed": s, "KS": f.ks, "radius": f.radius, "KS / GOE": 1.0} for s, f in semi.goe.items()]
    rows += [{"spectrum": "Hessian at initialization", "seed": s, "KS": f.ks, "radius": f.radius, "KS / GOE": semi.ratio_init[s]}
             for s, f in semi.init.items()]
    rows += [{"spectrum": f"Hessian, {LABELS[o]}", "seed": s, "KS": f.ks, "radius": f.radius, "KS / GOE": semi.ratio_final[(o, s)]}
             for (o, s), f in semi.final.items()]
    return _formatted(rows, "{:.4g}")


def _quantities(values: dict) -> pd.DataFrame:
    """One row per quantity; counts and flags as they are (text), measurements with 4 significant digits."""
    shown = lambda v: str(v) if isinstance(v, (bool, int)) else float(v)
    df = pd.DataFrame([{"quantity": k, "value": shown(v)} for k, v in values.items()])
    df.attrs["formats"] = {"value": "{:.4g}"}
    return df


def slq_table(results: Results, p: Params) -> pd.DataFrame:
    """SLQ and Lanczos against the dense answer (:func:`~landscape.chapters.saddles.readings.slq_compare`), one row each."""
    return _quantities(slq_compare(results, p))


def big_table(results: Results, p: Params) -> pd.DataFrame:
    """The large network: its size and training, then what SLQ and Lanczos read off its Hessian."""
    big = results.big
    last = History.from_dict(big["history"]).last
    head = {"parameters": big["n_params"], "training loss": last["train_eval_loss"], "test accuracy": last["test_acc"],
            "Hessian examples": big["hessian_n"], "loss on them": big["loss"], "|grad| on them": big["grad_norm"]}
    return _quantities({**head, **big_summary(results, p)})


def live_fractions(results: Results, tol: float, *, relative: bool = True) -> pd.DataFrame:
    """Fractions negative / near zero / positive at ``tol`` for every run's final spectrum, mean over seeds
    (the live tolerance slider)."""
    rows: dict[str, list] = {}
    for (o, _), r in results.runs.items():
        f = spectra.fractions(r["eigenvalues"], tol, relative=relative)
        rows.setdefault(LABELS[o], []).append((f.negative, f.zero, f.positive))
    df = pd.DataFrame([{"optimizer": k, "negative": sum(v[0] for v in vs) / len(vs), "near zero": sum(v[1] for v in vs) / len(vs),
                        "positive": sum(v[2] for v in vs) / len(vs)} for k, vs in rows.items()])
    df.attrs["formats"] = {"negative": "{:.3f}", "near zero": "{:.3f}", "positive": "{:.3f}"}
    return df


def _kind(r: dict) -> str:
    if r["all"]:
        return "degenerate saddle"
    if r["flat"]:
        return "flat minimum"
    return "saddle, not (a)/(b)" if r["saddle"] else "neither"


def saddle_table(results: Results, p: Params) -> pd.DataFrame:
    """Claim 5.1's v2 reading (:func:`~.readings.point_reading`), one row per point: every end point,
    then every initial point (the baseline), then the null (the strict-minimum quadratic)."""
    rows = []
    add = lambda where, o, s, r: rows.append({
        "point": where, "optimizer": o, "seed": s, "|g|/|g0|": r["grad_ratio"], "near zero": r["zero"],
        "lambda_min/lambda_max": r["lambda_min"] / r["lambda_max"], "drop along v_min": r["decrease_min"],
        "drop, random (median)": r["decrease_random"], "(a)": r["stationary"], "(b)": r["degenerate"], "(c)": r["saddle"],
        "kind": _kind(r)})
    for (o, s), r in end_readings(results, p).items():
        add("end", SHORT[o], s, r)
    for s, r in init_readings(results, p).items():
        add("init", "-", s, r)
    add("null", "quadratic", next(iter(results.runs))[1], null_reading(results, p))
    df = _formatted(rows, "{:.3g}")
    df.attrs["formats"]["near zero"] = "{:.3f}"
    return df


def shares_table(results: Results, p: Params) -> pd.DataFrame:
    """The shares of points that pass (a), (b), (c), all three, or are flat minima: at the end
    points, at initialization, and on the null."""
    from .readings import shares

    null = null_reading(results, p)
    rows = [{"points": where, "n": sh["n"], "(a) near-stationary": sh["stationary"], "(b) degenerate": sh["degenerate"],
             "(c) saddle": sh["saddle"], "(a)+(b)+(c)": sh["all"], "flat minimum": sh["flat"]}
            for where, sh in (("end points", shares(end_readings(results, p))),
                              ("initialization", shares(init_readings(results, p))),
                              ("null (strict minimum)", shares({0: null})))]
    return _formatted(rows, "{:.2f}", skip=("n",))


def escape_v2_table(results: Results) -> pd.DataFrame:
    """Claim 5.3's v2 measure, one row per run: the loss at initialization and at the end point, the
    uncapped escape step, the losses after the extra epochs with and without it, and the gain as a
    share of all the decrease training achieved."""
    return _formatted([{"optimizer": LABELS[o], "seed": s, "L init": c["loss_init"], "L end": c["loss_star"],
                        "step |alpha|": abs(c["alpha_min"]), "L escaped + epochs": c["loss_escaped"],
                        "L control": c["loss_control"], "gain (share of L init - L end)": c["gain"],
                        "search capped": bool(c["capped_min"])}
                       for (o, s), c in results.checks.items()], "{:.4g}")


def null_table(results: Results, p: Params) -> pd.DataFrame:
    """Claim 5.1's rule on its null (the strict-minimum quadratic, :func:`~.readings.null_reading`): its
    parts (a)-(c), the drops of its line searches, and its score (the fraction that passes all three)."""
    r = null_reading(results, p)
    df = _formatted([{"null": "convex quadratic, mu = |lambda| of the first run", "near zero": r["zero"],
                      "lambda_min": r["lambda_min"], "drop along v_min": r["decrease_min"],
                      "drop, random (median)": r["decrease_random"], "(a)": r["stationary"], "(b)": r["degenerate"],
                      "(c)": r["saddle"], "score (a)+(b)+(c)": float(r["all"]), "rule": f"> {p.most_fraction:g}"}], "{:.3g}")
    return df
