"""TCP servers for portal tests: one that echoes, one that only counts what it receives.

Part of the testing kit (`transports.testing`); each runs on 127.0.0.1 port 0 for the duration
of an `async with` block.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import trio

from actors import split_host_port

_READ = 65536
"""Bytes a server asks for per read."""


class TestServer:
    """A running TCP server: where it listens, and what it has received.

    Attributes:
        address: `host:port` it listens on (`127.0.0.1` and the port the kernel picked): the
            `target` of an outlet.
        connections: connections accepted so far.
        received: bytes received so far, over every connection.
    """

    __test__ = False  # a helper, not a test class (pytest collects names starting `Test`)

    def __init__(self, *, echo: bool) -> None:
        self.address = ""
        self.connections = 0
        self.received = 0
        self._echo = echo
        self._changed = trio.Event()

    async def wait_received(self, count: int) -> None:
        """Return once the server has received at least `count` bytes in all."""
        while self.received < count:
            await self._changed.wait()

    async def _handle(self, stream: trio.SocketStream) -> None:
        self.connections += 1
        async with stream:
            try:
                while data := await stream.receive_some(_READ):
                    self.received += len(data)
                    self._changed.set()
                    self._changed = trio.Event()
                    if self._echo:
                        await stream.send_all(data)
                # The client's EOF: answer with ours, so a client that half-closes its side
                # reads to the end of what was echoed.
                await stream.send_eof()
            except trio.BrokenResourceError:
                pass  # the client reset the connection: nothing left to answer


class EchoServer(TestServer):
    """A TCP server that sends back every byte it receives, then its EOF after the client's."""

    def __init__(self) -> None:
        super().__init__(echo=True)


class SinkServer(TestServer):
    """A TCP server that reads and counts every byte and sends nothing back (but its EOF)."""

    def __init__(self) -> None:
        super().__init__(echo=False)


@asynccontextmanager
async def _serving(server: TestServer) -> AsyncIterator[None]:
    async with trio.open_nursery() as nursery:
        serve = partial(trio.serve_tcp, server._handle, 0, host="127.0.0.1")
        listeners = await nursery.start(serve)
        host, port = listeners[0].socket.getsockname()[:2]
        server.address = f"{host}:{port}"
        try:
            yield
        finally:
            nursery.cancel_scope.cancel()


@asynccontextmanager
async def open_echo_server() -> AsyncIterator[EchoServer]:
    """Run an `EchoServer` on 127.0.0.1 port 0 for the duration of the `async with` block.

    Example:
        async with open_echo_server() as echo:
            await Portals.of(node).create_outlet(target=echo.address)
    """
    server = EchoServer()
    async with _serving(server):
        yield server


@asynccontextmanager
async def open_sink_server() -> AsyncIterator[SinkServer]:
    """Run a `SinkServer` on 127.0.0.1 port 0 for the duration of the `async with` block.

    Example:
        async with open_sink_server() as sink:
            ...  # send 1 MiB through a portal whose outlet targets sink.address
            await sink.wait_received(1 << 20)
    """
    server = SinkServer()
    async with _serving(server):
        yield server


async def connect(address: str) -> trio.SocketStream:
    """A TCP connection to `address` (`host:port`), such as an inlet's `bind_addr`.

    Raises:
        TransportError: `address` is not `host:port`.
        OSError: nothing accepts connections there.
    """
    host, port = split_host_port(address)
    return await trio.open_tcp_stream(host, port)
