"""A node's private configuration files: JSON in the node's folder, mode 0600.

Features that keep a node's settings beside it (an authority's configuration, the trust of a
node) read and write them here, so every such file is written the same private way and read
with an error that names it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TypeVar

import msgspec

from actors import OckamError

T = TypeVar("T")


def read_node_file(path: Path, kind: type[T], what: str) -> T | None:
    """The `kind` in the JSON file `path`, or None when there is no such file.

    Raises:
        OckamError: The file is there but is not a `kind` (`what` names it in the message).
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    try:
        return msgspec.json.decode(data, type=kind)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise OckamError(f"the {what} {path} cannot be read: {exc}") from None


def write_node_file(path: Path, value: object) -> None:
    """Write `value` as indented JSON to `path`, readable by its owner only (0600), in a
    folder only its owner may enter (0700)."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as file:
        file.write(msgspec.json.format(msgspec.json.encode(value), indent=2))
