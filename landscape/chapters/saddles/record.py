"""The record a gpu-profile run of the saddles chapter leaves in ``results/saddles-gpu.json``
(:func:`landscape.experiment.records.record_path`): per data set and run the v2 readings of the
end point (5.1's (a)-(c), the near-zero fraction, the escape gain of 5.3, the KS ratio of 5.4),
the claims decided on each data set (the first one's with their v1 verdicts), the parameters, and
where and when it ran. The verdict strip of the other profiles shows its verdicts, and the
claims ledger reads them (``rules: "v2"``)."""

from __future__ import annotations

from typing import Sequence

import torch

from ...experiment.claims import Claim
from ...experiment.params import Params
from ...experiment.records import GpuRecord, claims_record, provenance, record_path, setting_verdicts
from .experiments import Results
from .readings import end_readings

__all__ = ["PAPER_SCALE_JSON", "RECORD_PARAMS", "paper_scale_record", "paper_scale_verdicts", "paper_scale_text",
           "save_paper_scale", "load_paper_scale", "record_gpu_run"]

#: where a gpu-profile run leaves its record
PAPER_SCALE_JSON = record_path("saddles")
#: the parameters a record keeps
RECORD_PARAMS = ("dataset", "also_datasets", "input_size", "n_train", "widths", "activation", "optimizers", "epochs",
                 "batch_size", "lr_sgd", "lr_momentum", "momentum", "lr_adam", "lr_adagrad", "lr_pgd", "pgd_radius",
                 "pgd_g_thres", "pgd_t_thres", "seeds", "escape_epochs", "search_step", "search_growth",
                 "search_max_steps", "n_random", "big_model", "big_epochs", "slq_probes", "slq_steps", "zero_tol",
                 "neg_tol", "stationary_tol", "zero_fraction_min", "most_fraction", "pgd_gap_max", "escape_gain_max",
                 "ks_ratio_max")

_KEYS = ("grad_ratio", "zero", "lambda_min", "lambda_max", "decrease_min", "decrease_random", "stationary", "degenerate",
         "saddle", "all", "flat")


def _runs(results: Results, p: Params) -> list[dict]:
    reads = end_readings(results, p)
    return [{"optimizer": o, "seed": int(s), **{k: reads[(o, s)][k] for k in _KEYS},
             "gain": float(results.checks[(o, s)]["gain"]), "ks_ratio": float(results.semicircle.ratio_final[(o, s)]),
             "perturbations": int(results.runs[(o, s)].get("perturbations", 0))} for (o, s) in results.runs]


def _row(c: Claim, setting: str) -> dict:
    row = claims_record([c])[0]
    return {**row, "setting": setting, "v1": c.v1.verdict if c.v1 is not None else None, "mde": c.mde, "null": c.null,
            "manipulation": None if c.manipulation is None else c.manipulation.passed}


def paper_scale_record(results: Results, claims: Sequence[Claim], p: Params, *, device: torch.device,
                       seconds: float) -> dict:
    """What a gpu-profile run found (see the module's docstring): ``rules`` ``"v2"``; ``settings``:
    data set -> the parameters count and per run the readings; ``claims``: 5.1-5.4 on the first
    data set (``claims``, the headline, with their v1 verdicts), then on each other data set."""
    from .claims import claims_by_setting

    values = p.as_dict()
    main = results.dataset or p.dataset
    settings = {main: {"n_params": results.n_params, "examples": results.examples, "runs": _runs(results, p)}}
    for d, r in results.others.items():
        settings[d] = {"n_params": r.n_params, "examples": r.examples, "runs": _runs(r, p.replace(dataset=d, also_datasets=[]))}
    rows = [_row(c, main) for c in claims]
    for d, cs in claims_by_setting(results, p).items():
        if d != main:
            rows += [_row(c, d) for c in cs]
    big = {"n_params": int(results.big.get("n_params", 0))} if results.big else {}
    return {**provenance(profile=p.profile, device=device, seconds=seconds, threads=p.threads), "rules": "v2",
            "params": {k: values[k] for k in RECORD_PARAMS}, "settings": settings, "big": big, "claims": rows}


#: ``{claim id: [(setting, verdict), ...]}`` of a v2 record (the verdict strip's paper-setting column)
paper_scale_verdicts = setting_verdicts


def paper_scale_text(record: dict | None) -> str:
    """A gpu-profile record as text: provenance, the setting, and every claim decided in that run
    (per data set); or that there is none."""
    if record is None:
        return ("No gpu-profile run is recorded (results/saddles-gpu.json); "
                "`python -m landscape run --profile gpu saddles` records one.")
    q = record["params"]
    sets = ", ".join(f"{d} ({s['n_params']} parameters, {s['examples']} training images)" for d, s in record["settings"].items())
    lines = [f"Run: {record['profile']} profile, {record['date']}, {record['device']}, library commit {record['commit']}, "
             f"torch {record['torch']}, {record['seconds'] / 60:.1f} min; rules {record.get('rules', 'v1')}.",
             f"MLP {q['widths']} ({q['activation']}) on {sets}; {len(q['optimizers'])} optimizers x {len(q['seeds'])} "
             f"seeds, {q['epochs']} epochs; dense float64 spectra.", "", "Claims decided in that run:"]
    for c in record["claims"]:
        value = "nan" if c.get("value") is None else f"{c['value']:+.4g}"
        lines.append(f"  {c['id']}  {c['verdict']:<15} [{c.get('setting', '')}] measured {value} ({c['rule']})"
                     + (f"; MDE {c['mde']:.3g}" if c.get("mde") is not None else "")
                     + (f"; null {c['null']:+.3g}" if c.get("null") is not None else ""))
    return "\n".join(lines)


_RECORD = GpuRecord("saddles", paper_scale_record, {"settings": dict, "params": dict})
#: write, read and (on the gpu profile) record this chapter's gpu-profile run: :class:`~landscape.experiment.records.GpuRecord`
save_paper_scale, load_paper_scale, record_gpu_run = _RECORD.save, _RECORD.load, _RECORD.record_run
