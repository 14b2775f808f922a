"""`StreamIO`: a byte stream as the data path uses it, the one place where a TCP socket and
any other `trio.abc.Stream` (memory streams in tests, WebSocket) differ.

Connections and portals read and write only through this interface. A writer keeps the bytes
it could not send yet in a `bytearray` that it appends to; `send_nowait` sends what the stream
takes without waiting (nothing, for a stream that can only send by waiting), and a writer task
calls `send_some`, which waits until it can send some of the buffer's front. Both return how
many bytes went; the writer deletes them from the buffer's front, so whoever appends next, in
whatever task, keeps the order.

On a socket, both work on a non-blocking duplicate of the socket's descriptor: a send takes no
checkpoint, so a sender can never be cancelled half-way through a frame, and bytes already
received come without trio's per-call machinery. Trio still does all the waiting
(`wait_readable`, `wait_writable`); `aclose` tells it the duplicate is going away before it
closes it, then closes the stream.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable
from typing import TypeVar

import trio

A = TypeVar("A")
R = TypeVar("R")

FAIR_READS = 16
"""Reads in a row without a checkpoint before `receive` yields anyway."""
_CLOSE_TIMEOUT = 1.0


class StreamIO:
    """Any `trio.abc.Stream`: sends and receives go through `send_all` and `receive_some`.

    Use `stream_io(stream)`, which picks `SocketIO` for a socket stream.
    """

    def __init__(self, stream: trio.abc.Stream) -> None:
        self.stream = stream
        self.closed = False
        self._received: bytes | None = None  # read by `wait_readable`, not taken yet

    def fileno(self) -> int | None:
        """A descriptor that polls readable whenever `receive_nowait` has bytes (or the end
        of the stream) to give, or None: then `wait_readable` is the only way to wait."""
        return None

    def send_nowait(self, data: bytes | bytearray | memoryview) -> int:
        """Send what the stream takes of `data` without waiting; how many bytes that was.

        Raises:
            trio.BrokenResourceError: the stream is broken (or `ClosedResourceError`: closed).
        """
        return 0

    async def send_some(self, buffer: bytearray) -> int:
        """Wait until the stream takes some of `buffer`'s front, send it, and return how many
        bytes went (the caller deletes them). Others may append to `buffer` meanwhile, and
        call `send_nowait`. Raises like `send_nowait`."""
        data = bytes(buffer)  # `buffer` may grow while the stream takes its time
        await self.stream.send_all(data)
        return len(data)

    async def send_all(self, buffer: bytearray) -> None:
        """Send all of `buffer`, emptying it."""
        while buffer:
            del buffer[: await self.send_some(buffer)]

    async def receive_into(self, buffer: bytearray) -> int:
        """Read into the front of `buffer`, at most all of it, waiting for some bytes; how
        many came (0 at the end of the stream). A reader keeps one buffer for all its reads:
        a fresh `bytes` per read of hundreds of KiB costs more than the read (the allocator
        maps and unmaps it each time)."""
        size = len(buffer)
        data: bytes | bytearray | None = self.receive_nowait(size)
        if data is None:
            data = await self.stream.receive_some(size)
        else:
            await trio.lowlevel.checkpoint()
        buffer[: len(data)] = data
        return len(data)

    def receive_nowait(self, size: int) -> bytes | None:
        """At most `size` bytes that need no wait, b"" at the end of the stream, or None."""
        data, self._received = self._received, None
        if data is not None and len(data) > size:
            data, self._received = data[:size], data[size:]
        return data

    async def wait_readable(self, size: int) -> None:
        """Until `receive_nowait(size)` has something to give."""
        if self._received is None:
            self._received = bytes(await self.stream.receive_some(size))

    def _release(self) -> None:
        """Let go of what this adapter holds beside the stream (before the stream closes)."""

    async def send_eof(self) -> None:
        """Shut down the write side, when the stream can (a `HalfCloseableStream`)."""
        if isinstance(self.stream, trio.abc.HalfCloseableStream):
            await self.stream.send_eof()

    async def aclose(self) -> None:
        """Close the stream (forcefully, bounded, shielded from the caller's cancellation);
        calling it again does nothing."""
        if self.closed:
            return
        self.closed = True
        self._release()
        with trio.move_on_after(_CLOSE_TIMEOUT) as scope:
            scope.shield = True
            await trio.aclose_forcefully(self.stream)


class SocketIO(StreamIO):
    """A `trio.SocketStream`, sent and received on a non-blocking duplicate of its socket."""

    def __init__(self, stream: trio.SocketStream, raw: socket.socket) -> None:
        super().__init__(stream)
        self._raw = raw
        self._reads_in_a_row = 0
        self._drained = False  # the last read took less than asked: the socket was empty

    def fileno(self) -> int | None:
        return self._raw.fileno()

    def send_nowait(self, data: bytes | bytearray | memoryview) -> int:
        try:
            return self._raw.send(data)
        except BlockingIOError:
            return 0
        except OSError as exc:
            raise self._failed("send", exc) from exc

    def _failed(
        self, what: str, exc: OSError
    ) -> trio.BrokenResourceError | trio.ClosedResourceError:
        if self.closed:
            return trio.ClosedResourceError("the socket was closed")
        return trio.BrokenResourceError(f"socket {what} failed: {exc}")

    async def send_some(self, buffer: bytearray) -> int:
        while True:
            await trio.lowlevel.wait_writable(self._raw)
            sent = self.send_nowait(buffer)
            if sent or not buffer:
                return sent

    async def receive_into(self, buffer: bytearray) -> int:
        # Bytes already there come without a checkpoint; a checkpoint every FAIR_READS reads
        # in a row keeps a busy peer from starving the other tasks. After a short read the
        # socket was empty: waiting first saves the `recv` that would fail (and its exception)
        # on every message of a request-response exchange; if bytes came meanwhile, the wait
        # returns after one pass of trio's scheduler.
        if self._drained:
            self._reads_in_a_row = 0
            await trio.lowlevel.wait_readable(self._raw)
        while (size := self._recv_into(buffer)) is None:
            self._reads_in_a_row = 0
            await trio.lowlevel.wait_readable(self._raw)
        self._drained = 0 < size < len(buffer)
        self._reads_in_a_row += 1
        if self._reads_in_a_row >= FAIR_READS:
            self._reads_in_a_row = 0
            await trio.lowlevel.checkpoint()
        return size

    def _recv_into(self, buffer: bytearray) -> int | None:
        return self._nonblocking(self._raw.recv_into, buffer)

    def receive_nowait(self, size: int) -> bytes | None:
        return self._nonblocking(self._raw.recv, size)

    def _nonblocking(self, receive: Callable[[A], R], argument: A) -> R | None:
        """`receive(argument)` on the socket; None when it has nothing to give now."""
        try:
            return receive(argument)
        except BlockingIOError:
            return None
        except OSError as exc:
            raise self._failed("receive", exc) from exc

    async def wait_readable(self, size: int) -> None:
        await trio.lowlevel.wait_readable(self._raw)

    async def send_eof(self) -> None:
        try:
            self._raw.shutdown(socket.SHUT_WR)
        except OSError as exc:
            raise trio.BrokenResourceError(f"socket shutdown failed: {exc}") from exc
        await trio.lowlevel.checkpoint()

    def _release(self) -> None:
        trio.lowlevel.notify_closing(self._raw)  # wakes a task waiting on it, with an error
        self._raw.close()


def stream_io(stream: trio.abc.Stream) -> StreamIO:
    """`stream` as the data path uses it: a `SocketIO` for a socket stream (when a descriptor
    is left to duplicate it), a plain `StreamIO` otherwise."""
    if isinstance(stream, trio.SocketStream):
        try:
            raw = socket.socket(fileno=os.dup(stream.socket.fileno()))
        except OSError:
            return StreamIO(stream)  # out of descriptors: it works, only slower
        raw.setblocking(False)
        return SocketIO(stream, raw)
    return StreamIO(stream)
