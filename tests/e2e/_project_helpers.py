"""A project assembled by hand with the `ockam` command, for the end-to-end tests of
`/project/NAME` routes and of nodes in a project: an authority (`authority create`, its
members pre-trusted), a plain node as the project node (it trusts the authority and holds its
own credential from it), and the project JSON a user would get from `ockam project
information --output json`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import msgspec

from .conftest import Ockam

PROJECT_NODE = "p"
"""The project node's name (and its identity is `project`)."""


@dataclass(frozen=True)
class HandMadeProject:
    """A project of `ockam`'s home, made by `hand_made_project`.

    Attributes:
        name: The project's name (``/project/NAME``).
        file: The project JSON (Ockam's `ProjectModel` shape).
        node: The project node's name.
        identifier: The project node's identifier.
        port: The project node's TCP listener port.
    """

    name: str
    file: Path
    node: str
    identifier: str
    port: int


def exported(ockam: Ockam, name: str) -> str:
    """Identity `name`, exported (hex)."""
    return ockam.out("identity", "show", name, "--full", "--encoding", "hex")


def hand_made_project(
    ockam: Ockam,
    members: dict[str, dict[str, str]],
    *,
    name: str = "default",
    relay_node: str = PROJECT_NODE,
) -> HandMadeProject:
    """Start project `name` in `ockam`'s home, whose members are the identities named in
    `members` (created when missing) with their attributes (every member may create any
    relay: `ockam-relay="*"` unless given).

    The authority is node `authority` and identity `authority`; the project node is node
    `relay_node` and identity `project` (a member with `ockam-role=project`); both listen on
    free ports of 127.0.0.1. Returns the project, its JSON written to `project.json` in the
    home's folder (not imported: `node create --project FILE` imports it).
    """
    trusted: dict[str, dict[str, str]] = {}
    for member, attributes in {"project": {"ockam-role": "project"}, **members}.items():
        ockam.run("identity", "create", member, check=False)  # it may exist already
        trusted[ockam.out("identity", "show", member)] = {"ockam-relay": "*", **attributes}
    ockam.out(
        "authority", "create", "--tcp-listener-address", "127.0.0.1:0",
        "--project-identifier", "1", "--project-name", name,
        "--trusted-identities", msgspec.json.encode(trusted).decode(),
    )  # fmt: skip
    authority_port = ockam.listener_port("authority")
    authority_route = f"/ip4/127.0.0.1/tcp/{authority_port}/service/api"
    ockam.out(
        "node", "create", relay_node, "--identity", "project",
        "--authority-identity", exported(ockam, "authority"),
        "--authority-route", authority_route,
    )  # fmt: skip
    port = ockam.listener_port(relay_node)
    identifier = ockam.out("identity", "show", "project")
    project = {
        "id": "1",
        "name": name,
        "access_route": f"/ip4/127.0.0.1/tcp/{port}/service/api",
        "identity": identifier,
        "project_change_history": exported(ockam, "project"),
        "authority_access_route": authority_route,
        "authority_identity": exported(ockam, "authority"),
    }
    file = ockam.home / "project.json"
    file.write_bytes(msgspec.json.encode(project))
    return HandMadeProject(name=name, file=file, node=relay_node, identifier=identifier, port=port)
