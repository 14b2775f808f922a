"""A node process's state as the control API sees it, and how it stops.

Every control request handler takes the node's `NodeController`: the node, its portals, the
relays it registered, and its secure channels once the secure channel feature has set them up.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import trio

from actors import OckamError, RelayClient, Route
from portals import Portals
from secure import ProjectAccess, SecureChannels, resolve_secure_route
from transports import NetworkNode

from ._control import ControlError

log = logging.getLogger("ockam.control")

Handler = Callable[["NodeController", Any], Awaitable[Any]]
"""A control request handler: the node's controller and the request in, the result out."""

Hook = Callable[["NodeController"], Awaitable[None]]
"""A coroutine run once on a node process: at start (setup) or when it stops (shutdown)."""

SHUTDOWN_HOOK_TIMEOUT = 2.0
"""Seconds each shutdown hook may take."""


class NotFound(OckamError):
    """The request names something the node does not have."""


class NotInProject(OckamError):
    """A route names a project the node is not in."""


class NodeController:
    """A node's state as the control API sees it: the node, its portals, relays and channels.

    `shutdown_hooks` run, in order, when the node is asked to stop, while its actors still run
    (secure channels tell their peers they close there).
    """

    def __init__(
        self,
        node: NetworkNode,
        *,
        pid: int,
        listener: str,
        shutdown_hooks: Sequence[Hook] = (),
    ) -> None:
        self.node = node
        self.pid = pid
        self.listener = listener
        self.portals = Portals(node)
        self.relays: dict[str, RelayClient] = {}
        self.secure: SecureChannels | None = None
        """The node's secure channels, once the secure channel feature has set them up."""
        self.identifier = ""
        self.identity_name = ""
        self.projects: dict[str, ProjectAccess] = {}
        """The projects the node is in, by name (`node create --project`), for `/project/NAME`."""
        self.http_server = ""
        """`host:port` of the node's HTTP status server; empty when it has none."""
        self.home = Path(".")
        self.shutdown_hooks = tuple(shutdown_hooks)
        self._stopping = False

    async def stop(self) -> None:
        """Stop the node: run the shutdown hooks first, then cancel its root nursery.

        A second call (a second signal, say) does not wait for the hooks a first call runs.
        """
        if not self._stopping:
            self._stopping = True
            await run_hooks_bounded(self, self.shutdown_hooks)
        self.node.shutdown()

    async def route(self, text: str, *, channels: SecureChannels | None = None) -> Route:
        """The route in `text`, which the CLI already resolved but for local segments.

        Each `/secure/LISTENER` opens a secure channel from this node to that listener, or
        reuses a live one, and `/project/NAME` one to the project node (see
        `secure.resolve_secure_route`), with `channels` (default: the node's own).

        Raises:
            NotInProject: `text` names a project the node is not in.
        """
        return await resolve_secure_route(
            text, self.secure if channels is None else channels, projects=self.project
        )

    def project(self, name: str) -> ProjectAccess:
        """Project `name`, which this node is in.

        Raises:
            NotInProject: It is not.
        """
        project = self.projects.get(name)
        if project is None:
            raise NotInProject(
                f"node {self.node.name} is not in project {name}: create it with --project"
            )
        return project

    def channels(self) -> SecureChannels:
        """The node's secure channels.

        Raises:
            ControlError: The secure channel feature has not set them up (yet).
        """
        if self.secure is None:
            raise ControlError(f"node {self.node.name} has no secure channels set up")
        return self.secure

    def not_found(self, noun: str, key: str) -> NotFound:
        """The error for a request naming a `noun` (`TCP outlet`) the node does not have, in
        the words of Ockam's (`TCP listener with address … was not found on Node n1`)."""
        return NotFound(
            f"{noun[0].upper()}{noun[1:]} {key!r} was not found on node {self.node.name}"
        )


async def run_hooks_bounded(controller: NodeController, hooks: Sequence[Hook]) -> None:
    """Run `hooks` in order, each cut off after `SHUTDOWN_HOOK_TIMEOUT` seconds; one that
    fails is logged, and none can keep the rest from running."""
    for hook in hooks:
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
