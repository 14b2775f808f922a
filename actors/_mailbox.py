"""A worker's bounded mailbox."""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable

import msgspec
import trio

from ._errors import MailboxClosed
from ._message import LocalMessage

DEFAULT_MAILBOX_SIZE = 64

log = logging.getLogger("ockam.actor")


class MailboxStatistics(msgspec.Struct, frozen=True):
    """A snapshot of a mailbox: messages waiting, its bound, and senders blocked on it."""

    queued: int
    capacity: float
    blocked_senders: int


class Mailbox:
    """A bounded queue of `LocalMessage`s for one worker.

    A full mailbox makes `put` wait: that is how backpressure travels back along a route.
    """

    __slots__ = ("__weakref__", "_count", "_receive", "_send")

    def __init__(self, size: int | float = DEFAULT_MAILBOX_SIZE) -> None:
        if size != math.inf and (not isinstance(size, int) or size < 1):
            raise ValueError(f"mailbox size must be a positive number, not {size!r}")
        self._send, self._receive = trio.open_memory_channel[LocalMessage](size)
        # Messages put and not yet taken, senders still waiting included: `empty` is asked on
        # every message of the data path, and trio's channel statistics cost an allocation.
        self._count = 0

    async def put(self, message: LocalMessage) -> None:
        """Queue `message`, waiting while the mailbox is full."""
        self._count += 1
        try:
            await self._send.send(message)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            self._count -= 1
            raise MailboxClosed("the worker has stopped") from None
        except BaseException:
            self._count -= 1  # cancelled while waiting: trio did not send it
            raise

    def put_nowait(self, message: LocalMessage) -> None:
        """Queue `message` now; raises `trio.WouldBlock` when full."""
        try:
            self._send.send_nowait(message)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            raise MailboxClosed("the worker has stopped") from None
        self._count += 1

    async def get(self) -> LocalMessage:
        """The next message, waiting for one."""
        message = await self._receive.receive()
        self._count -= 1
        return message

    def get_nowait(self) -> LocalMessage:
        """The next message now; raises `trio.WouldBlock` when empty."""
        message = self._receive.receive_nowait()
        self._count -= 1
        return message

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

    @property
    def empty(self) -> bool:
        """True when no message waits, none is on its way to a waiting receiver, and no sender
        is blocked on the mailbox."""
        return self._count == 0


class InlineMailbox(Mailbox):
    """The mailbox of a stateless forwarder (a relay, a hop): `put` runs the handler in the
    sender's task.

    On the data path this saves a task switch per message and per forwarder. The sender waits
    until the message was handed on, so ordering and backpressure are those of the next
    mailbox. A handler that raises loses that one message, with a log line naming `owner`.
    """

    __slots__ = ("_handler", "_owner")

    def __init__(self, handler: Callable[[LocalMessage], Awaitable[None]], *, owner: str) -> None:
        super().__init__(1)
        self._handler = handler
        self._owner = owner

    async def put(self, message: LocalMessage) -> None:
        """Handle `message` now, in the caller's task."""
        try:
            await self._handler(message)
        except Exception:
            log.exception("%s failed on a message; the message is dropped", self._owner)

    def put_nowait(self, message: LocalMessage) -> None:
        """Inline mailboxes only take messages with `put`."""
        raise trio.WouldBlock
