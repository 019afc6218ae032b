"""landscape: the geometry of deep-network optimization, computed.

The library, in layers (``ARCHITECTURE.md`` at the repository root; imports
only go downward):

- science: :mod:`landscape.training` (data, models, the training loop),
  :mod:`landscape.curvature` (Hessian operators and estimators),
  :mod:`landscape.spectra` (statistics of spectra, distances between them),
  :mod:`landscape.methods` (ADINE, DANTE, the trace penalty, perturbed GD,
  deep linear networks);
- experiment support: :mod:`landscape.experiment` (parameters, claims and
  their statistics, the results cache, result records, the figure style);
- the chapters: :mod:`landscape.chapters` (one package per chapter of the book);
- publishing: :mod:`landscape.publishing` (what notebooks call, the runner,
  the claims ledger, the Sphinx extension).

This module re-exports the science most users want.
"""

from . import curvature, methods, spectra, training
from .curvature import HessianOperator, dense_hessian, eigenvalues, hessian_trace_penalty, layerwise, spectral_density, trace
from .spectra import spectrum_distance
from .training import History, data, fit, load, models, synthetic

__version__ = "0.1.0"

__all__ = [
    # packages
    "training", "curvature", "spectra", "methods",
    # data, models, training
    "data", "load", "models", "synthetic", "fit", "History",
    # curvature
    "HessianOperator", "dense_hessian", "eigenvalues", "trace", "spectral_density",
    "layerwise", "hessian_trace_penalty", "spectrum_distance",
]
