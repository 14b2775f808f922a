"""A worker's bounded mailbox."""

from __future__ import annotations

import math

import msgspec
import trio

from ._errors import MailboxClosed
from ._message import LocalMessage

DEFAULT_MAILBOX_SIZE = 64


class MailboxStatistics(msgspec.Struct, frozen=True):
    """A snapshot of a mailbox: messages waiting, its bound, and senders blocked on it."""

    queued: int
    capacity: float
    blocked_senders: int


class Mailbox:
    """A bounded queue of `LocalMessage`s for one worker.

    A full mailbox makes `put` wait: that is how backpressure travels back along a route.
    """

    __slots__ = ("_receive", "_send")

    def __init__(self, size: int | float = DEFAULT_MAILBOX_SIZE) -> None:
        if size != math.inf and (not isinstance(size, int) or size < 1):
            raise ValueError(f"mailbox size must be a positive number, not {size!r}")
        self._send, self._receive = trio.open_memory_channel[LocalMessage](size)

    async def put(self, message: LocalMessage) -> None:
        """Queue `message`, waiting while the mailbox is full."""
        try:
            await self._send.send(message)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            raise MailboxClosed("the worker has stopped") from None

    def put_nowait(self, message: LocalMessage) -> None:
        """Queue `message` now; raises `trio.WouldBlock` when full."""
        try:
            self._send.send_nowait(message)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            raise MailboxClosed("the worker has stopped") from None

    async def get(self) -> LocalMessage:
        """The next message, waiting for one."""
        return await self._receive.receive()

    def get_nowait(self) -> LocalMessage:
        """The next message now; raises `trio.WouldBlock` when empty."""
        return self._receive.receive_nowait()

    def close(self) -> None:
        """Refuse further messages and drop the queued ones."""
        self._send.close()
        self._receive.close()

    def statistics(self) -> MailboxStatistics:
        """A snapshot of the mailbox's state."""
        stats = self._send.statistics()
        return MailboxStatistics(
            queued=stats.current_buffer_used,
            capacity=stats.max_buffer_size,
            blocked_senders=stats.tasks_waiting_send,
        )
