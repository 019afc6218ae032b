r"""The statistics the decision rules use: differences over seeds, their noise,
and what a comparison could have detected.

The rules (declared in the chapters' *Decision rules* and, for v2, in its
principles) read these quantities:

- **beyond noise**: :math:`|\bar d| > 2\,\mathrm{SE}` with at least
  ``min_seeds`` seeds a side (:attr:`Difference.beyond`);
- **unpaired** difference of means (:func:`difference`): two arms run from
  unrelated seeds, :math:`\mathrm{SE} = \sqrt{s_a^2/n_a + s_b^2/n_b}`;
- **paired** difference (:func:`paired_difference`): two arms that share seed,
  start and data order, :math:`d_i = a_i - b_i`,
  :math:`\mathrm{SE} = s_d / \sqrt{n}`;
- the **interval** :math:`[\bar d - 2\,\mathrm{SE}, \bar d + 2\,\mathrm{SE}]`
  (:attr:`Difference.lower`, :attr:`Difference.upper`), which decides
  non-inferiority (:func:`non_inferiority`);
- the **minimum detectable effect** :math:`\mathrm{MDE} = 2\,\mathrm{SE}`
  (:attr:`Difference.mde`): an effect smaller than this could not have shown.

Example:
    >>> d = paired_difference([0.91, 0.92, 0.93], [0.90, 0.90, 0.90])
    >>> round(d.diff, 3), round(d.mde, 3), d.beyond
    (0.02, 0.012, True)
    >>> non_inferiority(d, margin=0.01)
    'reproduced'
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..validation import check_number

__all__ = ["Difference", "difference", "paired_difference", "non_inferiority"]


@dataclass(frozen=True)
class Difference:
    """A difference of means :math:`\\bar d` (``a - b``) with its standard error.

    Attributes:
        diff, stderr: :math:`\\bar d` and its SE (``inf`` with one seed).
        n_a, n_b: seeds on each side.
        min_seeds: seeds needed on each side for the difference to count.
        paired: whether the SE is that of per-seed differences.
    """

    diff: float
    stderr: float
    n_a: int
    n_b: int
    min_seeds: int = 3
    paired: bool = False

    @property
    def enough_seeds(self) -> bool:
        return self.n_a >= self.min_seeds and self.n_b >= self.min_seeds

    @property
    def beyond(self) -> bool:
        """True when there are enough seeds and :math:`|\\bar d| > 2\\,\\mathrm{SE}`."""
        return self.enough_seeds and abs(self.diff) > 2 * self.stderr

    @property
    def lower(self) -> float:
        """:math:`\\bar d - 2\\,\\mathrm{SE}`."""
        return self.diff - 2 * self.stderr

    @property
    def upper(self) -> float:
        """:math:`\\bar d + 2\\,\\mathrm{SE}`."""
        return self.diff + 2 * self.stderr

    @property
    def mde(self) -> float:
        """The minimum detectable effect at these seeds, :math:`2\\,\\mathrm{SE}`."""
        return 2 * self.stderr

    def __str__(self) -> str:
        kind = "paired, " if self.paired else ""
        return f"{self.diff:+.4g} +- {self.stderr:.2g} ({kind}n={self.n_a} vs {self.n_b})"


def _values(x: Sequence[float], name: str) -> np.ndarray:
    a = np.asarray(x, dtype=float).reshape(-1)
    if a.size == 0:
        raise ValueError(f"Invalid {name}: empty (must hold one value per seed)")
    return a


def difference(a: Sequence[float], b: Sequence[float], *, min_seeds: int = 3) -> Difference:
    """Unpaired difference of means ``mean(a) - mean(b)``, with
    :math:`\\mathrm{SE} = \\sqrt{s_a^2/n_a + s_b^2/n_b}` (sample variances; ``inf`` with one value)."""
    a, b = _values(a, "a"), _values(b, "b")
    var = lambda x: x.var(ddof=1) / x.size if x.size > 1 else math.inf
    return Difference(float(a.mean() - b.mean()), float(math.sqrt(var(a) + var(b))), a.size, b.size, min_seeds)


def paired_difference(a: Sequence[float], b: Sequence[float], *, min_seeds: int = 3) -> Difference:
    """Paired difference: the mean of :math:`d_i = a_i - b_i` over seeds run in
    both arms, with :math:`\\mathrm{SE} = s_d / \\sqrt{n}` (``inf`` with one seed).

    Raises:
        ValueError: ``a`` and ``b`` differ in length (they must pair seed by seed).
    """
    a, b = _values(a, "a"), _values(b, "b")
    if a.shape != b.shape:
        raise ValueError(f"Invalid b: {b.size} values for {a.size} in a (must pair seed by seed)")
    d = a - b
    se = float(d.std(ddof=1) / math.sqrt(d.size)) if d.size > 1 else math.inf
    return Difference(float(d.mean()), se, d.size, d.size, min_seeds, paired=True)


def non_inferiority(diff: Difference, margin: float) -> str:
    """The interval rule for "A is at least B - margin" on ``diff = A - B``:
    ``reproduced`` when :math:`\\bar d - 2\\,\\mathrm{SE} \\ge -m`, ``not reproduced``
    when :math:`\\bar d + 2\\,\\mathrm{SE} < -m`, else ``inconclusive`` (also with
    too few seeds or a non-finite difference)."""
    margin = check_number("margin", margin, low=0.0)
    if not diff.enough_seeds or not math.isfinite(diff.diff) or math.isnan(diff.stderr):
        return "inconclusive"
    if diff.lower >= -margin:
        return "reproduced"
    if diff.upper < -margin:
        return "not reproduced"
    return "inconclusive"
