"""`transports.StreamIO.receive_into`: a reader's one buffer, on a socket and a memory stream."""

from __future__ import annotations

import socket

import pytest
import trio
import trio.testing

from transports import StreamIO, stream_io


def _socket_pair() -> tuple[StreamIO, socket.socket]:
    left, right = socket.socketpair()
    return stream_io(trio.SocketStream(trio.socket.from_stdlib_socket(left))), right


async def test_a_socket_read_fills_the_buffer_front_then_waits_for_more() -> None:
    io, peer = _socket_pair()
    buffer = bytearray(b"." * 8)
    with trio.fail_after(10):
        peer.sendall(b"abc")
        assert await io.receive_into(buffer) == 3  # a short read: the socket was emptied
        assert buffer == b"abc....."

        async def later() -> None:
            await trio.testing.wait_all_tasks_blocked()
            peer.sendall(b"0123456789")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(later)
            assert await io.receive_into(buffer) == 8  # waited, then as much as fits
        assert buffer == b"01234567"
        assert await io.receive_into(buffer) == 2  # the rest, without a wait
        assert buffer[:2] == b"89"
        peer.close()
        assert await io.receive_into(buffer) == 0  # the end of the stream
    await io.aclose()


async def test_a_closed_socket_raises_closed_resource() -> None:
    io, peer = _socket_pair()
    await io.aclose()
    with trio.fail_after(10), pytest.raises(trio.ClosedResourceError):
        await io.receive_into(bytearray(4))
    peer.close()


async def test_a_memory_stream_reads_into_the_buffer_too() -> None:
    ours, theirs = trio.testing.memory_stream_pair()
    io = stream_io(ours)
    buffer = bytearray(4)
    with trio.fail_after(10):
        await theirs.send_all(b"hello")
        got = bytearray()
        while len(got) < 5:
            size = await io.receive_into(buffer)
            assert 0 < size <= 4
            got += buffer[:size]
        assert got == b"hello"
        await theirs.aclose()
        assert await io.receive_into(buffer) == 0
    await io.aclose()
