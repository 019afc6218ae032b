"""One module per book chapter: its parameter schema (``SCHEMA``) and the
experiments it runs (cached), so the notebooks stay thin.

:data:`CHAPTERS` maps a chapter's name to its notebook under ``book/``, in
the book's order; the runner executes them by these names.
"""

from __future__ import annotations

import importlib

from ..params import Schema

__all__ = ["CHAPTERS", "schema"]

#: chapter name -> notebook path relative to the repository root
CHAPTERS: dict[str, str] = {
    "template": "book/template.ipynb",
}


def schema(name: str) -> Schema:
    """The parameter schema of chapter ``name``."""
    if name not in CHAPTERS:
        raise ValueError(f"Invalid chapter: {name!r} (known: {', '.join(CHAPTERS)})")
    return importlib.import_module(f"{__name__}.{name}").SCHEMA
