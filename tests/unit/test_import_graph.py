"""The product's import graph: no product module imports a test helper, and no two product modules
import each other (directly or around a longer circle). Read from the source with ``ast``, so an
import inside a function counts as much as one at the top of a module (it runs all the same, only
later)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCT = ("console", "widgets", "backends")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def product_modules() -> dict[str, Path]:
    return {
        _module_name(p): p
        for top in PRODUCT
        for p in sorted((ROOT / top).rglob("*.py"))
        if "__pycache__" not in p.parts
    }


def _imported(path: Path, name: str) -> set[str]:
    """Every module ``path`` names in an import statement, anywhere in the file, as absolute names
    (``from pkg import mod`` names ``pkg.mod`` when that is a module, else ``pkg``)."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            found.add(prefix)
            found.update(f"{prefix}.{alias.name}" for alias in node.names)
    return found


def import_graph() -> dict[str, set[str]]:
    """Product module -> the product modules it imports (itself excluded)."""
    modules = product_modules()
    return {
        name: {m for m in _imported(path, name) if m in modules and m != name}
        for name, path in modules.items()
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_product_module_imports_from_tests():
    offenders = {
        name: sorted(m for m in _imported(path, name) if m == "tests" or m.startswith("tests."))
        for name, path in product_modules().items()
    }
    assert {k: v for k, v in offenders.items() if v} == {}


def test_no_two_product_modules_import_each_other():
    assert cycles(import_graph()) == []


def test_the_cycle_check_sees_function_level_and_relative_imports(tmp_path):
    """The checker itself: a circle closed by an import inside a function, one closed by a relative
    import, and a module that imports nothing in the circle."""
    graph = {"a": {"b"}, "b": {"a"}, "c": {"d"}, "d": {"e"}, "e": {"c"}, "f": {"a"}}
    assert sorted(cycles(graph)) == [["a", "b"], ["c", "d", "e"]]

    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    src = pkg / "one.py"
    src.write_text(
        "import os\n\ndef later():\n    from .two import thing\n    from . import three\n"
    )
    assert _imported(src, "pkg.one") >= {"pkg.two", "pkg.two.thing", "pkg", "pkg.three", "os"}


def test_the_graph_sees_the_product():
    graph = import_graph()
    assert "console.model" in graph["console.monitor"]
    assert "backends.base" in graph["console.model"]
    assert "console.factory" in graph["console.cli"]  # imported inside a function
