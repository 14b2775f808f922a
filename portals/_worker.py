"""The portal worker: the I/O shell around one `PortalState`, one stream, one route.

`InletWorker` and `OutletWorker` differ only in their handshake. Every message a portal
worker receives is handled at once, in the sender's task (`try_handle_now`): the state checks
it, and the worker acts on what it returns. Nothing ever waits in its mailbox. A portal's
bytes take one way each:

- **stream → peer**: the carrier's poller (`portals/_pollers.py`) calls `_on_readable` while
  the stream is readable and the state has credit; each read of up to `CHUNK` bytes goes to
  the peer as one `Payload`, the end of the stream as `End`. Out of credit, the worker stops
  watching the stream until the peer's `Credit` comes.
- **peer → stream**: a received payload is written at once, as far as the stream takes it
  without waiting; the rest waits in `_out` for the writer task, which also applies the
  peer's `End` (`send_eof`) once everything before it is written. The state returns `Credit`
  as payloads are written (growing the window while the stream takes each payload at once),
  and the window bounds `_out`: a peer that keeps to its credit
  never makes the worker that delivers to us wait, so one slow client never stalls other
  portals that share its connection.

Closing lives in the state (`PortalState.close` and friends): the worker tells it what
happened, sends the Disconnect it returns, and stops when the state is `done`, or at its
`deadline`. A watcher tells it when the worker that carries the portal (the connection, or
whatever local worker is the route's first hop) stops.
"""

from __future__ import annotations

import logging
from abc import abstractmethod
from collections import deque
from typing import TYPE_CHECKING

import trio

from actors import Actor, Address, LocalMessage, Route
from transports import SocketPoller, StreamIO

from ._enforcement import Enforcement
from ._messages import (
    CHUNK,
    Blocked,
    Credit,
    Disconnect,
    End,
    Payload,
    Pong,
    PortalMessage,
    PortalProtocolError,
    encode,
)
from ._policy_guard import PolicyGuard
from ._pollers import carrier_poller
from ._protocol import Phase, PortalState, Role

if TYPE_CHECKING:
    from actors import Node

log = logging.getLogger("ockam.portal")

_CLOSE_TIMEOUT = 1.0
STREAM_ERRORS = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)
"""What reading or writing a portal's stream raises when the connection failed or closed."""


class PortalTraffic:
    """The bytes a node's portals carried since the node started: read from their clients' and
    servers' sockets (`bytes_in`) and written to them (`bytes_out`). Every portal worker of
    the node adds to the same two integers as it reads and writes; trio runs one task at a
    time, so an addition needs no lock, and a portal that closed still counts."""

    __slots__ = ("bytes_in", "bytes_out")

    def __init__(self) -> None:
        self.bytes_in = 0
        self.bytes_out = 0


def portal_traffic(node: Node) -> PortalTraffic:
    """The `PortalTraffic` of `node`'s portals (all zero before its first portal), attached
    to the node (`Node.attach`) the first time it is asked for."""
    traffic = node.attached(PortalTraffic)
    if traffic is None:
        traffic = PortalTraffic()
        node.attach(traffic)
    return traffic


class PortalWorker(Actor):
    """One side of one portal: a stream joined to a route.

    Subclasses implement `_handshake`, which returns True once the portal is open, with
    `_io`, `_peer` and `_carrier` set. Until then they may handle messages in `_on_message`.
    A portal admitted under a policy (`_guard`, from its resource's `_enforcement`) is watched
    while it is open, and closed when the policy no longer allows it.
    """

    mailbox_size = 8  # never used: every message is handled in the sender's task

    def __init__(
        self,
        role: Role,
        *,
        enforcement: Enforcement | None = None,
        guard: PolicyGuard | None = None,
    ) -> None:
        self.state = PortalState(role)
        self._io: StreamIO | None = None
        self._peer = Route()
        self._me = Route()
        self._carrier: Address | None = None
        self._out = bytearray()  # received bytes the stream has not taken yet
        self._unwritten: deque[int] = deque()  # bytes of each payload in `_out`, in order
        self._eof_due = False  # the peer's End arrived; apply it once `_out` is written
        self._to_write = trio.Event()
        self._changed = trio.Event()  # set when what `_seen` notes of the state changed
        self._seen: tuple[Phase, bool, float] = (Phase.IDLE, False, 0.0)
        self._poller: SocketPoller | None = None  # the carrier's, set in `_pump`
        self._reading = False
        self._enforcement = enforcement
        self._guard = guard  # set by the handshake when a policy applies, or given
        self._traffic = PortalTraffic()  # the node's, once running

    @property
    def close_reason(self) -> str:
        """Why the portal closed ("" while it is open)."""
        return self.state.close_reason

    @abstractmethod
    async def _handshake(self) -> bool:
        """Open the portal; True when it is open."""

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        self._me = Route((self.ctx.address,))
        self._traffic = portal_traffic(self.ctx.node)
        task_status.started()
        try:
            if await self._handshake():
                await self._pump()
            else:
                await self._until_done()
        finally:
            self._stop_reading()
            if self._io is not None:
                await self._io.aclose()
            await self._disconnect_on_stop()
            state = self.state
            reason = state.close_reason or ("done" if state.closed else "stopped")
            log.info("portal %s closed: %s", self.ctx.address.text, reason)

    async def _disconnect_on_stop(self) -> None:
        node = self.ctx.node
        carrier = self._carrier
        reachable = (
            carrier is not None
            and not node.nursery.cancel_scope.cancel_called
            and not node.monitor(carrier).is_set()
        )
        data = self.state.stopping(reachable=reachable)
        if data is not None:
            with trio.move_on_after(_CLOSE_TIMEOUT) as scope:
                scope.shield = True
                await self._send(data)

    async def _send(self, data: bytes) -> bool:
        """Send one encoded portal message to the peer; False when it was dropped."""
        return await self.ctx.node.router.send(LocalMessage(self._peer, self._me, data))

    def _changed_state(self) -> None:
        """Wake the worker's task if the state moved on in a way it waits for (a new phase,
        done, a new deadline): not for every payload."""
        state = self.state
        if (state.phase, state.done, state.deadline) != self._seen:
            self._changed.set()

    async def _state_changes(self) -> None:
        """Until the state's phase, `done` or deadline changes."""
        state = self.state
        self._seen = (state.phase, state.done, state.deadline)
        self._changed = trio.Event()
        await self._changed.wait()

    async def _until_done(self) -> None:
        """Until the state is done, or its deadline passed."""
        state = self.state
        while not state.done and trio.current_time() < state.deadline:
            with trio.move_on_at(state.deadline):
                await self._state_changes()

    async def _close(self, reason: str, *, notify: bool = True) -> None:
        """Our side is done (see `PortalState.close`): close the stream, tell the peer."""
        data = self.state.close(reason, now=trio.current_time(), notify=notify)
        self._stop_reading()
        if self._io is not None:
            await self._io.aclose()
        if data is not None:
            await self._send(data)
        self._changed_state()

    # --- receiving from the peer ---------------------------------------------------------------

    async def try_handle_now(self, message: LocalMessage) -> bool:
        """Every message is handled here, in the sender's task (see the module docstring)."""
        state = self.state
        was_open = state.phase in (Phase.OPEN, Phase.PEER_CLOSED)
        try:
            event = state.receive(message.payload, now=trio.current_time())
        except PortalProtocolError as exc:
            log.warning("portal %s: protocol error: %s", self.ctx.address.text, exc)
            if was_open:
                await self._send(encode(Disconnect(f"protocol error: {exc}")))
            await self._close(f"protocol error: {exc}", notify=False)
            return True
        await self._on_message(event, message)
        self._changed_state()
        return True

    async def _on_message(self, event: PortalMessage, message: LocalMessage) -> None:
        state = self.state
        if state.phase is Phase.CLOSING:
            return  # sent before the peer saw our Disconnect: nothing to do
        if isinstance(event, Payload):
            await self._write(event.data)
        elif isinstance(event, Credit):
            self._start_reading()
        elif isinstance(event, End):
            self._eof_due = True
            self._to_write.set()
        elif isinstance(event, Disconnect) and state.peer_gone:
            if state.disconnect_due:
                await self._send(state.send(Disconnect()))
            self._to_write.set()  # the writer flushes, then tells the state
        elif isinstance(event, Pong):
            await self._on_pong(message)

    async def _on_pong(self, message: LocalMessage) -> None:
        """The outlet's Pong (only the inlet accepts one)."""

    # --- peer → stream -------------------------------------------------------------------------

    async def _write(self, data: bytes) -> None:
        """Write a received payload: what the stream takes now, the rest by the writer task."""
        io = self._io
        assert io is not None
        sent = 0
        if not self._out:
            try:
                sent = io.send_nowait(data)
            except STREAM_ERRORS as exc:
                await self._close(f"writing the stream failed: {exc}")
                return
            self._traffic.bytes_out += sent
            if sent == len(data):
                await self._payloads_written(1, keeping_up=True)
                return
        self._out += memoryview(data)[sent:]
        self._unwritten.append(len(data) - sent)
        self._to_write.set()

    async def _payloads_written(self, count: int, *, keeping_up: bool = False) -> None:
        state = self.state
        for _ in range(count):
            credit = state.payload_written(keeping_up=keeping_up)
            if credit is not None and not await self._send(state.send(credit)):
                await self._close("the route to the peer is gone", notify=False)

    async def _writer(self, io: StreamIO) -> None:
        out = self._out
        unwritten = self._unwritten
        state = self.state
        try:
            while True:
                if out:
                    sent = await io.send_some(out)
                    del out[:sent]
                    self._traffic.bytes_out += sent
                    done = 0
                    while unwritten and sent >= unwritten[0]:
                        sent -= unwritten.popleft()
                        done += 1
                    if sent:
                        unwritten[0] -= sent
                    await self._payloads_written(done)
                elif self._eof_due:
                    self._eof_due = False
                    await io.send_eof()
                    state.end_written()
                    if state.finished:
                        await self._close("")
                        return
                elif state.peer_gone:
                    state.writes_flushed()  # everything before the peer's Disconnect is out
                    self._changed_state()
                    return
                else:
                    self._to_write = trio.Event()
                    await self._to_write.wait()
        except STREAM_ERRORS as exc:
            await self._close(f"writing the stream failed: {exc}")

    # --- stream → peer -------------------------------------------------------------------------

    async def _pump(self) -> None:
        carrier, io = self._carrier, self._io
        assert carrier is not None
        assert io is not None
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._watch_carrier, carrier)
            nursery.start_soon(self._writer, io)
            if self._guard is not None and self._enforcement is not None:
                nursery.start_soon(self._enforcement.watch, self._guard, self._close)
            self._poller = await carrier_poller(self.ctx.node, carrier)
            if self._poller is None:
                self.state.carrier_stopped(
                    f"the worker carrying the portal ({carrier.text}) stopped"
                )
            else:
                self._start_reading()
            await self._until_done()
            nursery.cancel_scope.cancel()

    async def _watch_carrier(self, carrier: Address) -> None:
        await self.ctx.node.monitor(carrier).wait()
        self.state.carrier_stopped(f"the worker carrying the portal ({carrier.text}) stopped")
        self._changed_state()

    def _start_reading(self) -> None:
        poller, io = self._poller, self._io
        if poller is None or io is None or io.closed or self._reading:
            return
        if not self.state.can_send_payload:
            return
        try:
            poller.add(io, self._on_readable)
        except trio.ClosedResourceError:
            return  # the carrier stopped: the watcher closes the portal
        self._reading = True

    def _stop_reading(self) -> None:
        if self._reading and self._poller is not None and self._io is not None:
            self._poller.remove(self._io)
        self._reading = False

    async def _on_readable(self) -> None:
        """The poller's call while the stream is readable: one read, one message to the peer."""
        state, io = self.state, self._io
        if io is None or not state.can_send_payload:
            self._stop_reading()
            return
        try:
            data = io.receive_nowait(CHUNK)
        except STREAM_ERRORS as exc:
            await self._close(f"reading the stream failed: {exc}")
            return
        if data is None:
            return
        self._traffic.bytes_in += len(data)
        if not data:
            self._stop_reading()
            if not await self._send(state.send(End())):
                await self._close("the route to the peer is gone", notify=False)
            elif state.finished:
                await self._close("")
            return
        sent = await self._send(state.send(Payload(data)))
        if sent and len(data) == CHUNK and state.send_credit == 0:
            # A full read used the last credit: there is likely more, and the window holds it.
            sent = await self._send(state.send(Blocked()))
        if not sent:
            await self._close("the route to the peer is gone", notify=False)
        else:
            self._pause_without_credit()

    def _pause_without_credit(self) -> None:
        if not self.state.can_send_payload:
            self._stop_reading()  # until the peer's Credit
