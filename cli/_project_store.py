"""The projects this `$OCKAM_HOME` knows: a table of the state database, and Ockam's JSON shapes.

A project arrives with `project import --project-file F` (Ockam's project JSON: the
`ProjectModel` that `project show` prints, or the shorter `ProjectConfigCompact` that
`project information` prints), or with `project enroll TICKET` (from the ticket). What the
commands need of it: how to reach its authority (`authority_access_route`), who the authority
is (`authority_identity`, its exported identity in hex), and the project node's routes and
identity. The first project becomes the default one; importing one of the same name replaces it.

A project this home hosts itself (`ockam enroll`) also has its `SelfHostedProject` settings, in
a table beside: which nodes run it, on which addresses, under which identities. They are not
part of Ockam's JSON, and they outlive the nodes (`node delete --all`), so `ockam enroll`
brings the same project back.
"""

from __future__ import annotations

import json
import sqlite3
import time
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import msgspec

from actors import MultiAddr, OckamError, RouteError
from secure import EnrollmentTicket, IdentityError, IdentityPublic, check_identifier

from ._state import StateStore


class ProjectError(OckamError):
    """A project cannot be found, read or used; the message says which and why."""


class ProjectModel(msgspec.Struct, frozen=True):
    """A project in Ockam's `ProjectModel` JSON shape (`project show/list --output json`, and
    what `project import --project-file` reads); unknown fields (`okta_config`...) are ignored.

    Attributes:
        id: The project's id.
        name: Its name (``/project/NAME`` in routes).
        access_route: The route to the project node.
        identity: The project node's identifier.
        authority_access_route: The route to the authority's listener ``api``.
        authority_identity: The authority's exported identity (hex).
        project_change_history: The project node's exported identity (hex).
    """

    id: str
    name: str
    space_name: str = ""
    access_route: str = ""
    users: list[str] = []
    space_id: str = ""
    identity: str | None = None
    authority_access_route: str | None = None
    authority_identity: str | None = None
    version: str | None = None
    running: bool | None = None
    operation_id: str | None = None
    user_roles: list[dict[str, Any]] = []
    project_change_history: str | None = None


class ProjectConfigCompact(msgspec.Struct, frozen=True):
    """Ockam's `ProjectConfigCompact`: what `project information --output json` prints."""

    id: str
    name: str
    identity: str | None
    access_route: str
    authority_access_route: str | None
    authority_identity: str | None


def compact(project: ProjectModel) -> ProjectConfigCompact:
    """`project` in the shape `project information` prints."""
    fields = {name: getattr(project, name) for name in ProjectConfigCompact.__struct_fields__}
    return ProjectConfigCompact(**fields)


def check_project(project: ProjectModel) -> ProjectModel:
    """`project` when its fields can be used; `ProjectError` naming the first that cannot."""
    if not project.id.strip():
        raise ProjectError("the project has an empty id")
    if not project.name.strip() or "/" in project.name:
        raise ProjectError(f"bad project name {project.name!r}: a non-empty name without '/'")
    try:
        for route in (project.access_route, project.authority_access_route):
            if route:
                MultiAddr.parse(route)
        if project.identity is not None:
            check_identifier(project.identity)
        for field in ("authority_identity", "project_change_history"):
            exported = getattr(project, field)
            if exported is not None:
                public = IdentityPublic.from_exported(exported)
                if field == "project_change_history" and project.identity not in (
                    None,
                    public.identifier,
                ):
                    raise ProjectError(
                        f"project {project.name}: project_change_history is identity "
                        f"{public.identifier}, not {project.identity}"
                    )
    except (RouteError, IdentityError, ValueError) as exc:
        raise ProjectError(f"project {project.name}: {exc}") from None
    return project


def read_project_file(path: str) -> ProjectModel:
    """The project in Ockam's project JSON file at `path`.

    Raises:
        ProjectError: The file cannot be read, is not a project, or a field is unusable.
    """
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ProjectError(f"cannot read the project file {path}: {exc.strerror}") from None
    try:
        project = msgspec.json.decode(data, type=ProjectModel)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        raise ProjectError(f"{path} is not a project file: {exc}") from None
    return check_project(project)


def project_from_ticket(ticket: EnrollmentTicket) -> ProjectModel:
    """The project an enrollment ticket describes (routes, identities)."""
    return ProjectModel(
        id=ticket.project_id,
        name=ticket.project_name,
        access_route=ticket.project_routes[0],
        identity=ticket.project.identifier,
        authority_access_route=ticket.authority_route,
        authority_identity=ticket.authority_identity.hex(),
        project_change_history=ticket.project_identity.hex(),
        running=True,
    )


class SelfHostedNode(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One node of a self-hosted project: its name, its identity's name, the address it
    listens on, and the route other machines reach its listener `api` by.

    Attributes:
        node: The node's name.
        identity: The name of the identity it runs under (kept in the vault).
        listener: Where it listens (HOST:PORT, the port fixed the first time).
        route: The route to its secure channel listener `api` (`/ip4/H/tcp/P/service/api`).
    """

    node: str
    identity: str
    listener: str
    route: str


class SelfHostedProject(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """How this home hosts a project (`ockam enroll`): its authority node and its relay
    nodes. A list of relay nodes, one today: the relay side is meant to become a pool.

    Attributes:
        name: The project's name.
        id: The project's id.
        admin: The identifier of its admin (the identity that ran `ockam enroll`).
        admin_identity: That identity's name.
        authority: The authority node.
        relays: The project nodes (Elastic Relay Service), in the order they are tried.
    """

    name: str
    id: str
    admin: str
    admin_identity: str
    authority: SelfHostedNode
    relays: list[SelfHostedNode]


_SCHEMA = """
CREATE TABLE IF NOT EXISTS projects (
    name TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    access_routes TEXT NOT NULL,
    is_default INTEGER NOT NULL,
    imported REAL NOT NULL
)
"""
_SELF_HOSTED_SCHEMA = """
CREATE TABLE IF NOT EXISTS self_hosted_projects (
    name TEXT PRIMARY KEY,
    settings TEXT NOT NULL
)
"""


class ProjectStore:
    """The projects in the state database (`$OCKAM_HOME/database.sqlite3`, beside the nodes)."""

    def __init__(self, state: StateStore) -> None:
        self.state = state

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:
        return self.state.connect(_SCHEMA, _SELF_HOSTED_SCHEMA)

    def put(self, project: ProjectModel, *, access_routes: list[str] | None = None) -> bool:
        """Store `project` (replacing one of the same name); the first one is the default.

        Args:
            project: The project.
            access_routes: Every route to the project node (the relay side may be a pool);
                default: its `access_route`.

        Returns:
            Whether it is the default project.
        """
        routes = access_routes or ([project.access_route] if project.access_route else [])
        with self._connect() as db:
            has_default = db.execute(
                "SELECT 1 FROM projects WHERE is_default = 1 AND name != ?", (project.name,)
            ).fetchone()
            db.execute(
                "INSERT OR REPLACE INTO projects (name, model, access_routes, is_default, "
                "imported) VALUES (?, ?, ?, ?, ?)",
                (
                    project.name,
                    msgspec.json.encode(project).decode(),
                    json.dumps(routes),
                    0 if has_default else 1,
                    time.time(),
                ),
            )
        return not has_default

    def all(self) -> list[tuple[ProjectModel, bool]]:
        """Every project and whether it is the default, in the order they were imported."""
        with self._connect() as db:
            rows = db.execute("SELECT model, is_default FROM projects ORDER BY imported").fetchall()
        return [(msgspec.json.decode(model, type=ProjectModel), bool(d)) for model, d in rows]

    def get(self, name: str | None) -> ProjectModel:
        """Project `name`, or the default project when None.

        Raises:
            ProjectError: There is no such project (or none at all).
        """
        with self._connect() as db:
            if name is None:
                row = db.execute("SELECT model FROM projects WHERE is_default = 1").fetchone()
            else:
                row = db.execute("SELECT model FROM projects WHERE name = ?", (name,)).fetchone()
        if row is None:
            if name is None:
                raise ProjectError(
                    "there is no project yet: import one with `ockam project import "
                    "--project-file FILE`, or enroll with `ockam project enroll TICKET`"
                )
            raise ProjectError(f"there is no project named {name!r} (see `ockam project list`)")
        return msgspec.json.decode(row[0], type=ProjectModel)

    def access_routes(self, name: str) -> list[str]:
        """Every route to project `name`'s node."""
        with self._connect() as db:
            row = db.execute(
                "SELECT access_routes FROM projects WHERE name = ?", (name,)
            ).fetchone()
        routes: list[str] = [] if row is None else json.loads(row[0])
        return routes

    def put_self_hosted(self, settings: SelfHostedProject) -> None:
        """Store how this home hosts project `settings.name` (replacing what it was)."""
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO self_hosted_projects (name, settings) VALUES (?, ?)",
                (settings.name, msgspec.json.encode(settings).decode()),
            )

    def self_hosted(self, name: str) -> SelfHostedProject | None:
        """How this home hosts project `name`; None when it does not host it."""
        with self._connect() as db:
            row = db.execute(
                "SELECT settings FROM self_hosted_projects WHERE name = ?", (name,)
            ).fetchone()
        return None if row is None else msgspec.json.decode(row[0], type=SelfHostedProject)

    def delete(self, name: str) -> None:
        """Forget project `name` and how this home hosts it, if it does."""
        with self._connect() as db:
            db.execute("DELETE FROM projects WHERE name = ?", (name,))
            db.execute("DELETE FROM self_hosted_projects WHERE name = ?", (name,))

    def find(self, name: str) -> ProjectModel | None:
        """Project `name`, or None when this home does not know it."""
        try:
            return self.get(name)
        except ProjectError:
            return None
