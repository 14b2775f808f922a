"""Sockets used directly, beside trio, on the data path.

A connection or a portal keeps a non-blocking duplicate of its socket's descriptor. Sending on
it takes no checkpoint, so a sender can write a whole frame without ever being cancelled
half-way; receiving on it skips trio's per-call machinery when bytes are already there. Trio
still does the waiting (`wait_readable`), and owns the original socket, its closing included.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Awaitable, Callable

import trio

FAIR_READS = 16
"""Reads in a row without a checkpoint before a reader yields anyway."""


def duplicate_socket(stream: trio.abc.Stream) -> socket.socket | None:
    """A non-blocking duplicate of a socket stream's socket, or None (other streams, or no
    descriptor to spare).

    It shares the connection (a dup'd descriptor), so bytes sent on it and on the stream go
    out in order, and shutting down one's write side shuts down the other's. Close it before
    the stream.
    """
    if not isinstance(stream, trio.SocketStream):
        return None
    try:
        raw = socket.socket(fileno=os.dup(stream.socket.fileno()))
    except OSError:
        return None  # out of descriptors, say: the stream works on its own, only slower
    raw.setblocking(False)
    return raw


def raw_receiver(raw: socket.socket, size: int) -> Callable[[], Awaitable[bytes]]:
    """A `receive_some` for `raw`: at most `size` bytes, b"" at the end of the stream.

    The bytes already there come without a checkpoint; the task waits only when there are
    none, or yields after `FAIR_READS` reads in a row so that a busy peer cannot starve the
    other tasks. Raises `OSError` as `socket.recv` does.
    """
    in_a_row = 0

    async def receive() -> bytes:
        nonlocal in_a_row
        while True:
            try:
                data = raw.recv(size)
            except BlockingIOError:
                in_a_row = 0
                await trio.lowlevel.wait_readable(raw)
                continue
            in_a_row += 1
            if in_a_row >= FAIR_READS:
                in_a_row = 0
                await trio.lowlevel.checkpoint()
            return data

    return receive
