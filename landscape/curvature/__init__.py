r"""Curvature toolkit: Hessian-vector products, eigenvalues, traces, spectral densities.

Everything works matrix-free on :class:`HessianOperator` (or on any object answering
``op @ V`` with a square ``shape``, e.g. a dense tensor):

============================  ==========================================================
:class:`HessianOperator`      :math:`H` (or the GGN) of the sample-weighted mean loss as
                              a linear operator, optionally a block :math:`H_{BB}`
:func:`dense_hessian`         the exact matrix for small models
:func:`eigenvalues`           extreme eigenpairs, thick-restart (block) Lanczos
:func:`trace`                 Hutch++ / Hutchinson trace with a standard error
:func:`spectral_density`      stochastic Lanczos quadrature (SLQ)
:func:`layerwise`             all of the above per layer, sharing graph and probes
:func:`hessian_trace_penalty` a differentiable trace estimate for regularized training
============================  ==========================================================

Randomness comes only from explicit seeds or :class:`torch.Generator` objects.
Cost is counted in HVPs (Hessian-vector products; ``op.hvps`` and ``.hvps`` on every
result).  Bad inputs raise :class:`ValueError` naming the problem. Statistics of the
spectra these estimators return (distances, outliers, fractions) are in
:mod:`landscape.spectra`.
"""

from .dense import dense_hessian
from .density import SpectralDensity, spectral_density
from .hvp import HessianOperator
from .lanczos import EigenResult, eigenvalues
from .layerwise import BlockSpectrum, LayerwiseResult, default_layers, layerwise
from .penalty import hessian_trace_penalty
from .trace import TraceResult, trace

__all__ = [
    "HessianOperator",
    "dense_hessian",
    "eigenvalues",
    "EigenResult",
    "trace",
    "TraceResult",
    "spectral_density",
    "SpectralDensity",
    "layerwise",
    "default_layers",
    "LayerwiseResult",
    "BlockSpectrum",
    "hessian_trace_penalty",
]
