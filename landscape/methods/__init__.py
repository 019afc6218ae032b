"""The papers' methods, as library code the chapters call.

===================================  =======================================================
:mod:`~landscape.methods.adine`      ADINE: a functional momentum core, the optimizer, and
                                     constant momentum on 2-D saddles and quadratics
:mod:`~landscape.methods.dante`      DANTE: alternating normalized-gradient training, greedy
                                     autoencoders
:mod:`~landscape.methods.trace_penalty`  the layerwise Hessian-trace regularizer: when it
                                     fires, on which layers, how strong (its estimator is
                                     :func:`landscape.curvature.hessian_trace_penalty`)
:mod:`~landscape.methods.escape`     perturbed gradient descent, and losses along directions
:mod:`~landscape.methods.linear`     deep linear networks: products, ranks, noise, the
                                     closed-form optimum, full-batch gradient descent
===================================  =======================================================
"""

from . import adine, dante, escape, linear, trace_penalty
from .adine import ADINE, adine_momentum, momentum_descent, momentum_step, spectral_radius
from .dante import DANTE, greedy_autoencoder
from .escape import PerturbedGD, loss_along, moved
from .trace_penalty import TracePenalty, middle_params

__all__ = [
    "adine", "dante", "escape", "linear", "trace_penalty",
    "ADINE", "momentum_step", "adine_momentum", "momentum_descent", "spectral_radius",
    "DANTE", "greedy_autoencoder",
    "PerturbedGD", "loss_along", "moved",
    "TracePenalty", "middle_params",
]
