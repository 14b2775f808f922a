"""A node with the TCP and WebSocket transports: what most users open."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager

import trio

from actors import DEFAULT_SERVICES, Node

from ._tcp import TcpTransport
from ._websocket import WebSocketTransport


class NetworkNode(Node):
    """A `Node` that reaches other nodes over TCP (`tcp`) and WebSocket (`ws`).

    Attributes:
        tcp: listeners and connections of `1#host:port` addresses.
        ws: listeners and connections of `2#host:port` addresses.
    """

    def __init__(self, name: str, nursery: trio.Nursery) -> None:
        super().__init__(name, nursery)
        self.tcp = TcpTransport(self)
        self.ws = WebSocketTransport(self)
        self.router.register_transport(self.tcp)
        self.router.register_transport(self.ws)


def open_node(
    name: str = "node", *, services: Sequence[str] = DEFAULT_SERVICES
) -> AbstractAsyncContextManager[NetworkNode]:
    """Run a node with the TCP and WebSocket transports for the duration of the `async with`
    block.

    Args:
        name: the node's name, used in logs.
        services: built-in or plugin services to start (see `actors.BUILTIN_SERVICES`).

    Leaving the block cancels every actor and closes every socket the node opened.

    Example:
        async with open_node("n1") as node:
            listener = await node.tcp.listen("127.0.0.1:0")
    """
    return NetworkNode.open(name, services=services)
