"""The TCP inlet: a listener actor, and a worker per accepted TCP connection."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import Literal

import trio

from actors import TEMPORARY, Actor, Address, NodeStopped, OckamError, Route, TransportError
from transports import open_tcp_listener, split_host_port

from ._outlet import CONNECT_TIMEOUT
from ._protocol import Disconnect, Ping, Pong, PortalProtocolError, PortalTimeout, Role, encode
from ._worker import PortalWorker, configure_socket

log = logging.getLogger("ockam.portal")

PING_TIMEOUT = 10.0
"""Seconds an inlet worker waits for the outlet's Pong before it closes its TCP connection."""

_REPLY_TIMEOUT = 1.0

Status = Literal["up", "down"]

Refresh = Callable[[Route], Awaitable[Route]]
"""Given an inlet's route, the route to use now (e.g. `SecureChannels.refresh`, which puts a
new secure channel in place of one that ended)."""


class InletListener(Actor):
    """An inlet: listens on `bind` and starts an `InletWorker` for each accepted connection.

    The listener stays up whatever happens to the route: a connection whose portal cannot be
    set up (no outlet yet, a relay down) is closed, and the next connection tries the route
    from scratch. `status` is `"down"` after a portal failed to open, `"up"` again after one
    opened. The portals run in the node's nursery: deleting the inlet leaves them up.

    With `refresh`, each connection's worker first passes the route through it (see
    `InletWorker`), and the route it returns serves later connections; `route` stays the
    route the inlet was created with.
    """

    def __init__(
        self,
        bind: str,
        route: Route,
        *,
        ping_timeout: float = PING_TIMEOUT,
        refresh: Refresh | None = None,
    ) -> None:
        if not route:
            raise ValueError("an inlet needs a non-empty route to its outlet")
        if ping_timeout <= 0:
            raise ValueError(f"ping_timeout must be positive, not {ping_timeout!r}")
        self.host, self.port = split_host_port(bind)
        self.route = route
        self.current_route = route
        self.ping_timeout = ping_timeout
        self.refresh = refresh
        self.bind_addr = ""
        self.status: Status = "up"
        self._listener: trio.SocketListener | None = None

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        listener, self.bind_addr = await open_tcp_listener(self.host, self.port)
        self._listener = listener
        try:
            log.info(
                "inlet %s listening on %s for %s", self.ctx.address, self.bind_addr, self.route
            )
            task_status.started()
            await self._accept(listener)
        finally:
            with trio.move_on_after(1) as scope:
                scope.shield = True
                await listener.aclose()

    async def _accept(self, listener: trio.SocketListener) -> None:
        node = self.ctx.node
        while True:
            try:
                stream = await listener.accept()
            except trio.ClosedResourceError:
                return  # `close` was called
            except OSError as exc:
                # Out of file descriptors and the like: wait a moment rather than spin.
                log.warning("inlet %s: accept failed: %s", self.bind_addr, exc)
                await trio.sleep(0.1)
                continue
            configure_socket(stream)
            worker = InletWorker(
                stream,
                self.current_route,
                ping_timeout=self.ping_timeout,
                on_handshake=self._on_handshake,
                refresh=self.refresh,
                on_route=self._on_route,
            )
            try:
                await node.start_actor(worker, policy=TEMPORARY)
            except NodeStopped:
                await trio.aclose_forcefully(stream)
                return

    def _on_handshake(self, ok: bool) -> None:
        self.status = "up" if ok else "down"

    def _on_route(self, route: Route) -> None:
        self.current_route = route

    def close(self) -> None:
        """Stop accepting and free the port now (the actor stops soon after)."""
        if self._listener is not None:
            self._listener.socket.close()


class InletWorker(PortalWorker):
    """The inlet's side of one portal: sends Ping along the inlet's route, waits for Pong.

    With no Pong within `ping_timeout` seconds (or at once when the route's first hop is
    unreachable, or on the outlet's Disconnect) the TCP connection is closed.

    With `refresh`, the route first goes through `refresh` (within `ping_timeout` seconds), and
    the route it returns is reported to `on_route`; if it fails or takes too long, the TCP
    connection is closed.
    """

    def __init__(
        self,
        stream: trio.abc.Stream,
        route: Route,
        *,
        ping_timeout: float = PING_TIMEOUT,
        on_handshake: Callable[[bool], None] | None = None,
        refresh: Refresh | None = None,
        on_route: Callable[[Route], None] | None = None,
    ) -> None:
        super().__init__(Role.INLET)
        self._stream = stream
        self.route = route
        self.ping_timeout = ping_timeout
        self._on_handshake = on_handshake
        self._refresh = refresh
        self._on_route = on_route

    def _report(self, ok: bool, reason: str = "") -> None:
        if reason:
            self._set_reason(reason)
            log.info("inlet worker %s: %s", self.ctx.address, reason)
        if self._on_handshake is not None:
            self._on_handshake(ok)

    async def _handshake(self) -> tuple[trio.abc.Stream, Route, Address] | None:
        stream = self._stream
        assert stream is not None
        if self._refresh is not None and not await self._refreshed(self._refresh):
            await trio.aclose_forcefully(stream)
            return None
        state = self.state
        if not await self.ctx.send_to(self.route, state.send(Ping())):
            self._report(False, f"the route {self.route} is unreachable")
            return None
        mailbox = self.ctx.mailbox
        with trio.move_on_after(self.ping_timeout):
            while True:
                try:
                    message = await mailbox.get()
                except (trio.EndOfChannel, trio.ClosedResourceError):
                    return None
                try:
                    event = state.receive(message.payload)
                except PortalProtocolError as exc:
                    self._report(False, f"protocol error during the handshake: {exc}")
                    return None
                if isinstance(event, Disconnect):
                    self._report(False, f"the outlet refused: {event.reason}")
                    return None
                assert isinstance(event, Pong)  # the state allows nothing else now
                peer = message.return_route
                try:
                    carrier = await self.ctx.node.router.resolve(peer.next)
                except TransportError as exc:
                    self._report(False, f"the outlet's route is unreachable: {exc}")
                    return None
                self._report(True)
                return stream, peer, carrier
        timeout = PortalTimeout(
            f"no answer from the outlet at {self.route} within {self.ping_timeout:g} s"
        )
        self._report(False, str(timeout))
        await trio.aclose_forcefully(stream)
        await self._answer_late_pong()
        return None

    async def _refreshed(self, refresh: Refresh) -> bool:
        """Pass the route through `refresh`; False (reported) if it fails or is too slow."""
        with trio.move_on_after(self.ping_timeout):
            try:
                route = await refresh(self.route)
            except (OckamError, ValueError) as exc:
                self._report(False, f"the route {self.route} cannot be used: {exc}")
                return False
            if route != self.route:
                log.info("inlet worker %s: route %s is now %s", self.ctx.address, self.route, route)
                self.route = route
                if self._on_route is not None:
                    self._on_route(route)
            return True
        self._report(
            False, f"the route {self.route} did not become usable within {self.ping_timeout:g} s"
        )
        return False

    async def _answer_late_pong(self) -> None:
        """Tell an outlet worker whose Pong comes after we gave up that the portal is closed.

        Its Pong comes at the latest `CONNECT_TIMEOUT` after our Ping reached the outlet;
        without this answer it would keep its connection to the target open for nothing.
        """
        with trio.move_on_after(CONNECT_TIMEOUT):
            try:
                message = await self.ctx.mailbox.get()
            except (trio.EndOfChannel, trio.ClosedResourceError):
                return
            if not message.return_route:
                return
            answer = encode(Disconnect("the inlet gave up waiting for Pong"))
            await self.ctx.node.router.send(message.reply(answer, sender=self.ctx.address))
            # The outlet worker answers with its own Disconnect: take it, so it is not dropped.
            with trio.move_on_after(_REPLY_TIMEOUT), suppress(trio.EndOfChannel):
                await self.ctx.mailbox.get()
