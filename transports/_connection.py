"""A connection worker: the actor that bridges one byte stream to the node's mailboxes."""

from __future__ import annotations

import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable, Iterator
from contextvars import ContextVar
from typing import Literal

import msgspec
import trio

from actors import Actor, LocalMessage, Mailbox, TransportError, unwrap_group

from ._codec import PROTOCOL_VERSION, ProtocolError, WireDecoder, encode_message_into
from ._raw import duplicate_socket, raw_receiver

log = logging.getLogger("ockam.transport")

READ_SIZE = 256 * 1024
"""Bytes asked of the stream per read: large reads keep per-message overhead low."""
WRITE_BATCH = 256 * 1024
"""Queued messages are coalesced into one write up to about this many bytes."""

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


class _WriteQueue(Mailbox):
    """A connection's mailbox: with nothing queued and no write under way, `put` writes the
    frame in the sender's task (see `ConnectionWorker._write_now`), saving a task switch per
    message; otherwise the message waits for the writer task, which batches what queued up."""

    __slots__ = ("_worker",)

    def __init__(self, worker: ConnectionWorker, size: int | float) -> None:
        super().__init__(size)
        self._worker = worker

    async def put(self, message: LocalMessage) -> None:
        worker = self._worker
        if worker._corked is not None and _BATCH.get() is worker._corked_by:
            worker._frame(message, worker._corked)
            return
        if worker._writable and not worker._busy and self.empty:
            await worker._write_now(message)
            return
        await super().put(message)
        worker._wakeup.set()


class ConnectionWorker(Actor):
    """Carries messages over one stream, both ways.

    Messages put in its mailbox (their onward route starts with this worker) are popped, framed
    and written; frames read from the stream are routed on the node with this worker pushed
    onto their return route, so replies find their way back. One reader task owns the receive
    side. One writer at a time owns the send side, marked by `_busy` (taken without an await,
    so checking that the connection is idle and taking it are one step): the sender itself
    when the connection is idle, else the writer task, which also finishes a write the sender
    could only partly do. Frames leave in the order they were sent.

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
        on_close: Callable[[ConnectionWorker], None] | None = None,
    ) -> None:
        if (stream is None) == (opener is None):
            raise ValueError("give a ConnectionWorker exactly one of stream= or opener=")
        self.transport = transport
        self.mode = mode
        self.peer = peer
        self._stream = stream
        self._opener = opener
        self.on_close = on_close
        self._busy = False
        self._pending: memoryview | None = None
        self._raw: socket.socket | None = None
        self._corked: bytearray | None = None
        self._corked_by: list[ConnectionWorker] | None = None
        self._writable = False
        self._wakeup = trio.Event()
        self._scope = trio.CancelScope()
        self.closed = trio.Event()
        self.close_reason = ""

    def make_mailbox(self) -> Mailbox:
        return _WriteQueue(self, self.mailbox_size)

    def info(self) -> ConnectionInfo:
        """This connection as `tcp-connection list` shows it."""
        return ConnectionInfo(self.ctx.address.value, self.transport, self.mode, self.peer)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            async with trio.open_nursery() as nursery:
                self._scope = nursery.cancel_scope
                stream = await self._open(nursery)
                self._raw = duplicate_socket(stream)
                nursery.start_soon(self._reader, stream, nursery.cancel_scope)
                self._writable = True
                task_status.started()
                await self._writer(stream, nursery.cancel_scope)
        except BaseExceptionGroup as group:
            raise unwrap_group(group) from None
        finally:
            self._writable = False
            self._close_with("closed")
            if self._raw is not None:
                self._raw.close()
            if self._stream is not None:
                with trio.move_on_after(1) as scope:
                    scope.shield = True
                    await trio.aclose_forcefully(self._stream)
            self.closed.set()
            if self.on_close is not None:
                self.on_close(self)

    async def _open(self, nursery: trio.Nursery) -> trio.abc.Stream:
        try:
            if self._stream is None:
                assert self._opener is not None
                self._stream = await self._opener(nursery)
            await self._stream.send_all(bytes((PROTOCOL_VERSION,)))
        except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            raise TransportError(f"cannot connect to {self.peer}: {exc}") from None
        return self._stream

    def _close_with(self, reason: str) -> None:
        if not self.close_reason:
            self.close_reason = reason

    async def _writer(self, stream: trio.abc.Stream, scope: trio.CancelScope) -> None:
        mailbox = self.ctx.mailbox
        try:
            while True:
                if self._pending is None and (self._busy or mailbox.empty):
                    # Never park in `get`: a message handed straight to a parked task would be
                    # invisible to `_WriteQueue.put`, which could then overtake it.
                    self._wakeup = trio.Event()
                    await self._wakeup.wait()
                    continue
                self._busy = True
                try:
                    buffer = bytearray(self._pending or b"")
                    self._pending = None
                    while len(buffer) < WRITE_BATCH:
                        try:
                            message = mailbox.get_nowait()
                        except trio.WouldBlock:
                            break
                        self._frame(message, buffer)
                    if buffer:
                        await stream.send_all(buffer)
                finally:
                    self._busy = False
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            self._lost(exc)

    async def _write_now(self, message: LocalMessage) -> None:
        """Write one message in the caller's task (see `_WriteQueue`)."""
        buffer = bytearray()
        self._frame(message, buffer)
        if not buffer:
            return
        self._busy = True
        if self._raw is not None:
            batch = _BATCH.get()
            if batch is not None:
                # The sender is dispatching a batch of frames read at once: gather what goes
                # out on this connection and send it in one go when the batch is done.
                self._corked, self._corked_by = buffer, batch
                batch.append(self)
            else:
                self._send_raw(buffer)
            return
        stream = self._stream
        assert stream is not None
        try:
            # Shielded: a frame cut short by the sender's cancellation would corrupt the
            # stream for every other message. Closing the connection still ends the write.
            with trio.CancelScope(shield=True):
                await stream.send_all(buffer)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            self._lost(exc)
        finally:
            self._release()

    def _send_raw(self, buffer: bytearray) -> None:
        """Send what the kernel takes now, without a checkpoint; the writer task finishes the
        rest. The sender never waits and is never cancelled mid-frame. Called with `_busy` set.
        """
        assert self._raw is not None
        try:
            sent = self._raw.send(buffer)
        except BlockingIOError:
            sent = 0
        except OSError as exc:
            self._lost(exc)
            self._release()
            return
        if sent < len(buffer):
            self._pending = memoryview(buffer)[sent:]
            self._wakeup.set()
            return  # `_busy` stays set: the writer task owns the rest of this frame
        self._release()

    def _uncork(self) -> None:
        """Send what a batch gathered for this connection."""
        buffer, self._corked, self._corked_by = self._corked, None, None
        if buffer is not None:
            self._send_raw(buffer)

    def _release(self) -> None:
        self._busy = False
        if not self.ctx.mailbox.empty:
            self._wakeup.set()

    def _lost(self, exc: BaseException) -> None:
        self._writable = False
        self._close_with(f"connection to {self.peer} lost: {exc}")
        self._scope.cancel()

    def _frame(self, message: LocalMessage, buffer: bytearray) -> None:
        try:
            encode_message_into(message.step(), buffer)
        except ProtocolError as exc:
            log.warning("%s: not sending a message to %s: %s", self.ctx.address, self.peer, exc)

    async def _reader(self, stream: trio.abc.Stream, scope: trio.CancelScope) -> None:
        decoder = WireDecoder()
        me = self.ctx.address
        send = self.ctx.node.router.send
        receive = raw_receiver(self._raw, READ_SIZE) if self._raw is not None else None
        try:
            while True:
                if receive is not None:
                    data = await receive()
                else:
                    data = bytes(await stream.receive_some(READ_SIZE))
                if not data:
                    self._close_with(f"{self.peer} closed the connection")
                    break
                messages = decoder.receive_data(data)
                with frame_batch() if len(messages) > 1 else contextlib.nullcontext():
                    for message in messages:
                        await send(
                            LocalMessage(
                                message.onward_route,
                                message.return_route.prepend(me),
                                message.payload,
                            )
                        )
        except ProtocolError as exc:
            self._close_with(f"protocol error from {self.peer}: {exc}")
            log.warning("closing connection %s from %s: %s", me, self.peer, exc)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError) as exc:
            self._close_with(f"connection to {self.peer} lost: {exc}")
        log.info("connection %s (%s) ended: %s", me, self.peer, self.close_reason)
        scope.cancel()
