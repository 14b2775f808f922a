"""A message to an address nobody has is dropped with a log line; a request to it times out."""

from __future__ import annotations

import logging

import pytest
import trio

from actors import Address, RequestTimeout, open_node, route
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
                "dropped a message (5 bytes) for Route(0#nope): no worker at 0#nope"
            ]
            # The node carries on.
            assert (await node.request(route("echo"), b"ok", timeout=5)).payload == b"ok"


async def test_a_request_to_an_unknown_address_times_out_naming_the_route(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    with trio.fail_after(10):
        async with open_node("n1", services=("echo",)) as node:
            started = trio.current_time()
            with pytest.raises(RequestTimeout) as info:
                await node.request(route("nope"), b"x", timeout=3)
            assert trio.current_time() - started == pytest.approx(3)
            assert str(info.value) == "no reply from /service/nope within 3 s"
            assert any("no worker at 0#nope" in m for m in _drops(caplog))
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
            # The whole route is named, connection workers and hop included.
            assert str(far) in str(info.value)
            # n3 dropped it: n1 and n2 passed it on.
            assert [n.router.dropped for n in topology.nodes.values()] == [0, 0, 1]
            assert any("no worker at 0#nope" in m for m in _drops(caplog))
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
