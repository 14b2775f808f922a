"""`ockam tcp-outlet ...` and `ockam tcp-inlet ...`: the two ends of a portal."""

from __future__ import annotations

from typing import Annotated

from cyclopts import Parameter

from actors import RouteError
from portals import InletInfo, OutletInfo

from ._app import (
    DEFAULT,
    Common,
    NodeOption,
    RouteOption,
    ask,
    ask_node,
    resolved,
    run,
    store,
    sub_app,
    target_node,
    to_builtins,
)
from ._control import (
    CreateInlet,
    CreateOutlet,
    DeleteInlet,
    DeleteOutlet,
    Empty,
    ListInlets,
    ListOutlets,
    ShowInlet,
    ShowOutlet,
)

outlet_app = sub_app("tcp-outlet", "Create and manage TCP outlets (the service end of a portal).")
inlet_app = sub_app("tcp-inlet", "Create and manage TCP inlets (the client end of a portal).")

At = NodeOption


def socket_address(value: str) -> str:
    """`HOST:PORT` from `HOST:PORT` or a bare `PORT` (which means 127.0.0.1:PORT)."""
    value = value.strip()
    if value.isdigit():
        value = f"127.0.0.1:{value}"
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        raise RouteError(f"bad socket address {value!r}: expected HOST:PORT or PORT")
    return value


def local_name(value: str) -> str:
    """The worker name in `outlet`, `/service/outlet` or `/worker/outlet`."""
    for prefix in ("/service/", "/worker/", "0#"):
        if value.startswith(prefix):
            value = value[len(prefix) :]
    if not value or "/" in value or "#" in value:
        raise RouteError(f"bad worker address {value!r}: expected a name like /service/outlet")
    return value


@outlet_app.command(name="create")
def outlet_create(
    *,
    to: str,
    at: At = None,
    from_: Annotated[str | None, Parameter(name="--from")] = None,
    common: Common = DEFAULT,
) -> None:
    """Create a TCP outlet: messages to its address reach the TCP server at --to.

    Parameters
    ----------
    to
        The TCP server, HOST:PORT or PORT.
    from_
        The outlet's address, like /service/outlet (default: outlet, then random).
    """
    printer = common.printer()
    request = CreateOutlet(socket_address(to), local_name(from_) if from_ else None)
    record, info = ask_node(at, request, OutletInfo)
    printer.emit(
        plain=info.worker_address,
        data=to_builtins(info),
        pretty=(
            f"[green]✔︎[/green] Created a TCP outlet on node {record.name} at "
            f"{info.worker_address}, forwarding to {info.to}"
        ),
    )


@outlet_app.command(name="list")
def outlet_list(*, at: At = None, common: Common = DEFAULT) -> None:
    """List a node's TCP outlets."""
    printer = common.printer()
    _, infos = ask_node(at, ListOutlets(), list[OutletInfo])
    printer.table(
        title="TCP outlets",
        columns=["Address", "To"],
        rows=[[i.worker_address, i.to] for i in infos],
        data=to_builtins(infos),
        plain_rows=[f"{i.worker_address}  {i.to}" for i in infos],
    )


@outlet_app.command(name="show")
def outlet_show(address: str, /, *, at: At = None, common: Common = DEFAULT) -> None:
    """Show one TCP outlet, by address."""
    printer = common.printer()
    _, info = ask_node(at, ShowOutlet(local_name(address)), OutletInfo)
    printer.emit(plain=f"{info.worker_address}  {info.to}", data=to_builtins(info))


@outlet_app.command(name="delete")
def outlet_delete(address: str, /, *, at: At = None, common: Common = DEFAULT) -> None:
    """Delete one TCP outlet, by address."""
    printer = common.printer()
    ask_node(at, DeleteOutlet(local_name(address)), Empty)
    printer.emit(plain=address, data={"deleted": address})


@inlet_app.command(name="create")
def inlet_create(
    *,
    to: RouteOption,
    at: At = None,
    from_: Annotated[str, Parameter(name="--from")] = "127.0.0.1:0",
    alias: str | None = None,
    common: Common = DEFAULT,
) -> None:
    """Create a TCP inlet: TCP clients of --from reach the outlet at the end of --to.

    Parameters
    ----------
    to
        The route to the outlet, like /node/n1/service/outlet; '-' takes a piped route.
    from_
        Where the inlet listens, HOST:PORT or PORT.
    alias
        The inlet's name (default: random).
    """
    printer = common.printer()
    state = store()
    record = target_node(state, at)
    request = CreateInlet(socket_address(from_), resolved(state, to), alias)
    info = run(lambda: ask(state, record, request, InletInfo))
    printer.emit(
        plain=info.bind_addr,
        data=to_builtins(info),
        pretty=(
            f"[green]✔︎[/green] TCP inlet {info.alias} on node {record.name} listens on "
            f"{info.bind_addr}, reaching {info.to}"
        ),
    )


@inlet_app.command(name="list")
def inlet_list(*, at: At = None, common: Common = DEFAULT) -> None:
    """List a node's TCP inlets."""
    printer = common.printer()
    _, infos = ask_node(at, ListInlets(), list[InletInfo])
    printer.table(
        title="TCP inlets",
        columns=["Alias", "Bind address", "To", "Status"],
        rows=[[i.alias, i.bind_addr, i.to, i.status] for i in infos],
        data=to_builtins(infos),
        plain_rows=[f"{i.alias}  {i.bind_addr}  {i.to}" for i in infos],
    )


@inlet_app.command(name="show")
def inlet_show(alias: str, /, *, at: At = None, common: Common = DEFAULT) -> None:
    """Show one TCP inlet, by alias."""
    printer = common.printer()
    _, info = ask_node(at, ShowInlet(alias), InletInfo)
    printer.emit(plain=f"{info.alias}  {info.bind_addr}  {info.to}", data=to_builtins(info))


@inlet_app.command(name="delete")
def inlet_delete(alias: str, /, *, at: At = None, common: Common = DEFAULT) -> None:
    """Delete one TCP inlet, by alias; its port is free again."""
    printer = common.printer()
    ask_node(at, DeleteInlet(alias), Empty)
    printer.emit(plain=alias, data={"deleted": alias})
