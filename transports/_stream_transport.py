"""What TCP and WebSocket transports share: connection bookkeeping and route resolution."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar, Literal

import msgspec
import trio

from actors import TEMPORARY, Actor, Address, TransportError, random_address

from ._connection import ConnectionInfo, ConnectionWorker

if TYPE_CHECKING:
    from actors import Node


def split_host_port(address: str) -> tuple[str, int]:
    """`host:port` as a pair; raises `TransportError` naming the bad value."""
    host, sep, port = address.strip().rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise TransportError(f"bad address {address!r}: expected HOST:PORT, like 127.0.0.1:7000")
    return host, int(port)


class ListenerInfo(msgspec.Struct, frozen=True):
    """A listener as `tcp-listener list` shows it."""

    worker: str
    transport: str
    address: str


class Listener(Actor):
    """An actor that accepts connections for a transport; `bound` is its real `host:port`
    once it is ready."""

    transport_name: ClassVar[str]

    def __init__(self, host: str, port: int) -> None:
        self._host = host
        self._port = port
        self.bound = ""

    def info(self) -> ListenerInfo:
        """This listener as `tcp-listener list` shows it."""
        return ListenerInfo(self.ctx.address.value, self.transport_name, self.bound)


class StreamTransport(ABC):
    """Connections of one transport type on one node, each a `ConnectionWorker` actor."""

    transport_type: ClassVar[int]
    name: ClassVar[str]

    def __init__(self, node: Node) -> None:
        self.node = node
        self._connections: dict[Address, ConnectionWorker] = {}
        self._outgoing: dict[str, Address] = {}
        self._connecting: dict[str, trio.Lock] = {}
        self._resolved: dict[Address, Address] = {}
        self._listeners: dict[Address, Listener] = {}  # route address -> connection worker

    @abstractmethod
    def _worker_for(self, peer: str) -> ConnectionWorker:
        """A worker that opens an outgoing connection to `peer` when started."""

    @abstractmethod
    def _listener_for(self, host: str, port: int) -> Listener:
        """A listener actor for `host:port`, not started yet."""

    async def listen(self, address: str = "127.0.0.1:0") -> ListenerInfo:
        """Start listening on `address` (`host:port`; port 0 picks a free one).

        Raises:
            TransportError: the address is malformed, in use or not allowed.
        """
        host, port = split_host_port(address)
        listener = self._listener_for(host, port)
        worker = random_address()
        self._listeners[worker] = listener
        try:
            await self.node.start_actor(listener, worker)
        except BaseException:
            del self._listeners[worker]
            raise
        return listener.info()

    def listeners(self) -> list[ListenerInfo]:
        """Every running listener."""
        return [listener.info() for listener in self._listeners.values() if listener.bound]

    def stop_listener(self, worker: str) -> bool:
        """Stop the listener whose worker address (hex) or bound address is `worker`."""
        for address, listener in list(self._listeners.items()):
            if worker in (address.value, listener.bound):
                del self._listeners[address]
                return self.node.stop_actor(address)
        return False

    async def connect(self, address: str) -> ConnectionInfo:
        """Open a new outgoing connection to `address` (`host:port`).

        Raises:
            TransportError: the address is malformed or nobody accepts connections there.
        """
        host, port = split_host_port(address)
        peer = f"{host}:{port}"
        info = await self._start_connection(self._worker_for(peer))
        self._outgoing.setdefault(peer, Address(0, info.worker))
        return info

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
        return await self._start_connection(worker)

    async def resolve(self, address: Address) -> Address:
        """The worker of the outgoing connection to `address`, opened if there is none."""
        known = self._resolved.get(address)
        if known is not None:
            return known
        host, port = split_host_port(address.value)
        peer = f"{host}:{port}"
        existing = self._outgoing.get(peer)
        if existing is None:
            async with self._connecting.setdefault(peer, trio.Lock()):
                existing = self._outgoing.get(peer)
                if existing is None:
                    info = await self._start_connection(self._worker_for(peer))
                    existing = self._outgoing[peer] = Address(0, info.worker)
        self._resolved[address] = existing
        return existing

    async def _start_connection(self, worker: ConnectionWorker) -> ConnectionInfo:
        address = random_address()
        worker.on_close = self._forget
        self._connections[address] = worker
        try:
            await self.node.start_actor(worker, address, policy=TEMPORARY)
        except BaseException:
            self._connections.pop(address, None)
            raise
        return worker.info()

    def _forget(self, worker: ConnectionWorker) -> None:
        for address, known in list(self._connections.items()):
            if known is worker:
                for route_address, resolved in list(self._resolved.items()):
                    if resolved == address:
                        del self._resolved[route_address]
                del self._connections[address]
                if self._outgoing.get(worker.peer) == address:
                    del self._outgoing[worker.peer]

    def connections(self) -> list[ConnectionInfo]:
        """Every open connection."""
        return [w.info() for w in self._connections.values() if not w.closed.is_set()]

    def connection(self, worker: str) -> ConnectionInfo | None:
        """The connection whose worker address (hex, `0#hex` or `/worker/hex`) is `worker`."""
        key = worker.rsplit("/", 1)[-1].rsplit("#", 1)[-1]
        found = self._connections.get(Address(0, key))
        return None if found is None or found.closed.is_set() else found.info()

    def disconnect(self, worker: str) -> bool:
        """Close the connection whose worker address is `worker`; False when there is none."""
        info = self.connection(worker)
        if info is None:
            return False
        return self.node.stop_actor(Address(0, info.worker))
