"""One module per book chapter: its parameter schema and the experiments it
runs (cached), so the notebooks stay thin.

A chapter module defines

- ``NOTEBOOK``: its notebook, relative to the repository root (``book/<name>.ipynb``);
- ``ORDER``: its place in the book (the runner runs chapters in this order);
- ``SCHEMA``: a :class:`~landscape.params.Schema` of its parameters cell;
- ``SMOKE_CHECKS`` (optional): glued name -> ``(low, high)``, the sane range
  of each glued value on the smoke profile, asserted by the tests.

:data:`CHAPTERS` is found by importing every module here that defines
``NOTEBOOK``: adding a chapter is adding its module and its notebook.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from ..params import Schema

__all__ = ["CHAPTERS", "schema", "module"]


def _discover() -> dict[str, str]:
    found: list[tuple[int, str, str]] = []
    for info in pkgutil.iter_modules(__path__):
        if info.name.startswith("_") or info.name == "common":
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(mod, "NOTEBOOK"):
            found.append((getattr(mod, "ORDER", 100), info.name, mod.NOTEBOOK))
    return {name: nb for _, name, nb in sorted(found)}


#: chapter name -> notebook path relative to the repository root, in the book's order
CHAPTERS: dict[str, str] = _discover()


def module(name: str) -> ModuleType:
    """The module of chapter ``name``."""
    if name not in CHAPTERS:
        raise ValueError(f"Invalid chapter: {name!r} (known: {', '.join(CHAPTERS)})")
    return importlib.import_module(f"{__name__}.{name}")


def schema(name: str) -> Schema:
    """The parameter schema of chapter ``name``."""
    return module(name).SCHEMA
