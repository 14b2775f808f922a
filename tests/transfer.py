"""Test support: a data server and clients that move checked bytes through a portal."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

MB = 1024 * 1024
MARKER = b"<<plaintext that must never cross the relay>>"
"""Ends every block of `payload`, so a spy can look for plaintext in what it captured."""

_BLOCK = hashlib.sha256(b"block").digest() * 64 + MARKER  # about 2 KiB


def payload(size: int) -> bytes:
    """`size` deterministic bytes: pseudo-random blocks, each ending with `MARKER`."""
    return (_BLOCK * (size // len(_BLOCK) + 1))[:size]


class DataServer:
    """A TCP server on 127.0.0.1. A connection's first byte says what it wants: `E` echoes,
    `U` + bytes gets their sha256 (hex) at EOF, `D<n>\\n` gets `payload(n)` then EOF."""

    def __init__(self) -> None:
        self.port = 0
        self.echoing = 0
        """Echo connections open right now."""

    async def handle(self, stream: trio.SocketStream) -> None:
        """Serve one connection."""
        async with stream:
            mode = await stream.receive_some(1)
            if mode == b"E":
                self.echoing += 1
                try:
                    async for data in stream:
                        await stream.send_all(data)
                except trio.BrokenResourceError:
                    pass
                finally:
                    self.echoing -= 1
            elif mode == b"U":
                digest = hashlib.sha256()
                async for data in stream:
                    digest.update(data)
                await stream.send_all(digest.hexdigest().encode())
            elif mode == b"D":
                header = b""
                while not header.endswith(b"\n"):
                    header += await stream.receive_some(1)
                await stream.send_all(payload(int(header)))
                await stream.send_eof()


@asynccontextmanager
async def data_server() -> AsyncIterator[DataServer]:
    """Run a `DataServer` on a free port for the duration of the block."""
    server = DataServer()
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    server.port = listeners[0].socket.getsockname()[1]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, server.handle, listeners)
        yield server
        nursery.cancel_scope.cancel()


async def upload(port: int, data: bytes) -> str:
    """Send `data` to the data server behind `port`; the sha256 (hex) it computed."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(b"U")
        view = memoryview(data)
        for start in range(0, len(data), 256 * 1024):
            await stream.send_all(view[start : start + 256 * 1024])
        await stream.send_eof()
        answer = b""
        async for chunk in stream:
            answer += chunk
    return answer.decode()


async def download(port: int, size: int) -> tuple[str, int]:
    """Ask the data server behind `port` for `size` bytes; their sha256 (hex) and count."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    digest = hashlib.sha256()
    received = 0
    async with stream:
        await stream.send_all(b"D%d\n" % size)
        async for chunk in stream:
            digest.update(chunk)
            received += len(chunk)
    return digest.hexdigest(), received


async def echo_once(port: int, *, patience: float = 2) -> bytes:
    """The echo of `b"ping"` by the data server behind `port` (an inlet), for one new client;
    b"" when the inlet closes or resets the connection (its route does not work), or when no
    answer comes within `patience` seconds."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        try:
            await stream.send_all(b"Eping")
            with trio.move_on_after(patience):
                return await stream.receive_some(100)
        except trio.BrokenResourceError:
            pass
    return b""
