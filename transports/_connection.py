"""A connection worker: the actor that bridges one byte stream to the node's mailboxes."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from typing import Literal

import msgspec
import trio

from actors import LOCAL, Actor, Address, LocalMessage, Route, TransportError, unwrap_group

from ._codec import PROTOCOL_VERSION, ProtocolError, WireDecoder, encode_message_into
from ._stream_io import StreamIO, stream_io

log = logging.getLogger("ockam.transport")

READ_SIZE = 256 * 1024
"""Bytes asked of the stream per read: large reads keep per-message overhead low."""
WRITE_BATCH = 256 * 1024
"""Bytes of frames a connection holds for its socket before further messages queue in its
mailbox (one frame may take it over)."""

_BATCH: ContextVar[list[ConnectionWorker] | None] = ContextVar("ockam_frame_batch", default=None)
"""Set by a connection's reader while it routes the frames of one read: connections written
to during that time gather their frames and send them together when the batch is done."""


@contextlib.contextmanager
def frame_batch() -> Iterator[None]:
    """Within the block, frames sent through an idle connection are gathered, and each
    connection sends what it gathered in one `send` at the end of the block.

    For a task that routes many messages it received together (the frames of one read, the
    sockets one poll found readable); a connection busy with an earlier write queues them as
    usual. Nested blocks join the outermost one.
    """
    if _BATCH.get() is not None:
        yield
        return
    batch: list[ConnectionWorker] = []
    token = _BATCH.set(batch)
    try:
        yield
    finally:
        _BATCH.reset(token)
        for corked in batch:
            corked._uncork()


Opener = Callable[[trio.Nursery], Awaitable[trio.abc.Stream]]
"""Opens the stream of an outgoing connection, inside the worker's own nursery."""


class ConnectionInfo(msgspec.Struct, frozen=True):
    """A connection as `tcp-connection list` shows it."""

    worker: str
    transport: str
    mode: Literal["outgoing", "incoming"]
    peer: str

    @property
    def route(self) -> Route:
        """The route to the other end: this connection's worker (`/worker/<hex>`), to which
        a route goes on with the address of a service over there."""
        return Route((Address(LOCAL, self.worker),))


class ConnectionWorker(Actor):
    """Carries messages over one stream, both ways.

    Writing: a message for the peer (its onward route starts with this worker) is popped,
    framed onto the end of `_out`, the connection's outgoing bytes, and `_out` is sent from
    its front as far as the stream takes it without waiting (`StreamIO.send_nowait`); a writer
    task sends the rest when the stream can take it. The message is framed in the sender's
    task (`try_handle_now`) while `_out` holds less than `WRITE_BATCH`; beyond that it queues
    in the mailbox, and the mailbox loop (`handle_message`) frames it once there is room.
    Framing takes no checkpoint, so frames never interleave and leave in the order they were
    sent.

    Reading: one reader task reads the stream, decodes frames and routes each message on the
    node with this worker pushed onto its return route, so replies find their way back; the
    messages of one read are routed inside one `frame_batch`.

    A peer that breaks the wire protocol gets its connection closed with a logged reason.
    """

    mailbox_size = 128

    def __init__(
        self,
        *,
        transport: str,
        mode: Literal["outgoing", "incoming"],
        peer: str,
        stream: trio.abc.Stream | None = None,
        opener: Opener | None = None,
    ) -> None:
        if (stream is None) == (opener is None):
            raise ValueError("give a ConnectionWorker exactly one of stream= or opener=")
        self.transport = transport
        self.mode = mode
        self.peer = peer
        self._stream = stream
        self._opener = opener
        self._io: StreamIO | None = None  # set while the connection is open
        self._out = bytearray((PROTOCOL_VERSION,))
        self._holding = False  # the mailbox loop took a message and has not framed it yet
        self._corked = False  # in a `frame_batch`: sent when the batch is done
        self._to_write = trio.Event()
        self._room = trio.Event()
        self._scope = trio.CancelScope()
        self.closed = trio.Event()
        self.close_reason = ""

    def carries_to(self) -> str:
        """The peer at the other end of this connection (named when a request times out)."""
        return self.peer

    def info(self) -> ConnectionInfo:
        """This connection as `tcp-connection list` shows it."""
        return ConnectionInfo(self.ctx.address.value, self.transport, self.mode, self.peer)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        io: StreamIO | None = None
        try:
            async with trio.open_nursery() as nursery:
                self._scope = nursery.cancel_scope
                io = await self._open(nursery)
                nursery.start_soon(self._reader, io, nursery.cancel_scope)
                nursery.start_soon(self._writer, io)
                self._io = io
                task_status.started()
                await Actor.run(self)  # the mailbox loop: messages that could not wait in `_out`
        except BaseExceptionGroup as group:
            raise unwrap_group(group) from None
        finally:
            self._io = None
            self._close_with("closed")
            if io is not None:
                await io.aclose()
            elif self._stream is not None:
                await StreamIO(self._stream).aclose()
            self.closed.set()

    async def _open(self, nursery: trio.Nursery) -> StreamIO:
        """The stream, opened if need be, with this side's version byte sent."""
        try:
            if self._stream is None:
                assert self._opener is not None
                self._stream = await self._opener(nursery)
            io = stream_io(self._stream)
            await io.send_all(self._out)
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise TransportError(f"cannot connect to {self.peer}: {exc}") from None
        return io

    def _close_with(self, reason: str) -> None:
        if not self.close_reason:
            self.close_reason = reason

    async def try_handle_now(self, message: LocalMessage) -> bool:
        """Frame `message` for the peer now, unless the connection is not open, the mailbox
        loop holds an earlier message, or `_out` is full (then it queues)."""
        if self._io is None or self._holding or len(self._out) >= WRITE_BATCH:
            return False
        self._frame(message)
        return True

    async def handle_message(self, message: LocalMessage) -> None:
        """Frame a message that queued, once `_out` has room for it."""
        self._holding = True
        try:
            while len(self._out) >= WRITE_BATCH:
                self._room = trio.Event()
                await self._room.wait()
            self._frame(message)
        finally:
            self._holding = False

    def _frame(self, message: LocalMessage) -> None:
        try:
            encode_message_into(message.step(), self._out)
        except ProtocolError as exc:
            log.warning(
                "%s: not sending a message to %s: %s", self.ctx.address.text, self.peer, exc
            )
            return
        batch = _BATCH.get()
        if batch is None or len(self._out) >= WRITE_BATCH:
            self._send_now()  # a full `_out` goes out even in a batch, so nothing waits on it
        elif not self._corked:
            # The sender is routing many frames it received together: what goes out on this
            # connection leaves in one send when its batch is done.
            self._corked = True
            batch.append(self)

    def _uncork(self) -> None:
        self._corked = False
        self._send_now()

    def _send_now(self) -> None:
        """Send what the stream takes now; the writer task sends the rest."""
        io = self._io
        if io is None:
            return
        try:
            del self._out[: io.send_nowait(self._out)]
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            self._lost(exc)
            return
        if self._out:
            self._to_write.set()

    async def _writer(self, io: StreamIO) -> None:
        out = self._out
        try:
            while True:
                if not out:
                    self._to_write = trio.Event()
                    await self._to_write.wait()
                    continue
                del out[: await io.send_some(out)]
                if len(out) < WRITE_BATCH:
                    self._room.set()
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            self._lost(exc)

    def _lost(self, exc: BaseException) -> None:
        self._io = None
        self._close_with(f"connection to {self.peer} lost: {exc}")
        self._scope.cancel()

    def _refused(self, message: LocalMessage) -> None:
        """Drop `message`, which the node's `entry` rule does not let in from a transport."""
        self.ctx.node.router.dropped += 1
        log.warning(
            "dropped a message (%d bytes) from %s for %s: this node lets messages from a "
            "connection reach only what authenticates them",
            len(message.payload),
            self.peer,
            message.onward_route,
        )

    async def _reader(self, io: StreamIO, scope: trio.CancelScope) -> None:
        me = self.ctx.address
        decoder = WireDecoder(via=me)  # replies go back through this connection
        send = self.ctx.node.router.send
        buffer = bytearray(READ_SIZE)  # every read goes here; the decoder copies what it keeps
        view = memoryview(buffer)
        try:
            while True:
                size = await io.receive_into(buffer)
                if not size:
                    self._close_with(f"{self.peer} closed the connection")
                    break
                messages = decoder.receive_data(view[:size])
                entry = self.ctx.node.entry
                with frame_batch() if len(messages) > 1 else contextlib.nullcontext():
                    for message in messages:
                        if entry is None or (
                            message.onward_route and entry(message.onward_route.next)
                        ):
                            await send(message)
                        else:
                            self._refused(message)
        except ProtocolError as exc:
            self._close_with(f"protocol error from {self.peer}: {exc}")
            log.warning("closing connection %s from %s: %s", me, self.peer, exc)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            self._close_with(f"connection to {self.peer} lost: {exc}")
        log.info("connection %s (%s) ended: %s", me, self.peer, self.close_reason)
        scope.cancel()
