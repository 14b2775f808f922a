"""Portals: `ockam tcp-outlet ...` and `ockam tcp-inlet ...`, the two ends of a portal."""

from __future__ import annotations

from typing import Annotated

import msgspec
from cyclopts import Parameter

from actors import local_name
from portals import InletInfo, OutletInfo
from secure import parse_policy_expression

from ._app import (
    DEFAULT,
    Common,
    NodeOption,
    RouteOption,
    command_group,
    resolved,
)
from ._control import Request
from ._controller import NodeController
from ._feature import Feature
from ._inlet_identity import channels_as
from ._node_view import inlet_status, outlet_status
from ._persisted import forgetting, remember
from ._resource import Key, Resource
from ._routes import socket_address

OUTLETS = Resource(
    noun="TCP outlet",
    info=OutletInfo,
    columns=("Address", "To"),
    row=lambda i: [i.worker_address, i.to],
    items=lambda c: c.portals.outlets(),
    keys=lambda i: [i.alias],
    remove=forgetting("tcp-outlet", lambda c, name: c.portals.delete_outlet(name)),
    line=lambda i: f"{i.worker_address}  {i.to}",
    key=Key("address", "The outlet's address, like /service/outlet or outlet.", local_name),
    view=lambda i, _: outlet_status(i),
    created=(
        "{i.worker_address}",
        "[green]✔︎[/green] Created a TCP outlet on node {node} at {i.worker_address}, "
        "forwarding to {i.to}",
    ),
)

INLETS = Resource(
    noun="TCP inlet",
    info=InletInfo,
    columns=("Alias", "Bind address", "To", "Status"),
    row=lambda i: [i.alias, i.bind_addr, i.to, i.status],
    items=lambda c: c.portals.inlets(),
    keys=lambda i: [i.alias],
    remove=forgetting("tcp-inlet", lambda c, alias: c.portals.delete_inlet(alias)),
    line=lambda i: f"{i.alias}  {i.bind_addr}  {i.to}",
    key=Key("alias", "The inlet's alias."),
    view=lambda i, _: inlet_status(i),
    created=(
        "{i.bind_addr}",
        "[green]✔︎[/green] TCP inlet {i.alias} on node {node} listens on {i.bind_addr}, "
        "reaching {i.to}",
    ),
    help={"delete": "Delete one TCP inlet, by alias; its port is free again."},
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
    allow: str | None = None
    """The outlet's own policy (`--allow`), in either of Ockam's forms."""


class CreateInlet(Request, frozen=True, tag="tcp-inlet-create"):
    """Create a TCP inlet listening on `bind`, reaching the outlet along `route`."""

    bind: str
    route: str
    alias: str | None = None
    allow: str | None = None
    """The inlet's own policy (`--allow`), in either of Ockam's forms."""
    identity: str | None = None
    """The identity its route's secure channels prove (default: the node's)."""


@FEATURE.handles(CreateOutlet)
async def _create_outlet(c: NodeController, r: CreateOutlet) -> OutletInfo:
    info = await c.portals.create_outlet(target=r.target, address=r.address, policy=r.allow)
    remember(c, "tcp-outlet", info.alias, msgspec.structs.replace(r, address=info.alias))
    return info


@FEATURE.handles(CreateInlet)
async def _create_inlet(c: NodeController, r: CreateInlet) -> InletInfo:
    channels = await channels_as(c, r.identity)
    # With secure channels, an inlet whose channel ended opens a new one for its next client.
    refresh = channels.refresh if channels is not None else None
    # The route's channels open now (`/project/NAME` included): a node that is refused
    # (not a member) learns why here, not at its first client.
    route = await c.route(r.route, channels=channels)
    info = await c.portals.create_inlet(
        bind=r.bind, route=route, alias=r.alias, refresh=refresh, policy=r.allow
    )
    # Restarted, the inlet listens on the port it has now, even when 0 was asked for.
    remember(
        c,
        "tcp-inlet",
        info.alias,
        msgspec.structs.replace(r, bind=info.bind_addr, alias=info.alias),
    )
    return info


AllowOption = Annotated[
    str | None,
    Parameter(
        help="Serve only portals whose secure channel's subject satisfies this policy: an "
        "expression, like '(= subject.identifier \"I…\")', or the boolean shorthand, like "
        "'component.db or component.web'."
    ),
]


def _allow(text: str | None) -> str | None:
    """`--allow`, refused here (with where parsing stopped) when it does not parse."""
    if text is not None:
        parse_policy_expression(text)
    return text


@outlet_app.command(name="create")
def outlet_create(
    *,
    to: str,
    at: NodeOption = None,
    from_: Annotated[str | None, Parameter(name="--from")] = None,
    allow: AllowOption = None,
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
    request = CreateOutlet(
        socket_address(to), local_name(from_) if from_ else None, allow=_allow(allow)
    )
    OUTLETS.create(at, request, common)


@inlet_app.command(name="create")
def inlet_create(
    *,
    to: RouteOption,
    at: NodeOption = None,
    from_: Annotated[str, Parameter(name="--from")] = "127.0.0.1:0",
    alias: str | None = None,
    allow: AllowOption = None,
    identity: str | None = None,
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
    identity
        The identity the secure channels of --to (its /secure/api segments) prove; default:
        the node's.
    """
    request = CreateInlet(
        socket_address(from_), resolved(to), alias, allow=_allow(allow), identity=identity
    )
    INLETS.create(at, request, common)
