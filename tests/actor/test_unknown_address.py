"""A message to an address nobody has is dropped with a log line; a request to it times out."""

from __future__ import annotations

import logging

import pytest
import trio

from actors import Address, RequestTimeout, RouteNotFound, TransportError, open_node, route
from transports.testing import open_topology


def _drops(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "ockam.router" and r.levelno == logging.WARNING
    ]


async def test_a_message_to_an_unknown_address_is_dropped_and_logged(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    with trio.fail_after(10):
        async with open_node("n1", services=("echo",)) as node:
            assert await node.send(route("nope"), b"hello") is False
            assert node.router.dropped == 1
            assert _drops(caplog) == [
                "dropped a message (5 bytes) for /service/nope: no worker at /service/nope"
            ]
            # The node carries on.
            assert (await node.request(route("echo"), b"ok", timeout=5)).payload == b"ok"


async def test_a_request_to_an_unknown_local_address_fails_at_once_naming_it(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(10):
        async with open_node("n1", services=("echo",)) as node:
            started = trio.current_time()
            with pytest.raises(RouteNotFound) as info:
                await node.request(route("nope"), b"x", timeout=3)
            assert trio.current_time() == started  # not a moment of the timeout went by
            assert str(info.value) == "no worker at /service/nope"
            # The request's own reply address is gone afterwards.
            assert [a.value for a in node.router.local_addresses()] == ["echo"]


async def test_an_unknown_address_on_a_far_node(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    with trio.fail_after(10):
        async with open_topology(transport="memory") as topology:
            far = topology.route("n1", "n3", "nope", via_hop=True)
            with pytest.raises(RequestTimeout, match="/service/nope within 2 s") as info:
                await topology["n1"].request(far, b"x", timeout=2)
            # The whole route is named, connection workers and hop included, and the node
            # the message went on to, whose log says why.
            assert str(info.value) == (
                f"no reply from {far} within 2 s; it left node n1 for n2: that node's log says why"
            )
            # n3 dropped it: n1 and n2 passed it on.
            assert [n.router.dropped for n in topology.nodes.values()] == [0, 0, 1]
            assert any("no worker at /service/nope" in m for m in _drops(caplog))
            # The chain still works.
            reply = await topology["n1"].request(
                topology.route("n1", "n3", "uppercase", via_hop=True), b"ok", timeout=5
            )
            assert reply.payload == b"OK"


async def test_an_unreachable_transport_address_is_dropped(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with trio.fail_after(10):
        async with open_node("n1", services=()) as node:
            assert await node.send(route(Address(1, "127.0.0.1:7000"), "echo"), b"x") is False
            assert any("no tcp transport on this node" in m for m in _drops(caplog))


async def test_a_request_to_an_unreachable_transport_fails_at_once() -> None:
    with trio.fail_after(10):
        async with open_node("n1", services=()) as node:
            with pytest.raises(TransportError, match="no tcp transport on this node to reach "):
                await node.request(route(Address(1, "127.0.0.1:7000"), "echo"), b"x")
