"""Our resources in Ockam's JSON shapes: each info struct a node answers with, as the Ockam
output struct of `cli._ockam_views`, and a whole node as `NodeResources` (`node show`, the
status server's `/show`).

Two values have no counterpart here: flow controls (Ockam's `flow_control_id` is given the
worker's own address, unique like Ockam's) and privileged portals (`privileged` is `false`).
"""

from __future__ import annotations

from actors import RelayInfo, Route, RouteError, TransportError, WorkerInfo, split_host_port
from portals import InletInfo, OutletInfo
from secure import SecureChannelInfo, SecureChannelListenerInfo
from transports import ConnectionInfo, ListenerInfo

from ._controller import NodeController
from ._ockam_views import (
    InletStatus,
    InternetAddress,
    NodeListOutput,
    NodeResources,
    OutletStatus,
    RelayShowOutput,
    RouteToNode,
    SecureChannelListener,
    SecureChannelListOutput,
    ServiceStatus,
    ShowSecureChannelResponse,
    TransportStatus,
    TransportType,
    WorkerStatus,
    dnsaddr_route,
    internet_address,
    local_address,
    node_route,
    process_state,
    route_text,
    service_multiaddr,
)
from ._ockam_views import RelayInfo as OckamRelayInfo

# The kind of each built-in service, as Ockam names it by the service's default address.
_SERVICE_TYPES = {
    "Echo": "echo",
    "Uppercase": "uppercase",
    "Hop": "hop",
    "RelayService": "forwarding_service",
    "SecureChannelListener": "secure_channel_listener",
}


def _transport_type(transport: str) -> TransportType:
    return "WebSocket" if transport == "ws" else "Tcp"


def _ockam_route(text: str) -> str | None:
    """A route's text (`/ip4/h/tcp/p/service/x`) as Ockam's `Route` prints it, if it parses."""
    try:
        return route_text(str(address) for address in Route.parse(text))
    except (RouteError, ValueError):
        return None


def listener_status(info: ListenerInfo) -> TransportStatus:
    """A TCP (or WebSocket) listener as Ockam's `TransportStatus`."""
    return TransportStatus(
        _transport_type(info.transport),
        "Listen",
        info.address,
        "<none>",
        local_address(info.worker),
        info.worker,
    )


def connection_status(info: ConnectionInfo) -> TransportStatus:
    """A TCP (or WebSocket) connection as Ockam's `TransportStatus`."""
    return TransportStatus(
        _transport_type(info.transport),
        "Outgoing" if info.mode == "outgoing" else "Incoming",
        info.peer,
        local_address(info.worker),
        local_address(info.worker),
        info.worker,
    )


def outlet_status(info: OutletInfo) -> OutletStatus:
    """An outlet as Ockam's `OutletStatus`."""
    return OutletStatus(info.to, service_multiaddr(info.worker_address))


def inlet_status(info: InletInfo) -> InletStatus:
    """An inlet as Ockam's `InletStatus`."""
    up = info.status == "up"
    return InletStatus(
        bind_addr=info.bind_addr,
        worker_addr=None,
        alias=info.alias,
        payload=None,
        outlet_route=_ockam_route(info.to) if up else None,
        status="Up" if up else "Down",
        outlet_addr=info.to,
    )


def relay_info(info: RelayInfo) -> OckamRelayInfo:
    """A relay this node registered as Ockam's `RelayInfo` (`relay list`)."""
    remote = info.remote_address.removeprefix("/service/")
    at = _ockam_route(info.at)
    return OckamRelayInfo(
        forwarding_route=route_text([at, local_address(remote)]) if at else local_address(remote),
        remote_address=remote,
        worker_address=local_address(info.worker_address),
        flow_control_id=None,
        connection_status="Up" if info.status == "up" else "Down",
        destination_address=info.at,
        name=info.name,
    )


def relay_show(info: RelayInfo) -> RelayShowOutput:
    """A relay as Ockam's `relay show` prints it (`RelayShowOutput`)."""
    ockam = relay_info(info)
    return RelayShowOutput(
        name=info.name,
        destination=info.at,
        connection_status=ockam.connection_status,
        relay_route=ockam.forwarding_route,
        remote_address=service_multiaddr(ockam.remote_address or ""),
        worker_address=service_multiaddr(info.worker_address),
    )


def worker_status(info: WorkerInfo) -> WorkerStatus:
    """A worker as Ockam's `WorkerStatus`."""
    return WorkerStatus(info.address)


def service_status(info: WorkerInfo) -> ServiceStatus:
    """A service as Ockam's `ServiceStatus`: its address and its kind."""
    return ServiceStatus(info.address, _SERVICE_TYPES.get(info.kind, info.kind))


def channel_show(info: SecureChannelInfo) -> ShowSecureChannelResponse:
    """A secure channel end as Ockam's `ShowSecureChannelResponse`."""
    return ShowSecureChannelResponse(
        channel=local_address(info.address),
        route=_ockam_route(info.route) or info.route,
        authorized_identifiers=list(info.authorized) or None,
        flow_control_id=local_address(info.address).removeprefix("0#"),
    )


def channel_list_item(info: SecureChannelInfo, node: str) -> SecureChannelListOutput:
    """A secure channel end as a line of Ockam's `secure-channel list`."""
    return SecureChannelListOutput(node, info.route, service_multiaddr(info.address))


def channel_listener(info: SecureChannelListenerInfo) -> SecureChannelListener:
    """A secure channel listener as Ockam's `SecureChannelListener`."""
    name = local_address(info.address).removeprefix("0#")
    return SecureChannelListener(local_address(name), name)


def _route_to_node(name: str, listener: str) -> RouteToNode:
    try:
        port: int | None = split_host_port(listener)[1]
    except TransportError:
        port = None  # a node that has no TCP listener (yet)
    return RouteToNode(node_route(name), dnsaddr_route(port) if port is not None else None)


def node_resources(
    c: NodeController, *, is_default: bool, http_server: InternetAddress | None
) -> NodeResources:
    """Everything a running node holds, as Ockam's `NodeResources`."""
    transports = [t for t in (c.node.tcp, c.node.ws) if t is not None]
    workers = c.node.workers()
    return NodeResources(
        name=c.node.name,
        identity_name=c.identity_name or c.node.name,
        is_default=is_default,
        status="running",
        pid=c.pid,
        route=_route_to_node(c.node.name, c.listener),
        http_server_address=http_server,
        transports=[listener_status(i) for t in transports for i in t.listeners()]
        + [connection_status(i) for t in transports for i in t.connections()],
        secure_channel_listeners=[]
        if c.secure is None
        else [channel_listener(i) for i in c.secure.listeners()],
        inlets=[inlet_status(i) for i in c.portals.inlets()],
        outlets=[outlet_status(i) for i in c.portals.outlets()],
        services=[service_status(w) for w in workers if w.service],
    )


def stopped_node(name: str, *, listener: str, identity: str, is_default: bool) -> NodeResources:
    """A node whose process is not running, as Ockam's `NodeResources` shows one."""
    return NodeResources(
        name=name,
        identity_name=identity or name,
        is_default=is_default,
        status="stopped",
        route=_route_to_node(name, listener),
        http_server_address=None,
        transports=[],
        secure_channel_listeners=[],
        inlets=[],
        outlets=[],
        services=[],
    )


def node_list_item(name: str, pid: int | None, *, is_default: bool) -> NodeListOutput:
    """One line of Ockam's `node list`: `pid` is the live process, None when stopped."""
    return NodeListOutput(name, process_state(pid), pid, is_default)


def http_address(text: str) -> InternetAddress | None:
    """The `InternetAddress` of a status server bound to `host:port` (`""`: none)."""
    if not text:
        return None
    host, port = split_host_port(text)
    return internet_address(host, port)
