"""Independent units computed in several processes: the same results, in the order of the calls."""

from __future__ import annotations

import pytest

from landscape.experiment.parallel import compute
from landscape.training.curves import trailing_mean


CALLS = [(trailing_mean, {"values": [float(i), float(i) + 2.0, 0.0], "window": 2}) for i in range(5)]


def test_workers_give_the_same_results_in_order():
    one = [r.tolist() for r in compute(CALLS, workers=1)]
    assert one[3] == [3.0, 4.0, 2.5]                                  # trailing means of [3, 5, 0], window 2
    assert [r.tolist() for r in compute(CALLS, workers=2)] == one


def test_an_error_in_a_unit_reaches_the_caller_and_bad_workers_are_refused():
    with pytest.raises(ValueError):
        compute([*CALLS, (trailing_mean, {"values": [1.0], "window": 0})], workers=2)
    with pytest.raises(ValueError, match="workers"):
        compute(CALLS, workers=0)
    assert compute([], workers=2) == []


# --- fan-out: LANDSCAPE_SHARD=i/N ---------------------------------------------------------------------------

from landscape.experiment import parallel  # noqa: E402
from landscape.experiment.cache import cached  # noqa: E402

RUNS: list[int] = []


@cached("test/shard-unit")
def _unit(*, x: int) -> dict:
    RUNS.append(x)
    return {"y": x * x + 0.5}


UNITS = [(_unit, {"x": x}) for x in range(5)]


def test_shards_compute_their_share_and_then_read_every_result_from_the_cache(monkeypatch):
    RUNS.clear()
    monkeypatch.setenv("LANDSCAPE_SHARD", "0/2")
    with pytest.raises(parallel.ShardPending) as pending:
        compute(UNITS)
    assert sorted(RUNS) == [0, 2, 4] and (pending.value.computed, pending.value.missing) == (3, 2)
    monkeypatch.setenv("LANDSCAPE_SHARD", "1/2")
    before = parallel.shared_units()
    got = compute(UNITS, workers=2)           # its share in 2 worker processes, the rest read from the cache
    assert parallel.shared_units() - before == 2
    assert [r["y"] for r in got] == [x * x + 0.5 for x in range(5)]
    monkeypatch.setenv("LANDSCAPE_SHARD", "0/2")
    again = compute(UNITS)                    # all cached: nothing computed, the same results
    assert sorted(RUNS) == [0, 2, 4] and [r["y"] for r in again] == [r["y"] for r in got]
    monkeypatch.delenv("LANDSCAPE_SHARD")
    assert [r["y"] for r in compute(UNITS)] == [r["y"] for r in got]   # what an unsharded run reads


def test_a_call_that_is_not_cached_is_every_shards_share(monkeypatch):
    monkeypatch.setenv("LANDSCAPE_SHARD", "1/3")      # index 0 is not this shard's, but nothing could read it back
    assert [r.tolist() for r in compute(CALLS[:2])] == [[0.0, 1.0, 1.0], [1.0, 2.0, 1.5]]


@pytest.mark.parametrize("value", ["2/2", "-1/2", "a/b", "1"])
def test_a_bad_shard_is_refused(monkeypatch, value):
    monkeypatch.setenv("LANDSCAPE_SHARD", value)
    with pytest.raises(ValueError, match="Invalid LANDSCAPE_SHARD"):
        compute(UNITS)


def test_shards_need_the_cache(monkeypatch):
    monkeypatch.setenv("LANDSCAPE_SHARD", "0/2")
    monkeypatch.setenv("LANDSCAPE_CACHE", "off")
    with pytest.raises(RuntimeError, match="needs the results cache"):
        compute(UNITS)
