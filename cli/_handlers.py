"""The control API's request handlers: nodes, services, TCP, messages, relays, portals."""

from __future__ import annotations

from typing import Any

import trio

from actors import OckamError, TransportError, start_relay, start_service
from secure import SecureChannels
from transports import StreamTransport

from ._control import (
    CreateConnection,
    CreateInlet,
    CreateListener,
    CreateOutlet,
    CreateRelay,
    DeleteConnection,
    DeleteInlet,
    DeleteListener,
    DeleteOutlet,
    DeleteRelay,
    Empty,
    GetStatus,
    ListConnections,
    ListInlets,
    ListListeners,
    ListOutlets,
    ListRelays,
    ListWorkers,
    MessageReply,
    NodeStatus,
    SendMessage,
    ShowConnection,
    ShowInlet,
    ShowOutlet,
    ShowRelay,
    Shutdown,
    StartService,
)
from ._controller import NodeController, NotFound, handles

CONNECT_TIMEOUT = 10.0
"""Seconds `tcp-connection create` waits for the peer to accept."""

START_TIMEOUT = 10.0
"""Seconds `service start` waits for a service (a plugin, say) to be ready."""


_NOT_SERVICES = frozenset(
    {"ConnectionWorker", "TcpListener", "WebSocketListener", "RelayClient", "RelayWorker",
     "InletWorker", "OutletWorker", "InletListener", "SecureChannelWorker"}
)  # fmt: skip
"""Worker kinds that `node show` does not list as services."""


@handles(GetStatus)
async def _status(c: NodeController, _: GetStatus) -> NodeStatus:
    return NodeStatus(
        name=c.node.name,
        status="running",
        pid=c.pid,
        listener=c.listener,
        identifier=c.identifier,
        services=sorted(
            address
            for w in c.node.workers()
            if w.kind not in _NOT_SERVICES and not w.address.startswith("_")
            for address in (w.address, *w.aliases)
        ),
    )


@handles(Shutdown)
async def _shutdown(c: NodeController, _: Shutdown) -> Empty:
    # Answer first; the shutdown hooks run and the nursery is cancelled after the reply.
    c.node.nursery.start_soon(_shutdown_soon, c)
    return Empty()


async def _shutdown_soon(controller: NodeController) -> None:
    await trio.sleep(0.05)
    await controller.stop()


@handles(StartService)
async def _start_service(c: NodeController, r: StartService) -> Empty:
    with trio.move_on_after(START_TIMEOUT):
        await start_service(c.node, r.name, address=r.address)
        return Empty()
    raise OckamError(f"service {r.name!r} did not start within {START_TIMEOUT:g} s")


@handles(ListWorkers)
async def _workers(c: NodeController, _: ListWorkers) -> list[Any]:
    return c.node.workers()


def _transports(c: NodeController) -> list[StreamTransport]:
    return [c.node.tcp, c.node.ws]


@handles(CreateListener)
async def _listen(c: NodeController, r: CreateListener) -> Any:
    transport = c.node.ws if r.ws else c.node.tcp
    return await transport.listen(r.address)


@handles(ListListeners)
async def _listeners(c: NodeController, _: ListListeners) -> Any:
    return [info for transport in _transports(c) for info in transport.listeners()]


@handles(DeleteListener)
async def _delete_listener(c: NodeController, r: DeleteListener) -> Empty:
    if not any(transport.stop_listener(r.address) for transport in _transports(c)):
        raise NotFound(f"no TCP listener {r.address!r} on node {c.node.name}")
    return Empty()


@handles(CreateConnection)
async def _connect(c: NodeController, r: CreateConnection) -> Any:
    with trio.move_on_after(CONNECT_TIMEOUT):
        return await c.node.tcp.connect(r.address)
    raise TransportError(
        f"no TCP connection to {r.address} within {CONNECT_TIMEOUT:g} s: nothing accepted it "
        "(is the address right, and does a firewall drop connections to it?)"
    )


@handles(ListConnections)
async def _connections(c: NodeController, _: ListConnections) -> Any:
    return [info for transport in _transports(c) for info in transport.connections()]


@handles(ShowConnection)
async def _connection(c: NodeController, r: ShowConnection) -> Any:
    for transport in _transports(c):
        info = transport.connection(r.worker)
        if info is not None:
            return info
    raise NotFound(f"no TCP connection {r.worker!r} on node {c.node.name}")


@handles(DeleteConnection)
async def _disconnect(c: NodeController, r: DeleteConnection) -> Empty:
    if not any(transport.disconnect(r.worker) for transport in _transports(c)):
        raise NotFound(f"no TCP connection {r.worker!r} on node {c.node.name}")
    return Empty()


@handles(SendMessage)
async def _send(c: NodeController, r: SendMessage) -> MessageReply:
    reply = await c.node.request(await c.route(r.route), r.payload, timeout=r.timeout)
    return MessageReply(payload=reply.payload, return_route=str(reply.return_route))


@handles(CreateRelay)
async def _create_relay(c: NodeController, r: CreateRelay) -> Any:
    old = c.relays.get(r.name)
    if old is not None:
        c.node.stop_actor(old.ctx.address)
    client = await start_relay(c.node, at=await c.route(r.at), name=r.name)
    c.relays[r.name] = client
    return client.info()


@handles(ListRelays)
async def _relays(c: NodeController, _: ListRelays) -> Any:
    return [client.info() for client in c.relays.values()]


@handles(ShowRelay)
async def _relay(c: NodeController, r: ShowRelay) -> Any:
    client = c.relays.get(r.name)
    if client is None:
        raise NotFound(f"no relay {r.name!r} on node {c.node.name}")
    return client.info()


@handles(DeleteRelay)
async def _delete_relay(c: NodeController, r: DeleteRelay) -> Empty:
    client = c.relays.pop(r.name, None)
    if client is None:
        raise NotFound(f"no relay {r.name!r} on node {c.node.name}")
    c.node.stop_actor(client.ctx.address)
    return Empty()


@handles(CreateOutlet)
async def _create_outlet(c: NodeController, r: CreateOutlet) -> Any:
    return await c.portals.create_outlet(target=r.target, address=r.address)


@handles(ListOutlets)
async def _outlets(c: NodeController, _: ListOutlets) -> Any:
    return c.portals.outlets()


@handles(ShowOutlet)
async def _outlet(c: NodeController, r: ShowOutlet) -> Any:
    info = c.portals.outlet(r.address)
    if info is None:
        raise NotFound(f"no TCP outlet {r.address!r} on node {c.node.name}")
    return info


@handles(DeleteOutlet)
async def _delete_outlet(c: NodeController, r: DeleteOutlet) -> Empty:
    if not c.portals.delete_outlet(r.address):
        raise NotFound(f"no TCP outlet {r.address!r} on node {c.node.name}")
    return Empty()


@handles(CreateInlet)
async def _create_inlet(c: NodeController, r: CreateInlet) -> Any:
    # With secure channels, an inlet whose channel ended opens a new one for its next client.
    channels = getattr(c, "secure", None)
    refresh = channels.refresh if isinstance(channels, SecureChannels) else None
    return await c.portals.create_inlet(
        bind=r.bind, route=await c.route(r.route), alias=r.alias, refresh=refresh
    )


@handles(ListInlets)
async def _inlets(c: NodeController, _: ListInlets) -> Any:
    return c.portals.inlets()


@handles(ShowInlet)
async def _inlet(c: NodeController, r: ShowInlet) -> Any:
    info = c.portals.inlet(r.alias)
    if info is None:
        raise NotFound(f"no TCP inlet {r.alias!r} on node {c.node.name}")
    return info


@handles(DeleteInlet)
async def _delete_inlet(c: NodeController, r: DeleteInlet) -> Empty:
    if not c.portals.delete_inlet(r.alias):
        raise NotFound(f"no TCP inlet {r.alias!r} on node {c.node.name}")
    return Empty()
