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

__all__ = ["read", "glued", "errors", "problems"]


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


def problems(nb: str | os.PathLike | dict) -> list[str]:
    """What makes an executed chapter unfit to publish: error outputs, or no outputs at all."""
    nb = read(nb)
    out = [f"cell output holds an error: {e}" for e in errors(nb)]
    code = [c for c in nb.get("cells", []) if c.get("cell_type") == "code"]
    if code and not any(c.get("outputs") for c in code):
        out.append("no code cell has outputs (the book shows committed outputs: run it with --publish)")
    return out
