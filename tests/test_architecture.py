"""The package map of docs/architecture.md holds: no import cycles, no upward imports.

The import graph is read with ``ast`` from the source files, so imports inside functions (lazy imports)
count as much as module-level ones: a lazy import still ties the two modules together.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

#: layer of each top-level name under ``seisforge`` (modules not listed belong to "app")
BASE = {"binary_metrics", "config", "errors", "paths", "runinfo", "seisbench_compat", "tuning", "__init__"}
LAYERS = {"models": "models", "data": "data", "train": "train", "deploy": "deploy", "bench": "bench",
          "wavefield": "wavefield"}
#: which layers each layer may import (itself and base always allowed)
ALLOWED = {
    "base": set(),
    "models": set(),
    "data": {"models"},
    "train": {"models", "data"},
    "deploy": {"models", "data"},
    "bench": {"models", "data", "train", "deploy"},
    "wavefield": set(),
    "app": {"models", "data", "train", "deploy", "bench", "wavefield", "app"},
}


def module_files(root: Path, package: str) -> dict[str, Path]:
    """``{dotted module name: file}`` for every ``.py`` file of ``package`` under ``root``."""
    mods = {}
    for path in (root / package).rglob("*.py"):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        mods[".".join(parts)] = path
    return mods


def _resolve(name: str, mods: dict[str, Path]) -> str | None:
    """The longest prefix of ``name`` that is a module of the package."""
    while name and name not in mods:
        name = name.rpartition(".")[0]
    return name or None


def _imported(node: ast.AST, module: str, is_pkg: bool, package: str, mods: dict[str, Path]) -> set[str]:
    """Modules of ``package`` that one import statement imports."""
    if isinstance(node, ast.Import):
        return {_resolve(a.name, mods) for a in node.names if a.name.split(".")[0] == package} - {None}
    if not isinstance(node, ast.ImportFrom):
        return set()
    if node.level:
        base = module.split(".") if is_pkg else module.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        target = ".".join(base + ([node.module] if node.module else []))
    else:
        target = node.module or ""
    if target.split(".")[0] != package:
        return set()
    return {f"{target}.{a.name}" if f"{target}.{a.name}" in mods else _resolve(target, mods)
            for a in node.names} - {None}


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """``{module: modules of the same package it imports anywhere in its file}``."""
    mods = module_files(root, package)
    graph = {}
    for mod, path in mods.items():
        is_pkg = path.name == "__init__.py"
        edges: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            edges |= _imported(node, mod, is_pkg, package, mods)
        graph[mod] = edges - {mod}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path ``[a, b, ..., a]``, or None when the graph is acyclic."""
    state: dict[str, int] = {}  # 1 on the stack, 2 done
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def layer_of(module: str) -> str:
    """The layer of a ``seisforge`` module (see ``ALLOWED``)."""
    parts = module.split(".")
    top = parts[1] if len(parts) > 1 else "__init__"
    if top in BASE:
        return "base"
    return LAYERS.get(top, "app")


def test_seisforge_has_no_import_cycle():
    cycle = find_cycle(import_graph(SRC, "seisforge"))
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_no_layer_imports_a_higher_one():
    graph = import_graph(SRC, "seisforge")
    bad = sorted(f"{a} ({layer_of(a)}) imports {b} ({layer_of(b)})"
                 for a, targets in graph.items() for b in targets
                 if layer_of(b) not in ALLOWED[layer_of(a)] | {layer_of(a), "base"})
    assert not bad, "upward imports:\n" + "\n".join(bad)


@pytest.fixture
def tiny_package(tmp_path: Path) -> Path:
    """A three-module package ``pkg`` whose imports are acyclic."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from pkg import b\n")
    (pkg / "b.py").write_text("import os\nfrom .sub import c\n")
    (pkg / "sub" / "c.py").write_text("def f():\n    return 1\n")
    return tmp_path


def test_the_cycle_check_passes_an_acyclic_package(tiny_package: Path):
    graph = import_graph(tiny_package, "pkg")
    assert graph["pkg.a"] == {"pkg.b"} and graph["pkg.b"] == {"pkg.sub.c"}
    assert find_cycle(graph) is None


def test_the_cycle_check_fails_on_a_lazy_import_cycle(tiny_package: Path):
    (tiny_package / "pkg" / "sub" / "c.py").write_text("def f():\n    from ..a import x\n    return x\n")
    assert find_cycle(import_graph(tiny_package, "pkg")) == ["pkg.a", "pkg.b", "pkg.sub.c", "pkg.a"]


def test_layers_put_models_below_every_stage():
    assert layer_of("seisforge.models.registry") == "models"
    assert "bench" not in ALLOWED["models"] and "train" not in ALLOWED["data"]
    assert ALLOWED["wavefield"] == set() and layer_of("seisforge.tuning") == "base"


def test_no_function_over_80_lines_without_a_reason():
    """Functions read in one screen: over 80 lines only when the docstring says why ("80 lines")."""
    long = []
    for path in sorted((SRC / "seisforge").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > 80 and "80 lines" not in (ast.get_docstring(node) or ""):
                    long.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name} ({n} lines)")
    assert not long, "split these into named steps:\n" + "\n".join(long)
