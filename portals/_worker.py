"""The portal worker: the I/O shell around one `PortalState`, one TCP socket, one route.

`InletWorker` and `OutletWorker` differ only in their handshake; once it is done, both run
`PortalWorker._pump`:

- a reader task reads the socket (`CHUNK` bytes at a time, only while it has credit) and sends
  each read as one `Payload` along the peer's route; at EOF it sends `End`. On a real socket
  it lends the socket to its carrier's poller (`portals/_pollers.py`) while payloads flow,
  which reads many portals' sockets in one task, and takes it back for everything else;
- the mailbox loop (`_dispatch`) checks each message with the state and queues payloads and
  ends for the writer; it never waits on the socket, so credits and Disconnect are seen at once;
- a writer task writes queued payloads to the socket (then returns credit), applies `End` with
  `send_eof`, and closes the socket after the peer's Disconnect once what came before it is
  written (within `LINGER` seconds);
- a watcher closes everything at once when the worker that carries the portal (the connection
  worker, or whatever local worker is the route's first hop) stops.

The mailbox holds `WINDOW` payloads plus a few control messages, and the writer's queue holds
`WINDOW` payloads plus End and Disconnect: a peer that keeps to its credit never makes the
connection worker that delivers to us wait, so one slow TCP client never stalls other portals
that share its connection.
"""

from __future__ import annotations

import logging
import socket
from abc import abstractmethod

import trio

from actors import Actor, Address, LocalMessage, Route
from transports import SocketPoller, duplicate_socket, raw_receiver

from ._pollers import carrier_poller
from ._protocol import (
    CHUNK,
    WINDOW,
    Credit,
    Disconnect,
    End,
    Payload,
    Phase,
    PortalProtocolError,
    PortalState,
    Role,
    decode,
    encode,
)

log = logging.getLogger("ockam.portal")

LINGER = 5.0
"""Seconds a closing worker waits for the peer's Disconnect, or to flush what it received
before the peer's Disconnect to a slow socket, before it stops anyway."""
_CLOSE_TIMEOUT = 1.0
_SOCKET_ERRORS = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)

_Write = Payload | End | Disconnect


def configure_socket(stream: trio.abc.Stream) -> None:
    """TCP_NODELAY on a socket stream: a portal forwards what it reads at once."""
    if isinstance(stream, trio.SocketStream):
        stream.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)


class PortalWorker(Actor):
    """One side of one portal: a TCP socket joined to a route.

    Subclasses implement `_handshake`, which returns the socket, the route to the peer worker
    and the local address of the worker that carries the portal, or None when the portal could
    not be set up (the socket is then closed).
    """

    mailbox_size = WINDOW + 8

    def __init__(self, role: Role) -> None:
        self.state = PortalState(role)
        self._stream: trio.abc.Stream | None = None
        self._peer = Route()
        self._me = Route()
        self._carrier: Address | None = None
        self._credit_event = trio.Event()
        self._io_done = trio.Event()
        self._io_scope = trio.CancelScope()
        self._dispatch_scope = trio.CancelScope()
        self._nursery: trio.Nursery | None = None
        self._peer_gone = False
        self._writes_send, self._writes_receive = trio.open_memory_channel[_Write](WINDOW + 2)
        self._queued_writes = 0  # queued for the writer task and not yet written
        self._inline = False
        self._raw: socket.socket | None = None
        self._handback = trio.Event()
        self._handed: bytes | Exception | None = None
        self._poller: SocketPoller | None = None
        self.close_reason = ""

    @abstractmethod
    async def _handshake(self) -> tuple[trio.abc.Stream, Route, Address] | None:
        """Open the portal; the socket, the peer's route and the carrier, or None."""

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self._me = Route((self.ctx.address,))
        task_status.started()
        try:
            opened = await self._handshake()
            if opened is not None:
                stream, self._peer, self._carrier = opened
                self._stream = stream
                await self._pump(stream)
        finally:
            self._inline = False
            self._close_raw()
            if self._stream is not None:
                with trio.move_on_after(_CLOSE_TIMEOUT) as scope:
                    scope.shield = True
                    await trio.aclose_forcefully(self._stream)
            await self._disconnect_on_stop()
            reason = self.close_reason or ("done" if self.state.closed else "stopped")
            log.info("portal %s closed: %s", self.ctx.address, reason)

    async def _disconnect_on_stop(self) -> None:
        """Tell the peer when this worker is stopped from outside while the portal is open."""
        state = self.state
        if state.phase not in (Phase.OPEN, Phase.PEER_CLOSED) or self._carrier is None:
            return
        if self.close_reason:
            return  # closed on purpose (its route is gone): a Disconnect would be dropped
        node = self.ctx.node
        if node.nursery.cancel_scope.cancel_called or node.monitor(self._carrier).is_set():
            return  # the node is shutting down, or nothing can reach the peer any more
        self._set_reason("the portal worker was stopped")
        data = state.send(Disconnect(self.close_reason))
        with trio.move_on_after(_CLOSE_TIMEOUT) as scope:
            scope.shield = True
            await self._send(data)

    def _set_reason(self, reason: str) -> None:
        if not self.close_reason:
            self.close_reason = reason

    async def _send(self, data: bytes) -> bool:
        """Send one encoded portal message to the peer; False when it was dropped."""
        return await self.ctx.node.router.send(LocalMessage(self._peer, self._me, data))

    async def _send_last(self, data: bytes) -> None:
        """Send our Disconnect even while the worker is being cancelled (bounded)."""
        with trio.CancelScope(shield=True), trio.move_on_after(_CLOSE_TIMEOUT):
            await self._send(data)

    # --- the data phase ------------------------------------------------------------------------

    async def _pump(self, stream: trio.abc.Stream) -> None:
        assert self._carrier is not None
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self._watch_carrier, self._carrier)
            self._raw = duplicate_socket(stream)
            nursery.start_soon(self._run_io, stream)
            self._inline = True
            try:
                with self._dispatch_scope:
                    await self._dispatch()
            finally:
                self._inline = False
            nursery.cancel_scope.cancel()

    async def _watch_carrier(self, carrier: Address) -> None:
        await self.ctx.node.monitor(carrier).wait()
        if self._peer_gone:
            # The peer said its last word; what is left is our flush, bounded by LINGER. (When
            # both ends are on one node the carrier is the peer worker itself.)
            return
        self._set_reason(f"the worker carrying the portal ({carrier}) stopped")
        assert self._nursery is not None
        self._nursery.cancel_scope.cancel()

    async def _run_io(self, stream: trio.abc.Stream) -> None:
        try:
            with self._io_scope:
                async with trio.open_nursery() as io:
                    io.start_soon(self._read_socket, stream)
                    await self._write_socket(stream)
                    io.cancel_scope.cancel()
        finally:
            self._close_raw()  # the duplicate would keep the connection open
            with trio.move_on_after(_CLOSE_TIMEOUT) as scope:
                scope.shield = True
                await trio.aclose_forcefully(stream)
            self._io_done.set()

    def _close_raw(self) -> None:
        raw, self._raw = self._raw, None
        if raw is not None:
            raw.close()

    def _close(self, reason: str, *, notify: bool = True) -> None:
        """Close the socket now; send Disconnect (unless the route is gone) and linger for the
        peer's."""
        self._set_reason(reason or "both sides ended")
        self._io_scope.cancel()
        if notify and self.state.phase in (Phase.OPEN, Phase.PEER_CLOSED):
            data = self.state.send(Disconnect(reason))
            assert self._nursery is not None
            self._nursery.start_soon(self._send_last, data)
        if not notify or self.state.closed:
            self._dispatch_scope.cancel()
        else:
            self._dispatch_scope.deadline = min(
                self._dispatch_scope.deadline, trio.current_time() + LINGER
            )

    async def _dispatch(self) -> None:
        """The mailbox loop: check each message and act on it, until the portal is closed."""
        state = self.state
        mailbox = self.ctx.mailbox
        while not state.closed:
            try:
                message = await mailbox.get()
            except (trio.EndOfChannel, trio.ClosedResourceError):
                return
            was_open = state.phase in (Phase.OPEN, Phase.PEER_CLOSED)
            try:
                event = state.receive(message.payload)
            except PortalProtocolError as exc:
                await self._protocol_error(exc, was_open=was_open)
                return
            if state.phase is Phase.CLOSING:
                continue  # sent before the peer saw our Disconnect: nothing to do
            if isinstance(event, Payload | End):
                self._queue_write(event)
            elif isinstance(event, Credit):
                self._credit_event.set()
            elif isinstance(event, Disconnect):
                await self._peer_disconnected(event)
                return

    async def _protocol_error(self, exc: PortalProtocolError, *, was_open: bool) -> None:
        log.warning("portal %s: protocol error: %s", self.ctx.address, exc)
        self._set_reason(f"protocol error: {exc}")
        self._io_scope.cancel()
        if was_open:
            await self._send(encode(Disconnect(f"protocol error: {exc}")))

    def _queue_write(self, item: _Write) -> None:
        self._queued_writes += 1
        self._writes_send.send_nowait(item)  # never full: the state enforces the window

    async def try_handle_now(self, message: LocalMessage) -> bool:
        """Handle a payload, end or credit in the sender's task; False leaves `message` to the
        mailbox loop (anything else, or a portal that is not open)."""
        state = self.state
        if not self._inline or state.phase is not Phase.OPEN:
            return False
        try:
            event = decode(message.payload)
        except PortalProtocolError:
            return False  # the mailbox loop reports it
        if not isinstance(event, Payload | End | Credit):
            return False
        try:
            state.receive_message(event)
        except PortalProtocolError as exc:
            self._inline = False
            await self._protocol_error(exc, was_open=True)
            self._dispatch_scope.cancel()
            return True
        if isinstance(event, Credit):
            self._credit_event.set()
        elif isinstance(event, End) or not await self._write_now(event):
            self._queue_write(event)
        return True

    async def _write_now(self, payload: Payload) -> bool:
        """Write `payload` to the socket without waiting, when nothing is queued before it.

        What the socket does not take at once goes to the writer task; False when nothing
        could be done here (the writer task then handles the whole payload).
        """
        raw = self._raw
        if raw is None or self._queued_writes:
            return False
        data = payload.data
        try:
            sent = raw.send(data)
        except BlockingIOError:
            return False
        except OSError:
            return False  # the writer task meets the same error and closes the portal
        if sent < len(data):
            self._queue_write(Payload(data[sent:]))
            return True
        credit = self.state.payload_written()
        if credit is not None and not await self._send(self.state.send(credit)):
            self._close("the route to the peer is gone", notify=False)
        return True

    async def _peer_disconnected(self, event: Disconnect) -> None:
        self._peer_gone = True
        self._set_reason(f"the peer disconnected: {event.reason}" if event.reason else "")
        if self.state.disconnect_due:
            await self._send(self.state.send(Disconnect()))
        # Write what arrived before the Disconnect, then close; a client that does not read
        # gets LINGER seconds.
        self._queue_write(event)
        with trio.move_on_after(LINGER):
            await self._io_done.wait()

    async def _read_socket(self, stream: trio.abc.Stream) -> None:
        state = self.state
        raw = self._raw
        receive = raw_receiver(raw, CHUNK) if raw is not None else None
        if raw is not None and self._carrier is not None:
            self._poller = carrier_poller(self.ctx.node, self._carrier)
        while True:
            while not state.can_send_payload:
                if state.phase is not Phase.OPEN or state.end_sent:
                    return
                self._credit_event = trio.Event()
                await self._credit_event.wait()
            data: bytes | bytearray | None
            try:
                if self._poller is not None and raw is not None:
                    data = await self._polled(self._poller, raw)
                    if data is None:
                        continue  # out of credit, or closed: the loop's head decides
                elif receive is not None:
                    data = await receive()
                else:
                    data = await stream.receive_some(CHUNK)
            except _SOCKET_ERRORS as exc:
                self._close(f"reading the socket failed: {exc}")
                return
            if state.phase is not Phase.OPEN:
                return
            if not data:
                sent = await self._send(state.send(End()))
                if not sent:
                    self._close("the route to the peer is gone", notify=False)
                elif state.finished:
                    self._close("")
                return
            if not isinstance(data, bytes):
                data = bytes(data)  # a socket gives bytes; other streams may give a bytearray
            if not await self._send(state.send(Payload(data))):
                self._close("the route to the peer is gone", notify=False)
                return

    async def _polled(self, poller: SocketPoller, raw: socket.socket) -> bytes | None:
        """Let the carrier's poller read the socket (`_on_readable`) until something other
        than a payload with credit comes up: then the end of the stream (b""), the credit
        running out or the portal closing (None), or raises the read's error."""
        self._handback = trio.Event()
        self._handed = None
        try:
            poller.add(raw, self._on_readable)
        except trio.ClosedResourceError:
            self._poller = None  # the carrier stopped: the watcher is closing the portal
            return None
        try:
            await self._handback.wait()
        finally:
            poller.remove(raw)
        handed, self._handed = self._handed, None
        if isinstance(handed, Exception):
            raise handed
        return handed

    async def _on_readable(self) -> None:
        """The poller's call when the socket is readable: read and send one payload, or hand
        the socket back to the reader task (`_polled`). Never raises."""
        state = self.state
        raw = self._raw
        if raw is None or not state.can_send_payload:
            self._hand_back(None)
            return
        try:
            data = raw.recv(CHUNK)
        except BlockingIOError:
            return
        except OSError as exc:
            self._hand_back(exc)
            return
        if not data:
            self._hand_back(b"")
            return
        try:
            sent = await self._send(state.send(Payload(data)))
        except Exception as exc:  # handed to the reader task, which raises it in this actor
            self._hand_back(exc)
            return
        if not sent:
            self._hand_back(None)
            self._close("the route to the peer is gone", notify=False)

    def _hand_back(self, handed: bytes | Exception | None) -> None:
        if self._poller is not None and self._raw is not None:
            self._poller.remove(self._raw)
        self._handed = handed
        self._handback.set()

    async def _write_socket(self, stream: trio.abc.Stream) -> None:
        state = self.state
        async for item in self._writes_receive:
            if isinstance(item, Payload):
                try:
                    await stream.send_all(item.data)
                except _SOCKET_ERRORS as exc:
                    self._close(f"writing the socket failed: {exc}")
                    return
                # Only now may `_write_now` write directly again: these bytes are out.
                self._queued_writes -= 1
                credit = state.payload_written()
                if credit is not None and not await self._send(state.send(credit)):
                    self._close("the route to the peer is gone", notify=False)
                    return
            elif isinstance(item, End):
                if isinstance(stream, trio.abc.HalfCloseableStream):
                    try:
                        await stream.send_eof()
                    except _SOCKET_ERRORS as exc:
                        self._close(f"shutting down the socket's write side failed: {exc}")
                        return
                self._queued_writes -= 1
                state.end_written()
                if state.finished:
                    self._close("")
                    return
            else:
                return  # the peer's Disconnect: everything before it is written
