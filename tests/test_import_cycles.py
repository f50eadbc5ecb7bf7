"""No import cycles between our modules, counting function-level imports too.

Every module under the packages below is parsed with `ast` (nothing is imported), every import
statement wherever it sits becomes an edge, and no strongly connected component may hold more
than one module: a cycle hidden behind a function-level import is still a cycle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("gatekeeper", "evalsets", "reports", "dashboards")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            found[_module_name(path)] = path
    return found


def _resolve(name: str, known: set[str]) -> str | None:
    """Return the longest known module that `name` is or lies inside."""
    while name:
        if name in known:
            return name
        name = name.rpartition(".")[0]
    return None


def _from_base(module: str, node: ast.ImportFrom, is_package: bool) -> str:
    """Return the absolute module a `from ... import` statement reads from."""
    if not node.level:
        return node.module or ""
    anchor = module.split(".")
    drop = node.level - 1 if is_package else node.level
    anchor = anchor[: len(anchor) - drop]
    return ".".join([*anchor, node.module] if node.module else anchor)


def imported_modules(module: str, source: str, known: set[str], is_package: bool = False) -> set[str]:
    """Return the known modules that `source` imports, wherever the import statement sits.

    `from pkg import sub` where `pkg.sub` is a module is an edge to `pkg.sub` alone: importing a
    submodule is not a use of the package's own names.
    """
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(_resolve(alias.name, known) or "" for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _from_base(module, node, is_package)
            for alias in node.names:
                submodule = f"{base}.{alias.name}"
                found.add(submodule if submodule in known else _resolve(base, known) or "")
    return found - {"", module}


def import_graph() -> nx.DiGraph:
    """Build the graph of imports between our own modules."""
    modules = _modules()
    known = set(modules)
    graph = nx.DiGraph()
    graph.add_nodes_from(known)
    for module, path in modules.items():
        source = path.read_text()
        for target in imported_modules(module, source, known, path.name == "__init__.py"):
            graph.add_edge(module, target)
    return graph


def test_function_level_and_relative_imports_are_edges() -> None:
    source = "from . import b\ndef f():\n    from pkg.c import thing\n    import pkg.d.e\n"
    known = {"pkg", "pkg.a", "pkg.b", "pkg.c", "pkg.d"}
    assert imported_modules("pkg.a", source, known) == {"pkg.b", "pkg.c", "pkg.d"}


def test_the_graph_covers_every_package() -> None:
    graph = import_graph()
    assert {node.split(".")[0] for node in graph} == set(PACKAGES)


def test_no_import_cycles() -> None:
    graph = import_graph()
    cycles = [sorted(c) for c in nx.strongly_connected_components(graph) if len(c) > 1]
    assert cycles == [], f"import cycles: {cycles}"


def test_evalset_builders_import_nothing_from_the_gate() -> None:
    """The gate reads evalsets; the builders stand alone (shared pieces live in evalsets/)."""
    graph = import_graph()
    back = sorted((a, b) for a, b in graph.edges if a.startswith("evalsets") and b.startswith("gatekeeper"))
    assert back == []
