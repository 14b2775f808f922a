"""The testing kit (`transports.testing` and its pytest plugin): relays made explicit, the
route that would go around one refused, echo and sink servers, one portal manager per node."""

from __future__ import annotations

import logging

import pytest
import trio

from actors import RELAY_SERVICE, Echo, WorkerStopped, local
from portals import Portals
from transports import NetworkNode
from transports.testing import (
    EchoServer,
    SinkServer,
    Topology,
    connect,
    open_echo_server,
    open_sink_server,
    open_topology,
)

NAMES = ("outside", "relay", "inside")
LINKS = [("outside", "relay"), ("inside", "relay")]
"""`outside` and `inside` both dial out to `relay`; neither listens for the other."""


@pytest.mark.ockam_topology(NAMES, links=LINKS)
async def test_a_message_through_an_explicit_relay(ockam_topology: Topology) -> None:
    with trio.fail_after(10):
        assert not ockam_topology["relay"].router.is_registered(local(RELAY_SERVICE))
        relay = await ockam_topology.relay("inside", at="relay")
        assert (relay.name, relay.address, relay.at) == ("inside", "forward_to_inside", "relay")
        route = ockam_topology.relay_route("outside", "inside", "uppercase")
        assert [a.value for a in route][1:] == ["forward_to_inside", "uppercase"]
        reply = await ockam_topology["outside"].request(route, b"hello")
        assert reply.payload == b"HELLO"


@pytest.mark.ockam_topology(NAMES, links=LINKS)
async def test_a_route_around_the_relay_is_refused(ockam_topology: Topology) -> None:
    with trio.fail_after(10):
        assert ockam_topology.route("outside", "inside", "echo")  # no relay yet: fine
        await ockam_topology.relay("inside", at="relay")
        with pytest.raises(ValueError, match=r"around the relay forward_to_inside.*relay_route"):
            ockam_topology.route("outside", "inside", "echo")
        around = ockam_topology.route("outside", "inside", "echo", bypass_relays=True)
        assert "forward_to_inside" not in str(around)
        with pytest.raises(KeyError, match="no relay 'nosuch'"):
            ockam_topology.relay_route("outside", "nosuch")
        with pytest.raises(ValueError, match="registered already"):
            await ockam_topology.relay("inside", at="relay")


async def test_a_portal_through_a_relay_to_the_echo_server(
    ockam_echo_server: EchoServer,
) -> None:
    with trio.fail_after(20):
        async with open_topology(NAMES, links=LINKS) as topology:
            await topology.relay("inside", at="relay")
            await Portals.of(topology["inside"]).create_outlet(target=ockam_echo_server.address)
            inlet = await Portals.of(topology["outside"]).create_inlet(
                bind="127.0.0.1:0", route=topology.relay_route("outside", "inside", "outlet")
            )
            client = await connect(inlet.bind_addr)
            async with client:
                await client.send_all(b"ping")
                assert await client.receive_some(4) == b"ping"
            assert ockam_echo_server.connections == 1
            assert ockam_echo_server.received == 4


async def test_the_sink_server_counts_what_it_receives() -> None:
    with trio.fail_after(10):
        async with open_sink_server() as sink:
            assert isinstance(sink, SinkServer)
            client = await connect(sink.address)
            async with client:
                await client.send_all(b"x" * 100_000)
                await client.send_eof()
                await sink.wait_received(100_000)
                assert await client.receive_some(10) == b""  # nothing back, then its EOF
            assert (sink.received, sink.connections) == (100_000, 1)


async def test_the_echo_server_answers_eof_after_the_clients() -> None:
    with trio.fail_after(10):
        async with open_echo_server() as echo:
            client = await connect(echo.address)
            async with client:
                await client.send_all(b"abc")
                await client.send_eof()
                received = b""
                while chunk := await client.receive_some(10):
                    received += chunk
            assert received == b"abc"


@pytest.mark.ockam_node(name="solo", services=("echo",))
async def test_a_node_has_one_portal_manager(ockam_node: NetworkNode) -> None:
    assert ockam_node.name == "solo"
    portals = Portals.of(ockam_node)
    assert Portals.of(ockam_node) is portals
    with pytest.raises(ValueError, match="node solo has a portal manager already"):
        Portals(ockam_node)
    with trio.fail_after(10):
        async with open_sink_server() as sink:
            await portals.create_outlet(target=sink.address, address="db")
            # Another caller finds the same outlet, and the same policies.
            assert [o.alias for o in Portals.of(ockam_node).outlets()] == ["db"]
            assert Portals.of(ockam_node).policies is portals.policies


async def test_the_default_topology_fixture(ockam_topology: Topology) -> None:
    assert list(ockam_topology.nodes) == ["n1", "n2", "n3"]
    with trio.fail_after(10):
        route = ockam_topology.route("n1", "n3", "uppercase", via_hop=True)
        assert (await ockam_topology["n1"].request(route, b"hi")).payload == b"HI"


async def test_a_late_message_for_a_stopped_worker_is_no_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """What keeps a clean shutdown quiet: the last message of a portal or channel whose other
    end stopped a moment before is logged at debug; one for an address that never had a worker
    stays a warning."""
    with trio.fail_after(10):
        async with open_topology(("n1",), links=(), transport="memory") as topology:
            node = topology["n1"]
            await node.start_actor(Echo(), "brief")
            assert node.stop_actor("brief")
            with caplog.at_level(logging.DEBUG, logger="ockam.router"):
                assert not await node.send("/service/brief", b"late")
                assert not await node.send("/service/never", b"typo")
            with pytest.raises(WorkerStopped, match=r"^no worker at /service/brief$"):
                await node.request("/service/brief", b"late", timeout=5)
    levels = {r.getMessage().rpartition(" ")[2]: r.levelno for r in caplog.records}
    assert levels == {"/service/brief": logging.DEBUG, "/service/never": logging.WARNING}
