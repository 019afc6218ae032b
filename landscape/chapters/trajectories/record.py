"""The record a gpu-profile run of the trajectories chapter leaves in ``results/trajectories-gpu.json``
(:func:`landscape.experiment.records.record_path`): per data set and kind of noise the seeds'
effective rank (mean over the matched iterations) and success, the same per depth and protocol
for claim 3.3, the claims as decided in that run (v2 rules; 3.1 and 3.2 once per data set), the
parameters, and where and when it ran. The chapter's verdict strip and the claims ledger
show its verdicts beside the cpu profile's."""

from __future__ import annotations

from typing import Sequence

import torch

from ...experiment.claims import Claim
from ...experiment.params import Params
from ...experiment.records import GpuRecord, claims_record, provenance, record_path, setting_verdicts
from .experiments import KINDS, PROTOCOLS, Results, summary

__all__ = ["PAPER_SCALE_JSON", "RECORD_PARAMS", "paper_scale_record", "paper_scale_verdicts", "paper_scale_text",
           "save_paper_scale", "load_paper_scale", "record_gpu_run"]

#: where a gpu-profile run leaves its record
PAPER_SCALE_JSON = record_path("trajectories")
#: the parameters a record keeps
RECORD_PARAMS = ("seeds", "d_in", "d_out", "planted_rank", "data_noise", "n_train", "width", "depth", "depths", "lr",
                 "iterations", "small_scale", "claim_init", "start_norm", "grad_noise", "grad_anneal", "dropout",
                 "weight_noise", "input_noise", "label_noise", "noise_stop", "real_dataset", "real_n_train", "real_pca",
                 "real_width", "real_depth", "real_lr", "real_iterations", "real_runs", "gap_tol", "rank_margin",
                 "min_rise", "success_margin")


def _per_seed(runs: dict, gap_tol: float) -> dict:
    out = {}
    for k in ("none", *KINDS):
        if k in runs:
            s = summary(runs[k], gap_tol)
            out[k] = {"er_mean": s["er_mean"].tolist(), "success": s["success"].tolist()}
    return out


def _row(c: Claim, setting: str) -> dict:
    row = claims_record([c])[0]
    return {**row, "setting": setting, "v1": c.v1.verdict if c.v1 is not None else None, "mde": c.mde, "null": c.null,
            "variants": dict(c.variants), "kinds": dict(c.extra.get("kinds", {})),
            "manipulation": None if c.manipulation is None else c.manipulation.passed}


def paper_scale_record(results: Results, claims: Sequence[Claim], p: Params, *, device: torch.device,
                       seconds: float) -> dict:
    """What a gpu-profile run found (see the module's docstring): ``rules`` ``"v2"``; ``settings``:
    data set -> kind -> the seeds' ``er_mean`` and ``success`` (the synthetic data from
    ``claim_init`` at ``depth``, the real data from :attr:`~.experiments.Results.real_init`);
    ``depths``: protocol -> depth -> kind -> the same; ``claims``: 3.1 and 3.2 per data set (the
    synthetic ones are ``claims``, the headline, with their v1 verdicts), then 3.3."""
    from .claims import claims_by_setting

    values = p.as_dict()
    gt = p.gap_tol
    settings = {"synthetic": _per_seed(results.sections[results.claim_init], gt),
                p.real_dataset: _per_seed(results.real[results.real_init], gt)}
    depths = {name: {str(d): _per_seed(results.protocol(name)[d], gt) for d in p.depths} for name in PROTOCOLS}
    head = {c.id: c for c in claims}
    rows = [_row(head["3.1"], "synthetic"), _row(head["3.2"], "synthetic")]
    for c in claims_by_setting(results, p)[p.real_dataset]:
        rows.append(_row(c, p.real_dataset))
    rows.append(_row(head["3.3"], "synthetic"))
    return {
        **provenance(profile=p.profile, device=device, seconds=seconds, threads=p.threads), "rules": "v2",
        "params": {k: values[k] for k in RECORD_PARAMS}, "start_norm": results.start_norm, "loss_star": results.loss_star,
        "real_loss_star": float(results.real[results.real_init]["none"]["loss_star"]),
        "settings": settings, "depths": depths, "claims": rows,
    }


#: ``{claim id: [(setting, verdict), ...]}`` of a v2 record (the verdict strip's paper-setting column)
paper_scale_verdicts = setting_verdicts


def paper_scale_text(record: dict | None) -> str:
    """A gpu-profile record as text: provenance, the setting, and every claim decided in that run
    (per data set, per kind, per protocol); or that there is none."""
    if record is None:
        return ("No gpu-profile run is recorded (results/trajectories-gpu.json); "
                "`python -m landscape run --profile gpu trajectories` records one.")
    q = record["params"]
    lines = [f"Run: {record['profile']} profile, {record['date']}, {record['device']}, library commit {record['commit']}, "
             f"torch {record['torch']}, {record['seconds'] / 60:.1f} min; rules {record.get('rules', 'v1')}.",
             f"Synthetic: {q['d_in']} -> {q['width']} x {q['depth'] - 1} -> {q['d_out']} (planted rank {q['planted_rank']}, "
             f"{q['n_train']} examples), {len(q['seeds'])} seeds, {q['iterations']} steps, depths {q['depths']}, "
             f"{q['claim_init']} start, initial product norm {record['start_norm']:.3g} at every depth (3.3).",
             f"Real: {q['real_dataset']} ({q['real_n_train'] or 'all'} training images, {q['real_pca']} PCA components), "
             f"width {q['real_width']}, H = {q['real_depth']}, {q['real_runs']} seeds, {q['real_iterations']} steps.",
             "", "Claims decided in that run:"]
    for c in record["claims"]:
        extra = []
        if c.get("kinds"):
            extra.append("per kind: " + ", ".join(f"{k} {v}" for k, v in c["kinds"].items()))
        if c.get("variants"):
            extra.append("variants: " + ", ".join(f"{k} {v}" for k, v in c["variants"].items()))
        value = "nan" if c.get("value") is None else f"{c['value']:+.4g}"
        lines.append(f"  {c['id']}  {c['verdict']:<15} [{c.get('setting', '')}] measured {value} ({c['rule']})"
                     + (f"; MDE {c['mde']:.3g}" if c.get("mde") is not None else "")
                     + (f"; null {c['null']:+.3g}" if c.get("null") is not None else "")
                     + ("; " + "; ".join(extra) if extra else ""))
    return "\n".join(lines)


_RECORD = GpuRecord("trajectories", paper_scale_record, {"settings": dict, "params": dict})
#: write, read and (on the gpu profile) record this chapter's gpu-profile run: :class:`~landscape.experiment.records.GpuRecord`
save_paper_scale, load_paper_scale, record_gpu_run = _RECORD.save, _RECORD.load, _RECORD.record_run
