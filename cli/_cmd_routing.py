"""`ockam message send`, `service start`, `worker list`, and relays (`relay`, `forwarder`)."""

from __future__ import annotations

from typing import Annotated

from cyclopts import Parameter

from actors import RelayInfo, WorkerInfo, check_relay_name
from secure import Identity, SecureChannels, resolve_secure_route
from transports import open_node

from ._app import (
    DEFAULT,
    Common,
    NodeOption,
    RouteOption,
    ask,
    ask_node,
    resolved,
    run,
    store,
    sub_app,
    target_node,
    to_builtins,
)
from ._control import (
    CreateRelay,
    DeleteRelay,
    Empty,
    ListRelays,
    ListWorkers,
    MessageReply,
    SendMessage,
    ShowRelay,
    StartService,
)
from ._output import Printer

message_app = sub_app("message", "Send messages along routes.")
service_app = sub_app("service", "Start services on a node.")
worker_app = sub_app("worker", "Inspect a node's workers.")
relay_app = sub_app("relay", "Create and manage relays.")
forwarder_app = sub_app("forwarder", "Create relays (the older name of `relay`).")

At = NodeOption


@message_app.command
def send(
    message: str,
    /,
    *,
    to: RouteOption,
    from_: Annotated[str | None, Parameter(name="--from")] = None,
    timeout: float = 10.0,
    common: Common = DEFAULT,
) -> None:
    """Send MESSAGE along a route and print the reply.

    Parameters
    ----------
    message
        The message to send.
    to
        The route, like /node/n1/service/uppercase; a '-' segment is replaced by the route
        piped on standard input.
    from_
        The node that sends (n1 or /node/n1); without it, this command runs a short-lived node
        with a throwaway identity for any /secure/ segment of the route.
    timeout
        Seconds to wait for the reply.
    """
    printer = common.printer()
    state = store()
    route = resolved(state, to)
    payload = message.encode()
    if from_ is not None:
        record = target_node(state, from_)
        reply = run(lambda: ask(state, record, SendMessage(route, payload, timeout), MessageReply))
        text = reply.payload
    else:

        async def main() -> bytes:
            async with open_node("message-send", services=()) as node:
                # A throwaway identity for the channels any /secure/ segment opens; they are
                # closed before the node goes, so no other end is left with a dead channel.
                channels = SecureChannels(node, Identity.generate())
                try:
                    onward = await resolve_secure_route(route, channels)
                    answer = await node.request(onward, payload, timeout=timeout)
                finally:
                    await channels.aclose()
                return answer.payload

        text = run(main)
    decoded = text.decode(errors="replace")
    printer.emit(plain=decoded, data={"reply": decoded})


@service_app.command(name="start")
def service_start(
    name: str,
    /,
    *,
    at: At = None,
    addr: str | None = None,
    common: Common = DEFAULT,
) -> None:
    """Start a built-in service (hop, echo, uppercase, forwarding_service) or a plugin.

    Parameters
    ----------
    name
        The service to start.
    addr
        Its local address (default: its name).
    """
    printer = common.printer()
    record, _ = ask_node(at, StartService(name, addr), Empty)
    address = f"/service/{addr or name}"
    printer.emit(
        plain=address,
        data={"service": name, "address": address, "node": record.name},
        pretty=f"[green]✔︎[/green] Started {name} at {address} on node {record.name}",
    )


@worker_app.command(name="list")
def worker_list(*, at: At = None, common: Common = DEFAULT) -> None:
    """List the workers running on a node."""
    printer = common.printer()
    _, workers = ask_node(at, ListWorkers(), list[WorkerInfo])
    printer.table(
        title="Workers",
        columns=["Address", "Aliases", "Kind"],
        rows=[[f"/service/{w.address}", ", ".join(w.aliases), w.kind] for w in workers],
        data=to_builtins(workers),
        plain_rows=[f"/service/{w.address}  {w.kind}" for w in workers],
    )


def _create_relay(name: str, at: str, to: str | None, common: Common, *, style: str) -> RelayInfo:
    printer = common.printer()
    state = store()
    check_relay_name(name)
    record = target_node(state, to)
    info = run(lambda: ask(state, record, CreateRelay(name, resolved(state, at)), RelayInfo))
    _print_created(printer, info, at=at, node=record.name, style=style)
    return info


def _print_created(printer: Printer, info: RelayInfo, *, at: str, node: str, style: str) -> None:
    pretty = info.remote_address
    if style == "relay":
        pretty = (
            f"[green]✔︎[/green] Now relaying messages from {at.rstrip('/')}{info.remote_address}"
            f" → /node/{node}{info.worker_address}"
        )
    printer.emit(plain=info.remote_address, data=to_builtins(info), pretty=pretty)


RelayName = Annotated[str, Parameter(help="The relay's name; its address is forward_to_NAME.")]
RelayAt = Annotated[str, Parameter(help="The relay node, like /node/n2 or a route to it.")]
RelayTo = Annotated[
    str | None, Parameter(help="The node that the relay leads to (default: oldest).")
]


@relay_app.command(name="create")
def relay_create(
    name: RelayName = "default",
    /,
    *,
    at: RelayAt,
    to: RelayTo = None,
    common: Common = DEFAULT,
) -> None:
    """Create a relay at a node, leading back to another node; prints its address."""
    _create_relay(name, at, to, common, style="relay")


@forwarder_app.command(name="create")
def forwarder_create(
    name: RelayName = "default",
    /,
    *,
    at: RelayAt,
    to: RelayTo = None,
    common: Common = DEFAULT,
) -> None:
    """Create a forwarder (a relay); prints its address, /service/forward_to_NAME."""
    _create_relay(name, at, to, common, style="forwarder")


# The command reference (seed 004) spells it `ockam fowarder create`; it works as typed.
_misspelled = sub_app("fowarder", "Create relays (a misspelling of `forwarder`).")
_misspelled.show = False
_misspelled.command(forwarder_create, name="create")


@relay_app.command(name="list")
def relay_list(
    *,
    to: Annotated[str | None, Parameter(name=["--to", "--at"])] = None,
    common: Common = DEFAULT,
) -> None:
    """List the relays a node keeps registered."""
    printer = common.printer()
    _, relays = ask_node(to, ListRelays(), list[RelayInfo])
    printer.table(
        title="Relays",
        columns=["Name", "Remote address", "At", "Status"],
        rows=[[r.name, r.remote_address, r.at, r.status] for r in relays],
        data=to_builtins(relays),
        plain_rows=[r.remote_address for r in relays],
    )


@relay_app.command(name="show")
def relay_show(name: str, /, *, at: At = None, common: Common = DEFAULT) -> None:
    """Show one relay a node keeps registered."""
    printer = common.printer()
    _, info = ask_node(at, ShowRelay(name), RelayInfo)
    printer.emit(
        plain=info.remote_address,
        data=to_builtins(info),
        pretty=f"{info.name}: {info.remote_address} at {info.at} ({info.status})",
    )


@relay_app.command(name="delete")
def relay_delete(name: str, /, *, at: At = None, common: Common = DEFAULT) -> None:
    """Stop keeping a relay registered."""
    printer = common.printer()
    ask_node(at, DeleteRelay(name), Empty)
    printer.emit(plain=name, data={"deleted": name})
