"""Relays: `ockam relay ...`, and its older names `forwarder` (and the seeds' `fowarder`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from cyclopts import Parameter

from actors import MultiAddr, RelayInfo, Route, RouteRefresh, check_relay_name, start_relay

from ._app import DEFAULT, Common, command_group, resolved
from ._control import Request
from ._controller import NodeController
from ._feature import Feature
from ._node_view import relay_info, relay_show
from ._persisted import forgetting, remember
from ._resource import Key, Resource


def _remove(c: NodeController, name: str) -> bool:
    client = c.relays.pop(name, None)
    if client is None:
        return False
    c.node.stop_actor(client.ctx.address)
    return True


RELAYS = Resource(
    noun="relay",
    info=RelayInfo,
    columns=("Name", "Remote address", "At", "Status"),
    row=lambda r: [r.name, r.remote_address, r.at, r.status],
    items=lambda c: [client.info() for client in c.relays.values()],
    keys=lambda r: [r.name],
    remove=forgetting("relay", _remove),
    line=lambda r: r.remote_address,
    pretty=lambda r, _: f"{r.name}: {r.remote_address} at {r.at} ({r.status})",
    key=Key("name", "The relay's name."),
    view=lambda r, _: relay_info(r),
    show_view=lambda r, _: relay_show(r),
    created=(
        "{i.remote_address}",
        "[green]✔︎[/green] Now relaying messages from {at}{i.remote_address} → "
        "/node/{node}{i.worker_address}",
    ),
    node_flags=("--at", "--to", "--node"),
    help={"delete": "Stop keeping a relay registered."},
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


def _resolving(c: NodeController, text: str) -> RouteRefresh:
    """A relay's `refresh` for a route with channels in it: the route resolved again before
    each registration, which reuses the live channels and opens new ones in place of those
    that ended (along the next of a project's access routes when the first is down)."""

    async def refresh(_: Route) -> Route:
        return await c.route(text)

    return refresh


@FEATURE.handles(CreateRelay)
async def _create_relay(c: NodeController, r: CreateRelay) -> RelayInfo:
    old = c.relays.get(r.name)
    if old is not None:
        c.node.stop_actor(old.ctx.address)
    at = await c.route(r.at)
    # Through secure channels (`--at /project/NAME`, `/node/n2/secure/api`), shown as typed:
    # the channels' addresses change.
    through_channels = not MultiAddr.parse(r.at).resolved
    refresh = _resolving(c, r.at) if through_channels else None
    label = r.at if through_channels else None
    client = await start_relay(c.node, at=at, name=r.name, refresh=refresh, label=label)
    c.relays[r.name] = client
    remember(c, "relay", r.name, r)
    return client.info()


RelayName = Annotated[str, Parameter(help="The relay's name; its address is forward_to_NAME.")]
RelayAt = Annotated[str, Parameter(help="The relay node, like /node/n2 or a route to it.")]
RelayTo = Annotated[
    str | None, Parameter(help="The node that the relay leads to (default: oldest).")
]


def _create_command(help: str, *, pretty: str = "") -> Callable[..., None]:
    """The `create` command of `relay` or `forwarder`: the same but for its help and what it
    prints on a terminal (`pretty`, a `Resource.created` template)."""

    def create(
        name: RelayName = "default",
        /,
        *,
        at: RelayAt,
        to: RelayTo = None,
        common: Common = DEFAULT,
    ) -> None:
        check_relay_name(name)
        request = CreateRelay(name, resolved(at))
        RELAYS.create(to, request, common, pretty=pretty, at=at.rstrip("/"))

    create.__doc__ = help
    return create


relay_app.command(
    _create_command("Create a relay at a node, leading back to another node; prints its address."),
    name="create",
)
forwarder_create = _create_command(
    "Create a forwarder (a relay); prints its address, /service/forward_to_NAME.",
    pretty="{i.remote_address}",
)
forwarder_app.command(forwarder_create, name="create")
misspelled_app.command(forwarder_create, name="create")
