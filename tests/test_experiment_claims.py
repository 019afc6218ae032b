"""landscape.experiment.claims and .stats: verdicts, combinators and the statistics of the
decision rules, on numbers worked out by hand."""

import math

import pytest

from landscape.experiment.claims import (VERDICTS, Check, all_of, compare, decide, decide_non_inferior, fraction,
                                         underpowered, worst_first)
from landscape.experiment.stats import difference, non_inferiority, paired_difference


def test_compare_operators():
    assert compare(1.0, "<=", 1.0) and not compare(1.0, "<", 1.0)
    assert compare(0.5, "in", [1 / 3, 2 / 3]) and not compare(0.7, "in", [1 / 3, 2 / 3])
    assert not compare(float("nan"), ">=", 0.0)
    with pytest.raises(ValueError, match=r"Invalid op: '=>' \(must be one of"):
        compare(1.0, "=>", 0.0)


def test_unpaired_difference_matches_hand_computation():
    d = difference([1.0, 2.0, 3.0], [0.0, 0.0, 0.0])
    assert d.diff == pytest.approx(2.0)
    assert d.stderr == pytest.approx(math.sqrt(1.0 / 3))  # sample variance 1, n 3
    assert d.beyond and d.mde == pytest.approx(2 * math.sqrt(1 / 3))
    assert d.lower == pytest.approx(2 - 2 * math.sqrt(1 / 3)) and d.upper == pytest.approx(2 + 2 * math.sqrt(1 / 3))
    close = difference([1.0, 2.0, 3.0], [1.5, 1.5, 1.6])
    assert not close.beyond and close.enough_seeds
    few = difference([10.0, 10.1], [0.0, 0.1])
    assert not few.beyond and not few.enough_seeds
    assert difference([1.0], [0.0]).stderr == math.inf
    with pytest.raises(ValueError, match="Invalid a: empty"):
        difference([], [1.0])


def test_paired_difference_sees_what_the_unpaired_one_cannot():
    # a shared per-seed offset: large between seeds, constant between arms
    base = [0.0, 10.0, 20.0, 30.0, 40.0]
    a = [b + 0.1 for b in base]
    assert not difference(a, base).beyond
    d = paired_difference(a, base)
    assert d.paired and d.diff == pytest.approx(0.1) and d.stderr == pytest.approx(0.0, abs=1e-12) and d.beyond
    d2 = paired_difference([1.0, 2.0, 4.0], [0.0, 1.0, 2.0])  # differences 1, 1, 2: mean 4/3, sd 1/sqrt(3)
    assert d2.diff == pytest.approx(4 / 3) and d2.stderr == pytest.approx(1 / 3)
    with pytest.raises(ValueError, match="must pair seed by seed"):
        paired_difference([1.0, 2.0], [1.0])


def test_non_inferiority_interval_rule():
    # diff -0.2 +- 0.1: interval [-0.4, 0.0]
    d = paired_difference([0.8, 0.9, 1.0], [1.0, 1.1, 1.2])  # differences all -0.2 -> se 0
    assert non_inferiority(d, margin=0.5) == "reproduced" and non_inferiority(d, margin=0.1) == "not reproduced"
    wide = difference([0.0, 1.0, 2.0], [1.2, 1.2, 1.2])  # diff -0.2, se 1/sqrt(3): interval [-1.35, 0.95]
    assert non_inferiority(wide, margin=0.5) == "inconclusive"
    assert non_inferiority(difference([1.0, 2.0], [1.0, 2.0]), margin=0.5) == "inconclusive"  # too few seeds
    c = decide_non_inferior("2.1", "DANTE as good", wide, 0.5)
    assert c.verdict == "inconclusive" and c.value == pytest.approx(wide.lower) and c.rule == ">= -0.5"
    assert c.mde == pytest.approx(wide.mde) and "interval" in c.detail
    with pytest.raises(ValueError, match="Invalid margin"):
        non_inferiority(d, margin=-1.0)


def test_verdicts_are_computed():
    assert decide("x", "s", 0.95, ">=", 0.9).verdict == "reproduced"
    assert decide("x", "s", 0.85, ">=", 0.9).verdict == "not reproduced"
    assert decide("x", "s", float("nan"), ">=", 0.9).verdict == "inconclusive"
    up = difference([0.9, 0.91, 0.92], [0.80, 0.81, 0.82])
    assert decide("x", "s", up.diff, ">", 0, noise=up).verdict == "reproduced"
    down = difference([0.80, 0.81, 0.82], [0.9, 0.91, 0.92])
    assert decide("x", "s", down.diff, ">", 0, noise=down).verdict == "not reproduced"
    within = difference([0.80, 0.9, 0.85], [0.84, 0.86, 0.85])
    c = decide("x", "s", within.diff, ">", 0, noise=within)
    assert c.verdict == "inconclusive" and "2 standard errors" in c.detail and c.mde == pytest.approx(within.mde)
    assert {decide("x", "s", v, "<=", 0).verdict for v in (-1.0, 1.0)} <= set(VERDICTS)


def test_manipulation_check_null_and_variants():
    up = difference([0.9, 0.91, 0.92], [0.80, 0.81, 0.82])
    inactive = Check("the penalty lowered the trace", False, "trace 42.5 vs 41.9")
    c = decide("1.5", "s", up.diff, ">", 0, noise=up, manipulation=inactive)
    assert c.verdict == "inconclusive" and c.detail.startswith("treatment inactive: the penalty lowered the trace failed")
    assert decide("1.5", "s", up.diff, ">", 0, noise=up, manipulation=Check("t", True)).verdict == "reproduced"
    n = decide("1.1", "s", 0.1, "<=", 0.5, null=0.9)
    assert n.null == 0.9 and n.null_fails is True
    assert decide("1.1", "s", 0.1, "<=", 0.5, null=0.3).null_fails is False  # a rule its null passes: a defect to report
    assert decide("1.1", "s", 0.1, "<=", 0.5).null_fails is None
    v = decide("4.3", "s", 0.7, "<=", 0.8, variants={"equal lr": "not reproduced"})
    assert v.protocol_dependent and not decide("4.3", "s", 0.7, "<=", 0.8, variants={"equal lr": "reproduced"}).protocol_dependent


def test_underpowered_null_result_is_inconclusive():
    weak = decide("3.1", "s", 0.01, ">", 0.05, noise=paired_difference([1.0, 1.2, 0.9, 1.1], [1.0, 1.0, 1.0, 1.0]))
    weak.verdict = "not reproduced"  # as a rule "no meaningful rise" would decide it
    assert underpowered(weak, paper_effect=0.1).verdict == "inconclusive"
    assert "underpowered: MDE" in underpowered(weak, paper_effect=0.1).detail
    assert underpowered(weak, paper_effect=10.0).verdict == "not reproduced"
    ok = decide("x", "s", 1.0, ">", 0.0)
    assert underpowered(ok, 0.1) is ok


def test_all_of_holds_in_every_case_and_shows_the_deciding_one():
    good = [decide("1", "a", 0.2, "<=", 0.5), decide("1", "b", 0.4, "<=", 0.5)]
    c = all_of("1", "every model", good)
    assert c.verdict == "reproduced" and c.value == 0.2  # the first, in the order given
    assert all_of("1", "every model", worst_first(good)).value == 0.4  # worst first: the closest to failing
    bad = good + [decide("1", "c", 0.9, "<=", 0.5)]
    c = all_of("1", "every model", bad)
    assert c.verdict == "not reproduced" and c.value == 0.9 and "[c: 0.9 <= 0.5 -> not reproduced]" in c.detail
    mixed = good + [decide("1", "d", float("nan"), "<=", 0.5)]
    m = all_of("1", "every model", mixed)
    assert m.verdict == "inconclusive" and m.value == 0.2  # a finite value is shown when there is one
    with pytest.raises(ValueError, match="Invalid parts"):
        all_of("1", "s", [])


def test_worst_first_orders_by_distance_to_the_rule():
    parts = [decide("x", "a", 3.0, ">=", 1.0), decide("x", "b", 0.5, ">=", 1.0), decide("x", "c", float("nan"), ">=", 1.0),
             decide("x", "d", 0.2, "<=", 1.0), decide("x", "e", 0.5, "in", [0.0, 0.6])]
    assert [c.statement for c in worst_first(parts)] == ["c", "b", "e", "d", "a"]


def test_fraction_of_finite_values():
    assert fraction([1.0, -1.0, float("nan"), -2.0], lambda r: r < 0) == pytest.approx(2 / 3)
    assert math.isnan(fraction([float("nan")], lambda r: True))


def test_rule_text_and_bad_value():
    assert decide("1.2", "s", 0.5, "in", [1 / 3, 2 / 3]).rule == "in [0.3333, 0.6667]"
    with pytest.raises(TypeError, match="must be a number"):
        decide("x", "s", "high", ">=", 0.5)


def test_in_most_seeds():
    from landscape.experiment.claims import in_most

    part = lambda v: decide("1.1", "seed", v, "<=", 0.5)
    assert in_most("1.1", "s", [part(v) for v in (0.1, 0.2, 0.9, 0.3, 0.4)], at_least=4).verdict == "reproduced"
    c = in_most("1.1", "s", [part(v) for v in (0.1, 0.9, 0.9, float("nan"), 0.4)], at_least=4)
    assert c.verdict == "not reproduced" and c.value == 2.0 and "holds in 2 of 5 seeds (needs 4)" in c.detail
    assert in_most("1.1", "s", [part(v) for v in (0.1, 0.2, 0.9, float("nan"), 0.4)], at_least=4).verdict == "inconclusive"
    with pytest.raises(ValueError, match="Invalid per_seed"):
        in_most("1.1", "s", [], at_least=4)


def test_beside_keeps_v1_and_the_reason():
    from landscape.experiment.claims import beside

    v2, v1 = decide("1.1", "v2", 0.7, "<=", 0.5), decide("1.1", "v1", 0.004, "<=", 0.1)
    c = beside(v2, v1, "a point mass at zero passed v1")
    assert c.verdict == "not reproduced" and c.v1.verdict == "reproduced" and c.change == "a point mass at zero passed v1"
    with pytest.raises(ValueError, match="must be the same claim"):
        beside(v2, decide("1.2", "x", 1.0, ">", 0.0), "x")
