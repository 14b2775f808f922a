"""The Actor base class and the Context an actor uses to reach the rest of its node."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, ClassVar

import msgspec
import trio

from ._address import Address, Route
from ._error_reply import ErrorReply, error_reply, read_error_reply
from ._mailbox import DEFAULT_MAILBOX_SIZE, Mailbox
from ._message import LocalMessage

if TYPE_CHECKING:
    from ._node import Node

log = logging.getLogger("ockam.actor")


class Context:
    """An actor's view of its node: its addresses, its mailbox, and ways to send."""

    __slots__ = ("addresses", "mailbox", "node")

    def __init__(self, node: Node, addresses: tuple[Address, ...], mailbox: Mailbox) -> None:
        self.node = node
        self.addresses = addresses
        self.mailbox = mailbox

    @property
    def address(self) -> Address:
        """The actor's primary address."""
        return self.addresses[0]

    async def send(self, message: LocalMessage) -> bool:
        """Route `message` by its onward route; False when it was dropped."""
        return await self.node.router.send(message)

    async def send_to(self, route: Route, payload: bytes) -> bool:
        """Send `payload` along `route`, with this actor as the return route."""
        return await self.node.router.send(LocalMessage(route, Route((self.address,)), payload))

    async def reply(self, message: LocalMessage, payload: bytes) -> bool:
        """Answer `message` along its return route."""
        return await self.node.router.send(message.reply(payload, sender=self.address))

    async def forward(self, message: LocalMessage) -> bool:
        """Pop this actor off `message`'s onward route and send it on."""
        return await self.node.router.send(message.step())


class Actor:
    """A worker: one mailbox, one task, one message at a time.

    Subclasses override `handle_message`. An actor that owns other tasks or I/O (a connection,
    a portal) overrides `run` and starts them in its own nursery; whatever `run` leaves behind
    is cancelled when the actor stops.

    The node sets `self.ctx` before `run` is called.
    """

    mailbox_size: ClassVar[int | float] = DEFAULT_MAILBOX_SIZE
    """How many messages may wait in this actor's mailbox before senders wait."""

    Options: ClassVar[type[msgspec.Struct] | None] = None
    """A service that takes configuration names its msgspec Struct here and takes one
    instance in its constructor (`__init__(self, options)`); `start_service(..., config=...)`
    and `ockam service start NAME --config JSON` validate the configuration against it. None:
    the constructor takes no arguments."""

    ctx: Context

    def __str__(self) -> str:
        ctx = getattr(self, "ctx", None)
        name = type(self).__name__
        return name if ctx is None else f"{ctx.address.text} ({name})"

    def make_mailbox(self) -> Mailbox:
        """The bounded mailbox the node registers for this actor, offering each message to
        `try_handle_now` first when the actor's class overrides it."""
        handles_now = type(self).try_handle_now is not Actor.try_handle_now
        return Mailbox(
            self.mailbox_size, handle_now=self.try_handle_now if handles_now else None, owner=self
        )

    async def try_handle_now(self, message: LocalMessage) -> bool:
        """Handle `message` in the sender's task instead of queueing it; False to queue it.

        The one shortcut on the data path: `Mailbox.put` calls it, so a forwarder (hop,
        relay), a connection (frame and write now) or a portal (write the payload now) saves a
        task switch per message and per hop. The default queues every message for
        `handle_message`. An override keeps to this contract (tests/actor/test_mailbox.py):

        - **Ordering.** It is called only while no earlier message is in the mailbox (queued,
          or handed to the actor's task and not yet taken), so what it handles never
          overtakes a queued message. If the actor's own task may still be acting on a
          message it took, the override answers False until that is done (a flag set right
          after `get`, before any checkpoint, tells it).
        - **Readiness.** It is called from the moment the actor is registered, before `run`
          has set anything up, and until the actor stops: answer False until ready.
        - **Backpressure.** It may wait only for what a queued message would wait for (the
          next mailbox, a full write buffer); the sender waits meanwhile, as on a full
          mailbox. It never waits for its own actor's task.
        - **Cancellation.** The sender may be cancelled at any checkpoint inside it: leave
          nothing half done (a frame is written without a checkpoint, or not at all). A
          cancelled call has either handled the message or not, like a cancelled `put`.
        - **Errors.** An exception is a bug in the actor: it is logged with the actor's name,
          the message is dropped, and the sender carries on.
        """
        return False

    def carries_to(self) -> str | None:
        """The peer this actor carries messages to (a connection's `host:port`), or None.

        A request that times out past this actor names it: that node's log says why.
        """
        return None

    async def on_start(self) -> None:
        """Called before the actor reports ready, and again after each restart."""

    async def handle_message(self, message: LocalMessage) -> None:
        """Handle one message. The default drops it with a log line."""
        log.warning(
            "%s (%s) has no handler; dropped a message", self.ctx.address.text, type(self).__name__
        )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Take messages from the mailbox one at a time until cancelled."""
        await self.on_start()
        task_status.started()
        mailbox = self.ctx.mailbox
        while True:
            try:
                message = await mailbox.get()
            except (trio.EndOfChannel, trio.ClosedResourceError):
                return
            try:
                await self.handle_message(message)
            except Exception as exc:
                await self.report_failure(message, exc)
                raise

    async def report_failure(self, message: LocalMessage, exc: Exception) -> None:
        """Tell whoever sent `message` that handling it raised `exc` (an `ErrorReply` along
        its return route), when it has a return route and is not itself an error reply.

        `run` calls it before the crash goes to the supervisor; an actor with its own `run`
        may call it too. Bounded to one second: a requester that does not read is skipped.
        """
        if not message.return_route or read_error_reply(message.payload) is not None:
            return
        reason = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        report = ErrorReply(
            at=str(Route((self.ctx.address,))), node=self.ctx.node.name, reason=reason
        )
        with trio.move_on_after(1):
            await self.ctx.reply(message, error_reply(report))
