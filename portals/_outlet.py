"""The TCP outlet: a listener actor that answers Pings, and a worker per portal."""

from __future__ import annotations

import logging

import trio

from actors import TEMPORARY, Actor, Address, LocalMessage, NodeStopped, Route, TransportError
from transports import split_host_port

from ._protocol import Disconnect, Ping, Pong, PortalProtocolError, Role, decode
from ._worker import PortalWorker, configure_socket

log = logging.getLogger("ockam.portal")

CONNECT_TIMEOUT = 5.0
"""Seconds an outlet worker has to connect to its target.

Shorter than the inlet's Ping timeout, so the inlet hears of a target that does not answer
(a `Disconnect`) before it gives up waiting.
"""


class OutletListener(Actor):
    """An outlet: on each `Ping`, starts an `OutletWorker` connected to `target`.

    The worker answers the Ping itself, from its own (random) address, so the inlet learns the
    worker's route from the Pong's return route.
    """

    def __init__(self, target: str) -> None:
        host, port = split_host_port(target)
        self.host = host
        self.port = port
        self.target = f"{host}:{port}"

    async def handle_message(self, message: LocalMessage) -> None:
        try:
            event = decode(message.payload)
        except PortalProtocolError as exc:
            log.warning("outlet %s: dropped a message: %s", self.ctx.address, exc)
            return
        if not isinstance(event, Ping):
            log.warning(
                "outlet %s: dropped %s (only Ping starts a portal)",
                self.ctx.address,
                type(event).__name__,
            )
            return
        if not message.return_route:
            log.warning("outlet %s: dropped a Ping without a return route", self.ctx.address)
            return
        worker = OutletWorker(self.host, self.port, message.return_route)
        try:
            await self.ctx.node.start_actor(worker, policy=TEMPORARY)
        except NodeStopped:
            return


class OutletWorker(PortalWorker):
    """The outlet's side of one portal: connects to the target, then answers Pong.

    When the target cannot be reached it answers `Disconnect(reason)` and stops.
    """

    def __init__(self, host: str, port: int, peer: Route) -> None:
        super().__init__(Role.OUTLET)
        self.host = host
        self.port = port
        self._peer = peer

    async def _handshake(self) -> tuple[trio.abc.Stream, Route, Address] | None:
        peer = self._peer
        target = f"{self.host}:{self.port}"
        try:
            with trio.fail_after(CONNECT_TIMEOUT):
                stream = await trio.open_tcp_stream(self.host, self.port)
        except (OSError, trio.TooSlowError) as exc:
            reason = f"cannot connect to {target}: {str(exc) or 'timed out'}"
            self._set_reason(reason)
            log.info("outlet worker %s: %s", self.ctx.address, reason)
            await self._send(self.state.send(Disconnect(reason)))
            return None
        self._stream = stream  # closed by `run` from here on
        configure_socket(stream)
        # The first hop of the Ping's return route is the local worker that carries the portal
        # (a connection worker, or the inlet worker itself when both ends are on this node).
        try:
            carrier = await self.ctx.node.router.resolve(peer.next)
        except TransportError as exc:
            self._set_reason(f"the inlet's route is gone: {exc}")
            return None
        if not await self._send(self.state.send(Pong())):
            self._set_reason("the inlet's route is gone")
            return None
        log.info("outlet worker %s connected to %s", self.ctx.address, target)
        return stream, peer, carrier
