"""The TCP transport: listeners and connections, each an actor on the node."""

from __future__ import annotations

import logging
import socket
from typing import TYPE_CHECKING

import msgspec
import trio

from actors import TCP, Actor, Address, TransportError, random_address

from ._connection import ConnectionInfo, ConnectionWorker
from ._stream_transport import StreamTransport, split_host_port

if TYPE_CHECKING:
    from actors import Node

log = logging.getLogger("ockam.transport.tcp")


class ListenerInfo(msgspec.Struct, frozen=True):
    """A listener as `tcp-listener list` shows it."""

    worker: str
    transport: str
    address: str


def _configure(stream: trio.SocketStream) -> None:
    stream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
    stream.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, True)


class TcpListener(Actor):
    """Accepts TCP connections and starts a `ConnectionWorker` for each.

    The connections run in the node's nursery, so deleting the listener leaves them up.
    """

    def __init__(self, transport: TcpTransport, host: str, port: int) -> None:
        self._transport = transport
        self._host = host
        self._port = port
        self.bound = ""

    def info(self) -> ListenerInfo:
        """This listener as `tcp-listener list` shows it."""
        return ListenerInfo(self.ctx.address.value, "tcp", self.bound)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            listeners = await trio.open_tcp_listeners(self._port, host=self._host)
        except OSError as exc:
            raise TransportError(
                f"cannot listen on {self._host}:{self._port}: {exc.strerror or exc}"
            ) from None
        listener = listeners[0]
        for extra in listeners[1:]:
            await extra.aclose()
        try:
            host, port = listener.socket.getsockname()[:2]
            self.bound = f"{host}:{port}"
            self._port = port  # a restart listens on the same port, not a new random one
            log.info("listening for TCP connections on %s", self.bound)
            task_status.started()
            while True:
                try:
                    stream = await listener.accept()
                except OSError as exc:
                    # Out of file descriptors and the like: wait a moment rather than spin.
                    log.warning("accept on %s failed: %s", self.bound, exc)
                    await trio.sleep(0.1)
                    continue
                try:
                    await self._transport.adopt(stream)
                except (OSError, TransportError) as exc:
                    # The peer went away between accept and the version byte: only that
                    # connection is lost, the listener carries on.
                    log.warning("dropped a connection accepted on %s: %s", self.bound, exc)
                    await trio.aclose_forcefully(stream)
        finally:
            with trio.move_on_after(1) as scope:
                scope.shield = True
                await listener.aclose()


class TcpTransport(StreamTransport):
    """TCP listeners and connections of one node.

    A route whose address is `1#host:port` reuses the outgoing connection to that address, or
    opens one.
    """

    transport_type = TCP
    name = "tcp"

    def __init__(self, node: Node) -> None:
        super().__init__(node)
        self._listeners: dict[Address, TcpListener] = {}

    async def listen(self, address: str = "127.0.0.1:0") -> ListenerInfo:
        """Start listening on `address` (`host:port`; port 0 picks a free one).

        Raises:
            TransportError: the address is malformed, in use or not allowed.
        """
        host, port = split_host_port(address)
        listener = TcpListener(self, host, port)
        worker = random_address()
        self._listeners[worker] = listener
        try:
            await self.node.start_actor(listener, worker)
        except BaseException:
            del self._listeners[worker]
            raise
        return listener.info()

    def listeners(self) -> list[ListenerInfo]:
        """Every running listener."""
        return [listener.info() for listener in self._listeners.values() if listener.bound]

    def stop_listener(self, worker: str) -> bool:
        """Stop the listener whose worker address (hex) or bound address is `worker`."""
        for address, listener in list(self._listeners.items()):
            if worker in (address.value, listener.bound):
                del self._listeners[address]
                return self.node.stop_actor(address)
        return False

    async def adopt(self, stream: trio.SocketStream) -> ConnectionInfo:
        """Run an accepted connection as a worker."""
        _configure(stream)
        host, port = stream.socket.getpeername()[:2]
        return await self._start_connection(
            ConnectionWorker(transport="tcp", mode="incoming", peer=f"{host}:{port}", stream=stream)
        )

    def _worker_for(self, peer: str) -> ConnectionWorker:
        host, port = split_host_port(peer)

        async def opener(nursery: trio.Nursery) -> trio.abc.Stream:
            stream = await trio.open_tcp_stream(host, port)
            _configure(stream)
            return stream

        return ConnectionWorker(transport="tcp", mode="outgoing", peer=peer, opener=opener)
