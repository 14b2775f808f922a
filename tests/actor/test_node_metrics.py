"""A node's metrics come from its running actors: portals open, relays, secure channels."""

from __future__ import annotations

import logging

import trio

from actors import TCP, Address, Route, local, start_relay
from cli._node_metrics import node_statistics
from cli._status_server import ErrorCounter
from portals import Portals
from secure import Identity, SecureChannels
from tests.actor._portal_helpers import connect, serve, wait_until
from transports import open_node


async def echo(stream: trio.SocketStream) -> None:
    async with stream:
        async for data in stream:
            await stream.send_all(data)


async def test_counts_follow_the_nodes_actors() -> None:
    errors = ErrorCounter()
    with trio.fail_after(20):
        async with (
            trio.open_nursery() as nursery,
            open_node("relay") as relay,
            open_node("db") as db,
        ):
            target = await serve(nursery, echo)
            to_relay = Route((Address(TCP, (await relay.tcp.listen()).address),))
            await start_relay(db, at=to_relay, name="db")
            await wait_until(lambda: node_statistics(relay, errors=errors).relays_hosted == 1)

            assert node_statistics(db, errors=errors).relays_registered == 1
            assert node_statistics(db, errors=errors).relays_hosted == 0

            outlets = Portals(db)
            await outlets.create_outlet(target=target)
            inlets = Portals(relay)
            inlet = await inlets.create_inlet(
                bind="127.0.0.1:0", route=Route((local("forward_to_db"), local("outlet")))
            )
            assert node_statistics(relay, errors=errors).portals_open == 0
            client = await connect(inlet)
            async with client:
                await client.send_all(b"ping")
                assert await client.receive_some(4) == b"ping"
                assert node_statistics(relay, errors=errors).portals_open == 1
                assert node_statistics(db, errors=errors).portals_open == 1
            await wait_until(lambda: node_statistics(db, errors=errors).portals_open == 0)

            alice = SecureChannels(relay, Identity.generate())
            bob = SecureChannels(db, Identity.generate())
            await bob.create_listener("api")
            await alice.create(Route((local("forward_to_db"), local("api"))))
            await wait_until(lambda: node_statistics(db, errors=errors).secure_channels == 1)
            assert node_statistics(relay, errors=errors).secure_channels == 1
            nursery.cancel_scope.cancel()


def test_errors_are_the_counters_count() -> None:
    errors = ErrorCounter()
    logging.getLogger("tests.node_metrics").addHandler(errors)
    try:
        logging.getLogger("tests.node_metrics").error("one error")
    finally:
        logging.getLogger("tests.node_metrics").removeHandler(errors)
    assert errors.count == 1
