"""The trajectories chapter's claims(), fed synthetic runs: 3.1-3.3 reproduced, not, and inconclusive;
the weakest case is the one shown; the schema's rules between parameters."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from landscape.chapters import trajectories as tj
from landscape.chapters.trajectories.claims import weakest_first
from landscape.chapters.trajectories.experiments import KINDS, Results
from landscape.experiment.params import ParameterError
from landscape.experiment.stats import difference
from landscape.publishing.runner import notebook_defaults

from conftest import REPO

P = tj.SCHEMA.validate(notebook_defaults(REPO / tj.NOTEBOOK)).replace(depths=[2, 3], depth=3, claim_init="small")
SEEDS = 10


def runs(er: float, success: float, *, spread: float = 0.01, seed: int = 0) -> dict:
    """A batch of SEEDS runs whose effective rank is about ``er`` and a share ``success`` of which end at the optimum."""
    g = np.random.default_rng(seed)
    e = er + spread * g.standard_normal(SEEDS)
    ok = np.arange(SEEDS) < round(success * SEEDS)
    loss = np.where(ok, 1.0, 2.0)[:, None] * np.ones((SEEDS, 3))  # L* = 1: gap 0 or 1
    return {"effective_rank": np.repeat(e[:, None], 3, 1), "loss": loss, "loss_star": 1.0, "iteration": np.arange(3.0),
            "numerical_rank": np.full((SEEDS, 3), 3), "width": 3, "magnitude": 0.1}


def section(none_er: float, noise_er: dict | float, none_success=0.2, noise_success=0.8, spread=0.01) -> dict:
    noise_er = noise_er if isinstance(noise_er, dict) else {k: noise_er for k in KINDS}
    out = {"none": runs(none_er, none_success, spread=spread)}
    out.update({k: runs(noise_er[k], noise_success, spread=spread, seed=i + 1) for i, k in enumerate(KINDS)})
    return out


def results(sec_small: dict, by_depth: dict | None = None) -> Results:
    secs = {init: sec_small for init in ("ordinary", "small", "deficient", "zero")}
    by_depth = by_depth or {2: sec_small, 3: sec_small}
    return Results(torch.zeros(1, 1), torch.zeros(1, 1), [2.0, 1.0], secs, {}, by_depth, {}, [], P.gap_tol, "small")


def verdicts(r: Results) -> dict[str, str]:
    return {c.id: c.verdict for c in tj.claims(r, P)}


def test_reproduced():
    assert verdicts(results(section(1.0, 2.0))) == {"3.1": "reproduced", "3.2": "reproduced", "3.3": "reproduced"}


def test_not_reproduced():
    low = section(2.0, {**{k: 2.5 for k in KINDS}, "label": 1.0}, none_success=0.8, noise_success=0.2)  # one kind lower
    v = verdicts(results(low))
    assert v == {"3.1": "not reproduced", "3.2": "not reproduced", "3.3": "not reproduced"}
    c31 = tj.claims(results(low), P)[0]
    assert c31.value == pytest.approx(difference(low["label"]["effective_rank"].mean(1), low["none"]["effective_rank"].mean(1)).diff)
    assert "label" in c31.detail


def test_inconclusive():
    same = section(1.0, 1.0, none_success=0.5, noise_success=0.5, spread=0.5)  # no difference beyond noise
    assert verdicts(results(same)) == {"3.1": "inconclusive", "3.2": "inconclusive", "3.3": "inconclusive"}


def test_one_depth_decides_3_3():
    good, bad = section(1.0, 2.0), section(2.0, 1.0)
    v = verdicts(results(good, {2: good, 3: bad}))
    assert v["3.1"] == "reproduced" and v["3.3"] == "not reproduced"


def test_weakest_first_order():
    d = {"a": difference([1.0, 1.1, 1.2], [0.0, 0.0, 0.0]), "b": difference([0.1, 0.3, 0.2], [0.0, 0.0, 0.0]),
         "c": difference([-1.0, -1.1, -1.2], [0.0, 0.0, 0.0]), "d": difference([-0.2, -0.3, -0.4], [0.0, 0.0, 0.0])}
    assert [k for k, _ in weakest_first(d)] == ["c", "d", "b", "a"]


@pytest.mark.parametrize("change, names", [
    ({"planted_rank": 9}, "'planted_rank', 'd_in', 'd_out'"),
    ({"dead_units": 4, "width": 3}, "'dead_units', 'width'"),
    ({"record_every": 5000}, "'record_every', 'iterations'"),
])
def test_schema_rules_name_every_parameter(change, names):
    with pytest.raises(ParameterError, match=f"parameters {names}"):
        P.replace(**change)
