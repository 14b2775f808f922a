"""Helpers for the portal tests: nodes with portal managers over loopback TCP, servers, clients."""

from __future__ import annotations

import re
import socket
import subprocess
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from functools import partial
from pathlib import Path

import trio
import trio.testing

import actors
from actors import TCP, Address, Route, local
from portals import InletInfo, OutletInfo, Portals, PortalWorker
from transports import NetworkNode, open_node

Handler = Callable[[trio.SocketStream], Awaitable[None]]


class Setup:
    """Nodes with their portal managers; `n1` holds the inlets, the last node the outlets."""

    def __init__(self, nodes: list[NetworkNode], route_to_outlet_node: Route, target: str) -> None:
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

    async def portal_and_client(
        self, *, ping_timeout: float = 10.0, outlet: bool = True
    ) -> tuple[InletInfo, trio.SocketStream]:
        """`portal()`, then a client connected to its inlet."""
        _, inlet = await self.portal(ping_timeout=ping_timeout, outlet=outlet)
        return inlet, await connect(inlet)

    async def wait_until_no_portal_workers(self) -> None:
        """Until every portal worker is gone, on every node."""
        await wait_until(lambda: not any(portal_workers(n) for n in self.nodes))


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
            open_node("n1") as n1,
            open_node("n2") as n2,
            open_node("n3") as n3,
        ):
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


def portal_workers(node: actors.Node) -> list[str]:
    return sorted(worker.ctx.address.value for worker in node.actors_of(PortalWorker))


async def wait_until(condition: Callable[[], bool]) -> None:
    while not condition():
        await trio.sleep(0.01)


def unused_port() -> int:
    """A loopback port that nothing listens on (bound for a moment, then closed)."""
    with socket.socket() as unused:
        unused.bind(("127.0.0.1", 0))
        port: int = unused.getsockname()[1]
    return port


# --- streams ----------------------------------------------------------------------------------


async def read_all(stream: trio.abc.ReceiveStream) -> bytes:
    chunks = []
    while chunk := await stream.receive_some(65536):
        chunks.append(chunk)
    return b"".join(chunks)


async def send_then_eof(stream: trio.SocketStream, data: bytes, *, chunk: int) -> None:
    """Sends `data` in pieces of `chunk` bytes, then EOF."""
    view = memoryview(data)
    for start in range(0, len(data), chunk):
        await stream.send_all(view[start : start + chunk])
    await stream.send_eof()


async def exchange(inlet: InletInfo, data: bytes) -> bytes:
    """A new client sends `data` and EOF while it reads; what it read before the EOF."""
    client = await connect(inlet)
    async with client, trio.open_nursery() as nursery:
        nursery.start_soon(partial(send_then_eof, client, data, chunk=len(data) or 1))
        return await read_all(client)


async def assert_echoes(inlet: InletInfo, data: bytes) -> None:
    """A new client sends `data` and reads it back in one receive."""
    client = await connect(inlet)
    async with client:
        await assert_stream_echoes(client, data)


async def assert_stream_echoes(client: trio.SocketStream, data: bytes) -> None:
    """`client` sends `data` and reads it back in one receive."""
    await client.send_all(data)
    assert await client.receive_some(100) == data


async def assert_closed_at_once(inlet: InletInfo) -> None:
    """A new client's first receive is the end of the stream."""
    client = await connect(inlet)
    async with client:
        assert await client.receive_some(10) == b""


# --- servers ----------------------------------------------------------------------------------


async def echo(stream: trio.abc.Stream) -> None:
    """Echoes until the client's EOF, then sends its own (a socket's, a stapled memory pair's)."""
    try:
        while data := await stream.receive_some(65536):
            await stream.send_all(data)
        if isinstance(stream, trio.abc.HalfCloseableStream):
            await stream.send_eof()
    except trio.BrokenResourceError:
        pass


def echo_then_set(event: trio.Event) -> Handler:
    """A server that echoes, then sets `event` when its connection ends."""

    async def handler(stream: trio.SocketStream) -> None:
        try:
            await echo(stream)
        finally:
            event.set()

    return handler


def read_to_eof_then_set(event: trio.Event) -> Handler:
    """A server that reads until EOF (or a reset), then sets `event`."""

    async def handler(stream: trio.SocketStream) -> None:
        with suppress(trio.BrokenResourceError):
            await read_all(stream)
        event.set()

    return handler


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


# --- a network of memory streams --------------------------------------------------------------


class MemoryListener(trio.abc.Listener[trio.abc.Stream]):
    """A listener whose connections are memory streams handed to it by `MemoryNet.connect`."""

    def __init__(self) -> None:
        self._send, self._receive = trio.open_memory_channel[trio.abc.Stream](16)

    async def accept(self) -> trio.abc.Stream:
        try:
            return await self._receive.receive()
        except (trio.EndOfChannel, trio.ClosedResourceError):
            raise trio.ClosedResourceError("the listener is closed") from None

    async def aclose(self) -> None:
        self._receive.close()
        await trio.lowlevel.checkpoint()

    async def hand(self, stream: trio.abc.Stream) -> None:
        """Queue `stream` for `accept`."""
        await self._send.send(stream)


async def memory_link(a: NetworkNode, b: NetworkNode) -> Address:
    """Join `a` to `b` with a memory stream; the address of `a`'s connection worker."""
    a_end, b_end = trio.testing.memory_stream_pair()
    a_side = await a.tcp.attach(a_end, peer=b.name, mode="outgoing")
    await b.tcp.attach(b_end, peer=a.name, mode="incoming")
    return local(a_side.worker)


class MemoryNet:
    """Socket openers over memory streams, for `Portals(node, connect=..., listen=...)`.

    `listen(host, port)` and `connect(host, port)` have the signatures of the TCP openers;
    each call is recorded, so a test can show that every stream it used came from here.
    """

    def __init__(self) -> None:
        self.listeners: dict[str, MemoryListener] = {}
        self.listened: list[str] = []
        self.connected: list[str] = []

    async def listen(self, host: str, port: int) -> tuple[trio.abc.Listener[trio.abc.Stream], str]:
        name = f"{host}:{port}"
        self.listened.append(name)
        listener = self.listeners[name] = MemoryListener()
        await trio.lowlevel.checkpoint()
        return listener, name

    async def connect(self, host: str, port: int, *, lockstep: bool = False) -> trio.abc.Stream:
        """A stream to the listener on `host:port`; with `lockstep`, one with no buffer (a
        send waits until the other side receives), to stand for a client that does not read."""
        name = f"{host}:{port}"
        self.connected.append(name)
        listener = self.listeners.get(name)
        if listener is None:
            raise OSError(f"nothing listens on {name}")
        pair = trio.testing.lockstep_stream_pair if lockstep else trio.testing.memory_stream_pair
        ours, theirs = pair()
        await listener.hand(theirs)
        return ours
