"""The trajectories chapter (``book/trajectories.ipynb``): noise and the rank of the product
of weights in deep linear networks (sankar2018trajectories)."""

from . import figures
from .claims import claims
from .experiments import Results, numbers, run
from .schema import SCHEMA

NOTEBOOK = "book/trajectories.ipynb"
ORDER = 40
SMOKE_CHECKS = {
    "traj-loss-star": (0.01, 10.0),
    "traj-er-none": (0.0, 3.0),
    "traj-success-none": (0.0, 1.0),
    "traj-success-noise": (0.0, 1.0),
    "traj-real-loss-star": (0.01, 1.0),
    "traj-hessian-min-deficient": (-10.0, 0.0),
}

__all__ = ["NOTEBOOK", "ORDER", "SCHEMA", "SMOKE_CHECKS", "run", "claims", "figures", "Results"]
