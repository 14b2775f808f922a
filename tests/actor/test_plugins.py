"""Plugin actors found through the `ockam.actors` entry points (pyproject.toml)."""

from __future__ import annotations

import pytest
import trio

from actors import (
    PluginError,
    available_plugins,
    load_plugin,
    open_node,
    route,
    start_service,
)
from actors._example_plugin import Reverse
from transports.testing import open_topology


def test_the_example_plugin_is_registered() -> None:
    assert "reverse" in available_plugins()
    assert load_plugin("reverse") is Reverse


async def test_start_the_reverse_plugin_and_ask_it(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(10):
        async with open_node("n1", services=()) as node:
            ctx = await start_service(node, "reverse")
            assert ctx.address.value == "reverse"
            assert isinstance(node.actor_at("reverse"), Reverse)
            reply = await node.request(route("reverse"), b"stressed", timeout=5)
            assert reply.payload == b"desserts"


async def test_a_plugin_at_another_address(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(10):
        async with open_node("n1", services=()) as node:
            await start_service(node, "reverse", address="backwards")
            reply = await node.request(route("backwards"), b"abc", timeout=5)
            assert reply.payload == b"cba"


async def test_a_plugin_reached_through_a_topology(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(10):
        async with open_topology(transport="memory", services=("hop", "reverse")) as topology:
            reply = await topology["n1"].request(
                topology.route("n1", "n3", "reverse", via_hop=True), b"live", timeout=5
            )
            assert reply.payload == b"evil"


async def test_an_unknown_plugin_is_a_clear_error(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(10):
        async with open_node("n1", services=()) as node:
            with pytest.raises(
                PluginError, match=r"no service or plugin named 'nope' \(plugins: .*reverse"
            ):
                await start_service(node, "nope")
            assert node.workers() == []
