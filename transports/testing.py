"""The testing kit: several nodes in one nursery, connected (`async with open_topology() as t:`),
relays between them (`await t.relay("inside", at="relay")`), TCP servers for portals to reach
(`open_echo_server`, `open_sink_server`), and a pytest plugin with fixtures for all of them
(`ockam_node`, `ockam_topology`, `ockam_echo_server`, `ockam_sink_server`; see docs/testing.md).

Like `trio.testing`, a module of its own beside the layer it needs, not part of the runtime.
"""

from __future__ import annotations

from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from itertools import pairwise
from typing import Literal

import trio
from trio.testing import memory_stream_pair

from actors import (
    LOCAL,
    RELAY_PREFIX,
    RELAY_SERVICE,
    Address,
    RelayClient,
    Route,
    TransportError,
    local,
    start_relay,
    start_service,
    unwrap_group,
)

from ._connection import ConnectionInfo
from ._node import NetworkNode, open_node
from ._stream_transport import ListenerInfo, StreamTransport
from ._test_servers import EchoServer as EchoServer
from ._test_servers import SinkServer as SinkServer
from ._test_servers import TestServer as TestServer
from ._test_servers import connect as connect
from ._test_servers import open_echo_server as open_echo_server
from ._test_servers import open_sink_server as open_sink_server

TransportName = Literal["tcp", "ws", "memory"]

_ACCEPT_TIMEOUT = 10.0
"""Seconds a listening node has to take a connection made while the topology opens."""


class TopologyRelay:
    """A relay registered in a topology: `node` keeps `forward_to_<name>` alive on node `at`.

    Attributes:
        name: the relay's name.
        node: the node that registered it, where messages sent to the relay arrive.
        at: the relay node, where the relay worker runs.
        address: the relay worker's address on `at`: `forward_to_<name>`.
        client: the registering node's `RelayClient`, which keeps the relay registered.
    """

    def __init__(self, name: str, node: str, at: str, client: RelayClient) -> None:
        self.name = name
        self.node = node
        self.at = at
        self.address = RELAY_PREFIX + name
        self.client = client


class Topology:
    """Running nodes and the connections between them, as `open_topology` made them.

    Attributes:
        nodes: the nodes by name.
        transport: `"tcp"`, `"ws"` or `"memory"`.
        links: the links asked for, each `(a, b)` with `a` the connecting side.
        connections: `connections[(a, b)]` is the `ConnectionInfo` of the link between `a` and
            `b` on `a`'s side (outgoing when `a` connected to `b`, incoming otherwise). Both
            orientations of each link are present.
        listeners: the listener of each node that accepts links (`tcp` and `ws` only).
        relays: the relays registered with `relay`, by name.
    """

    def __init__(
        self,
        nodes: dict[str, NetworkNode],
        transport: TransportName,
        links: Sequence[tuple[str, str]],
    ) -> None:
        self.nodes = nodes
        self.transport = transport
        self.links = tuple(links)
        self.connections: dict[tuple[str, str], ConnectionInfo] = {}
        self.listeners: dict[str, ListenerInfo] = {}
        self.relays: dict[str, TopologyRelay] = {}

    def __getitem__(self, name: str) -> NetworkNode:
        return self.nodes[name]

    def path(self, src: str, dst: str) -> list[str]:
        """The node names from `src` to `dst` along the fewest links, both ends included.

        Raises:
            KeyError: `src` or `dst` is not a node of this topology.
            ValueError: no chain of links joins them.
        """
        for name in (src, dst):
            if name not in self.nodes:
                raise KeyError(
                    f"no node {name!r} in this topology (nodes: {', '.join(self.nodes)})"
                )
        came_from: dict[str, str | None] = {src: None}
        queue = deque([src])
        while queue:
            here = queue.popleft()
            if here == dst:
                break
            for a, b in self.connections:
                if a == here and b not in came_from:
                    came_from[b] = here
                    queue.append(b)
        if dst not in came_from:
            raise ValueError(f"no link joins {src} to {dst}")
        path = [dst]
        while (previous := came_from[path[-1]]) is not None:
            path.append(previous)
        return path[::-1]

    def route(
        self,
        src: str,
        dst: str,
        *services: str | Address,
        via_hop: bool = False,
        bypass_relays: bool = False,
    ) -> Route:
        """The route a message sent on `src` follows to `services` on `dst`, link by link.

        The route names, on each node along the way, the worker of the connection to the next
        node; replies come back through the same connections. With `via_hop` the message also
        passes through the `hop` service of every node in between, as in Ockam's examples:
        `topology.route("n1", "n3", "uppercase", via_hop=True)` is, on n1,
        `/service/<n1→n2 worker>/service/hop/service/<n2→n3 worker>/service/uppercase`.

        Such a route goes straight through the connections of the nodes in between, never
        through a relay: when `dst` registered a relay (`relay`) at a node on the way, it is
        refused, since a test of the relay would prove nothing. Use `relay_route`, or pass
        `bypass_relays=True` to mean it.

        Raises:
            KeyError: `src` or `dst` is not a node of this topology.
            ValueError: no link joins them, `via_hop` and a node in between runs no `hop`, or
                the route would go around a relay of `dst`.
        """
        path = self.path(src, dst)
        if not bypass_relays:
            for relay in self.relays.values():
                if relay.node == dst and relay.at in path[1:-1]:
                    raise ValueError(
                        f"the route from {src} to {dst} goes through {relay.at}'s connection "
                        f"to {dst}, around the relay {relay.address} there: use "
                        f"relay_route({src!r}, {relay.name!r}, ...) to go through the relay, "
                        "or route(..., bypass_relays=True) to go around it"
                    )
        addresses: list[Address] = []
        hop = local("hop")
        for i, (a, b) in enumerate(pairwise(path)):
            if via_hop and i > 0:
                if not self.nodes[a].router.is_registered(hop):
                    raise ValueError(f"via_hop: node {a} runs no hop service")
                addresses.append(hop)
            addresses.append(Address(LOCAL, self.connections[(a, b)].worker))
        addresses.extend(s if isinstance(s, Address) else local(s) for s in services)
        return Route(addresses)

    route_to = route
    """Another name for `route`."""

    async def relay(
        self, node: str, *, at: str, name: str | None = None, heartbeat: float = 5.0
    ) -> TopologyRelay:
        """Have `node` register the relay `forward_to_<name>` at node `at`, as
        `ockam relay create NAME --at /node/AT --to /node/NODE` does.

        `name` defaults to `node`'s name. `at` gets the relay service (`forwarding_service`)
        first if it does not run it (`open_topology`'s default services leave it out). Messages
        that reach the relay worker on `at` go on to `node` along the connection `node` opened:
        `relay_route(src, name, *services)` is the route to `services` on `node` through it.

        Raises:
            KeyError: `node` or `at` is not a node of this topology.
            ValueError: no link joins `node` to `at`, or `name` is taken in this topology.
            RelayError: the relay service refused the name.
        """
        name = node if name is None else name
        if name in self.relays:
            raise ValueError(f"a relay named {name!r} is registered already")
        to_relay_node = self.route(node, at)
        relay_node = self.nodes[at]
        if not relay_node.router.is_registered(local(RELAY_SERVICE)):
            await start_service(relay_node, RELAY_SERVICE)
        client = await start_relay(
            self.nodes[node], at=to_relay_node, name=name, heartbeat=heartbeat
        )
        relay = TopologyRelay(name, node, at, client)
        self.relays[name] = relay
        return relay

    def relay_route(self, src: str, name: str, *services: str | Address) -> Route:
        """The route from `src` through the relay `name` to `services` on the node that
        registered it: the connections from `src` to the relay node, `forward_to_<name>` there,
        then `services` (`/service/<src→relay worker>/service/forward_to_inside/service/outlet`).

        Raises:
            KeyError: `src` is not a node of this topology, or no relay is named `name`.
            ValueError: no link joins `src` to the relay node.
        """
        relay = self.relays.get(name)
        if relay is None:
            known = ", ".join(self.relays) or "none"
            raise KeyError(f"no relay {name!r} in this topology (relays: {known})")
        return self.route(src, relay.at, relay.address, *services)


@asynccontextmanager
async def open_topology(
    names: Sequence[str] = ("n1", "n2", "n3"),
    *,
    links: Sequence[tuple[str, str]] | None = None,
    transport: TransportName = "tcp",
    services: Sequence[str] = ("echo", "uppercase", "hop"),
) -> AsyncIterator[Topology]:
    """Run connected nodes in one nursery for the duration of the `async with` block.

    Args:
        names: the nodes' names, each unique.
        links: pairs of node names to connect; the first connects to the second. Default: a
            chain, each node connected to the next (`n1-n2`, `n2-n3`).
        transport: `"tcp"` or `"ws"`: each node on the right of a link listens on
            127.0.0.1 port 0 and the left one connects to it; `"memory"`: each link is a
            `trio.testing.memory_stream_pair()` with one end attached to each node's TCP
            transport (no sockets, so `autojump_clock` works).
        services: built-in or plugin services started on every node.

    Leaving the block stops every node, as leaving `open_node` does.

    Example:
        async with open_topology() as topology:
            route = topology.route("n1", "n3", "uppercase", via_hop=True)
            reply = await topology["n1"].request(route, b"hello")
            assert reply.payload == b"HELLO"
    """
    names = list(names)
    if not names or len(set(names)) != len(names):
        raise ValueError(f"names must be non-empty and unique, not {names!r}")
    if transport not in ("tcp", "ws", "memory"):
        raise ValueError(f"transport must be 'tcp', 'ws' or 'memory', not {transport!r}")
    pairs = list(pairwise(names)) if links is None else [(a, b) for a, b in links]
    seen: set[frozenset[str]] = set()
    for a, b in pairs:
        if a not in names or b not in names or a == b:
            raise ValueError(f"bad link {(a, b)!r}: it must join two different nodes of {names}")
        if frozenset((a, b)) in seen:
            raise ValueError(f"link {(a, b)!r} is given twice")
        seen.add(frozenset((a, b)))
    try:
        async with trio.open_nursery() as nursery:
            try:
                nodes: dict[str, NetworkNode] = {}
                for name in names:
                    nodes[name] = await nursery.start(_run_node, name, tuple(services))
                topology = Topology(nodes, transport, pairs)
                for a, b in pairs:
                    await _connect(topology, a, b)
                yield topology
            finally:
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        raise unwrap_group(group) from None


async def _run_node(
    name: str,
    services: tuple[str, ...],
    *,
    task_status: trio.TaskStatus[NetworkNode] = trio.TASK_STATUS_IGNORED,
) -> None:
    async with open_node(name, services=services) as node:
        task_status.started(node)
        await trio.sleep_forever()


def _transport(node: NetworkNode, kind: TransportName) -> StreamTransport:
    return node.ws if kind == "ws" else node.tcp


async def _connect(topology: Topology, a: str, b: str) -> None:
    left, right = topology.nodes[a], topology.nodes[b]
    if topology.transport == "memory":
        a_end, b_end = memory_stream_pair()
        a_side = await _transport(left, "memory").attach(a_end, peer=b, mode="outgoing")
        b_side = await _transport(right, "memory").attach(b_end, peer=a, mode="incoming")
    else:
        listener = topology.listeners.get(b)
        if listener is None:
            listener = await _transport(right, topology.transport).listen("127.0.0.1:0")
            topology.listeners[b] = listener
        accepting = _transport(right, topology.transport)
        known = {c.worker for c in accepting.connections()}
        a_side = await _transport(left, topology.transport).connect(listener.address)
        b_side = await _accepted(accepting, known, f"{b} did not accept the link from {a}")
    topology.connections[(a, b)] = a_side
    topology.connections[(b, a)] = b_side


async def _accepted(transport: StreamTransport, known: set[str], error: str) -> ConnectionInfo:
    """The first incoming connection of `transport` whose worker is not in `known`."""
    # The accepting side starts its worker in its own time; nothing signals it, so poll.
    with trio.move_on_after(_ACCEPT_TIMEOUT):
        while True:
            for info in transport.connections():
                if info.mode == "incoming" and info.worker not in known:
                    return info
            await trio.sleep(0.001)
    raise TransportError(f"{error} within {_ACCEPT_TIMEOUT:g} s")
