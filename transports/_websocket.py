"""The WebSocket transport: the same frames as TCP, in binary WebSocket messages.

It lets a relay node sit behind an HTTP load balancer. Addresses: `2#host:port`, written
`/dnsaddr/HOST/tcp/PORT/ws` (or `/ip4/.../ws`) in a route.
"""

from __future__ import annotations

import logging

import trio
import trio_websocket

from actors import WS, TransportError, split_host_port

from ._codec import MAX_FRAME_SIZE
from ._connection import ConnectionWorker
from ._stream_transport import Listener, StreamTransport

log = logging.getLogger("ockam.transport.ws")

_MAX_MESSAGE = MAX_FRAME_SIZE + 1024
_RESOURCE = "/ockam"


class WebSocketStream(trio.abc.Stream):
    """A `trio.abc.Stream` over a WebSocket connection: each `send_all` is one binary message."""

    def __init__(
        self,
        connection: trio_websocket.WebSocketConnection,
        transport_stream: trio.abc.Stream | None = None,
    ) -> None:
        self._ws = connection
        self._transport_stream = transport_stream
        self._pending = b""

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        try:
            await self._ws.send_message(bytes(data))
        except trio_websocket.ConnectionClosed as exc:
            raise trio.BrokenResourceError(f"websocket closed: {exc.reason}") from None

    async def wait_send_all_might_not_block(self) -> None:
        await trio.lowlevel.checkpoint()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        if not self._pending:
            try:
                message = await self._ws.get_message()
            except trio_websocket.ConnectionClosed:
                return b""
            self._pending = message if isinstance(message, bytes) else message.encode()
        if max_bytes is None or max_bytes >= len(self._pending):
            data, self._pending = self._pending, b""
        else:
            data, self._pending = self._pending[:max_bytes], self._pending[max_bytes:]
        return data

    async def aclose(self) -> None:
        try:
            await self._ws.aclose()
        finally:
            # trio-websocket leaves its TCP stream open when the peer went away without a
            # closing handshake (an abnormal closure): close it here, or the socket leaks.
            if self._transport_stream is not None:
                await trio.aclose_forcefully(self._transport_stream)


class WebSocketListener(Listener):
    """Serves WebSocket connections on one port; each becomes a `ConnectionWorker`."""

    transport_name = "ws"

    def __init__(
        self,
        transport: WebSocketTransport,
        host: str,
        port: int,
        *,
        accept_after: trio.Event | None,
    ) -> None:
        super().__init__(host, port, accept_after=accept_after)
        self._transport = transport

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            try:
                server = await nursery.start(
                    lambda task_status: trio_websocket.serve_websocket(
                        self._handle,
                        self._host,
                        self._port,
                        None,
                        max_message_size=_MAX_MESSAGE,
                        receive_buffer_size=256 * 1024,
                        task_status=task_status,
                    )
                )
            except OSError as exc:
                raise TransportError(
                    f"cannot listen on {self._host}:{self._port}: {exc.strerror or exc}"
                ) from None
            self.bound = f"{self._host}:{server.port}"
            self._port = server.port  # a restart listens on the same port
            log.info("listening for WebSocket connections on %s", self.bound)
            task_status.started()

    async def _handle(self, request: trio_websocket.WebSocketRequest) -> None:
        await self._accepting()
        try:
            connection = await request.accept()
            remote = connection.remote
            peer = str(remote) if isinstance(remote, str) else f"{remote.address}:{remote.port}"
            worker = ConnectionWorker(
                transport="ws", mode="incoming", peer=peer, stream=WebSocketStream(connection)
            )
            await self._transport._start_connection(worker)
        except (TransportError, trio_websocket.ConnectionClosed) as exc:
            # The peer went away before the handshake or the version byte: only that
            # connection is lost. (Raised from here, it would stop the whole listener.)
            log.warning("dropped a connection accepted on %s: %s", self.bound, exc)
            return
        # trio-websocket closes the connection when this handler returns.
        await worker.closed.wait()


class WebSocketTransport(StreamTransport):
    """WebSocket listeners and connections of one node."""

    transport_type = WS
    name = "ws"
    listener_type = WebSocketListener

    def _listener_for(
        self, host: str, port: int, accept_after: trio.Event | None
    ) -> WebSocketListener:
        return WebSocketListener(self, host, port, accept_after=accept_after)

    def _worker_for(self, peer: str) -> ConnectionWorker:
        host, port = split_host_port(peer)

        async def opener(nursery: trio.Nursery) -> trio.abc.Stream:
            # As trio_websocket.connect_websocket does, but keeping the TCP stream to close it.
            stream = await trio.open_tcp_stream(host, port)
            try:
                connection = await trio_websocket.wrap_client_stream(
                    nursery,
                    stream,
                    host if port in (80, 443) else f"{host}:{port}",
                    _RESOURCE,
                    max_message_size=_MAX_MESSAGE,
                    receive_buffer_size=256 * 1024,
                )
            except trio_websocket.HandshakeError as exc:
                await trio.aclose_forcefully(stream)
                raise TransportError(f"websocket handshake with {peer} failed: {exc}") from None
            except BaseException:
                await trio.aclose_forcefully(stream)
                raise
            return WebSocketStream(connection, stream)

        return ConnectionWorker(transport="ws", mode="outgoing", peer=peer, opener=opener)
