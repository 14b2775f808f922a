"""The node's registry: its running actors, by address and by class, in one table."""

from __future__ import annotations

import trio

from ._actor import Actor, Context
from ._address import Address


class Running:
    """One registered actor: what the registry's indexes point to.

    `reaches` are the non-local addresses it carries messages to; `scope` stops it, `stopped`
    is set when its task has ended.
    """

    __slots__ = ("actor", "addresses", "mailbox", "reaches", "scope", "service", "stopped")

    def __init__(
        self, actor: Actor, ctx: Context, *, service: bool, reaches: tuple[Address, ...] = ()
    ) -> None:
        self.actor = actor
        self.addresses = ctx.addresses
        self.mailbox = ctx.mailbox
        self.reaches = reaches
        self.service = service
        self.scope = trio.CancelScope()
        self.stopped = trio.Event()


class Registry:
    """The node's one table of its actors, indexed by each address and by each actor class.

    An actor enters when it starts and leaves when it stops (or is asked to stop); the same
    entry lives across the actor's restarts.
    """

    __slots__ = ("_by_address", "_by_type")

    def __init__(self) -> None:
        self._by_address: dict[Address, Running] = {}
        # Per class, the entries in start order (a dict is an ordered set).
        self._by_type: dict[type[Actor], dict[Running, None]] = {}

    def add(self, running: Running) -> None:
        """Index `running` under each of its addresses and classes, and under each address it
        reaches that no other actor reaches yet."""
        for address in running.addresses:
            self._by_address[address] = running
        for address in running.reaches:
            self._by_address.setdefault(address, running)
        for cls in _actor_classes(type(running.actor)):
            self._by_type.setdefault(cls, {})[running] = None

    def remove(self, running: Running) -> None:
        """Forget `running`; its addresses are left alone when another actor took them since."""
        for address in (*running.addresses, *running.reaches):
            if self._by_address.get(address) is running:
                del self._by_address[address]
        for cls in _actor_classes(type(running.actor)):
            entries = self._by_type.get(cls)
            if entries is not None:
                entries.pop(running, None)
                if not entries:
                    del self._by_type[cls]

    def at(self, address: Address) -> Running | None:
        """The actor registered at `address` (primary, alias, or an address it reaches)."""
        return self._by_address.get(address)

    def of(self, cls: type[Actor]) -> list[Running]:
        """The actors that are instances of `cls`, in start order."""
        return list(self._by_type.get(cls, ()))

    def all(self) -> list[Running]:
        """Every registered actor, in start order."""
        return self.of(Actor)


def _actor_classes(cls: type[Actor]) -> list[type[Actor]]:
    """The classes of `cls`'s MRO that are actors, `Actor` itself included."""
    return [c for c in cls.__mro__ if isinstance(c, type) and issubclass(c, Actor)]
