"""Built-in services every Ockam user knows: echo, uppercase, hop."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any, cast

import msgspec

from .._actor import Actor
from .._message import LocalMessage
from .._plugins import PluginError, load_plugin
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


BUILTIN_SERVICES: dict[str, type[Actor]] = {
    "echo": Echo,
    "uppercase": Uppercase,
    "hop": Hop,
    RELAY_SERVICE: RelayService,
}
"""Services a node can start by name: `service start NAME`."""

SERVICE_ALIASES: dict[str, tuple[str, ...]] = {RELAY_SERVICE: (STATIC_RELAY_SERVICE,)}
"""Extra addresses a built-in service answers at, under its default address."""


def make_service(name: str, config: Mapping[str, Any] | msgspec.Struct | None = None) -> Actor:
    """A new actor of the built-in or plugin service `name`, configured by `config` (checked
    against the class's `Options`; None: the options' defaults).

    Raises:
        PluginError: no service of that name, a plugin that does not load, a configuration
            for a service that takes none, or one its `Options` refuse (the reason chained).
    """
    cls = BUILTIN_SERVICES.get(name) or load_plugin(name)
    options_type = getattr(cls, "Options", None)
    if options_type is None:
        if config is not None:
            raise PluginError(f"service {name!r} takes no configuration")
        return cls()
    if isinstance(config, options_type):
        options = config
    else:
        try:
            options = msgspec.convert(config or {}, options_type)
        except msgspec.ValidationError as exc:
            raise PluginError(f"invalid configuration for service {name!r}: {exc}") from exc
    return cast("Callable[[msgspec.Struct], Actor]", cls)(options)


async def start_service(
    node: Node,
    name: str,
    *,
    address: str | None = None,
    config: Mapping[str, Any] | msgspec.Struct | None = None,
) -> Context:
    """Start the built-in or plugin service `name` at `address` (default: its name).

    `config` configures a service whose class declares `Options` (see `Actor.Options`): a
    mapping (decoded JSON) or an instance of those options.

    Raises:
        PluginError: see `make_service`.
    """
    actor = make_service(name, config)
    aliases = SERVICE_ALIASES.get(name, ()) if address is None else ()
    return await node.start_actor(actor, address or name, aliases=aliases, service=True)
