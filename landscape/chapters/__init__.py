"""The book's chapters: one package per chapter, each with the same interface.

A chapter package ``landscape/chapters/<name>/`` defines

- ``NOTEBOOK``: its notebook, relative to the repository root (``book/<name>.ipynb``);
- ``ORDER``: its place in the book (the runner runs chapters in this order);
- ``SCHEMA``: a :class:`~landscape.experiment.params.Schema` of its parameters
  cell - every parameter, typed, with ranges and the rules between parameters,
  which the runner checks before any kernel starts (``schema.py``);
- ``run(params) -> results``: every experiment of the chapter, cached
  (``experiments.py``);
- ``claims(results, params) -> list[Claim]``: every verdict, decided here,
  none in the notebook (``claims.py``);
- ``figures``: the functions that draw and tabulate (``figures.py``);
- ``SMOKE_CHECKS`` (optional): glued name -> ``(low, high)``, the sane range of
  each glued value on the smoke profile, asserted by the tests.

:data:`CHAPTERS` is found by importing every package here that defines
``NOTEBOOK``: adding a chapter is adding its package and its notebook. Only
the runner, the claims ledger and the Sphinx extension read this registry.
"""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

from ..experiment.params import Schema

__all__ = ["CHAPTERS", "schema", "module"]


def _discover() -> dict[str, str]:
    found: list[tuple[int, str, str]] = []
    for info in pkgutil.iter_modules(__path__):
        if not info.ispkg or info.name.startswith("_"):
            continue
        mod = importlib.import_module(f"{__name__}.{info.name}")
        if hasattr(mod, "NOTEBOOK"):
            found.append((getattr(mod, "ORDER", 100), info.name, mod.NOTEBOOK))
    return {name: nb for _, name, nb in sorted(found)}


#: chapter name -> notebook path relative to the repository root, in the book's order
CHAPTERS: dict[str, str] = _discover()


def module(name: str) -> ModuleType:
    """The package of chapter ``name``."""
    if name not in CHAPTERS:
        raise ValueError(f"Invalid chapter: {name!r} (must be one of {', '.join(CHAPTERS)})")
    return importlib.import_module(f"{__name__}.{name}")


def schema(name: str) -> Schema:
    """The parameter schema of chapter ``name``."""
    return module(name).SCHEMA
