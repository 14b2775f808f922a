"""Services and workers: `ockam service start` and `ockam worker list/show`."""

from __future__ import annotations

import trio

from actors import OckamError, WorkerInfo, local_name, start_service

from ._app import DEFAULT, Common, NodeOption, ask_node, command_group
from ._control import Empty, Request
from ._controller import NodeController
from ._feature import Feature
from ._resource import Key, Resource

START_TIMEOUT = 10.0
"""Seconds `service start` waits for a service (a plugin, say) to be ready."""


WORKERS = Resource(
    noun="worker",
    info=WorkerInfo,
    columns=("Address", "Aliases", "Kind"),
    row=lambda w: [f"/service/{w.address}", ", ".join(w.aliases), w.kind],
    items=lambda c: c.node.workers(),
    keys=lambda w: [w.address, *w.aliases],
    line=lambda w: f"/service/{w.address}  {w.kind}",
    key=Key("address", "The worker's address, like /service/echo.", local_name),
)

service_app = command_group("service", "Start services on a node.")
worker_app = command_group("worker", "Inspect a node's workers.")
FEATURE = Feature("service", commands=[service_app, worker_app], resources=[WORKERS])


class StartService(Request, frozen=True, tag="service-start"):
    """Start a built-in or plugin service at `address` (default: its name)."""

    name: str
    address: str | None = None


@FEATURE.handles(StartService)
async def _start_service(c: NodeController, r: StartService) -> Empty:
    with trio.move_on_after(START_TIMEOUT):
        await start_service(c.node, r.name, address=r.address)
        return Empty()
    raise OckamError(f"service {r.name!r} did not start within {START_TIMEOUT:g} s")


@service_app.command(name="start")
def service_start(
    name: str,
    /,
    *,
    at: NodeOption = None,
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
