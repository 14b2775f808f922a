"""Services and workers: `ockam service start` and `ockam worker list/show`."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any, Literal

import msgspec
import trio

from actors import (
    BUILTIN_SERVICES,
    ENTRY_POINT_GROUP,
    OckamError,
    PluginError,
    WorkerInfo,
    load_plugin,
    local_name,
    plugins,
    start_service,
)

from ._app import DEFAULT, Common, NodeOption, ask_node, command_group
from ._control import Empty, Request
from ._controller import NodeController
from ._feature import Feature
from ._node_view import worker_status
from ._persisted import forgetting, remember
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
    view=lambda w, _: worker_status(w),
)


class ServiceInfo(msgspec.Struct, frozen=True):
    """A service as `service list` shows it: a running one at its `address`, or one the node
    could start (`address` empty). `kind` is `builtin`, `plugin` or `actor` (another class
    started as a service, like the secure channel listener); a plugin that does not load has
    its reason in `error`."""

    name: str
    address: str
    kind: Literal["builtin", "plugin", "actor"]
    running: bool
    entry_point: str = ""
    error: str = ""


def _services(c: NodeController) -> list[ServiceInfo]:
    """The node's running services, then the built-ins and plugins it runs none of."""
    installed = plugins()
    Kind = Literal["builtin", "plugin", "actor"]
    names: dict[type[Any], tuple[str, Kind, str]] = {
        cls: (name, "builtin", "") for name, cls in BUILTIN_SERVICES.items()
    }
    for plugin in installed:
        if plugin.loads:
            names.setdefault(load_plugin(plugin.name), (plugin.name, "plugin", plugin.entry_point))
    items: list[ServiceInfo] = []
    for worker in c.node.workers():
        if not worker.service:
            continue
        name, kind, entry = names.get(
            type(c.node.actor_at(worker.address)), (worker.kind, "actor", "")
        )
        items.append(ServiceInfo(name, worker.address, kind, True, entry))
    running = {item.name for item in items}
    items.extend(ServiceInfo(n, "", "builtin", False) for n in BUILTIN_SERVICES if n not in running)
    items.extend(
        ServiceInfo(p.name, "", "plugin", False, p.entry_point, p.error)
        for p in installed
        if p.name not in running
    )
    return items


def _stop_service(c: NodeController, address: str) -> bool:
    running = [w for w in c.node.workers() if w.service and address in (w.address, *w.aliases)]
    return bool(running) and c.node.stop_actor(running[0].address)


def _service_address(c: NodeController, address: str) -> str | None:
    # A service's row is kept by its address; a stop may name one of its aliases instead.
    found = (w for w in c.node.workers() if w.service and address in (w.address, *w.aliases))
    return next((w.address for w in found), None)


def _service_line(s: ServiceInfo) -> str:
    where = f"/service/{s.address}" if s.running else "available"
    return f"{s.name}  {where}  {s.kind}" + (f"  error: {s.error}" if s.error else "")


SERVICES = Resource(
    noun="service",
    info=ServiceInfo,
    columns=("Name", "Address", "Kind", "Status"),
    row=lambda s: [
        s.name,
        f"/service/{s.address}" if s.running else "",
        s.kind,
        "running" if s.running else (f"broken: {s.error}" if s.error else "available"),
    ],
    items=_services,
    keys=lambda s: [s.address] if s.running else [s.name],
    remove=forgetting("service", _stop_service, _service_address),
    line=_service_line,
    key=Key("address", "The service's address, like /service/echo.", local_name),
    help={
        "list": "List a node's services (running ones first) and those it can start.",
        "delete": "Stop one of a node's services, by address (the same as `service stop`).",
    },
)

service_app = command_group("service", "Start, list and stop services on a node.")
worker_app = command_group("worker", "Inspect a node's workers.")
FEATURE = Feature("service", commands=[service_app, worker_app], resources=[WORKERS, SERVICES])


class StartService(Request, frozen=True, tag="service-start"):
    """Start a built-in or plugin service at `address` (default: its name), configured by
    `config` (JSON text, checked against the service's `Options`)."""

    name: str
    address: str | None = None
    config: str | None = None


@FEATURE.handles(StartService)
async def _start_service(c: NodeController, r: StartService) -> Empty:
    config = None
    if r.config is not None:
        try:
            config = msgspec.json.decode(r.config)
        except msgspec.DecodeError as exc:
            raise PluginError(f"--config for service {r.name!r} is not JSON: {exc}") from None
    with trio.move_on_after(START_TIMEOUT):
        await start_service(c.node, r.name, address=r.address, config=config)
        address = r.address or r.name
        remember(c, "service", address, msgspec.structs.replace(r, address=address))
        return Empty()
    raise OckamError(f"service {r.name!r} did not start within {START_TIMEOUT:g} s")


def service_start(
    name: str,
    /,
    *,
    at: NodeOption = None,
    addr: str | None = None,
    config: str | None = None,
    common: Common = DEFAULT,
) -> None:
    """Start a built-in service (hop, echo, uppercase, forwarding_service) or a plugin{plugins}.

    Parameters
    ----------
    name
        The service to start.
    addr
        Its local address (default: its name).
    config
        The service's configuration as JSON ('{{"greeting": "hi"}}'), checked against the
        options its class declares.
    """
    printer = common.printer()
    record, _ = ask_node(at, StartService(name, addr, config), Empty, start=True)
    address = f"/service/{addr or name}"
    printer.emit(
        plain=address,
        data={"service": name, "address": address, "node": record.name},
        pretty=f"[green]✔︎[/green] Started {name} at {address} on node {record.name}",
    )


def _installed() -> str:
    # Entry-point names only: nothing is imported to write the help.
    names = sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})
    return f" (installed plugins: {', '.join(names)})" if names else ""


service_start.__doc__ = (service_start.__doc__ or "").format(plugins=_installed())
service_app.command(service_start, name="start")


@service_app.command(name="stop")
def service_stop(address: str, /, *, at: NodeOption = None, common: Common = DEFAULT) -> None:
    """Stop one of a node's services, by address (/service/NAME or NAME).

    Parameters
    ----------
    address
        The service's address, like /service/echo.
    """
    SERVICES.delete(address, at, common)
