"""`transports.SocketPoller`: one task reading many real sockets."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable

import pytest
import trio

from transports import SocketPoller


def _pair() -> tuple[socket.socket, socket.socket]:
    left, right = socket.socketpair()
    left.setblocking(False)
    return left, right


def _reader(
    sock: socket.socket, into: bytearray, arrived: trio.Event, size: int
) -> Callable[[], Awaitable[None]]:
    async def handler() -> None:
        into.extend(sock.recv(7))  # small reads: a socket is called again while it has bytes
        if len(into) >= size:
            arrived.set()

    return handler


async def test_each_readable_socket_gets_its_own_bytes() -> None:
    poller = SocketPoller()
    pairs = [_pair() for _ in range(5)]
    received = [bytearray() for _ in pairs]
    arrived = [trio.Event() for _ in pairs]
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(poller.run)
            for (mine, _), into, event in zip(pairs, received, arrived, strict=True):
                poller.add(mine, _reader(mine, into, event, 100))
            assert len(poller) == 5
            for index, (_, theirs) in enumerate(pairs):
                theirs.sendall(bytes([index]) * 100)
            for event in arrived:
                await event.wait()
            nursery.cancel_scope.cancel()
    assert [bytes(data) for data in received] == [bytes([i]) * 100 for i in range(5)]
    for mine, theirs in pairs:
        mine.close()
        theirs.close()


async def test_a_removed_socket_is_no_longer_read() -> None:
    poller = SocketPoller()
    mine, theirs = _pair()
    other, sender = _pair()
    received = bytearray()
    arrived = trio.Event()
    with mine, theirs, other, sender, trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(poller.run)
            poller.add(mine, _reader(mine, received, arrived, 3))
            theirs.sendall(b"one")
            await arrived.wait()
            poller.remove(mine)
            poller.remove(mine)  # twice is harmless
            theirs.sendall(b"two")
            # A round that reads another socket after that would have read `mine` too.
            other_arrived = trio.Event()
            poller.add(other, _reader(other, bytearray(), other_arrived, 1))
            sender.sendall(b"!")
            await other_arrived.wait()
            nursery.cancel_scope.cancel()
        assert bytes(received) == b"one"
        assert mine.recv(10) == b"two"  # still in the socket, untouched


async def test_a_busy_socket_does_not_starve_other_tasks() -> None:
    """A handler that never drains its socket keeps it readable; other tasks still run."""
    poller = SocketPoller()
    mine, theirs = _pair()
    calls = 0

    async def never_reads() -> None:
        nonlocal calls
        calls += 1

    with mine, theirs, trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(poller.run)
            poller.add(mine, never_reads)
            theirs.sendall(b"x")
            for _ in range(50):
                await trio.lowlevel.checkpoint()
            nursery.cancel_scope.cancel()
    assert calls >= 50


async def test_a_stopped_poller_takes_no_sockets() -> None:
    poller = SocketPoller()
    mine, theirs = _pair()
    with mine, theirs, trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(poller.run)
            nursery.cancel_scope.cancel()
        with pytest.raises(trio.ClosedResourceError, match="stopped"):
            poller.add(mine, _reader(mine, bytearray(), trio.Event(), 1))
        poller.remove(mine)  # nothing to remove: ignored
