"""Inside a node process: the control service on its Unix socket, and the node's main."""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import signal
import socket
from collections.abc import Callable
from pathlib import Path

import msgspec
import trio

from actors import Actor, LocalMessage, OckamError, split_host_port, unwrap_group
from transports import open_node

from ._control import ControlError, Reply, Request, encode, read_frame, write_frame
from ._controller import NodeController
from ._feature import NodeApi
from ._node_metrics import node_statistics
from ._node_view import http_address, node_resources
from ._ockam_views import NodeResources
from ._persisted import Persistence, attach, restore
from ._state import StateStore
from ._status_server import ErrorCounter, NodeStatistics, StatusServer

log = logging.getLogger("ockam.control")

REQUEST_TIMEOUT = 10.0
"""Seconds a control client has to send its whole request once connected."""

REPLY_TIMEOUT = 10.0
"""Seconds a control client has to take the reply."""


class ControlServer(Actor):
    """Serves the control API on the node's Unix socket (mode 0600).

    It has a local address like every actor, but routed messages get no answer: the control
    API is only for processes that can open the socket, never for peers on the TCP listener.
    """

    def __init__(self, controller: NodeController, api: NodeApi, path: Path) -> None:
        self.controller = controller
        self.api = api
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
                received = await self._read_request(stream)
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
            result = await self.api.handle(self.controller, request)
        except BaseExceptionGroup as group:
            exc = unwrap_group(group)
            if not isinstance(exc, Exception):
                raise
            return self._error(request, exc)
        except Exception as exc:
            return self._error(request, exc)
        return Reply(ok=True, result=msgspec.Raw(encode(result)))

    async def _read_request(self, stream: trio.abc.Stream) -> Request | Reply:
        """The request on `stream`, or the error reply to a malformed one."""
        try:
            return self.api.decode(await read_frame(stream))
        except (msgspec.DecodeError, msgspec.ValidationError, ControlError) as exc:
            return Reply(ok=False, error=f"bad control request: {exc}", kind="bad")

    def _error(self, request: Request, exc: Exception) -> Reply:
        if isinstance(exc, (OckamError, ValueError, LookupError)):
            return Reply(ok=False, error=str(exc), kind=type(exc).__name__)
        log.error("control request %r failed", request, exc_info=exc)
        return Reply(ok=False, error=f"{type(exc).__name__}: {exc}", kind="internal")


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


async def serve_node(
    store: StateStore,
    name: str,
    *,
    listener: str,
    api: NodeApi,
    identity: str | None = None,
    http_server_port: int | None = None,
    ready: Callable[[NodeController], None] | None = None,
) -> None:
    """Run node `name` in this process, serving `api`, until SIGTERM, SIGINT or a shutdown
    request."""
    _raise_descriptor_limit()
    async with open_node(name) as node:
        set_up = trio.Event()
        bound = await node.tcp.listen(listener, accept_after=set_up)
        controller = api.controller(node, pid=os.getpid(), listener=bound.address)
        controller.identity_name = identity or ""
        controller.home = store.node_dir(name)
        for hook in api.setup:
            await hook(controller)
        # Only now: a peer never meets a listener `api` the setup is about to replace (a
        # project node's admits members only; an authority's believes its account authority).
        set_up.set()
        persistence = Persistence(store, name)
        attach(controller, persistence)
        await _start_status_server(store, controller, persistence, http_server_port)
        # Before the control socket answers: `node start` returns with the node's resources
        # back (or logged as not back), each bounded by RESTORE_TIMEOUT.
        restored = await restore(controller, api, persistence)
        if restored:
            log.info("node %s restored %d resource(s) from the state database", name, restored)
        server = ControlServer(controller, api, store.socket_path(name))
        await node.start_actor(server, "_control")
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


def _raise_descriptor_limit() -> None:
    """Let the node use as many file descriptors as the system allows it: each portal
    connection takes a few, and a relay or an inlet may carry thousands."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    unlimited = resource.RLIM_INFINITY
    if soft == unlimited or (hard != unlimited and soft >= hard):
        return
    wanted = hard if hard != unlimited else max(soft, 1 << 20)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


async def _start_status_server(
    store: StateStore, controller: NodeController, persistence: Persistence, port: int | None
) -> None:
    """Start the status server on `port`, or on the port it had before the node stopped (a
    port taken since is logged, and the node starts without it); remember where it listens."""
    saved = persistence.http_server_port() if port is None else None
    wanted = port if port is not None else saved
    if wanted is None:
        return
    try:
        await start_status_server(store, controller, port=wanted)
    except OSError as exc:
        if port is not None:
            raise
        log.warning("could not restore the HTTP status server on port %d: %s", wanted, exc)
        return
    persistence.remember_http_server(split_host_port(controller.http_server)[1])


async def start_status_server(store: StateStore, controller: NodeController, *, port: int) -> None:
    """Start the node's HTTP status server on 127.0.0.1:`port` (0: a free port) in the node's
    nursery; `controller.http_server` says where it listens once it does."""
    errors = ErrorCounter()
    logging.getLogger().addHandler(errors)
    name = controller.node.name

    async def show() -> NodeResources:
        return node_resources(
            controller,
            is_default=store.default_name() == name,
            http_server=http_address(controller.http_server),
        )

    async def statistics() -> NodeStatistics:
        return node_statistics(controller.node, errors=errors)

    server = StatusServer(node=name, show=show, statistics=statistics, port=port)
    host, bound = await controller.node.nursery.start(server.run)
    controller.http_server = f"{host}:{bound}"
