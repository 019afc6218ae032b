"""The layering of ARCHITECTURE.md, checked on the import graph (read with ast, every scope):
imports only go downward, no loops, and only the runner, the ledger and the Sphinx extension
read the chapter registry."""

from __future__ import annotations

import pytest

from landscape.experiment.sources import closure, imports, module_names

#: package prefix -> rank (ARCHITECTURE.md, "The layers, bottom to top"); the longest prefix wins
RANKS = {
    "landscape.validation": 0,
    "landscape.training": 1,
    "landscape.curvature": 2,
    "landscape.spectra": 3,
    "landscape.methods": 4,
    "landscape.experiment": 5,
    "landscape.chapters": 6,
    "landscape.publishing": 7,
    "landscape": 8,
}
#: the modules that may read the chapter registry
REGISTRY_READERS = {"landscape.publishing.runner", "landscape.publishing.ledger", "landscape.publishing.sphinxext"}


def rank(module: str) -> int:
    best = max((p for p in RANKS if module == p or module.startswith(p + ".")), key=len)
    return RANKS[best]


def package(module: str) -> str:
    """The layer package a module belongs to (``landscape.chapters.<name>`` for a chapter)."""
    parts = module.split(".")
    if parts[:2] == ["landscape", "chapters"] and len(parts) > 2 and parts[2] != "common":
        return ".".join(parts[:3])
    return ".".join(parts[:2])


def _chapter(module: str) -> bool:
    """Whether ``module`` is inside one chapter's package (not the registry or the common parameters)."""
    parts = module.split(".")
    return parts[:2] == ["landscape", "chapters"] and len(parts) > 2 and parts[2] != "common"


def violations(graph: dict[str, set[str]]) -> list[str]:
    """Every upward import, cross-chapter import, registry read outside the readers, and loop of ``graph``."""
    out = []
    for m, deps in graph.items():
        for d in sorted(deps):
            same = package(m) == package(d)
            if not same and rank(d) > rank(m):
                out.append(f"upward import: {m} (rank {rank(m)}) imports {d} (rank {rank(d)})")
            if not same and _chapter(m) and _chapter(d):
                out.append(f"one chapter imports another: {m} imports {d}")
            if (d == "landscape.chapters") and m.startswith("landscape.publishing") and m not in REGISTRY_READERS:
                out.append(f"{m} reads the chapter registry (only {', '.join(sorted(REGISTRY_READERS))} may)")
    # loops: depth-first search for a back edge
    state: dict[str, int] = {}

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 1:
                out.append("import loop: " + " -> ".join(path[path.index(d):] + [m, d]) if d in path else f"import loop: {m} -> {d}")
            elif d not in state:
                visit(d, path + [m])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [])
    return out


def real_graph() -> dict[str, set[str]]:
    return {m: set(imports(m)) for m in module_names()}


def test_the_package_has_no_upward_import_and_no_loop():
    assert violations(real_graph()) == []


def test_the_checker_catches_what_it_must():
    graph = {
        "landscape.training.data": {"landscape.publishing.page"},       # science importing publishing
        "landscape.publishing.page": {"landscape.chapters"},             # the notebook API reading the registry
        "landscape.chapters.hessian.claims": {"landscape.chapters.adine.experiments"},
        "landscape.chapters": set(), "landscape.chapters.adine.experiments": set(),
        "landscape.spectra.a": {"landscape.spectra.b"}, "landscape.spectra.b": {"landscape.spectra.a"},  # a loop
    }
    found = "\n".join(violations(graph))
    assert "upward import: landscape.training.data (rank 1) imports landscape.publishing.page (rank 7)" in found
    assert "landscape.publishing.page reads the chapter registry" in found
    assert "one chapter imports another: landscape.chapters.hessian.claims imports landscape.chapters.adine.experiments" in found
    assert "import loop" in found and "landscape.spectra.a" in found


def test_imports_are_read_in_every_scope():
    # training.data imports training.synthetic inside load(): a lazy import still counts
    assert "landscape.training.synthetic" in imports("landscape.training.data")
    assert "landscape.chapters" in imports("landscape.publishing.runner")
    assert "landscape.experiment.stats" in imports("landscape.experiment.claims")


@pytest.mark.parametrize("science", ["landscape.training", "landscape.curvature", "landscape.spectra", "landscape.methods"])
def test_science_reaches_nothing_above_it(science):
    reached = {m for m in module_names() if m == science or m.startswith(science + ".") for m in closure(m)}
    above = sorted(m for m in reached if rank(m) >= RANKS["landscape.experiment"])
    assert above == []


def test_every_chapter_has_the_interface():
    from landscape.chapters import CHAPTERS, module

    for name in CHAPTERS:
        mod = module(name)
        for attr in ("NOTEBOOK", "ORDER", "SCHEMA", "run", "claims", "figures"):
            assert hasattr(mod, attr), f"chapter {name} has no {attr}"
        for part in ("schema", "experiments", "claims", "figures"):
            assert f"landscape.chapters.{name}.{part}" in module_names(), f"chapter {name} has no {part}.py"
