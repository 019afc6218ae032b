"""The record a gpu-profile run of the ADINE chapter leaves in ``results/adine-gpu.json``
(:func:`landscape.experiment.records.record_path`): per training setting the tuned learning
rates, each method's iterations to claim 4.3's target per seed under each protocol, claim
4.4's budget and each method's test accuracy per seed there; per saddle the escape ratios;
the claims as decided in that run by the v2 rules (4.1 and 4.2 once, 4.3 and 4.4 once per
setting) with their v1 verdicts, variants, nulls and MDEs; the parameters; and where and
when it ran. The chapter's verdict strip and the claims ledger show its verdicts beside the
cpu profile's."""

from __future__ import annotations

from typing import Sequence

import torch

from ...experiment.claims import Claim
from ...experiment.params import Params
from ...experiment.records import GpuRecord, claims_record, provenance, record_path, setting_verdicts
from .experiments import COMPARED, METHODS, Results

__all__ = ["PAPER_SCALE_JSON", "RECORD_PARAMS", "paper_scale_record", "paper_scale_verdicts", "paper_scale_text",
           "save_paper_scale", "load_paper_scale", "record_gpu_run"]

#: where a gpu-profile run leaves its record
PAPER_SCALE_JSON = record_path("adine")
#: the parameters a record keeps
RECORD_PARAMS = ("seeds", "null_seeds", "tune_seed", "settings", "mlp_widths", "epochs", "epochs_cap", "n_train", "n_test",
                 "batch_size", "momentum", "m_s", "m_g", "tolerance", "weight", "lrs_sgd", "lrs_momentum", "lrs_adam",
                 "val_fraction", "split_seed", "equal_lr_from", "smooth_window", "saddle_functions", "saddle_momenta",
                 "saddle_lrs", "saddle_lr", "saddle_starts", "saddle_max_steps", "quad_momenta", "escape_ratio_max",
                 "diverge_factor", "speed_ratio_max", "acc_margin", "plateau_change", "plateau_tail", "null_deficit",
                 "target_slack")


def _row(c: Claim, setting: str, v1: Claim | None) -> dict:
    row = claims_record([c])[0]
    return {**row, "setting": setting, "v1": v1.verdict if v1 is not None else None, "mde": c.mde, "null": c.null,
            "variants": dict(c.variants)}


def paper_scale_record(results: Results, claims: Sequence[Claim], p: Params, *, device: torch.device,
                       seconds: float) -> dict:
    """What a gpu-profile run found (see the module's docstring): ``rules`` ``"v2"``;
    ``settings``: setting -> ``lr`` (tuned), ``equal_lr``, ``steps`` (protocol -> method -> per
    seed), ``target`` (per protocol), ``budget``, ``budget_first``, ``accuracy`` (method -> per
    seed, at the budget or the last one run); ``saddles``: saddle -> ratios; ``claims``: 4.1 and
    4.2 (``setting`` ""), then 4.3 and 4.4 per setting (the first setting's with the headline's
    v1 verdict)."""
    from .claims import claims_by_setting

    values = p.as_dict()
    settings = {}
    for s, o in results.training.items():
        protos = {"tuned": results.speed[s], "equal": results.speed_equal[s], "null": results.speed_null[s]}
        settings[s] = {
            "lr": dict(o["tuning"]["lr"]), "equal_lr": o["equal_lr"],
            "target": {k: sp["target"] for k, sp in protos.items()},
            "steps": {k: {m: sp["steps"][m].tolist() for m in COMPARED} for k, sp in protos.items()},
            "budget": o["budget"], "budget_first": o["budget_first"], "last_budget": max(o["by_budget"]),
            "accuracy": {m: results.accuracy[s]["acc"][m].tolist() for m in METHODS}, "best": results.accuracy[s]["best"],
        }
    saddles = {n: {"ratio": e["ratio"], "fixed_ratio": e["fixed"]["ratio"], "null_ratio": e["null_ratio"]}
               for n, e in results.escape.items()}
    head = {c.id: c for c in claims}
    rows = [_row(head[i], "", head[i].v1) for i in ("4.1", "4.2") if i in head]
    for s, (c43, c44) in claims_by_setting(results, p).items():
        rows += [_row(c43, s, None), _row(c44, s, None)]
    return {
        **provenance(profile=p.profile, device=device, seconds=seconds, threads=p.threads), "rules": "v2",
        "params": {k: values[k] for k in RECORD_PARAMS}, "skipped": dict(results.skipped),
        "settings": settings, "saddles": saddles, "quad_growth": results.quad_growth, "quad_null": results.quad_null,
        "claims": rows, "headline": [_row(c, "all settings", c.v1) for c in claims],
    }


#: ``{claim id: [(setting, verdict), ...]}`` of a v2 record (the verdict strip's paper-setting column)
paper_scale_verdicts = setting_verdicts


def paper_scale_text(record: dict | None) -> str:
    """A gpu-profile record as text: provenance, the settings, and every claim decided in that
    run (per setting, with its variant, null and MDE); or that there is none."""
    if record is None:
        return ("No gpu-profile run is recorded (results/adine-gpu.json); "
                "`python -m landscape run --profile gpu adine` records one.")
    q = record["params"]
    lines = [f"Run: {record['profile']} profile, {record['date']}, {record['device']}, library commit {record['commit']}, "
             f"torch {record['torch']}, {record['seconds'] / 60:.1f} min; rules {record.get('rules', 'v1')}.",
             f"Settings: {', '.join(q['settings'])}; {len(q['seeds'])} seeds; epochs {dict(q['epochs'])}, caps "
             f"{dict(q['epochs_cap'])}; MLP widths {list(q['mlp_widths'])}, batch {q['batch_size']}.",
             ]
    if record.get("skipped"):
        lines.append("Skipped (data not here): " + ", ".join(record["skipped"]))
    for s, o in record["settings"].items():
        b = o["budget"]
        lines.append(f"  {s}: lrs " + ", ".join(f"{m} {v:g}" for m, v in o["lr"].items())
                     + f"; 4.4 decided at {b if b is not None else 'no plateau by ' + str(o['last_budget'])} epochs")
    lines += ["", "Claims decided in that run:"]
    for c in record["claims"]:
        value = "nan" if c.get("value") is None else f"{c['value']:+.4g}"
        extra = []
        if c.get("variants"):
            extra.append("variants: " + ", ".join(f"{k} {v}" for k, v in c["variants"].items()))
        lines.append(f"  {c['id']}  {c['verdict']:<15} [{c.get('setting') or 'toy'}] measured {value} ({c['rule']})"
                     + (f"; MDE {c['mde']:.3g}" if c.get("mde") is not None else "")
                     + (f"; null {c['null']:.3g}" if c.get("null") is not None else "")
                     + ("; " + "; ".join(extra) if extra else ""))
    return "\n".join(lines)


_RECORD = GpuRecord("adine", paper_scale_record, {"settings": dict, "params": dict})
#: write, read and (on the gpu profile) record this chapter's gpu-profile run: :class:`~landscape.experiment.records.GpuRecord`
save_paper_scale, load_paper_scale, record_gpu_run = _RECORD.save, _RECORD.load, _RECORD.record_run
