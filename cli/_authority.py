"""Authorities: `ockam authority create`, and the setup that makes a node process an authority.

An authority is a node like any other (`node list/show/logs/stop/delete` see it) whose folder
holds `authority.json`: its project and flags, written by `authority create`. When a node
process starts and finds that file, `start_authority` loads its pre-trusted members into the
state database, makes its listener ``api`` believe the account authority (whose credentials
make admins), and starts `AuthorityService` behind it. So `node start authority` brings an
authority back as one, and `node delete authority` (which removes the folder) leaves a plain
name behind. The members stay in the state database, in tables named after the authority's
identifier, so an authority started again with the same identity has the same members.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Annotated, Any

import msgspec
from cyclopts import Parameter

from actors import MultiAddr, OckamError
from secure import (
    AUTHORITY_SERVICE,
    DEFAULT_CREDENTIAL_TTL,
    DEFAULT_LISTENER,
    AuthorityService,
    Enrollment,
    IdentityError,
    IdentityPublic,
    ProjectInfo,
    SecureChannels,
    SqliteEnrollmentStore,
    TrustContext,
    check_identifier,
)

from ._app import DEFAULT, Common, command_group, store
from ._authority_config import (
    AUTHORITY_FILE,
    DEFAULT_AUTHORITY,
    AuthorityConfig,
    api_route,
    read_config,
    table_prefix,
    write_config,
)
from ._controller import NodeController
from ._feature import Feature, NodeApi
from ._identity_store import get_or_create_identity
from ._process import is_node_process, pid_alive
from ._state import StateStore, check_node_name

log = logging.getLogger("ockam.authority")


def parse_trusted_identities(text: str) -> dict[str, dict[str, str]]:
    """`--trusted-identities`: a JSON object of identifier to attributes (strings).

    Raises:
        ValueError: It is not such an object, or an identifier is malformed.
    """
    try:
        trusted = msgspec.json.decode(text, type=dict[str, dict[str, str]])
    except msgspec.DecodeError as exc:
        raise ValueError(
            f"cannot parse the trusted identities: {exc}; expected JSON like "
            '{"I…": {"attribute": "value"}}'
        ) from None
    for identifier in trusted:
        check_identifier(identifier)
    return trusted


def exported_identity(text: str, flag: str) -> IdentityPublic:
    """The exported identity (hex) given to `flag`.

    Raises:
        ValueError: It is not one, with the flag and the reason.
    """
    try:
        return IdentityPublic.from_exported(text.strip())
    except (IdentityError, ValueError) as exc:
        raise ValueError(
            f"bad {flag}: {exc} (expected what `ockam identity show NAME --full --encoding hex` "
            "prints)"
        ) from None


async def start_authority(controller: NodeController) -> None:
    """Make this node an authority if its folder says so (see the module docstring)."""
    config = read_config(controller.home)
    if config is None:
        return
    channels = controller.channels()
    identity = channels.identity
    state = StateStore(controller.home.parent.parent)
    members = SqliteEnrollmentStore(state.database, prefix=table_prefix(identity.identifier))
    enrollment = Enrollment(
        members,
        authority=identity.identifier,
        project_id=config.project_id,
        enforce_admin_checks=config.enforce_admin_checks,
    )
    enrollment.set_pre_trusted(config.trusted_identities, now=time.time())
    account = (
        None
        if config.account_authority is None
        else IdentityPublic.from_exported(config.account_authority)
    )
    if account is not None:
        # Admins prove themselves with the account authority's credentials, which only a
        # listener that trusts it verifies: replace the plain `api` (no channel is open yet).
        settings = channels.settings
        trusted = SecureChannels(
            controller.node,
            identity,
            static_private=settings.static_private,
            keepalive_interval=settings.keepalive_interval,
            keepalive_timeout=settings.keepalive_timeout,
            trust=TrustContext([account]),
        )
        channels.delete_listener(DEFAULT_LISTENER)
        await trusted.create_listener(DEFAULT_LISTENER)
        controller.secure = trusted
    route = api_route(controller.listener)
    project = ProjectInfo(
        project_id=config.project_id,
        project_name=config.project_name,
        project_routes=tuple(config.project_access_routes) or (route,),
        project_identity=(
            identity.public
            if config.project_identity is None
            else IdentityPublic.from_exported(config.project_identity)
        ),
        authority_route=route,
    )
    service = AuthorityService(
        enrollment,
        identity,
        project,
        credential_ttl=config.credential_ttl,
        account_authority=None if account is None else account.identifier,
        direct_authentication=config.direct_authentication,
        token_enrollment=config.token_enrollment,
    )
    await controller.node.start_actor(service, AUTHORITY_SERVICE, service=True)
    log.info(
        "node %s is the authority %s of project %s (%d pre-trusted members) at %s",
        controller.node.name,
        identity.identifier,
        config.project_id,
        len(config.trusted_identities),
        route,
    )


authority_app = command_group(
    "authority", "Run an authority: it enrolls members and issues credentials."
)
FEATURE = Feature("authority", commands=[authority_app], setup=[start_authority])

Flag = Annotated[bool, Parameter(negative="")]


@authority_app.command(name="create")
def authority_create(
    name: str = DEFAULT_AUTHORITY,
    /,
    *,
    project_identifier: str,
    trusted_identities: str,
    tcp_listener_address: str = "127.0.0.1:4000",
    identity: str | None = None,
    account_authority: str | None = None,
    enforce_admin_checks: Flag = False,
    no_direct_authentication: Flag = False,
    no_token_enrollment: Flag = False,
    project_access_route: Annotated[
        list[str] | None, Parameter(name="--project-access-route")
    ] = None,
    project_identity: str | None = None,
    project_name: str = "default",
    credential_ttl: int = DEFAULT_CREDENTIAL_TTL,
    foreground: Flag = False,
    common: Common = DEFAULT,
    api: Annotated[NodeApi, Parameter(parse=False)],
    create_node: Annotated[Callable[..., Any], Parameter(parse=False)],
) -> None:
    """Create an authority node: it enrolls the project's members and issues their credentials.

    Members, enrollers and admins reach it through a secure channel to its listener `api`
    (`/service/api`); see `ockam project ticket` and `ockam project enroll`.

    Parameters
    ----------
    name
        The authority's node name.
    project_identifier
        The project's id; an account-authority credential whose `project` attribute is this id
        makes its holder an admin.
    trusted_identities
        The pre-trusted members and their attributes, as JSON:
        '{"I…": {"ockam-role": "enroller"}, "I…": {"component": "db"}}'.
    tcp_listener_address
        Where the authority listens (HOST:PORT; port 0 picks a free port).
    identity
        The name of the identity the authority signs with (default: authority; created when
        missing).
    account_authority
        The account authority's exported identity (hex, `identity show NAME --full --encoding
        hex`), whose credentials naming this project make admins.
    enforce_admin_checks
        Only account-authority admins are admins; pre-trusted enrollers are enrollers only.
    no_direct_authentication
        Do not serve the member list to enrollers.
    no_token_enrollment
        Do not make or accept enrollment tickets.
    project_access_route
        A route to the project node, as tickets carry it; may be repeated (default: the
        authority's own route).
    project_identity
        The project node's exported identity (hex; default: the authority's).
    project_name
        The project's name.
    credential_ttl
        Seconds each member credential is valid for.
    foreground
        Run the authority in this process until Ctrl-C or SIGTERM.
    """
    if not project_identifier.strip():
        raise ValueError("--project-identifier must not be empty")
    if credential_ttl < 1:
        raise ValueError(f"bad --credential-ttl {credential_ttl}: at least 1 second")
    for route in project_access_route or []:
        MultiAddr.parse(route)
    account = (
        None
        if account_authority is None
        else exported_identity(account_authority, "--account-authority")
    )
    project = (
        None
        if project_identity is None
        else exported_identity(project_identity, "--project-identity")
    )
    config = AuthorityConfig(
        project_id=project_identifier.strip(),
        trusted_identities=parse_trusted_identities(trusted_identities),
        project_name=project_name,
        account_authority=None if account is None else account.export_hex(),
        enforce_admin_checks=enforce_admin_checks,
        direct_authentication=not no_direct_authentication,
        token_enrollment=not no_token_enrollment,
        project_access_routes=list(project_access_route or []),
        project_identity=None if project is None else project.export_hex(),
        credential_ttl=credential_ttl,
    )
    state = store()
    node = check_node_name(name)
    _clear_stopped_authority(state, node)
    identity_name = identity or DEFAULT_AUTHORITY
    get_or_create_identity(state.home, identity_name)
    folder = state.node_dir(node)
    write_config(folder, config)
    try:
        # `node create`, which the app provides (a feature imports no other feature).
        create_node(
            node,
            tcp_listener_address=tcp_listener_address,
            foreground=foreground,
            identity=identity_name,
            common=common,
            api=api,
        )
    except BaseException:
        # An authority that never started leaves no configuration for a later plain node.
        if state.find(node) is None:
            (folder / AUTHORITY_FILE).unlink(missing_ok=True)
        raise


def _clear_stopped_authority(state: StateStore, name: str) -> None:
    """Forget a stopped authority of this name, so that it starts again (as Ockam's does);
    refuse a running one, or a node that is not an authority."""
    record = state.find(name)
    if record is None:
        return
    if read_config(state.node_dir(name)) is None:
        raise OckamError(
            f"node {name!r} already exists and is not an authority; "
            f"delete it first with `ockam node delete {name}`"
        )
    if pid_alive(record.pid) and is_node_process(record.pid, name):
        raise OckamError(f"node {name!r} is already running")
    state.delete(name)
