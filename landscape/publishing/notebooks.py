"""Reading executed notebooks: glued values and run metadata.

Values glued with ``myst_nb.glue`` are stored as display outputs whose
``metadata.scrapbook.name`` is the glue name and whose data holds a
``text/plain`` representation (under a ``mime_prefix`` such as
``application/papermill.record/`` when papermill is installed). The runner,
the tests and the claims ledger read them from here.
"""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path
from typing import Any

__all__ = ["read", "glued", "errors", "dead_controls", "problems", "parameters", "parameters_summary"]


def read(nb: str | os.PathLike | dict) -> dict:
    """The notebook as a dict (a path is read as JSON)."""
    return nb if isinstance(nb, dict) else json.loads(Path(nb).read_text())


def glued(nb: str | os.PathLike | dict) -> dict[str, Any]:
    """Every glued value of the notebook: name -> Python value (literal
    values parsed back; anything else as its text)."""
    out: dict[str, Any] = {}
    for cell in read(nb).get("cells", []):
        for o in cell.get("outputs", []):
            scrap = o.get("metadata", {}).get("scrapbook")
            if not scrap:
                continue
            text = o.get("data", {}).get(scrap.get("mime_prefix", "") + "text/plain")
            if text is None:
                continue
            text = "".join(text) if isinstance(text, list) else text
            try:
                out[scrap["name"]] = ast.literal_eval(text)
            except (ValueError, SyntaxError):
                out[scrap["name"]] = text
    return out


def errors(nb: str | os.PathLike | dict) -> list[str]:
    """The error outputs of the notebook, as ``"ename: evalue"`` lines."""
    return [f"{o.get('ename')}: {o.get('evalue')}" for c in read(nb).get("cells", []) for o in c.get("outputs", []) if o.get("output_type") == "error"]


#: widget models a reader moves (the rest are containers, outputs, styles and links)
_CONTROLS = ("Slider", "Dropdown", "Checkbox", "Button", "ToggleButton", "RadioButtons", "Select", "Text", "Combobox",
             "ColorPicker", "DatePicker", "Play")
_WIDGET_STATE = "application/vnd.jupyter.widget-state+json"


def dead_controls(nb: str | os.PathLike | dict) -> list[str]:
    """Controls in the notebook's saved widget state that would look live on the static page
    but do nothing there: neither ``jslink``-ed (a precomputed :func:`~landscape.publishing.page.explore`
    control, which works without a kernel) nor inside a box marked
    :func:`~landscape.publishing.page.kernel_only` (shown disabled, with its note).
    Returns one ``"<Model> '<description>'"`` line per such control."""
    state = read(nb).get("metadata", {}).get("widgets", {}).get(_WIDGET_STATE, {}).get("state", {})
    parent: dict[str, str] = {}
    linked: set[str] = set()
    for mid, m in state.items():
        st = m.get("state", {})
        for child in st.get("children", []) or []:
            if isinstance(child, str) and child.startswith("IPY_MODEL_"):
                parent[child[len("IPY_MODEL_"):]] = mid
        if m.get("model_name") in ("LinkModel", "DirectionalLinkModel"):
            for end in (st.get("source"), st.get("target")):
                if end and isinstance(end[0], str) and end[0].startswith("IPY_MODEL_"):
                    linked.add(end[0][len("IPY_MODEL_"):])

    def marked(mid: str) -> bool:
        seen = set()
        while mid in parent and mid not in seen:
            seen.add(mid)
            mid = parent[mid]
            if "landscape-kernel-only" in (state.get(mid, {}).get("state", {}).get("_dom_classes") or []):
                return True
        return False

    out = []
    for mid, m in state.items():
        name = m.get("model_name", "")
        if name.endswith("Model") and any(name[:-5].endswith(c) for c in _CONTROLS) and mid not in linked and not marked(mid):
            out.append(f"{name[:-5]} {m.get('state', {}).get('description', '')!r}")
    return sorted(out)


def problems(nb: str | os.PathLike | dict) -> list[str]:
    """What makes an executed chapter unfit to publish: error outputs, no outputs at all, or a
    control that does nothing on the static page (:func:`dead_controls`)."""
    nb = read(nb)
    out = [f"cell output holds an error: {e}" for e in errors(nb)]
    out += [f"a control needs a kernel but is not marked kernel_only (page.live / page.kernel_only): {c}"
            for c in dead_controls(nb)]
    code = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    if code and not any(c.get("outputs") for c in code):
        out.append("no code cell has outputs (the book shows committed outputs: run it with --publish)")
    return out


def _cell_values(source: str) -> dict[str, Any]:
    """The ``name = literal`` assignments of a parameters cell (anything else is skipped)."""
    out: dict[str, Any] = {}
    try:
        body = ast.parse(source).body
    except SyntaxError:
        return out
    for node in body:
        target = node.targets[0] if isinstance(node, ast.Assign) and len(node.targets) == 1 else getattr(node, "target", None)
        value = getattr(node, "value", None)
        if isinstance(target, ast.Name) and value is not None:
            try:
                out[target.id] = ast.literal_eval(value)
            except ValueError:
                pass
    return out


def parameters(nb: str | os.PathLike | dict) -> dict[str, Any]:
    """The parameters the notebook ran with: its ``parameters`` cell, overridden by the cell papermill
    injected (``injected-parameters``) when there is one."""
    out: dict[str, Any] = {}
    for tag in ("parameters", "injected-parameters"):
        for cell in read(nb).get("cells", []):
            if cell.get("cell_type") == "code" and tag in cell.get("metadata", {}).get("tags", []):
                src = cell.get("source", "")
                out.update(_cell_values("".join(src) if isinstance(src, list) else src))
                break
    return out


def _seeds_text(seeds: Any) -> str:
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        return f"seed {seeds}"
    seeds = [s for s in seeds if isinstance(s, int)]
    if not seeds:
        return ""
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[0] + len(seeds))):
        return f"seeds {seeds[0]}-{seeds[-1]} ({len(seeds)})"
    return f"seeds {', '.join(map(str, seeds))}" + (f" ({len(seeds)})" if len(seeds) > 2 else "")


def parameters_summary(nb: str | os.PathLike | dict) -> str:
    """One line that says what the page's run was: profile, data, seeds and run time, e.g.
    ``profile cpu · data digits, mnist10k · seeds 0-19 (20) · ran in 61 s on CPU (1 thread)``.

    Data: the values of every parameter named ``*dataset`` or ``*datasets``; seeds: ``seeds``, else
    the longest ``*seeds`` list (or ``seed``); the run time: papermill's duration of the run, else the
    glued ``run-seconds``; the device: the glued ``run-device``. A part the notebook does not hold is
    left out.
    """
    nb = read(nb)
    values = parameters(nb)
    glue = glued(nb)
    parts = []
    profile = values.get("profile", glue.get("run-profile"))
    if profile:
        parts.append(f"profile {profile}")
    data: list[str] = []
    for name, value in values.items():
        if name.endswith(("dataset", "datasets")) and value:
            for v in value if isinstance(value, (list, tuple)) else [value]:
                if isinstance(v, str) and v not in data:
                    data.append(v)
    if data:
        parts.append("data " + ", ".join(data))
    seeds = values.get("seeds")
    if seeds is None:
        lists = [v for k, v in values.items() if k.endswith("seeds") and isinstance(v, (list, tuple))]
        seeds = max(lists, key=len) if lists else values.get("seed")
    if isinstance(seeds, (int, list, tuple)) and not isinstance(seeds, bool):
        text = _seeds_text(seeds)
        if text:
            parts.append(text)
    seconds = nb.get("metadata", {}).get("papermill", {}).get("duration") or glue.get("run-seconds")
    if isinstance(seconds, (int, float)) and seconds > 0:
        ran = f"ran in {seconds:.0f} s" if seconds < 120 else f"ran in {seconds / 60:.1f} min"
        device = glue.get("run-device")
        parts.append(ran + (f" on {device}" if device else ""))
    return " \u00b7 ".join(parts)
