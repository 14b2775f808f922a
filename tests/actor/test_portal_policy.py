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
from secure import Identity, SecureChannels, SecureChannelWorker, TrustContext, issue_credential
from transports import NetworkNode, open_node

from ._portal_helpers import MemoryNet, echo, memory_link
from .test_secure_channel import channel_route

MB = 1024 * 1024


@pytest.fixture(autouse=True)
def policy_log(caplog: pytest.LogCaptureFixture) -> None:
    """The policy's log lines (refusals, closings) are in `caplog`."""
    caplog.set_level(logging.INFO, logger="ockam.policy")


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
        self.issued: list[str] = []  # every credential given, in hex (never to be logged)
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
        """A credential from the authority, issued now, becomes `name`'s own, presented on its
        open channels; returns when their other ends have it, with its expiry."""
        assert self.authority is not None
        credential = issue_credential(
            self.authority, self.identifier(name), attributes, ttl=ttl, now=self.clock()
        )
        self.issued.append(credential.hex())
        await self.channels[name].present_credential(credential)
        expires = float(credential.unverified_data().expires)
        for node in self.nodes.values():  # until the other ends of its channels have it
            for end in node.actors_of(SecureChannelWorker):
                theirs = end.info().remote_identifier == self.identifier(name)
                while theirs and end.subject_expires != expires and not end.stopped.is_set():
                    await end.subject_changed.wait()
        return expires

    async def secure_route(self, name: str, *onward: str) -> Route:
        """A new secure channel from `name` to bob's `api`; the route through it to `onward`."""
        info = await self.channels[name].create(
            Route((self.links[name], local("api"))), authorized=[self.identifier("bob")]
        )
        return channel_route(info, *onward)

    async def portal(
        self, *, outlet_policy: str | None = None, inlet_policy: str | None = None
    ) -> InletInfo:
        """bob's outlet to `server:9000`, and alice's inlet to it through a new channel."""
        await self.portals["bob"].create_outlet(target="server:9000", policy=outlet_policy)
        route = await self.secure_route("alice", "outlet")
        return await self.portals["alice"].create_inlet(
            bind="inlet:6000", route=route, policy=inlet_policy
        )

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


@asynccontextmanager
async def echoing(net: Net) -> AsyncIterator[None]:
    """An echo server at `server:9000`, the outlets' target, for the block."""
    server, _ = await net.net.listen("server", 9000)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(echo_server, server)
        yield
        nursery.cancel_scope.cancel()
    await server.aclose()


async def echo_server(listener: trio.abc.Listener[trio.abc.Stream]) -> None:
    async with trio.open_nursery() as nursery:
        while True:
            nursery.start_soon(echo, await listener.accept())


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
    with trio.fail_after(60):
        async with open_net() as net, echoing(net):
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


async def test_an_inlet_policy_checks_the_outlets_side_of_its_channel(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    with trio.fail_after(60):
        async with open_net() as net, echoing(net):
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


async def test_policies_set_at_run_time_apply_to_the_next_portals_and_the_open_ones(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(60):
        async with open_net() as net, echoing(net):
            inlet = await net.portal()
            await assert_served(net, inlet)  # no policy: served
            policies = net.portals["bob"].policies

            # The type's policy applies to the outlet created before it, from its next portal.
            policies.set_resource_type_policy(ResourceType.TCP_OUTLET, "component.db")
            await assert_refused(net, inlet)
            # Its own policy wins over its type's.
            alice = net.identifier("alice")
            policies.set_resource_policy("outlet", f'(= subject.identifier "{alice}")')
            client = await net.connect(inlet)
            await client.send_all(b"ping")
            assert await client.receive_some(10) == b"ping"

            # A policy that no longer allows closes the open portal.
            policies.set_resource_policy("outlet", "component.db")
            assert await client.receive_some(10) == b""
            while net.portal_workers():
                await trio.sleep(0.1)


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


@pytest.mark.parametrize(
    ("holder", "guarded"),
    [("alice", "tcp-outlet"), ("bob", "tcp-inlet")],
    ids=["the-inlet-sides-credential-at-the-outlet", "the-outlet-sides-credential-at-the-inlet"],
)
async def test_a_download_is_cut_when_the_credential_expires_then_refused_until_a_fresh_one(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture, holder: str, guarded: str
) -> None:
    """`holder` has a credential for 5 s; the portal's other side has a policy on it."""
    policy = '(= subject.component "db")'
    with trio.fail_after(120):
        async with open_net(authority=Identity.generate()) as net:
            expires = await net.give_credential(holder, {"component": "db"}, ttl=5)
            if guarded == "tcp-outlet":
                inlet = await net.portal(outlet_policy=policy)
            else:
                inlet = await net.portal(inlet_policy=policy)
            resource = "outlet" if guarded == "tcp-outlet" else inlet.alias

            await assert_download_cut_at(net, inlet, expires)
            assert (
                f"closing a portal: {guarded} {resource}: subject {net.identifier(holder)}; "
                f"policy `{policy}`: policy evaluation failed: unbound identifier: "
                "subject.component"
            ) in caplog.text
            await assert_refused(net, inlet)  # the same channel, its subject has lapsed

            await net.give_credential(holder, {"component": "db"}, ttl=60)
            async with echoing(net):
                await assert_served(net, inlet)  # a fresh credential: served again
    assert len(net.issued) == 2
    assert all(credential not in caplog.text for credential in net.issued)  # never logged
