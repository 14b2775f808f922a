"""`Portals`: a node's TCP inlets and outlets, as `tcp-inlet` / `tcp-outlet` commands see them."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import msgspec
import trio

from actors import (
    AddressInUse,
    Route,
    RouteError,
    local,
    local_name,
    random_address,
    split_host_port,
)
from secure import PolicyExpression, parse_policy_expression
from transports import open_tcp_listener

from ._enforcement import Clock, Enforcement
from ._inlet import PING_TIMEOUT, InletListener, Listen, Refresh
from ._outlet import Connect, OutletListener
from ._policy_store import PolicyStore, Resource, ResourceType

if TYPE_CHECKING:
    from actors import Node

DEFAULT_OUTLET = "outlet"
"""The address of the first outlet created without one."""


class OutletInfo(msgspec.Struct, frozen=True):
    """An outlet as `tcp-outlet show --output json` shows it (Ockam's field names)."""

    worker_address: str
    """The outlet's local address as a route: `/service/outlet`."""
    to: str
    """The target, `host:port`."""
    alias: str
    """The outlet's address without `/service/`."""


class InletInfo(msgspec.Struct, frozen=True):
    """An inlet as `tcp-inlet show --output json` shows it (Ockam's field names)."""

    alias: str
    bind_addr: str
    """Where the inlet listens, `host:port` (the real port when 0 was asked for)."""
    to: str
    """The route to the outlet, in its text form."""
    status: str
    """`up`, or `down` after the last portal failed to open (the inlet keeps listening)."""


class Portals:
    """The TCP inlets and outlets of one node, as the node's registry knows them.

    A node has one portal manager: `Portals.of(node)` gives it (made with the defaults the
    first time); `Portals(node, ...)` makes it with other options, once per node, so that every
    caller sees the same policies.

    `connect` opens an outlet's connections to its target and `listen` an inlet's listener
    (TCP by default): a test passes memory streams, and the portals never know the difference.

    `policies` holds the node's policies (a new, empty store by default): an outlet or inlet
    whose policy (its own, else its type's) exists serves a portal only through a secure
    channel whose subject satisfies it, and closes the portal when it no longer does (see
    docs/trust.md). `clock` is the wall clock credentials expire by (`time.time`).

    Example:
        portals = Portals.of(node)
        await portals.create_outlet(target="127.0.0.1:5000")          # at /service/outlet
        await portals.create_inlet(bind="127.0.0.1:6000", route=route)  # route ends in outlet
        await portals.create_outlet(target="127.0.0.1:5001", address="db",
                                    policy='(= subject.component "db")')
    """

    def __init__(
        self,
        node: Node,
        *,
        connect: Connect = trio.open_tcp_stream,
        listen: Listen = open_tcp_listener,
        policies: PolicyStore | None = None,
        clock: Clock = time.time,
    ) -> None:
        """Make `node`'s portal manager.

        Raises:
            ValueError: the node has one already (use `Portals.of(node)`).
        """
        if node.attached(Portals) is not None:
            raise ValueError(f"node {node.name} has a portal manager already: use Portals.of(node)")
        self.node = node
        self.policies = PolicyStore() if policies is None else policies
        self._connect = connect
        self._listen = listen
        self._clock = clock
        node.attach(self, kind=Portals)

    @classmethod
    def of(cls, node: Node) -> Portals:
        """`node`'s portal manager: the one made for it before, else a new one with the
        defaults (TCP sockets, an empty policy store, the wall clock)."""
        existing = node.attached(Portals)
        return Portals(node) if existing is None else existing

    @contextmanager
    def _own_policy(self, name: str, policy: str | PolicyExpression | None) -> Iterator[None]:
        """Store `name`'s own policy (if any) for the block that starts it: in force before
        its first portal can arrive, and gone again if it fails to start."""
        if policy is None:
            yield
            return
        self.policies.set_resource_policy(name, policy)
        try:
            yield
        except BaseException:
            self.policies.delete_resource_policy(name)
            raise

    def _enforcement(self, name: str, resource_type: ResourceType) -> Enforcement:
        return Enforcement(self.policies, Resource(name, resource_type), clock=self._clock)

    # --- outlets -------------------------------------------------------------------------------

    async def create_outlet(
        self,
        *,
        target: str,
        address: str | None = None,
        policy: str | PolicyExpression | None = None,
    ) -> OutletInfo:
        """Start an outlet at `address` that connects each portal to `target` (`host:port`).

        Without `address` the first outlet is at `outlet`, later ones at a random address.
        With `policy` (Ockam's `--allow`: an expression in either form), stored as the
        outlet's own policy before the outlet starts, the outlet serves only portals whose
        secure channel's subject satisfies it.

        Raises:
            TransportError: `target` is not `host:port`.
            RouteError: `address` is not a local worker name.
            AddressInUse: a worker is already registered at `address`.
            PolicyExpressionError: `policy` does not parse.
        """
        split_host_port(target)
        _check(policy)
        router = self.node.router
        if address is None:
            taken = router.is_registered(local(DEFAULT_OUTLET))
            name = random_address().value if taken else DEFAULT_OUTLET
        else:
            name = local_name(address)
        in_use = AddressInUse(
            f"cannot create an outlet at /service/{name}: a worker is already registered there "
            "(delete it first, or choose another address)"
        )
        if router.is_registered(local(name)):
            raise in_use
        listener = OutletListener(
            target,
            connect=self._connect,
            enforcement=self._enforcement(name, ResourceType.TCP_OUTLET),
        )
        try:
            with self._own_policy(name, policy):
                await self.node.start_actor(listener, name)
        except AddressInUse:
            raise in_use from None
        return self._outlet_info(name, listener)

    def _outlet_info(self, name: str, listener: OutletListener) -> OutletInfo:
        return OutletInfo(worker_address=f"/service/{name}", to=listener.target, alias=name)

    def _running_outlets(self) -> dict[str, OutletListener]:
        return {o.ctx.address.value: o for o in self.node.actors_of(OutletListener)}

    def outlets(self) -> list[OutletInfo]:
        """Every running outlet, by address."""
        running = self._running_outlets()
        return [self._outlet_info(name, running[name]) for name in sorted(running)]

    def outlet(self, address: str) -> OutletInfo | None:
        """The outlet at `address` (`outlet` or `/service/outlet`), if any."""
        try:
            name = local_name(address)
        except RouteError:
            return None
        listener = self._running_outlets().get(name)
        return None if listener is None else self._outlet_info(name, listener)

    def delete_outlet(self, address: str) -> bool:
        """Stop the outlet at `address`, and forget its own policy; False when there is none.
        Open portals stay up (and stay watched)."""
        try:
            name = local_name(address)
        except RouteError:
            return False
        if name not in self._running_outlets():
            return False
        self.policies.delete_resource_policy(name)
        return self.node.stop_actor(name)

    # --- inlets --------------------------------------------------------------------------------

    async def create_inlet(
        self,
        *,
        bind: str,
        route: Route | str,
        alias: str | None = None,
        ping_timeout: float = PING_TIMEOUT,
        refresh: Refresh | None = None,
        policy: str | PolicyExpression | None = None,
    ) -> InletInfo:
        """Listen on `bind` (`host:port`, port 0 picks one) and carry each TCP connection
        accepted there along `route` to an outlet.

        Args:
            bind: where to listen.
            route: the route to the outlet (a `Route`, or its text form with every segment
                resolved, such as `/ip4/127.0.0.1/tcp/4000/service/outlet`).
            alias: the inlet's name (default: random hex).
            ping_timeout: seconds a new connection waits for the outlet to answer.
            refresh: called with the route before each new connection's portal opens, it
                returns the route to use, e.g. `SecureChannels.refresh`, which opens a new
                secure channel in place of one that ended; the returned route serves later
                connections too. Without it the route is used as it is, always.
            policy: the inlet's own policy (Ockam's `--allow`), stored under its alias: a
                connection's portal opens only when the route starts with a secure channel
                whose subject (the outlet's side) satisfies it.

        Raises:
            TransportError: `bind` is malformed or cannot be listened on (address in use).
            RouteError: `route` is malformed or empty.
            AddressInUse: an inlet named `alias` exists already.
            PolicyExpressionError: `policy` does not parse.
        """
        _check(policy)
        onward = Route.parse(route) if isinstance(route, str) else route
        if not onward:
            raise RouteError("an inlet needs a non-empty route to its outlet")
        name = secrets.token_hex(8) if alias is None else alias
        if not name:
            raise ValueError("an inlet's alias must not be empty")
        if name in self._running_inlets():
            raise AddressInUse(
                f"an inlet named {name!r} already exists on node {self.node.name} "
                "(delete it first, or choose another alias)"
            )
        listener = InletListener(
            bind,
            onward,
            ping_timeout=ping_timeout,
            refresh=refresh,
            alias=name,
            listen=self._listen,
            enforcement=self._enforcement(name, ResourceType.TCP_INLET),
        )
        with self._own_policy(name, policy):
            await self.node.start_actor(listener)
        return self._inlet_info(name, listener)

    def _inlet_info(self, name: str, listener: InletListener) -> InletInfo:
        return InletInfo(
            alias=name, bind_addr=listener.bind_addr, to=str(listener.route), status=listener.status
        )

    def _running_inlets(self) -> dict[str, InletListener]:
        return {i.alias: i for i in self.node.actors_of(InletListener)}

    def inlets(self) -> list[InletInfo]:
        """Every running inlet, by alias."""
        running = self._running_inlets()
        return [self._inlet_info(name, running[name]) for name in sorted(running)]

    def inlet(self, alias: str) -> InletInfo | None:
        """The inlet named `alias`, if any."""
        listener = self._running_inlets().get(alias)
        return None if listener is None else self._inlet_info(alias, listener)

    def delete_inlet(self, alias: str) -> bool:
        """Stop the inlet named `alias`, free its port now, and forget its own policy; False
        when there is none.

        Portals it opened stay up until their TCP connections close (and stay watched).
        """
        listener = self._running_inlets().get(alias)
        if listener is None:
            return False
        self.policies.delete_resource_policy(alias)
        return self.node.stop_actor(listener.ctx.address)


def _check(policy: str | PolicyExpression | None) -> None:
    """Refuse a policy that does not parse before anything is created."""
    if isinstance(policy, str):
        parse_policy_expression(policy)
