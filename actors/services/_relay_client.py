"""The registering side of a relay: the client that keeps a relay alive.

The client re-registers on a heartbeat and whenever the connection that carries the relay goes
down, with backoff, so the relay comes back after the relay node or the network does.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Literal

import msgspec
import trio

from .._actor import Actor
from .._address import Route, local
from .._errors import RequestTimeout, TransportError
from .._supervisor import TEMPORARY
from ._relay_protocol import (
    RELAY_PREFIX,
    RELAY_SERVICE,
    Refused,
    Register,
    Registered,
    RelayError,
    check_relay_name,
    decode_relay_message,
    encode_relay_message,
)

if TYPE_CHECKING:
    from .._node import Node

log = logging.getLogger("ockam.relay")


class RelayInfo(msgspec.Struct, frozen=True):
    """A relay as seen from the node that registered it (`relay list`)."""

    name: str
    remote_address: str
    worker_address: str
    at: str
    status: Literal["up", "down"]


class RelayClient(Actor):
    """Registers a relay on a relay service and keeps it registered.

    Messages the relay forwards arrive here with this worker first on their onward route; it
    steps aside and routes them on. Replies to registrations come with nothing after it.
    """

    mailbox_size = 256

    def __init__(
        self,
        name: str,
        relay_node: Route,
        *,
        heartbeat: float = 5.0,
        timeout: float = 5.0,
        max_backoff: float = 1.0,
    ) -> None:
        self.name = check_relay_name(name)
        self.relay_node = relay_node
        self.heartbeat = heartbeat
        self.timeout = timeout
        self.max_backoff = max_backoff
        self.remote_address = ""
        self.up = False
        self._replies: trio.MemorySendChannel[bytes]
        self._replies_out: trio.MemoryReceiveChannel[bytes]
        self._replies, self._replies_out = trio.open_memory_channel[bytes](4)

    def info(self) -> RelayInfo:
        """This relay as `relay list` shows it."""
        return RelayInfo(
            name=self.name,
            remote_address=f"/service/{self.remote_address or RELAY_PREFIX + self.name}",
            worker_address=f"/service/{self.ctx.address.value}",
            at=str(self.relay_node),
            status="up" if self.up else "down",
        )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._dispatch)
            await nursery.start(self._keep_registered)
            task_status.started()

    async def _dispatch(self) -> None:
        mailbox = self.ctx.mailbox
        while True:
            message = await mailbox.get()
            if len(message.onward_route) > 1:
                await self.ctx.forward(message)
            else:
                try:
                    self._replies.send_nowait(message.payload)
                except trio.WouldBlock:
                    log.warning("relay %s: dropped an unexpected reply", self.name)

    async def register(self) -> str:
        """Register once and return the relay's address on the relay node."""
        service = self.relay_node + Route((local(RELAY_SERVICE),))
        while True:  # drain replies to earlier, timed-out attempts
            try:
                self._replies_out.receive_nowait()
            except trio.WouldBlock:
                break
        with trio.move_on_after(self.timeout):
            if not await self.ctx.send_to(service, encode_relay_message(Register(self.name))):
                raise TransportError(f"cannot reach {self.relay_node}")
            reply = decode_relay_message(await self._replies_out.receive())
            if isinstance(reply, Refused):
                raise RelayError(f"the relay service refused: {reply.reason}")
            if not isinstance(reply, Registered):
                raise RelayError(f"unexpected answer from the relay service: {reply!r}")
            return reply.address
        raise RequestTimeout(f"no answer from the relay service at {self.relay_node}")

    async def _keep_registered(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        self.remote_address = await self.register()
        self.up = True
        task_status.started()
        backoff = 0.1
        while True:
            if self.up:
                carrier = await self._carrier_stopped()
                with trio.move_on_after(self.heartbeat):
                    await carrier.wait()
                    self.up = False
                    log.warning("relay %s: the connection to the relay went down", self.name)
            else:
                await trio.sleep(backoff)
            try:
                self.remote_address = await self.register()
            except (RelayError, TransportError, RequestTimeout) as exc:
                if self.up:
                    log.warning("relay %s: registration failed: %s", self.name, exc)
                self.up = False
                backoff = min(backoff * 2, self.max_backoff)
                continue
            if not self.up:
                log.info("relay %s is back at %s", self.name, self.remote_address)
            self.up = True
            backoff = 0.1

    async def _carrier_stopped(self) -> trio.Event:
        try:
            first = await self.ctx.node.router.resolve(self.relay_node.next)
        except TransportError:
            stopped = trio.Event()
            stopped.set()
            return stopped
        return self.ctx.node.monitor(first)


async def start_relay(
    node: Node, *, at: Route, name: str = "default", heartbeat: float = 5.0
) -> RelayClient:
    """Register the relay `forward_to_<name>` on the relay service at the node `at` leads to.

    Returns once the relay service answered; the client then keeps the relay registered.

    Raises:
        RelayError: the name is invalid or the relay service refused it.
        TransportError: the relay node cannot be reached.
        RequestTimeout: the relay service did not answer in time.
    """
    client = RelayClient(name, at, heartbeat=heartbeat)
    await node.start_actor(client, policy=TEMPORARY)
    return client
