"""What the template chapter shows: the learning-rate table and accuracy curves."""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ...training.loop import History
from .experiments import Results, final

__all__ = ["lr_table", "curves"]


def lr_table(results: Results) -> pd.DataFrame:
    """Per learning rate: mean final training loss, and test accuracy (mean, sample std over seeds)."""
    rows = []
    for lr, hs in results.runs.items():
        acc = final(hs)
        rows.append({"lr": lr, "final training loss": results.train_loss[lr], "test accuracy": float(acc.mean()),
                     "std over seeds": float(acc.std(ddof=1)) if len(acc) > 1 else 0.0, "best": lr == results.best_lr})
    df = pd.DataFrame(rows)
    df.attrs["formats"] = {"lr": "{:g}", "final training loss": "{:.4f}", "test accuracy": "{:.4f}", "std over seeds": "{:.4f}"}
    return df


def curves(histories: list[History], *, title: str, ax=None):
    """Test accuracy against epoch, one line per seed, mean in bold."""
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 3.2))
    for i, h in enumerate(histories):
        ax.plot(h["epoch"], h["test_acc"], color="C0", alpha=0.35, lw=1, label="one seed" if i == 0 else None)
    n = min(len(h) for h in histories)
    mean = np.nanmean([h["test_acc"][:n] for h in histories], axis=0)
    ax.plot(histories[0]["epoch"][:n], mean, color="C0", lw=2.5, label=f"mean of {len(histories)} seeds")
    ax.set(xlabel="epoch", ylabel="test accuracy", title=title, ylim=(0, 1))
    ax.legend(loc="lower right")
    return fig if fig is not None else ax.figure
