"""`transports.SocketPoller`: one task reading many streams, real sockets and memory streams."""

from __future__ import annotations

import socket
from collections.abc import Awaitable, Callable

import pytest
import trio
import trio.testing

from transports import SocketPoller, StreamIO, stream_io


def _pair() -> tuple[StreamIO, socket.socket]:
    """A socket stream as the data path uses it, and the plain socket at its other end."""
    left, right = socket.socketpair()
    return stream_io(trio.SocketStream(trio.socket.from_stdlib_socket(left))), right


def _reader(
    io: StreamIO, into: bytearray, arrived: trio.Event, size: int
) -> Callable[[], Awaitable[None]]:
    async def handler() -> None:
        # Small reads: a stream is called again while it has bytes.
        into.extend(io.receive_nowait(7) or b"")
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
            await mine.aclose()
            theirs.close()


async def test_a_memory_stream_is_read_through_the_same_handler() -> None:
    """A stream without a descriptor gets a waiting task of its own; the handler is the same."""
    poller = SocketPoller()
    ours, theirs = trio.testing.memory_stream_pair()
    io = stream_io(ours)
    assert io.fileno() is None
    received = bytearray()
    arrived = trio.Event()
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            poller.add(io, _reader(io, received, arrived, 20))  # before the poller runs
            await nursery.start(poller.run)
            await theirs.send_all(b"twenty bytes, please")
            await arrived.wait()
            poller.remove(io)
            await theirs.send_all(b"not read")
            await trio.testing.wait_all_tasks_blocked()
            nursery.cancel_scope.cancel()
    assert bytes(received) == b"twenty bytes, please"
    buffer = bytearray(100)
    assert buffer[: await io.receive_into(buffer)] == b"not read"


async def test_a_removed_socket_is_no_longer_read() -> None:
    poller = SocketPoller()
    mine, theirs = _pair()
    other, sender = _pair()
    received = bytearray()
    arrived = trio.Event()
    with theirs, sender, trio.fail_after(10):
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
        assert mine.receive_nowait(10) == b"two"  # still in the socket, untouched
        await mine.aclose()
        await other.aclose()


async def test_a_busy_socket_does_not_starve_other_tasks() -> None:
    """A handler that never drains its socket keeps it readable; other tasks still run."""
    poller = SocketPoller()
    mine, theirs = _pair()
    calls = 0

    async def never_reads() -> None:
        nonlocal calls
        calls += 1

    with theirs, trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(poller.run)
            poller.add(mine, never_reads)
            theirs.sendall(b"x")
            for _ in range(50):
                await trio.lowlevel.checkpoint()
            nursery.cancel_scope.cancel()
        await mine.aclose()
    assert calls >= 50


async def test_a_stopped_poller_takes_no_sockets() -> None:
    poller = SocketPoller()
    mine, theirs = _pair()
    with theirs, trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            await nursery.start(poller.run)
            nursery.cancel_scope.cancel()
        with pytest.raises(trio.ClosedResourceError, match="stopped"):
            poller.add(mine, _reader(mine, bytearray(), trio.Event(), 1))
        poller.remove(mine)  # nothing to remove: ignored
        await mine.aclose()
