"""Relays: the relay service, relay workers, and the client that keeps a relay alive.

A node that cannot accept connections asks a relay service on a reachable node for a name
(`Register`). The service starts a relay worker at `forward_to_<name>` that sends every message
it gets along the route the registration came from, back to the registering node. The
registering side runs a `RelayClient`: it re-registers on a heartbeat and whenever the
connection that carries the relay goes down, with backoff, so the relay comes back after the
relay node or the network does.
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING, Literal

import msgspec
import trio

from ._actor import Actor
from ._address import Address, Route, local
from ._errors import AddressInUse, OckamError, RequestTimeout, TransportError
from ._message import LocalMessage
from ._supervisor import TEMPORARY

if TYPE_CHECKING:
    from ._node import Node

log = logging.getLogger("ockam.relay")

RELAY_SERVICE = "forwarding_service"
STATIC_RELAY_SERVICE = "static_forwarding_service"
RELAY_PREFIX = "forward_to_"
_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,64}$")


class RelayError(OckamError):
    """A relay could not be created, or was refused by the relay service."""


class Register(msgspec.Struct, frozen=True, tag="register", array_like=True):
    """Ask the relay service for the relay `forward_to_<name>` back to the sender."""

    name: str


class Registered(msgspec.Struct, frozen=True, tag="registered", array_like=True):
    """The relay exists at `address` on the relay node."""

    address: str


class Refused(msgspec.Struct, frozen=True, tag="refused", array_like=True):
    """The relay service would not create the relay."""

    reason: str


RelayMessage = Register | Registered | Refused
_encoder = msgspec.msgpack.Encoder()
_decoder: msgspec.msgpack.Decoder[RelayMessage] = msgspec.msgpack.Decoder(RelayMessage)


def encode_relay_message(message: RelayMessage) -> bytes:
    """The wire form of a relay protocol message."""
    return _encoder.encode(message)


def decode_relay_message(data: bytes) -> RelayMessage:
    """A relay protocol message; raises `RelayError` on anything else."""
    try:
        return _decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise RelayError(f"not a relay protocol message: {exc}") from None


def check_relay_name(name: str) -> str:
    """`name` when it can name a relay; a `RelayError` saying why not otherwise."""
    if not _NAME.match(name):
        raise RelayError(f"invalid relay name {name!r}: use 1-64 letters, digits, '_', '-' or '.'")
    return name


class RelayWorker(Actor):
    """Sends every message it receives along `forward_route`, in place of its own address.

    It stops when the connection that carries its route goes down, so senders learn at once
    that the relay is gone instead of feeding a dead route.
    """

    def __init__(self, name: str, forward_route: Route) -> None:
        self.name = name
        self.forward_route = forward_route
        self._carrier_changed = trio.Event()

    async def try_handle_now(self, message: LocalMessage) -> bool:
        """Forward in the sender's task: a relay worker keeps no state between messages."""
        await self.handle_message(message)
        return True

    def replace_route(self, forward_route: Route) -> None:
        """Use `forward_route` from now on (a re-registration)."""
        self.forward_route = forward_route
        self._carrier_changed.set()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self._watch_carrier, nursery.cancel_scope)
            await super().run(task_status=task_status)

    async def _watch_carrier(self, scope: trio.CancelScope) -> None:
        while True:
            changed = self._carrier_changed = trio.Event()
            first = self.forward_route.next
            if first.is_local and self.ctx.node.router.is_registered(first):
                stopped = self.ctx.node.monitor(first)
                await wait_any(stopped, changed)
                if not changed.is_set():
                    log.info("relay %s: its connection went down; stopping", self.ctx.address)
                    scope.cancel()
                    return
            else:
                await changed.wait()

    async def handle_message(self, message: LocalMessage) -> None:
        onward = self.forward_route + message.onward_route.pop_front()
        await self.ctx.send(LocalMessage(onward, message.return_route, message.payload))


async def wait_any(*events: trio.Event) -> None:
    """Return as soon as one of `events` is set."""
    async with trio.open_nursery() as nursery:
        for event in events:

            async def wait(event: trio.Event = event) -> None:
                await event.wait()
                nursery.cancel_scope.cancel()

            nursery.start_soon(wait)


class RelayService(Actor):
    """The relay service (`forwarding_service`, alias `static_forwarding_service`)."""

    async def handle_message(self, message: LocalMessage) -> None:
        try:
            request = decode_relay_message(message.payload)
            if not isinstance(request, Register):
                raise RelayError(f"expected a registration, got {type(request).__name__}")
            name = check_relay_name(request.name)
            if not message.return_route:
                raise RelayError("a registration needs a return route")
            address = await self._register(name, message.return_route)
        except RelayError as exc:
            log.warning("relay registration refused: %s", exc)
            await self.ctx.reply(message, encode_relay_message(Refused(str(exc))))
            return
        await self.ctx.reply(message, encode_relay_message(Registered(address.value)))

    async def _register(self, name: str, forward_route: Route) -> Address:
        address = local(RELAY_PREFIX + name)
        existing = self.ctx.node.actor_at(address)
        if isinstance(existing, RelayWorker):
            if existing.forward_route != forward_route:
                existing.replace_route(forward_route)
                log.info("relay %s now forwards to %r", address, forward_route)
            return address
        if existing is not None:
            raise RelayError(f"{address} is taken by another worker")
        try:
            await self.ctx.node.start_actor(
                RelayWorker(name, forward_route), address, policy=TEMPORARY
            )
        except AddressInUse:
            raise RelayError(f"{address} is taken by another worker") from None
        log.info("relay %s created, forwarding to %r", address, forward_route)
        return address


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
