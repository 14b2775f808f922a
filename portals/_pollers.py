"""The socket pollers of a node's portals: one per worker that carries portals.

Portal workers whose route starts with the same local worker (a connection, a secure channel)
have their sockets read by one `transports.SocketPoller` task: one wake-up for all the sockets
that became readable together, and their payloads leave in one `send`. A poller runs in the
node's nursery for as long as its carrier does.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

import trio

from transports import SocketPoller

if TYPE_CHECKING:
    from actors import Address, Node

_POLLERS: weakref.WeakKeyDictionary[Node, dict[str, SocketPoller]] = weakref.WeakKeyDictionary()


async def carrier_poller(node: Node, carrier: Address) -> SocketPoller | None:
    """The poller for the portals carried by `carrier` on `node`, started on first use; None
    when the carrier has already stopped."""
    pollers = _POLLERS.setdefault(node, {})
    poller = pollers.get(carrier.value)
    if poller is not None:
        return poller
    stopped = node.monitor(carrier)
    if stopped.is_set():
        return None
    poller = SocketPoller()
    pollers[carrier.value] = poller
    await node.nursery.start(_run, poller, stopped, pollers, carrier.value)
    return poller


async def _run(
    poller: SocketPoller,
    stopped: trio.Event,
    pollers: dict[str, SocketPoller],
    key: str,
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    try:
        async with trio.open_nursery() as nursery:
            await nursery.start(poller.run)
            task_status.started()
            await stopped.wait()
            nursery.cancel_scope.cancel()
    finally:
        if pollers.get(key) is poller:
            del pollers[key]
