"""Ockam's JSON output shapes, as msgspec Structs: what `--output json` (and a pipe asking for
JSON) prints for each resource, field for field as Ockam's Rust structs serialize with serde.

Each Struct names the Rust struct it mirrors (paths under `implementations/rust/ockam/` in
build-trust/ockam); docs/ockam-output.md lists every field with its source. The helpers at the
end build the values whose text form Ockam fixes: local addresses (`0#outlet`), services as
multiaddrs (`/service/outlet`), routes (`1#127.0.0.1:4000 => 0#forward_to_blue`) and
`InternetAddress` (`{"V4": "127.0.0.1:23345"}`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from typing import Literal

import msgspec

ConnectionStatus = Literal["Up", "Down"]
"""`ockam_api/src/session/connection_status.rs` `ConnectionStatus`: serde's unit variants."""

ProcessStatus = Literal["running", "zombie", "stopped"]
"""`ockam_api/src/cli_state/nodes.rs` `NodeProcessStatus`, `rename_all = "lowercase"`."""

TransportMode = Literal["Listen", "Incoming", "Outgoing"]
"""`ockam_api/src/nodes/models/transport/common.rs` `TransportMode`."""

TransportType = Literal["Tcp", "Ble", "WebSocket"]
"""`ockam_api/src/nodes/models/transport/common.rs` `TransportType`."""

InternetAddress = dict[str, str | list[str | int]]
"""`ockam_api/src/config/lookup.rs` `InternetAddress`, an externally tagged serde enum:
`{"V4": "127.0.0.1:P"}`, `{"V6": "[::1]:P"}` or `{"Dns": ["localhost", P]}`."""


class ProcessState(msgspec.Struct, frozen=True, omit_defaults=True):
    """`NodeProcessStatus` (`tag = "status", content = "pid"`): `{"status": "running", "pid":
    42}`, or `{"status": "stopped"}` without a pid."""

    status: ProcessStatus
    pid: int | None = None


class RouteToNode(msgspec.Struct, frozen=True, omit_defaults=True):
    """`ockam_api/src/nodes/models/node.rs` `RouteToNode`: `short` is `/node/NAME`, `verbose`
    (left out when the node has no listener) `/dnsaddr/localhost/tcp/P`."""

    short: str
    verbose: str | None = None


class TransportStatus(msgspec.Struct, frozen=True):
    """`ockam_api/src/nodes/models/transport/response.rs` `TransportStatus`: one TCP listener or
    connection (`tcp-listener show/list`, `tcp-connection list`, `node show`'s `transports`).
    A listener's `worker_addr` is `<none>`, as in Ockam."""

    tt: TransportType = msgspec.field(name="type")
    tm: TransportMode = msgspec.field(name="mode")
    socket_addr: str
    worker_addr: str
    processor_address: str
    flow_control_id: str


class SecureChannelListener(msgspec.Struct, frozen=True):
    """`ockam_identity/src/secure_channels/.../listener.rs` `SecureChannelListener`
    (`secure-channel-listener show/list`, `node show`): `address` is a local address, `0#api`."""

    address: str
    flow_control_id: str
    is_key_exchange_only: bool = False


class InletStatus(msgspec.Struct, frozen=True):
    """`ockam_api/src/nodes/models/portal.rs` `InletStatus` (`tcp-inlet create/show/list`)."""

    bind_addr: str
    worker_addr: str | None
    alias: str
    payload: str | None
    outlet_route: str | None
    status: ConnectionStatus
    outlet_addr: str
    privileged: bool = False


class OutletStatus(msgspec.Struct, frozen=True):
    """`ockam_api/src/nodes/models/portal.rs` `OutletStatus` (`tcp-outlet create/show/list`):
    `to` is a `HostnamePort` (`127.0.0.1:5432`), `worker_address` is serialized with
    `serialize_address_as_local_service` (`/service/outlet`)."""

    to: str
    worker_address: str
    payload: str | None = None
    privileged: bool = False


class ServiceStatus(msgspec.Struct, frozen=True):
    """`ockam_api/src/nodes/models/services.rs` `ServiceStatus` (`service list`, `node show`):
    `type` is the kind of service by its default address (`echo`, `uppercase`, ...)."""

    addr: str
    service_type: str = msgspec.field(name="type")


class NodeResources(msgspec.Struct, frozen=True, kw_only=True):
    """`ockam_api/src/nodes/models/node.rs` `NodeResources` (`node show`, the status server's
    `/show`). Ockam flattens `NodeProcessStatus` into it, so `status` and `pid` sit at the top
    level and `pid` is left out for a stopped node."""

    name: str
    identity_name: str
    is_default: bool
    status: ProcessStatus
    pid: int | msgspec.UnsetType = msgspec.UNSET
    route: RouteToNode
    http_server_address: InternetAddress | None
    transports: list[TransportStatus]
    secure_channel_listeners: list[SecureChannelListener]
    inlets: list[InletStatus]
    outlets: list[OutletStatus]
    services: list[ServiceStatus]


class NodeListOutput(msgspec.Struct, frozen=True):
    """`ockam_command/src/node/list.rs` `NodeListOutput` (`node list`): here `status` is the
    whole `NodeProcessStatus` object, not flattened."""

    node_name: str
    status: ProcessState
    pid: int | None
    is_default: bool


class RelayInfo(msgspec.Struct, frozen=True):
    """`ockam_api/src/nodes/models/relay.rs` `RelayInfo` (`relay create`, `relay list`):
    `remote_address` is the bare relay worker address at the relay node, `forward_to_blue`."""

    forwarding_route: str | None
    remote_address: str | None
    worker_address: str | None
    flow_control_id: str | None
    connection_status: ConnectionStatus
    destination_address: str
    name: str
    last_failure: str | None = None


class RelayShowOutput(msgspec.Struct, frozen=True):
    """`ockam_command/src/relay/show.rs` `RelayShowOutput` (`relay show`): `relay_route` is
    `RelayInfo.forwarding_route`; the two addresses are multiaddrs (`/service/forward_to_blue`)."""

    name: str
    destination: str
    connection_status: ConnectionStatus
    relay_route: str | None
    remote_address: str | None
    worker_address: str | None


class ShowSecureChannelResponse(msgspec.Struct, frozen=True):
    """`ockam_api/src/nodes/models/secure_channel.rs` `ShowSecureChannelResponse`
    (`secure-channel show`): `channel` is the encryptor's local address."""

    channel: str | None
    route: str | None
    authorized_identifiers: list[str] | None
    flow_control_id: str | None


class SecureChannelListOutput(msgspec.Struct, frozen=True):
    """`ockam_command/src/secure_channel/list.rs` `SecureChannelListOutput` (`secure-channel
    list`): the node it starts `from`, the multiaddr route it goes `to`, the channel `at`."""

    from_: str = msgspec.field(name="from")
    to: str
    at: str


class WorkerStatus(msgspec.Struct, frozen=True):
    """`ockam_api/src/nodes/models/workers.rs` `WorkerStatus` (`worker list`)."""

    addr: str


def local_address(name: str) -> str:
    """An `ockam_core::Address` of the local transport as serde writes it: `0#name`."""
    return name if name.startswith("0#") else f"0#{name.removeprefix('/service/')}"


def service_multiaddr(name: str) -> str:
    """A local address as Ockam's `ReverseLocalConverter` writes it: `/service/name`."""
    bare = name.removeprefix("0#").removeprefix("/service/").removeprefix("/worker/")
    return f"/service/{bare}"


def node_route(name: str) -> str:
    """`RouteToNode.short`: `/node/NAME`."""
    return f"/node/{name}"


def dnsaddr_route(port: int) -> str:
    """`RouteToNode.verbose` for a node listening on `port`: `/dnsaddr/localhost/tcp/P`."""
    return f"/dnsaddr/localhost/tcp/{port}"


def route_text(addresses: Iterable[str]) -> str:
    """An `ockam_core::Route` as its `Display` writes it: addresses joined by ` => `."""
    return " => ".join(addresses)


def internet_address(host: str, port: int) -> InternetAddress:
    """An `InternetAddress` as serde writes it, from the host and port a server is bound to."""
    try:
        ip = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return {"Dns": [host, port]}
    if ip.version == 4:
        return {"V4": f"{ip}:{port}"}
    return {"V6": f"[{ip}]:{port}"}


def process_state(pid: int | None, *, zombie: bool = False) -> ProcessState:
    """The `NodeProcessStatus` of a node whose process is `pid` (`None`: no live process).

    Ockam says `zombie` for a process that exists but is dead or a zombie, `stopped` when
    there is no process.
    """
    if pid is None:
        return ProcessState("stopped")
    return ProcessState("zombie" if zombie else "running", pid)
