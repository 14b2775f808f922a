"""Three nodes in one nursery: n1 → n2 (hop) → n3 uppercase, over TCP, WebSocket and memory."""

from __future__ import annotations

import pytest
import trio

from actors import Route, local
from transports.testing import TransportName, open_topology


async def _round_trip_through_chain(transport: TransportName) -> None:
    async with open_topology(transport=transport) as topology:
        assert sorted(topology.nodes) == ["n1", "n2", "n3"]
        route = topology.route("n1", "n3", "uppercase", via_hop=True)
        n1_to_n2 = topology.connections[("n1", "n2")]
        n2_to_n3 = topology.connections[("n2", "n3")]
        assert route == Route(
            [local(n1_to_n2.worker), local("hop"), local(n2_to_n3.worker), local("uppercase")]
        )

        reply = await topology["n1"].request(route, b"hello, ockam", timeout=5)

        assert reply.payload == b"HELLO, OCKAM"
        # The reply came back along the return route the chain built: through n1's
        # connection, n2's hop, n2's connection to n3, from uppercase.
        assert reply.return_route == route
        assert reply.onward_route.addresses[0].is_local
        # Nothing was dropped anywhere along the way.
        assert [node.router.dropped for node in topology.nodes.values()] == [0, 0, 0]


async def test_three_nodes_over_tcp() -> None:
    with trio.fail_after(10):
        await _round_trip_through_chain("tcp")


async def test_three_nodes_over_websocket() -> None:
    with trio.fail_after(10):
        await _round_trip_through_chain("ws")


async def test_three_nodes_over_memory_streams(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(10):
        await _round_trip_through_chain("memory")


@pytest.mark.parametrize("transport", ["tcp", "ws", "memory"])
async def test_connections_are_recorded_on_both_sides(transport: TransportName) -> None:
    with trio.fail_after(10):
        async with open_topology(transport=transport) as topology:
            assert set(topology.connections) == {
                ("n1", "n2"),
                ("n2", "n1"),
                ("n2", "n3"),
                ("n3", "n2"),
            }
            for (a, b), info in topology.connections.items():
                assert info.mode == ("outgoing" if (a, b) in topology.links else "incoming")
                node = topology[a]
                transport_of_a = node.ws if transport == "ws" else node.tcp
                assert transport_of_a is not None
                assert transport_of_a.connection(info.worker) == info
            if transport == "memory":
                assert topology.listeners == {}
            else:
                assert sorted(topology.listeners) == ["n2", "n3"]
                assert all(not i.address.endswith(":0") for i in topology.listeners.values())


async def test_route_back_from_the_far_end() -> None:
    with trio.fail_after(10):
        async with open_topology() as topology:
            route = topology.route("n3", "n1", "echo", via_hop=True)
            reply = await topology["n3"].request(route, b"back", timeout=5)
            assert reply.payload == b"back"
            assert reply.return_route == route


async def test_route_without_hop_goes_through_connections_only(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(10):
        async with open_topology(transport="memory") as topology:
            route = topology.route("n1", "n3", "uppercase")
            assert local("hop") not in route.addresses
            assert len(route) == 3
            reply = await topology["n1"].request(route, b"abc", timeout=5)
            assert reply.payload == b"ABC"


async def test_star_links_and_custom_names(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(10):
        async with open_topology(
            ["hub", "a", "b"], links=[("a", "hub"), ("b", "hub")], transport="memory"
        ) as topology:
            assert topology.path("a", "b") == ["a", "hub", "b"]
            route = topology.route("a", "b", "uppercase", via_hop=True)
            reply = await topology["a"].request(route, b"spoke", timeout=5)
            assert reply.payload == b"SPOKE"
            # A route to the node itself is just the service.
            assert topology.route("a", "a", "echo") == Route([local("echo")])


async def test_via_hop_needs_a_hop_service(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(10):
        async with open_topology(transport="memory", services=("uppercase",)) as topology:
            with pytest.raises(ValueError, match="node n2 runs no hop service"):
                topology.route("n1", "n3", "uppercase", via_hop=True)
            reply = await topology["n1"].request(
                topology.route("n1", "n3", "uppercase"), b"x", timeout=5
            )
            assert reply.payload == b"X"


async def test_unknown_nodes_and_unjoined_nodes(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(10):
        async with open_topology(["x", "y", "z"], links=[("x", "y")], transport="memory") as t:
            with pytest.raises(KeyError, match="no node 'nope'"):
                t.route("x", "nope", "echo")
            with pytest.raises(ValueError, match="no link joins x to z"):
                t.route("x", "z", "echo")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"names": ["a", "a"]}, "unique"),
        ({"names": []}, "non-empty"),
        ({"links": [("n1", "n9")]}, "bad link"),
        ({"links": [("n1", "n1")]}, "bad link"),
        ({"links": [("n1", "n2"), ("n2", "n1")]}, "given twice"),
        ({"transport": "udp"}, "transport must be"),
    ],
)
async def test_bad_arguments_are_refused_up_front(kwargs: dict[str, object], message: str) -> None:
    with trio.fail_after(10), pytest.raises(ValueError, match=message):
        async with open_topology(**kwargs):  # type: ignore[arg-type]
            pass


async def test_an_error_in_the_block_comes_out_unwrapped(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(10), pytest.raises(KeyError, match="boom"):
        async with open_topology(transport="memory"):
            raise KeyError("boom")
