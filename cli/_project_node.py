"""The project node of a self-hosted project: the node that offers the project's Elastic Relay
Service, and who it lets in.

A node whose folder holds `project_node.json` (written by `ockam enroll`, beside the
`trust.json` that makes it trust the project's authority and fetch its own credential there,
as a pre-trusted member with ``ockam-role=project``) is a project node. When its process
starts, `start_project_node` (a setup hook, run after the trust's) replaces

- its secure channel listener `api` by one that admits only the project's members: an
  initiator that presents no valid credential from the project's authority is refused, and
  told why (`members_only`);
- its relay service by one that creates relay NAME only for a member whose credential says
  ``ockam-relay`` is NAME or ``*`` (`relay_refusal`), refusing the others with the reason;
  and whose relays forward only what comes through a member's secure channel (`MemberRelay`):
  the nodes behind them trust what the project node's channel brings (its own credential),
  so nothing may reach them through it that the project would not let in.

The decisions are plain functions of the subject (sans-IO); the hook only wires them in.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import msgspec
import trio

from actors import (
    RELAY_SERVICE,
    STATIC_RELAY_SERVICE,
    LocalMessage,
    Node,
    OckamError,
    RelayService,
    RelayWorker,
    Route,
)
from portals import subject_source
from secure import (
    DEFAULT_LISTENER,
    RELAY_ATTRIBUTE,
    Admit,
    CredentialRefresher,
    SecureChannels,
    Subject,
    channels_only,
)

from ._controller import NodeController
from ._node_files import read_node_file
from ._node_trust import REFRESHER

log = logging.getLogger("ockam.project")

PROJECT_NODE_FILE = "project_node.json"
"""The file in a node's folder that makes it a project node."""

PROJECT_ROLE = "project"
"""The ``ockam-role`` of a project node's own credential."""

CREDENTIAL_WAIT = 10.0
"""Seconds a starting project node waits for its first credential from the authority."""


class ProjectNodeConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """What `ockam enroll` writes to a project node's `project_node.json`.

    Attributes:
        project: The project's name (in the reasons of refusals).
        project_id: The project's id.
    """

    project: str
    project_id: str


def read_project_node(folder: Path) -> ProjectNodeConfig | None:
    """The project node configuration in a node's folder, or None if it is no project node.

    Raises:
        OckamError: The file is there but cannot be read.
    """
    return read_node_file(folder / PROJECT_NODE_FILE, ProjectNodeConfig, "project node file")


def members_only(project: str) -> Admit:
    """The admission check of project `project`'s listener `api`: a subject with a verified
    credential from the project's authority (the only authority the node trusts)."""

    def admit(subject: Subject) -> str | None:
        if subject.has_credential:
            return None
        return (
            f"identity {subject.identifier} is not a member of project {project}: it presented "
            "no credential from the project's authority"
        )

    return admit


def relay_refusal(project: str, subject: Subject | None, name: str) -> str | None:
    """Why `subject` may not create relay `name` at project `project`'s node (None: it may).

    Args:
        project: The project's name.
        subject: Who registers: the subject of the secure channel the registration came
            through; None when it came through none.
        name: The relay's name.
    """
    if subject is None:
        return (
            f"relays at project {project} are registered through a secure channel to its "
            "listener api (route …/secure/api)"
        )
    granted = subject.attributes.get(RELAY_ATTRIBUTE)
    if granted in (name, "*"):
        return None
    has = (
        f"has no {RELAY_ATTRIBUTE} attribute"
        if granted is None
        else f"allows only relay {granted!r} ({RELAY_ATTRIBUTE}={granted})"
    )
    return f"identity {subject.identifier} may not create relay {name!r} at project {project}: " + (
        f"its credential {has}"
        if subject.has_credential
        else "it presented no credential from the project's authority"
    )


def channel_subject(node: Node, back: Route) -> Subject | None:
    """The subject of the established secure channel a message with return route `back`
    came out of, on `node`; None when it came through none."""
    source = subject_source(node, back.next) if back else None
    return None if source is None else source.subject(time.time())


class MemberRelay(RelayWorker):
    """A relay worker of a project node: it forwards a message only when it came through the
    secure channel of a member (a subject with a credential from the project's authority),
    and drops others with a log line. A sender without one could otherwise reach the nodes
    behind the relay as the project node, which they trust."""

    def __init__(self, project: str, name: str, forward_route: Route) -> None:
        super().__init__(name, forward_route)
        self.project = project

    async def handle_message(self, message: LocalMessage) -> None:
        subject = channel_subject(self.ctx.node, message.return_route)
        if subject is None or not subject.has_credential:
            who = "no secure channel" if subject is None else f"identity {subject.identifier}"
            log.warning(
                "relay %s of project %s: dropped a message from %s, not a member's channel",
                self.name,
                self.project,
                who,
            )
            return
        await super().handle_message(message)


async def start_project_node(controller: NodeController) -> None:
    """Make this node a project node if its folder says so (see the module docstring).

    Raises:
        OckamError: It is a project node but trusts no authority (its `trust.json` is gone).
    """
    config = read_project_node(controller.home)
    if config is None:
        return
    node = controller.node
    channels = controller.channels()
    if channels.settings.trust is None:
        raise OckamError(
            f"node {node.name} is a node of project {config.project} but trusts no authority "
            "(its trust.json is missing): run `ockam enroll` again"
        )
    # From a connection, only handshakes and encrypted frames: every other message must
    # come out of a member's channel (relays, services, channel ends' plaintext sides, other
    # transport addresses are out of reach of plain TCP).
    node.entry = channels_only(node)
    # No channel is open yet (the node accepts once set up): the listener `api` the trust
    # set up gives way to one that admits members only.
    channels.delete_listener(DEFAULT_LISTENER)
    await channels.create_listener(DEFAULT_LISTENER, admit=members_only(config.project))

    def authorize(name: str, back: Route) -> str | None:
        return relay_refusal(config.project, channel_subject(node, back), name)

    def make_relay(name: str, forward_route: Route) -> RelayWorker:
        return MemberRelay(config.project, name, forward_route)

    node.stop_actor(RELAY_SERVICE)
    await node.start_actor(
        RelayService(authorize=authorize, make_relay=make_relay),
        RELAY_SERVICE,
        aliases=[STATIC_RELAY_SERVICE],
        service=True,
    )
    await _first_credential(controller, channels)
    log.info(
        "node %s is a relay node of project %s: its listener %s admits members only, its "
        "relay service creates relays for %s holders",
        node.name,
        config.project,
        DEFAULT_LISTENER,
        RELAY_ATTRIBUTE,
    )


async def _first_credential(controller: NodeController, channels: SecureChannels) -> None:
    """Wait (bounded) until the node holds its credential, so that it answers, and `ockam
    enroll` returns, only once members' nodes can verify it: their outlets' default policy
    admits what comes through it only then (a late one is logged; the refresher goes on)."""
    trust = channels.trust
    refresher = controller.node.actor_at(REFRESHER)
    if trust is None or not isinstance(refresher, CredentialRefresher):
        return
    with trio.move_on_after(CREDENTIAL_WAIT):
        while trust.presentable() is None:
            await refresher.changed.wait()
    if trust.presentable() is None:
        log.warning(
            "node %s has no credential from its authority yet (%s); it keeps asking",
            controller.node.name,
            refresher.last_error or "no answer",
        )
