"""The DANTE chapter (``book/dante.ipynb``): training by alternating minimization over
layers with normalized gradient steps (:mod:`landscape.methods.dante`), against backprop
with SGD and Adam - one and two hidden layers, one layer's problem (quasi-convexity,
measured), a stacked autoencoder, and DANTE's sensitivity to its step size and schedule.

- ``schema``: every parameter (the notebook's parameters cell holds the defaults);
- ``experiments``: :func:`run` -> :class:`Results`, from cached units (``timing``: claim
  2.3's finely resolved timed runs);
- ``claims``: claims 2.1-2.3 by the v2 rules, each with its v1 verdict beside;
- ``figures`` (and ``tables``): what the page draws and tabulates;
- ``record``: the record a gpu-profile run leaves in ``results/dante-gpu.json``.
"""

from . import experiments, figures, tables
from .claims import CHANGES, NULLS, claim_glue, claims, claims_by_setting, claims_v1, claims_v2, null_claims
from .experiments import METHODS, NULL_METHOD, PROTOCOLS, SCHEDULES, Results, run
from .record import load_paper_scale, paper_scale_record, paper_scale_verdicts, record_gpu_run, save_paper_scale
from .schema import SCHEMA
from .tables import paper_scale_text

NOTEBOOK = "book/dante.ipynb"
ORDER = 30

SMOKE_CHECKS = {
    "dante-lower-one": (-100.0, 100.0),
    "dante-lower-two": (-100.0, 100.0),
    "dante-speed-ratio": (0.0, 1e6),
    "dante-cost-ratio": (0.0, 1e3),
    "dante-step-norm-error": (0.0, 1e-9),
    "dante-excess-sigmoid": (0.0, 5.0),
    "dante-excess-grelu": (0.0, 5.0),
    "dante-excess-relu": (0.0, 5.0),
    "dante-ae-mse-dante": (0.0, 1.0),
    "dante-ae-mse-backprop": (0.0, 1.0),
    "dante-sens-best-acc": (0.0, 1.0),
}

__all__ = ["NOTEBOOK", "ORDER", "SCHEMA", "SMOKE_CHECKS", "run", "claims", "claims_v1", "claims_v2", "claims_by_setting",
           "null_claims", "claim_glue", "figures", "tables", "experiments", "Results", "METHODS", "NULL_METHOD", "PROTOCOLS",
           "SCHEDULES", "NULLS", "CHANGES", "paper_scale_record", "paper_scale_verdicts", "record_gpu_run", "save_paper_scale",
           "load_paper_scale", "paper_scale_text"]
