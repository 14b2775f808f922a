"""A worker's bounded mailbox."""

from __future__ import annotations

import logging
import math
from collections.abc import Awaitable, Callable

import trio

from ._errors import MailboxClosed
from ._message import LocalMessage

DEFAULT_MAILBOX_SIZE = 64

log = logging.getLogger("ockam.actor")

HandleNow = Callable[[LocalMessage], Awaitable[bool]]
"""An actor's `try_handle_now`: handles a message in the sender's task, or returns False."""


class Mailbox:
    """A bounded queue of `LocalMessage`s for one worker.

    A full mailbox makes `put` wait: that is how backpressure travels back along a route.

    With `handle_now` (an actor's `Actor.try_handle_now`), `put` first offers the message to
    it whenever no earlier message is still in the mailbox, and queues it only when it answers
    False. See `Actor.try_handle_now` for the contract.
    """

    __slots__ = ("__weakref__", "_count", "_handle_now", "_owner", "_receive", "_send")

    def __init__(
        self,
        size: int | float = DEFAULT_MAILBOX_SIZE,
        *,
        handle_now: HandleNow | None = None,
        owner: object = "a worker",
    ) -> None:
        if size != math.inf and (not isinstance(size, int) or size < 1):
            raise ValueError(f"mailbox size must be a positive number, not {size!r}")
        self._send, self._receive = trio.open_memory_channel[LocalMessage](size)
        # Messages put and not yet taken, senders still waiting and messages handed to a
        # waiting receiver that has not run yet included: while it is not 0, a later message
        # must queue behind them. (trio's channel statistics cost an allocation per call.)
        self._count = 0
        self._handle_now = handle_now
        self._owner = owner

    async def put(self, message: LocalMessage) -> None:
        """Deliver `message`: handled at once by the actor's `try_handle_now` when nothing
        waits before it and the actor takes it, else queued, waiting while the mailbox is full.

        Raises:
            MailboxClosed: the worker has stopped.
        """
        handle_now = self._handle_now
        if handle_now is not None and self._count == 0:
            try:
                if await handle_now(message):
                    return
            except Exception:
                # A bug in the actor: the sender (a connection's reader, say) carries on.
                log.exception("%s failed on a message; the message is dropped", self._owner)
                return
        self._count += 1
        try:
            await self._send.send(message)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            self._count -= 1
            raise MailboxClosed("the worker has stopped") from None
        except BaseException:
            self._count -= 1  # cancelled while waiting: trio did not send it
            raise

    async def get(self) -> LocalMessage:
        """The next queued message, waiting for one."""
        message = await self._receive.receive()
        self._count -= 1
        return message

    def get_nowait(self) -> LocalMessage:
        """The next queued message now; raises `trio.WouldBlock` when empty."""
        message = self._receive.receive_nowait()
        self._count -= 1
        return message

    def close(self) -> None:
        """Refuse further messages and drop the queued ones."""
        self._send.close()
        self._receive.close()
        self._handle_now = None

    @property
    def empty(self) -> bool:
        """True when no message waits, none is on its way to a waiting receiver, and no sender
        is blocked on the mailbox."""
        return self._count == 0
