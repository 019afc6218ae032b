"""The trajectories chapter (``book/trajectories.ipynb``): noise and the rank of the product
of weights in deep linear networks (sankar2018trajectories).

- :mod:`.schema`: ``SCHEMA``, every parameter and the rules between them (the decision
  rules of claims 3.1-3.3 last);
- :mod:`.experiments`: ``run(params) -> Results`` - every batch of gradient-descent runs, cached;
- :mod:`.claims`: ``claims(results, params)``, claims 3.1-3.3 by the v2 rules with the v1
  verdicts beside, and each rule on its null;
- :mod:`.figures` and :mod:`.tables`: what the page draws and tabulates;
- :mod:`.record`: the record a gpu-profile run leaves in ``results/trajectories-gpu.json``.

The deep linear networks, their optimum and the noise are :mod:`landscape.methods.linear`'s.
"""

from . import figures, tables
from .claims import CHANGES, NULLS, claim_glue, claims, claims_by_setting, claims_v1, claims_v2, null_claims
from .experiments import PROTOCOLS, Results, numbers, run
from .record import load_paper_scale, paper_scale_record, paper_scale_text, paper_scale_verdicts, record_gpu_run, save_paper_scale
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
    "traj-start-norm": (0.0, 1.0),
}

__all__ = ["NOTEBOOK", "ORDER", "SCHEMA", "SMOKE_CHECKS", "run", "claims", "figures", "tables", "Results", "PROTOCOLS",
           "NULLS", "CHANGES", "claims_by_setting", "claims_v1", "claims_v2", "null_claims", "claim_glue", "numbers", "paper_scale_record",
           "save_paper_scale", "load_paper_scale", "paper_scale_text", "paper_scale_verdicts", "record_gpu_run"]
