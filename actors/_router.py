"""The node's routing table: local addresses to mailboxes, transport types to transports."""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Iterable
from typing import Protocol

from ._address import LOCAL, TRANSPORT_NAMES, Address, Route
from ._errors import AddressInUse, MailboxClosed, RouteNotFound, TransportError, WorkerStopped
from ._mailbox import Mailbox
from ._message import LocalMessage

log = logging.getLogger("ockam.router")

STOPPED_MEMORY = 4096
"""How many addresses of stopped workers the router remembers, to tell a late message for one
of them (logged at debug) from one for an address that never had a worker (a warning)."""


class Transport(Protocol):
    """What the router needs of a transport: turn a remote address into a local worker."""

    @property
    def transport_type(self) -> int:
        """The address type this transport resolves."""
        ...

    async def resolve(self, address: Address) -> Address:
        """The local address of a worker that carries messages to `address`.

        Opens a connection when none exists yet; raises `TransportError` when it cannot.
        """
        ...


class Router:
    """Delivers messages by the first address of their onward route.

    A local address goes to the mailbox registered under it; any other transport type is first
    resolved by that transport into the local address of a connection worker. A message to an
    address nobody has is dropped and logged: as a warning, unless a worker was there and has
    stopped (the other end of a portal or channel that closes a moment later sends a last
    message or two), which is logged at debug.
    """

    def __init__(self) -> None:
        self._mailboxes: dict[str, Mailbox] = {}
        self._stopped: OrderedDict[str, None] = OrderedDict()
        self._transports: dict[int, Transport] = {}
        self.dropped = 0

    def register(self, addresses: Iterable[Address], mailbox: Mailbox) -> None:
        """Deliver messages for each of `addresses` (local ones) to `mailbox`."""
        addresses = list(addresses)
        for address in addresses:
            if address.type != LOCAL:
                raise ValueError(f"only local addresses can be registered, not {address}")
            if address.value in self._mailboxes:
                raise AddressInUse(f"a worker is already registered at {address.text}")
        for address in addresses:
            self._mailboxes[address.value] = mailbox
            self._stopped.pop(address.value, None)

    def unregister(self, addresses: Iterable[Address], *, mailbox: Mailbox | None = None) -> None:
        """Forget `addresses`; unknown ones are ignored. With `mailbox`, only the addresses
        that still lead to it (an address another worker took since is left alone)."""
        for address in addresses:
            leads_here = mailbox is None or self._mailboxes.get(address.value) is mailbox
            if leads_here and self._mailboxes.pop(address.value, None) is not None:
                self._remember_stopped(address.value)

    def _remember_stopped(self, value: str) -> None:
        self._stopped[value] = None
        self._stopped.move_to_end(value)
        if len(self._stopped) > STOPPED_MEMORY:
            self._stopped.popitem(last=False)

    def is_registered(self, address: Address) -> bool:
        """True when a local worker answers at `address`."""
        return address.type == LOCAL and address.value in self._mailboxes

    def local_addresses(self) -> list[Address]:
        """Every registered local address."""
        return [Address(LOCAL, value) for value in self._mailboxes]

    def register_transport(self, transport: Transport) -> None:
        """Resolve addresses of `transport.transport_type` through `transport`."""
        self._transports[transport.transport_type] = transport

    async def resolve(self, address: Address) -> Address:
        """The local address that carries messages for `address`."""
        if address.type == LOCAL:
            return address
        transport = self._transports.get(address.type)
        if transport is None:
            name = TRANSPORT_NAMES.get(address.type, str(address.type))
            raise TransportError(f"no {name} transport on this node to reach {Route((address,))}")
        return await transport.resolve(address)

    async def send(self, message: LocalMessage) -> bool:
        """Deliver `message` to the worker named by its first onward address.

        Waits while that worker's mailbox is full. Returns False (and logs) when the message was
        dropped: empty route, unknown address, unreachable transport, or a stopped worker.
        """
        try:
            await self.deliver(message)
        except (RouteNotFound, TransportError) as exc:
            self.dropped += 1
            level = logging.DEBUG if isinstance(exc, WorkerStopped) else logging.WARNING
            log.log(
                level,
                "dropped a message (%d bytes) for %s: %s",
                len(message.payload),
                message.onward_route,
                exc,
            )
            return False
        return True

    async def deliver(self, message: LocalMessage) -> None:
        """Like `send`, but raise why a message cannot be delivered instead of dropping it.

        Raises:
            RouteNotFound: the route is empty, or no running worker is at its first address
                (`WorkerStopped` when one was there and has stopped).
            TransportError: its first address is remote and no connection reaches it.
        """
        onward = message.onward_route
        if not onward:
            raise RouteNotFound("the message's onward route is empty")
        first = onward.addresses[0]
        if first.type != LOCAL:
            resolved = await self.resolve(first)
            message = LocalMessage(
                onward.replace_front(resolved), message.return_route, message.payload
            )
            first = resolved
        mailbox = self._mailboxes.get(first.value)
        if mailbox is None:
            # The same words either way: to the sender, the address has no worker now.
            error = WorkerStopped if first.value in self._stopped else RouteNotFound
            raise error(f"no worker at {Route((first,))}")
        try:
            await mailbox.put(message)
        except MailboxClosed:
            raise WorkerStopped(f"the worker at {Route((first,))} has stopped") from None
