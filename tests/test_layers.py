"""The packages' import graph: layers point one way, and no modules import each other in a cycle.

Read from the source with `ast`, so every import counts: at module level, inside functions,
and under `if TYPE_CHECKING:` (a type-only import still ties the lower layer to the upper one).
For cycles only the imports that run count, since type-only imports cannot make one at run time.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

MAY_IMPORT: dict[str, frozenset[str]] = {
    "actors": frozenset(),
    "transports": frozenset({"actors"}),
    "portals": frozenset({"actors", "transports", "secure"}),
    "secure": frozenset({"actors", "transports"}),
    "cli": frozenset({"actors", "transports", "portals", "secure"}),
}
"""Each package, and the other packages of the project it may import (the layers below it)."""


class Import:
    """One import statement's target, as the module it names."""

    def __init__(self, module: str, line: int, *, type_only: bool) -> None:
        self.module = module
        self.line = line
        self.type_only = type_only


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    """Every module of the layered packages, by dotted name."""
    return {
        module_name(path): path
        for package in MAY_IMPORT
        for path in sorted((ROOT / package).rglob("*.py"))
    }


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _walk(node: ast.AST, type_only: bool) -> Iterator[tuple[ast.AST, bool]]:
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.If) and _is_type_checking(child.test):
            for statement in child.body:
                yield statement, True
                yield from _walk(statement, True)
            for statement in child.orelse:
                yield statement, type_only
                yield from _walk(statement, type_only)
            continue
        yield child, type_only
        yield from _walk(child, type_only)


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> list[Import]:
    """The project modules that module `name` imports, wherever the import statement is."""
    is_package = path.name == "__init__.py"
    package = name if is_package else name.rpartition(".")[0]
    found: list[Import] = []
    for node, type_only in _walk(ast.parse(path.read_text(), str(path)), False):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                origin = ".".join([*base, *([node.module] if node.module else [])])
            else:
                origin = node.module or ""
            # `from pkg import mod` imports the module `pkg.mod`; `from pkg import name`, pkg.
            submodules = [
                f"{origin}.{a.name}" for a in node.names if f"{origin}.{a.name}" in modules
            ]
            targets = submodules if len(submodules) == len(node.names) else [origin, *submodules]
        for target in targets:
            # `import a.b.c` names the deepest project module it reaches.
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.append(Import(target, getattr(node, "lineno", 0), type_only=type_only))
    return found


def import_graph() -> dict[str, list[Import]]:
    modules = project_modules()
    return {name: imports_of(name, path, modules) for name, path in modules.items()}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in sorted(graph.get(module, ())):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return found


def test_the_graph_sees_every_kind_of_import(tmp_path: Path) -> None:
    module = tmp_path / "_example.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "import trio\n"
        "from . import _node\n"
        "from .services import start_service\n"
        "if TYPE_CHECKING:\n"
        "    from transports import TcpTransport\n"
        "def later() -> None:\n"
        "    import cli._app\n"
    )
    found = imports_of("actors._example", module, project_modules())
    assert {(i.module, i.type_only) for i in found} == {
        ("actors._node", False),
        ("actors.services", False),
        ("transports", True),
        ("cli._app", False),
    }
    assert len(import_graph()) > 50


def test_each_layer_imports_only_the_layers_below_it() -> None:
    upward = [
        f"{name}:{i.line} imports {i.module}"
        for name, found in import_graph().items()
        for i in found
        if (top := i.module.split(".")[0]) != name.split(".")[0]
        and top not in MAY_IMPORT[name.split(".")[0]]
    ]
    assert upward == []


def test_the_runtime_imports_nothing_above_it() -> None:
    above = [
        f"{name}:{i.line} imports {i.module}"
        for name, found in import_graph().items()
        if name.split(".")[0] == "actors"
        for i in found
        if not i.module.startswith("actors")
    ]
    assert above == []


@pytest.mark.parametrize("package", ["actors", "transports", "portals", "secure"])
def test_no_modules_import_each_other_in_a_cycle(package: str) -> None:
    runtime = {
        name: {i.module for i in found if not i.type_only} for name, found in import_graph().items()
    }
    found = [cycle for cycle in cycles(runtime) if any(m.split(".")[0] == package for m in cycle)]
    assert found == []


def test_the_cycle_finder_finds_a_cycle() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
