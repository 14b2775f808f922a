"""The TCP inlet: a listener actor, and a worker per accepted connection."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Literal

import trio

from actors import (
    TEMPORARY,
    Actor,
    LocalMessage,
    NodeStopped,
    OckamError,
    Route,
    TransportError,
    split_host_port,
)
from transports import open_tcp_listener, stream_io

from ._enforcement import Enforcement
from ._messages import CHUNK, Ping, PortalTimeout
from ._outlet import CONNECT_TIMEOUT
from ._protocol import Phase, Role
from ._worker import STREAM_ERRORS, PortalWorker

log = logging.getLogger("ockam.portal")

EARLY_DATA_WAIT = 0.001
"""Seconds the inlet waits for its client's first bytes before it sends Ping without them.

A client that speaks first (HTTP, TLS) has sent them by the time its connection is accepted, or
a moment later; they ride in the Ping and the answer comes a round trip sooner. A client that
waits for the server to speak (SSH, SMTP) loses only this wait."""

PING_TIMEOUT = 10.0
"""Seconds an inlet worker waits for the outlet's Pong before it closes its TCP connection."""

Status = Literal["up", "down"]

Refresh = Callable[[Route], Awaitable[Route]]
"""Given an inlet's route, the route to use now (e.g. `SecureChannels.refresh`, which puts a
new secure channel in place of one that ended)."""

Listen = Callable[[str, int], Awaitable[tuple[trio.abc.Listener[trio.abc.Stream], str]]]
"""Opens an inlet's listener on `host, port`: the listener and the `host:port` it is bound to
(`transports.open_tcp_listener` by default; tests pass memory listeners)."""


class InletListener(Actor):
    """An inlet: listens on `bind` and starts an `InletWorker` for each accepted connection.

    The listener stays up whatever happens to the route: a connection whose portal cannot be
    set up (no outlet yet, a relay down) is closed, and the next connection tries the route
    from scratch. `status` is `"down"` after a portal failed to open, `"up"` again after one
    opened. The portals run in the node's nursery: deleting the inlet leaves them up.

    With `refresh`, each connection's worker first passes the route through it (see
    `InletWorker`), and the route it returns serves later connections; `route` stays the
    route the inlet was created with.

    With `enforcement`, each connection's portal opens only when the inlet's policy allows
    the subject of the secure channel its route starts with (see `InletWorker`).
    """

    def __init__(
        self,
        bind: str,
        route: Route,
        *,
        ping_timeout: float = PING_TIMEOUT,
        refresh: Refresh | None = None,
        alias: str = "",
        listen: Listen = open_tcp_listener,
        enforcement: Enforcement | None = None,
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
        self.alias = alias
        self.bind_addr = ""
        self.status: Status = "up"
        self.enforcement = enforcement
        self._listen = listen

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        listener, self.bind_addr = await self._listen(self.host, self.port)
        try:
            log.info(
                "inlet %s listening on %s for %s", self.ctx.address.text, self.bind_addr, self.route
            )
            task_status.started()
            await self._accept(listener)
        finally:
            with trio.move_on_after(1) as scope:
                scope.shield = True
                await listener.aclose()

    async def _accept(self, listener: trio.abc.Listener[trio.abc.Stream]) -> None:
        node = self.ctx.node
        while True:
            try:
                stream = await listener.accept()
            except trio.ClosedResourceError:
                return
            except OSError as exc:
                # Out of file descriptors and the like: wait a moment rather than spin.
                log.warning("inlet %s: accept failed: %s", self.bind_addr, exc)
                await trio.sleep(0.1)
                continue
            worker = InletWorker(
                stream,
                self.current_route,
                ping_timeout=self.ping_timeout,
                on_handshake=self._on_handshake,
                refresh=self.refresh,
                on_route=self._on_route,
                enforcement=self.enforcement,
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


class InletWorker(PortalWorker):
    """The inlet's side of one portal: sends Ping along the inlet's route, waits for Pong.

    With no Pong within `ping_timeout` seconds (or at once when the route's first hop is
    unreachable, or on the outlet's Disconnect) the connection is closed. A Pong that comes
    after the inlet gave up is answered with Disconnect, so the outlet's worker closes too.

    With `refresh`, the route first goes through `refresh` (within `ping_timeout` seconds), and
    the route it returns is reported to `on_route`; if it fails or takes too long, the
    connection is closed.

    With `enforcement`, the portal opens only when the inlet's policy allows the subject of
    the secure channel end that is the route's first hop (no channel: refused, and the
    connection closed); once open, it is watched, and closed when the policy no longer
    allows it.
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
        enforcement: Enforcement | None = None,
    ) -> None:
        super().__init__(Role.INLET, enforcement=enforcement)
        self._io = stream_io(stream)
        self.route = route
        self.ping_timeout = ping_timeout
        self._on_handshake = on_handshake
        self._refresh = refresh
        self._on_route = on_route

    def _report(self, ok: bool) -> None:
        if not ok:
            log.info("inlet worker %s: %s", self.ctx.address.text, self.state.close_reason)
        if self._on_handshake is not None:
            self._on_handshake(ok)

    def _fail(self, reason: str) -> bool:
        self.state.close(reason, now=trio.current_time(), notify=False)
        self._report(False)
        return False

    async def _handshake(self) -> bool:
        if self._refresh is not None and not await self._refreshed(self._refresh):
            return False
        if self._enforcement is not None:
            self._guard = self._enforcement.admit(self.ctx.node, self.route.next)
            if self._guard is not None and not self._guard.allowed:
                return self._fail("the inlet's policy does not allow this portal")
        state = self.state
        if not await self.ctx.send_to(self.route, state.send(Ping(await self._early_data()))):
            return self._fail(f"the route {self.route} is unreachable")
        with trio.move_on_after(self.ping_timeout):
            while state.phase is Phase.PINGING and not state.done:
                await self._state_changes()
        if self._carrier is not None:
            self._report(True)
            return True
        if state.phase is not Phase.PINGING:  # refused, or a protocol error
            self._report(False)
            return False
        timeout = PortalTimeout(
            f"no answer from the outlet at {self.route} within {self.ping_timeout:g} s"
        )
        # Its Pong comes at the latest CONNECT_TIMEOUT after our Ping reached the outlet.
        state.give_up(str(timeout), now=trio.current_time(), wait=CONNECT_TIMEOUT)
        self._report(False)
        assert self._io is not None
        await self._io.aclose()
        return False

    async def _early_data(self) -> bytes:
        """What the client sent already, or within `EARLY_DATA_WAIT` (b"": nothing yet).

        A read error or the end of the stream is left for the pump to find again."""
        io = self._io
        assert io is not None
        try:
            with trio.move_on_after(EARLY_DATA_WAIT):
                await io.wait_readable(CHUNK)
            data = io.receive_nowait(CHUNK) or b""
        except STREAM_ERRORS:
            return b""
        self._traffic.bytes_in += len(data)
        return data

    async def _on_pong(self, message: LocalMessage) -> None:
        self._peer = message.return_route
        if self.state.gave_up:
            await self._close("the inlet gave up waiting for Pong")
            return
        try:
            self._carrier = await self.ctx.node.router.resolve(self._peer.next)
        except TransportError as exc:
            await self._close(f"the outlet's route is unreachable: {exc}", notify=False)

    async def _refreshed(self, refresh: Refresh) -> bool:
        """Pass the route through `refresh`; False (reported) if it fails or is too slow."""
        with trio.move_on_after(self.ping_timeout):
            try:
                route = await refresh(self.route)
            except (OckamError, ValueError) as exc:
                return self._fail(f"the route {self.route} cannot be used: {exc}")
            if route != self.route:
                log.info(
                    "inlet worker %s: route %s is now %s", self.ctx.address.text, self.route, route
                )
                self.route = route
                if self._on_route is not None:
                    self._on_route(route)
            return True
        return self._fail(
            f"the route {self.route} did not become usable within {self.ping_timeout:g} s"
        )
