r"""The ADINE chapter (``book/adine.ipynb``): momentum above one, adaptively
(Srinivasan, Sankar and Balasubramanian, CoDS-COMAD 2018, ``srinivasan2018adine``).

- :mod:`.schema`: ``SCHEMA``, every parameter and the rules between them (the decision
  rules of claims 4.1-4.4 last);
- :mod:`.experiments`: ``run(params) -> Results`` - saddle escape against a constant
  momentum over one learning-rate grid, constant momentum on a convex quadratic, the five
  optimizers tuned on a validation split and trained over seeds (with claim 4.4's budget
  doubling), the sensitivity grid; cached;
- :mod:`.claims`: ``claims(results, params)``, claims 4.1-4.4 by the v2 rules with v1's beside;
- :mod:`.figures` and :mod:`.tables`: what the page draws and tabulates;
- :mod:`.record`: the record a gpu-profile run leaves in ``results/adine-gpu.json``.

The methods are the library's (:mod:`landscape.methods.adine`): the update rule of ADINE is
its reconstruction, and the chapter says so.
"""

from . import figures, tables
from .claims import CHANGES, NULLS, claim_glue, claims, claims_by_setting, null_claims
from .experiments import LABELS, METHODS, Results, run
from .record import load_paper_scale, paper_scale_record, paper_scale_text, paper_scale_verdicts, record_gpu_run, save_paper_scale
from .schema import SCHEMA

NOTEBOOK = "book/adine.ipynb"
ORDER = 50
SMOKE_CHECKS = {
    "adine-escape-ratio": (0.0, 10.0),
    "adine-quad-log10-growth": (-50.0, 400.0),
    "adine-frac-mg": (0.0, 1.0),
    "adine-speed-ratio": (0.0, 100.0),
    "adine-acc-lower": (-100.0, 100.0),
}

__all__ = ["NOTEBOOK", "ORDER", "SCHEMA", "SMOKE_CHECKS", "run", "claims", "claims_by_setting", "null_claims", "claim_glue",
           "figures", "tables", "Results", "METHODS", "LABELS", "NULLS", "CHANGES", "paper_scale_record", "paper_scale_text",
           "paper_scale_verdicts", "load_paper_scale", "save_paper_scale", "record_gpu_run"]
