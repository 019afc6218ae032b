"""Which of the package's source files a module depends on: its ``landscape``
imports, read with :mod:`ast` and followed transitively.

Two users: the results cache keys a result by the code that can reach the
function that computed it (:func:`closure_digest`), so editing a chapter's
figures or claims does not recompute its experiments; and the test of the
layering (``tests/test_architecture.py``) walks the same graph to refuse
upward imports and loops.

Only explicit imports count, in any scope (a lazy import inside a function
too). ``from P import n`` depends on ``P.n`` when that is a module, else on
``P`` itself (``n`` is defined in ``P/__init__.py``).

Example:
    >>> deps = closure("landscape.training.curves")
    >>> sorted(deps)
    ['landscape.training.curves', 'landscape.validation']
"""

from __future__ import annotations

import ast
import functools
import hashlib
from pathlib import Path

__all__ = ["PACKAGE_ROOT", "module_file", "module_names", "imports", "closure", "closure_digest"]

#: the folder of the ``landscape`` package
PACKAGE_ROOT = Path(__file__).resolve().parent.parent


def module_file(name: str) -> Path | None:
    """The source file of module ``name`` (``landscape.x.y``), or None when it is not one of ours."""
    parts = name.split(".")
    if parts[0] != "landscape":
        return None
    base = PACKAGE_ROOT.joinpath(*parts[1:])
    for cand in (base.with_suffix(".py"), base / "__init__.py"):
        if cand.is_file():
            return cand
    return None


def module_names() -> list[str]:
    """Every module of the package, by dotted name."""
    out = []
    for p in sorted(PACKAGE_ROOT.rglob("*.py")):
        rel = p.relative_to(PACKAGE_ROOT.parent).with_suffix("")
        parts = list(rel.parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out.append(".".join(parts))
    return out


def _package_of(name: str) -> str:
    f = module_file(name)
    return name if f is not None and f.name == "__init__.py" else name.rsplit(".", 1)[0]


@functools.lru_cache(maxsize=None)
def imports(name: str) -> frozenset[str]:
    """The ``landscape`` modules that module ``name`` imports directly (in any scope)."""
    f = module_file(name)
    if f is None:
        return frozenset()
    tree = ast.parse(f.read_text(), filename=str(f))
    pkg = _package_of(name)
    out: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "landscape":
                    out.add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = pkg.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if target.split(".")[0] != "landscape":
                continue
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                out.add(sub if module_file(sub) is not None else target)
    return frozenset(m for m in out if module_file(m) is not None and m != name)


@functools.lru_cache(maxsize=None)
def closure(name: str) -> frozenset[str]:
    """``name`` and every ``landscape`` module it reaches by imports."""
    seen, todo = set(), [name]
    while todo:
        m = todo.pop()
        if m in seen or module_file(m) is None:
            continue
        seen.add(m)
        todo.extend(imports(m))
    return frozenset(seen)


#: modules whose code never changes a result: the cache itself (a change of its file format
#: makes old files unreadable, and they are recomputed) and this module
NOT_A_RESULT = frozenset({"landscape.experiment.cache", "landscape.experiment.sources"})


@functools.lru_cache(maxsize=None)
def closure_digest(name: str) -> str:
    """SHA-256 over the paths and contents of the files in :func:`closure` of ``name``
    (less :data:`NOT_A_RESULT`)."""
    h = hashlib.sha256()
    for m in sorted(closure(name) - NOT_A_RESULT):
        f = module_file(m)
        h.update(str(f.relative_to(PACKAGE_ROOT)).encode())
        h.update(f.read_bytes())
    return h.hexdigest()
