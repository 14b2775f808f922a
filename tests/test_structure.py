"""The shape of the code that the architecture promises, checked from the source with `ast`:
one mailbox type outside the runtime, modules of one concept (under 500 lines), and no package
reaching into another's private names."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("actors", "transports", "portals", "secure", "cli")
MAX_LINES = 500


def modules(*packages: str) -> Iterator[tuple[str, Path, ast.Module]]:
    """Each module of `packages`: its package, its path and its syntax tree."""
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            yield package, path, ast.parse(path.read_text(), filename=str(path))


def private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def test_no_mailbox_subclass_outside_the_runtime() -> None:
    subclasses = [
        f"{path.relative_to(ROOT)}:{node.lineno} {node.name}"
        for package, path, tree in modules(*PACKAGES)
        if package != "actors"
        for node in ast.walk(tree)
        if isinstance(node, ast.ClassDef)
        and any(
            (isinstance(base, ast.Name) and base.id == "Mailbox")
            or (isinstance(base, ast.Attribute) and base.attr == "Mailbox")
            for base in node.bases
        )
    ]
    assert subclasses == []


def test_no_module_over_500_lines() -> None:
    big = [
        f"{path.relative_to(ROOT)}: {lines} lines"
        for _, path, _ in modules(*PACKAGES, "benchmarks")
        if (lines := len(path.read_text().splitlines())) > MAX_LINES
    ]
    assert big == []


def test_no_package_uses_another_packages_private_names() -> None:
    """A leading-underscore method, function or module of one package is called or imported
    only inside that package (`self._x`/`cls._x` are the class's own business)."""
    defined_in: dict[str, set[str]] = {}
    trees = list(modules(*PACKAGES))
    for package, _, tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and private(node.name):
                defined_in.setdefault(node.name, set()).add(package)
    reaches = []
    for package, path, tree in trees:
        where = path.relative_to(ROOT)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                top, *rest = node.module.split(".")
                if top in PACKAGES and top != package:
                    names = [*rest, *(alias.name for alias in node.names)]
                    reaches += [f"{where}:{node.lineno} imports {n}" for n in names if private(n)]
            elif isinstance(node, ast.Attribute) and private(node.attr):
                if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
                    continue
                owners = defined_in.get(node.attr, set())
                if owners and package not in owners:
                    reaches.append(f"{where}:{node.lineno} uses {node.attr} of {sorted(owners)}")
    assert reaches == []
