"""Nodes that trust an authority: `node create --authority-identity HEX [--authority-route R]
[--credential-scope S] [--credential HEX]`, and the setup that makes a node process trust it.

`node create` checks the flags (`trust_config`) and writes them to the node's folder as
`trust.json` (mode 0600) before the node process starts (`save_trust`); the process's setup hook
(`start_trust`, run after the secure channels are set up) reads it back. So `node start`
brings a stopped node back trusting the same authority, and `node delete` (which removes the
folder) forgets it.

A trusting node's secure channels present its own credential and verify the other end's
against the authority (`secure.TrustContext`); its outlets and inlets get Ockam's default
policy, `(= subject.has_credential true)`, unless they have their own. Its credential is the
freshest valid one of: `--credential`, those `credential store --at NODE` stored, and, with an
authority route, the ones it fetches from the authority and refreshes before they expire
(`secure.CredentialRefresher`).

`node create --project FILE|NAME` takes all of that from a project (a project JSON, imported
as `project import` does, or the name of an imported one): the node trusts the project's
authority, fetches its member credential there, and `trust.json` records the project (name,
the project node's identifier, its access routes), so that `/project/NAME` in a route opens a
secure channel to the project node (`NodeController.project`). A node that holds no member
credential still starts; `node create` says why in one line (`membership_warning`).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import msgspec
import trio
from cyclopts import Parameter

from actors import local
from secure import (
    DEFAULT_CREDENTIAL_SCOPE,
    DEFAULT_LISTENER,
    Credential,
    CredentialError,
    CredentialRefresher,
    IdentityError,
    IdentityPublic,
    ProjectAccess,
    SecureChannels,
    TrustContext,
)

from ._control import Request, call
from ._controller import NodeController
from ._credential_store import check, parse_credential, stored_credentials
from ._identity_store import get_or_create_identity
from ._node_files import read_node_file, write_node_file
from ._project_store import ProjectError, ProjectModel, ProjectStore, read_project_file
from ._routes import resolve_route
from ._state import StateStore

log = logging.getLogger("ockam.trust")

TRUST_FILE = "trust.json"
"""The file in a node's folder that makes it trust an authority."""

REFRESHER = "credential_refresher"
"""The local address of a node's `CredentialRefresher`."""

MEMBERSHIP_WAIT = 5.0
"""Seconds a node in a project waits for its first try to fetch its credential (when it
starts, and when `node create --project` asks it whether it is a member)."""


@Parameter(name="*")
@dataclass(frozen=True)
class TrustOptions:
    """`node create`'s trust flags."""

    authority_identity: Annotated[
        str | None,
        Parameter(
            help="The exported identity (hex) of the authority the node trusts: what "
            "`ockam identity show NAME --full --encoding hex` prints."
        ),
    ] = None
    authority_route: Annotated[
        str | None,
        Parameter(
            help="The route to the authority's secure channel listener, like "
            "/node/authority/service/api: the node fetches its credential there and "
            "refreshes it before it expires."
        ),
    ] = None
    credential_scope: Annotated[
        str | None,
        Parameter(help=f"The scope credentials must have (default: {DEFAULT_CREDENTIAL_SCOPE})."),
    ] = None
    credential: Annotated[
        str | None,
        Parameter(help="The node's own credential (hex, from `ockam credential issue`)."),
    ] = None
    project: Annotated[
        str | None,
        Parameter(
            help="The project the node is in: a project JSON file (what `ockam project "
            "information --output json` prints; it is imported) or an imported project's "
            "name. The node trusts its authority, fetches its member credential there, and "
            "reaches the project node as /project/NAME."
        ),
    ] = None

    @property
    def given(self) -> bool:
        """Whether any trust flag was given."""
        return any(
            v is not None
            for v in (
                self.authority_identity,
                self.authority_route,
                self.credential_scope,
                self.credential,
                self.project,
            )
        )


NO_TRUST = TrustOptions()


class ProjectRecord(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """The project a node is in, as its `trust.json` records it.

    Attributes:
        name: The project's name (``/project/NAME``).
        identifier: The project node's identifier, which its channels must prove.
        access_routes: The routes to the project node's listener, tried in order.
    """

    name: str
    identifier: str
    access_routes: list[str]


class TrustConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What `node create` writes to the node's `trust.json`.

    Attributes:
        authority_identity: The trusted authority's exported identity (hex).
        credential_scope: The scope the node's channels require of credentials.
        authority_route: The resolved route to the authority's listener, or None.
        credential: The node's initial credential (hex), or None.
        project: The project the node is in (`--project`), or None.
    """

    authority_identity: str
    credential_scope: str = DEFAULT_CREDENTIAL_SCOPE
    authority_route: str | None = None
    credential: str | None = None
    project: ProjectRecord | None = None


def project_access_routes(state: StateStore, project: ProjectModel) -> list[str]:
    """Every route to `project`'s node, in the order to try them: those the project store
    holds for it (a ticket's), else its `access_route`."""
    stored = ProjectStore(state).access_routes(project.name)
    return stored or ([project.access_route] if project.access_route else [])


def _project(state: StateStore, text: str) -> ProjectModel:
    """The project `--project` names: a project file, imported (as `project import` does),
    or an imported project's name."""
    projects = ProjectStore(state)
    if Path(text).expanduser().is_file() or "/" in text or text.endswith(".json"):
        project = read_project_file(str(Path(text).expanduser()))
        known = projects.find(project.name)
        if known is None:
            projects.put(project)
            return project
        if known.id != project.id:
            raise ProjectError(
                f"{text} is project {project.name} {project.id}, but this home has another "
                f"project {project.name} ({known.id}): use `--project {project.name}`, or "
                "import the file into a fresh home"
            )
        # The same project: what this home knows of it (a hosted project's record, a
        # ticket's list of routes) stays.
        return known
    return projects.get(text)


def _project_options(
    state: StateStore, options: TrustOptions, text: str
) -> tuple[TrustOptions, ProjectRecord]:
    """`options` with the authority of the project `--project` names, and its record.

    Raises:
        ValueError: `--authority-identity` or `--authority-route` was given too.
        ProjectError: The project cannot be read, or lacks what a node needs of it.
    """
    if options.authority_identity is not None or options.authority_route is not None:
        raise ValueError(
            "--project names the authority: drop --authority-identity and --authority-route"
        )
    project = _project(state, text)
    identifier = project.identity
    if identifier is None and project.project_change_history:
        identifier = IdentityPublic.from_exported(project.project_change_history).identifier
    missing = [
        field
        for field, value in (
            ("identity", identifier),
            ("authority_identity", project.authority_identity),
            ("authority_access_route", project.authority_access_route),
        )
        if not value
    ]
    routes = [str(resolve_route(r, state)) for r in project_access_routes(state, project)]
    if not routes:
        missing.insert(0, "access_route")
    if missing or identifier is None:
        raise ProjectError(
            f"project {project.name} has no {', '.join(missing)}: a node needs them to be in it"
        )
    record = ProjectRecord(name=project.name, identifier=identifier, access_routes=routes)
    chosen = dataclasses.replace(
        options,
        authority_identity=project.authority_identity,
        authority_route=project.authority_access_route,
        project=None,
    )
    return chosen, record


def trust_config(
    state: StateStore, identity_name: str, options: TrustOptions
) -> TrustConfig | None:
    """The checked trust configuration of a node using identity `identity_name`; None when no
    trust flag was given. The identity is created when missing, so that `--credential` can be
    checked to be about it.

    Raises:
        ValueError: A flag is malformed, or given without `--authority-identity` (or
            `--project`).
        ProjectError: The project `--project` names cannot be read or used.
        CredentialRefused: `--credential` is not the authority's, not valid now, or not about
            the node's identity.
    """
    project = None
    if options.project is not None:
        options, project = _project_options(state, options, options.project)
    if options.authority_identity is None:
        if options.given:
            raise ValueError(
                "--authority-route, --credential-scope and --credential need "
                "--authority-identity (the authority the node trusts) or --project"
            )
        return None
    try:
        authority = IdentityPublic.from_exported(options.authority_identity)
    except IdentityError as exc:
        raise ValueError(
            f"bad --authority-identity: {exc} (expected what "
            "`ockam identity show NAME --full --encoding hex` prints)"
        ) from None
    scope = DEFAULT_CREDENTIAL_SCOPE
    if options.credential_scope is not None:
        scope = options.credential_scope.strip()
        if not scope or not scope.isprintable():
            raise ValueError(f"bad --credential-scope {options.credential_scope!r}")
    route = None
    if options.authority_route is not None:
        route = str(resolve_route(options.authority_route, state))
    credential = None
    if options.credential is not None:
        parsed = parse_credential(options.credential)
        identity, _ = get_or_create_identity(state.home, identity_name)
        check(
            parsed,
            issuer=authority.identifier,
            now=time.time(),
            subject=identity.identifier,
            scope=scope,
        )
        credential = parsed.hex()
    return TrustConfig(
        authority_identity=authority.export_hex(),
        credential_scope=scope,
        authority_route=route,
        credential=credential,
        project=project,
    )


def save_trust(folder: Path, config: TrustConfig | None) -> None:
    """Write `config` to a node's folder (mode 0600), or remove a stale one when None."""
    path = folder / TRUST_FILE
    if config is None:
        path.unlink(missing_ok=True)
        return
    write_node_file(path, config)


def prepare_trust(
    state: StateStore, node: str, identity: str | None, options: TrustOptions, *, keep: bool
) -> None:
    """`node create`'s hook: check the trust flags and write them to the node's folder.

    With `keep` (a node process started with `--foreground`), a folder's configuration stays
    when no flag is given: the background `node create` that spawned the process wrote it.
    """
    if keep and not options.given:
        return
    save_trust(state.node_dir(node), trust_config(state, identity or node, options))


def read_trust(folder: Path) -> TrustConfig | None:
    """The trust configuration in a node's folder, or None when it trusts no authority.

    Raises:
        OckamError: The file is there but cannot be read.
    """
    return read_node_file(folder / TRUST_FILE, TrustConfig, "trust configuration")


async def start_trust(controller: NodeController) -> None:
    """Make this node trust the authority its folder names (see the module docstring)."""
    config = read_trust(controller.home)
    if config is None:
        return
    channels = controller.channels()
    authority = IdentityPublic.from_exported(config.authority_identity)
    trust = TrustContext(
        [authority], scope=config.credential_scope, authority_route=config.authority_route
    )
    settings = channels.settings
    trusted = SecureChannels(
        controller.node,
        settings.identity,
        static_private=settings.static_private,
        keepalive_interval=settings.keepalive_interval,
        keepalive_timeout=settings.keepalive_timeout,
        trust=trust,
    )
    # No channel is open yet: the listener `api` is replaced by one that presents and verifies.
    channels.delete_listener(DEFAULT_LISTENER)
    await trusted.create_listener(DEFAULT_LISTENER)
    controller.secure = trusted
    controller.portals.policies.set_trust_defaults()
    if config.project is not None:
        project = config.project
        controller.projects[project.name] = ProjectAccess(
            project.name, project.identifier, tuple(project.access_routes)
        )
    home = controller.home.parent.parent
    stored = await trio.to_thread.run_sync(
        lambda: [row.credential for row in stored_credentials(home, node=controller.node.name)]
    )
    own = _freshest(trust, trusted.identifier, [config.credential, *stored])
    if own is not None:
        await trusted.present_credential(own)
    if trust.authority_route is not None:
        refresher = CredentialRefresher(trusted)
        await controller.node.start_actor(refresher, REFRESHER)
        if own is None and config.project is not None:
            # The relays and inlets restored next open channels to the project node, which
            # admits members only: give the first fetch a moment to end first.
            await _first_fetch(refresher)
            own = trust.credential
    log.info(
        "node %s trusts authority %s (scope %s)%s%s; %s",
        controller.node.name,
        authority.identifier,
        trust.scope,
        f", in project {config.project.name}" if config.project else "",
        f", fetching its credential from {trust.authority_route}" if trust.authority_route else "",
        "it has no valid credential yet"
        if own is None
        else f"its credential expires at {own.unverified_data().expires}",
    )


class GetMembership(Request, frozen=True, tag="node-membership"):
    """Whether the node holds a credential from the authority it trusts, and why not."""


class Membership(msgspec.Struct, frozen=True):
    """The answer to `GetMembership`: `reason` is empty when the node holds a credential."""

    reason: str = ""


async def membership(controller: NodeController) -> Membership:
    """Whether the node holds a valid credential; while it has none, it waits (at most
    `MEMBERSHIP_WAIT` seconds) for its first fetch from the authority to end."""
    trust = None if controller.secure is None else controller.secure.trust
    if trust is None:
        return Membership("it trusts no authority")
    refresher = controller.node.actor_at(local(REFRESHER))
    if not isinstance(refresher, CredentialRefresher):
        refresher = None
    if trust.presentable() is None and refresher is not None:
        await _first_fetch(refresher)
    if trust.presentable() is not None:
        return Membership()
    if refresher is None:
        if trust.credential is not None:
            return Membership("its credential expired and it has no route to its authority")
        return Membership("it has no credential and no route to its authority")
    if refresher.last_error is None:
        return Membership(f"its authority did not answer within {MEMBERSHIP_WAIT:g} s")
    return Membership(refresher.last_error)


async def _first_fetch(refresher: CredentialRefresher) -> None:
    """Return once `refresher`'s first fetch has ended (at most `MEMBERSHIP_WAIT` seconds)."""
    if not refresher.fetched and refresher.last_error is None:
        with trio.move_on_after(MEMBERSHIP_WAIT):
            await refresher.changed.wait()


async def membership_warning(state: StateStore, node: str) -> str | None:
    """The line `node create` prints when node `node` is in a project but holds no member
    credential (it still runs: it can be enrolled later); None when it holds one, or is in
    no project."""
    config = await trio.to_thread.run_sync(read_trust, state.node_dir(node))
    if config is None or config.project is None:
        return None
    answer = await call(state.socket_path(node), GetMembership(), Membership, node=node)
    if not answer.reason:
        return None
    return (
        f"node {node} holds no member credential of project {config.project.name}: {answer.reason}"
    )


def _freshest(trust: TrustContext, identifier: str, texts: list[str | None]) -> Credential | None:
    """The valid credential about `identifier` that expires last, among `texts` (hex)."""
    best: Credential | None = None
    best_expiry = 0
    for text in texts:
        if text is None:
            continue
        try:
            credential = Credential.from_hex(text)
            data = trust.verify(credential, subject=identifier)
        except CredentialError as exc:
            log.info("not presenting a stored credential: %s", exc)
            continue
        if data.expires > best_expiry:
            best, best_expiry = credential, data.expires
    return best
