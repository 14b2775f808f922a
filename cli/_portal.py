"""Portals: `ockam tcp-outlet ...` and `ockam tcp-inlet ...`, the two ends of a portal."""

from __future__ import annotations

from typing import Annotated

from cyclopts import Parameter

from actors import local_name
from portals import InletInfo, OutletInfo

from ._app import (
    DEFAULT,
    Common,
    NodeOption,
    RouteOption,
    ask_node,
    command_group,
    resolved,
    to_builtins,
)
from ._control import Request
from ._controller import NodeController
from ._feature import Feature
from ._resource import Resource
from ._routes import socket_address

OUTLETS = Resource(
    kind="tcp-outlet",
    noun="TCP outlet",
    info=OutletInfo,
    items=lambda c: c.portals.outlets(),
    find=lambda c, address: c.portals.outlet(address),
    remove=lambda c, address: c.portals.delete_outlet(address),
    title="TCP outlets",
    columns=["Address", "To"],
    row=lambda i: [i.worker_address, i.to],
    line=lambda i: f"{i.worker_address}  {i.to}",
    shown=lambda i: f"{i.worker_address}  {i.to}",
    key_help="The outlet's address, like /service/outlet or outlet.",
    parse_key=local_name,
    help={
        "show": "Show one TCP outlet, by address.",
        "delete": "Delete one TCP outlet, by address.",
    },
)

INLETS = Resource(
    kind="tcp-inlet",
    noun="TCP inlet",
    info=InletInfo,
    items=lambda c: c.portals.inlets(),
    find=lambda c, alias: c.portals.inlet(alias),
    remove=lambda c, alias: c.portals.delete_inlet(alias),
    title="TCP inlets",
    columns=["Alias", "Bind address", "To", "Status"],
    row=lambda i: [i.alias, i.bind_addr, i.to, i.status],
    line=lambda i: f"{i.alias}  {i.bind_addr}  {i.to}",
    shown=lambda i: f"{i.alias}  {i.bind_addr}  {i.to}",
    key_name="alias",
    key_help="The inlet's alias.",
    help={
        "show": "Show one TCP inlet, by alias.",
        "delete": "Delete one TCP inlet, by alias; its port is free again.",
    },
)

outlet_app = command_group(
    "tcp-outlet", "Create and manage TCP outlets (the service end of a portal)."
)
inlet_app = command_group("tcp-inlet", "Create and manage TCP inlets (the client end of a portal).")
FEATURE = Feature("portal", commands=[outlet_app, inlet_app], resources=[OUTLETS, INLETS])


class CreateOutlet(Request, frozen=True, tag="tcp-outlet-create"):
    """Create a TCP outlet to `target` at local address `address`."""

    target: str
    address: str | None = None


class CreateInlet(Request, frozen=True, tag="tcp-inlet-create"):
    """Create a TCP inlet listening on `bind`, reaching the outlet along `route`."""

    bind: str
    route: str
    alias: str | None = None


@FEATURE.handles(CreateOutlet)
async def _create_outlet(c: NodeController, r: CreateOutlet) -> OutletInfo:
    return await c.portals.create_outlet(target=r.target, address=r.address)


@FEATURE.handles(CreateInlet)
async def _create_inlet(c: NodeController, r: CreateInlet) -> InletInfo:
    # With secure channels, an inlet whose channel ended opens a new one for its next client.
    refresh = c.secure.refresh if c.secure is not None else None
    return await c.portals.create_inlet(
        bind=r.bind, route=await c.route(r.route), alias=r.alias, refresh=refresh
    )


@outlet_app.command(name="create")
def outlet_create(
    *,
    to: str,
    at: NodeOption = None,
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


@inlet_app.command(name="create")
def inlet_create(
    *,
    to: RouteOption,
    at: NodeOption = None,
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
    request = CreateInlet(socket_address(from_), resolved(to), alias)
    record, info = ask_node(at, request, InletInfo)
    printer.emit(
        plain=info.bind_addr,
        data=to_builtins(info),
        pretty=(
            f"[green]✔︎[/green] TCP inlet {info.alias} on node {record.name} listens on "
            f"{info.bind_addr}, reaching {info.to}"
        ),
    )
