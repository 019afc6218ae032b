"""The record a gpu-profile run of the DANTE chapter leaves in ``results/dante-gpu.json``
(:func:`landscape.experiment.records.record_path`): per configuration (depth, data set,
activation) and method the rates each protocol chose and the seeds' final test and validation
accuracies; per configuration claim 2.3's reading; the autoencoder's final test MSE; the claims
as decided in that run - 2.1-2.3 on both data sets together (the headline, with their v1
verdicts and the variant's), then on each data set alone (``setting``); the parameters, and
where and when it ran. The verdict strip of the other profiles shows its verdicts, and the
claims ledger reads them (``rules: "v2"``)."""

from __future__ import annotations

import math
from typing import Sequence

import torch

from ...experiment.claims import Claim
from ...experiment.params import Params
from ...experiment.records import GpuRecord, claims_record, provenance, record_path, setting_verdicts
from .experiments import METHODS, NULL_METHOD, Results, autoencoder_means, speed_rows
from .tables import DATA_LABEL, paper_scale_text

__all__ = ["PAPER_SCALE_JSON", "RECORD_PARAMS", "paper_scale_record", "paper_scale_verdicts", "paper_scale_text",
           "save_paper_scale", "load_paper_scale", "record_gpu_run", "BOTH"]

#: where a gpu-profile run leaves its record
PAPER_SCALE_JSON = record_path("dante")
#: the parameters a record keeps
RECORD_PARAMS = ("datasets", "max_train", "max_test", "val_fraction", "width", "deep_widths", "activations", "slope", "lrs_sgd",
                 "lrs_adam", "lrs_dante", "v1_lrs", "sgd_momentum", "epochs", "batch_size", "dante_schedule", "seeds",
                 "select_seeds", "v1_seeds", "ae_dataset", "ae_widths", "ae_activation", "ae_max_train", "ae_pretrain_epochs",
                 "ae_finetune_epochs", "ae_lrs", "ae_seeds", "eval_every", "speed_min_seconds", "speed_repeats",
                 "speed_max_epochs", "acc_margin", "speed_fraction", "speed_ratio", "speed_summary")
#: the setting of the claims decided on every data set together
BOTH = "all data sets"


def _number(v) -> float | None:
    return float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None


def _row(c: Claim, setting: str) -> dict:
    row = claims_record([c])[0]
    return {**row, "setting": setting, "v1": c.v1.verdict if c.v1 is not None else None, "mde": _number(c.mde),
            "null": None if c.null is None else ("inf" if math.isinf(c.null) else _number(c.null)),
            "variant": next(iter(c.variants.values()), None)}


def _configs(results: Results) -> list[dict]:
    out = []
    for depth, by_data in results.by_depth.items():
        for name, by_act in by_data.items():
            for act, by_m in by_act.items():
                out.append({"hidden layers": depth, "data": name, "activation": act, "methods": {
                    m: {"rates": dict(r.chosen), "test_acc": [float(x) for x in r.accuracies("v2")],
                        "val_acc": [float(x) for x in r.accuracies("v2", key="val")]}
                    for m, r in by_m.items() if m in (*METHODS, NULL_METHOD)}})
    return out


def paper_scale_record(results: Results, claims: Sequence[Claim], p: Params, *, device: torch.device, seconds: float) -> dict:
    """What a gpu-profile run found (see the module's docstring): ``rules`` ``"v2"``; ``claims``:
    2.1-2.3 on every data set (``claims``, the headline, with v1's verdicts; setting
    :data:`BOTH`), then on each data set alone."""
    from .claims import claims_by_setting

    values = p.as_dict()
    rows = [_row(c, BOTH) for c in claims]
    for name, cs in claims_by_setting(results, p).items():
        rows += [_row(c, DATA_LABEL.get(name, name)) for c in cs]
    speed = [{k: (_number(v) if isinstance(v, float) else v) for k, v in r.items() if k != "ratio per repeat"}
             for r in speed_rows(results.by_depth, results.timing, p.speed_fraction)]
    return {**provenance(profile=p.profile, device=device, seconds=seconds, threads=p.threads), "rules": "v2",
            "params": {k: values[k] for k in RECORD_PARAMS}, "n_fit": dict(results.n_fit), "n_val": dict(results.n_val),
            "configs": _configs(results), "speed": speed,
            "autoencoder": {m: float(v) for m, v in autoencoder_means(results.autoencoders).items()} if results.autoencoders else {},
            "claims": rows}


#: ``{claim id: [(setting, verdict), ...]}`` of a v2 record (the verdict strip's paper-setting column)
paper_scale_verdicts = setting_verdicts


_RECORD = GpuRecord("dante", paper_scale_record, {"configs": list, "params": dict})
#: write, read and (on the gpu profile) record this chapter's gpu-profile run: :class:`~landscape.experiment.records.GpuRecord`
save_paper_scale, load_paper_scale, record_gpu_run = _RECORD.save, _RECORD.load, _RECORD.record_run
