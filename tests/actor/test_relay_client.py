"""The relay client feeds its registration machine: heartbeats restore a lost relay, a closed
connection takes it down, over memory streams with a fake clock."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager

import trio

from actors import RelayWorker, Route, local, route, start_relay
from transports.testing import Topology, open_topology


def relay_pair() -> AbstractAsyncContextManager[Topology]:
    """n3 connected to the relay node n2 over a memory stream; both run echo and the relay
    service."""
    return open_topology(
        ["n2", "n3"],
        links=[("n3", "n2")],
        transport="memory",
        services=("echo", "forwarding_service"),
    )


async def test_a_relay_worker_lost_on_the_relay_node_is_back_at_the_next_heartbeat(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(30):
        async with relay_pair() as t:
            to_n2 = Route((local(t.connections[("n3", "n2")].worker),))
            client = await start_relay(t["n3"], at=to_n2, name="n3", heartbeat=5.0)
            assert client.up
            assert isinstance(t["n2"].actor_at("forward_to_n3"), RelayWorker)

            assert t["n2"].stop_actor("forward_to_n3")
            await trio.sleep(5.5)

            assert isinstance(t["n2"].actor_at("forward_to_n3"), RelayWorker)
            reply = await t["n2"].request(route("forward_to_n3", "echo"), b"back", timeout=5)
            assert reply.payload == b"back"
            assert client.info().status == "up"


async def test_the_client_goes_down_with_its_connection_and_keeps_trying(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(30):
        async with relay_pair() as t:
            link = t.connections[("n3", "n2")].worker
            client = await start_relay(t["n3"], at=Route((local(link),)), name="n3")
            stopped = t["n2"].monitor("forward_to_n3")

            assert t["n3"].tcp.disconnect(link)
            await stopped.wait()  # the relay worker follows its connection

            assert not client.up
            assert client.info().status == "down"
            await trio.sleep(10)  # retries find no route: it stays down, and alive
            assert not client.up
            assert t["n3"].actor_at(client.ctx.address) is client
