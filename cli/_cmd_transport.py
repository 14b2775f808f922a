"""`ockam tcp-listener ...` and `ockam tcp-connection ...`."""

from __future__ import annotations

from typing import Annotated

from cyclopts import Parameter

from transports import ConnectionInfo, ListenerInfo

from ._app import (
    DEFAULT,
    Common,
    NodeOption,
    ask_node,
    sub_app,
    to_builtins,
)
from ._control import (
    CreateConnection,
    CreateListener,
    DeleteConnection,
    DeleteListener,
    Empty,
    ListConnections,
    ListListeners,
    ShowConnection,
)

listener_app = sub_app("tcp-listener", "Manage a node's TCP listeners.")
connection_app = sub_app("tcp-connection", "Manage a node's TCP connections.")

At = NodeOption
From = Annotated[
    str | None, Parameter(name=["--from", "--at", "--node"], help="The node (default: oldest).")
]


def _mode(info: ConnectionInfo) -> str:
    return "Remote connection" if info.mode == "outgoing" else "Incoming connection"


@listener_app.command(name="create")
def listener_create(
    address: str,
    /,
    *,
    at: At = None,
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


@listener_app.command(name="list")
def listener_list(*, at: At = None, common: Common = DEFAULT) -> None:
    """List a node's TCP listeners."""
    printer = common.printer()
    _, infos = ask_node(at, ListListeners(), list[ListenerInfo])
    printer.table(
        title="TCP listeners",
        columns=["Worker address", "Socket address", "Transport"],
        rows=[[f"/worker/{i.worker}", i.address, i.transport] for i in infos],
        data=to_builtins(infos),
        plain_rows=[f"/worker/{i.worker}  {i.address}  {i.transport}" for i in infos],
    )


@listener_app.command(name="show")
def listener_show(address: str, /, *, at: At = None, common: Common = DEFAULT) -> None:
    """Show one TCP listener, by socket or worker address."""
    printer = common.printer()
    record, infos = ask_node(at, ListListeners(), list[ListenerInfo])
    key = address.rsplit("/", 1)[-1]
    for info in infos:
        if key in (info.worker, info.address):
            printer.emit(plain=info.address, data=to_builtins(info))
            return
    raise LookupError(f"no TCP listener {address!r} on node {record.name}")


@listener_app.command(name="delete")
def listener_delete(address: str, /, *, at: At = None, common: Common = DEFAULT) -> None:
    """Stop a TCP listener, by socket or worker address."""
    printer = common.printer()
    key = address.rsplit("/", 1)[-1]
    ask_node(at, DeleteListener(key), Empty)
    printer.emit(plain=address, data={"deleted": address})


@connection_app.command(name="create")
def connection_create(*, to: str, from_: From = None, common: Common = DEFAULT) -> None:
    """Open a TCP connection from a node to HOST:PORT; prints its worker address.

    Parameters
    ----------
    to
        Where to connect, like 127.0.0.1:7000.
    """
    printer = common.printer()
    _, info = ask_node(from_, CreateConnection(to), ConnectionInfo)
    printer.emit(
        plain=f"/worker/{info.worker}",
        data=to_builtins(info),
        pretty=f"[green]✔︎[/green] TCP connection to {info.peer}: /worker/{info.worker}",
    )


@connection_app.command(name="list")
def connection_list(*, at: From = None, common: Common = DEFAULT) -> None:
    """List a node's TCP connections (`--at` or `--node`)."""
    printer = common.printer()
    _, infos = ask_node(at, ListConnections(), list[ConnectionInfo])
    printer.table(
        title="TCP connections",
        columns=["Worker address", "Transport Type", "Mode", "Socket address"],
        rows=[[f"0#{i.worker}", "TCP", _mode(i), i.peer] for i in infos],
        data=to_builtins(infos),
        plain_rows=[f"/worker/{i.worker}  {i.mode}  {i.peer}" for i in infos],
    )


@connection_app.command(name="show")
def connection_show(worker: str, /, *, at: From = None, common: Common = DEFAULT) -> None:
    """Show one TCP connection, by worker address."""
    printer = common.printer()
    _, info = ask_node(at, ShowConnection(worker), ConnectionInfo)
    printer.emit(
        plain=f"/worker/{info.worker}  {info.mode}  {info.peer}",
        data=to_builtins(info),
    )


@connection_app.command(name="delete")
def connection_delete(worker: str, /, *, at: From = None, common: Common = DEFAULT) -> None:
    """Close one TCP connection, by worker address."""
    printer = common.printer()
    ask_node(at, DeleteConnection(worker), Empty)
    printer.emit(plain=worker, data={"deleted": worker})
