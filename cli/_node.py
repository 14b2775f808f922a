"""Nodes: `ockam node create/list/show/start/stop/delete/logs`, and the control requests that
every node process answers about itself (its status, and stopping)."""

from __future__ import annotations

import logging
import secrets
import shutil
import sys
from typing import Annotated

import msgspec
import trio
from cyclopts import Parameter

from actors import OckamError

from ._app import DEFAULT, Common, ask, command_group, run, store, target_node, to_builtins
from ._config import is_config_path
from ._control import Empty, NodeNotRunning, Request, call
from ._controller import NodeController
from ._feature import Feature, NodeApi
from ._node_config import apply_configuration, read_configuration
from ._node_view import http_address, node_list_item, node_resources, stopped_node
from ._ockam_views import NodeResources
from ._output import Printer
from ._process import NodeStartError, log_tail, pid_alive, spawn_node, stop_process
from ._routes import node_name
from ._runtime import serve_node
from ._state import NodeRecord, StateStore, check_node_name

node_app = command_group("node", "Create and manage nodes.")
FEATURE = Feature("node", commands=[node_app])


class NodeStatus(msgspec.Struct, frozen=True):
    """What `node show` prints: Ockam's field names."""

    name: str
    status: str
    pid: int
    listener: str
    identifier: str = ""
    services: list[str] = []
    http_server: str = ""
    """`host:port` of the node's HTTP status server; empty when it has none."""


class GetStatus(Request, frozen=True, tag="status"):
    """The node's status."""


class GetNodeResources(Request, frozen=True, tag="node-resources"):
    """Everything the node holds, in Ockam's `NodeResources` shape (`node show --output json`)."""


class Shutdown(Request, frozen=True, tag="shutdown"):
    """Stop the node: run its shutdown hooks, then cancel its root nursery."""


@FEATURE.handles(GetStatus)
async def _status(c: NodeController, _: GetStatus) -> NodeStatus:
    return NodeStatus(
        name=c.node.name,
        status="running",
        pid=c.pid,
        listener=c.listener,
        identifier=c.identifier,
        services=sorted(
            address for w in c.node.workers() if w.service for address in (w.address, *w.aliases)
        ),
        http_server=c.http_server,
    )


@FEATURE.handles(GetNodeResources)
async def _resources(c: NodeController, _: GetNodeResources) -> NodeResources:
    # Which node is the default is the CLI's to say (it reads the state database).
    return node_resources(c, is_default=False, http_server=http_address(c.http_server))


@FEATURE.handles(Shutdown)
async def _shutdown(c: NodeController, _: Shutdown) -> Empty:
    # Answer first; the shutdown hooks run and the nursery is cancelled after the reply.
    c.node.nursery.start_soon(_shutdown_soon, c)
    return Empty()


async def _shutdown_soon(controller: NodeController) -> None:
    await trio.sleep(0.05)
    await controller.stop()


async def wait_ready(
    state: StateStore, name: str, pid: int, *, timeout: float = 20.0
) -> NodeStatus:
    """Poll the node's control socket until it answers.

    Raises:
        NodeStartError: the process exited, or did not answer within `timeout` seconds.
    """
    deadline = trio.current_time() + timeout
    socket_path = state.socket_path(name)
    while trio.current_time() < deadline:
        if not pid_alive(pid):
            reason = log_tail(state.log_file(name), 1) or "it exited"
            raise NodeStartError(f"node {name!r} did not start: {reason}")
        if socket_path.exists():
            try:
                return await call(socket_path, GetStatus(), NodeStatus, node=name)
            except NodeNotRunning:
                pass
        await trio.sleep(0.05)
    raise NodeStartError(
        f"node {name!r} did not answer within {timeout:g} s (see `ockam node logs {name}`)"
    )


async def node_status(state: StateStore, record: NodeRecord) -> NodeStatus:
    """The live status of a node, or a 'stopped' status when it does not answer."""
    if pid_alive(record.pid):
        try:
            with trio.move_on_after(5):
                return await call(
                    state.socket_path(record.name), GetStatus(), NodeStatus, node=record.name
                )
        except (NodeNotRunning, OckamError):
            pass
    return NodeStatus(name=record.name, status="stopped", pid=record.pid, listener=record.listener)


async def stop_node(state: StateStore, record: NodeRecord) -> None:
    """Stop a node for sure: a `Shutdown` request, then signals (see `stop_process`)."""
    socket = state.socket_path(record.name)
    await stop_process(
        record.pid, record.name, lambda: call(socket, Shutdown(), Empty, node=record.name)
    )


class NodeExists(OckamError):
    """A node of that name is already in the state database."""


def _describe(status: NodeStatus) -> str:
    running = status.status == "running"
    return (
        f"Node [bold]{status.name}[/bold] is {status.status}"
        + (f" (pid {status.pid}), listening on {status.listener}" if running else "")
        + (f", HTTP server at http://{status.http_server}" if status.http_server else "")
    )


@node_app.command
def create(
    name: str | None = None,
    /,
    *,
    tcp_listener_address: str = "127.0.0.1:0",
    foreground: bool = False,
    identity: str | None = None,
    configuration: str | None = None,
    variable: Annotated[list[str] | None, Parameter(name="--variable")] = None,
    http_server: bool = False,
    http_server_port: int | None = None,
    common: Common = DEFAULT,
    api: Annotated[NodeApi, Parameter(parse=False)],
) -> None:
    """Create a node and start it in the background.

    Parameters
    ----------
    name
        The node's name (a random one when omitted), or a configuration file (a name with a dot
        or a slash, like node.yaml) describing the node and its resources.
    tcp_listener_address
        Where the node listens for TCP connections (HOST:PORT; port 0 picks a free port).
    foreground
        Run the node in this process until Ctrl-C or SIGTERM.
    identity
        The name of the identity the node uses (created when missing).
    configuration
        The node and its resources as inline YAML or JSON, like
        "{name: n1, tcp-outlets: {db: {to: 5432}}}" (see docs/node-configuration.md).
    variable
        NAME=VALUE for ${NAME} in the configuration; may be repeated.
    http_server
        Run the node's HTTP status server (GET /, /show, /metrics) on a free port of 127.0.0.1.
    http_server_port
        Run the node's HTTP status server on this port of 127.0.0.1.
    """
    printer = common.printer()
    state = store()
    config = read_configuration(name, configuration, variable or [])
    if config is not None:
        given = None if name is None or is_config_path(name) else name
        name = config.name or given
        if config.tcp_listener_address is not None:
            tcp_listener_address = config.tcp_listener_address
    node = check_node_name(name or secrets.token_hex(4))
    if http_server_port is not None and not 0 <= http_server_port <= 65535:
        raise ValueError(f"bad --http-server-port {http_server_port}: expected 0 to 65535")
    status_port = http_server_port if http_server_port is not None else (0 if http_server else None)
    # `--tcp-listener-address=` with nothing after it (seed 001 prints it so) means the default.
    tcp_listener_address = tcp_listener_address.strip() or "127.0.0.1:0"
    if foreground:
        if config is not None and (config.tcp_outlets or config.tcp_inlets or config.relays):
            raise OckamError(
                "a configuration with outlets, inlets or relays creates a background node: "
                "drop --foreground"
            )
        _run_foreground(
            state, node, tcp_listener_address, identity, status_port, printer, common, api
        )
        return
    existing = state.find(node)
    if existing is not None:
        raise NodeExists(
            f"node {node!r} already exists; delete it first with `ockam node delete {node}`"
        )

    async def start() -> NodeStatus:
        pid = spawn_node(
            state,
            node,
            listener=tcp_listener_address,
            identity=identity,
            http_server_port=status_port,
        )
        status = await wait_ready(state, node, pid)
        if config is not None:
            try:
                await apply_configuration(state, node, config, api=api)
            except BaseException:
                # A configuration never leaves a half-made node behind.
                with trio.CancelScope(shield=True):
                    await _delete_all(state, [state.get(node)])
                raise
        return status

    async def main() -> NodeStatus:
        if printer.tty and not printer.quiet and printer.output == "plain":
            with printer.console.status(f"Creating node {node}..."):
                return await start()
        return await start()

    status = run(main)
    printer.emit(
        plain=f"/node/{status.name}",
        data=_json_view(state, status) if printer.output == "json" else None,
        pretty=f"[green]✔︎[/green] {_describe(status)}",
    )


def _run_foreground(
    state: StateStore,
    name: str,
    listener: str,
    identity: str | None,
    http_server_port: int | None,
    printer: Printer,
    common: Common,
    api: NodeApi,
) -> None:
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not common.verbose:
        logging.getLogger("ockam").setLevel(logging.INFO)
    state.node_dir(name).mkdir(parents=True, exist_ok=True, mode=0o700)

    def ready(_: object) -> None:
        printer.emit(plain=f"/node/{name}", data={"name": name, "status": "running"})

    trio.run(
        lambda: serve_node(
            state,
            name,
            listener=listener,
            api=api,
            identity=identity,
            http_server_port=http_server_port,
            ready=ready,
        )
    )


@node_app.command(name="list")
def list_(*, common: Common = DEFAULT) -> None:
    """List nodes and whether they are running."""
    printer = common.printer()
    state = store()

    async def main() -> list[NodeStatus]:
        return [await node_status(state, record) for record in state.all()]

    statuses = run(main)
    default = statuses[0].name if statuses else ""
    printer.table(
        title="Nodes",
        columns=["Name", "Status", "PID", "Listener"],
        rows=[[s.name, s.status, str(s.pid), s.listener] for s in statuses],
        data=[
            node_list_item(
                s.name, s.pid if s.status == "running" else None, is_default=s.name == default
            )
            for s in statuses
        ],
        plain_rows=[f"{s.name}  {s.status}  {s.pid}  {s.listener}" for s in statuses],
        empty="No nodes: create one with `ockam node create`.",
    )


@node_app.command
def show(name: str | None = None, /, *, common: Common = DEFAULT) -> None:
    """Show a node's status, listener and services.

    Parameters
    ----------
    name
        The node (default: the oldest node).
    """
    printer = common.printer()
    state = store()
    record = target_node(state, name)
    status = run(lambda: node_status(state, record))
    services = ", ".join(status.services) or "-"
    printer.emit(
        plain=f"/node/{status.name}",
        data=_json_view(state, status) if printer.output == "json" else None,
        pretty=f"{_describe(status)}\n  services: {services}"
        + (f"\n  identifier: {status.identifier}" if status.identifier else ""),
    )


@node_app.command
def start(name: str, /, *, common: Common = DEFAULT) -> None:
    """Start a stopped node again, on the same TCP listener address.

    Parameters
    ----------
    name
        The node to start.
    """
    printer = common.printer()
    state = store()
    record = state.get(node_name(name))

    async def main() -> NodeStatus:
        current = await node_status(state, record)
        if current.status == "running":
            return current
        pid = spawn_node(
            state, record.name, listener=record.listener, identity=record.identity or None
        )
        return await wait_ready(state, record.name, pid)

    status = run(main)
    printer.emit(plain=f"/node/{status.name}", data=to_builtins(status), pretty=_describe(status))


@node_app.command
def stop(name: str, /, *, common: Common = DEFAULT) -> None:
    """Stop a node's process; its state stays, `node start` brings it back.

    Parameters
    ----------
    name
        The node to stop.
    """
    printer = common.printer()
    state = store()
    record = state.get(node_name(name))
    run(lambda: stop_node(state, record))
    printer.emit(
        plain=f"/node/{record.name}",
        data={"name": record.name, "status": "stopped"},
        pretty=f"Node [bold]{record.name}[/bold] stopped",
    )


@node_app.command
def delete(
    name: str | None = None,
    /,
    *,
    all: Annotated[bool, Parameter(negative="")] = False,
    yes: Annotated[bool, Parameter(negative="")] = False,
    common: Common = DEFAULT,
) -> None:
    """Stop nodes and remove their state.

    Parameters
    ----------
    name
        The node to delete.
    all
        Delete every node.
    yes
        Do not ask for confirmation.
    """
    printer = common.printer()
    state = store()
    if all == (name is not None):
        raise ValueError("name one node to delete, or use --all")
    records = state.all() if all else [state.get(node_name(name or ""))]
    if all and records and not yes and sys.stdin.isatty() and sys.stdout.isatty():
        names = ", ".join(r.name for r in records)
        if input(f"Delete nodes {names}? [y/N] ").strip().lower() not in ("y", "yes"):
            raise OckamError("nothing deleted")
    run(lambda: _delete_all(state, records))
    deleted = [r.name for r in records]
    printer.emit(
        plain="\n".join(f"/node/{n}" for n in deleted),
        data={"deleted": deleted},
        pretty=(
            f"[green]✔︎[/green] Deleted {', '.join(deleted)}" if deleted else "No nodes to delete."
        ),
    )


async def _delete_all(state: StateStore, records: list[NodeRecord]) -> None:
    async def delete_one(record: NodeRecord) -> None:
        await stop_node(state, record)
        state.delete(record.name)
        shutil.rmtree(state.node_dir(record.name), ignore_errors=True)

    async with trio.open_nursery() as nursery:
        for record in records:
            nursery.start_soon(delete_one, record)


@node_app.command
def logs(name: str | None = None, /, *, common: Common = DEFAULT) -> None:
    """Print a node's log file.

    Parameters
    ----------
    name
        The node (default: the oldest node).
    """
    common.printer()
    state = store()
    record = target_node(state, name)
    path = state.log_file(record.name)
    try:
        sys.stdout.write(path.read_text(errors="replace"))
    except FileNotFoundError:
        raise OckamError(f"node {record.name!r} has no log file at {path}") from None


def _json_view(state: StateStore, status: NodeStatus) -> NodeResources:
    """`node show --output json`: the node's resources in Ockam's `NodeResources` shape."""
    records = state.all()
    is_default = bool(records) and records[0].name == status.name
    record = state.get(status.name)
    if status.status != "running":
        return stopped_node(
            status.name, listener=status.listener, identity=record.identity, is_default=is_default
        )
    resources = run(lambda: ask(state, record, GetNodeResources(), NodeResources))
    return msgspec.structs.replace(resources, is_default=is_default)
