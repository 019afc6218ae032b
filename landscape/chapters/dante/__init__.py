"""The DANTE chapter (``book/dante.ipynb``): training by alternating
minimization over layers with normalized gradient steps
(:mod:`landscape.methods.dante`), against backprop with SGD and Adam - one and
two hidden layers, one layer's problem (quasi-convexity, measured), a stacked
autoencoder, and DANTE's sensitivity to its step size and schedule.

- ``schema``: every parameter (the notebook's parameters cell holds the defaults);
- ``experiments``: :func:`run` -> :class:`Results`, from cached units;
- ``claims``: claims 2.1-2.3, decided by the rules of the parameters cell;
- ``figures`` (and ``tables``): what the page draws and tabulates.
"""

from . import experiments, figures, tables
from .claims import claims
from .experiments import METHODS, SCHEDULES, Results, run
from .schema import SCHEMA

NOTEBOOK = "book/dante.ipynb"
ORDER = 30

SMOKE_CHECKS = {
    "dante-gap-one": (-100.0, 100.0),
    "dante-gap-two": (-100.0, 100.0),
    "dante-speed-ratio": (0.0, 1e6),
    "dante-step-norm-error": (0.0, 1e-9),
    "dante-excess-sigmoid": (0.0, 5.0),
    "dante-excess-grelu": (0.0, 5.0),
    "dante-excess-relu": (0.0, 5.0),
    "dante-ae-mse-dante": (0.0, 1.0),
    "dante-ae-mse-backprop": (0.0, 1.0),
    "dante-sens-best-acc": (0.0, 1.0),
}

__all__ = ["NOTEBOOK", "ORDER", "SCHEMA", "SMOKE_CHECKS", "run", "claims", "figures", "tables", "experiments", "Results",
           "METHODS", "SCHEDULES"]
