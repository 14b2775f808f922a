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


def carrier_poller(node: Node, carrier: Address) -> SocketPoller | None:
    """The poller for the portals carried by `carrier` on `node`, started on first use; None
    when the carrier has already stopped.

    The poller's task starts in the node's nursery, outside the caller's cancel scopes, so a
    portal that closes while the first poller of its carrier starts never takes that poller,
    and the other portals that already use it, down with it. Sockets added before the task
    first runs are read as soon as it does.
    """
    pollers = _POLLERS.setdefault(node, {})
    poller = pollers.get(carrier.value)
    if poller is not None:
        return poller
    stopped = node.monitor(carrier)
    if stopped.is_set():
        return None
    poller = SocketPoller()
    pollers[carrier.value] = poller
    node.nursery.start_soon(_run, poller, stopped, pollers, carrier.value)
    return poller


async def _run(
    poller: SocketPoller, stopped: trio.Event, pollers: dict[str, SocketPoller], key: str
) -> None:
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(poller.run)
            await stopped.wait()
            nursery.cancel_scope.cancel()
    finally:
        if pollers.get(key) is poller:
            del pollers[key]
