"""Policies on outlets and inlets, enforced: over memory streams, on a virtual clock.

alice (inlets) and carol are each linked to bob (outlets, a secure channel listener) by a
memory stream; the portals' TCP sides come from `MemoryNet`. A portal opens only through a
secure channel whose subject satisfies the outlet's (or inlet's) policy; a refused client's
connection is closed at once, and the target never hears of it. Credentials expire by a wall
clock that follows trio's virtual one, so a 5 s credential lapses in no real time.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
import trio

from actors import Address, Route, local
from portals import InletInfo, InletWorker, OutletWorker, Portals, ResourceType
from secure import Identity, SecureChannels, TrustContext, issue_credential
from transports import NetworkNode, open_node

from ._portal_helpers import MemoryNet, memory_link
from .test_secure_channel import channel_route

MB = 1024 * 1024


def virtual_wall_clock() -> Callable[[], float]:
    """`time.time()` as it stood when called, moving on with trio's clock."""
    offset = time.time() - trio.current_time()
    return lambda: offset + trio.current_time()


class Net:
    """bob has the outlets and a channel listener at `api`; alice and carol reach him.

    With an `authority`, every node trusts it (and has no credential of its own yet).
    """

    def __init__(
        self, nodes: dict[str, NetworkNode], links: dict[str, Address], authority: Identity | None
    ) -> None:
        self.nodes = nodes
        self.links = links
        self.net = MemoryNet()
        self.clock = virtual_wall_clock()
        self.authority = authority
        self.portals = {
            name: Portals(node, connect=self.net.connect, listen=self.net.listen, clock=self.clock)
            for name, node in nodes.items()
        }
        self.identities = {name: Identity.generate() for name in nodes}
        self.channels = {
            name: SecureChannels(
                node,
                self.identities[name],
                trust=None
                if authority is None
                else TrustContext([authority.public], clock=self.clock),
            )
            for name, node in nodes.items()
        }

    def identifier(self, name: str) -> str:
        return self.identities[name].identifier

    async def give_credential(self, name: str, attributes: dict[str, str], *, ttl: int) -> float:
        """A credential from the authority, issued now, becomes `name`'s own (and is presented
        on its open channels); when it expires."""
        assert self.authority is not None
        credential = issue_credential(
            self.authority, self.identifier(name), attributes, ttl=ttl, now=self.clock()
        )
        await self.channels[name].present_credential(credential)
        return float(credential.unverified_data().expires)

    async def secure_route(self, name: str, *onward: str) -> Route:
        """A new secure channel from `name` to bob's `api`; the route through it to `onward`."""
        info = await self.channels[name].create(
            Route((self.links[name], local("api"))), authorized=[self.identifier("bob")]
        )
        return channel_route(info, *onward)

    async def connect(self, inlet: InletInfo) -> trio.abc.Stream:
        host, port = inlet.bind_addr.rsplit(":", 1)
        return await self.net.connect(host, int(port))

    def portal_workers(self) -> int:
        return sum(
            len(node.actors_of(InletWorker)) + len(node.actors_of(OutletWorker))
            for node in self.nodes.values()
        )


@asynccontextmanager
async def open_net(*, authority: Identity | None = None) -> AsyncIterator[Net]:
    async with (
        open_node("alice") as alice,
        open_node("bob") as bob,
        open_node("carol") as carol,
    ):
        links = {"alice": await memory_link(alice, bob), "carol": await memory_link(carol, bob)}
        net = Net({"alice": alice, "bob": bob, "carol": carol}, links, authority)
        await net.channels["bob"].create_listener("api")
        yield net


async def echo_server(listener: trio.abc.Listener[trio.abc.Stream]) -> None:
    async with trio.open_nursery() as nursery:
        while True:
            stream = await listener.accept()
            nursery.start_soon(_echo, stream)


async def _echo(stream: trio.abc.Stream) -> None:
    async with stream:
        try:
            while data := await stream.receive_some(65536):
                await stream.send_all(data)
        except trio.BrokenResourceError:
            pass


async def assert_refused(net: Net, inlet: InletInfo) -> None:
    """A client of `inlet` is closed without a byte, and the target is never connected to."""
    connected = list(net.net.connected)
    client = await net.connect(inlet)
    with trio.fail_after(30):
        assert await client.receive_some(10) == b""
    while net.portal_workers():
        await trio.sleep(0.1)
    assert net.net.connected == [*connected, inlet.bind_addr]  # only the client's connection


async def assert_served(net: Net, inlet: InletInfo) -> None:
    client = await net.connect(inlet)
    async with client:
        await client.send_all(b"hello through the portal")
        assert await client.receive_some(100) == b"hello through the portal"


async def test_an_identifier_policy_refuses_a_plain_route_and_another_identity(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ockam.policy")
    with trio.fail_after(60):
        async with open_net() as net, trio.open_nursery() as nursery:
            server, _ = await net.net.listen("server", 9000)
            nursery.start_soon(echo_server, server)
            alice = net.identifier("alice")
            policy = f'(= subject.identifier "{alice}")'
            await net.portals["bob"].create_outlet(target="server:9000", policy=policy)

            plain = await net.portals["alice"].create_inlet(
                bind="inlet:6000", route=Route((net.links["alice"], local("outlet")))
            )
            await assert_refused(net, plain)
            assert f"refused a portal: tcp-outlet outlet: no secure channel; policy `{policy}`" in (
                caplog.text
            )

            from_carol = await net.portals["carol"].create_inlet(
                bind="inlet:6001", route=await net.secure_route("carol", "outlet")
            )
            await assert_refused(net, from_carol)
            assert f"subject {net.identifier('carol')}; policy `{policy}`" in caplog.text
            assert net.portals["carol"].inlet(from_carol.alias) is not None  # still listening

            from_alice = await net.portals["alice"].create_inlet(
                bind="inlet:6002", route=await net.secure_route("alice", "outlet")
            )
            await assert_served(net, from_alice)
            assert net.net.connected[-1] == "server:9000"
            nursery.cancel_scope.cancel()


async def test_an_inlet_policy_checks_the_outlets_side_of_its_channel(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ockam.policy")
    with trio.fail_after(60):
        async with open_net() as net, trio.open_nursery() as nursery:
            server, _ = await net.net.listen("server", 9000)
            nursery.start_soon(echo_server, server)
            await net.portals["bob"].create_outlet(target="server:9000")
            bob = f'(= subject.identifier "{net.identifier("bob")}")'
            carol = f'(= subject.identifier "{net.identifier("carol")}")'
            inlets = net.portals["alice"]

            plain = await inlets.create_inlet(
                bind="inlet:6000", route=Route((net.links["alice"], local("outlet"))), policy=bob
            )
            await assert_refused(net, plain)
            assert "refused a portal: tcp-inlet " in caplog.text

            through = await net.secure_route("alice", "outlet")
            wrong = await inlets.create_inlet(bind="inlet:6001", route=through, policy=carol)
            await assert_refused(net, wrong)
            assert f"subject {net.identifier('bob')}; policy `{carol}`" in caplog.text

            right = await inlets.create_inlet(bind="inlet:6002", route=through, policy=bob)
            await assert_served(net, right)
            nursery.cancel_scope.cancel()


async def test_a_resource_type_policy_guards_outlets_without_their_own(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(60):
        async with open_net() as net, trio.open_nursery() as nursery:
            server, _ = await net.net.listen("server", 9000)
            nursery.start_soon(echo_server, server)
            outlets = net.portals["bob"]
            await outlets.create_outlet(target="server:9000")
            route = await net.secure_route("alice", "outlet")
            inlet = await net.portals["alice"].create_inlet(bind="inlet:6000", route=route)
            await assert_served(net, inlet)  # no policy: served

            # The type's policy applies to the outlet created before it, from its next portal.
            outlets.policies.set_resource_type_policy(ResourceType.TCP_OUTLET, "component.db")
            await assert_refused(net, inlet)
            # Its own policy wins over its type's.
            alice = net.identifier("alice")
            outlets.policies.set_resource_policy("outlet", f'(= subject.identifier "{alice}")')
            await assert_served(net, inlet)
            nursery.cancel_scope.cancel()


async def test_a_policy_set_while_a_portal_is_open_closes_it_if_it_no_longer_allows(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(60):
        async with open_net() as net, trio.open_nursery() as nursery:
            server, _ = await net.net.listen("server", 9000)
            nursery.start_soon(echo_server, server)
            alice = f'(= subject.identifier "{net.identifier("alice")}")'
            outlets = net.portals["bob"]
            await outlets.create_outlet(target="server:9000", policy=alice)
            inlet = await net.portals["alice"].create_inlet(
                bind="inlet:6000", route=await net.secure_route("alice", "outlet")
            )
            client = await net.connect(inlet)
            await client.send_all(b"ping")
            assert await client.receive_some(10) == b"ping"
            outlets.policies.set_resource_policy("outlet", "component.db")
            assert await client.receive_some(10) == b""  # closed by the outlet
            while net.portal_workers():
                await trio.sleep(0.1)
            nursery.cancel_scope.cancel()


async def download(client: trio.abc.Stream) -> int:
    """Reads until the stream ends; the bytes read."""
    received = 0
    try:
        while data := await client.receive_some(64 * 1024):
            received += len(data)
    except trio.BrokenResourceError:
        pass
    return received


async def serve_slow_download(
    listener: trio.abc.Listener[trio.abc.Stream], size: int, closed: trio.Event
) -> None:
    """Sends `size` bytes to the first connection, 64 KiB every 50 ms (about 1.3 MB/s), and
    sets `closed` once that connection is closed."""
    stream = await listener.accept()
    chunk = b"d" * (64 * 1024)
    try:
        for _ in range(size // len(chunk)):
            await stream.send_all(chunk)
            await trio.sleep(0.05)
        while await stream.receive_some(1024):
            pass
    except (trio.BrokenResourceError, trio.ClosedResourceError):
        pass
    closed.set()


async def assert_download_cut_at(net: Net, inlet: InletInfo, expires: float) -> None:
    """A 10 MB download through `inlet`, at 1.3 MB/s, ends within 2 s of `expires` (before it
    is complete), and both its connections are closed."""
    server, _ = await net.net.listen("server", 9000)
    closed = trio.Event()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(serve_slow_download, server, 10 * MB, closed)
        client = await net.connect(inlet)
        received = await download(client)
        cut_at = net.clock()
        await closed.wait()  # the outlet closed its connection to the server
    assert 0 < received < 10 * MB
    assert expires <= cut_at < expires + 2
    while net.portal_workers():
        await trio.sleep(0.1)
    await server.aclose()


async def test_a_download_is_cut_when_the_inlet_sides_credential_expires(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ockam.policy")
    with trio.fail_after(120):
        async with open_net(authority=Identity.generate()) as net:
            policy = '(= subject.component "web")'
            await net.portals["bob"].create_outlet(target="server:9000", policy=policy)
            expires = await net.give_credential("alice", {"component": "web"}, ttl=5)
            route = await net.secure_route("alice", "outlet")
            inlet = await net.portals["alice"].create_inlet(bind="inlet:6000", route=route)

            await assert_download_cut_at(net, inlet, expires)
            assert "closing a portal: tcp-outlet outlet: subject " in caplog.text
            assert "unbound identifier: subject.component" in caplog.text
            await assert_refused(net, inlet)  # the same channel, its subject has lapsed

            await net.give_credential("alice", {"component": "web"}, ttl=60)
            async with trio.open_nursery() as nursery:
                server, _ = await net.net.listen("server", 9000)
                nursery.start_soon(echo_server, server)
                await assert_served(net, inlet)  # a fresh credential: served again
                nursery.cancel_scope.cancel()


async def test_a_download_is_cut_when_the_outlet_sides_credential_expires(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ockam.policy")
    with trio.fail_after(120):
        async with open_net(authority=Identity.generate()) as net:
            await net.portals["bob"].create_outlet(target="server:9000")
            expires = await net.give_credential("bob", {"component": "db"}, ttl=5)
            route = await net.secure_route("alice", "outlet")
            inlet = await net.portals["alice"].create_inlet(
                bind="inlet:6000", route=route, policy='(= subject.component "db")'
            )

            await assert_download_cut_at(net, inlet, expires)
            assert f"closing a portal: tcp-inlet {inlet.alias}: subject " in caplog.text
            await assert_refused(net, inlet)
