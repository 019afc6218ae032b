"""Hessian products across processes (issue 20): two gloo ranks on 127.0.0.1 against the single-process operator
on the concatenated data, in float64 (``tests/distributed_worker.py`` runs the ranks)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from landscape.curvature import HessianOperator

import distributed_worker as W

SCENARIOS = ["uneven", "empty", "strided", "sum", "ddp", "bad_rank"]


@pytest.fixture(scope="module")
def ranks():
    """Every scenario on two ranks, in one launch (each process imports torch once)."""
    return W.launch(SCENARIOS)


def reference(loss_fn=F.cross_entropy) -> dict:
    model, batches = W.problem()
    torch.set_num_threads(1)
    return W.results(HessianOperator(model, loss_fn, batches))


def _ok(out: dict, name: str) -> dict:
    assert "__setup__" not in out, out.get("__setup__", {}).get("traceback")
    assert "error" not in out[name], out[name].get("traceback")
    return out[name]


@pytest.mark.parametrize("name", ["uneven", "empty", "strided", "ddp"])
def test_every_rank_gets_the_single_process_answer(ranks, name):
    ref = reference()
    r0, r1 = _ok(ranks[0], name), _ok(ranks[1], name)
    scale = float(ref["products"].norm())
    for r in (r0, r1):
        assert float((r["products"] - ref["products"]).norm()) <= 1e-12 * scale
        assert torch.allclose(r["top"], ref["top"], rtol=1e-10, atol=0)
        assert r["trace"] == pytest.approx(ref["trace"], rel=1e-10)
        assert r["samples"] == ref["samples"] == 26
    # the same bits on both ranks: the all-reduce result is shared, and so is every step after it
    assert torch.equal(r0["products"], r1["products"]) and torch.equal(r0["top"], r1["top"])
    assert r0["trace"] == r1["trace"] and r0["trace_se"] == r1["trace_se"]


def test_a_sum_loss_is_summed_over_every_rank(ranks):
    ref = reference(nn.CrossEntropyLoss(reduction="sum"))
    for rank in (0, 1):
        r = _ok(ranks[rank], "sum")
        assert float((r["products"] - ref["products"]).norm()) <= 1e-12 * float(ref["products"].norm())
        assert torch.allclose(r["top"], ref["top"], rtol=1e-10, atol=0)


def test_a_rank_that_cannot_read_its_shard_fails_every_rank_by_name(ranks):
    assert "NaN or infinite values" in ranks[1]["bad_rank"]["error"]
    assert ranks[0]["bad_rank"]["error"].startswith("RankFailure: HessianOperator: rank(s) [1] of the process group "
                                                    "failed to read their data")


def test_a_rank_that_dies_is_reported_and_nothing_hangs():
    got = W.launch(["crash"], timeout=120)
    assert got[1]["crash"]["error"] == "RuntimeError: rank 1 failed on purpose"
    assert "error" in got[0]["crash"]               # rank 0's collective fails (peer gone), it does not wait forever


def test_process_group_needs_torch_distributed():
    model, batches = W.problem()
    with pytest.raises(RuntimeError, match="torch.distributed is not initialized"):
        HessianOperator(model, F.cross_entropy, batches, process_group=True)
