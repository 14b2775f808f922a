"""The TCP outlet: a listener actor that answers Pings, and a worker per portal."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

import trio

from actors import (
    TEMPORARY,
    Actor,
    LocalMessage,
    NodeStopped,
    Route,
    TransportError,
    split_host_port,
)
from transports import stream_io

from ._enforcement import Enforcement
from ._messages import Disconnect, Ping, Pong, PortalProtocolError, decode, encode
from ._policy_guard import PolicyGuard
from ._protocol import Role
from ._worker import PortalWorker

log = logging.getLogger("ockam.portal")

CONNECT_TIMEOUT = 5.0
"""Seconds an outlet worker has to connect to its target.

Shorter than the inlet's Ping timeout, so the inlet hears of a target that does not answer
(a `Disconnect`) before it gives up waiting.
"""

REFUSED = "its policy does not allow this portal"
"""The reason in the `Disconnect` that answers a Ping the outlet's policy does not allow (the
policy itself, and why it denied, go to the outlet node's log only)."""

Connect = Callable[[str, int], Awaitable[trio.abc.Stream]]
"""Opens an outlet's connection to its target `host, port` (`trio.open_tcp_stream` by
default; tests pass memory streams)."""


class OutletListener(Actor):
    """An outlet: on each `Ping`, starts an `OutletWorker` connected to `target`.

    The worker answers the Ping itself, from its own (random) address, so the inlet learns the
    worker's route from the Pong's return route.

    With `enforcement`, a Ping is served only when the outlet's policy allows the subject of
    the secure channel it came through (the first hop of its return route); otherwise it is
    answered with `Disconnect`, before the target is even connected to.
    """

    def __init__(
        self,
        target: str,
        *,
        connect: Connect = trio.open_tcp_stream,
        enforcement: Enforcement | None = None,
    ) -> None:
        host, port = split_host_port(target)
        self.host = host
        self.port = port
        self.target = f"{host}:{port}"
        self.enforcement = enforcement
        self._connect = connect

    async def handle_message(self, message: LocalMessage) -> None:
        try:
            event = decode(message.payload)
        except PortalProtocolError as exc:
            log.warning("outlet %s: dropped a message: %s", self.ctx.address.text, exc)
            return
        if not isinstance(event, Ping):
            log.warning(
                "outlet %s: dropped %s (only Ping starts a portal)",
                self.ctx.address.text,
                type(event).__name__,
            )
            return
        if not message.return_route:
            log.warning("outlet %s: dropped a Ping without a return route", self.ctx.address.text)
            return
        guard = None
        if self.enforcement is not None:
            guard = self.enforcement.admit(self.ctx.node, message.return_route.next)
            if guard is not None and not guard.allowed:
                await self.ctx.reply(message, encode(Disconnect(REFUSED)))
                return
        worker = OutletWorker(
            self.host,
            self.port,
            message.return_route,
            ping=event,
            connect=self._connect,
            enforcement=self.enforcement,
            guard=guard,
        )
        try:
            await self.ctx.node.start_actor(worker, policy=TEMPORARY)
        except NodeStopped:
            return


class OutletWorker(PortalWorker):
    """The outlet's side of one portal: connects to the target, then answers Pong and writes
    the client's first bytes the `ping` carried, if any.

    When the target cannot be reached it answers `Disconnect(reason)` and stops. With a
    `guard` (the Ping was admitted under the outlet's policy), `enforcement` watches the
    portal while it is open.
    """

    def __init__(
        self,
        host: str,
        port: int,
        peer: Route,
        *,
        ping: Ping | None = None,
        connect: Connect = trio.open_tcp_stream,
        enforcement: Enforcement | None = None,
        guard: PolicyGuard | None = None,
    ) -> None:
        super().__init__(Role.OUTLET, enforcement=enforcement, guard=guard)
        self.host = host
        self.port = port
        self._peer = peer
        self._ping = ping or Ping()
        self._connect = connect

    async def _handshake(self) -> bool:
        state = self.state
        target = f"{self.host}:{self.port}"
        try:
            early = state.ping_received(self._ping)
        except PortalProtocolError as exc:
            log.warning("outlet worker %s: protocol error: %s", self.ctx.address.text, exc)
            await self._send(encode(Disconnect(f"protocol error: {exc}")))
            state.close(f"protocol error: {exc}", now=trio.current_time(), notify=False)
            return False
        try:
            with trio.fail_after(CONNECT_TIMEOUT):
                stream = await self._connect(self.host, self.port)
        except (OSError, trio.TooSlowError) as exc:
            reason = f"cannot connect to {target}: {str(exc) or 'timed out'}"
            log.info("outlet worker %s: %s", self.ctx.address.text, reason)
            await self._send(state.send(Disconnect(reason)))
            state.close(reason, now=trio.current_time(), notify=False)
            return False
        self._io = stream_io(stream)  # closed by `run` from here on
        # The first hop of the Ping's return route is the local worker that carries the portal
        # (a connection worker, or the inlet worker itself when both ends are on this node).
        try:
            self._carrier = await self.ctx.node.router.resolve(self._peer.next)
        except TransportError as exc:
            state.close(f"the inlet's route is gone: {exc}", now=trio.current_time(), notify=False)
            return False
        if not await self._send(state.send(Pong())):
            state.close("the inlet's route is gone", now=trio.current_time(), notify=False)
            return False
        log.info("outlet worker %s connected to %s", self.ctx.address.text, target)
        if early:
            await self._write(early)
        return not state.done
