"""Leaving a node's block stops every actor and closes every socket, promptly."""

from __future__ import annotations

import os
import socket
import sys

import pytest
import trio

from actors import Actor, LocalMessage, route, split_host_port
from transports import open_node
from transports.testing import open_topology


def _tasks_living() -> int:
    return trio.lowlevel.current_statistics().tasks_living


def _open_sockets() -> int:
    """Sockets this process holds open (Linux: /proc/self/fd)."""
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}").startswith("socket:"):
                count += 1
        except OSError:
            pass  # the fd of the listdir itself, gone already
    return count


linux_only = pytest.mark.skipif(
    sys.platform != "linux", reason="counts sockets through /proc/self/fd"
)


def _bind_listener(port: int) -> None:
    """Bind and listen on 127.0.0.1:port as a fresh server would (SO_REUSEADDR, like trio).

    On Linux, SO_REUSEADDR does not allow a second listener on a port that is still being
    listened on, so this fails while the node's listener is open.
    """
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
        sock.listen()


async def test_the_port_can_be_bound_again_right_after() -> None:
    with trio.fail_after(10):
        baseline = _tasks_living()
        async with open_node("n1", services=("uppercase",)) as node:
            listener = await node.tcp.listen("127.0.0.1:0")
            _, port = split_host_port(listener.address)
            assert port != 0
            with pytest.raises(OSError, match="Address already in use"):
                _bind_listener(port)
            # A connection that is open when the node stops.
            async with open_node("client", services=()) as client:
                info = await client.tcp.connect(listener.address)
                reply = await client.request(route(info.worker, "uppercase"), b"up", timeout=5)
                assert reply.payload == b"UP"
                assert _tasks_living() > baseline
        _bind_listener(port)
        assert _tasks_living() == baseline


async def test_a_connected_peer_sees_the_socket_close() -> None:
    with trio.fail_after(10):
        async with open_node("n1", services=("uppercase",)) as node:
            listener = await node.tcp.listen("127.0.0.1:0")
            host, port = split_host_port(listener.address)
            peer = await trio.open_tcp_stream(host, port)
            assert await peer.receive_some(1) == b"\x01"  # the node's version byte
        try:
            # The node is gone: its side of the connection is closed.
            assert await peer.receive_some(100) == b""
        finally:
            await peer.aclose()


@linux_only
@pytest.mark.parametrize("transport", ["tcp", "ws"])
async def test_a_topology_leaves_no_task_and_no_socket(transport: str) -> None:
    with trio.fail_after(10):
        tasks, sockets = _tasks_living(), _open_sockets()
        async with open_topology(transport=transport) as topology:  # type: ignore[arg-type]
            reply = await topology["n1"].request(
                topology.route("n1", "n3", "uppercase", via_hop=True), b"x", timeout=5
            )
            assert reply.payload == b"X"
            ports = [split_host_port(i.address)[1] for i in topology.listeners.values()]
            assert _tasks_living() > tasks
            assert _open_sockets() >= sockets + 2 + 4  # two listeners, two links of two ends
        assert _tasks_living() == tasks
        assert _open_sockets() == sockets
        for port in ports:
            _bind_listener(port)


async def test_memory_topology_leaves_no_task(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(10):
        tasks = _tasks_living()
        async with open_topology(transport="memory") as topology:
            reply = await topology["n1"].request(
                topology.route("n1", "n3", "echo"), b"x", timeout=5
            )
            assert reply.payload == b"x"
            assert len(topology["n2"].workers()) >= 5  # 3 services and 2 connections
        assert _tasks_living() == tasks


class Stuck(Actor):
    """Never finishes handling its first message."""

    def __init__(self) -> None:
        self.handling = trio.Event()

    async def handle_message(self, message: LocalMessage) -> None:
        self.handling.set()
        await trio.sleep_forever()


async def test_shutdown_stops_actors_busy_with_a_message(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(10):
        tasks = _tasks_living()
        async with open_node("n1", services=()) as node:
            stuck = Stuck()
            await node.start_actor(stuck, "stuck")
            assert await node.send(route("stuck"), b"x")
            await stuck.handling.wait()
        assert _tasks_living() == tasks


@linux_only
@pytest.mark.parametrize("transport", ["tcp", "ws"])
async def test_when_a_peer_node_stops_this_node_closes_its_side(transport: str) -> None:
    with trio.fail_after(10):
        async with open_node("n1", services=()) as n1:
            ours = n1.ws if transport == "ws" else n1.tcp
            sockets = _open_sockets()
            async with open_node("n2", services=("echo",)) as n2:
                theirs = n2.ws if transport == "ws" else n2.tcp
                listener = await (n2.ws.listen() if transport == "ws" else n2.tcp.listen())
                info = await ours.connect(listener.address)
                reply = await n1.request(route(info.worker, "echo"), b"x", timeout=5)
                assert reply.payload == b"x"
                assert len(theirs.connections()) == 1
            # n2 went away without a goodbye: n1's connection ends and closes its socket.
            while ours.connections():
                await trio.sleep(0.001)
            assert _open_sockets() == sockets
            assert not await n1.send(route(info.worker, "echo"), b"x")
