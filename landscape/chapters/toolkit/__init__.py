r"""The curvature-toolkit chapter (``book/toolkit.ipynb``): every quantity of
:mod:`landscape.curvature` on a small network, against its exact spectrum
(``experiments.py``), claims 6.1-6.5 on them (``claims.py``), and the benchmark
against the peer libraries (``bench.py``, from ``bench/run.py``'s results).
"""

from . import bench, figures, your_model
from .claims import claims
from .experiments import Results, run
from .schema import SCHEMA

NOTEBOOK = "book/toolkit.ipynb"
ORDER = 10
SMOKE_CHECKS = {
    "toolkit-n-params": (50, 20000),
    "toolkit-hvp-check": (0.0, 1e-8),
    "toolkit-eig-max-err": (0.0, 1e-6),
    "toolkit-block-max-err": (0.0, 1e-6),
    "toolkit-slq-w1": (0.0, 0.5),
    "toolkit-trace-coverage": (0.0, 1.0),
    "toolkit-penalty-z": (0.0, 20.0),
    "toolkit-your-model-eig-err": (0.0, 1e-8),
}

__all__ = ["NOTEBOOK", "ORDER", "SCHEMA", "SMOKE_CHECKS", "run", "claims", "figures", "bench", "your_model", "Results"]
