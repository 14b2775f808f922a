"""`ockam enroll`: a self-hosted project `default`, with the caller as its admin.

Ockam's `enroll` signs in to Ockam Orchestrator, whose cloud runs the user's project. Here the
project runs on the user's machine: two ordinary background nodes (`node list/show/logs/stop`
see them),

- the authority, `default-authority` (identity `default-authority`): its folder's
  `authority.json` makes it enroll members and issue their credentials
  (`cli._authority.start_authority`);
- the project node, `default-project` (identity `default-project`): its folder's `trust.json`
  makes it trust the authority and fetch its own credential there (it is a pre-trusted member
  with ``ockam-role=project``), and its `project_node.json` makes it the Elastic Relay Service
  node: members only, relays by ``ockam-relay`` (`cli._project_node`).

The caller's identity (`--identity`, default: the default identity) is pre-trusted by the
authority as an admin (``ockam-role=enroller``) allowed any relay (``ockam-relay=*``).

What the project is (`SelfHostedProject`: node names, identities, addresses with the ports
fixed the first time, routes) and its record in Ockam's JSON (`ProjectModel`, which `project
show/information` print) stay in the state database when the nodes are deleted (`node delete
--all` removes their folders), as do the identities and the members: `ockam enroll` writes the
folders' files again from them and starts the same project, whose credentials are still
valid. Run while the project is up, it reports the enrollment and changes nothing.
"""

from __future__ import annotations

import socket
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Annotated

import msgspec
import msgspec.yaml
from cyclopts import App, Parameter
from rich.text import Text

from actors import OckamError, split_host_port
from secure import ENROLLER_ROLE, RELAY_ATTRIBUTE, ROLE_ATTRIBUTE, IdentityPublic

from ._app import DEFAULT, Common, run, store, to_builtins
from ._authority_config import AuthorityConfig, api_route, read_config, write_config
from ._config import ConfigError, hostname_port
from ._enroll_output import AUTHORITY_FLAG, PROJECT_FLAG, EnrollOutput, enroll_report
from ._feature import Feature
from ._identity_store import (
    DEFAULT_IDENTITY,
    default_identity,
    get_identity,
    get_or_create_identity,
)
from ._lifecycle import delete_nodes, node_status, start_node
from ._node_files import write_node_file
from ._node_trust import TrustConfig, save_trust
from ._project_node import (
    PROJECT_NODE_FILE,
    PROJECT_ROLE,
    ProjectNodeConfig,
    read_project_node,
    start_project_node,
)
from ._project_store import (
    ProjectModel,
    ProjectStore,
    SelfHostedNode,
    SelfHostedProject,
)
from ._state import StateStore

enroll_app = App(
    name="enroll",
    help="Set up a self-hosted project on this machine and enroll your identity as its admin.",
)
# After the credential feature's setup: a project node's hook needs its trusted channels.
FEATURE = Feature("enroll", commands=[enroll_app], setup=[start_project_node])

PROJECT = "default"
"""The project `ockam enroll` hosts (Ockam's default project's name)."""

DEFAULT_ADDRESS = "127.0.0.1:0"
"""Where the project's nodes listen unless told: loopback, a free port chosen once."""

ADMIN_ATTRIBUTES = {ROLE_ATTRIBUTE: ENROLLER_ROLE, RELAY_ATTRIBUTE: "*"}
"""The admin's attributes: a pre-trusted enroller is an admin; it may create any relay."""


class NodeSection(msgspec.Struct, frozen=True, forbid_unknown_fields=True, rename="kebab"):
    """One node's section of an enroll configuration (`authority:`, `project:`)."""

    tcp_listener_address: str | None = None


class EnrollConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True, rename="kebab"):
    """`ockam enroll --config FILE` (YAML or JSON); the flags win::

        identity: alice
        authority: {tcp-listener-address: 0.0.0.0:4000}
        project: {tcp-listener-address: 0.0.0.0:4001}
        public-address: relay.example.com

    Attributes:
        identity: The admin's identity name.
        authority: Where the authority listens (`tcp-listener-address`, HOST:PORT).
        project: Where the project node listens.
        public_address: The host other machines reach both by (in the routes).
    """

    identity: str | None = None
    authority: NodeSection = msgspec.field(default_factory=NodeSection)
    project: NodeSection = msgspec.field(default_factory=NodeSection)
    public_address: str | None = None


def read_enroll_config(path: str) -> EnrollConfig:
    """The configuration in file `path`.

    Raises:
        ConfigError: It cannot be read, or is not such a configuration (the key named).
    """
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read the configuration {path}: {exc.strerror}") from None
    try:
        return msgspec.yaml.decode(text, type=EnrollConfig)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        reason = " ".join(str(exc).split())
        raise ConfigError(
            f"{path} is not an enroll configuration: {reason} (keys: identity, "
            "authority.tcp-listener-address, project.tcp-listener-address, public-address)"
        ) from None


def plan_project(
    name: str,
    *,
    project_id: str,
    admin: str,
    admin_identity: str,
    authority_address: str,
    project_address: str,
    public_host: str | None,
) -> SelfHostedProject:
    """The settings of a new self-hosted project `name` (sans-IO: the addresses' ports are
    already fixed, see `fix_port`)."""

    def member(role: str, address: str) -> SelfHostedNode:
        node = f"{name}-{role}"
        return SelfHostedNode(node, node, address, api_route(address, host=public_host))

    return SelfHostedProject(
        name=name,
        id=project_id,
        admin=admin,
        admin_identity=admin_identity,
        authority=member("authority", authority_address),
        relays=[member("project", project_address)],
    )


def authority_config(
    settings: SelfHostedProject, *, project_identity: IdentityPublic
) -> AuthorityConfig:
    """The `authority.json` of the project's authority node: the admin and the project
    node are its pre-trusted members; tickets carry the project nodes' routes."""
    return AuthorityConfig(
        project_id=settings.id,
        trusted_identities={
            settings.admin: dict(ADMIN_ATTRIBUTES),
            project_identity.identifier: {ROLE_ATTRIBUTE: PROJECT_ROLE},
        },
        project_name=settings.name,
        project_access_routes=[relay.route for relay in settings.relays],
        project_identity=project_identity.export_hex(),
    )


def project_model(
    settings: SelfHostedProject, *, authority: IdentityPublic, project: IdentityPublic
) -> ProjectModel:
    """The project's record, in Ockam's JSON (what `project information` prints); its users
    and roles, which Ockam's gives as e-mail addresses, stay empty (the admin is in the
    `SelfHostedProject`)."""
    return ProjectModel(
        id=settings.id,
        name=settings.name,
        space_name="self-hosted",
        access_route=settings.relays[0].route,
        identity=project.identifier,
        authority_access_route=settings.authority.route,
        authority_identity=authority.export_hex(),
        running=True,
        project_change_history=project.export_hex(),
    )


def fix_port(address: str, flag: str) -> str:
    """`address` (HOST:PORT) with port 0 replaced by a port free on HOST now, so that the
    project keeps it (its routes are in every ticket).

    Raises:
        ConfigError: `address` is not HOST:PORT (naming `flag`).
        OckamError: No port can be bound on HOST.
    """
    checked = hostname_port(address, flag)
    host, port = split_host_port(checked)
    if port != 0:
        return checked
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    try:
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.bind((host, 0))
            port = probe.getsockname()[1]
    except OSError as exc:
        raise OckamError(f"cannot listen on {host} ({flag}): {exc.strerror}") from None
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _admin(home: Path, name: str) -> str:
    """The identifier of identity `name` (the default identity is made on first use)."""
    if name == DEFAULT_IDENTITY:
        return get_or_create_identity(home, name)[0].identifier
    return get_identity(home, name).identifier


def _check_unchanged(
    settings: SelfHostedProject, admin: str, wanted: dict[str, str], host: str | None
) -> None:
    """Refuse a later `ockam enroll` that asks for another admin or other addresses: the
    project's routes are in its members' tickets and project files."""
    if admin != settings.admin:
        raise OckamError(
            f"project {settings.name} is hosted here with admin identity "
            f"{settings.admin_identity} ({settings.admin}); to add another identity, run "
            f"`ockam project ticket` and `ockam project enroll TICKET --identity NAME`"
        )
    current = {
        AUTHORITY_FLAG: settings.authority.listener,
        PROJECT_FLAG: settings.relays[0].listener,
    }
    for flag, address in wanted.items():
        # Port 0 asks for whatever port the project has, but not for another host.
        asked_host, asked_port = split_host_port(address)
        has_host, has_port = split_host_port(current[flag])
        if (asked_host, asked_port or has_port) != (has_host, has_port):
            raise OckamError(
                f"project {settings.name} already listens on {current[flag]} ({flag} "
                f"{address} cannot change it: its routes are in its members' tickets)"
            )
    route = settings.authority.route
    if host is not None and api_route(settings.authority.listener, host=host) != route:
        raise OckamError(
            f"project {settings.name} is reached at {route} (--public-address {host} cannot "
            "change it: its routes are in its members' tickets)"
        )


Role = tuple[SelfHostedNode, Callable[[Path], bool], Callable[[Path], None]]


async def bring_up(state: StateStore, roles: list[Role], started: list[str]) -> None:
    """Start each of the project's nodes that is not running, after writing its folder's
    files, adding the names of those it started to `started`. The authority comes first:
    the project node fetches its credential there as it starts.

    Raises:
        OckamError: A node of that name runs but is not the project's.
        NodeStartError: A node did not start (its port is taken, say).
    """
    for member, is_ours, write in roles:
        record = state.find(member.node)
        if record is not None and (await node_status(state, record)).running:
            if not is_ours(state.node_dir(member.node)):
                raise OckamError(
                    f"node {member.node} is running but is not a node of project {PROJECT}: "
                    f"delete it with `ockam node delete {member.node}` and run `ockam enroll` "
                    "again"
                )
            continue
        write(state.node_dir(member.node))
        state.set_serving(member.node)
        await start_node(state, member.node, listener=member.listener, identity=member.identity)
        started.append(member.node)


@enroll_app.default
def enroll(
    *,
    identity: Annotated[
        str | None, Parameter(help="The admin's identity (default: the default identity).")
    ] = None,
    authority_tcp_listener_address: str | None = None,
    project_tcp_listener_address: str | None = None,
    public_address: str | None = None,
    config: str | None = None,
    common: Common = DEFAULT,
) -> None:
    """Set up a self-hosted project `default` on this machine, with your identity as its admin
    and first member; run again, start it again if its nodes are gone.

    Parameters
    ----------
    authority_tcp_listener_address
        Where the project's authority listens (HOST:PORT; default 127.0.0.1 and a free port,
        kept from then on).
    project_tcp_listener_address
        Where the project node (relays for members) listens (HOST:PORT; default 127.0.0.1
        and a free port, kept from then on).
    public_address
        The host name or address other machines reach both listeners by (default: the
        listening host; loopback for 0.0.0.0).
    config
        A YAML or JSON file with any of identity, authority.tcp-listener-address,
        project.tcp-listener-address, public-address (flags win).
    """
    printer = common.printer()
    state = store()
    projects = ProjectStore(state)
    file = EnrollConfig() if config is None else read_enroll_config(config)
    settings = projects.self_hosted(PROJECT)
    # Run again with no identity named, the project's admin asks (even if the default
    # identity changed since), so that `ockam enroll` at boot brings the project back.
    admin_name = (
        identity
        or file.identity
        or (settings.admin_identity if settings is not None else default_identity(state.home))
    )
    admin = _admin(state.home, admin_name)
    wanted = {
        flag: hostname_port(value, flag)
        for flag, value in (
            (AUTHORITY_FLAG, authority_tcp_listener_address or file.authority.tcp_listener_address),
            (PROJECT_FLAG, project_tcp_listener_address or file.project.tcp_listener_address),
        )
        if value is not None
    }
    host = public_address or file.public_address
    created = settings is None
    if settings is None:
        other = projects.find(PROJECT)
        if other is not None:
            raise OckamError(
                f"this home is already enrolled in a project {PROJECT} hosted elsewhere "
                f"(access route {other.access_route or '-'}): it cannot host one of that name"
            )
        settings = plan_project(
            PROJECT,
            project_id=str(uuid.uuid4()),
            admin=admin,
            admin_identity=admin_name,
            authority_address=fix_port(wanted.get(AUTHORITY_FLAG, DEFAULT_ADDRESS), AUTHORITY_FLAG),
            project_address=fix_port(wanted.get(PROJECT_FLAG, DEFAULT_ADDRESS), PROJECT_FLAG),
            public_host=host,
        )
        projects.put_self_hosted(settings)
    else:
        _check_unchanged(settings, admin, wanted, host)
    authority, _ = get_or_create_identity(state.home, settings.authority.identity)
    project_identity, _ = get_or_create_identity(state.home, settings.relays[0].identity)
    model = project_model(settings, authority=authority.public, project=project_identity.public)
    if projects.find(PROJECT) != model:
        projects.put(model, access_routes=[relay.route for relay in settings.relays])
    roles = _roles(settings, authority.public, project_identity.public)
    started: list[str] = []
    try:
        run(lambda: bring_up(state, roles, started))
    except BaseException:  # Ctrl-C too: an interrupted first enroll leaves nothing behind
        if created:
            # A project that never came up is forgotten, nodes and all: the next `ockam
            # enroll` chooses its ports again (one may have been taken since it was chosen).
            run(lambda: delete_nodes(state, [state.get(name) for name in started]))
            projects.delete(PROJECT)
        raise
    output = EnrollOutput(admin, model, settings, created, started, dict(ADMIN_ATTRIBUTES))
    pretty = enroll_report(output, admin_name, default=_is_default(projects))
    printer.emit(
        plain="\n".join(Text.from_markup(line).plain for line in pretty),
        data=to_builtins(output),
        pretty="\n".join(pretty),
    )


def _roles(
    settings: SelfHostedProject, authority: IdentityPublic, project: IdentityPublic
) -> list[Role]:
    """Each node of the project, how to tell it is the project's, and its folder's files."""
    trust = TrustConfig(
        authority_identity=authority.export_hex(),
        # The project node dials the authority on this machine, whatever host others use.
        authority_route=api_route(settings.authority.listener),
    )
    config = authority_config(settings, project_identity=project)
    relay = ProjectNodeConfig(project=settings.name, project_id=settings.id)

    def write_relay(folder: Path) -> None:
        save_trust(folder, trust)
        write_node_file(folder / PROJECT_NODE_FILE, relay)

    roles: list[Role] = [
        (
            settings.authority,
            lambda folder: read_config(folder) is not None,
            lambda folder: write_config(folder, config),
        )
    ]
    for member in settings.relays:
        roles.append((member, lambda folder: read_project_node(folder) is not None, write_relay))
    return roles


def _is_default(projects: ProjectStore) -> bool:
    return any(default for project, default in projects.all() if project.name == PROJECT)
