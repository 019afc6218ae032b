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
