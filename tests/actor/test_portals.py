"""TCP portals end to end inside one process: nodes in one nursery, real loopback sockets."""

from __future__ import annotations

import hashlib
import random
import re
import socket
import urllib.request
from contextlib import suppress
from functools import partial
from pathlib import Path

import pytest
import trio

import actors
from actors import TCP, Address, AddressInUse, Route, TransportError, local
from portals import (
    CarrierPoller,
    Credit,
    Disconnect,
    InletInfo,
    OutletInfo,
    Ping,
    Pong,
    Portals,
    decode,
    encode,
)
from transports import open_node

from ._portal_helpers import (
    assert_closed_at_once,
    assert_echoes,
    assert_stream_echoes,
    connect,
    echo,
    echo_then_set,
    exchange,
    http_server,
    open_setup,
    portal_workers,
    read_all,
    read_to_eof_then_set,
    send_then_eof,
    unused_port,
    wait_until,
)

# --- data -----------------------------------------------------------------------------------


@pytest.mark.parametrize("topology", ["local", "direct", "hop", "relay"])
async def test_bytes_arrive_intact_both_ways(topology: str) -> None:
    """The client sends 4 MB while the server sends 3 MB of other bytes; both digests match."""
    upload = random.Random(1).randbytes(4_000_000)
    download = random.Random(2).randbytes(3_000_000)
    received_by_server: list[str] = []

    async def source_and_sink(stream: trio.SocketStream) -> None:
        digest = hashlib.sha256()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(partial(send_then_eof, stream, download, chunk=100_000))
            while data := await stream.receive_some(65536):
                digest.update(data)
        received_by_server.append(digest.hexdigest())

    with trio.fail_after(30):
        async with open_setup(source_and_sink, topology=topology) as setup:
            _, client = await setup.portal_and_client()
            digest = hashlib.sha256()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(partial(send_then_eof, client, upload, chunk=250_000))
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
            await setup.wait_until_no_portal_workers()


async def test_half_close_client_still_receives_the_reply() -> None:
    async def count_then_reply(stream: trio.SocketStream) -> None:
        request = await read_all(stream)
        await stream.send_all(b"got %d bytes" % len(request))
        await stream.aclose()

    with trio.fail_after(10):
        async with open_setup(count_then_reply) as setup:
            _, client = await setup.portal_and_client()
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
            _, client = await setup.portal_and_client()
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
                results[i] = await exchange(inlet, data) == data

            async with trio.open_nursery() as nursery:
                for i in range(50):
                    nursery.start_soon(one, i)
            assert results == dict.fromkeys(range(50), True)
            # They all shared one connection between the nodes.
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
            inlet, slow = await setup.portal_and_client()
            await slow.send_all(b"flood")
            # Wait until the flood has stalled: every buffer on its way is full.
            previous = -1
            while flooded[0] != previous:
                previous = flooded[0]
                await trio.sleep(0.3)
            assert flooded[0] < 64 * 1024 * 1024
            data = random.Random(3).randbytes(2_000_000)
            assert await exchange(inlet, b"echo!" + data) == b"hello" + data
            await slow.aclose()


# --- failures ---------------------------------------------------------------------------------


async def test_inlet_before_outlet_then_outlet_created() -> None:
    with trio.fail_after(15):
        async with open_setup(echo) as setup:
            inlet, client = await setup.portal_and_client(outlet=False, ping_timeout=0.5)
            assert inlet.status == "up"
            with trio.fail_after(5):
                with suppress(trio.BrokenResourceError):
                    assert await client.receive_some(10) == b""
            await client.aclose()
            assert setup.inlets.inlet(inlet.alias) == InletInfo(
                alias=inlet.alias, bind_addr=inlet.bind_addr, to=inlet.to, status="down"
            )
            await setup.outlets.create_outlet(target=setup.target)
            await assert_echoes(inlet, b"now it works")
            info = setup.inlets.inlet(inlet.alias)
            assert info is not None
            assert info.status == "up"


async def test_dead_first_hop_closes_the_client_at_once() -> None:
    with trio.fail_after(5):
        async with open_node("n1") as n1:
            route = Route((Address(TCP, f"127.0.0.1:{unused_port()}"), local("outlet")))
            inlet = await Portals(n1).create_inlet(bind="127.0.0.1:0", route=route)
            await assert_closed_at_once(inlet)


async def test_outlet_target_down_closes_the_client_at_once() -> None:
    with trio.fail_after(5):
        async with open_setup(echo) as setup:
            await setup.outlets.create_outlet(target=f"127.0.0.1:{unused_port()}")
            inlet = await setup.inlets.create_inlet(bind="127.0.0.1:0", route=setup.route())
            await assert_closed_at_once(inlet)
            await setup.wait_until_no_portal_workers()


async def test_connection_between_nodes_closed_mid_transfer() -> None:
    server_closed = trio.Event()
    with trio.fail_after(10):
        async with open_setup(echo_then_set(server_closed)) as setup:
            inlet, client = await setup.portal_and_client()
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
                        if received >= 1_000_000:
                            (connection,) = setup.inlet_node.tcp.connections()
                            assert setup.inlet_node.tcp.disconnect(connection.worker)
                except trio.BrokenResourceError:
                    pass
                nursery.cancel_scope.cancel()
            await client.aclose()
            assert received >= 1_000_000
            # The outlet side closed its socket to the server too.
            await server_closed.wait()
            await setup.wait_until_no_portal_workers()
            # The inlet still listens; a new client gets a new connection between the nodes.
            await assert_echoes(inlet, b"again")


async def test_portals_share_their_carriers_poller_and_it_stops_with_the_carrier() -> None:
    """Portal sockets carried by one connection are read by one poller task per node, which
    ends when that connection does (no poller outlives its carrier)."""
    with trio.fail_after(10):
        async with open_setup(echo) as setup:
            inlet, first = await setup.portal_and_client()
            second = await connect(inlet)
            for client in (first, second):
                await assert_stream_echoes(client, b"through the poller")
            (connection,) = setup.inlet_node.tcp.connections()
            (poller,) = setup.inlet_node.actors_of(CarrierPoller)
            assert poller.carrier == local(connection.worker)
            assert len(poller.poller) == 2
            assert len(setup.outlet_node.actors_of(CarrierPoller)) == 1
            setup.inlet_node.tcp.disconnect(connection.worker)
            for client in (first, second):
                assert await client.receive_some(100) == b""  # closed at once
                await client.aclose()
            await wait_until(lambda: not setup.inlet_node.actors_of(CarrierPoller))
            await wait_until(lambda: not setup.outlet_node.actors_of(CarrierPoller))
            await assert_echoes(inlet, b"a new carrier, a new poller")
            assert len(setup.inlet_node.actors_of(CarrierPoller)) == 1


async def test_outlet_worker_closes_when_the_client_resets() -> None:
    server_saw_eof = trio.Event()
    with trio.fail_after(10):
        async with open_setup(read_to_eof_then_set(server_saw_eof)) as setup:
            _, client = await setup.portal_and_client()
            await client.send_all(b"hello")
            await wait_until(lambda: bool(portal_workers(setup.outlet_node)))
            client.socket.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
            await client.aclose()  # SO_LINGER 0: a reset, not a FIN
            await server_saw_eof.wait()
            await setup.wait_until_no_portal_workers()


async def test_stopping_a_portal_worker_closes_both_ends() -> None:
    server_saw_eof = trio.Event()
    with trio.fail_after(10):
        async with open_setup(echo_then_set(server_saw_eof)) as setup:
            _, client = await setup.portal_and_client()
            async with client:
                await client.send_all(b"hi")
                assert await client.receive_some(10) == b"hi"
                (worker,) = portal_workers(setup.inlet_node)
                assert setup.inlet_node.stop_actor(worker)
                assert await client.receive_some(10) == b""
                # The inlet worker told the outlet worker, which closed the server's socket.
                await server_saw_eof.wait()
                await setup.wait_until_no_portal_workers()


async def test_protocol_error_from_the_inlet_closes_the_outlet_side() -> None:
    server_saw_eof = trio.Event()
    with trio.fail_after(10):
        async with open_setup(read_to_eof_then_set(server_saw_eof)) as setup:
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
    with trio.fail_after(10):
        async with open_setup(read_to_eof_then_set(server_saw_eof)) as setup:
            # The inlet gives up before any Pong can come back.
            _, inlet = await setup.portal(ping_timeout=1e-6)
            await assert_closed_at_once(inlet)
            # The outlet worker connected to the server, then learned the inlet is gone.
            await server_saw_eof.wait()
            await setup.wait_until_no_portal_workers()


# --- the manager ------------------------------------------------------------------------------


async def test_outlet_names() -> None:
    with trio.fail_after(5):
        async with open_node("n1") as node:
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
        async with open_node("n1") as node:
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
            await assert_echoes(inlet, b"ping")
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
            await setup.wait_until_no_portal_workers()
