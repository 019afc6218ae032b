"""The toolkit chapter's claims(), fed synthetic numbers: each claim reproduced, not, and inconclusive;
and its peer-comparison view without results.json."""

from __future__ import annotations

import math

import pytest

from landscape.chapters import toolkit
from landscape.chapters.toolkit.experiments import Results
from landscape.publishing.runner import notebook_defaults

from conftest import REPO

P = toolkit.SCHEMA.validate(notebook_defaults(REPO / toolkit.NOTEBOOK))
GOOD = {"eig_max_err": 1e-14, "slq_w1": 1e-3, "trace_coverage": 0.95, "block_max_err": 1e-15, "penalty": {"z": 0.5}}
BAD = {"eig_max_err": 1e-3, "slq_w1": 0.1, "trace_coverage": 0.5, "block_max_err": 1e-4, "penalty": {"z": 8.0}}
NAN = {"eig_max_err": math.nan, "slq_w1": math.nan, "trace_coverage": math.nan, "block_max_err": math.nan, "penalty": {"z": math.nan}}


def verdicts(numbers) -> list[str]:
    return [c.verdict for c in toolkit.claims(Results(None, None, {}, {}, numbers), P)]


@pytest.mark.parametrize("numbers, verdict", [(GOOD, "reproduced"), (BAD, "not reproduced"), (NAN, "inconclusive")])
def test_each_claim(numbers, verdict):
    assert verdicts(numbers) == [verdict] * 5


def test_each_claim_reads_its_own_number():
    for key in GOOD:
        mixed = {**GOOD, key: BAD[key]}
        v = verdicts(mixed)
        assert v.count("not reproduced") == 1, key


def test_claims_carry_the_declared_thresholds():
    c = toolkit.claims(Results(None, None, {}, {}, GOOD), P)
    assert [x.id for x in c] == ["6.1", "6.2", "6.3", "6.4", "6.5"]
    assert c[0].threshold == P.eig_rel_tol and c[2].op == ">=" and c[2].threshold == P.coverage_min


def test_bench_view_without_results_or_peers(tmp_path):
    v = toolkit.bench.view("json", None, device="cpu", path=tmp_path / "absent.json")
    assert v.source == "off" and v.met is None and "skipped" in v.intro[0]


def test_the_distributed_bench_table_reads_its_json(tmp_path):
    import json

    from landscape.chapters.toolkit.bench import distributed_table

    caption, df = distributed_table(tmp_path / "absent.json")
    assert df is None and "python bench/distributed.py" in caption
    (tmp_path / "d.json").write_text(json.dumps({
        "k": 4, "backend": "gloo", "n_params": 269322, "examples": 2048, "one_process_s": 0.5, "two_ranks_s": 0.7,
        "ratio": 1.4, "max_rel_difference": 3e-9, "meta": {"command": "python bench/distributed.py --k 4",
                                                           "cpu_count": 2, "load_average_start": 2.5}}))
    caption, df = distributed_table(tmp_path / "d.json")
    assert df["processes"].tolist() == ["1 process", "2 gloo ranks"]
    assert df["examples per process"].tolist() == [2048, 1024]
    assert df["seconds per block (k = 4, median)"].tolist() == [0.5, 0.7]
    assert df["time / 1 process"].tolist() == [1.0, 1.4] and df["max rel. difference to 1 process"].iloc[1] == 3e-9
    assert "269,322 parameters" in caption and "load average 2.5" in caption and "not a speed-up" in caption
