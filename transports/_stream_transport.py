"""What TCP and WebSocket transports share: connection bookkeeping and route resolution."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar, Literal

import msgspec
import trio

from actors import LOCAL, TCP, TEMPORARY, WS, Actor, Address, Route, local_name, split_host_port

from ._connection import ConnectionInfo, ConnectionWorker

if TYPE_CHECKING:
    from actors import Node


class ListenerInfo(msgspec.Struct, frozen=True):
    """A listener as `tcp-listener list` shows it."""

    worker: str
    transport: str
    address: str

    @property
    def route(self) -> Route:
        """The route to this listener from another node (`/ip4/127.0.0.1/tcp/7000`, with
        `/ws` for a WebSocket one), to which a route goes on with a service's address."""
        kind = WS if self.transport == "ws" else TCP
        return Route((Address(kind, self.address),))


class Listener(Actor):
    """An actor that accepts connections for a transport; `bound` is its real `host:port`
    once it is ready. With `accept_after`, it is bound (its port known) at once but serves
    no connection before that event is set: they wait in the kernel's backlog."""

    transport_name: ClassVar[str]

    def __init__(self, host: str, port: int, *, accept_after: trio.Event | None = None) -> None:
        self._host = host
        self._port = port
        self._accept_after = accept_after
        self.bound = ""

    async def _accepting(self) -> None:
        """Return once connections may be served (`accept_after`)."""
        if self._accept_after is not None:
            await self._accept_after.wait()

    def info(self) -> ListenerInfo:
        """This listener as `tcp-listener list` shows it."""
        return ListenerInfo(self.ctx.address.value, self.transport_name, self.bound)


class StreamTransport(ABC):
    """Connections of one transport type on one node, each a `ConnectionWorker` actor.

    The node's registry is the only table: connections and listeners are the node's actors of
    this transport, and the outgoing connection to `host:port` is registered as reaching
    `Address(transport_type, "host:port")`, so resolving a route is one lookup.
    """

    transport_type: ClassVar[int]
    name: ClassVar[str]
    listener_type: ClassVar[type[Listener]]

    def __init__(self, node: Node) -> None:
        self.node = node
        # One connection attempt at a time per peer, so concurrent senders share it.
        self._connecting: dict[str, trio.Lock] = {}

    @abstractmethod
    def _worker_for(self, peer: str) -> ConnectionWorker:
        """A worker that opens an outgoing connection to `peer` when started."""

    @abstractmethod
    def _listener_for(self, host: str, port: int, accept_after: trio.Event | None) -> Listener:
        """A listener actor for `host:port`, not started yet."""

    async def listen(
        self, address: str = "127.0.0.1:0", *, accept_after: trio.Event | None = None
    ) -> ListenerInfo:
        """Start listening on `address` (`host:port`; port 0 picks a free one).

        With `accept_after`, the port is bound when this returns, but no connection is served
        before the event is set: a node binds its port, sets itself up, then takes
        connections, so that none reaches a half set-up node.

        Raises:
            TransportError: the address is malformed, in use or not allowed.
        """
        host, port = split_host_port(address)
        listener = self._listener_for(host, port, accept_after)
        await self.node.start_actor(listener)
        return listener.info()

    def listeners(self) -> list[ListenerInfo]:
        """Every running listener."""
        return [
            listener.info()
            for listener in self.node.actors_of(self.listener_type)
            if listener.bound
        ]

    def stop_listener(self, worker: str) -> bool:
        """Stop the listener whose worker address (hex) or bound address is `worker`."""
        for listener in self.node.actors_of(self.listener_type):
            if worker in (listener.ctx.address.value, listener.bound):
                return self.node.stop_actor(listener.ctx.address)
        return False

    async def connect(self, address: str) -> ConnectionInfo:
        """Open a new outgoing connection to `address` (`host:port`).

        Raises:
            TransportError: the address is malformed or nobody accepts connections there.
        """
        host, port = split_host_port(address)
        return await self._start_connection(self._worker_for(f"{host}:{port}"))

    async def attach(
        self, stream: trio.abc.Stream, *, peer: str, mode: Literal["outgoing", "incoming"]
    ) -> ConnectionInfo:
        """Run an already open `stream` as a connection of this transport.

        Tests use it with `trio.testing.memory_stream_pair()`, one end attached to each node.
        The connection is reached by its worker address only: `peer` (any label, such as the
        other node's name) is shown in `connections()` but never used to resolve a route.

        Returns once this side's version byte is sent; the stream is closed with the worker.
        """
        if mode not in ("outgoing", "incoming"):
            raise ValueError(f"mode must be 'outgoing' or 'incoming', not {mode!r}")
        worker = ConnectionWorker(transport=self.name, mode=mode, peer=peer, stream=stream)
        await self.node.start_actor(worker, policy=TEMPORARY)
        return worker.info()

    async def resolve(self, address: Address) -> Address:
        """The worker of the outgoing connection to `address`, opened if there is none."""
        found = self.node.actor_at(address)
        if found is not None:
            return found.ctx.address
        host, port = split_host_port(address.value)
        peer = Address(self.transport_type, f"{host}:{port}")
        lock = self._connecting.setdefault(peer.value, trio.Lock())
        try:
            async with lock:
                found = self.node.actor_at(peer)
                if found is None:
                    info = await self._start_connection(self._worker_for(peer.value))
                    return Address(LOCAL, info.worker)
                return found.ctx.address
        finally:
            if not lock.locked() and not lock.statistics().tasks_waiting:
                del self._connecting[peer.value]

    async def _start_connection(self, worker: ConnectionWorker) -> ConnectionInfo:
        """Start `worker`. An outgoing one becomes the connection that routes to its peer take,
        unless another outgoing connection to that peer already is."""
        reaches = [Address(self.transport_type, worker.peer)] if worker.mode == "outgoing" else []
        await self.node.start_actor(worker, policy=TEMPORARY, reaches=reaches)
        return worker.info()

    def _workers(self) -> list[ConnectionWorker]:
        return [w for w in self.node.actors_of(ConnectionWorker) if w.transport == self.name]

    def connections(self) -> list[ConnectionInfo]:
        """Every open connection."""
        return [w.info() for w in self._workers() if not w.closed.is_set()]

    def connection(self, worker: str) -> ConnectionInfo | None:
        """The connection whose worker address (hex, `0#hex` or `/worker/hex`) is `worker`."""
        found = self.node.actor_at(Address(LOCAL, local_name(worker)))
        if not isinstance(found, ConnectionWorker) or found.transport != self.name:
            return None
        return None if found.closed.is_set() else found.info()

    def disconnect(self, worker: str) -> bool:
        """Close the connection whose worker address is `worker`; False when there is none."""
        info = self.connection(worker)
        if info is None:
            return False
        return self.node.stop_actor(Address(LOCAL, info.worker))
