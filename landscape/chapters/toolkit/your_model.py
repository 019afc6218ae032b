r"""The toolkit on models users bring (the chapter's section "Using it on your model").

Two models that read scikit-learn's 8x8 digits as sequences of 8 rows of 8 pixels, at
initialization, in float64, through a shuffled :class:`torch.utils.data.DataLoader` with an
unequal last batch:

- a transformer encoder (a linear embedding of each row, one ``nn.TransformerEncoderLayer`` with
  dropout 0.1 and ``batch_first=True``, mean pooling, a linear head), in eval mode;
- a sequence-first LSTM (``nn.LSTM`` with ``batch_first=False``: inputs ``(T, N, 8)``), its last
  hidden state into a linear head, with ``batch_size_fn`` declared.

Each is checked against the exact Hessian of the mean cross-entropy over the same examples as
one concatenated batch (:func:`~landscape.curvature.dense_hessian`, then ``eigvalsh``): the top
eigenvalues from :func:`~landscape.curvature.eigenvalues` and the Hutch++ trace with its standard
error. The refusals a user meets on the way (a random forward, an ambiguous batch size) are
recorded with their messages.
"""

from __future__ import annotations

import time

import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from ...curvature import HessianOperator, dense_hessian, eigenvalues, trace
from ...experiment.cache import cached
from ...experiment.params import Params
from ...training.data import DataSpec
from ...training.loop import threads

__all__ = ["Encoder", "SeqLSTM", "examples", "run", "table"]


class Encoder(nn.Module):
    """Rows as tokens: ``Linear(8, 8)``, one transformer encoder layer (2 heads, feed-forward 16,
    dropout 0.1, batch first), the mean over the 8 tokens, ``Linear(8, 10)``."""

    def __init__(self):
        super().__init__()
        self.embed = nn.Linear(8, 8)
        self.layer = nn.TransformerEncoderLayer(d_model=8, nhead=2, dim_feedforward=16, dropout=0.1, batch_first=True)
        self.head = nn.Linear(8, 10)

    def forward(self, x):                      # x: (N, 8 rows, 8 pixels)
        return self.head(self.layer(self.embed(x)).mean(1))


class SeqLSTM(nn.Module):
    """``nn.LSTM(8, 12)``, sequence first (inputs ``(T, N, 8)``), the last hidden state into ``Linear(12, 10)``."""

    def __init__(self):
        super().__init__()
        self.lstm, self.head = nn.LSTM(8, 12), nn.Linear(12, 10)

    def forward(self, x):                      # x: (8 rows, N, 8 pixels)
        return self.head(self.lstm(x)[1][0][-1])


def _built(cls, seed: int) -> nn.Module:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return cls().double()


def _refusal(make) -> str:
    try:
        make()
    except ValueError as err:
        return str(err)
    return "(accepted)"


def _check(name: str, model: nn.Module, loader, one_batch, options: dict, *, k: int, matvecs: int, seed: int) -> dict:
    t0 = time.perf_counter()
    op = HessianOperator(model, F.cross_entropy, loader, **options)
    top = eigenvalues(op, k, which="largest", tol=1e-10, seed=seed)
    tr = trace(op, num_matvecs=matvecs, seed=seed)
    seconds = time.perf_counter() - t0
    H = dense_hessian(model, F.cross_entropy, one_batch, max_dim=5000, **options)
    exact = torch.linalg.eigvalsh(H).flip(0)
    values = torch.sort(top.values, descending=True).values
    return {"model": name, "n_params": op.shape[0], "batches": op.num_batches, "samples": op.num_samples,
            "top": values.tolist(), "exact_top": exact[:k].tolist(),
            "eig_rel_err": float((values - exact[:k]).abs().max() / exact.abs().max()),
            "trace": tr.value, "trace_se": tr.stderr, "exact_trace": float(torch.trace(H)),
            "hvps": op.hvps, "seconds": seconds}


@cached("toolkit/your_model", version=1)
def examples(*, n_examples: int = 128, batch_size: int = 30, k: int = 3, matvecs: int = 60, seed: int = 0) -> dict:
    """Both models checked (see the module), with the refusals met on the way."""
    ds = DataSpec("digits", n_train=n_examples, seed=seed).load()
    x = ds.train[0].reshape(-1, 8, 8).to(torch.float64)
    y = ds.train[1]
    loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x, y), batch_size=batch_size, shuffle=True,
                                         generator=torch.Generator().manual_seed(seed))
    seq_loader = [(xb.transpose(0, 1), yb) for xb, yb in loader]            # (T, N, 8): sequence first
    enc, lstm = _built(Encoder, seed), _built(SeqLSTM, seed)
    refusals = {
        "the encoder in training mode (dropout 0.1)": _refusal(lambda: HessianOperator(enc, F.cross_entropy, loader)
                                                               @ torch.zeros(sum(p.numel() for p in enc.parameters()),
                                                                             dtype=torch.float64)),
        "the LSTM without batch_size_fn": _refusal(lambda: HessianOperator(lstm, F.cross_entropy, seq_loader)),
    }
    enc.eval()
    rows = [_check("transformer encoder (eval)", enc, loader, (x, y), {}, k=k, matvecs=matvecs, seed=seed),
            _check("LSTM, sequence first", lstm, seq_loader, (x.transpose(0, 1), y),
                   {"batch_size_fn": lambda inputs, targets: len(targets)}, k=k, matvecs=matvecs, seed=seed)]
    return {"rows": rows, "refusals": refusals}


def run(p: Params) -> dict:
    """:func:`examples` with the chapter's thread count (``p.threads``), from the cache when warm."""
    with threads(p.threads):
        return examples()


def table(ex: dict) -> pd.DataFrame:
    """One row per model: the loader's operator against the exact Hessian of one concatenated batch."""
    df = pd.DataFrame([{
        "model": r["model"], "parameters": r["n_params"], "batches (examples)": f"{r['batches']} ({r['samples']})",
        "lambda_max": r["top"][0], "exact lambda_max": r["exact_top"][0],
        "top-3 max rel. error": r["eig_rel_err"],
        "trace (Hutch++)": f"{r['trace']:.4f} ± {r['trace_se']:.4f}", "exact trace": r["exact_trace"],
        "HVPs": r["hvps"]} for r in ex["rows"]])
    df.attrs["formats"] = {"lambda_max": "{:.6f}", "exact lambda_max": "{:.6f}", "top-3 max rel. error": "{:.1e}",
                           "exact trace": "{:.4f}"}
    return df
