"""TCP (and WebSocket) transports: `ockam tcp-listener ...` and `ockam tcp-connection ...`."""

from __future__ import annotations

from typing import Annotated

import trio
from cyclopts import Parameter

from actors import TransportError, local_name
from transports import ConnectionInfo, ListenerInfo, StreamTransport

from ._app import DEFAULT, Common, NodeOption, ask_node, command_group, to_builtins
from ._control import Request
from ._controller import NodeController
from ._feature import Feature
from ._resource import Resource

CONNECT_TIMEOUT = 10.0
"""Seconds `tcp-connection create` waits for the peer to accept."""

CONNECTION_FLAGS = ("--from", "--at", "--node")
"""The node of a `tcp-connection` command: `--from`, or `--at`/`--node` as in the seeds."""


def _transports(c: NodeController) -> list[StreamTransport]:
    return [c.node.tcp, c.node.ws]


def _listener(c: NodeController, key: str) -> ListenerInfo | None:
    found = (i for t in _transports(c) for i in t.listeners() if key in (i.worker, i.address))
    return next(found, None)


def _connection(c: NodeController, key: str) -> ConnectionInfo | None:
    return next(filter(None, (t.connection(key) for t in _transports(c))), None)


def _mode(info: ConnectionInfo) -> str:
    return "Remote connection" if info.mode == "outgoing" else "Incoming connection"


LISTENERS = Resource(
    kind="tcp-listener",
    noun="TCP listener",
    info=ListenerInfo,
    items=lambda c: [i for t in _transports(c) for i in t.listeners()],
    find=_listener,
    remove=lambda c, key: any(t.stop_listener(key) for t in _transports(c)),
    title="TCP listeners",
    columns=["Worker address", "Socket address", "Transport"],
    row=lambda i: [f"/worker/{i.worker}", i.address, i.transport],
    line=lambda i: f"/worker/{i.worker}  {i.address}  {i.transport}",
    shown=lambda i: i.address,
    key_help="The listener's socket address (HOST:PORT) or worker address (/worker/HEX).",
    parse_key=local_name,
    help={
        "show": "Show one TCP listener, by socket or worker address.",
        "delete": "Stop a TCP listener, by socket or worker address.",
    },
)

CONNECTIONS = Resource(
    kind="tcp-connection",
    noun="TCP connection",
    info=ConnectionInfo,
    items=lambda c: [i for t in _transports(c) for i in t.connections()],
    find=_connection,
    remove=lambda c, key: any(t.disconnect(key) for t in _transports(c)),
    title="TCP connections",
    columns=["Worker address", "Transport Type", "Mode", "Socket address"],
    row=lambda i: [f"0#{i.worker}", "TCP", _mode(i), i.peer],
    line=lambda i: f"/worker/{i.worker}  {i.mode}  {i.peer}",
    shown=lambda i: f"/worker/{i.worker}  {i.mode}  {i.peer}",
    key_name="worker",
    key_help="The connection's worker address, like /worker/HEX.",
    parse_key=local_name,
    node_flags=CONNECTION_FLAGS,
    help={
        "list": "List a node's TCP connections (`--at` or `--node`).",
        "show": "Show one TCP connection, by worker address.",
        "delete": "Close one TCP connection, by worker address.",
    },
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
    printer = common.printer()
    record, info = ask_node(at, CreateListener(address, ws), ListenerInfo)
    kind = "WebSocket" if ws else "TCP"
    printer.emit(
        plain=info.address,
        data=to_builtins(info),
        pretty=f"[green]✔︎[/green] Node {record.name} takes {kind} connections on {info.address}",
    )


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
    printer = common.printer()
    _, info = ask_node(from_, CreateConnection(to), ConnectionInfo)
    printer.emit(
        plain=f"/worker/{info.worker}",
        data=to_builtins(info),
        pretty=f"[green]✔︎[/green] TCP connection to {info.peer}: /worker/{info.worker}",
    )
