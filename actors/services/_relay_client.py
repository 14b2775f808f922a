"""The registering side of a relay: the actor that keeps a relay alive.

When to register and what the answers mean is `RelayRegistration`'s (sans-IO); this actor
sends, receives and watches the connection for it.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Literal

import msgspec
import trio

from .._actor import Actor
from .._address import Route, local
from .._errors import OckamError, TransportError
from .._supervisor import TEMPORARY
from ._relay_protocol import RELAY_PREFIX, RELAY_SERVICE
from ._relay_registration import RelayDown, RelayRegistration, RelayUp, SendRegister

if TYPE_CHECKING:
    from .._node import Node

log = logging.getLogger("ockam.relay")


class RelayInfo(msgspec.Struct, frozen=True):
    """A relay as seen from the node that registered it (`relay list`)."""

    name: str
    remote_address: str
    worker_address: str
    at: str
    status: Literal["up", "down"]


RouteRefresh = Callable[[Route], Awaitable[Route]]
"""Given the route to the relay node, the route to use now: with a new secure channel in
place of one that ended (`secure.SecureChannels.refresh`, or the CLI node resolving the
relay's `/project/NAME` route again)."""


class _CarrierDown:
    """The event a carrier watcher posts: the connection that carries the relay closed."""


_CARRIER_DOWN = _CarrierDown()


class RelayClient(Actor):
    """Registers a relay on a relay service and keeps it registered.

    The I/O shell of a `RelayRegistration`, which decides when to register and what the
    answers mean: this actor sends what it says, feeds it the answers, the carrier's end and
    its deadlines, and watches the connection to the relay node while the relay is up.

    With `refresh`, each registration first passes the route to the relay node through it, so
    a relay registered through a secure channel (`--at /project/NAME`) is registered again
    through a new channel once the old one ended (the relay node restarted).

    Messages the relay forwards arrive here with this worker first on their onward route; it
    steps aside and routes them on. Replies to registrations come with nothing after it.
    """

    mailbox_size = 256

    def __init__(
        self,
        relay_node: Route,
        registration: RelayRegistration,
        *,
        refresh: RouteRefresh | None = None,
    ) -> None:
        self.registration = registration
        self.name = registration.name
        self.relay_node = relay_node
        self.refresh = refresh
        self._service = relay_node + Route((local(RELAY_SERVICE),))
        self._events: trio.MemoryReceiveChannel[bytes | _CarrierDown]
        self._post, self._events = trio.open_memory_channel[bytes | _CarrierDown](8)

    @property
    def up(self) -> bool:
        """The relay is registered."""
        return self.registration.up

    @property
    def remote_address(self) -> str:
        """The relay's address on the relay node, once registered."""
        return self.registration.address

    def info(self) -> RelayInfo:
        """This relay as `relay list` shows it."""
        return RelayInfo(
            name=self.name,
            remote_address=f"/service/{self.remote_address or RELAY_PREFIX + self.name}",
            worker_address=f"/service/{self.ctx.address.value}",
            at=self.registration.at,
            status="up" if self.up else "down",
        )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._dispatch)
            await nursery.start(self._keep_registered, nursery)
            task_status.started()

    async def _dispatch(self) -> None:
        mailbox = self.ctx.mailbox
        while True:
            message = await mailbox.get()
            if len(message.onward_route) > 1:
                await self.ctx.forward(message)
            else:
                try:
                    self._post.send_nowait(message.payload)
                except trio.WouldBlock:
                    log.warning("relay %s: dropped an unexpected reply", self.name)

    async def _keep_registered(
        self,
        nursery: trio.Nursery,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        """Carry out what the registration says until the actor stops; ready at the first
        `RelayUp`, and the first registration's failure raised from here."""
        registration = self.registration
        pending = deque(registration.start(trio.current_time()))
        watcher: trio.CancelScope | None = None
        while True:
            while pending:
                action = pending.popleft()
                if isinstance(action, SendRegister):
                    reason = await self._refreshed()
                    if reason is None and not await self.ctx.send_to(self._service, action.payload):
                        reason = f"cannot reach {self.relay_node}"
                    if reason is not None:
                        pending.extend(registration.unreachable(reason, trio.current_time()))
                elif isinstance(action, RelayUp):
                    watcher = await nursery.start(self._watch_carrier)
                    if action.first:
                        task_status.started()
                    else:
                        log.info("relay %s is back at %s", self.name, action.address)
                elif isinstance(action, RelayDown):
                    if watcher is not None:
                        watcher.cancel()
                    log.warning("relay %s: %s", self.name, action.reason)
                else:
                    raise action.exception()
            with trio.move_on_at(registration.deadline):
                event = await self._events.receive()
                now = trio.current_time()
                if isinstance(event, _CarrierDown):
                    pending.extend(registration.carrier_down(now))
                else:
                    pending.extend(registration.reply(event, now))
                continue
            pending.extend(registration.timer(trio.current_time()))

    async def _refreshed(self) -> str | None:
        """Pass the route to the relay node through `refresh`; why it failed, if it did."""
        if self.refresh is None:
            return None
        try:
            fresh = await self.refresh(self.relay_node)
        except OckamError as exc:
            return f"cannot reach {self.registration.at}: {exc}"
        if fresh != self.relay_node:
            self.relay_node = fresh
            self._service = fresh + Route((local(RELAY_SERVICE),))
        return None

    async def _watch_carrier(
        self, *, task_status: trio.TaskStatus[trio.CancelScope] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Post `_CARRIER_DOWN` when the connection the relay's route starts with stops."""
        with trio.CancelScope() as scope:
            task_status.started(scope)
            try:
                first = await self.ctx.node.router.resolve(self.relay_node.next)
            except TransportError:
                pass
            else:
                await self.ctx.node.monitor(first).wait()
            await self._post.send(_CARRIER_DOWN)


async def start_relay(
    node: Node,
    *,
    at: Route,
    name: str = "default",
    heartbeat: float = 5.0,
    refresh: RouteRefresh | None = None,
    label: str | None = None,
) -> RelayClient:
    """Register the relay `forward_to_<name>` on the relay service at the node `at` leads to.

    Returns once the relay service answered; the client then keeps the relay registered.
    `refresh` renews `at` before each registration (see `RelayClient`); `label` is how the
    relay's `at` is shown (default: `at`), e.g. ``/project/default`` as typed.

    Raises:
        RelayError: the name is invalid or the relay service refused it.
        TransportError: the relay node cannot be reached.
        RequestTimeout: the relay service did not answer in time.
    """
    registration = RelayRegistration(name, at=label or str(at), heartbeat=heartbeat)
    client = RelayClient(at, registration, refresh=refresh)
    await node.start_actor(client, policy=TEMPORARY)
    return client
