"""The TCP transport: listeners and connections, each an actor on the node."""

from __future__ import annotations

import logging
import socket

import trio

from actors import TCP, TransportError, split_host_port

from ._connection import ConnectionInfo, ConnectionWorker
from ._stream_transport import Listener, StreamTransport

log = logging.getLogger("ockam.transport.tcp")


def _configure(stream: trio.SocketStream) -> None:
    stream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
    stream.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, True)


async def open_tcp_listener(host: str, port: int) -> tuple[trio.SocketListener, str]:
    """One TCP listener on `host:port` (port 0 picks a free one) and its bound `host:port`.

    Raises:
        TransportError: the address is in use or not allowed, with the system's reason.
    """
    try:
        listeners = await trio.open_tcp_listeners(port, host=host)
    except OSError as exc:
        raise TransportError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    for extra in listeners[1:]:
        await extra.aclose()
    listener = listeners[0]
    bound_host, bound_port = listener.socket.getsockname()[:2]
    if ":" in bound_host:
        return listener, f"[{bound_host}]:{bound_port}"
    return listener, f"{bound_host}:{bound_port}"


class TcpListener(Listener):
    """Accepts TCP connections and starts a `ConnectionWorker` for each.

    The connections run in the node's nursery, so deleting the listener leaves them up.
    """

    transport_name = "tcp"

    def __init__(
        self, transport: TcpTransport, host: str, port: int, *, accept_after: trio.Event | None
    ) -> None:
        super().__init__(host, port, accept_after=accept_after)
        self._transport = transport

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        listener, self.bound = await open_tcp_listener(self._host, self._port)
        try:
            self._port = split_host_port(self.bound)[1]  # a restart keeps the port
            log.info("listening for TCP connections on %s", self.bound)
            task_status.started()
            await self._accepting()
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
    listener_type = TcpListener

    def _listener_for(self, host: str, port: int, accept_after: trio.Event | None) -> TcpListener:
        return TcpListener(self, host, port, accept_after=accept_after)

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
