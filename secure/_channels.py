"""Opening secure channels, and a node's registry of channel ends and listeners.

A channel is opened by `create_secure_channel` (or `SecureChannels.create`) along a route that
ends at a `SecureChannelListener` (by default at ``api``). The initiator's end is a
`SecureChannelWorker`; `create` returns once the responder confirmed the channel.
"""

from __future__ import annotations

import builtins
import logging
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import trio

from actors import (
    LOCAL,
    TEMPORARY,
    Address,
    Route,
    RouteError,
    TransportError,
    local,
    local_name,
    random_address,
    wait_any,
)

from ._channel_info import SecureChannelInfo, SecureChannelListenerInfo, authorized_set
from ._channel_listener import SecureChannelListener
from ._channel_machine import ChannelMachine
from ._channel_protocol import SecureChannelError
from ._channel_settings import (
    HANDSHAKE_TIMEOUT,
    KEEPALIVE_INTERVAL,
    KEEPALIVE_TIMEOUT,
    Admit,
    ChannelSettings,
    fresh_static_key,
)
from ._channel_worker import CLOSE_TIMEOUT, SecureChannelWorker
from ._credential import Credential, CredentialError
from ._identity import Identity
from ._trust_context import TrustContext

if TYPE_CHECKING:
    from actors import Node

log = logging.getLogger("ockam.secure")

DEFAULT_LISTENER = "api"
"""The local address of the secure channel listener every CLI node runs."""

ENDED_KEPT = 256
"""How many ended channels a `SecureChannels` registry remembers for `refresh`."""


@dataclass
class _Recipe:
    """How an initiator's channel was opened, so that `SecureChannels.refresh` can open it again.

    `successor` is the address value of the channel that replaced it once it ended.
    """

    route: Route
    authorized: frozenset[str]
    timeout: float
    successor: str | None = None


def _as_route(route: Route | str) -> Route:
    return Route.parse(route) if isinstance(route, str) else route


async def create_secure_channel(
    node: Node,
    route: Route | str,
    *,
    identity: Identity,
    authorized: Iterable[str] = (),
    timeout: float = 10,
    static_private: bytes | None = None,
    keepalive_interval: float = KEEPALIVE_INTERVAL,
    keepalive_timeout: float = KEEPALIVE_TIMEOUT,
) -> SecureChannelInfo:
    """Open a secure channel to the listener at the end of `route`.

    Args:
        node: The node the channel starts from.
        route: The route to the listener, e.g. ``/ip4/10.0.0.2/tcp/4000/service/api``.
        identity: The identity this end proves.
        authorized: Identifiers the listener's identity must be one of (empty: any).
        timeout: Seconds to wait for the connection and the handshake.
        static_private: The X25519 static private key to use (a fresh one if None).
        keepalive_interval: Seconds this end may send nothing before it sends a heartbeat.
        keepalive_timeout: Seconds without any frame from the other end after which this end
            stops (longer than `keepalive_interval`).

    Returns:
        The new channel; send into it along ``/service/<hex>/service/NAME``.

    Raises:
        SecureChannelError: The route is unreachable, the listener refused, its identity is not
            authorized, the handshake failed, or nothing answered within `timeout`.
        ValueError: An authorized identifier is malformed, the timeout is not positive, or the
            keepalive timeout is not longer than a positive keepalive interval.
    """
    channels = SecureChannels(
        node,
        identity,
        static_private=static_private,
        keepalive_interval=keepalive_interval,
        keepalive_timeout=keepalive_timeout,
    )
    return await channels.create(route, authorized=authorized, timeout=timeout)


class SecureChannels:
    """A node's secure channels and listeners, under one identity.

    Args:
        node: The node.
        identity: The identity its channel ends and listeners prove.
        static_private: The X25519 static key of its handshakes (a fresh one if None), e.g.
            from `Vault.get_or_create_static_key`.
        keepalive_interval: Seconds each of its channel ends (initiators, and responders of
            its listeners) may send nothing before it sends a heartbeat.
        keepalive_timeout: Seconds without any frame from the other end after which each of
            its channel ends stops (longer than `keepalive_interval`).
        trust: The authorities its channel ends believe and the credential they present
            (None: no trust configured; subjects carry only the identifier).

    Raises:
        ValueError: The keepalive timeout is not longer than a positive keepalive interval.
    """

    def __init__(
        self,
        node: Node,
        identity: Identity,
        *,
        static_private: bytes | None = None,
        keepalive_interval: float = KEEPALIVE_INTERVAL,
        keepalive_timeout: float = KEEPALIVE_TIMEOUT,
        trust: TrustContext | None = None,
    ) -> None:
        self.settings = ChannelSettings(
            identity,
            static_private or fresh_static_key(),
            keepalive_interval=keepalive_interval,
            keepalive_timeout=keepalive_timeout,
            trust=trust,
        )
        self.node = node
        # Every channel this registry opened, by its plaintext address value, oldest first.
        self._recipes: OrderedDict[str, _Recipe] = OrderedDict()

    @property
    def identity(self) -> Identity:
        """This node's identity."""
        return self.settings.identity

    @property
    def identifier(self) -> str:
        """The identifier of this node's identity."""
        return self.settings.identity.identifier

    @property
    def trust(self) -> TrustContext | None:
        """What this node's channel ends believe and present (None: no trust configured)."""
        return self.settings.trust

    async def present_credential(self, credential: Credential) -> int:
        """Make `credential` this node's own and present it on every established channel
        end (a refreshed credential replaces the old one at each other end).

        Returns:
            How many channel ends it was presented on.

        Raises:
            SecureChannelError: There is no trust context, or the credential is not this
                node's, not from a trusted authority, or not valid now (the message says why).
        """
        trust = self.settings.trust
        if trust is None:
            raise SecureChannelError("cannot present a credential: this node trusts no authority")
        try:
            trust.verify(credential, subject=self.identifier)
        except CredentialError as exc:
            raise SecureChannelError(f"refused this node's own credential: {exc}") from None
        trust.credential = credential
        presented = 0
        for worker in self._workers():
            presented += await worker.present()
        return presented

    async def create(
        self,
        route: Route | str,
        *,
        authorized: Iterable[str] = (),
        timeout: float = 10,
        reuse: bool = False,
    ) -> SecureChannelInfo:
        """Open a channel to the listener at the end of `route` (see `create_secure_channel`).

        With `reuse`, an established channel this node opened along the same route with the
        same authorized identifiers is returned instead of a new one.
        """
        if reuse:
            onward = _as_route(route)
            allowed = authorized_set(authorized)
            worker = self._reusable(onward, allowed)
            if worker is not None:
                if worker.plaintext_address.value not in self._recipes:
                    self._remember(
                        worker.plaintext_address.value, _Recipe(onward, allowed, timeout)
                    )
                return worker.info()
        info = await self._open(route, authorized=authorized, timeout=timeout)
        self._remember(
            local_name(info.address),
            _Recipe(_as_route(route), authorized_set(authorized), timeout),
        )
        return info

    async def refresh(self, route: Route) -> Route:
        """`route`, with a new channel in place of its first address if that channel ended.

        When the first address of `route` is a channel this registry opened and that channel
        has ended (its connection went down, its peer closed it, it was deleted), a channel is
        opened again the same way (route, authorized identifiers, timeout), or a live one
        opened that way is reused, and its address replaces the first address (a channel
        opened through another channel of this registry refreshes that one first). The old
        address is remembered to map to the new one, so later calls with the old route are
        cheap while the new channel lives. A route that starts with a live channel, or with
        anything but a channel this registry opened, is returned as it is.

        Raises:
            SecureChannelError: The channel could not be opened again.
        """
        if not route or route.next.type != LOCAL:
            return route
        first = route.next.value
        recipe = self._recipes.get(first)
        if recipe is None or self._live(first):
            return route
        # Follow the channels that replaced this one; the last may still be live.
        seen = [first]
        while recipe.successor is not None and recipe.successor not in seen:
            current = recipe.successor
            if self._live(current):
                return self._replace(route, seen, current)
            seen.append(current)
            recipe = self._recipes.get(current, recipe)
        # No lock: an attempt that cannot succeed (the relay is back but the far node has not
        # registered with it yet) must not hold up a later one that can. The first channel
        # to open wins; one that opens after it is closed at once.
        # A channel opened through another channel (`/project/p/service/relay/secure/api`)
        # ended because that one did: open the inner one again first.
        onward = await self.refresh(recipe.route)
        reusable = self._reusable(onward, recipe.authorized)
        if reusable is not None:
            return self._replace(route, seen, reusable.plaintext_address.value)
        info = await self.create(onward, authorized=recipe.authorized, timeout=recipe.timeout)
        fresh = local_name(info.address)
        winner = self._live_successor(seen)
        if winner is not None and winner != fresh:
            self.delete(fresh)
            self._recipes.pop(fresh, None)
            return self._replace(route, seen, winner)
        log.info(
            "secure channel /service/%s ended; /service/%s to %s replaces it",
            first,
            fresh,
            recipe.route,
        )
        return self._replace(route, seen, fresh)

    async def _open(
        self, route: Route | str, *, authorized: Iterable[str], timeout: float
    ) -> SecureChannelInfo:
        node = self.node
        onward = _as_route(route)
        if not onward:
            raise RouteError("the route to the secure channel listener is empty")
        allowed = authorized_set(authorized)
        if not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        deadline = trio.current_time() + timeout
        with trio.move_on_at(deadline) as connecting:
            try:
                # Fail now, and clearly, on an unreachable peer.
                carrier = await node.router.resolve(onward.next)
            except TransportError as exc:
                raise SecureChannelError(
                    f"cannot open a secure channel to {onward}: {exc}"
                ) from None
        if connecting.cancelled_caught:
            raise SecureChannelError(
                f"cannot open a secure channel to {onward}: no connection to {onward.next} "
                f"within {timeout:g} s"
            )
        # The handshake fails at once when the connection that carries it ends (a closing
        # connection to a peer that just restarted), rather than at the deadline.
        gone = node.monitor(carrier) if node.actor_at(carrier) is not None else None
        machine = ChannelMachine("initiator", self.settings, route=onward, authorized=allowed)
        worker = SecureChannelWorker(machine, machine.start(trio.current_time()))
        await node.start_actor(
            worker, random_address(), aliases=[random_address()], policy=TEMPORARY
        )
        with trio.move_on_at(deadline):
            await wait_any(worker.settled, *([gone] if gone is not None else []))
        if worker.established.is_set() and not worker.stopped.is_set():
            return worker.info()
        node.stop_actor(worker.ctx.address)
        if worker.failure is not None:
            raise worker.failure
        if worker.established.is_set():
            raise SecureChannelError(f"the secure channel to {onward} closed as soon as it opened")
        if gone is not None and gone.is_set():
            raise SecureChannelError(
                f"cannot open a secure channel to {onward}: the connection to {onward.next} "
                "went down during the handshake"
            )
        raise SecureChannelError(
            f"no secure channel listener answered at {onward} within {timeout:g} s "
            "(is the route right, and does it end at a listener such as /service/api?)"
        )

    def _reusable(self, onward: Route, allowed: frozenset[str]) -> SecureChannelWorker | None:
        """A live initiator's end opened along `onward`, accepting `allowed`, under this
        registry's identity, if any (a node may hold registries of several identities: an
        inlet created with `--identity` must not ride a channel that proves another one)."""
        for worker in self._workers():
            machine = worker.machine
            if (
                machine.role == "initiator"
                and machine.settings.identity.identifier == self.identifier
                and machine.route == onward
                and machine.authorized == allowed
                and worker.established.is_set()
                and not worker.stopped.is_set()
            ):
                return worker
        return None

    def _live_successor(self, ended: builtins.list[str]) -> str | None:
        """The live channel that replaced one of `ended`, if any."""
        for value in ended:
            recipe = self._recipes.get(value)
            if recipe is not None and recipe.successor and self._live(recipe.successor):
                return recipe.successor
        return None

    def _replace(self, route: Route, ended: builtins.list[str], fresh: str) -> Route:
        for value in ended:
            old = self._recipes.get(value)
            if old is not None:
                old.successor = fresh
        return route.replace_front(local(fresh))

    def _live(self, value: str) -> bool:
        worker = self._worker(value)
        return worker is not None and worker.established.is_set() and not worker.stopped.is_set()

    def _remember(self, value: str, recipe: _Recipe) -> None:
        """Record how channel `value` was opened; forget the oldest of more than `ENDED_KEPT`
        ended channels."""
        self._recipes[value] = recipe
        self._recipes.move_to_end(value)
        ended = [v for v in self._recipes if not self._live(v)]
        for old in ended[: max(0, len(ended) - ENDED_KEPT)]:
            del self._recipes[old]

    def list(self) -> builtins.list[SecureChannelInfo]:
        """Every established channel end on the node, initiators and responders."""
        return [w.info() for w in self._workers() if w.established.is_set()]

    def show(self, address: str | Address) -> SecureChannelInfo | None:
        """The channel end whose plaintext address is `address` (``/service/hex`` or ``hex``)."""
        worker = self._worker(address)
        return None if worker is None else worker.info()

    def delete(self, address: str | Address) -> bool:
        """Close the channel end at `address`; the other end closes too. False if none."""
        worker = self._worker(address)
        if worker is None:
            return False
        worker.close("deleted")
        return True

    async def create_listener(
        self,
        address: str = DEFAULT_LISTENER,
        *,
        authorized: Iterable[str] = (),
        handshake_timeout: float = HANDSHAKE_TIMEOUT,
        admit: Admit | None = None,
    ) -> SecureChannelListenerInfo:
        """Start a listener at local `address` (default ``api``); `admit` checks each
        initiator's subject (see `SecureChannelListener`).

        Raises:
            AddressInUse: Another worker has that address.
            ValueError: An authorized identifier is malformed.
        """
        settings = replace(self.settings, handshake_timeout=handshake_timeout)
        listener = SecureChannelListener(settings, authorized=authorized, admit=admit)
        await self.node.start_actor(listener, local(local_name(address)), service=True)
        return listener.info()

    def listeners(self) -> builtins.list[SecureChannelListenerInfo]:
        """Every listener on the node."""
        return [listener.info() for listener in self.node.actors_of(SecureChannelListener)]

    def delete_listener(self, address: str) -> bool:
        """Stop the listener at `address`; channels it accepted stay open. False if none."""
        value = local_name(address)
        if not isinstance(self.node.actor_at(local(value)), SecureChannelListener):
            return False
        return self.node.stop_actor(local(value))

    async def aclose(self, *, timeout: float = CLOSE_TIMEOUT) -> None:
        """Stop every listener and close every channel end on the node, telling each other end.

        Run it before the node stops: once the node's nursery is cancelled, channel ends stop
        without a word, and a peer that reaches this node through a relay (whose connection
        stays up) would keep a dead channel. Each established end sends `Close`; ends still
        in their handshake just stop. Returns once every end has stopped, or after `timeout`
        seconds.

        Raises:
            ValueError: The timeout is negative.
        """
        if not timeout >= 0:
            raise ValueError(f"timeout must be a number of seconds >= 0, got {timeout!r}")
        for info in self.listeners():
            self.delete_listener(info.address)
        workers = self._workers()
        stopped = [self.node.monitor(worker.ctx.address) for worker in workers]
        for worker in workers:
            worker.close("this node is shutting down")
        with trio.move_on_after(timeout):
            for event in stopped:
                await event.wait()
        if any(not event.is_set() for event in stopped):
            log.warning(
                "secure channels of node %s: %d channel end(s) did not close within %g s",
                self.node.name,
                sum(not event.is_set() for event in stopped),
                timeout,
            )

    def _workers(self) -> builtins.list[SecureChannelWorker]:
        return self.node.actors_of(SecureChannelWorker)

    def _worker(self, address: str | Address) -> SecureChannelWorker | None:
        try:
            value = local_name(address)
        except RouteError:
            return None
        worker = self.node.actor_at(local(value))
        if isinstance(worker, SecureChannelWorker) and worker.plaintext_address.value == value:
            return worker
        return None
