"""The socket pollers of a node's portals: one per worker that carries portals.

Portal workers whose route starts with the same local worker (a connection, a secure channel)
have their streams read by one `transports.SocketPoller` task: one wake-up for all the sockets
that became readable together, and their payloads leave in one `send`. Each poller is an actor
of its own (`CarrierPoller`), registered at `poller_<carrier>`, so the node's registry finds
it; it stops when its carrier does.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio

from actors import TEMPORARY, Actor, AddressInUse, NodeStopped, local
from transports import SocketPoller

from ._messages import CHUNK

if TYPE_CHECKING:
    from actors import Address, Node


class CarrierPoller(Actor):
    """Runs the `SocketPoller` of the portals that `carrier` carries, until it stops."""

    def __init__(self, carrier: Address) -> None:
        self.carrier = carrier
        self.poller = SocketPoller(read_size=CHUNK)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        # Ready at once, before any checkpoint: a portal that closes while it starts the
        # poller of its carrier cannot take it, and the portals that found it, down with it.
        task_status.started()
        stopped = self.ctx.node.monitor(self.carrier)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(self.poller.run)
            await stopped.wait()
            nursery.cancel_scope.cancel()


async def carrier_poller(node: Node, carrier: Address) -> SocketPoller | None:
    """The poller for the portals carried by `carrier` on `node`, started on first use; None
    when the carrier has stopped (or the node is stopping).

    Streams added before the poller's task first runs are read as soon as it does.
    """
    address = local(f"poller_{carrier.value}")
    if node.actor_at(address) is None and not node.monitor(carrier).is_set():
        try:
            await node.start_actor(CarrierPoller(carrier), address, policy=TEMPORARY)
        except AddressInUse:
            pass  # another portal of this carrier started it meanwhile
        except NodeStopped:
            return None
    found = node.actor_at(address)
    return found.poller if isinstance(found, CarrierPoller) else None
