"""Secure channels in a node process: control requests, their handlers, and the node's setup.

At start, every node loads its identity from the default vault (see `_identity_store`),
reports its identifier in `node show`, and starts a secure channel listener at `api`. When it
is asked to stop, it closes its channels first, so their other ends stop too.
"""

from __future__ import annotations

import logging

import trio

from secure import (
    DEFAULT_LISTENER,
    SecureChannelInfo,
    SecureChannelListenerInfo,
    SecureChannels,
)

from ._control import ControlError, Empty, Request
from ._controller import SETUP_HOOKS, SHUTDOWN_HOOKS, NodeController, NotFound, handles
from ._identity_store import get_or_create_identity

log = logging.getLogger("ockam.control")


class CreateSecureChannel(Request, frozen=True, tag="secure-channel-create"):
    """Open a secure channel along `route` (to a listener), accepting only `authorized`."""

    route: str
    authorized: list[str] = []
    timeout: float = 10.0


class ListSecureChannels(Request, frozen=True, tag="secure-channel-list"):
    """Every established secure channel end on the node."""


class ShowSecureChannel(Request, frozen=True, tag="secure-channel-show"):
    """One channel end, by its address."""

    address: str


class DeleteSecureChannel(Request, frozen=True, tag="secure-channel-delete"):
    """Close one channel end (the other end closes too), by its address."""

    address: str


class CreateSecureChannelListener(Request, frozen=True, tag="secure-channel-listener-create"):
    """Start a secure channel listener at local `address`, accepting only `authorized`."""

    address: str
    authorized: list[str] = []


class ListSecureChannelListeners(Request, frozen=True, tag="secure-channel-listener-list"):
    """Every secure channel listener on the node."""


class DeleteSecureChannelListener(Request, frozen=True, tag="secure-channel-listener-delete"):
    """Stop the listener at `address`; channels it accepted stay open."""

    address: str


def channels_of(controller: NodeController) -> SecureChannels:
    """The node's secure channel registry (set up by `setup_secure_channels`)."""
    channels = getattr(controller, "secure", None)
    if not isinstance(channels, SecureChannels):
        raise ControlError(f"node {controller.node.name} has no secure channels set up")
    return channels


async def setup_secure_channels(controller: NodeController) -> None:
    """Load the node's identity, create its registry and start the listener at `api`."""
    # controller.home is $OCKAM_HOME/nodes/NAME, in the OCKAM_HOME the node was started with.
    home = controller.home.parent.parent
    name = controller.identity_name or controller.node.name
    identity, static_private = await trio.to_thread.run_sync(get_or_create_identity, home, name)
    channels = SecureChannels(controller.node, identity, static_private=static_private)
    controller.secure = channels  # type: ignore[attr-defined]
    controller.identity_name = name
    controller.identifier = identity.identifier
    await channels.create_listener(DEFAULT_LISTENER)
    log.info("node %s uses identity %s (%s)", controller.node.name, name, identity.identifier)


async def close_secure_channels(controller: NodeController) -> None:
    """Tell the other end of every channel that this node is stopping (`SecureChannels.aclose`)."""
    channels = getattr(controller, "secure", None)
    if isinstance(channels, SecureChannels):
        await channels.aclose()


SETUP_HOOKS.append(setup_secure_channels)
SHUTDOWN_HOOKS.append(close_secure_channels)


@handles(CreateSecureChannel)
async def _create(c: NodeController, r: CreateSecureChannel) -> SecureChannelInfo:
    channels = channels_of(c)
    route = await c.route(r.route)
    return await channels.create(route, authorized=r.authorized, timeout=r.timeout)


@handles(ListSecureChannels)
async def _list(c: NodeController, _: ListSecureChannels) -> list[SecureChannelInfo]:
    return channels_of(c).list()


@handles(ShowSecureChannel)
async def _show(c: NodeController, r: ShowSecureChannel) -> SecureChannelInfo:
    info = channels_of(c).show(r.address)
    if info is None:
        raise NotFound(f"no secure channel {r.address!r} on node {c.node.name}")
    return info


@handles(DeleteSecureChannel)
async def _delete(c: NodeController, r: DeleteSecureChannel) -> Empty:
    if not channels_of(c).delete(r.address):
        raise NotFound(f"no secure channel {r.address!r} on node {c.node.name}")
    return Empty()


@handles(CreateSecureChannelListener)
async def _create_listener(
    c: NodeController, r: CreateSecureChannelListener
) -> SecureChannelListenerInfo:
    return await channels_of(c).create_listener(r.address, authorized=r.authorized)


@handles(ListSecureChannelListeners)
async def _listeners(
    c: NodeController, _: ListSecureChannelListeners
) -> list[SecureChannelListenerInfo]:
    return channels_of(c).listeners()


@handles(DeleteSecureChannelListener)
async def _delete_listener(c: NodeController, r: DeleteSecureChannelListener) -> Empty:
    if not channels_of(c).delete_listener(r.address):
        raise NotFound(f"no secure channel listener {r.address!r} on node {c.node.name}")
    return Empty()
