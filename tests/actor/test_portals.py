"""TCP portals end to end inside one process: nodes in one nursery, real loopback sockets."""

from __future__ import annotations

import hashlib
import random
import re
import socket
import subprocess
import sys
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from functools import partial
from pathlib import Path

import pytest
import trio

import actors
from actors import TCP, Address, AddressInUse, Node, Route, TransportError, local
from portals import (
    Credit,
    Disconnect,
    InletInfo,
    OutletInfo,
    Ping,
    Pong,
    Portals,
    PortalWorker,
    decode,
    encode,
)

Handler = Callable[[trio.SocketStream], Awaitable[None]]


class Setup:
    """Nodes with their portal managers; `n1` holds the inlets, the last node the outlets."""

    def __init__(self, nodes: list[Node], route_to_outlet_node: Route, target: str) -> None:
        self.nodes = nodes
        self.inlet_node = nodes[0]
        self.outlet_node = nodes[-1]
        self.inlets = Portals(self.inlet_node)
        self.outlets = self.inlets if len(nodes) == 1 else Portals(self.outlet_node)
        self.route_to_outlet_node = route_to_outlet_node
        self.target = target

    def route(self, outlet: str = "outlet") -> Route:
        return self.route_to_outlet_node + Route((local(outlet),))

    async def portal(
        self, *, ping_timeout: float = 10.0, outlet: bool = True
    ) -> tuple[OutletInfo | None, InletInfo]:
        created = await self.outlets.create_outlet(target=self.target) if outlet else None
        inlet = await self.inlets.create_inlet(
            bind="127.0.0.1:0", route=self.route(), ping_timeout=ping_timeout
        )
        return created, inlet


async def connect(inlet: InletInfo) -> trio.SocketStream:
    host, port = inlet.bind_addr.rsplit(":", 1)
    return await trio.open_tcp_stream(host, int(port))


async def serve(nursery: trio.Nursery, handler: Handler) -> str:
    """Serve `handler` on a loopback port in `nursery`; its `host:port`."""
    listeners = await nursery.start(partial(trio.serve_tcp, handler, 0, host="127.0.0.1"))
    host, port = listeners[0].socket.getsockname()[:2]
    return f"{host}:{port}"


@asynccontextmanager
async def open_setup(handler: Handler, *, topology: str = "direct") -> AsyncIterator[Setup]:
    """A TCP server running `handler`, and nodes linked over loopback TCP.

    `local`: inlet and outlet both on n1. `direct`: n1 -> n2 (outlet on n2). `hop`: n1 -> n2
    -> n3 through n2's connection to n3. `relay`: n3 registers relay `portal` at n2; n1 reaches
    n3's outlet through it.
    """
    async with trio.open_nursery() as nursery:
        target = await serve(nursery, handler)
        async with (
            actors.open_node("n1") as n1,
            actors.open_node("n2") as n2,
            actors.open_node("n3") as n3,
        ):
            assert n1.tcp is not None
            assert n2.tcp is not None
            assert n3.tcp is not None
            to_n2 = Address(TCP, (await n2.tcp.listen()).address)
            if topology == "local":
                setup = Setup([n1], Route(), target)
            elif topology == "direct":
                setup = Setup([n1, n2], Route((to_n2,)), target)
            elif topology == "hop":
                n3_listener = await n3.tcp.listen()
                n2_to_n3 = await n2.tcp.connect(n3_listener.address)
                setup = Setup([n1, n2, n3], Route((to_n2, local(n2_to_n3.worker))), target)
            else:
                await actors.start_relay(n3, at=Route((to_n2,)), name="portal")
                setup = Setup([n1, n2, n3], Route((to_n2, local("forward_to_portal"))), target)
            yield setup
        nursery.cancel_scope.cancel()


def portal_workers(node: Node) -> list[str]:
    return [w.address for w in node.workers() if isinstance(node.actor_at(w.address), PortalWorker)]


async def wait_until(condition: Callable[[], bool]) -> None:
    while not condition():
        await trio.sleep(0.01)


async def read_all(stream: trio.abc.ReceiveStream) -> bytes:
    chunks = []
    while chunk := await stream.receive_some(65536):
        chunks.append(chunk)
    return b"".join(chunks)


async def echo(stream: trio.SocketStream) -> None:
    try:
        while data := await stream.receive_some(65536):
            await stream.send_all(data)
        await stream.send_eof()
    except trio.BrokenResourceError:
        pass


# --- data -----------------------------------------------------------------------------------


@pytest.mark.parametrize("topology", ["local", "direct", "hop", "relay"])
async def test_bytes_arrive_intact_both_ways(topology: str) -> None:
    """The client sends 4 MB while the server sends 3 MB of other bytes; both digests match."""
    upload = random.Random(1).randbytes(4_000_000)
    download = random.Random(2).randbytes(3_000_000)
    received_by_server: list[str] = []

    async def source_and_sink(stream: trio.SocketStream) -> None:
        digest = hashlib.sha256()

        async def push() -> None:
            view = memoryview(download)
            for start in range(0, len(download), 100_000):
                await stream.send_all(view[start : start + 100_000])
            await stream.send_eof()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(push)
            while data := await stream.receive_some(65536):
                digest.update(data)
        received_by_server.append(digest.hexdigest())

    with trio.fail_after(30):
        async with open_setup(source_and_sink, topology=topology) as setup:
            _, inlet = await setup.portal()
            client = await connect(inlet)
            digest = hashlib.sha256()

            async def upload_all() -> None:
                for start in range(0, len(upload), 250_000):
                    await client.send_all(upload[start : start + 250_000])
                await client.send_eof()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(upload_all)
                size = 0
                while data := await client.receive_some(65536):
                    digest.update(data)
                    size += len(data)
            await client.aclose()
            assert size == len(download)
            assert digest.hexdigest() == hashlib.sha256(download).hexdigest()
            await wait_until(lambda: bool(received_by_server))
            assert received_by_server == [hashlib.sha256(upload).hexdigest()]
            # Both ends ended: every portal worker is gone, on every node.
            await wait_until(lambda: not any(portal_workers(n) for n in setup.nodes))


async def test_half_close_client_still_receives_the_reply() -> None:
    async def count_then_reply(stream: trio.SocketStream) -> None:
        request = await read_all(stream)
        await stream.send_all(b"got %d bytes" % len(request))
        await stream.aclose()

    with trio.fail_after(10):
        async with open_setup(count_then_reply) as setup:
            _, inlet = await setup.portal()
            client = await connect(inlet)
            await client.send_all(b"x" * 300_000)
            await client.send_eof()
            assert await read_all(client) == b"got 300000 bytes"
            await client.aclose()


@pytest.mark.parametrize("topology", ["local", "direct"])
async def test_slow_reader_gets_everything_after_the_server_closed(topology: str) -> None:
    """The outlet finishes (and disconnects) while the inlet still has payloads to write to a
    client that reads slowly: they are all written before the inlet closes."""
    response = random.Random(5).randbytes(8_000_000)

    async def respond_then_close(stream: trio.SocketStream) -> None:
        await read_all(stream)
        await stream.send_all(response)
        await stream.aclose()

    with trio.fail_after(20):
        async with open_setup(respond_then_close, topology=topology) as setup:
            _, inlet = await setup.portal()
            client = await connect(inlet)
            await client.send_eof()
            received = bytearray()
            while chunk := await client.receive_some(16384):
                received += chunk
                await trio.sleep(0.0005)
            await client.aclose()
            assert received == response


async def test_fifty_concurrent_connections() -> None:
    with trio.fail_after(30):
        async with open_setup(echo) as setup:
            _, inlet = await setup.portal()
            results: dict[int, bool] = {}

            async def one(i: int) -> None:
                data = random.Random(i).randbytes(20_000 + 5_000 * i)
                client = await connect(inlet)
                async with client, trio.open_nursery() as nursery:

                    async def send() -> None:
                        await client.send_all(data)
                        await client.send_eof()

                    nursery.start_soon(send)
                    results[i] = await read_all(client) == data

            async with trio.open_nursery() as nursery:
                for i in range(50):
                    nursery.start_soon(one, i)
            assert results == dict.fromkeys(range(50), True)
            # They all shared one connection between the nodes.
            assert setup.inlet_node.tcp is not None
            assert len(setup.inlet_node.tcp.connections()) == 1


async def test_a_client_that_does_not_read_does_not_stall_the_others() -> None:
    """Credit flow control: one portal's backlog stays in its own window and sockets."""
    flooded = [0]

    async def flood_or_echo(stream: trio.SocketStream) -> None:
        command = b""
        while len(command) < 5 and (chunk := await stream.receive_some(5 - len(command))):
            command += chunk
        if command == b"flood":
            block = bytes(65536)
            try:
                while True:
                    await stream.send_all(block)
                    flooded[0] += len(block)
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                return
        await stream.send_all(b"hello")
        await echo(stream)

    with trio.fail_after(20):
        async with open_setup(flood_or_echo) as setup:
            _, inlet = await setup.portal()
            slow = await connect(inlet)
            await slow.send_all(b"flood")
            # Wait until the flood has stalled: every buffer on its way is full.
            previous = -1
            while flooded[0] != previous:
                previous = flooded[0]
                await trio.sleep(0.3)
            assert flooded[0] < 64 * 1024 * 1024
            data = random.Random(3).randbytes(2_000_000)
            client = await connect(inlet)
            async with client, trio.open_nursery() as nursery:

                async def send() -> None:
                    await client.send_all(b"echo!" + data)
                    await client.send_eof()

                nursery.start_soon(send)
                assert await read_all(client) == b"hello" + data
            await slow.aclose()


# --- failures ---------------------------------------------------------------------------------


async def test_inlet_before_outlet_then_outlet_created() -> None:
    with trio.fail_after(15):
        async with open_setup(echo) as setup:
            _, inlet = await setup.portal(outlet=False, ping_timeout=0.5)
            assert inlet.status == "up"
            client = await connect(inlet)
            with trio.fail_after(5):
                with suppress(trio.BrokenResourceError):
                    assert await client.receive_some(10) == b""
            await client.aclose()
            assert setup.inlets.inlet(inlet.alias) == InletInfo(
                alias=inlet.alias, bind_addr=inlet.bind_addr, to=inlet.to, status="down"
            )
            await setup.outlets.create_outlet(target=setup.target)
            client = await connect(inlet)
            async with client:
                await client.send_all(b"now it works")
                assert await client.receive_some(100) == b"now it works"
            info = setup.inlets.inlet(inlet.alias)
            assert info is not None
            assert info.status == "up"


async def test_dead_first_hop_closes_the_client_at_once() -> None:
    with trio.fail_after(5):
        async with actors.open_node("n1") as n1:
            with socket.socket() as unused:
                unused.bind(("127.0.0.1", 0))
                port = unused.getsockname()[1]
            route = Route((Address(TCP, f"127.0.0.1:{port}"), local("outlet")))
            inlet = await Portals(n1).create_inlet(bind="127.0.0.1:0", route=route)
            client = await connect(inlet)
            async with client:
                assert await client.receive_some(10) == b""


async def test_outlet_target_down_closes_the_client_at_once() -> None:
    with trio.fail_after(5):
        async with open_setup(echo) as setup:
            with socket.socket() as unused:
                unused.bind(("127.0.0.1", 0))
                port = unused.getsockname()[1]
            await setup.outlets.create_outlet(target=f"127.0.0.1:{port}")
            inlet = await setup.inlets.create_inlet(bind="127.0.0.1:0", route=setup.route())
            client = await connect(inlet)
            async with client:
                assert await client.receive_some(10) == b""
            await wait_until(lambda: not any(portal_workers(n) for n in setup.nodes))


async def test_connection_between_nodes_closed_mid_transfer() -> None:
    server_closed = trio.Event()

    async def endless(stream: trio.SocketStream) -> None:
        try:
            await echo(stream)
        finally:
            server_closed.set()

    with trio.fail_after(10):
        async with open_setup(endless) as setup:
            _, inlet = await setup.portal()
            client = await connect(inlet)
            sent = [0]

            async def pump() -> None:
                block = bytes(65536)
                try:
                    while True:
                        await client.send_all(block)
                        sent[0] += len(block)
                except (trio.BrokenResourceError, trio.ClosedResourceError):
                    pass

            received = 0
            async with trio.open_nursery() as nursery:
                nursery.start_soon(pump)
                try:
                    while data := await client.receive_some(65536):
                        received += len(data)
                        if received >= 1_000_000 and setup.inlet_node.tcp is not None:
                            (connection,) = setup.inlet_node.tcp.connections()
                            assert setup.inlet_node.tcp.disconnect(connection.worker)
                except trio.BrokenResourceError:
                    pass
                nursery.cancel_scope.cancel()
            await client.aclose()
            assert received >= 1_000_000
            # The outlet side closed its socket to the server too.
            await server_closed.wait()
            await wait_until(lambda: not any(portal_workers(n) for n in setup.nodes))
            # The inlet still listens; a new client gets a new connection between the nodes.
            client = await connect(inlet)
            async with client:
                await client.send_all(b"again")
                assert await client.receive_some(10) == b"again"


async def test_outlet_worker_closes_when_the_client_resets() -> None:
    server_saw_eof = trio.Event()

    async def wait_for_eof(stream: trio.SocketStream) -> None:
        with suppress(trio.BrokenResourceError):
            await read_all(stream)
        server_saw_eof.set()

    with trio.fail_after(10):
        async with open_setup(wait_for_eof) as setup:
            _, inlet = await setup.portal()
            client = await connect(inlet)
            await client.send_all(b"hello")
            await wait_until(lambda: bool(portal_workers(setup.outlet_node)))
            client.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
            await client.aclose()  # SO_LINGER 0: a reset, not a FIN
            await server_saw_eof.wait()
            await wait_until(lambda: not any(portal_workers(n) for n in setup.nodes))


async def test_stopping_a_portal_worker_closes_both_ends() -> None:
    server_saw_eof = trio.Event()

    async def echo_then_flag(stream: trio.SocketStream) -> None:
        await echo(stream)
        server_saw_eof.set()

    with trio.fail_after(10):
        async with open_setup(echo_then_flag) as setup:
            _, inlet = await setup.portal()
            client = await connect(inlet)
            async with client:
                await client.send_all(b"hi")
                assert await client.receive_some(10) == b"hi"
                (worker,) = portal_workers(setup.inlet_node)
                assert setup.inlet_node.stop_actor(worker)
                assert await client.receive_some(10) == b""
                # The inlet worker told the outlet worker, which closed the server's socket.
                await server_saw_eof.wait()
                await wait_until(lambda: not any(portal_workers(n) for n in setup.nodes))


async def test_protocol_error_from_the_inlet_closes_the_outlet_side() -> None:
    server_saw_eof = trio.Event()

    async def wait_for_eof(stream: trio.SocketStream) -> None:
        with suppress(trio.BrokenResourceError):
            await read_all(stream)
        server_saw_eof.set()

    with trio.fail_after(10):
        async with open_setup(wait_for_eof) as setup:
            await setup.outlets.create_outlet(target=setup.target)
            # A hand-made inlet: a mailbox on n1 that pings, then credits what was never sent.
            me = actors.random_address()
            mailbox = actors.Mailbox(8)
            setup.inlet_node.router.register([me], mailbox)
            await setup.inlet_node.send(setup.route(), encode(Ping()), return_route=Route((me,)))
            pong = await mailbox.get()
            assert decode(pong.payload) == Pong()
            await setup.inlet_node.send(
                pong.return_route, encode(Credit(5)), return_route=Route((me,))
            )
            answer = decode((await mailbox.get()).payload)
            assert isinstance(answer, Disconnect)
            assert "protocol error" in answer.reason
            await server_saw_eof.wait()
            await wait_until(lambda: not portal_workers(setup.outlet_node))


async def test_a_pong_after_the_inlet_gave_up_is_answered_with_disconnect() -> None:
    server_saw_eof = trio.Event()

    async def wait_for_eof(stream: trio.SocketStream) -> None:
        with suppress(trio.BrokenResourceError):
            await read_all(stream)
        server_saw_eof.set()

    with trio.fail_after(10):
        async with open_setup(wait_for_eof) as setup:
            # The inlet gives up before any Pong can come back.
            _, inlet = await setup.portal(ping_timeout=1e-6)
            client = await connect(inlet)
            async with client:
                assert await client.receive_some(10) == b""
            # The outlet worker connected to the server, then learned the inlet is gone.
            await server_saw_eof.wait()
            await wait_until(lambda: not any(portal_workers(n) for n in setup.nodes))


# --- the manager ------------------------------------------------------------------------------


async def test_outlet_names() -> None:
    with trio.fail_after(5):
        async with actors.open_node("n1") as node:
            portals = Portals(node)
            first = await portals.create_outlet(target="127.0.0.1:9000")
            assert first == OutletInfo(
                worker_address="/service/outlet", to="127.0.0.1:9000", alias="outlet"
            )
            second = await portals.create_outlet(target="localhost:9001")
            assert re.fullmatch(r"/service/[0-9a-f]{32}", second.worker_address)
            named = await portals.create_outlet(target="127.0.0.1:9002", address="/service/db")
            assert named.alias == "db"
            with pytest.raises(AddressInUse, match="/service/db"):
                await portals.create_outlet(target="127.0.0.1:9003", address="db")
            with pytest.raises(AddressInUse, match="/service/echo"):
                await portals.create_outlet(target="127.0.0.1:9003", address="echo")
            with pytest.raises(TransportError, match="HOST:PORT"):
                await portals.create_outlet(target="nowhere")
            assert portals.outlets() == sorted(
                [first, second, named], key=lambda o: o.worker_address
            )
            assert portals.outlet("/service/outlet") == first
            assert portals.outlet("db") == named
            assert portals.delete_outlet("outlet")
            assert not portals.delete_outlet("outlet")
            assert portals.outlet("outlet") is None
            # The default name is free again.
            again = await portals.create_outlet(target="127.0.0.1:9004")
            assert again.worker_address == "/service/outlet"


async def test_inlet_names_and_bind_errors() -> None:
    with trio.fail_after(5):
        async with actors.open_node("n1") as node:
            portals = Portals(node)
            route = Route.parse("/ip4/127.0.0.1/tcp/4000/service/outlet")
            inlet = await portals.create_inlet(bind="127.0.0.1:0", route=route, alias="web")
            assert inlet.alias == "web"
            assert inlet.to == "/ip4/127.0.0.1/tcp/4000/service/outlet"
            assert inlet.status == "up"
            assert not inlet.bind_addr.endswith(":0")
            with pytest.raises(AddressInUse, match="'web'"):
                await portals.create_inlet(bind="127.0.0.1:0", route=route, alias="web")
            with pytest.raises(
                TransportError, match=f"cannot listen on {inlet.bind_addr}: Address already in use"
            ):
                await portals.create_inlet(bind=inlet.bind_addr, route=route)
            unnamed = await portals.create_inlet(
                bind="127.0.0.1:0", route="/ip4/127.0.0.1/tcp/4000/service/outlet"
            )
            assert re.fullmatch(r"[0-9a-f]{16}", unnamed.alias)
            assert [i.alias for i in portals.inlets()] == sorted([unnamed.alias, "web"])
            assert portals.inlet("nope") is None
            assert not portals.delete_inlet("nope")


async def test_deleting_the_inlet_frees_the_port() -> None:
    with trio.fail_after(10):
        async with open_setup(echo) as setup:
            _, inlet = await setup.portal()
            client = await connect(inlet)
            async with client:
                await client.send_all(b"ping")
                assert await client.receive_some(10) == b"ping"
            assert setup.inlets.delete_inlet(inlet.alias)
            assert setup.inlets.inlets() == []
            host, port = inlet.bind_addr.rsplit(":", 1)
            with pytest.raises(OSError, match="all attempts to connect"):
                await trio.open_tcp_stream(host, int(port))
            with socket.socket() as again:
                again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                again.bind((host, int(port)))
                again.listen()


# --- a real HTTP server and client ------------------------------------------------------------


@asynccontextmanager
async def http_server(directory: Path) -> AsyncIterator[str]:
    """`python -m http.server` on a free loopback port; its `host:port`."""
    process = await trio.lowlevel.open_process(
        [sys.executable, "-u", "-m", "http.server", "--bind", "127.0.0.1", "0"],
        cwd=directory,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert process.stdout is not None
        output = b""
        while (found := re.search(rb"Serving HTTP on \S+ port (\d+)", output)) is None:
            chunk = await process.stdout.receive_some(1024)
            assert chunk, f"http.server exited: {output!r}"
            output += chunk
        yield f"127.0.0.1:{int(found.group(1))}"
    finally:
        with trio.CancelScope(shield=True):
            process.terminate()
            with trio.move_on_after(5):
                await process.wait()
            if process.returncode is None:
                process.kill()
                await process.wait()
            if process.stdout is not None:
                await process.stdout.aclose()


async def test_http_server_through_a_portal(tmp_path: Path) -> None:
    body = random.Random(4).randbytes(1_500_000)
    (tmp_path / "blob.bin").write_bytes(body)
    with trio.fail_after(20):
        async with http_server(tmp_path) as target, open_setup(echo) as setup:
            await setup.outlets.create_outlet(target=target, address="http")
            inlet = await setup.inlets.create_inlet(bind="127.0.0.1:0", route=setup.route("http"))

            def fetch() -> tuple[int, bytes]:
                url = f"http://{inlet.bind_addr}/blob.bin"
                with urllib.request.urlopen(url, timeout=10) as response:
                    return response.status, response.read()

            for _ in range(3):
                status, fetched = await trio.to_thread.run_sync(fetch)
                assert status == 200
                assert fetched == body
            await wait_until(lambda: not any(portal_workers(n) for n in setup.nodes))
