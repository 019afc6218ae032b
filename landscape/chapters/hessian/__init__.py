r"""The layerwise-Hessian chapter (``book/hessian.ipynb``): layer spectra against the
full spectrum, and the Hessian-trace regularizer (Sankar, Khasbage, Vigneswaran and
Balasubramanian, AAAI 2021, ``sankar2021hessian``).

- :mod:`.schema`: ``SCHEMA``, every parameter and the rules between them (the
  decision rules of claims 1.1-1.6 last);
- :mod:`.experiments`: ``run(params) -> Results`` - the spectra runs of an MLP and a
  LeNet (sections 1-4) and the regularizer's arms (sections 5-6), cached;
- :mod:`.claims`: ``claims(results, params)``, claims 1.1-1.6;
- :mod:`.figures` and :mod:`.tables`: what the page draws and tabulates;
- :mod:`.record`: the record a gpu-profile run leaves in ``results/hessian-gpu.json``.

The similarity measures and the outlier count are :mod:`landscape.spectra`'s, the
penalty :mod:`landscape.methods.trace_penalty`'s.
"""

from . import figures, tables
from .claims import NULLS, claims, claims_by_setting
from .experiments import MODEL_LABELS, Results, run
from .record import load_paper_scale, paper_scale_record, paper_scale_verdicts, record_gpu_run, save_paper_scale
from .schema import ARMS, SCHEMA
from .tables import paper_scale_text

NOTEBOOK = "book/hessian.ipynb"
ORDER = 20
SMOKE_CHECKS = {
    "hessian-w1-median": (0.0, 1.0),
    "hessian-mlp-lmax-end": (0.0, 1e4),
    "hessian-lenet-trace-end": (0.0, 1e6),
    "hessian-sgd-acc": (0.0, 100.0),
    "hessian-penalty-cost": (0.0, 1e4),
}

__all__ = ["NOTEBOOK", "ORDER", "SCHEMA", "SMOKE_CHECKS", "run", "claims", "figures", "tables", "Results", "ARMS",
           "MODEL_LABELS", "paper_scale_record", "save_paper_scale", "load_paper_scale", "paper_scale_text",
           "record_gpu_run", "paper_scale_verdicts", "NULLS", "claims_by_setting"]
