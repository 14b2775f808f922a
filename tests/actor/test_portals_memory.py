"""A whole portal over memory streams: inlet → relay → outlet, no socket, a virtual clock.

The nodes are linked by `trio.testing.memory_stream_pair()`s attached to their transports; the
inlet listens and the outlet connects through `MemoryNet`'s openers. Opening a real socket
fails the test (`no_sockets`), and `autojump_clock` runs every timeout at once.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio
import trio.testing

import actors
from actors import Route, local
from portals import (
    LINGER,
    PING_TIMEOUT,
    InletInfo,
    InletWorker,
    OutletWorker,
    Ping,
    Portals,
    decode,
)
from transports import NetworkNode, open_node

from ._portal_helpers import MemoryNet, memory_link
from .test_secure_channel import spy_on

MB = 1024 * 1024


@pytest.fixture(autouse=True)
def no_sockets(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a socket in these tests is a failure."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("a real socket was opened")

    monkeypatch.setattr(trio.socket, "socket", refuse)
    monkeypatch.setattr(trio, "open_tcp_stream", refuse)
    monkeypatch.setattr(trio, "open_tcp_listeners", refuse)


class Relayed:
    """n1 (inlets) → n2 (relay `forward_to_portal`) ← n3 (outlets), over memory streams."""

    def __init__(self, nodes: list[NetworkNode], net: MemoryNet, to_relay: Route) -> None:
        self.nodes = nodes
        self.net = net
        self.inlets = Portals(nodes[0], connect=net.connect, listen=net.listen)
        self.outlets = Portals(nodes[2], connect=net.connect, listen=net.listen)
        self.to_relay = to_relay

    def route(self, outlet: str = "outlet") -> Route:
        return self.to_relay + Route((local("forward_to_portal"), local(outlet)))

    async def connect(self, inlet: InletInfo, *, lockstep: bool = False) -> trio.abc.Stream:
        host, port = inlet.bind_addr.rsplit(":", 1)
        return await self.net.connect(host, int(port), lockstep=lockstep)

    def portal_workers(self) -> int:
        return sum(
            len(node.actors_of(InletWorker)) + len(node.actors_of(OutletWorker))
            for node in self.nodes
        )


@asynccontextmanager
async def open_relayed() -> AsyncIterator[Relayed]:
    async with (
        open_node("n1") as n1,
        open_node("n2") as n2,
        open_node("n3") as n3,
    ):
        n1_to_n2 = await memory_link(n1, n2)
        n3_to_n2 = await memory_link(n3, n2)
        # The outlet's node registers its relay through n2's relay service.
        await actors.start_relay(n3, at=Route((n3_to_n2,)), name="portal")
        yield Relayed([n1, n2, n3], MemoryNet(), Route((n1_to_n2,)))


async def _server_checks_then_closes(
    listener: trio.abc.Listener[trio.abc.Stream], expected: bytes, size: int
) -> None:
    """Reads `size` bytes, checks their digest against `expected`, sends the digest back,
    reads a little more of what keeps coming, then closes its side mid-stream."""
    stream = await listener.accept()
    digest = hashlib.sha256()
    received = 0
    while received < size:
        data = await stream.receive_some(min(64 * 1024, size - received))
        assert data, "the upload ended early"
        digest.update(data)
        received += len(data)
    assert digest.digest() == expected
    await stream.send_all(digest.digest())
    more = 0
    while more < MB:
        more += len(await stream.receive_some(64 * 1024))
    await stream.aclose()


async def test_ten_megabytes_through_a_relay_then_the_outlets_side_closes(
    autojump_clock: trio.abc.Clock,
) -> None:
    data = os.urandom(10 * MB)
    expected = hashlib.sha256(data).digest()
    with trio.fail_after(60):
        async with open_relayed() as setup, trio.open_nursery() as nursery:
            server, _ = await setup.net.listen("server", 9000)
            nursery.start_soon(_server_checks_then_closes, server, expected, len(data))
            await setup.outlets.create_outlet(target="server:9000")
            inlet = await setup.inlets.create_inlet(bind="inlet:6000", route=setup.route())
            client = await setup.connect(inlet)
            sending_failed = trio.Event()

            async def upload_then_keep_sending() -> None:
                try:
                    await client.send_all(data)
                    while True:  # the server closes while this is going on
                        await client.send_all(b"x" * 60_000)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    sending_failed.set()

            nursery.start_soon(upload_then_keep_sending)
            answer = b""
            while len(answer) < len(expected):
                chunk = await client.receive_some(64)
                assert chunk, "closed before the server's answer"
                answer += chunk
            assert answer == expected  # the far end saw every byte, in order
            assert await client.receive_some(64) == b""  # the client sees the close
            await sending_failed.wait()
            while setup.portal_workers():
                await trio.sleep(0.1)
            assert setup.net.listened == ["server:9000", "inlet:6000"]
            assert setup.net.connected == ["inlet:6000", "server:9000"]


async def test_a_client_that_speaks_first_sends_its_request_in_the_ping(
    autojump_clock: trio.abc.Clock,
) -> None:
    request, answer = b"GET / HTTP/1.0\r\n\r\n", b"HTTP/1.0 200 OK\r\n\r\nhello"
    with trio.fail_after(60):
        async with open_relayed() as setup, trio.open_nursery() as nursery:
            crossing = spy_on(setup.nodes[1])
            server, _ = await setup.net.listen("server", 9000)

            async def answer_once() -> None:
                stream = await server.accept()
                assert await stream.receive_some(1024) == request
                await stream.send_all(answer)
                await stream.aclose()

            nursery.start_soon(answer_once)
            await setup.outlets.create_outlet(target="server:9000")
            inlet = await setup.inlets.create_inlet(bind="inlet:6000", route=setup.route())
            client = await setup.connect(inlet)
            await client.send_all(request)
            received = b""
            while chunk := await client.receive_some(1024):
                received += chunk
            assert received == answer
            pings = [m for m in crossing if str(m.onward_route).endswith("/service/outlet")]
            assert [decode(m.payload) for m in pings] == [Ping(request)]  # the request rode in it


async def test_an_unanswered_ping_closes_the_client_when_the_clock_says_so(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(60):
        async with open_relayed() as setup:
            # No outlet at the end of the route: n3 drops the Ping.
            inlet = await setup.inlets.create_inlet(bind="inlet:6000", route=setup.route("missing"))
            client = await setup.connect(inlet)
            start = trio.current_time()
            assert await client.receive_some(10) == b""
            assert trio.current_time() - start >= PING_TIMEOUT
            assert setup.inlets.inlet(inlet.alias) is not None  # the inlet keeps listening
            assert setup.net.connected == ["inlet:6000"]


async def test_a_client_that_does_not_read_gets_linger_seconds_after_the_peer_went(
    autojump_clock: trio.abc.Clock,
) -> None:
    """The outlet's side fails while the inlet still has bytes for a client that does not
    read: the inlet keeps trying for LINGER seconds after the outlet's Disconnect, then closes
    the client's connection."""
    with trio.fail_after(60):
        async with open_relayed() as setup, trio.open_nursery() as nursery:
            server, _ = await setup.net.listen("server", 9000)

            async def send_then_close() -> None:
                stream = await server.accept()
                assert await stream.receive_some(64) == b"hello"
                await stream.send_all(b"s" * MB)
                await stream.aclose()

            nursery.start_soon(send_then_close)
            await setup.outlets.create_outlet(target="server:9000")
            inlet = await setup.inlets.create_inlet(bind="inlet:6000", route=setup.route())
            client = await setup.connect(inlet, lockstep=True)
            await client.send_all(b"hello")
            await trio.sleep(1)
            # The server is gone: writing this fails on the outlet's side, which disconnects.
            await client.send_all(b"again")
            await trio.sleep(1)
            assert setup.portal_workers() == 1  # the inlet's, lingering over its unsent bytes
            assert setup.nodes[0].actors_of(InletWorker)[0].state.peer_gone
            await trio.sleep(LINGER)
            assert setup.portal_workers() == 0
            received = b""
            while chunk := await client.receive_some(MB):
                received += chunk
            assert len(received) < MB  # closed before it was all delivered
