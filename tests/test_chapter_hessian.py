"""The hessian chapter's paper-scale record: built from arms and claims, saved, read back, shown."""

from __future__ import annotations

import json

import torch

from landscape.chapters import hessian
from landscape.experiment.claims import decide

P = {"profile": "gpu", "reg_model": "lenet5", "reg_epochs": 30, "reg_batch_size": 256, "reg_lr": 0.01,
     "milestones": [10, 20], "lr_gamma": 0.25, "momentum": 0.9, "weight_decay": 1e-4, "gamma": 1e-3,
     "gamma_middle": 1e-4, "num_probes": 10, "freq": 50, "sp": 10, "seeds": [0, 1], "spec_epochs": 10,
     "mlp_widths": [32, 32, 32], "per_class": 10}
RESULTS = {"sgd": [{"acc": 90.0, "lmax": 3.0, "trace": 20.0}, {"acc": 90.5, "lmax": 5.0, "trace": 30.0}],
           "sgd+trace+l2": [{"acc": 91.0, "lmax": 2.0, "trace": 10.0}, {"acc": 91.5, "lmax": 2.5, "trace": 12.0}]}


def test_record_round_trip_and_text(tmp_path):
    claims = [decide("1.5", "penalty helps", 0.75, ">=", 0.5), decide("1.1", "shape", float("nan"), "<=", 0.1)]
    rec = hessian.paper_scale_record(RESULTS, claims, P, device=torch.device("cpu"), reg_data="fashion-mnist",
                                     spec_data="fashion-mnist", seconds=600.0)
    assert rec["arms"]["sgd"]["acc"] == [90.0, 90.5] and rec["arms"]["sgd+trace+l2"]["trace"] == [10.0, 12.0]
    assert [c["id"] for c in rec["claims"]] == ["1.5", "1.1"] and rec["claims"][0]["verdict"] == "reproduced"
    path = hessian.save_paper_scale(rec, tmp_path / "r" / "hessian-gpu.json")
    back = hessian.load_paper_scale(path)
    assert back["arms"] == rec["arms"] and back["params"]["seeds"] == [0, 1]
    assert not list((tmp_path / "r").glob("*.tmp"))                       # written atomically
    text = hessian.paper_scale_text(back)
    assert "98.750 +- 0.030" in text and "98.847 +- 0.019" in text         # the paper's numbers beside ours
    assert "90.250 +- 0.354" in text                                       # mean and sample std of the seeds
    assert "fashion-mnist" in text and "1.5  reproduced" in text and "1.1  inconclusive" in text


def test_missing_or_foreign_record_is_none(tmp_path):
    assert hessian.load_paper_scale(tmp_path / "absent.json") is None
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert hessian.load_paper_scale(bad) is None
    bad.write_text(json.dumps({"something": 1}))
    assert hessian.load_paper_scale(bad) is None
