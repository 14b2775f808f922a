"""What a node's `/metrics` reports, read from the node's own registry of actors.

One fact, one owner: the counts come from the actors running on the node (`Node.actors_of`),
never from a second table kept beside them. Errors are the log records at ERROR and above
that the node's `ErrorCounter` saw.

Portal bytes come from the node's `PortalTraffic`, two integers every portal worker adds to as
it reads and writes its socket (`portals.portal_traffic`).
"""

from __future__ import annotations

from actors import Node, RelayClient, RelayWorker
from portals import InletWorker, OutletWorker, Phase, portal_traffic
from secure import SecureChannelWorker

from ._status_server import ErrorCounter, NodeStatistics


def node_statistics(node: Node, *, errors: ErrorCounter) -> NodeStatistics:
    """A snapshot of `node`'s metrics: open portals and their bytes, relays, established secure
    channels."""
    traffic = portal_traffic(node)
    return NodeStatistics(
        portals_open=len(
            [
                worker
                for worker in (*node.actors_of(InletWorker), *node.actors_of(OutletWorker))
                if worker.state.phase is Phase.OPEN
            ]
        ),
        portal_bytes_in=traffic.bytes_in,
        portal_bytes_out=traffic.bytes_out,
        relays_hosted=len(node.actors_of(RelayWorker)),
        relays_registered=len(node.actors_of(RelayClient)),
        secure_channels=len(
            [
                channel
                for channel in node.actors_of(SecureChannelWorker)
                if channel.established.is_set()
            ]
        ),
        errors=errors.count,
    )
