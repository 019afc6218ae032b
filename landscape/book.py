"""What a chapter notebook calls: parameter validation, glued results,
claims tables, figures, kernel-free widgets and the re-run box.

A chapter starts with ``ch = landscape.book.start("template", globals())``
(validates the parameters cell against the chapter's schema, resolves the
device, applies the figure theme) and ends with ``ch.rerun_box()``.
See ``book/template.ipynb`` for the whole path once.
"""

from __future__ import annotations

import importlib
import math
import platform
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch

from .claims import Claim

__all__ = ["Chapter", "start", "glue", "show_claims", "explore", "git_commit", "resolve_device", "device_label",
           "set_theme", "PALETTE"]

#: Colour-blind-safe palette (Okabe and Ito), used by every figure.
PALETTE = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000"]

_REPO = Path(__file__).resolve().parent.parent


def set_theme() -> None:
    """The book's figure theme: seaborn 'whitegrid', the colour-blind-safe palette above, readable sizes, 2x PNGs."""
    import matplotlib as mpl
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook", palette=PALETTE)
    mpl.rcParams.update({"figure.dpi": 100, "savefig.dpi": 200, "figure.figsize": (7.0, 3.6), "axes.titlesize": "medium"})
    try:  # inline figures as 2x PNGs: sharp in the HTML at the book's width
        from matplotlib_inline.backend_inline import set_matplotlib_formats

        set_matplotlib_formats("retina")
    except ImportError:  # outside IPython
        pass


def device_label(device: torch.device) -> str:
    """What ran: the GPU's name, or ``CPU (<processor>, <n> threads)``."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    return f"CPU ({platform.processor() or platform.machine()}, {torch.get_num_threads()} threads)"


def resolve_device(device: str) -> torch.device:
    """``"auto"`` is CUDA when present, else the CPU; anything else as given (checked)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(f"Invalid device: {device!r} (CUDA is not available on this machine)")
    return dev


def git_commit() -> str:
    """The library's git commit (short), with ``+dirty`` when the working tree has changes; ``unknown`` outside git."""
    try:
        sha = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=_REPO, capture_output=True, text=True, timeout=10).stdout.strip()
        if not sha:
            return "unknown"
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "landscape"], cwd=_REPO, capture_output=True, text=True, timeout=10).stdout.strip()
        return sha + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


GLUE_PREFIX = "application/papermill.record/"


def glue(name: str, value: Any) -> None:
    """Store ``value`` in the notebook under ``name``, not displayed.

    The output has the form of ``myst_nb.glue(name, value, display=False)``
    (a display output whose data is ``repr(value)`` under the
    ``application/papermill.record/`` prefix and whose metadata names it), so
    ``{glue:text}`name``` works in the book, and :func:`landscape.notebook.glued`
    reads it back - without needing myst-nb where chapters run (a GPU node).
    """
    from IPython.display import display

    display({GLUE_PREFIX + "text/plain": repr(value)}, raw=True, metadata={"scrapbook": {"name": name, "mime_prefix": GLUE_PREFIX}})


@dataclass
class Chapter:
    """A running chapter: its validated parameters, device and clock."""

    name: str
    params: dict[str, Any]
    device: torch.device
    started: float = field(default_factory=time.perf_counter)
    claims: list[Claim] = field(default_factory=list)

    @property
    def profile(self) -> str:
        return str(self.params.get("profile", "cpu"))

    def claim(self, claim: Claim) -> Claim:
        """Record a decided claim and glue ``claim-<id>-{value,threshold,verdict,statement}``."""
        self.claims.append(claim)
        glue(f"claim-{claim.id}-statement", claim.statement)
        glue(f"claim-{claim.id}-value", claim.value)
        glue(f"claim-{claim.id}-threshold", claim.rule)
        glue(f"claim-{claim.id}-verdict", claim.verdict)
        return claim

    def rerun_box(self) -> None:
        """Display the re-run box: commands per profile, and the profile,
        device, duration, library commit and torch version of this run."""
        from IPython.display import Markdown, display

        seconds = time.perf_counter() - self.started
        dev = device_label(self.device)
        glue("run-profile", self.profile)
        glue("run-device", dev)
        glue("run-seconds", round(seconds, 1))
        glue("run-commit", git_commit())
        cmds = "\n".join(f"python -m landscape run --profile {p} {self.name}" for p in ("smoke", "cpu", "gpu"))
        display(Markdown(
            f":::{{admonition}} Re-run this chapter\n:class: tip\n\n"
            f"This page was produced with profile **{self.profile}** on **{dev}** in "
            f"**{seconds:.0f} s** (chapter body, warm or cold cache as it was), library commit "
            f"`{git_commit()}`, torch {torch.__version__}.\n\n"
            f"```bash\n{cmds}\n```\n\n"
            f"Add `-p NAME VALUE` to change one parameter, `--publish` to replace this page in `book/`.\n:::"
        ))


def start(name: str, values: Mapping[str, Any]) -> Chapter:
    """Validate a chapter's parameters (``values`` is the notebook's
    ``globals()``) against ``landscape.chapters.<name>.SCHEMA``, resolve
    ``device``, set the figure theme. Raises
    :class:`~landscape.params.ParameterError` naming a bad parameter."""
    module = importlib.import_module(f"landscape.chapters.{name}")
    params = module.SCHEMA.validate(values)
    device = resolve_device(params.get("device", "auto"))
    set_theme()
    return Chapter(name, params, device)


def show_claims(claims: Sequence[Claim]):
    """The claims table (id, statement, measured, rule, verdict) as a styled DataFrame."""
    import pandas as pd

    rows = [
        {"id": c.id, "claim": c.statement, "measured": _fmt(c.value), "reproduced when": c.rule, "verdict": c.verdict, "detail": c.detail}
        for c in claims
    ]
    df = pd.DataFrame(rows)
    colours = {"reproduced": "#cfe8d8", "not reproduced": "#f6d3c4", "inconclusive": "#f3ecc2"}
    return df.style.hide(axis="index").map(lambda v: f"background-color: {colours.get(v, '')}", subset=["verdict"])


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.4g}"
    return str(v)


def explore(figures: Mapping[str, Any], *, description: str = "Show", slider: bool = False):
    """A control that switches between precomputed figures, in the browser.

    Each figure is captured in an :class:`ipywidgets.Output`; the Outputs go
    in a :class:`ipywidgets.Stack` whose ``selected_index`` is ``jslink``-ed
    to a Dropdown (or an IntSlider with ``slider=True``). The link runs in
    the browser, so the control also works in the static HTML book, with no
    kernel. Matplotlib figures are closed after capture.
    """
    import ipywidgets as w
    import matplotlib.pyplot as plt
    from IPython.display import display

    if not figures:
        raise ValueError("explore needs at least one figure")
    labels = list(figures)
    outputs = []
    for label in labels:
        out = w.Output()
        with out:
            display(figures[label])
        if hasattr(figures[label], "savefig"):
            plt.close(figures[label])
        outputs.append(out)
    stack = w.Stack(outputs, selected_index=0)
    if slider:
        control = w.IntSlider(value=0, min=0, max=len(labels) - 1, description=description, continuous_update=True, style={"description_width": "initial"})
    else:
        control = w.Dropdown(options=labels, index=0, description=description, style={"description_width": "initial"})
    link = w.jslink((control, "value" if slider else "index"), (stack, "selected_index"))
    box = w.VBox([control, stack])
    box._landscape_link = link  # keep the link object alive with the box
    return box
