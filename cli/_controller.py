"""A node process's state as the control API sees it, and the registries that extend it.

`handles` registers a coroutine as the handler of a control request type; `SETUP_HOOKS` run when
a node process starts, `SHUTDOWN_HOOKS` when it stops (secure channels register theirs).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import trio

from actors import OckamError, RelayClient, Route
from portals import Portals
from secure import SecureChannels, resolve_secure_route
from transports import NetworkNode

from ._control import ControlError, Request

log = logging.getLogger("ockam.control")

R = TypeVar("R", bound=Request)
Handler = Callable[["NodeController", Any], Awaitable[Any]]
HANDLERS: dict[type[Request], Handler] = {}


def handles(
    request_type: type[R],
) -> Callable[[Callable[[NodeController, R], Awaitable[Any]]], Any]:
    """Register the decorated coroutine as the handler of `request_type`."""

    def register(function: Callable[[NodeController, R], Awaitable[Any]]) -> Any:
        HANDLERS[request_type] = function
        return function

    return register


class NotFound(OckamError):
    """The request names something the node does not have."""


class NodeController:
    """A node's state as the control API sees it: the node, its portals and its relays."""

    def __init__(self, node: NetworkNode, *, pid: int, listener: str) -> None:
        self.node = node
        self.pid = pid
        self.listener = listener
        self.portals = Portals(node)
        self.relays: dict[str, RelayClient] = {}
        self.identifier = ""
        self.identity_name = ""
        self.home = Path(".")
        self._stopping = False

    async def stop(self) -> None:
        """Stop the node: run the `SHUTDOWN_HOOKS` first, then cancel its root nursery.

        A second call (a second signal, say) does not wait for the hooks a first call runs.
        """
        if not self._stopping:
            self._stopping = True
            await run_shutdown_hooks(self)
        self.node.shutdown()

    async def handle(self, request: Request) -> Any:
        """Run the handler of `request` and return its result."""
        handler = HANDLERS.get(type(request))
        if handler is None:
            raise ControlError(f"this node does not support {type(request).__name__}")
        return await handler(self, request)

    async def route(self, text: str) -> Route:
        """The route in `text`, which the CLI already resolved but for local segments.

        Each `/secure/LISTENER` opens a secure channel from this node to that listener, or
        reuses a live one (see `secure.resolve_secure_route`).
        """
        channels = getattr(self, "secure", None)
        return await resolve_secure_route(
            text, channels if isinstance(channels, SecureChannels) else None
        )


ExtraSetup = Callable[[NodeController], Awaitable[None]]
SETUP_HOOKS: list[ExtraSetup] = []
"""Coroutines run on each node process at start (secure channels add their listener here)."""

ShutdownHook = Callable[[NodeController], Awaitable[None]]
SHUTDOWN_HOOKS: list[ShutdownHook] = []
"""Coroutines run, in order, when a node process is asked to stop, while its actors still run
(secure channels tell their peers they close here). Each is cut off after
`SHUTDOWN_HOOK_TIMEOUT` seconds, and one that fails is logged: the node stops regardless."""

SHUTDOWN_HOOK_TIMEOUT = 2.0
"""Seconds each shutdown hook may take."""


async def run_shutdown_hooks(controller: NodeController) -> None:
    """Run every `SHUTDOWN_HOOKS` coroutine in order, each bounded, none able to stop the rest."""
    for hook in SHUTDOWN_HOOKS:
        name = getattr(hook, "__qualname__", repr(hook))
        with trio.move_on_after(SHUTDOWN_HOOK_TIMEOUT) as scope:
            try:
                await hook(controller)
            except Exception:
                log.exception("shutdown hook %s failed; stopping anyway", name)
        if scope.cancelled_caught:
            log.warning(
                "shutdown hook %s did not finish within %g s; stopping anyway",
                name,
                SHUTDOWN_HOOK_TIMEOUT,
            )
