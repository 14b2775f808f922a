"""The relay service and its relay workers.

The service starts a relay worker at `forward_to_<name>` for each registration; the worker sends
every message it gets along the route the registration came from, back to the registering
node. A second registration of the same name replaces the route.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio

from .._actor import Actor
from .._address import Address, Route, local
from .._errors import AddressInUse
from .._message import LocalMessage
from .._supervisor import TEMPORARY
from ._relay_protocol import RELAY_PREFIX, RelayError, read_registration, refusal, registered

log = logging.getLogger("ockam.relay")


class RelayWorker(Actor):
    """Sends every message it receives along `forward_route`, in place of its own address.

    It stops when the connection that carries its route goes down, so senders learn at once
    that the relay is gone instead of feeding a dead route.
    """

    def __init__(self, name: str, forward_route: Route) -> None:
        self.name = name
        self.forward_route = forward_route
        self._carrier_changed = trio.Event()

    async def try_handle_now(self, message: LocalMessage) -> bool:
        """Forward in the sender's task: a relay worker keeps no state between messages."""
        await self.handle_message(message)
        return True

    def replace_route(self, forward_route: Route) -> None:
        """Use `forward_route` from now on (a re-registration)."""
        self.forward_route = forward_route
        self._carrier_changed.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._watch_carrier, nursery.cancel_scope)
            await super().run(task_status=task_status)

    async def _watch_carrier(self, scope: trio.CancelScope) -> None:
        while True:
            changed = self._carrier_changed = trio.Event()
            first = self.forward_route.next
            if first.is_local and self.ctx.node.router.is_registered(first):
                stopped = self.ctx.node.monitor(first)
                await wait_any(stopped, changed)
                if not changed.is_set():
                    log.info("relay %s: its connection went down; stopping", self.ctx.address.text)
                    scope.cancel()
                    return
            else:
                await changed.wait()

    async def handle_message(self, message: LocalMessage) -> None:
        onward = self.forward_route + message.onward_route.pop_front()
        await self.ctx.send(LocalMessage(onward, message.return_route, message.payload))


async def wait_any(*events: trio.Event) -> None:
    """Return as soon as one of `events` is set."""
    async with trio.open_nursery() as nursery:
        for event in events:

            async def wait(event: trio.Event = event) -> None:
                await event.wait()
                nursery.cancel_scope.cancel()

            nursery.start_soon(wait)


Authorize = Callable[[str, Route], str | None]
"""A relay service's check of a registration: the relay name and the registration's return
route (its first hop is what the registration came through, e.g. a secure channel end) in,
the reason for refusing it out (None: allowed)."""


class RelayService(Actor):
    """The relay service (`forwarding_service`, alias `static_forwarding_service`).

    Args:
        authorize: Checks each registration before its relay is made (see `Authorize`); a
            reason it returns is logged and sent back in the `Refused` reply. None: every
            registration is allowed (a plain node's relay service).
        make_relay: Makes the relay worker of a registration (name, forward route): a
            `RelayWorker` or a subclass (one that checks who sends through it, say).
    """

    def __init__(
        self,
        *,
        authorize: Authorize | None = None,
        make_relay: Callable[[str, Route], RelayWorker] = RelayWorker,
    ) -> None:
        self.authorize = authorize
        self.make_relay = make_relay

    async def handle_message(self, message: LocalMessage) -> None:
        nonce = ""
        try:
            request = read_registration(message.payload)
            name, nonce = request.name, request.nonce
            if not message.return_route:
                raise RelayError("a registration needs a return route")
            if self.authorize is not None:
                reason = self.authorize(name, message.return_route)
                if reason is not None:
                    raise RelayError(reason)
            address = await self._register(name, message.return_route)
        except RelayError as exc:
            log.warning("relay registration refused: %s", exc)
            await self.ctx.reply(message, refusal(str(exc), nonce))
            return
        await self.ctx.reply(message, registered(address.value, nonce))

    async def _register(self, name: str, forward_route: Route) -> Address:
        address = local(RELAY_PREFIX + name)
        existing = self.ctx.node.actor_at(address)
        if isinstance(existing, RelayWorker):
            if existing.forward_route != forward_route:
                existing.replace_route(forward_route)
                log.info("relay %s now forwards to %s", address.text, forward_route)
            return address
        if existing is not None:
            raise RelayError(f"{address.text} is taken by another worker")
        try:
            await self.ctx.node.start_actor(
                self.make_relay(name, forward_route), address, policy=TEMPORARY
            )
        except AddressInUse:
            raise RelayError(f"{address.text} is taken by another worker") from None
        log.info("relay %s created, forwarding to %s", address.text, forward_route)
        return address
