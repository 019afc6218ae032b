"""What a chapter notebook calls: start the chapter, glue results, show
tables and claims, kernel-free widgets, and the re-run box.

A chapter notebook starts with ::

    from landscape.chapters import template
    from landscape.publishing import page

    ch = page.start(template, globals())   # validates the parameters cell, resolves the device, sets the theme
    results = template.run(ch.params)

and ends with ``ch.show_claims(template.claims(results, ch.params))`` and
``ch.rerun_box()``. Nothing here knows a particular chapter: the chapter
package is passed in. See ``book/template.ipynb`` for the whole path once.
"""

from __future__ import annotations

import hashlib
import math
import time
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, Mapping, Sequence

import torch

from ..experiment.claims import Claim
from ..experiment.params import Params
from ..experiment.records import device_label, git_commit
from ..experiment.style import png, set_theme
from ..training.loop import resolve_device

__all__ = ["Chapter", "start", "glue", "table", "Table", "explore", "kernel_only", "live", "KERNEL_NOTE", "GLUE_PREFIX"]

GLUE_PREFIX = "application/papermill.record/"


def glue(name: str, value: Any) -> None:
    """Store ``value`` in the notebook under ``name``, not displayed.

    The output has the form of ``myst_nb.glue(name, value, display=False)``
    (a display output whose data is ``repr(value)`` under the
    ``application/papermill.record/`` prefix and whose metadata names it), so
    ``{glue:text}`name``` works in the book, and :func:`landscape.publishing.notebooks.glued`
    reads it back - without needing myst-nb where chapters run (a GPU node).
    """
    from IPython.display import display

    display({GLUE_PREFIX + "text/plain": repr(value)}, raw=True, metadata={"scrapbook": {"name": name, "mime_prefix": GLUE_PREFIX}})


class Table:
    """A table in the book's one style: no index, numbers formatted per column,
    verdict cells coloured. Shown as HTML in the page; its plain-text form
    (what tests and nbval read) is the same table as text, deterministic."""

    _COLOURS = {"reproduced": "#cfe8d8", "not reproduced": "#f6d3c4", "inconclusive": "#f3ecc2"}

    def __init__(self, df, formats: Mapping[str, str] | None = None) -> None:
        self.df = df
        self.formats = dict(formats or {})

    def _fmt(self, col: str):
        f = self.formats.get(col)
        return (lambda v: f.format(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else str(v)) if f else None

    def _repr_html_(self) -> str:
        # pandas gives each Styler a random id: one derived from the table keeps the page (and nbval) deterministic
        uid = hashlib.sha256(repr(self).encode()).hexdigest()[:10]
        style = self.df.style.set_uuid(uid).hide(axis="index").format({c: self._fmt(c) for c in self.formats if c in self.df.columns}, na_rep="")
        style = style.map(lambda v: f"background-color: {self._COLOURS[v]}" if isinstance(v, str) and v in self._COLOURS else "")
        return style.to_html()

    def __repr__(self) -> str:
        fmts = {c: self._fmt(c) for c in self.formats if c in self.df.columns}
        return self.df.to_string(index=False, formatters=fmts or None)


class ClaimsTable(Table):
    """The claims table: in the page, the table without its ``detail`` column, then each
    claim's detail (how it was decided, part by part) in a collapsed block under it - a
    detail can run to a paragraph per claim, which squeezes every other column; its text
    form (tests, nbval) is the whole table, detail included."""

    def _repr_html_(self) -> str:
        main = Table(self.df.drop(columns=["detail"]), self.formats)._repr_html_()
        blocks = "".join(f"<details><summary>{_escape(str(i))}: how it was decided</summary><p>{_escape(str(d))}</p></details>"
                         for i, d in zip(self.df["id"], self.df["detail"]) if d)
        return f'{main}<div class="landscape-claim-details">{blocks}</div>'


def table(rows, formats: Mapping[str, str] | None = None) -> Table:
    """A :class:`Table` from a DataFrame or a list of row dicts; ``formats`` maps columns to
    format strings (``{"loss": "{:.4f}"}``), by default the DataFrame's ``attrs["formats"]``
    (where the chapter's table functions put them)."""
    import pandas as pd

    df = rows if isinstance(rows, pd.DataFrame) else pd.DataFrame(list(rows))
    return Table(df, df.attrs.get("formats") if formats is None else formats)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _value_text(v: Any) -> str:
    if isinstance(v, float):
        return "nan" if math.isnan(v) else f"{v:.4g}"
    return str(v)


@dataclass
class Chapter:
    """A running chapter: its name, validated parameters, device and clock."""

    name: str
    params: Params
    device: torch.device
    started: float = field(default_factory=time.perf_counter)
    claims: list[Claim] = field(default_factory=list)

    @property
    def profile(self) -> str:
        return str(getattr(self.params, "profile", "cpu"))

    def show_claims(self, claims: Sequence[Claim]) -> Table:
        """Record the chapter's decided claims, glue each and return the claims table.

        Glued per claim: ``claim-<id>-statement``, ``-value``, ``-threshold``, ``-verdict``;
        ``-null`` (the null's score), ``-mde``, ``-v1-verdict``, ``-summary`` and
        ``-protocol-dependent`` where the claim carries them (:mod:`landscape.publishing.ledger`
        reads them). With v1 verdicts the table shows them beside the headline (v2) verdict,
        with the reason the rule changed.
        """
        for c in claims:
            self.claims.append(c)
            glue(f"claim-{c.id}-statement", c.statement)
            glue(f"claim-{c.id}-value", c.value)
            glue(f"claim-{c.id}-threshold", c.rule)
            glue(f"claim-{c.id}-verdict", c.verdict)
            if c.null is not None:
                glue(f"claim-{c.id}-null", c.null)
            if c.mde is not None:
                glue(f"claim-{c.id}-mde", c.mde)
            if c.v1 is not None:
                glue(f"claim-{c.id}-v1-verdict", c.v1.verdict)
            if c.summary:
                glue(f"claim-{c.id}-summary", c.summary)
            if c.variants:
                glue(f"claim-{c.id}-protocol-dependent", c.protocol_dependent)
        rows = []
        for c in claims:
            row = {"id": c.id, "claim": c.statement, "measured": _value_text(c.value), "reproduced when": c.rule,
                   "verdict": c.verdict}
            if any(x.null is not None for x in claims):
                row["null scores"] = "" if c.null is None else _value_text(c.null)
            if any(x.v1 is not None for x in claims):
                row["v1 verdict"] = "" if c.v1 is None else c.v1.verdict
                row["why the rule changed"] = c.change
            row["detail"] = c.detail
            rows.append(row)
        t = table(rows)
        return ClaimsTable(t.df, t.formats)

    def verdict_strip(self, claims: Sequence[Claim], scale: Mapping[str, Sequence[tuple[str, str]]] | None = None,
                      *, scale_label: str | None = "paper's setting"):
        """The chapter's answer at a glance: per claim its id, the headline verdict on this
        run's profile, the verdict at the paper's setting (``scale``: claim id ->
        ``[(setting, verdict), ...]`` from the gpu-profile record), and one line of reason;
        a row whose scales disagree says so. ``scale_label=None``: a chapter with no paper
        setting (the template, the toolkit), no such column."""
        from IPython.display import HTML

        def cell(v: str) -> str:
            colour = Table._COLOURS.get(v, "")
            return f'<td style="background-color: {colour}">{v}</td>' if colour else f"<td>{v}</td>"

        if scale_label is None and scale:
            raise ValueError("Invalid scale: a chapter with no paper setting (scale_label=None) has no verdicts there")
        scale = dict(scale or {})
        at_head = "" if scale_label is None else f"<th>{scale_label}</th>"
        head = f"<tr><th>claim</th><th>{self.profile} profile</th>{at_head}<th>why</th></tr>"
        body = []
        for c in claims:
            at_scale = scale.get(c.id, [])
            shown = "; ".join(f"{v} ({s})" if s else v for s, v in at_scale) or "not run"
            disagree = any(v != c.verdict for _, v in at_scale)
            note = " <strong>The scales disagree.</strong>" if disagree else ""
            colour_at_scale = "" if scale_label is None else cell(at_scale[0][1]) if len(at_scale) == 1 else f"<td>{shown}</td>"
            body.append(f"<tr><td><strong>{c.id}</strong></td>{cell(c.verdict)}{colour_at_scale}"
                        f"<td>{_escape(c.summary or c.statement)}{note}</td></tr>")
        return HTML(f'<table class="landscape-verdict-strip"><thead>{head}</thead><tbody>{"".join(body)}</tbody></table>')

    def seconds(self) -> float:
        """Seconds since the chapter started."""
        return time.perf_counter() - self.started

    def rerun_box(self) -> None:
        """Display the re-run box: commands per profile, and the profile,
        device, duration, library commit and torch version of this run."""
        from IPython.display import Markdown, display

        seconds = self.seconds()
        dev = device_label(self.device, getattr(self.params, "threads", None))
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


def start(chapter: ModuleType, values: Mapping[str, Any]) -> Chapter:
    """Validate a chapter's parameters (``values`` is the notebook's ``globals()``)
    against ``chapter.SCHEMA`` (each parameter, then the rules between them),
    resolve ``device`` and set the figure theme.

    Raises:
        landscape.experiment.params.ParameterError: a bad parameter, named.
    """
    params = chapter.SCHEMA.validate(values)
    device = resolve_device(getattr(params, "device", "auto"))
    set_theme()
    return Chapter(chapter.__name__.rsplit(".", 1)[-1], params, device)


def explore(figures: Mapping[str, Any], *, description: str = "Show", slider: bool = False):
    """A control that switches between precomputed figures, in the browser.

    Each figure is captured in an :class:`ipywidgets.Output`; the Outputs go
    in a :class:`ipywidgets.Stack` whose ``selected_index`` is ``jslink``-ed
    to a Dropdown (or an IntSlider with ``slider=True``). The link runs in
    the browser, so the control also works in the static HTML book, with no
    kernel. A matplotlib figure is captured as one palette PNG shown at its
    size in the column (:func:`landscape.experiment.style.png`: a quarter of
    the pixels of a retina figure, for pages that hold every state) and closed.
    """
    import ipywidgets as w
    from IPython.display import display

    if not figures:
        raise ValueError("Invalid figures: {} (must hold at least one figure)")
    labels = list(figures)
    outputs = []
    for label in labels:
        shown = figures[label]
        if hasattr(shown, "savefig"):
            shown = png(shown, colors=256)  # closes it
        out = w.Output()
        with out:
            display(shown)
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


#: what a kernel-only control says on the static page
KERNEL_NOTE = "needs a running kernel: open in JupyterLab (make lab)"


def kernel_only(control, note: str = KERNEL_NOTE):
    """Mark a control that needs a running kernel (an ``interact`` slider, a button that
    reruns something): returns a box of the control and a note.

    In the static book the control is shown disabled and the note - ``needs a running
    kernel: open in JupyterLab`` - is shown under it (the book's ``landscape.css`` and
    ``landscape.js`` act on the box's class, ``landscape-kernel-only``). Under a kernel
    (JupyterLab, which loads neither file) the control works as usual and the note stays
    hidden. Precomputed controls (:func:`explore`) work without a kernel: never wrap them.
    """
    import ipywidgets as w

    if not isinstance(control, w.DOMWidget):
        raise TypeError(f"Invalid control: {type(control).__name__} (must be an ipywidgets widget)")
    hint = w.HTML(f'<span class="landscape-kernel-note-text">{_escape(note)}</span>', layout=w.Layout(display="none"))
    hint.add_class("landscape-kernel-note")
    box = w.VBox([control, hint])
    box.add_class("landscape-kernel-only")
    return box


def live(fn, /, *, note: str = KERNEL_NOTE, **controls):
    """A figure or table recomputed by the kernel each time a control moves:
    ``ipywidgets.interactive(fn, **controls)`` marked :func:`kernel_only`.

    ``fn`` is called once now, with the controls' initial values (its output - a figure
    shown with ``plt.show()``, a displayed table - is what the static page keeps), and
    again under a kernel whenever a control changes. On the static page the controls
    are disabled and the note says why. Make the cell's last expression the result, or
    ``display`` it, e.g. ``page.live(draw, eps=widgets.FloatSlider(...))``.
    """
    import ipywidgets as w

    if not callable(fn):
        raise TypeError(f"Invalid fn: {type(fn).__name__} (must be callable)")
    if not controls:
        raise ValueError("Invalid controls: {} (must name at least one control, as keyword=widget)")
    return kernel_only(w.interactive(fn, **controls), note)
