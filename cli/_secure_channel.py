"""Secure channels: `ockam secure-channel ...` and `ockam secure-channel-listener ...`, their
control requests, and the node's setup.

At start, every node loads its identity from the default vault (see `_identity_store`),
reports its identifier in `node show`, and starts a secure channel listener at `api`. When it
is asked to stop, it closes its channels first, so their other ends stop too.
"""

from __future__ import annotations

import logging
from typing import Annotated

import trio
from cyclopts import Parameter

from actors import local_name
from secure import (
    DEFAULT_LISTENER,
    SecureChannelInfo,
    SecureChannelListenerInfo,
    SecureChannels,
    check_identifier,
)

from ._app import DEFAULT, Common, NodeOption, command_group, resolved
from ._control import Request
from ._controller import NodeController
from ._feature import Feature
from ._identity_store import get_or_create_identity
from ._persisted import forgetting, remember
from ._resource import Key, Resource

log = logging.getLogger("ockam.control")


def _channel_pretty(info: SecureChannelInfo, node: str) -> str:
    authorized = ", ".join(info.authorized) or "any identity"
    return (
        f"Secure channel {info.address} ({info.role}) on node {node}\n"
        f"  route: {info.route}\n"
        f"  identifier: {info.identifier}\n"
        f"  remote identifier: {info.remote_identifier}\n"
        f"  authorized: {authorized}"
    )


CHANNELS = Resource(
    noun="secure channel",
    info=SecureChannelInfo,
    columns=("Address", "Role", "Route", "Remote identifier"),
    row=lambda i: [i.address, i.role, i.route, i.remote_identifier],
    items=lambda c: c.channels().list(),
    keys=lambda i: [local_name(i.address)],
    remove=lambda c, address: c.channels().delete(address),
    line=lambda i: i.address,
    pretty=_channel_pretty,
    key=Key("address", "The channel's address, like /service/<hex>.", local_name),
    created=(
        "{i.address}",
        "[green]✔︎[/green] Secure channel created\n  From: /node/{node} ({i.identifier})\n"
        "    To: {to} ({i.remote_identifier})\n    At: {i.address}",
    ),
    empty="No secure channels on node {node}.",
    help={"delete": "Close a secure channel; its other end closes too."},
)

LISTENERS = Resource(
    noun="secure channel listener",
    info=SecureChannelListenerInfo,
    columns=("Address", "Identifier", "Authorized"),
    row=lambda i: [i.address, i.identifier, ", ".join(i.authorized) or "any"],
    items=lambda c: c.channels().listeners(),
    keys=lambda i: [local_name(i.address)],
    remove=forgetting(
        "secure-channel-listener", lambda c, address: c.channels().delete_listener(address)
    ),
    line=lambda i: i.address,
    key=Key("address", "The listener's address, like my_listener.", local_name),
    created=(
        "{i.address}",
        "[green]✔︎[/green] Secure channel listener at {i.address} on node {node}",
    ),
    empty="No secure channel listeners on node {node}.",
    help={"delete": "Stop a secure channel listener; the channels it accepted stay open."},
)


async def setup_secure_channels(controller: NodeController) -> None:
    """Load the node's identity, create its channels and start the listener at `api`."""
    # controller.home is $OCKAM_HOME/nodes/NAME, in the OCKAM_HOME the node was started with.
    home = controller.home.parent.parent
    name = controller.identity_name or controller.node.name
    identity, static_private = await trio.to_thread.run_sync(get_or_create_identity, home, name)
    channels = SecureChannels(controller.node, identity, static_private=static_private)
    controller.secure = channels
    controller.identity_name = name
    controller.identifier = identity.identifier
    await channels.create_listener(DEFAULT_LISTENER)
    log.info("node %s uses identity %s (%s)", controller.node.name, name, identity.identifier)


async def close_secure_channels(controller: NodeController) -> None:
    """Tell the other end of every channel that this node is stopping (`SecureChannels.aclose`)."""
    if controller.secure is not None:
        await controller.secure.aclose()


channel_app = command_group(
    "secure-channel", "Create and manage end-to-end encrypted secure channels."
)
listener_app = command_group(
    "secure-channel-listener", "Manage the listeners that accept channels."
)
FEATURE = Feature(
    "secure-channel",
    commands=[channel_app, listener_app],
    resources=[CHANNELS, LISTENERS],
    setup=[setup_secure_channels],
    shutdown=[close_secure_channels],
)


class CreateSecureChannel(Request, frozen=True, tag="secure-channel-create"):
    """Open a secure channel along `route` (to a listener), accepting only `authorized`."""

    route: str
    authorized: list[str] = []
    timeout: float = 10.0


class CreateSecureChannelListener(Request, frozen=True, tag="secure-channel-listener-create"):
    """Start a secure channel listener at local `address`, accepting only `authorized`."""

    address: str
    authorized: list[str] = []


@FEATURE.handles(CreateSecureChannel)
async def _create(c: NodeController, r: CreateSecureChannel) -> SecureChannelInfo:
    channels = c.channels()
    route = await c.route(r.route)
    return await channels.create(route, authorized=r.authorized, timeout=r.timeout)


@FEATURE.handles(CreateSecureChannelListener)
async def _create_listener(
    c: NodeController, r: CreateSecureChannelListener
) -> SecureChannelListenerInfo:
    info = await c.channels().create_listener(r.address, authorized=r.authorized)
    remember(c, "secure-channel-listener", r.address, r)
    return info


Authorized = Annotated[
    list[str] | None,
    Parameter(help="An identifier (I…) the other end must have; repeat to allow several."),
]


def _authorized(values: list[str] | None) -> list[str]:
    return [check_identifier(v) for v in values or []]


@channel_app.command(name="create")
def channel_create(
    *,
    to: str,
    from_: Annotated[str | None, Parameter(name="--from")] = None,
    authorized: Authorized = None,
    timeout: float = 10.0,
    common: Common = DEFAULT,
) -> None:
    """Open a secure channel from a node to a listener; prints the channel's address.

    Send into the channel with a route that starts with that address, e.g.
    `ockam message send hi --from n1 --to /service/<address>/service/uppercase`.

    Parameters
    ----------
    to
        The route to the listener, like /node/n2/service/api or
        /node/relay/service/forward_to_n2/service/api; a '-' segment is replaced by the route
        piped on standard input.
    from_
        The node the channel starts from (n1 or /node/n1; default: the oldest node).
    timeout
        Seconds to wait for the other end.
    """
    allowed = _authorized(authorized)
    request = CreateSecureChannel(resolved(to), allowed, timeout)
    CHANNELS.create(from_, request, common, to=to)


@listener_app.command(name="create")
def listener_create(
    address: str,
    /,
    *,
    at: NodeOption = None,
    authorized: Authorized = None,
    common: Common = DEFAULT,
) -> None:
    """Start a secure channel listener on a node; prints its address.

    Parameters
    ----------
    address
        The listener's local address, like my_listener (or /service/my_listener).
    """
    request = CreateSecureChannelListener(local_name(address), _authorized(authorized))
    LISTENERS.create(at, request, common)
