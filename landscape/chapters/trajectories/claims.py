r"""The trajectories chapter's claims 3.1-3.3, decided by the rules of its parameters cell
(``book/trajectories.ipynb``; the last block of :mod:`.schema`), in two versions.

**v2, the headline** (the project's decision rules v2, declared before any v2 run). Every
comparison is *paired*: the runs of a seed share the start and the data, so the test uses the
per-seed differences :math:`d_i = a_i - b_i`, :math:`\mathrm{SE} = s_d / \sqrt n`, and the
interval :math:`[\bar d - 2\,\mathrm{SE}, \bar d + 2\,\mathrm{SE}]` (MDE :math:`= 2\,\mathrm{SE}`).

- 3.1, per kind of noise, on the effective rank of the product averaged over the matched
  iterations, noise - none, from ``claim_init`` at ``depth`` (:func:`rise`):

  - ``not reproduced`` when :math:`\bar d + 2\,\mathrm{SE} <` ``min_rise`` (no meaningful rise:
    even the top of the interval is below it);
  - else ``reproduced`` when :math:`\bar d - 2\,\mathrm{SE} >` ``rank_margin`` (higher beyond
    noise; with ``rank_margin`` = 0 exactly v1's "beyond noise", paired);
  - else ``inconclusive``;

  after the manipulation check "the noise changed the loss path"
  (:func:`~.experiments.path_change` > 0 beyond noise; else ``inconclusive``, treatment
  inactive). The claim holds when every kind does (:func:`~landscape.experiment.claims.all_of`).
- 3.2: the paired per-seed difference of success (final gap <= ``gap_tol``), averaged over the
  kinds, minus noiseless, > ``success_margin`` beyond noise (pooled, as v1, paired); each kind's
  verdict by the same rule is reported beside (:func:`success_parts`), not combined.
- 3.3: 3.1's rule at every depth of ``depths``, the start rescaled so that the initial product
  has the same Frobenius norm at every depth (:func:`~.experiments.start_norm`); the variant
  "fixed per-layer scale" (v1's starts) is decided by the same rule and reported in
  :attr:`~landscape.experiment.claims.Claim.variants`.

Each rule's null is the noiseless batch against itself (same start, same data): its paired
difference is exactly :math:`0 \pm 0`, which must fail the rule (:func:`null_claims`).

**v1** (:func:`claims_v1`, shown beside): the rules the chapter was first published with -
unpaired differences of means over seeds, beyond noise at 2 standard errors; 3.3 at v1's fixed
per-layer scale.

"For each" is :func:`~landscape.experiment.claims.all_of` over the cases, ordered so that
the case shown is the weakest (:func:`weakest_first`).
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any, Callable, Mapping

import numpy as np

from ...experiment.claims import Check, Claim, all_of, beside, decide
from ...experiment.params import Params
from ...experiment.stats import Difference, difference, paired_difference
from .experiments import (KINDS, PROTOCOLS, Results, paired_rank_differences, path_change, pooled_success,
                          rank_differences, rank_given_success, success_by_kind, summary)

__all__ = ["claims", "claims_v1", "claims_v2", "claims_by_setting", "weakest_first", "rise", "acted", "rank_parts",
           "success_parts", "null_claims", "null_section", "claim_glue", "NULLS", "CHANGES", "NULL_LABEL"]

#: what each rule's null is
NULL_LABEL = "noiseless GD against itself (same start and data): a paired difference of exactly 0 +- 0"
#: claims whose v2 rule names a null (the ledger refuses them without the null's glued score)
NULLS = {"3.1": NULL_LABEL, "3.2": NULL_LABEL, "3.3": NULL_LABEL}

#: why each rule changed from v1 to v2 (one line, shown beside the two verdicts)
CHANGES = {
    "3.1": "v1 compared unpaired means, which cannot tell a paired difference of about zero (input and label noise) from "
           "noise: v2 pairs the seeds and calls a kind whose interval lies below a rise of min_rise not reproduced",
    "3.2": "v2 pairs the seeds (the arms share starts and data) and reports each kind of noise beside the pooled verdict, "
           "which v1 hid",
    "3.3": "v1's fixed per-layer start scale put the depth-4 product near 1e-8, where no run leaves the zero saddle and the "
           "effective rank cannot see scale: v2 starts every depth at one product norm (v1's starts kept as a variant)",
}


# ---------------------------------------------------------------------------
# v1: the rules the chapter was first published with (unchanged)


def weakest_first(diffs: Mapping[Any, Difference]) -> list[tuple[Any, Difference]]:
    """The cases of a "for each" comparison, weakest first: differences at or below zero beyond
    noise (most negative first), then the others by their lower bound ``diff - 2 stderr``."""
    if not diffs:
        raise ValueError("Invalid diffs: {} (must hold at least one comparison)")
    against = sorted(((k, d) for k, d in diffs.items() if d.beyond and d.diff <= 0), key=lambda kv: kv[1].diff)
    rest = sorted(((k, d) for k, d in diffs.items() if not (d.beyond and d.diff <= 0)), key=lambda kv: kv[1].diff - 2 * kv[1].stderr)
    return against + rest


def _for_each(id: str, statement: str, diffs: Mapping[Any, Difference], margin: float, label) -> Claim:
    parts = [decide(id, label(k), d.diff, ">", margin, noise=d) for k, d in weakest_first(diffs)]
    return all_of(id, statement, parts)


def claims_v1(results: Results, p: Params) -> list[Claim]:
    """Claims 3.1-3.3 by the v1 rules (unpaired differences of means, beyond noise; 3.3 at the fixed per-layer scale)."""
    gt, ci = p.gap_tol, p.claim_init
    sec = results.sections[ci]
    c31 = _for_each("3.1", f"Each kind of noise yields a higher effective rank of the product than noiseless GD at matched "
                    f"iterations ({ci} start, H = {p.depth}; weakest kind)", rank_differences(sec, gt), p.rank_margin,
                    lambda k: f"{k}: effective rank, noise - none")
    noisy, clean = pooled_success(sec, gt)
    d32 = difference(noisy, clean)
    per_kind = {k: summary(sec[k], gt)["success"].mean() for k in KINDS if k in sec}
    full = rank_given_success(results.sections, gt)
    c32 = decide("3.2", f"Noise raises the fraction of runs within {gt:.0%} of the closed-form optimum loss ({ci} start; mean "
                 f"over kinds minus noiseless)", d32.diff, ">", p.success_margin, noise=d32,
                 detail=f"noiseless {clean.mean():.2f}; " + ", ".join(f"{k} {v:.2f}" for k, v in per_kind.items())
                 + f"; full rank at end -> within gap {full['success_given_full']:.2f}, rank-deficient -> "
                 f"{full['success_given_deficient']:.2f}")
    d33 = {(d, k): diff for d in p.depths for k, diff in rank_differences(results.by_depth[d], gt).items()}
    c33 = _for_each("3.3", f"Claim 3.1 holds at every depth tried (H in {list(p.depths)}; weakest depth and kind)", d33,
                    p.rank_margin, lambda dk: f"H = {dk[0]}, {dk[1]}: effective rank, noise - none")
    return [c31, c32, c33]


# ---------------------------------------------------------------------------
# v2


def acted(kind: str, res: Mapping[str, Any], base: Mapping[str, Any]) -> Check:
    """The manipulation check of one kind of noise: it changed the loss path, paired by seed
    (:func:`~.experiments.path_change` > 0 beyond noise, against the noiseless batch's exact 0)."""
    change = path_change(res, base)
    d = paired_difference(change, np.zeros_like(change))
    return Check(f"{kind} noise changed the loss path", bool(d.beyond and d.diff > 0),
                 f"mean |L - L_none| / L* over the path {d}")


def rise(id: str, statement: str, d: Difference, p: Params, *, manipulation: Check | None = None) -> Claim:
    r"""The v2 rule of claims 3.1 and 3.3 on one paired difference ``d`` (noise - none):
    ``not reproduced`` when :math:`\bar d + 2\,\mathrm{SE} <` ``p.min_rise`` (no meaningful rise),
    else ``reproduced`` when :math:`\bar d - 2\,\mathrm{SE} >` ``p.rank_margin`` (higher beyond
    noise), else ``inconclusive``; too few seeds or a non-finite difference: ``inconclusive``.
    The value shown is the lower end :math:`\bar d - 2\,\mathrm{SE}`, the rule ``> rank_margin``;
    a failed ``manipulation`` check makes the verdict ``inconclusive``."""
    finite = math.isfinite(d.diff) and not math.isnan(d.stderr)
    lo, hi = d.lower, d.upper
    why = f"paired difference {d}, interval [{lo:+.4g}, {hi:+.4g}], MDE {d.mde:.3g}"
    if not d.enough_seeds or not finite:
        verdict, why = "inconclusive", ("too few seeds: " if finite else "not finite: ") + why
    elif hi < p.min_rise:
        verdict = "not reproduced"
        why += f"; upper end below {p.min_rise:g}: no meaningful rise"
    elif lo > p.rank_margin:
        verdict = "reproduced"
    else:
        verdict = "inconclusive"
        why += f"; the interval straddles {p.rank_margin:g} and reaches {p.min_rise:g}"
    c = Claim(id, statement, float(lo) if finite else math.nan, ">", float(p.rank_margin), verdict, why, mde=d.mde,
              manipulation=manipulation)
    if manipulation is not None and not manipulation.passed:
        c.verdict = "inconclusive"
        c.detail = f"treatment inactive: {manipulation.what} failed ({manipulation.detail}); {c.detail}"
    return c


def _weakest(parts: list[Claim]) -> list[Claim]:
    """Cases of a "for every kind" rule, the one that decides first: not reproduced, then
    inconclusive, then reproduced (within each, the lowest lower end first)."""
    rank = {"not reproduced": 0, "inconclusive": 1, "reproduced": 2}
    key = lambda c: (rank[c.verdict], c.value if isinstance(c.value, float) and math.isfinite(c.value) else -math.inf)
    return sorted(parts, key=key)


def rank_parts(section: Mapping[str, dict], p: Params, *, prefix: str = "", id: str = "3.1") -> dict[str, Claim]:
    """Claim 3.1's rule (:func:`rise`) for each kind of ``section`` (kind -> runs): kind -> decided part."""
    diffs = paired_rank_differences(section, p.gap_tol)
    return {k: rise(id, f"{prefix}{k}: effective rank, noise - none (paired, lower end)", d, p,
                    manipulation=acted(k, section[k], section["none"])) for k, d in diffs.items()}


def null_section(section: Mapping[str, dict]) -> dict[str, dict]:
    """The rules' null: every kind's runs replaced by the noiseless runs (the noiseless batch against itself)."""
    return {"none": section["none"], **{k: section["none"] for k in KINDS if k in section}}


def _null_difference(section: Mapping[str, dict], key: str, gap_tol: float) -> Difference:
    v = summary(section["none"], gap_tol)[key]
    return paired_difference(v, v)


def _pooled(id: str, statement: str, section: Mapping[str, dict], p: Params) -> Claim:
    """Claim 3.2's rule: pooled success, paired, > success_margin beyond noise, after every kind's check."""
    gt = p.gap_tol
    noisy, clean = pooled_success(section, gt)
    d = paired_difference(noisy, clean)
    checks = [acted(k, section[k], section["none"]) for k in KINDS if k in section]
    every = Check("every kind of noise changed the loss path", all(c.passed for c in checks),
                  "; ".join(f"{c.what}: {'yes' if c.passed else 'no'}" for c in checks))
    return decide(id, statement, d.diff, ">", p.success_margin, noise=d, manipulation=every,
                  detail=f"noiseless {clean.mean():.2f}, noise (mean over kinds) {noisy.mean():.2f}")


def success_parts(section: Mapping[str, dict], p: Params, id: str = "3.2") -> dict[str, Claim]:
    """Claim 3.2 per kind (reported, not combined): paired success difference > success_margin beyond noise."""
    return {k: decide(id, f"{k}: fraction within the gap, noise - none (paired)", d.diff, ">", p.success_margin, noise=d,
                      manipulation=acted(k, section[k], section["none"]))
            for k, d in success_by_kind(section, p.gap_tol).items()}


def _c31(section: Mapping[str, dict], p: Params, where: str) -> Claim:
    parts = rank_parts(section, p)
    c = all_of("3.1", f"Each kind of noise yields a higher effective rank of the product than noiseless GD at matched "
               f"iterations ({where}; paired by seed; weakest kind shown: lower end of its interval)",
               _weakest(list(parts.values())))
    d = paired_rank_differences(section, p.gap_tol)
    c.mde = max(x.mde for x in d.values())
    c.null, c.null_label = float(_null_difference(section, "er_mean", p.gap_tol).lower), NULL_LABEL
    c.summary = "paired rise of the effective rank, noise - none [interval]: " + ", ".join(
        f"{k} {x.diff:+.3g} [{x.lower:+.2g}, {x.upper:+.2g}] {parts[k].verdict}" for k, x in d.items())
    c.extra = {"kinds": {k: x.verdict for k, x in parts.items()}}
    return c


def _c32(section: Mapping[str, dict], p: Params, where: str, results: Results | None = None) -> Claim:
    gt = p.gap_tol
    c = _pooled("3.2", f"Noise raises the fraction of runs within {gt:.0%} of the closed-form optimum loss ({where}; mean "
                f"over kinds minus noiseless, paired by seed)", section, p)
    per = success_parts(section, p)
    kinds = {k: x.verdict for k, x in per.items()}
    sb = {k: summary(section[k], gt)["success"].mean() for k in ("none", *KINDS) if k in section}
    d = success_by_kind(section, gt)
    if results is not None:
        full = rank_given_success(results.sections, gt)
        c.detail += (f"; full rank at end -> within gap {full['success_given_full']:.2f}, rank-deficient -> "
                     f"{full['success_given_deficient']:.2f}")
    c.detail += "; per kind: " + "; ".join(f"[{x.statement}: {x.value:+.3g} -> {x.verdict} ({x.detail})]" for x in per.values())
    c.null, c.null_label = float(_null_difference(section, "success", gt).diff), NULL_LABEL
    c.summary = (f"pooled {c.value:+.2f} ({c.verdict}); per kind, fraction within the gap (none {sb['none']:.2f}): "
                 + ", ".join(f"{k} {sb[k]:.2f} ({d[k].diff:+.2f}, {kinds[k]})" for k in d))
    c.extra = {"kinds": kinds}
    return c


def _depth_claim(results: Results, p: Params, protocol: str) -> Claim:
    runs = results.protocol(protocol)
    parts = _weakest([c for d in p.depths for c in rank_parts(runs[d], p, prefix=f"H = {d}, ", id="3.3").values()])
    return all_of("3.3", f"Claim 3.1 holds at every depth tried (H in {list(p.depths)}; {protocol}; weakest depth and kind)",
                  parts)


def _c33(results: Results, p: Params) -> Claim:
    primary, variant = (_depth_claim(results, p, name) for name in PROTOCOLS)
    c = primary
    ci = p.claim_init
    c.statement = (f"Claim 3.1 holds at every depth tried (H in {list(p.depths)}, {ci} start rescaled to an initial product "
                   f"norm of {results.start_norm:.3g} at every depth; weakest depth and kind shown)")
    c.variants = {PROTOCOLS[1]: variant.verdict}
    c.extra = {"protocols": {PROTOCOLS[0]: primary.verdict, PROTOCOLS[1]: variant.verdict},
               "depths": {name: {d: all_of("3.3", f"H = {d}", list(rank_parts(results.protocol(name)[d], p, id="3.3").values())).verdict
                                 for d in p.depths} for name in PROTOCOLS}}
    norm = results.by_depth_norm
    c.mde = max(x.mde for d in p.depths for x in paired_rank_differences(norm[d], p.gap_tol).values())
    c.null = float(min(_null_difference(norm[d], "er_mean", p.gap_tol).lower for d in p.depths))
    c.null_label = NULL_LABEL
    per = c.extra["depths"]
    c.summary = (f"{PROTOCOLS[0]} ({results.start_norm:.2g}): " + ", ".join(f"H = {d} {v}" for d, v in per[PROTOCOLS[0]].items())
                 + f"; variant {PROTOCOLS[1]} ({p.small_scale:g}): "
                 + ", ".join(f"H = {d} {v}" for d, v in per[PROTOCOLS[1]].items()))
    c.detail = f"variant {PROTOCOLS[1]}: {variant.verdict} ({variant.detail}); {PROTOCOLS[0]}: {c.detail}"
    return c


def claims_by_setting(results: Results, p: Params) -> dict[str, list[Claim]]:
    """Claims 3.1 and 3.2 (v2) on each data set: ``{"synthetic": [3.1, 3.2], <real data set>: [3.1, 3.2]}``
    (the real data from :attr:`~.experiments.Results.real_init`, at ``real_depth``)."""
    ci, ri = p.claim_init, results.real_init
    syn = results.sections[ci]
    real = results.real[ri]
    return {
        "synthetic": [_c31(syn, p, f"{ci} start, H = {p.depth}"), _c32(syn, p, f"{ci} start", results)],
        p.real_dataset: [_c31(real, p, f"{p.real_dataset}, {ri} start, H = {p.real_depth}"),
                         _c32(real, p, f"{p.real_dataset}, {ri} start")],
    }


def claims_v2(results: Results, p: Params) -> list[Claim]:
    """Claims 3.1-3.3 by the v2 rules (the headline: 3.1 and 3.2 on the synthetic data)."""
    ci = p.claim_init
    syn = results.sections[ci]
    return [_c31(syn, p, f"{ci} start, H = {p.depth}"), _c32(syn, p, f"{ci} start", results), _c33(results, p)]


def claims(results: Results, p: Params) -> list[Claim]:
    """Claims 3.1-3.3: the v2 verdicts (the headline), each with its v1 verdict and why the rule changed."""
    v1 = {c.id: c for c in claims_v1(results, p)}
    return [beside(c, v1[c.id], CHANGES[c.id]) for c in claims_v2(results, p)]


def null_claims(results: Results, p: Params) -> list[Claim]:
    """Each v2 rule fed its null - the noiseless batch against itself, in every place the real
    measurement compares noise with none - without the manipulation check (which the null fails
    too: nothing acted). Each must come out not ``reproduced``."""
    ci = p.claim_init
    sec = null_section(results.sections[ci])
    strip = lambda c: replace(c, manipulation=None)
    parts31 = [rise("3.1", f"null, {k}: effective rank (lower end)", d, p)
               for k, d in paired_rank_differences(sec, p.gap_tol).items()]
    noisy, clean = pooled_success(sec, p.gap_tol)
    d32 = paired_difference(noisy, clean)
    parts33 = [rise("3.3", f"null, H = {d}, {k}", x, p) for d in p.depths
               for k, x in paired_rank_differences(null_section(results.by_depth_norm[d]), p.gap_tol).items()]
    return [strip(all_of("3.1", f"3.1's rule on its null ({ci} start, H = {p.depth})", parts31)),
            decide("3.2", f"3.2's rule on its null ({ci} start)", d32.diff, ">", p.success_margin, noise=d32),
            strip(all_of("3.3", f"3.3's rule on its null (every depth, {PROTOCOLS[0]})", parts33))]


def claim_glue(claims: list[Claim], nulls: list[Claim] | None = None) -> dict[str, Any]:
    """What the page glues beyond :meth:`~landscape.publishing.page.Chapter.show_claims`: per kind
    (3.1, 3.2), per protocol and depth (3.3) the v2 verdicts, and the nulls' verdicts, under names
    the ledger's claim pattern does not take for claims (``claim-<id>-kind-<kind>``,
    ``claim-3.3-protocol-<n>``, ``claim-3.3-<protocol n>-h<depth>``, ``claim-<id>-null-verdict``)."""
    out: dict[str, Any] = {}
    for c in claims:
        for k, v in c.extra.get("kinds", {}).items():
            out[f"claim-{c.id}-kind-{k}"] = v
        for i, name in enumerate(PROTOCOLS):
            if name in c.extra.get("protocols", {}):
                out[f"claim-{c.id}-protocol-{i}"] = c.extra["protocols"][name]
                for d, v in c.extra["depths"][name].items():
                    out[f"claim-{c.id}-protocol-{i}-h{d}"] = v
    for n in nulls or []:
        out[f"claim-{n.id}-null-verdict"] = n.verdict
    return out
