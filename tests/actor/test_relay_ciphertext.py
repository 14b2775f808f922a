"""What the project node can read of a portal through its relay (docs/projects.md).

The topology of a self-hosted project, in one nursery: `project` stands for the project
node (a secure channel listener `api` and the relay service, reached by members only over
their channels to it), `n3` next to the server (its outlet; it registers `forward_to_n3`
through its own channel to `project`), `n1` where the client is (its inlet, over its channel
to `project`, which is what `/project/default` resolves to). Every message the project node
routes is recorded (the spy is installed before it has a connection, so its connections'
readers and its actors all send through it): what its relay worker forwards and what its own
channel ends decrypt, which is all it ever holds in plaintext. The relay worker carries only
the first message of each route (a channel's `Hello`, a portal's `Ping`); what follows takes
the return routes, which pass the project node's channel ends, not the relay worker: so the
observation is every message the node routes, not the relay worker's alone.

- `…/service/forward_to_n3/secure/api/service/outlet`: an end-to-end channel n1 ↔ n3 runs
  inside the members' channels; the project node forwards its ciphertext and never holds
  the portal's bytes. The outlet's subject is n1.
- `…/service/forward_to_n3/service/outlet` (the control): the project node decrypts n1's
  channel, and the portal's bytes are in what it routes. The outlet's subject is the project
  node (docs/projects.md, "What the project node can see").

The outlet admits only the subject each route should give it, so each test also shows whom
the outlet sees.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import msgspec
import trio

from actors import LocalMessage, Node, Route, local, start_relay
from portals import Portals
from secure import (
    Identity,
    SecureChannelInfo,
    SecureChannels,
    TrustContext,
    issue_credential,
    resolve_secure_route,
)
from transports import open_node

from ..transfer import MARKER, data_server, download, payload, upload
from .test_secure_channel import listen_route, spy_on

SIZE = 64 * 1024
RELAY = local("forward_to_n3")
OUTLET = local("outlet")


class Project(msgspec.Struct):
    """The running topology: the inlet's port and what the project node saw."""

    port: int
    seen: list[LocalMessage]
    """Every message the project node routed, in order."""
    project: SecureChannels
    n1: SecureChannels
    n3: SecureChannels

    def forwarded(self) -> list[LocalMessage]:
        """The messages the relay worker `forward_to_n3` got, each of which it forwards."""
        return [m for m in self.seen if m.onward_route and m.onward_route.next == RELAY]

    def carried(self) -> int:
        """The payload bytes of every message the project node routed."""
        return sum(len(m.payload) for m in self.seen)


def channels(node: Node, authority: Identity, attributes: dict[str, str]) -> SecureChannels:
    """`node`'s channels, trusting `authority` and presenting its credential (a member's)."""
    identity = Identity.generate()
    credential = issue_credential(
        authority, identity.identifier, attributes, ttl=3600, now=time.time()
    )
    trust = TrustContext([authority.public], credential=credential)
    return SecureChannels(node, identity, trust=trust)


@asynccontextmanager
async def project_portal(*, end_to_end: bool) -> AsyncIterator[Project]:
    """n1's inlet → its channel to the project node → `forward_to_n3` → n3's outlet → a data
    server; with `end_to_end`, through a channel n1 ↔ n3 opened by `/secure/api`."""
    authority = Identity.generate()
    async with (
        data_server() as target,
        open_node("project") as project_node,
        open_node("n3") as n3_node,
        open_node("n1") as n1_node,
    ):
        seen = spy_on(project_node)
        to_project = await listen_route(project_node, "api")
        project = channels(project_node, authority, {"ockam-role": "project"})
        await project.create_listener("api")
        n3 = channels(n3_node, authority, {"ockam-relay": "n3"})
        await n3.create_listener("api")
        n1 = channels(n1_node, authority, {"member": "true"})

        # n3 dials out: its channel to the project node carries its relay registration.
        n3_to_project = await n3.create(to_project, authorized=[project.identifier])
        relay = await start_relay(n3_node, at=Route.parse(n3_to_project.address), name="n3")
        outlets = Portals.of(n3_node)
        outlets.policies.set_trust_defaults()  # (= subject.has_credential true), as --project
        # Whom the outlet sees as the portal's subject: n1 itself end to end, else the project
        # node, whose channel to n3 the portal comes out of. Any other subject is refused.
        subject = n1.identifier if end_to_end else project.identifier
        await outlets.create_outlet(
            target=f"127.0.0.1:{target.port}", policy=f'(= subject.identifier "{subject}")'
        )

        # n1's `/project/default`: its channel to the project node.
        n1_to_project: SecureChannelInfo = await n1.create(
            to_project, authorized=[project.identifier]
        )
        after_relay = "/secure/api/service/outlet" if end_to_end else "/service/outlet"
        route = await resolve_secure_route(
            f"{n1_to_project.address}/service/forward_to_n3{after_relay}", n1
        )
        inlet = await Portals.of(n1_node).create_inlet(bind="127.0.0.1:0", route=route)
        try:
            yield Project(int(inlet.bind_addr.rpartition(":")[2]), seen, project, n1, n3)
        finally:
            n3_node.stop_actor(relay.ctx.address)  # before its channel closes: no warning
            for side in (n1, n3, project):
                await side.aclose()


async def carry(portal: Project) -> None:
    """64 KiB each way through the portal; both arrive intact."""
    data = payload(SIZE)
    assert data.count(MARKER) >= SIZE // 4096
    assert await upload(portal.port, data) == hashlib.sha256(data).hexdigest()
    assert await download(portal.port, SIZE) == (hashlib.sha256(data).hexdigest(), SIZE)


async def test_the_project_node_sees_only_ciphertext_on_the_secure_api_route() -> None:
    with trio.fail_after(30):
        async with project_portal(end_to_end=True) as portal:
            await carry(portal)
            # The portal came through the relay, and the project node carried its bytes ...
            assert portal.forwarded()
            assert portal.carried() > 2 * SIZE
            # ... but nothing it routed, what its own channel ends decrypted included, holds
            # the plaintext, whichever way it went.
            for message in portal.seen:
                assert MARKER not in message.payload
                assert MARKER[:16] not in message.payload
                assert b"outlet" not in message.payload
            # The portal's channel runs n1 ↔ n3: the project node holds no end of it.
            [n3_from_n1] = [c for c in portal.n3.list() if c.role == "responder"]
            assert n3_from_n1.remote_identifier == portal.n1.identifier
            ends = {c.remote_identifier for c in portal.project.list()}
            assert ends == {portal.n1.identifier, portal.n3.identifier}


async def test_without_secure_api_the_project_node_sees_the_plaintext() -> None:
    """The control: the same observation point shows the bytes when they are there."""
    with trio.fail_after(30):
        async with project_portal(end_to_end=False) as portal:
            await carry(portal)
            assert portal.forwarded()
            # The project node decrypted n1's channel and n3's: the bytes both ways.
            assert sum(m.payload.count(MARKER) for m in portal.seen) >= 2 * SIZE // 4096
            # The relay worker forwarded each portal's Ping (one per TCP connection, upload
            # and download) with the outlet's address in plaintext.
            assert [m.onward_route for m in portal.forwarded()] == [Route([RELAY, OUTLET])] * 2
            # n3's only channel is its own to the project node: nothing end to end.
            assert [c.role for c in portal.n3.list()] == ["initiator"]
