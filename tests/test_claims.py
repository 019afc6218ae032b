import math

import pytest

from landscape.claims import VERDICTS, beyond_noise, compare, decide


def test_compare_operators():
    assert compare(1.0, "<=", 1.0) and not compare(1.0, "<", 1.0)
    assert compare(0.5, "in", [1 / 3, 2 / 3]) and not compare(0.7, "in", [1 / 3, 2 / 3])
    assert not compare(float("nan"), ">=", 0.0)
    with pytest.raises(ValueError, match="Invalid op"):
        compare(1.0, "=>", 0.0)


def test_beyond_noise_matches_hand_computation():
    a, b = [1.0, 2.0, 3.0], [0.0, 0.0, 0.0]
    d = beyond_noise(a, b)
    assert d.diff == pytest.approx(2.0)
    assert d.stderr == pytest.approx(math.sqrt(1.0 / 3))  # sample var 1, n 3
    assert d.beyond  # 2 > 2 * 0.577
    close = beyond_noise([1.0, 2.0, 3.0], [1.5, 1.5, 1.6])
    assert not close.beyond and close.enough_seeds
    few = beyond_noise([10.0, 10.1], [0.0, 0.1])
    assert not few.beyond and not few.enough_seeds


def test_verdicts_are_computed():
    assert decide("x", "s", 0.95, ">=", 0.9).verdict == "reproduced"
    assert decide("x", "s", 0.85, ">=", 0.9).verdict == "not reproduced"
    assert decide("x", "s", float("nan"), ">=", 0.9).verdict == "inconclusive"
    up = beyond_noise([0.9, 0.91, 0.92], [0.80, 0.81, 0.82])
    assert decide("x", "s", up.diff, ">", 0, noise=up).verdict == "reproduced"
    down = beyond_noise([0.80, 0.81, 0.82], [0.9, 0.91, 0.92])
    assert decide("x", "s", down.diff, ">", 0, noise=down).verdict == "not reproduced"
    within = beyond_noise([0.80, 0.9, 0.85], [0.84, 0.86, 0.85])
    c = decide("x", "s", within.diff, ">", 0, noise=within)
    assert c.verdict == "inconclusive" and "2 standard errors" in c.detail
    assert {decide("x", "s", v, "<=", 0).verdict for v in (-1.0, 1.0)} <= set(VERDICTS)


def test_rule_text_and_bad_value():
    assert decide("1.2", "s", 0.5, "in", [1 / 3, 2 / 3]).rule == "in [0.3333, 0.6667]"
    with pytest.raises(TypeError, match="must be a number"):
        decide("x", "s", "high", ">=", 0.5)
