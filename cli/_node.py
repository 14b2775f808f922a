"""Nodes: `ockam node create/list/show/start/stop/restart/delete/logs/default`, and the
control requests that every node process answers about itself (its status, and stopping).

What a node's life takes from the command line's side (spawning, waiting, stopping, the
default node) is in `cli._lifecycle`; this module holds the commands."""

from __future__ import annotations

import contextlib
import logging
import sys
from typing import Annotated

import msgspec
import trio
from cyclopts import Parameter

from actors import OckamError

from ._app import DEFAULT, Common, YesOption, ask, command_group, confirm, run, store, target_node
from ._config import NodeConfig, is_config_path
from ._control import Empty, Request
from ._controller import NodeController
from ._feature import Feature, NodeApi
from ._identity_store import default_identity
from ._lifecycle import GetStatus as GetStatus
from ._lifecycle import NodeStatus as NodeStatus
from ._lifecycle import Shutdown as Shutdown
from ._lifecycle import (
    already_running,
    delete_nodes,
    forget_node,
    node_status,
    random_node_name,
    start_again,
    start_node,
    stop_node,
)
from ._node_config import apply_configuration, read_configuration
from ._node_trust import (
    NO_TRUST,
    GetMembership,
    Membership,
    TrustOptions,
    membership,
    membership_warning,
    prepare_trust,
)
from ._node_view import http_address, node_list_item, node_resources, stopped_node
from ._ockam_views import NodeResources
from ._output import Printer
from ._routes import node_name
from ._runtime import serve_node
from ._state import NodeNotFound, StateStore, check_node_name

NodeArgument = Annotated[str, Parameter(help="The node's name.")]

node_app = command_group("node", "Create and manage nodes.")
FEATURE = Feature("node", commands=[node_app])


class GetNodeResources(Request, frozen=True, tag="node-resources"):
    """Everything the node holds, in Ockam's `NodeResources` shape (`node show --output json`)."""


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


@FEATURE.handles(GetMembership)
async def _membership(c: NodeController, _: GetMembership) -> Membership:
    return await membership(c)


@FEATURE.handles(Shutdown)
async def _shutdown(c: NodeController, _: Shutdown) -> Empty:
    # Answer first; the shutdown hooks run and the nursery is cancelled after the reply.
    c.node.nursery.start_soon(_shutdown_soon, c)
    return Empty()


async def _shutdown_soon(controller: NodeController) -> None:
    await trio.sleep(0.05)
    await controller.stop()


class NodeExists(OckamError):
    """A stopped node of that name exists, and the command would make it anew."""


def _describe(status: NodeStatus) -> str:
    return (
        f"Node [bold]{status.name}[/bold] is {status.status}"
        + (f" (pid {status.pid}), listening on {status.listener}" if status.running else "")
        + (f", HTTP server at http://{status.http_server}" if status.http_server else "")
    )


def _has_resources(config: NodeConfig | None) -> bool:
    return config is not None and bool(config.tcp_outlets or config.tcp_inlets or config.relays)


@node_app.command
def create(
    name: str | None = None,
    /,
    *,
    tcp_listener_address: Annotated[
        str | None, Parameter(name=["--tcp-listener-address", "-t"])
    ] = None,
    foreground: Annotated[bool, Parameter(name=["--foreground", "-f"], negative="")] = False,
    child_process: Annotated[bool, Parameter(show=False, negative="")] = False,
    identity: str | None = None,
    configuration: str | None = None,
    variable: Annotated[list[str] | None, Parameter(name="--variable")] = None,
    http_server: bool = False,
    http_server_port: int | None = None,
    trust: TrustOptions = NO_TRUST,
    common: Common = DEFAULT,
    api: Annotated[NodeApi, Parameter(parse=False)],
) -> None:
    """Create a node and start it in the background; a stopped node of that name is started
    again, on its listener address and with its identity.

    Parameters
    ----------
    name
        The node's name: letters, digits, '_' and '-' (a random one when omitted); or a
        configuration file (a name with a dot or a slash, like node.yaml) describing the node
        and its resources.
    tcp_listener_address
        Where the node listens for TCP connections (HOST:PORT; port 0 picks a free port).
        Default: 127.0.0.1:0, or the address a stopped node had.
    foreground
        Run the node in this process, logging to stdout, until Ctrl-C or SIGTERM; a node
        created so is deleted when it stops.
    child_process
        Internal: this process is a background node that `node create` started.
    identity
        The name of the identity the node uses (created when missing). Default: the node's
        name; with --project, the default identity.
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
    node = check_node_name(name) if name else random_node_name(state)
    if http_server_port is not None and not 0 <= http_server_port <= 65535:
        raise ValueError(f"bad --http-server-port {http_server_port}: expected 0 to 65535")
    status_port = http_server_port if http_server_port is not None else (0 if http_server else None)
    # `--tcp-listener-address=` with nothing after it (seed 001 prints it so) means the default.
    listener = (tcp_listener_address or "").strip() or None
    existing = state.find(node)
    if existing is not None and not child_process:
        if run(lambda: node_status(state, existing)).running:
            raise already_running(node)
        if _has_resources(config):
            raise NodeExists(
                f"node {node!r} exists and is stopped: start it with `ockam node start {node}` "
                f"or delete it first with `ockam node delete {node}`"
            )
        listener = listener or existing.listener
        identity = identity or existing.identity or None
    if trust.project is not None and not identity:
        # A project's members are identities: as in Ockam, a project's node is the default
        # identity (the one `ockam enroll` made a member) unless --identity says otherwise.
        identity = default_identity(state.home)
    prepare_trust(state, node, identity, trust, keep=child_process or existing is not None)
    if foreground:
        if _has_resources(config):
            raise OckamError(
                "a configuration with outlets, inlets or relays creates a background node: "
                "drop --foreground"
            )
        created = existing is None and not child_process
        address = listener or "127.0.0.1:0"
        _run_foreground(state, node, address, identity, status_port, printer, common, api, created)
        return

    warning: str | None = None

    async def start() -> NodeStatus:
        nonlocal warning
        status = await start_node(
            state,
            node,
            listener=listener or "127.0.0.1:0",
            identity=identity,
            http_server_port=status_port,
        )
        if trust.project is not None:
            warning = await membership_warning(state, node)
        if config is not None and existing is None:
            try:
                await apply_configuration(state, node, config, api=api)
            except BaseException:
                # A configuration never leaves a half-made node behind.
                with trio.CancelScope(shield=True):
                    await delete_nodes(state, [state.get(node)])
                raise
        return status

    async def main() -> NodeStatus:
        if printer.tty and not printer.quiet and printer.output == "plain":
            with printer.console.status(f"Creating node {node}..."):
                return await start()
        return await start()

    _print_status(state, printer, run(main))
    if warning is not None and not printer.quiet:
        # The node runs and can be enrolled later: a warning, not an error.
        print(f"warning: {warning}", file=sys.stderr, flush=True)


def _print_status(state: StateStore, printer: Printer, status: NodeStatus) -> None:
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
    created: bool,
) -> None:
    """Serve node `name` in this process until a signal or `Shutdown`; a node `created` here
    leaves no state behind (database row, folder) once it stops, however it stops."""
    # The node's log is its standard output, like Ockam's (`node logs` reads a background
    # node's stdout.log); errors and crashes go to stderr.
    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stdout,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        force=True,
    )
    if not common.verbose:
        logging.getLogger("ockam").setLevel(logging.INFO)
    state.node_dir(name).mkdir(parents=True, exist_ok=True, mode=0o700)

    def ready(_: object) -> None:
        printer.emit(plain=f"/node/{name}", data={"name": name, "status": "running"})
        sys.stdout.flush()

    try:
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
    finally:
        if created:
            forget_node(state, name)


@node_app.command(name="list")
def list_(*, common: Common = DEFAULT) -> None:
    """List nodes and whether they are running (a node whose process died is stopped)."""
    printer = common.printer()
    state = store()

    async def main() -> list[NodeStatus]:
        return [await node_status(state, record) for record in state.all()]

    statuses = run(main)
    default = state.default_name()
    printer.table(
        title="Nodes",
        columns=["Name", "Status", "PID", "Listener"],
        rows=[[s.name, s.status, _pid(s), s.listener] for s in statuses],
        data=[
            node_list_item(s.name, s.pid if s.running else None, is_default=s.name == default)
            for s in statuses
        ],
        plain_rows=[f"{s.name}  {s.status}  {_pid(s)}  {s.listener}" for s in statuses],
        empty="No nodes: create one with `ockam node create`.",
    )


def _pid(status: NodeStatus) -> str:
    # A stopped node's pid is its last process's, which is gone: Ockam shows none.
    return str(status.pid) if status.running else "-"


@node_app.command
def show(name: str | None = None, /, *, common: Common = DEFAULT) -> None:
    """Show a node's status, listener and services.

    Parameters
    ----------
    name
        The node (default: the default node).
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
def start(name: NodeArgument, /, *, common: Common = DEFAULT) -> None:
    """Start a stopped node again, on the same TCP listener address and with its identity."""
    state = store()
    record = state.get(node_name(name))
    _print_status(state, common.printer(), run(lambda: start_again(state, record)))


@node_app.command
def stop(name: NodeArgument, /, *, common: Common = DEFAULT) -> None:
    """Stop a node's process; its state stays, `node start` brings it back."""
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
def restart(name: NodeArgument, /, *, common: Common = DEFAULT) -> None:
    """Stop a node's process and start it again, on the same TCP listener address."""
    state = store()
    record = state.get(node_name(name))

    async def main() -> NodeStatus:
        await stop_node(state, record)
        return await start_again(state, state.get(record.name))

    _print_status(state, common.printer(), run(main))


@node_app.command
def delete(
    name: Annotated[str | None, Parameter(help="The node to delete.")] = None,
    /,
    *,
    all: Annotated[bool, Parameter(negative="", help="Delete every node.")] = False,
    yes: YesOption = False,
    common: Common = DEFAULT,
) -> None:
    """Stop nodes and remove their state."""
    printer = common.printer()
    state = store()
    if all == (name is not None):
        raise ValueError("name one node to delete, or use --all")
    records = state.all() if all else [state.get(node_name(name or ""))]
    if all and records:
        confirm(f"Delete nodes {', '.join(r.name for r in records)}?", yes=yes)
    run(lambda: delete_nodes(state, records))
    deleted = [r.name for r in records]
    printer.emit(
        plain="\n".join(f"/node/{n}" for n in deleted),
        data={"deleted": deleted},
        pretty=(
            f"[green]✔︎[/green] Deleted {', '.join(deleted)}" if deleted else "No nodes to delete."
        ),
    )


@node_app.command
def logs(name: str | None = None, /, *, err: bool = False, common: Common = DEFAULT) -> None:
    """Print a background node's log: its stdout.log on stdout, its stderr.log on stderr.

    Parameters
    ----------
    name
        The node (default: the default node).
    err
        Print only its stderr.log, on stdout.
    """
    common.printer()
    state = store()
    record = target_node(state, name)
    stdout, stderr = state.stdout_log(record.name), state.stderr_log(record.name)
    files = [(stderr, sys.stdout)] if err else [(stdout, sys.stdout), (stderr, sys.stderr)]
    if not any(path.exists() for path, _ in files):
        raise OckamError(f"node {record.name!r} has no log file in {stdout.parent}")
    for path, stream in files:
        with contextlib.suppress(FileNotFoundError):
            stream.write(path.read_text(errors="replace"))


@node_app.command(name="default")
def default_(name: str | None = None, /, *, common: Common = DEFAULT) -> None:
    """Show the default node (the one commands use without --at), or make NAME the default.

    Parameters
    ----------
    name
        The node to make the default node.
    """
    printer = common.printer()
    state = store()
    current = state.default_name()
    if name is None:
        if current is None:
            raise NodeNotFound("There is no default node: create one with `ockam node create`")
        printer.emit(plain=current, data={"node_name": current}, pretty=f"Default node: {current}")
        return
    chosen = state.get(node_name(name)).name
    if chosen != current:
        state.set_default(chosen)
    printer.emit(
        plain=chosen,
        data={"node_name": chosen},
        pretty=(
            "Already set to default node"
            if chosen == current
            else f"Set node [bold]{chosen}[/bold] as default"
        ),
    )


def _json_view(state: StateStore, status: NodeStatus) -> NodeResources:
    """`node show --output json`: the node's resources in Ockam's `NodeResources` shape."""
    is_default = state.default_name() == status.name
    record = state.get(status.name)
    if not status.running:
        return stopped_node(
            status.name, listener=status.listener, identity=record.identity, is_default=is_default
        )
    resources = run(lambda: ask(state, record, GetNodeResources(), NodeResources))
    return msgspec.structs.replace(resources, is_default=is_default)
