"""landscape: the geometry of deep-network optimization, computed.

Modules:

- :mod:`landscape.data` - data sets with seeded splits (``load``).
- :mod:`landscape.models` - MLP, LeNet-5, small VGG/ResNet, deep linear networks.
- :mod:`landscape.train` - the shared training loop (``fit``, ``History``).
- :mod:`landscape.curvature` - Hessian operators, Lanczos eigenpairs, traces,
  spectral densities, per-layer spectra, the differentiable trace penalty.
- :mod:`landscape.optim` - the ADINE optimizer.
- :mod:`landscape.dante` - DANTE, alternating minimization over layers.
- :mod:`landscape.cache` - the results cache (``cached``).
- :mod:`landscape.claims` - verdicts from declared rules.
- :mod:`landscape.book` - what chapter notebooks call.
- :mod:`landscape.runner` - ``python -m landscape run``.
"""

from . import data, models, synthetic, train
from .cache import cached
from .curvature import (
    HessianOperator,
    dense_hessian,
    eigenvalues,
    hessian_trace_penalty,
    layerwise,
    spectral_density,
    spectrum_distance,
    trace,
)
from .claims import beyond_noise, decide
from .data import load
from .train import History, fit

__version__ = "0.1.0"

__all__ = [
    # data and models
    "data", "load", "models", "synthetic",
    # training
    "train", "fit", "History",
    # curvature
    "HessianOperator", "dense_hessian", "eigenvalues", "trace", "spectral_density",
    "layerwise", "hessian_trace_penalty", "spectrum_distance",
    # results
    "cached", "decide", "beyond_noise",
]
