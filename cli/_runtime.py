"""Inside a node process: the control service, its request handlers, and the node's main."""

from __future__ import annotations

import logging
import os
import signal
import socket
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import msgspec
import trio

from actors import (
    Actor,
    LocalMessage,
    Node,
    OckamError,
    RelayClient,
    Route,
    TransportError,
    open_node,
    start_relay,
    start_service,
    unwrap_group,
)
from portals import Portals
from secure import SecureChannels, resolve_secure_route

from ._control import (
    ControlError,
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
    Reply,
    Request,
    SendMessage,
    ShowConnection,
    ShowInlet,
    ShowOutlet,
    ShowRelay,
    Shutdown,
    StartService,
    decode_request,
    encode,
    read_frame,
    write_frame,
)
from ._state import StateStore

log = logging.getLogger("ockam.control")

R = TypeVar("R", bound=Request)
Handler = Callable[["NodeController", Any], Awaitable[Any]]
HANDLERS: dict[type[Request], Handler] = {}

CONNECT_TIMEOUT = 10.0
"""Seconds `tcp-connection create` waits for the peer to accept."""

START_TIMEOUT = 10.0
"""Seconds `service start` waits for a service (a plugin, say) to be ready."""


def handles(
    request_type: type[R],
) -> Callable[[Callable[[NodeController, R], Awaitable[Any]]], Any]:
    """Register the decorated coroutine as the handler of `request_type`."""

    def register(function: Callable[[NodeController, R], Awaitable[Any]]) -> Any:
        HANDLERS[request_type] = function
        return function

    return register


class NotFound(OckamError):
    """The request names something the node does not have."""


class NodeController:
    """A node's state as the control API sees it: the node, its portals and its relays."""

    def __init__(self, node: Node, *, pid: int, listener: str) -> None:
        self.node = node
        self.pid = pid
        self.listener = listener
        self.portals = Portals(node)
        self.relays: dict[str, RelayClient] = {}
        self.identifier = ""
        self.identity_name = ""
        self.home = Path(".")
        self._stopping = False

    async def stop(self) -> None:
        """Stop the node: run the `SHUTDOWN_HOOKS` first, then cancel its root nursery.

        A second call (a second signal, say) does not wait for the hooks a first call runs.
        """
        if not self._stopping:
            self._stopping = True
            await run_shutdown_hooks(self)
        self.node.shutdown()

    async def handle(self, request: Request) -> Any:
        """Run the handler of `request` and return its result."""
        handler = HANDLERS.get(type(request))
        if handler is None:
            raise ControlError(f"this node does not support {type(request).__name__}")
        return await handler(self, request)

    async def route(self, text: str) -> Route:
        """The route in `text`, which the CLI already resolved but for local segments.

        Each `/secure/LISTENER` opens a secure channel from this node to that listener, or
        reuses a live one (see `secure.resolve_secure_route`).
        """
        channels = getattr(self, "secure", None)
        return await resolve_secure_route(
            text, channels if isinstance(channels, SecureChannels) else None
        )


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


@handles(CreateListener)
async def _listen(c: NodeController, r: CreateListener) -> Any:
    assert c.node.tcp is not None
    return await c.node.tcp.listen(r.address)


@handles(ListListeners)
async def _listeners(c: NodeController, _: ListListeners) -> Any:
    assert c.node.tcp is not None
    return c.node.tcp.listeners()


@handles(DeleteListener)
async def _delete_listener(c: NodeController, r: DeleteListener) -> Empty:
    assert c.node.tcp is not None
    if not c.node.tcp.stop_listener(r.address):
        raise NotFound(f"no TCP listener {r.address!r} on node {c.node.name}")
    return Empty()


@handles(CreateConnection)
async def _connect(c: NodeController, r: CreateConnection) -> Any:
    assert c.node.tcp is not None
    with trio.move_on_after(CONNECT_TIMEOUT):
        return await c.node.tcp.connect(r.address)
    raise TransportError(
        f"no TCP connection to {r.address} within {CONNECT_TIMEOUT:g} s: nothing accepted it "
        "(is the address right, and does a firewall drop connections to it?)"
    )


@handles(ListConnections)
async def _connections(c: NodeController, _: ListConnections) -> Any:
    assert c.node.tcp is not None
    return c.node.tcp.connections()


@handles(ShowConnection)
async def _connection(c: NodeController, r: ShowConnection) -> Any:
    assert c.node.tcp is not None
    info = c.node.tcp.connection(r.worker)
    if info is None:
        raise NotFound(f"no TCP connection {r.worker!r} on node {c.node.name}")
    return info


@handles(DeleteConnection)
async def _disconnect(c: NodeController, r: DeleteConnection) -> Empty:
    assert c.node.tcp is not None
    if not c.node.tcp.disconnect(r.worker):
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
    return await c.portals.create_inlet(bind=r.bind, route=await c.route(r.route), alias=r.alias)


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


REQUEST_TIMEOUT = 10.0
"""Seconds a control client has to send its whole request once connected."""

REPLY_TIMEOUT = 10.0
"""Seconds a control client has to take the reply."""


class ControlServer(Actor):
    """Serves the control API on the node's Unix socket (mode 0600).

    It has a local address like every actor, but routed messages get no answer: the control
    API is only for processes that can open the socket, never for peers on the TCP listener.
    """

    def __init__(self, controller: NodeController, path: Path) -> None:
        self.controller = controller
        self.path = path

    async def handle_message(self, message: LocalMessage) -> None:
        log.warning(
            "ignored a routed message to the control service from %r: the control API is "
            "only served on the node's Unix socket",
            message.return_route,
        )

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        listener = await _unix_listener(self.path)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(super().run)
                await nursery.start(trio.serve_listeners, self._serve, [listener])
                task_status.started()
        finally:
            self.path.unlink(missing_ok=True)

    async def _serve(self, stream: trio.abc.Stream) -> None:
        # Reading the request and writing the reply are bounded here; handling is not, as a
        # request may rightly take long (`message send --timeout 60`). Each handler bounds
        # itself instead: by the request's own timeout, the relay client's, CONNECT_TIMEOUT...
        try:
            received: Request | Reply | None = None
            with trio.move_on_after(REQUEST_TIMEOUT):
                received = await _read_request(stream)
            if received is None:
                log.warning(
                    "closed a control connection that sent no complete request within %g s",
                    REQUEST_TIMEOUT,
                )
                return
            if isinstance(received, Reply):
                reply = received
            else:
                reply = await self._answer(received)
            with trio.move_on_after(REPLY_TIMEOUT):
                await write_frame(stream, encode(reply))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            await trio.aclose_forcefully(stream)

    async def _answer(self, request: Request) -> Reply:
        try:
            result = await self.controller.handle(request)
        except BaseExceptionGroup as group:
            exc = unwrap_group(group)
            if not isinstance(exc, Exception):
                raise
            return self._error(request, exc)
        except Exception as exc:
            return self._error(request, exc)
        return Reply(ok=True, result=msgspec.Raw(encode(result)))

    def _error(self, request: Request, exc: Exception) -> Reply:
        if isinstance(exc, (OckamError, ValueError, LookupError)):
            return Reply(ok=False, error=str(exc), kind=type(exc).__name__)
        log.error("control request %r failed", request, exc_info=exc)
        return Reply(ok=False, error=f"{type(exc).__name__}: {exc}", kind="internal")


async def _read_request(stream: trio.abc.Stream) -> Request | Reply:
    """The request on `stream`, or the error reply to a malformed one."""
    try:
        return decode_request(await read_frame(stream))
    except (msgspec.DecodeError, msgspec.ValidationError, ControlError) as exc:
        return Reply(ok=False, error=f"bad control request: {exc}", kind="bad")


def _clear_socket_path(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    path.unlink(missing_ok=True)


async def _unix_listener(path: Path) -> trio.SocketListener:
    _clear_socket_path(path)
    sock = trio.socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)  # the socket file is created 0600: only its owner may connect
    try:
        await sock.bind(str(path))
    finally:
        os.umask(old_umask)
    os.chmod(path, 0o600)
    sock.listen(64)
    return trio.SocketListener(sock)


ExtraSetup = Callable[[NodeController], Awaitable[None]]
SETUP_HOOKS: list[ExtraSetup] = []
"""Coroutines run on each node process at start (secure channels add their listener here)."""

ShutdownHook = Callable[[NodeController], Awaitable[None]]
SHUTDOWN_HOOKS: list[ShutdownHook] = []
"""Coroutines run, in order, when a node process is asked to stop, while its actors still run
(secure channels tell their peers they close here). Each is cut off after
`SHUTDOWN_HOOK_TIMEOUT` seconds, and one that fails is logged: the node stops regardless."""

SHUTDOWN_HOOK_TIMEOUT = 2.0
"""Seconds each shutdown hook may take."""


async def run_shutdown_hooks(controller: NodeController) -> None:
    """Run every `SHUTDOWN_HOOKS` coroutine in order, each bounded, none able to stop the rest."""
    for hook in SHUTDOWN_HOOKS:
        name = getattr(hook, "__qualname__", repr(hook))
        with trio.move_on_after(SHUTDOWN_HOOK_TIMEOUT) as scope:
            try:
                await hook(controller)
            except Exception:
                log.exception("shutdown hook %s failed; stopping anyway", name)
        if scope.cancelled_caught:
            log.warning(
                "shutdown hook %s did not finish within %g s; stopping anyway",
                name,
                SHUTDOWN_HOOK_TIMEOUT,
            )


async def serve_node(
    store: StateStore,
    name: str,
    *,
    listener: str,
    identity: str | None = None,
    ready: Callable[[NodeController], None] | None = None,
) -> None:
    """Run node `name` in this process until SIGTERM, SIGINT or a `Shutdown` request."""
    async with open_node(name) as node:
        assert node.tcp is not None
        bound = await node.tcp.listen(listener)
        controller = NodeController(node, pid=os.getpid(), listener=bound.address)
        controller.identity_name = identity or ""
        controller.home = store.node_dir(name)
        for hook in SETUP_HOOKS:
            await hook(controller)
        await node.start_actor(ControlServer(controller, store.socket_path(name)), "_control")
        store.put(
            store.new_record(name, pid=os.getpid(), listener=bound.address, identity=identity or "")
        )
        node.nursery.start_soon(_stop_on_signals, controller)
        log.info("node %s is running, listening on %s", name, bound.address)
        if ready is not None:
            ready(controller)
        await trio.sleep_forever()


async def _stop_on_signals(controller: NodeController) -> None:
    # The first signal stops the node after its shutdown hooks; a second one at once.
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGHUP) as signals:
        async for signum in signals:
            log.info("received %s; stopping", signal.Signals(signum).name)
            controller.node.nursery.start_soon(controller.stop)
