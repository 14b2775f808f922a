"""The CLI's shape: features below one registry, a core that knows none of them, and a node
control API whose request union lists every request a feature defines."""

from __future__ import annotations

import ast
from pathlib import Path

import msgspec
import pytest

import cli
from cli._control import Request
from cli._features import FEATURES, NODE_API
from cli._resource import RESOURCE_REQUESTS

CLI = Path(cli.__file__).parent
FEATURE_MODULES = frozenset(
    {"_node", "_transport", "_portal", "_relay", "_message", "_service", "_secure_channel"}
    | {"_identity", "_vault", "_authority", "_project", "_credential", "_enroll"}
)


def relative_imports(path: Path) -> set[str]:
    """The `cli` modules `path` imports (`from . import x`, `from ._x import y`)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 1:
            if node.module:
                found.add(node.module.split(".")[0])
            else:
                found.update(alias.name for alias in node.names)
    return found


def test_only_the_registry_imports_feature_modules() -> None:
    importers = {
        path.stem
        for path in CLI.glob("*.py")
        if relative_imports(path) & FEATURE_MODULES and path.stem not in FEATURE_MODULES
    }
    assert importers == {"_features"}
    for name in FEATURE_MODULES:
        others = relative_imports(CLI / f"{name}.py") & (FEATURE_MODULES - {name})
        assert not others, f"{name} imports the features {sorted(others)}"


def _request_types() -> set[type[Request]]:
    found: set[type[Request]] = set()
    pending = list(Request.__subclasses__())
    while pending:
        kind = pending.pop()
        if kind.__module__.startswith("cli."):
            found.add(kind)
        pending.extend(kind.__subclasses__())
    return found


def test_the_node_serves_every_request_a_feature_defines() -> None:
    assert set(NODE_API.requests) == _request_types()
    assert set(RESOURCE_REQUESTS) <= set(NODE_API.requests)
    tags = [kind.__struct_config__.tag for kind in NODE_API.requests]
    assert len(tags) == len(set(tags))


def test_every_resource_has_its_command_group() -> None:
    groups = {group.name[0]: group for feature in FEATURES for group in feature.commands}
    for resource in NODE_API.resources.values():
        commands = set(groups[resource.kind])
        assert {"list", "show"} <= commands
        assert ("delete" in commands) == (resource.remove is not None)


@pytest.mark.parametrize("request_type", sorted(NODE_API.requests, key=str))
def test_a_request_decodes_as_itself(request_type: type[Request]) -> None:
    fields = {
        name: ("x" if hint is str else b"x" if hint is bytes else None)
        for name, hint in zip(
            request_type.__struct_fields__,
            [f.type for f in msgspec.structs.fields(request_type)],
            strict=True,
        )
    }
    request = request_type(**{k: v for k, v in fields.items() if v is not None})
    assert NODE_API.decode(msgspec.msgpack.encode(request)) == request


def test_an_unknown_request_is_refused() -> None:
    with pytest.raises(msgspec.ValidationError):
        NODE_API.decode(msgspec.msgpack.encode({"op": "frobnicate"}))
