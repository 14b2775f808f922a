"""Built-in services every Ockam user knows: echo, uppercase, hop."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .._actor import Actor
from .._message import LocalMessage
from .._plugins import load_plugin
from ._relay import RelayService
from ._relay_protocol import RELAY_SERVICE, STATIC_RELAY_SERVICE

if TYPE_CHECKING:
    from .._actor import Context
    from .._node import Node


class Echo(Actor):
    """Replies with the payload it received."""

    async def handle_message(self, message: LocalMessage) -> None:
        await self.ctx.reply(message, message.payload)


class Uppercase(Actor):
    """Replies with the payload upper-cased (ASCII letters only; other bytes unchanged)."""

    async def handle_message(self, message: LocalMessage) -> None:
        await self.ctx.reply(message, message.payload.upper())


class Hop(Actor):
    """Forwards each message one step on, adding itself to the return route so replies come back
    through it. Stateless, so it forwards in the sender's task (`try_handle_now`)."""

    async def try_handle_now(self, message: LocalMessage) -> bool:
        await self.handle_message(message)
        return True

    async def handle_message(self, message: LocalMessage) -> None:
        await self.ctx.send(message.hop_through(self.ctx.address))


BUILTIN_SERVICES: dict[str, Callable[[], Actor]] = {
    "echo": Echo,
    "uppercase": Uppercase,
    "hop": Hop,
    RELAY_SERVICE: RelayService,
}
"""Services a node can start by name: `service start NAME`."""

SERVICE_ALIASES: dict[str, tuple[str, ...]] = {RELAY_SERVICE: (STATIC_RELAY_SERVICE,)}
"""Extra addresses a built-in service answers at, under its default address."""


async def start_service(node: Node, name: str, *, address: str | None = None) -> Context:
    """Start the built-in or plugin service `name` at `address` (default: its name).

    Raises:
        PluginError: no built-in service and no plugin of that name.
    """
    factory = BUILTIN_SERVICES.get(name) or load_plugin(name)
    aliases = SERVICE_ALIASES.get(name, ()) if address is None else ()
    return await node.start_actor(factory(), address or name, aliases=aliases, service=True)
