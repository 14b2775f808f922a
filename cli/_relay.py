"""Relays: `ockam relay ...`, and its older names `forwarder` (and the seeds' `fowarder`)."""

from __future__ import annotations

from typing import Annotated

from cyclopts import Parameter

from actors import RelayInfo, check_relay_name, start_relay

from ._app import DEFAULT, Common, ask_node, command_group, resolved, to_builtins
from ._control import Request
from ._controller import NodeController
from ._feature import Feature
from ._resource import Resource


def _remove(c: NodeController, name: str) -> bool:
    client = c.relays.pop(name, None)
    if client is None:
        return False
    c.node.stop_actor(client.ctx.address)
    return True


RELAYS = Resource(
    kind="relay",
    noun="relay",
    info=RelayInfo,
    items=lambda c: [client.info() for client in c.relays.values()],
    find=lambda c, name: c.relays[name].info() if name in c.relays else None,
    remove=_remove,
    title="Relays",
    columns=["Name", "Remote address", "At", "Status"],
    row=lambda r: [r.name, r.remote_address, r.at, r.status],
    line=lambda r: r.remote_address,
    shown=lambda r: r.remote_address,
    pretty=lambda r, _: f"{r.name}: {r.remote_address} at {r.at} ({r.status})",
    key_name="name",
    key_help="The relay's name.",
    node_flags=("--at", "--to", "--node"),
    help={
        "list": "List the relays a node keeps registered.",
        "show": "Show one relay a node keeps registered.",
        "delete": "Stop keeping a relay registered.",
    },
)

relay_app = command_group("relay", "Create and manage relays.")
forwarder_app = command_group("forwarder", "Create relays (the older name of `relay`).")
# The command reference (seed 004) spells it `ockam fowarder create`; it works as typed.
misspelled_app = command_group(
    "fowarder", "Create relays (a misspelling of `forwarder`).", show=False
)
FEATURE = Feature("relay", commands=[relay_app, forwarder_app, misspelled_app], resources=[RELAYS])


class CreateRelay(Request, frozen=True, tag="relay-create"):
    """Register relay `name` at the relay node `at` leads to."""

    name: str
    at: str


@FEATURE.handles(CreateRelay)
async def _create_relay(c: NodeController, r: CreateRelay) -> RelayInfo:
    old = c.relays.get(r.name)
    if old is not None:
        c.node.stop_actor(old.ctx.address)
    client = await start_relay(c.node, at=await c.route(r.at), name=r.name)
    c.relays[r.name] = client
    return client.info()


def _create(name: str, at: str, to: str | None, common: Common, *, style: str) -> None:
    printer = common.printer()
    check_relay_name(name)
    record, info = ask_node(to, CreateRelay(name, resolved(at)), RelayInfo)
    pretty = info.remote_address
    if style == "relay":
        pretty = (
            f"[green]✔︎[/green] Now relaying messages from {at.rstrip('/')}{info.remote_address}"
            f" → /node/{record.name}{info.worker_address}"
        )
    printer.emit(plain=info.remote_address, data=to_builtins(info), pretty=pretty)


RelayName = Annotated[str, Parameter(help="The relay's name; its address is forward_to_NAME.")]
RelayAt = Annotated[str, Parameter(help="The relay node, like /node/n2 or a route to it.")]
RelayTo = Annotated[
    str | None, Parameter(help="The node that the relay leads to (default: oldest).")
]


@relay_app.command(name="create")
def relay_create(
    name: RelayName = "default",
    /,
    *,
    at: RelayAt,
    to: RelayTo = None,
    common: Common = DEFAULT,
) -> None:
    """Create a relay at a node, leading back to another node; prints its address."""
    _create(name, at, to, common, style="relay")


@forwarder_app.command(name="create")
def forwarder_create(
    name: RelayName = "default",
    /,
    *,
    at: RelayAt,
    to: RelayTo = None,
    common: Common = DEFAULT,
) -> None:
    """Create a forwarder (a relay); prints its address, /service/forward_to_NAME."""
    _create(name, at, to, common, style="forwarder")


misspelled_app.command(forwarder_create, name="create")
