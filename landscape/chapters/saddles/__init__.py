r"""The chapter "Are saddles good enough?" (``book/saddles.ipynb``;
Sankar and Balasubramanian, arXiv:1706.02052, ``sankar2017saddles``).

The paper's claim: networks trained to convergence sit at saddle points of
high degeneracy (most Hessian eigenvalues near zero, a few negative), not at
minima; saddle-escaping methods end there too; Wigner's semicircle law shows
in the spectra. Small networks make the Hessian exact: every spectrum of
sections 1-4 is ``torch.linalg.eigh`` of :func:`landscape.curvature.dense_hessian`
in float64, on the whole training set used.

- :mod:`.schema`: ``SCHEMA``, every parameter and the rules between them;
- :mod:`.experiments`: :func:`run` -> :class:`Results` (training runs with exact spectra,
  spectra at initialization, escapes, semicircle fits against GOE controls, the SLQ check,
  the LeNet-5 beyond exact size), each unit cached;
- :mod:`.readings`: what is read off the results at the declared tolerances, and the
  glued ``saddles-*`` values (:func:`summary_values`);
- :mod:`.claims`: :func:`claims`, claims 5.1-5.4 by the v2 rules beside the v1 rules, and 5.1's null;
- :mod:`.record`: the record a gpu-profile run leaves (``results/saddles-gpu.json``);
- :mod:`.figures` and :mod:`.tables`: what the page draws and tabulates.

The library pieces are :mod:`landscape.spectra` (fractions, semicircle, GOE) and
:mod:`landscape.methods.escape` (perturbed gradient descent, moving along a direction).
"""

from . import figures, tables
from . import claims as claims_module
from .claims import CHANGES, NULLS, claim_glue, claims, claims_by_setting, claims_v1, claims_v2, null_claims
from .experiments import Results, run
from .record import (load_paper_scale, paper_scale_record, paper_scale_text, paper_scale_verdicts, record_gpu_run,
                     save_paper_scale)
from .readings import summary_values
from .schema import SCHEMA

NOTEBOOK = "book/saddles.ipynb"
ORDER = 60
SMOKE_CHECKS = {
    "saddles-n-params": (50, 5000),
    "saddles-zero-mean": (0.0, 1.0),
    "saddles-runs-saddle": (0.0, 1.0),
    "saddles-pgd-gap": (0.0, 1.0),
    "saddles-escape-gain-median": (-10.0, 1.0),
    "saddles-ks-goe-median": (0.0, 0.5),
    "saddles-ks-ratio-median": (0.0, 1e4),
    "saddles-slq-w1": (0.0, 2.0),
    "saddles-big-n-params": (1000, 10**7),
    "saddles-big-zero": (0.0, 1.0),
}

__all__ = ["NOTEBOOK", "ORDER", "SCHEMA", "SMOKE_CHECKS", "run", "claims", "figures", "tables", "summary_values", "Results",
           "claims_module", "claims_v1", "claims_v2", "claims_by_setting", "null_claims", "claim_glue", "NULLS", "CHANGES",
           "paper_scale_record", "paper_scale_verdicts", "paper_scale_text", "save_paper_scale", "load_paper_scale",
           "record_gpu_run"]
