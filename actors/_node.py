"""The Node: a root nursery, a router, supervised actors and the request/reply call."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Self, TypeVar, cast

import msgspec
import trio

from ._actor import Actor, Context
from ._address import LOCAL, Address, Route, local, random_address
from ._error_reply import read_error_reply
from ._errors import ActorFailed, NodeStopped, RequestTimeout
from ._mailbox import Mailbox
from ._message import LocalMessage
from ._registry import Registry, Running
from ._router import Router, Transport
from ._supervisor import PERMANENT, Escalation, RestartPolicy, supervise
from .services import start_service

DEFAULT_SERVICES = ("echo", "uppercase", "forwarding_service")
"""Services every node starts with."""

log = logging.getLogger("ockam.node")

AddressLike = Address | str
A = TypeVar("A", bound=Actor)
E = TypeVar("E")

TransportFactory = Callable[["Node"], Transport]
"""Makes a transport for a node: what `open_node(transports=...)` takes."""


def _as_address(address: AddressLike) -> Address:
    return address if isinstance(address, Address) else local(address)


class WorkerInfo(msgspec.Struct, frozen=True):
    """A running actor as `worker list` shows it."""

    address: str
    aliases: tuple[str, ...]
    kind: str
    service: bool = False


class Node:
    """A running node. Create one with `open_node`; it lives as long as the `async with` block.

    Attributes:
        name: the node's name.
        router: the routing table every message passes through.
        escalations: reports of actors that crashed past their restart limit.
        entry: which first addresses a message that arrives over a transport connection may
            have (None: any). A node that serves strangers admits them only to what
            authenticates them (a project node: its secure channel listeners and the
            ciphertext side of its channels); the connection drops the rest, with a log line.
    """

    def __init__(self, name: str, nursery: trio.Nursery) -> None:
        self.name = name
        self.router = Router()
        self.escalations: list[Escalation] = []
        self.entry: Callable[[Address], bool] | None = None
        self._nursery = nursery
        self._registry = Registry()
        self._stopping = False
        self._on_escalation: list[Callable[[Escalation], Any]] = []
        self._attached: dict[type, object] = {}

    @property
    def nursery(self) -> trio.Nursery:
        """The node's root nursery: tasks started here stop with the node."""
        return self._nursery

    async def start_actor(
        self,
        actor: Actor,
        address: AddressLike | None = None,
        *,
        aliases: Iterable[AddressLike] = (),
        policy: RestartPolicy = PERMANENT,
        service: bool = False,
        reaches: Iterable[Address] = (),
    ) -> Context:
        """Register `actor` at `address` (a fresh random one when None) and start it supervised.

        `aliases` are further addresses it answers at; `service` marks it as one of the node's
        services (`WorkerInfo.service`). `reaches` are non-local addresses it carries messages
        to (an outgoing connection reaches `1#host:port`): `actor_at` finds it by them (the
        first actor to reach an address keeps it), the router delivers nothing to them.

        Returns once the actor reported ready. Raises `AddressInUse` when an address is taken,
        and whatever the actor raised if it failed before it was ready.
        """
        if self._stopping:
            raise NodeStopped(f"node {self.name} is shutting down")
        primary = random_address() if address is None else _as_address(address)
        addresses = (primary, *(_as_address(a) for a in aliases))
        mailbox = actor.make_mailbox()
        ctx = Context(self, addresses, mailbox)
        self.router.register(addresses, mailbox)
        actor.ctx = ctx  # before it is registered: whoever finds it may use its context
        running = Running(actor, ctx, service=service, reaches=tuple(reaches))
        self._registry.add(running)
        try:
            await self._nursery.start(self._run_actor, running, ctx, policy)
        except BaseExceptionGroup as group:
            self._forget(running)
            raise unwrap_group(group) from None
        except BaseException:
            self._forget(running)
            raise
        return ctx

    async def _run_actor(
        self,
        running: Running,
        ctx: Context,
        policy: RestartPolicy,
        *,
        task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
    ) -> None:
        try:
            with running.scope:
                await supervise(running.actor, ctx, policy, self._escalate, task_status=task_status)
        finally:
            self._forget(running)
            running.stopped.set()

    def _forget(self, running: Running) -> None:
        self._registry.remove(running)
        self.router.unregister(running.addresses, mailbox=running.mailbox)
        running.mailbox.close()

    def _escalate(self, report: Escalation) -> None:
        self.escalations.append(report)
        for callback in self._on_escalation:
            callback(report)

    def on_escalation(self, callback: Callable[[Escalation], Any]) -> None:
        """Call `callback` with each `Escalation` this node's supervisor reports."""
        self._on_escalation.append(callback)

    def attach(self, extension: object, *, kind: type | None = None) -> None:
        """Make `extension` this node's one object of class `kind` (default: its own class).

        An upper layer keeps a manager per node this way (`portals.Portals.of(node)` is the
        node's portal manager) without the runtime knowing its class.

        Raises:
            ValueError: the node has an object of that class attached already.
        """
        kind = type(extension) if kind is None else kind
        if kind in self._attached:
            raise ValueError(f"node {self.name} has a {kind.__name__} already")
        self._attached[kind] = extension

    def attached(self, kind: type[E]) -> E | None:
        """The object of class `kind` attached to this node (`attach`), if any."""
        found = self._attached.get(kind)
        return cast("E", found) if found is not None else None

    def stop_actor(self, address: AddressLike) -> bool:
        """Stop the actor registered at `address` (primary or alias). False when there is none.

        The actor leaves the registry at once: its addresses are free, `actor_at` and
        `actors_of` no longer see it. To wait until its task has ended, take
        `monitor(address)` before stopping it.
        """
        running = self._registry.at(_as_address(address))
        if running is None:
            return False
        running.scope.cancel()
        self._registry.remove(running)
        self.router.unregister(running.addresses, mailbox=running.mailbox)
        return True

    def monitor(self, address: AddressLike) -> trio.Event:
        """An event set when the actor at `address` stops (already set when there is none).

        Portals use it to close their TCP connection as soon as the connection worker that
        carries them is gone.
        """
        running = self._registry.at(_as_address(address))
        if running is not None:
            return running.stopped
        stopped = trio.Event()
        stopped.set()
        return stopped

    def actor_at(self, address: AddressLike) -> Actor | None:
        """The actor registered at `address` (primary, alias, or one it reaches), if any."""
        running = self._registry.at(_as_address(address))
        return None if running is None else running.actor

    def actors_of(self, cls: type[A]) -> list[A]:
        """The running actors that are instances of `cls`, in the order they were started."""
        return cast("list[A]", [r.actor for r in self._registry.of(cls)])

    def workers(self) -> list[WorkerInfo]:
        """Every running actor, sorted by address."""
        infos = [
            WorkerInfo(
                address=r.addresses[0].value,
                aliases=tuple(a.value for a in r.addresses[1:]),
                kind=type(r.actor).__name__,
                service=r.service,
            )
            for r in self._registry.all()
        ]
        return sorted(infos, key=lambda w: w.address)

    async def send(
        self, route: Route | str, payload: bytes, *, return_route: Route | None = None
    ) -> bool:
        """Send `payload` along `route`; False when the first hop dropped it."""
        onward = Route.parse(route) if isinstance(route, str) else route
        return await self.router.send(LocalMessage(onward, return_route or Route(), payload))

    async def request(
        self, route: Route | str, payload: bytes, *, timeout: float = 10.0
    ) -> LocalMessage:
        """Send `payload` along `route` and wait for the first reply.

        A message this node cannot pass on fails at once, with the reason; past the first
        remote hop, only a timeout can tell, and it names that hop (whose log says why).

        Raises:
            RouteNotFound: no worker on this node at the route's first address.
            TransportError: the route's first address is remote and cannot be reached.
            ActorFailed: the actor that handled the request raised (its `ErrorReply`).
            RequestTimeout: no reply within `timeout` seconds.
        """
        onward = Route.parse(route) if isinstance(route, str) else route
        reply_to = random_address()
        mailbox = Mailbox(16)
        self.router.register([reply_to], mailbox)
        try:
            with trio.move_on_after(timeout):
                await self.router.deliver(LocalMessage(onward, Route((reply_to,)), payload))
                reply = await mailbox.get()
                failure = read_error_reply(reply.payload)
                if failure is not None:
                    raise ActorFailed(
                        f"{failure.at} on node {failure.node} failed: {failure.reason}"
                    )
                return reply
            message = f"no reply from {onward} within {timeout:g} s"
            hop = self.first_remote_hop(onward)
            if hop is not None:
                message += f"; it left node {self.name} for {hop}: that node's log says why"
            raise RequestTimeout(message)
        finally:
            self.router.unregister([reply_to])
            mailbox.close()

    def first_remote_hop(self, route: Route) -> str | None:
        """Where `route` leaves this node: its first remote address, or the peer of the first
        connection worker on it (`/ip4/127.0.0.1/tcp/7000`); None when it never leaves."""
        for address in route:
            if address.type != LOCAL:
                return str(Route((address,)))
            running = self._registry.at(address)
            if running is None:
                return None
            if running.reaches:
                return str(Route(running.reaches[:1]))
            peer = running.actor.carries_to()
            if peer is not None:
                return peer
        return None

    def shutdown(self) -> None:
        """Stop every actor and close every socket of this node (structured shutdown)."""
        self._stopping = True
        self._nursery.cancel_scope.cancel()

    @classmethod
    @asynccontextmanager
    async def open(
        cls,
        name: str = "node",
        *,
        services: Sequence[str] = DEFAULT_SERVICES,
        transports: Sequence[TransportFactory] = (),
    ) -> AsyncIterator[Self]:
        """Run a node of this class for the duration of the `async with` block (see
        `open_node`); a subclass that wires its own transports in `__init__` opens with it."""
        try:
            async with trio.open_nursery() as nursery:
                node = cls(name, nursery)
                try:
                    for factory in transports:
                        node.router.register_transport(factory(node))
                    for service in services:
                        await start_service(node, service)
                    yield node
                finally:
                    node.shutdown()
        except BaseExceptionGroup as group:
            raise unwrap_group(group) from None


def open_node(
    name: str = "node",
    *,
    services: Sequence[str] = DEFAULT_SERVICES,
    transports: Sequence[TransportFactory] = (),
) -> AbstractAsyncContextManager[Node]:
    """Run a node for the duration of the `async with` block.

    Args:
        name: the node's name, used in logs.
        services: built-in or plugin services to start (see `actors.BUILTIN_SERVICES`).
        transports: factories of the transports that resolve non-local addresses, each
            called with the node. `transports.open_node` runs a node with the TCP and
            WebSocket transports.

    Leaving the block cancels every actor and closes every socket the node opened.
    """
    return Node.open(name, services=services, transports=transports)


def unwrap_group(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one exception inside `group` (recursively), or the group itself when it holds more."""
    while isinstance(group, BaseExceptionGroup) and len(group.exceptions) == 1:
        group = group.exceptions[0]  # type: ignore[assignment]
    return group
