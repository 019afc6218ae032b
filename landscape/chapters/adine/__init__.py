r"""The ADINE chapter (``book/adine.ipynb``): momentum above one, adaptively
(Srinivasan, Sankar and Balasubramanian, CoDS-COMAD 2018, ``srinivasan2018adine``).

Its parameters and their rules are in :mod:`.schema`, the experiments (saddle
escape against a constant momentum, constant momentum on a convex quadratic,
training curves of five optimizers, the sensitivity grid) in :mod:`.experiments`,
the verdicts of claims 4.1-4.4 in :mod:`.claims`, the tables and figures in
:mod:`.figures`. The methods are the library's (:mod:`landscape.methods.adine`):
the update rule of ADINE is its reconstruction, and the chapter says so.
"""

from . import figures
from .claims import claims
from .experiments import LABELS, METHODS, Results, run
from .schema import SCHEMA

NOTEBOOK = "book/adine.ipynb"
ORDER = 50
SMOKE_CHECKS = {
    "adine-escape-ratio": (0.0, 10.0),
    "adine-quad-log10-growth": (-50.0, 400.0),
    "adine-frac-mg": (0.0, 1.0),
    "adine-speed-ratio": (0.0, 100.0),
    "adine-acc-gap": (-100.0, 100.0),
}

__all__ = ["NOTEBOOK", "ORDER", "SCHEMA", "SMOKE_CHECKS", "run", "claims", "figures", "Results", "METHODS", "LABELS"]
