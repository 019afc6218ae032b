"""Claims and their verdicts, computed from a measured value and a rule
declared before the run (each chapter's *Decision rules*, from the project's
declared rules v1 and v2).

A verdict is one of ``reproduced``, ``not reproduced``, ``inconclusive``. It
is never typed by hand: :func:`decide` computes it from the measured value,
the comparison and the threshold, with the noise of a difference over seeds
(:mod:`landscape.experiment.stats`) where the rule asks for "beyond noise";
:func:`decide_non_inferior` applies the interval rule. A :class:`Claim` can
carry what the v2 principles ask of a rule: the score of its null (the rule
must fail on it), a manipulation check (a treatment that did not act makes the
verdict ``inconclusive``), the comparison's minimum detectable effect, and the
verdicts under other protocols (:attr:`Claim.protocol_dependent`).

"The claim holds in every case; report the worst case" is one combinator,
:func:`all_of` (order the cases worst first with :func:`worst_first`).

Example:
    >>> decide("0.1", "accuracy is high", 0.93, ">=", 0.9).verdict
    'reproduced'
    >>> from landscape.experiment.stats import difference
    >>> decide("0.2", "training helps", 0.1, ">", 0.0, noise=difference([0.9, 0.91, 0.92], [0.8, 0.81, 0.82])).verdict
    'reproduced'
    >>> parts = [decide("1", "mlp", 0.2, "<=", 0.5), decide("1", "cnn", 0.7, "<=", 0.5)]
    >>> c = all_of("1", "every model", parts)
    >>> c.verdict, c.value
    ('not reproduced', 0.7)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from typing import Any, Mapping, Sequence

import numpy as np

from ..validation import check_choice
from .stats import Difference, non_inferiority

__all__ = ["VERDICTS", "Claim", "Check", "compare", "decide", "decide_non_inferior", "all_of", "worst_first",
           "underpowered", "fraction", "beside", "in_most"]

VERDICTS = ("reproduced", "not reproduced", "inconclusive")
_OPS = ("<=", ">=", "<", ">", "in")


def compare(value: float, op: str, threshold: Any) -> bool:
    """``value op threshold``; for ``"in"`` the threshold is an inclusive ``[low, high]``. NaN never holds."""
    check_choice("op", op, _OPS)
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return False
    if op == "in":
        lo, hi = threshold
        return lo <= value <= hi
    return {"<=": value <= threshold, ">=": value >= threshold, "<": value < threshold, ">": value > threshold}[op]


@dataclass(frozen=True)
class Check:
    """A manipulation check: did the treatment act on what it targets?

    Attributes:
        what: what was checked ("the penalty lowered the trace").
        passed: whether it did, beyond noise.
        detail: the numbers.
    """

    what: str
    passed: bool
    detail: str = ""


@dataclass
class Claim:
    """A decided claim: what was measured, against what, and the verdict.

    Attributes:
        id, statement: the claim's id (``<chapter>.<n>``) and what it says.
        value, op, threshold: the measurement and the rule ``value op threshold``.
        verdict: one of :data:`VERDICTS`.
        detail: how it was decided (noise, cases, checks).
        null: the rule's measure on its null or control, which must fail the rule.
        mde: the comparison's minimum detectable effect (2 SE), where it compares arms.
        manipulation: the treatment's manipulation check, where there is a treatment.
        variants: protocol name -> verdict under that protocol (the headline
            verdict is the primary protocol's).
        null_label: what the rule's null is, when the rule names one (``null`` is its score).
        summary: one line on why the verdict is what it is (the chapter's verdict strip).
        v1: the same claim decided by the earlier rule (v1), shown beside this one.
        change: one line on why the rule changed from ``v1``'s.
    """

    id: str
    statement: str
    value: Any
    op: str
    threshold: Any
    verdict: str
    detail: str = ""
    null: float | None = None
    mde: float | None = None
    manipulation: Check | None = None
    variants: dict[str, str] = field(default_factory=dict)
    extra: dict = field(default_factory=dict)
    null_label: str = ""
    summary: str = ""
    v1: "Claim | None" = None
    change: str = ""

    @property
    def rule(self) -> str:
        t = f"[{self.threshold[0]:.4g}, {self.threshold[1]:.4g}]" if self.op == "in" else f"{self.threshold:.4g}"
        return f"{self.op} {t}"

    @property
    def protocol_dependent(self) -> bool:
        """True when some protocol variant's verdict differs from the headline verdict."""
        return any(v != self.verdict for v in self.variants.values())

    @property
    def null_fails(self) -> bool | None:
        """Whether the null fails the rule (it must); None when the claim names no null."""
        if self.null is None:
            return None
        return not compare(self.null, self.op, self.threshold)


def beside(v2: Claim, v1: Claim, change: str, *, summary: str = "") -> Claim:
    """``v2`` (the headline) with ``v1`` (the earlier rule's verdict of the same claim) and one
    line on why the rule changed; ``summary``, when given, the one-line reason for the strip."""
    if v2.id != v1.id:
        raise ValueError(f"Invalid v1: claim {v1.id!r} (must be the same claim as {v2.id!r})")
    return replace(v2, v1=v1, change=change, summary=summary or v2.summary)


def _number(id: str, value: Any) -> float:
    if not isinstance(value, (int, float, np.floating, np.integer)) or isinstance(value, bool):
        raise TypeError(f"claim {id}: the measured value must be a number, got {value!r}")
    return float(value)


def _checked(claim: Claim) -> Claim:
    """Apply the manipulation check: a treatment that did not act makes the verdict inconclusive."""
    m = claim.manipulation
    if m is not None and not m.passed:
        claim.verdict = "inconclusive"
        claim.detail = f"treatment inactive: {m.what} failed ({m.detail})" + (f"; {claim.detail}" if claim.detail else "")
    return claim


def decide(
    id: str,
    statement: str,
    value: float,
    op: str,
    threshold: Any,
    *,
    noise: Difference | None = None,
    detail: str = "",
    null: float | None = None,
    manipulation: Check | None = None,
    variants: Mapping[str, str] | None = None,
) -> Claim:
    """Decide a claim: ``reproduced`` when ``value op threshold`` holds.

    With ``noise`` (a :class:`~landscape.experiment.stats.Difference` whose sign
    the claim is about), the comparison must also be beyond noise: when it is not
    (too few seeds, or ``|diff| <= 2 stderr``) the verdict is ``inconclusive``,
    and the claim carries the comparison's MDE. A non-finite value is
    ``inconclusive`` (the experiment did not give a number). A failed
    ``manipulation`` check makes any verdict ``inconclusive``. ``null`` (the
    rule's measure on its null) and ``variants`` are recorded, not used.
    """
    value = _number(id, value)
    if not math.isfinite(value):
        verdict = "inconclusive"
        detail = detail or "the measurement is not finite"
    elif noise is not None and not noise.beyond:
        verdict = "inconclusive"
        why = "too few seeds" if not noise.enough_seeds else "difference within 2 standard errors"
        detail = (f"{detail}; " if detail else "") + f"{why}: {noise}"
    else:
        verdict = "reproduced" if compare(value, op, threshold) else "not reproduced"
        if noise is not None:
            detail = (f"{detail}; " if detail else "") + f"difference {noise}"
    return _checked(Claim(id, statement, value, op, threshold, verdict, detail, null=null,
                          mde=None if noise is None else noise.mde, manipulation=manipulation, variants=dict(variants or {})))


def decide_non_inferior(id: str, statement: str, diff: Difference, margin: float, *, detail: str = "",
                        null: float | None = None, manipulation: Check | None = None,
                        variants: Mapping[str, str] | None = None) -> Claim:
    """Non-inferiority "A >= B - margin" on ``diff = A - B``, by the interval rule
    (:func:`~landscape.experiment.stats.non_inferiority`). The value shown is the
    lower end :math:`\\bar d - 2\\,\\mathrm{SE}`, the rule ``>= -margin``."""
    verdict = non_inferiority(diff, margin)
    why = f"difference {diff}, interval [{diff.lower:+.4g}, {diff.upper:+.4g}]"
    if not diff.enough_seeds:
        why = f"too few seeds: {diff}"
    return _checked(Claim(id, statement, float(diff.lower), ">=", -float(margin), verdict,
                          (f"{detail}; " if detail else "") + why, null=null, mde=diff.mde,
                          manipulation=manipulation, variants=dict(variants or {})))


def underpowered(claim: Claim, paper_effect: float) -> Claim:
    """The power principle: a null result (``not reproduced`` for lack of an effect)
    whose MDE exceeds the effect the paper reports is ``inconclusive``, with
    detail ``underpowered: MDE X > paper's effect Y``. Other claims are returned as they are."""
    if claim.verdict != "not reproduced" or claim.mde is None or not claim.mde > paper_effect:
        return claim
    return replace(claim, verdict="inconclusive",
                   detail=f"underpowered: MDE {claim.mde:.3g} > paper's effect {paper_effect:.3g}; {claim.detail}")


def _slack(c: Claim) -> float:
    """How far ``c.value`` is on the good side of its rule (negative: the wrong side; NaN: -inf)."""
    v = c.value
    if not isinstance(v, (int, float)) or not math.isfinite(v):
        return -math.inf
    if c.op in (">", ">="):
        return v - c.threshold
    if c.op in ("<", "<="):
        return c.threshold - v
    lo, hi = c.threshold
    return min(v - lo, hi - v)


def worst_first(parts: Sequence[Claim]) -> list[Claim]:
    """``parts`` ordered from the case farthest on the wrong side of its rule to the
    safest (a non-finite value first); stable, so ties keep their order."""
    return sorted(parts, key=_slack)


def all_of(id: str, statement: str, parts: Sequence[Claim]) -> Claim:
    """One verdict for a claim that must hold in every case: ``reproduced`` when
    every part is, ``not reproduced`` when any part is not, else ``inconclusive``.

    The value, comparison and threshold shown are those of the first part (in the
    order given - see :func:`worst_first`) whose verdict is the combined one,
    preferring a finite value; the detail lists every part. The parts' nulls,
    MDEs and variants are not combined: set them on the result when the rule
    defines them for the whole claim.
    """
    if not parts:
        raise ValueError("Invalid parts: [] (must hold at least one decided case)")
    verdicts = [c.verdict for c in parts]
    if all(v == "reproduced" for v in verdicts):
        verdict = "reproduced"
    elif "not reproduced" in verdicts:
        verdict = "not reproduced"
    else:
        verdict = "inconclusive"
    finite = lambda c: isinstance(c.value, (int, float)) and math.isfinite(c.value)
    deciding = [c for c in parts if c.verdict == verdict]
    shown = next((c for c in deciding if finite(c)), next((c for c in parts if finite(c)), deciding[0]))
    detail = "; ".join(f"[{c.statement}: {c.value:.4g} {c.rule} -> {c.verdict}{' (' + c.detail + ')' if c.detail else ''}]"
                       for c in parts)
    return Claim(id, statement, shown.value, shown.op, shown.threshold, verdict, detail)


def fraction(values: Sequence[float], test) -> float:
    """The fraction of the finite ``values`` that pass ``test`` ("most layers"); NaN when none is finite."""
    v = [x for x in values if isinstance(x, (int, float, np.floating)) and math.isfinite(x)]
    return float(np.mean([bool(test(x)) for x in v])) if v else math.nan


def in_most(id: str, statement: str, per_seed: Sequence[Claim], *, at_least: int, op_text: str = "") -> Claim:
    """A rule that must hold "in at least ``at_least`` of the seeds": ``reproduced`` when at
    least that many per-seed parts are, ``not reproduced`` when so many are not that it can no
    longer happen, else ``inconclusive``. The value is the number of seeds where the part holds."""
    if not per_seed:
        raise ValueError("Invalid per_seed: [] (must hold one decided part per seed)")
    n = len(per_seed)
    held = sum(c.verdict == "reproduced" for c in per_seed)
    failed = sum(c.verdict == "not reproduced" for c in per_seed)
    if held >= at_least:
        verdict = "reproduced"
    elif n - failed < at_least:
        verdict = "not reproduced"
    else:
        verdict = "inconclusive"
    detail = f"holds in {held} of {n} seeds (needs {at_least}); " + "; ".join(
        f"[{c.statement}: {c.value:.4g} {c.rule} -> {c.verdict}]" for c in per_seed)
    return Claim(id, statement, float(held), ">=", float(at_least), verdict, detail)
