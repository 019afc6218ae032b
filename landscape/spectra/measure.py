r"""A spectrum as a probability measure: the one input form of every function in
:mod:`landscape.spectra`.

An eigenvalue list (tensor, array, list) becomes :math:`\mu = \frac1n \sum_j
\delta_{\lambda_j}`; a quadrature - :class:`~landscape.curvature.SpectralDensity`
(SLQ nodes and weights) or a ``(nodes, weights)`` pair - keeps its weights,
renormalized to sum to one.

Example:
    >>> x, w = as_measure([0.0, 1.0, 3.0])
    >>> w.tolist(), width([0.0, 1.0, 3.0])
    ([0.3333333333333333, 0.3333333333333333, 0.3333333333333333], 3.0)
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..validation import finite_vector

__all__ = ["as_measure", "width", "probe_nodes"]


def as_measure(spec: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(nodes, weights)`` of a spectrum, weights nonnegative and summing to 1.

    ``spec`` is an eigenvalue tensor/array/list (equal weights), an object with
    ``nodes`` and ``weights`` attributes, or a ``(nodes, weights)`` pair of arrays.
    """
    if hasattr(spec, "nodes") and hasattr(spec, "weights"):
        nodes, weights = spec.nodes, spec.weights
    elif (isinstance(spec, tuple) and len(spec) == 2
          and all(isinstance(s, (torch.Tensor, np.ndarray, list, tuple)) for s in spec)):
        nodes, weights = spec
    else:
        nodes, weights = spec, None
    x = finite_vector(nodes, "spectrum nodes")
    if weights is None:
        return x, np.full(x.size, 1.0 / x.size)
    w = finite_vector(weights, "spectrum weights")
    if w.shape != x.shape:
        raise ValueError(f"spectrum nodes and weights differ in length ({x.size} vs {w.size})")
    if np.any(w < 0) or w.sum() <= 0:
        raise ValueError("spectrum weights must be nonnegative with a positive sum")
    return x, w / w.sum()


def _cdf(x: np.ndarray, w: np.ndarray, t: np.ndarray) -> np.ndarray:
    order = np.argsort(x, kind="stable")
    cw = np.concatenate([[0.0], np.cumsum(w[order])])
    return cw[np.searchsorted(x[order], t, side="right")]


def probe_nodes(spec: Any) -> list[np.ndarray] | None:
    """Per-probe Ritz values of an SLQ density, else None (an exact spectrum)."""
    nodes = getattr(spec, "probe_nodes", None)
    if nodes:
        return [np.asarray(torch.as_tensor(p, dtype=torch.float64).cpu()) for p in nodes]
    return None


def width(spec: Any) -> float:
    """:math:`\\lambda_{\\max} - \\lambda_{\\min}` of a spectrum (its nodes)."""
    x, _ = as_measure(spec)
    return float(x.max() - x.min())
