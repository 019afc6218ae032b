"""The record a gpu-profile run of the hessian chapter leaves in ``results/hessian-gpu.json``
(:func:`landscape.experiment.records.record_path`): per arm the seeds' test accuracy,
lambda_max and trace, the claims as decided in that run, the parameters, and where and
when it ran. Section 6 of the other profiles' pages shows it (:func:`.tables.paper_scale_text`),
and the claims ledger its verdicts."""

from __future__ import annotations

from typing import Sequence

import torch

from ...experiment.claims import Claim
from ...experiment.params import Params
from ...experiment.records import GpuRecord, claims_record, provenance, record_path, setting_verdicts
from .experiments import Results, column

__all__ = ["PAPER_SCALE_JSON", "RECORD_PARAMS", "paper_scale_record", "paper_scale_verdicts", "save_paper_scale",
           "load_paper_scale", "record_gpu_run"]

#: where a gpu-profile run leaves its record
PAPER_SCALE_JSON = record_path("hessian")
#: the parameters a record keeps
RECORD_PARAMS = ("reg_model", "reg_epochs", "reg_batch_size", "reg_lr", "milestones", "lr_gamma", "momentum",
                 "weight_decay", "gamma", "gamma_middle", "num_probes", "freq", "sp", "seeds", "spec_epochs",
                 "mlp_widths", "per_class")


def paper_scale_record(results: Results, claims: Sequence[Claim], p: Params, *, device: torch.device,
                       seconds: float) -> dict:
    """What a run at the paper's scale found (see the module's docstring): ``rules`` ``"v2"``;
    per regularizer data set and arm the seeds' test accuracy, lambda_max and trace
    (``arm_sets``; ``arms``: the first data set's); the claims - 1.1-1.4 once (on the spectra
    data set), 1.5-1.6 once per regularizer data set (``setting``) - with their v1 verdicts."""
    from .claims import claims_by_setting

    values = p.as_dict()
    arm_sets = {d: {arm: {k: column(runs, k).tolist() for k in ("acc", "lmax", "trace")} for arm, runs in arms.items()}
                for d, arms in results.arm_sets.items()}
    rows = []
    for c, row in zip(claims, claims_record(claims)):
        if c.id in ("1.5", "1.6"):
            continue
        rows.append({**row, "setting": results.spec_data, "v1": c.v1.verdict if c.v1 is not None else None})
    for d, (c15, c16) in claims_by_setting(results, p).items():
        for c, row in zip((c15, c16), claims_record((c15, c16))):
            rows.append({**row, "setting": results.reg_data.get(d, d), "mde": c.mde,
                         "manipulation": None if c.manipulation is None else c.manipulation.passed})
    return {
        **provenance(profile=p.profile, device=device, seconds=seconds, threads=p.threads), "rules": "v2",
        "reg_data": results.reg_data, "spec_data": results.spec_data,
        "params": {**{k: values[k] for k in RECORD_PARAMS}, "reg_overrides": values["reg_overrides"],
                   "spec_seeds": values["spec_seeds"], "slq_steps": values["slq_steps"], "slq_probes": values["slq_probes"]},
        "arm_sets": arm_sets, "arms": next(iter(arm_sets.values())),
        "claims": rows,
    }


#: ``{claim id: [(setting, verdict), ...]}`` of a v2 record (the verdict strip's paper-setting column)
paper_scale_verdicts = setting_verdicts


_RECORD = GpuRecord("hessian", paper_scale_record, {"arms": dict})
#: write, read and (on the gpu profile) record this chapter's gpu-profile run: :class:`~landscape.experiment.records.GpuRecord`
save_paper_scale, load_paper_scale, record_gpu_run = _RECORD.save, _RECORD.load, _RECORD.record_run
