"""TCP (and WebSocket) transports: `ockam tcp-listener ...` and `ockam tcp-connection ...`."""

from __future__ import annotations

from typing import Annotated

import trio
from cyclopts import Parameter

from actors import TransportError, local_name
from transports import ConnectionInfo, ListenerInfo, StreamTransport

from ._app import DEFAULT, Common, NodeOption, command_group
from ._control import Request
from ._controller import NodeController
from ._feature import Feature
from ._node_view import connection_status, listener_status
from ._resource import Key, Resource

CONNECT_TIMEOUT = 10.0
"""Seconds `tcp-connection create` waits for the peer to accept."""

CONNECTION_FLAGS = ("--from", "--at", "--node")
"""The node of a `tcp-connection` command: `--from`, or `--at`/`--node` as in the seeds."""


def _transports(c: NodeController) -> list[StreamTransport]:
    return [c.node.tcp, c.node.ws]


def _mode(info: ConnectionInfo) -> str:
    return "Remote connection" if info.mode == "outgoing" else "Incoming connection"


LISTENERS = Resource(
    noun="TCP listener",
    info=ListenerInfo,
    columns=("Worker address", "Socket address", "Transport"),
    row=lambda i: [f"/service/{i.worker}", i.address, i.transport],
    items=lambda c: [i for t in _transports(c) for i in t.listeners()],
    keys=lambda i: [i.worker, i.address],
    remove=lambda c, key: any(t.stop_listener(key) for t in _transports(c)),
    line=lambda i: f"/service/{i.worker}  {i.address}  {i.transport}",
    shown=lambda i: i.address,
    key=Key("address", "A socket address (HOST:PORT) or a worker address.", local_name),
    view=lambda i, _: listener_status(i),
    created=("{i.address}", "[green]✔︎[/green] Node {node} takes {kind} connections on {i.address}"),
)

CONNECTIONS = Resource(
    noun="TCP connection",
    info=ConnectionInfo,
    columns=("Worker address", "Transport Type", "Mode", "Socket address"),
    row=lambda i: [f"/service/{i.worker}", "TCP", _mode(i), i.peer],
    items=lambda c: [i for t in _transports(c) for i in t.connections()],
    keys=lambda i: [i.worker],
    remove=lambda c, worker: any(t.disconnect(worker) for t in _transports(c)),
    line=lambda i: f"/service/{i.worker}  {i.mode}  {i.peer}",
    key=Key("worker", "The connection's worker address, like /service/HEX.", local_name),
    view=lambda i, _: connection_status(i),
    created=(
        "/service/{i.worker}",
        "[green]✔︎[/green] TCP connection to {i.peer}: /service/{i.worker}",
    ),
    node_flags=CONNECTION_FLAGS,
)

listener_app = command_group("tcp-listener", "Manage a node's TCP listeners.")
connection_app = command_group("tcp-connection", "Manage a node's TCP connections.")
FEATURE = Feature(
    "transport", commands=[listener_app, connection_app], resources=[LISTENERS, CONNECTIONS]
)


class CreateListener(Request, frozen=True, tag="tcp-listener-create"):
    """Listen for TCP connections on `address` (WebSocket connections with `ws`)."""

    address: str
    ws: bool = False


class CreateConnection(Request, frozen=True, tag="tcp-connection-create"):
    """Open a TCP connection to `address`."""

    address: str


@FEATURE.handles(CreateListener)
async def _listen(c: NodeController, r: CreateListener) -> ListenerInfo:
    transport = c.node.ws if r.ws else c.node.tcp
    return await transport.listen(r.address)


@FEATURE.handles(CreateConnection)
async def _connect(c: NodeController, r: CreateConnection) -> ConnectionInfo:
    with trio.move_on_after(CONNECT_TIMEOUT):
        return await c.node.tcp.connect(r.address)
    raise TransportError(
        f"no TCP connection to {r.address} within {CONNECT_TIMEOUT:g} s: nothing accepted it "
        "(is the address right, and does a firewall drop connections to it?)"
    )


@listener_app.command(name="create")
def listener_create(
    address: str,
    /,
    *,
    at: NodeOption = None,
    ws: Annotated[bool, Parameter(negative="")] = False,
    common: Common = DEFAULT,
) -> None:
    """Listen for TCP connections on ADDRESS (HOST:PORT).

    Parameters
    ----------
    address
        Where to listen, like 127.0.0.1:7001 (port 0 picks a free port).
    ws
        Take the connections as WebSocket connections (for a node behind an HTTP load
        balancer); routes reach it as /ip4/HOST/tcp/PORT/ws or /dnsaddr/HOST/tcp/PORT/ws.
    """
    LISTENERS.create(at, CreateListener(address, ws), common, kind="WebSocket" if ws else "TCP")


@connection_app.command(name="create")
def connection_create(
    *,
    to: str,
    from_: Annotated[str | None, Parameter(name=list(CONNECTION_FLAGS))] = None,
    common: Common = DEFAULT,
) -> None:
    """Open a TCP connection from a node to HOST:PORT; prints its worker address.

    Parameters
    ----------
    to
        Where to connect, like 127.0.0.1:7000.
    from_
        The node (default: the oldest).
    """
    CONNECTIONS.create(from_, CreateConnection(to), common)
