"""The layering the architecture promises, checked from the source: no cycles, no private imports.

Imports inside functions count too: a lazy import that closes a cycle is still a cycle a reader has
to untangle.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "icecrack_assets"
CORE = ("regions", "raster", "errors", "files", "layout", "sar", "simulator", "ml", "catalog", "masks")
SHELL = ("dagster_defs", "definitions", "commands", "cli")


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports() -> dict[str, list[tuple[str, list[str]]]]:
    """module -> [(imported module, names imported from it)] for every icecrack_assets import."""
    modules = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, list[tuple[str, list[str]]]] = {}
    for name, path in modules.items():
        edges = []
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("icecrack_assets"):
                names = [a.name for a in node.names]
                # `from pkg import module` imports the module, not a name of the package
                for n in names:
                    if f"{node.module}.{n}" in modules:
                        edges.append((f"{node.module}.{n}", []))
                plain = [n for n in names if f"{node.module}.{n}" not in modules]
                if plain or node.module in modules:
                    edges.append((node.module, plain))
            elif isinstance(node, ast.Import):
                edges += [(a.name, []) for a in node.names if a.name.startswith("icecrack_assets")]
        graph[name] = edges
    return graph


GRAPH = _imports()


def test_the_core_imports_no_dagster_and_nothing_of_the_shell() -> None:
    offenders = []
    for module, path in ((m, PACKAGE.parent / (m.replace(".", "/"))) for m in GRAPH):
        top = module.split(".")[1] if "." in module else ""
        if top not in CORE:
            continue
        file = path.with_suffix(".py") if path.with_suffix(".py").exists() else path / "__init__.py"
        tree = ast.parse(file.read_text())
        for node in ast.walk(tree):
            mods = []
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                mods = [node.module]
            for m in mods:
                if m.split(".")[0].startswith("dagster") or any(
                    m.startswith(f"icecrack_assets.{s}") for s in SHELL
                ):
                    offenders.append(f"{module} imports {m}")
    assert not offenders, offenders


def test_no_import_cycles() -> None:
    def deps(m: str) -> set[str]:
        out = set()
        for target, _ in GRAPH.get(m, []):
            # importing a.b.c runs a and a.b too; only count modules of this package
            if target in GRAPH and target != m and not m.startswith(target + "."):
                out.add(target)
        return out

    cycles = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for d in sorted(deps(m)):
            if state.get(d) == 1:
                cycles.append(" -> ".join(stack[stack.index(d) :] + [d]))
            elif d not in state:
                visit(d)
        stack.pop()
        state[m] = 2

    for m in sorted(GRAPH):
        if m not in state:
            visit(m)
    assert not cycles, cycles


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_no_private_names_imported_from_another_module(module: str) -> None:
    private = [
        f"{target}.{n}"
        for target, names in GRAPH[module]
        for n in names
        if n.startswith("_") and not n.startswith("__") and target != module
    ]
    assert not private, f"{module} imports private names {private}"
