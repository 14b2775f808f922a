"""Services and workers: `ockam service start` and `ockam worker list/show`."""

from __future__ import annotations

import trio

from actors import OckamError, WorkerInfo, local_name, start_service

from ._app import DEFAULT, Common, NodeOption, ask_node, command_group
from ._control import Empty, Request
from ._controller import NodeController
from ._feature import Feature
from ._resource import Resource

START_TIMEOUT = 10.0
"""Seconds `service start` waits for a service (a plugin, say) to be ready."""


def _worker(c: NodeController, address: str) -> WorkerInfo | None:
    return next((w for w in c.node.workers() if address in (w.address, *w.aliases)), None)


WORKERS = Resource(
    kind="worker",
    noun="worker",
    info=WorkerInfo,
    items=lambda c: c.node.workers(),
    find=_worker,
    title="Workers",
    columns=["Address", "Aliases", "Kind"],
    row=lambda w: [f"/service/{w.address}", ", ".join(w.aliases), w.kind],
    line=lambda w: f"/service/{w.address}  {w.kind}",
    shown=lambda w: f"/service/{w.address}  {w.kind}",
    key_help="The worker's address, like /service/echo.",
    parse_key=local_name,
    help={"list": "List the workers running on a node.", "show": "Show one worker of a node."},
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
