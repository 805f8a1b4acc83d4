"""The package's layout keeps its layering rules (CONTRIBUTING.md, "Where things live"), read from the
source: the folders show the pipeline, the front end and drawing never import torch code, the core
imports nothing above it, nothing imports the command line, and no two modules import each other
(the op registry and its primitive families aside)."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PKG = ROOT / "dsl"


def _name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {_name(p): p for p in PKG.rglob("*.py")}


def _imports(module: str) -> list[tuple[str, str | None, bool]]:
    """(imported module, imported name or None, inside a function) of every import in `module`,
    `if TYPE_CHECKING:` blocks left out (they do not run)."""
    path = MODULES[module]
    out: list[tuple[str, str | None, bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, True)
            elif isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                continue
            elif isinstance(child, ast.Import):
                out.extend((a.name, None, in_function) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                assert child.level == 0, f"{module}: relative import (netc imports absolutely: dsl.x.y)"
                base = child.module or ""
                for a in child.names:
                    full = f"{base}.{a.name}"
                    out.append((full if full in MODULES else base, a.name, in_function))
            else:
                visit(child, in_function)

    visit(ast.parse(path.read_text(encoding="utf-8")), False)
    return out


GRAPH = {m: {t for t, _, _ in _imports(m) if t in MODULES and t != m} for m in MODULES}


def _under(module: str, *packages: str) -> bool:
    return any(module == p or module.startswith(p + ".") for p in packages)


def test_the_root_holds_at_most_eight_modules():
    root = sorted(p.name for p in PKG.glob("*.py") if p.name != "__init__.py")
    assert len(root) <= 8, root


def test_no_import_circles_but_the_registry_and_its_primitives():
    sys.setrecursionlimit(10_000)
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    circles: list[set[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in GRAPH[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = set()
            while True:
                w = stack.pop()
                on.discard(w)
                comp.add(w)
                if w == v:
                    break
            if len(comp) > 1:
                circles.append(comp)

    for v in MODULES:
        if v not in index:
            connect(v)
    allowed = {"dsl.core.ops"} | {m for m in MODULES if _under(m, "dsl.core.primitives")}
    assert [c for c in circles if not c <= allowed] == []


TORCH_SIDE = ("torch", "torchvision", "dsl.nn", "dsl.train", "dsl.export", "dsl.search")


@pytest.mark.parametrize("package", ["dsl.front", "dsl.expand", "dsl.core", "dsl.draw", "dsl.fmt", "dsl.lsp"])
def test_the_front_end_core_and_drawing_never_import_torch_code(package):
    # an op's builder (Op.build) imports torch and dsl.nn when a graph is built: in the core, inside a
    # function only, so that loading, checking and drawing a network never import torch
    bad = [
        (m, t)
        for m in MODULES
        if _under(m, package)
        for t, _, in_function in _imports(m)
        if _under(t, *TORCH_SIDE) and not (package == "dsl.core" and in_function and _under(t, "torch", "dsl.nn"))
    ]
    assert bad == []


def test_the_core_imports_nothing_above_it():
    bad = [
        (m, t)
        for m in MODULES
        if _under(m, "dsl.core")
        for t in GRAPH[m]
        if not _under(t, "dsl.core", "dsl.errors")
        and not (_under(t, "dsl.nn") and all(f for x, _, f in _imports(m) if x == t))  # builders, lazily
    ]
    assert bad == []


def test_the_graph_imports_no_settings_training_drawing_or_summary():
    assert {t for t in GRAPH["dsl.core.graph"]} <= {"dsl.core.ops", "dsl.errors"}


def test_nothing_imports_the_command_line():
    bad = [
        (m, t)
        for m in MODULES
        if not _under(m, "dsl.cli", "dsl.commands")
        for t in GRAPH[m]
        if _under(t, "dsl.cli", "dsl.commands")
    ]
    assert bad == []


def test_modules_use_each_others_public_names():
    private = [
        (m, t, n)
        for m in MODULES
        for t, n, _ in _imports(m)
        if n and n.startswith("_") and not n.startswith("__") and _under(t, "dsl") and t != m
    ]
    assert private == []


def test_long_parameter_lists_stay_in_the_commands():
    long = []
    for m, path in MODULES.items():
        if _under(m, "dsl.commands"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                args = node.args
                n = len(args.posonlyargs) + len(args.args) + len(args.kwonlyargs)
                n -= bool(args.args and args.args[0].arg in ("self", "cls"))
                if n >= 8:
                    long.append((m, node.name, n))
    assert len(long) <= 4, long


def test_the_data_package_stays_small():
    lines = sum(len(p.read_text(encoding="utf-8").splitlines()) for p in (PKG / "data").glob("*.py"))
    assert lines <= 1400, lines
