"""Projects: `ockam project import/list/show/information/ticket/enroll`.

`ticket` and `enroll` talk to the project's authority from this command: a short-lived node
opens a secure channel to the authority's listener (`authority_access_route`), which must
prove the project's `authority_identity`, under the identity named by `--identity` (default:
the default identity), and asks `AuthorityService` through it. The authority decides by that
identity: enrollers and admins make tickets, members get credentials. `--credential HEX`
presents a credential on that channel, such as the project-admin credential an account
authority issued (it is what makes an admin of an authority created with
`--account-authority`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, TypeVar

import msgspec
from cyclopts import Parameter

from secure import (
    DEFAULT_TICKET_DURATION,
    ENROLLER_ROLE,
    RELAY_ATTRIBUTE,
    ROLE_ATTRIBUTE,
    AuthorityClient,
    Credential,
    CredentialError,
    EnrollmentTicket,
    Identity,
    IdentityError,
    IdentityPublic,
    SecureChannels,
    TrustContext,
    verify_credential,
)
from transports import open_node

from ._app import DEFAULT, Common, command_group, run, store, to_builtins
from ._feature import Feature
from ._identity_store import (
    DEFAULT_IDENTITY,
    IdentityInfo,
    default_identity,
    get_identity,
    get_or_create_identity,
    show_identity,
)
from ._lifecycle import node_status
from ._project_store import (
    ProjectError,
    ProjectModel,
    ProjectStore,
    SelfHostedProject,
    compact,
    project_from_ticket,
    read_project_file,
)
from ._routes import resolve_route

T = TypeVar("T")

project_app = command_group("project", "Import projects, make enrollment tickets, enroll.")
FEATURE = Feature("project", commands=[project_app])

ProjectArgument = Annotated[
    str | None, Parameter(help="The project (default: the default project).")
]
ProjectOption = Annotated[
    str | None, Parameter(name="--project", help="The project (default: the default project).")
]
IdentityOption = Annotated[
    str | None, Parameter(help="The identity that asks (default: the default identity).")
]
CredentialOption = Annotated[
    str | None,
    Parameter(help="A credential (hex) to present to the authority, e.g. a project-admin one."),
]

_DURATION = re.compile(r"^(\d+)(ms|s|m|h|d)?$")
_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str, flag: str) -> int:
    """Whole seconds (at least 1) in `text`: 10000ms, 600s, 600, 10m, 1h, 1d (Ockam's forms).

    Raises:
        ValueError: It is none of those, naming `flag`.
    """
    found = _DURATION.match(text.strip())
    if found is None:
        raise ValueError(f"bad {flag} {text!r}: expected a duration like 30s, 10m, 1h or 600")
    seconds = int(found.group(1)) * _UNITS[found.group(2) or "s"]
    if seconds < 1:
        raise ValueError(f"bad {flag} {text!r}: at least 1 second")
    return max(1, round(seconds))


def parse_attributes(values: list[str]) -> dict[str, str]:
    """`K=V` pairs (a bare `K` is `K=true`, as in Ockam)."""
    attributes: dict[str, str] = {}
    for value in values:
        key, _, given = value.partition("=")
        if not key:
            raise ValueError(f"bad --attribute {value!r}: expected KEY=VALUE")
        attributes[key] = given if "=" in value else "true"
    return attributes


def _projects() -> ProjectStore:
    return ProjectStore(store())


def _identity(name: str | None) -> tuple[Identity, IdentityInfo]:
    home = store().home
    chosen = name or default_identity(home)
    if chosen == DEFAULT_IDENTITY:
        get_or_create_identity(home, chosen)  # the default identity is made on first use
    return get_identity(home, chosen), show_identity(home, chosen)


def _credential(text: str | None) -> Credential | None:
    if text is None:
        return None
    try:
        return Credential.from_hex(text.strip())
    except CredentialError as exc:
        raise ValueError(f"bad --credential: {exc}") from None


def _authority_of(project: ProjectModel) -> tuple[str, IdentityPublic]:
    if not project.authority_access_route or not project.authority_identity:
        raise ProjectError(
            f"project {project.name} has no authority_access_route or authority_identity: "
            "import a project file that has both"
        )
    try:
        authority = IdentityPublic.from_exported(project.authority_identity)
    except IdentityError as exc:
        raise ProjectError(f"project {project.name}: bad authority_identity: {exc}") from None
    return project.authority_access_route, authority


async def with_authority(
    identity: Identity,
    project: ProjectModel,
    ask: Callable[[AuthorityClient], Awaitable[T]],
    *,
    credential: Credential | None = None,
    timeout: float = 30,
) -> T:
    """`ask(client)` with a client of `project`'s authority, over a secure channel from a
    short-lived node under `identity`, presenting `credential` if given."""
    route, authority = _authority_of(project)
    onward = resolve_route(route, store()).to_route()
    async with open_node("project", services=()) as node:
        trust = None
        if credential is not None:
            trust = TrustContext([credential.issuer, authority], credential=credential)
        channels = SecureChannels(node, identity, trust=trust)
        try:
            client = await AuthorityClient.connect(
                channels, onward, [authority.identifier], timeout=timeout
            )
            return await ask(client)
        finally:
            await channels.aclose()


def _print_project(common: Common, project: ProjectModel, message: str) -> None:
    common.printer().emit(plain=project.name, data=to_builtins(project), pretty=message)


@project_app.command(name="import")
def project_import(*, project_file: str, common: Common = DEFAULT) -> None:
    """Import a project from a file in Ockam's project JSON shape.

    Parameters
    ----------
    project_file
        The file, as `ockam project information --output json` prints it (id, name,
        access_route, identity, authority_access_route, authority_identity).
    """
    project = read_project_file(project_file)
    _projects().put(project)
    _print_project(
        common, project, f"[green]✔︎[/green] Successfully imported project {project.name}"
    )


@project_app.command(name="list")
def project_list(*, common: Common = DEFAULT) -> None:
    """List the projects this home knows."""
    projects = _projects().all()
    common.printer().table(
        title="Projects",
        columns=["Name", "Id", "Default", "Authority route"],
        rows=[
            [p.name, p.id, "yes" if d else "", p.authority_access_route or "-"] for p, d in projects
        ],
        data=[to_builtins(p) for p, _ in projects],
        plain_rows=[p.name for p, _ in projects],
        empty="No projects: import one with `ockam project import --project-file FILE`.",
    )


def hosted_lines(settings: SelfHostedProject, statuses: Mapping[str, str]) -> str:
    """What `project show` says of a project this home hosts: each of its nodes, what it
    is, where it listens and its status (`statuses`, by node name; "not created" when absent)."""
    nodes = [("authority", settings.authority)] + [("relays", r) for r in settings.relays]
    lines = [
        f"    {node.node} ({role}): {statuses.get(node.node, 'not created')}, "
        f"listening on {node.listener}"
        for role, node in nodes
    ]
    return "\n  Self-hosted on this machine (`ockam enroll` starts it):\n" + "\n".join(lines)


async def _statuses(settings: SelfHostedProject) -> dict[str, str]:
    state = store()
    statuses = {}
    for node in [settings.authority, *settings.relays]:
        record = state.find(node.node)
        if record is not None:
            statuses[node.node] = (await node_status(state, record)).status
    return statuses


@project_app.command(name="show")
def project_show(name: ProjectArgument = None, /, *, common: Common = DEFAULT) -> None:
    """Show a project (and, for one this home hosts, its nodes and their status)."""
    projects = _projects()
    project = projects.get(name)
    routes = ", ".join(projects.access_routes(project.name)) or "-"
    settings = projects.self_hosted(project.name)
    printer = common.printer()
    hosted = ""
    if settings is not None and printer.tty and printer.output != "json":
        hosted = hosted_lines(settings, run(lambda: _statuses(settings)))
    _print_project(
        common,
        project,
        f"Project {project.name}\n  Id: {project.id}\n  Identity: {project.identity or '-'}\n"
        f"  Access routes: {routes}\n"
        f"  Authority route: {project.authority_access_route or '-'}{hosted}",
    )


@project_app.command(name="information")
def project_information(name: ProjectArgument = None, /, *, common: Common = DEFAULT) -> None:
    """Print what another machine needs to use a project (`project import` reads it)."""
    info = compact(_projects().get(name))
    common.printer().emit(
        plain=msgspec.json.encode(info).decode(),
        data=to_builtins(info),
        pretty=f"Project ID: {info.id}\nProject identity: {info.identity or 'N/A'}\n"
        f"Authority address: {info.authority_access_route or 'N/A'}\n"
        f"Authority identity: {info.authority_identity or 'N/A'}",
    )


class TicketOutput(msgspec.Struct, frozen=True):
    """`project ticket --output json`."""

    ticket: str
    project: str
    attributes: dict[str, str]
    usage_count: int
    expires_at: int


@project_app.command(name="ticket")
def project_ticket(
    *,
    identity: IdentityOption = None,
    project: ProjectOption = None,
    attribute: Annotated[list[str] | None, Parameter(name=["--attribute", "-a"])] = None,
    usage_count: int = 1,
    expires_in: str = f"{DEFAULT_TICKET_DURATION}s",
    enroller: Annotated[bool, Parameter(negative="")] = False,
    relay: str | None = None,
    credential: CredentialOption = None,
    timeout: float = 30,
    common: Common = DEFAULT,
) -> None:
    """Make an enrollment ticket: one string that lets another machine join the project.

    Only the project's enrollers and admins may; only admins make enroller tickets.

    Parameters
    ----------
    attribute
        KEY=VALUE the new member gets (a bare KEY is KEY=true); may be repeated.
    usage_count
        How many enrollments the ticket allows.
    expires_in
        How long the ticket is valid: 30s, 10m, 1h, 600 (seconds).
    enroller
        The new member becomes an enroller (ockam-role=enroller).
    relay
        The relay name the new member may create at the project node (ockam-relay=NAME).
    timeout
        Seconds to wait for the authority.
    """
    if usage_count < 1:
        raise ValueError("the usage count must be at least 1")
    seconds = parse_duration(expires_in, "--expires-in")
    attributes = parse_attributes(attribute or [])
    if relay is not None:
        attributes[RELAY_ATTRIBUTE] = relay
    chosen = _projects().get(project)
    me, _ = _identity(identity)
    presented = _credential(credential)

    async def ask(client: AuthorityClient) -> EnrollmentTicket:
        return await client.create_ticket(
            attributes=attributes, usage_count=usage_count, expires_in=seconds, enroller=enroller
        )

    ticket = run(lambda: with_authority(me, chosen, ask, credential=presented, timeout=timeout))
    if enroller:
        attributes[ROLE_ATTRIBUTE] = ENROLLER_ROLE
    encoded = ticket.encode()
    granted = "".join(f'\n  "{k}={v}"' for k, v in sorted(attributes.items()))
    uses = "once" if usage_count == 1 else f"up to {usage_count} times"
    common.printer().emit(
        plain=encoded,
        data=TicketOutput(
            encoded, chosen.name, attributes, usage_count, int(time.time()) + seconds
        ),
        pretty="[green]✔︎[/green] Created enrollment ticket\n"
        + (f"The redeemer will be assigned the following attributes:{granted}\n" if granted else "")
        + f"It will expire in {expires_in} and it can be used {uses}\n"
        + "You can use it to enroll another machine using: ockam project enroll\n\n"
        + encoded,
    )


class CredentialOutput(msgspec.Struct, frozen=True):
    """A member credential as `project enroll --output json` shows it (Ockam's field names)."""

    credential: str
    subject: str
    issuer: str
    created_at: int
    expires_at: int
    attributes: dict[str, str]
    is_verified: bool = True


class ProjectEnrollOutput(msgspec.Struct, frozen=True):
    """`project enroll --output json` (Ockam's `ProjectEnrollOutput`)."""

    identity: IdentityInfo
    project_name: str
    credential: CredentialOutput


def _read_ticket(text: str) -> EnrollmentTicket:
    """A ticket given inline, or in a file named so (as Ockam takes both)."""
    path = Path(text)
    if len(text) < 256 and path.is_file():
        text = path.read_text()
    return EnrollmentTicket.decode(text.strip())


def _timestamp(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@project_app.command(name="enroll")
def project_enroll(
    ticket: str | None = None,
    /,
    *,
    identity: IdentityOption = None,
    project: ProjectOption = None,
    credential: CredentialOption = None,
    timeout: float = 30,
    common: Common = DEFAULT,
) -> None:
    """Enroll an identity with a project and get its member credential.

    With a ticket (from `ockam project ticket`) the identity becomes a member with the
    ticket's attributes, and the ticket's project is imported; without one, the identity must
    already be a member (pre-trusted by the authority, or enrolled before).

    Parameters
    ----------
    ticket
        The enrollment ticket, or a file holding it.
    timeout
        Seconds to wait for the authority.
    """
    parsed = None if ticket is None else _read_ticket(ticket)
    projects = _projects()
    chosen = project_from_ticket(parsed) if parsed is not None else projects.get(project)
    me, info = _identity(identity)
    presented = _credential(credential)

    async def ask(client: AuthorityClient) -> Credential:
        if parsed is not None:
            await client.redeem(parsed)
        return await client.issue_credential()

    issued = run(lambda: with_authority(me, chosen, ask, credential=presented, timeout=timeout))
    _, authority = _authority_of(chosen)
    try:
        data = verify_credential(
            issued, issuer_identity=authority.identifier, now=time.time(), subject=me.identifier
        )
    except CredentialError as exc:
        raise ProjectError(f"the authority's credential does not verify: {exc}") from None
    if parsed is not None:
        projects.put(chosen, access_routes=list(parsed.project_routes))
    output = ProjectEnrollOutput(
        identity=info,
        project_name=chosen.name,
        credential=CredentialOutput(
            credential=issued.hex(),
            subject=data.subject,
            issuer=issued.issuer,
            created_at=data.created,
            expires_at=data.expires,
            attributes=data.attributes,
        ),
    )
    attested = "".join(f'\n  "{k}={v}"' for k, v in sorted(data.attributes.items()))
    text = (
        f"Successfully enrolled identity {info.name} to the {chosen.name} project.\n"
        f"The identity has a credential in this project created at {_timestamp(data.created)} "
        f"that expires at {_timestamp(data.expires)}"
        + (
            f"\nThe following attributes are attested by the project's membership authority:"
            f"{attested}"
            if attested
            else ""
        )
    )
    common.printer().emit(plain=text, data=to_builtins(output), pretty=f"[green]✔︎[/green] {text}")
