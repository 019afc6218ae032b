"""The template chapter (``book/template.ipynb``): the whole path once on
``digits`` - parameters, validation, a cached training run, a glued number,
claims with computed verdicts, a figure, a kernel-free widget and the re-run
box. Paper chapters have its shape.
"""

from . import figures
from .claims import claims
from .experiments import Results, run
from .schema import SCHEMA

NOTEBOOK = "book/template.ipynb"
ORDER = 0
SMOKE_CHECKS = {"template-best-acc": (0.0, 1.0), "template-best-lr": (1e-6, 10.0)}

__all__ = ["NOTEBOOK", "ORDER", "SCHEMA", "SMOKE_CHECKS", "run", "claims", "figures", "Results"]
