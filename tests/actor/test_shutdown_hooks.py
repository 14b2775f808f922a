"""A node process's shutdown hooks: run in order while the node still runs, each bounded, one
that fails or hangs never keeps the node from stopping; secure channels register theirs."""

from __future__ import annotations

import logging

import pytest
import trio

from cli._control import Empty
from cli._controller import SHUTDOWN_HOOK_TIMEOUT, Hook, NodeController
from cli._features import NODE_API
from cli._node import Shutdown
from cli._secure_channel import close_secure_channels
from transports import NetworkNode, open_node


def recording_hooks(events: list[str]) -> list[Hook]:
    """Four hooks: one that works, one that hangs, one that fails, and one that notes whether
    the node was still running when it ran."""

    async def first(c: NodeController) -> None:
        events.append("first")

    async def hangs(c: NodeController) -> None:
        events.append("hangs")
        await trio.sleep_forever()

    async def fails(c: NodeController) -> None:
        events.append("fails")
        raise RuntimeError("boom")

    async def last(c: NodeController) -> None:
        running = not c.node.nursery.cancel_scope.cancel_called
        events.append(f"last, node running: {running}")

    return [first, hangs, fails, last]


def recording_controller(node: NetworkNode, events: list[str]) -> NodeController:
    """A controller for `node` whose shutdown hooks are `recording_hooks(events)`."""
    return NodeController(node, pid=0, listener="", shutdown_hooks=recording_hooks(events))


async def test_stop_runs_the_hooks_in_order_each_bounded_then_stops_the_node(
    autojump_clock: trio.abc.Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    events: list[str] = []
    async with open_node("n", services=()) as node:
        controller = recording_controller(node, events)
        start = trio.current_time()
        await controller.stop()
        # No checkpoint from here on: the node's nursery, and so this block, is cancelled.
        elapsed = trio.current_time() - start
        cancelled = node.nursery.cancel_scope.cancel_called

    assert events == ["first", "hangs", "fails", "last, node running: True"]
    assert elapsed == pytest.approx(SHUTDOWN_HOOK_TIMEOUT)  # only the hanging hook's bound
    assert cancelled
    messages = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert any("hangs did not finish within 2 s" in m for m in messages)
    assert any("fails failed; stopping anyway" in m for m in messages)


async def test_a_shutdown_request_answers_then_runs_the_hooks_then_stops(
    autojump_clock: trio.abc.Clock,
) -> None:
    events: list[str] = []
    async with open_node("n", services=()) as node:
        controller = recording_controller(node, events)
        start = trio.current_time()
        assert await NODE_API.handle(controller, Shutdown()) == Empty()
        assert events == []  # answered before any hook ran
        await trio.sleep(60)  # cut short when the shutdown cancels the node
    assert trio.current_time() - start < SHUTDOWN_HOOK_TIMEOUT + 1
    assert events == ["first", "hangs", "fails", "last, node running: True"]


async def test_a_second_stop_does_not_wait_for_the_hooks(autojump_clock: trio.abc.Clock) -> None:
    events: list[str] = []
    async with open_node("n", services=()) as node:
        controller = recording_controller(node, events)
        node.nursery.start_soon(controller.stop)  # as a first signal does
        await trio.sleep(0.5)  # the hanging hook is running
        start = trio.current_time()
        await controller.stop()  # as a second signal does
        elapsed = trio.current_time() - start
    assert elapsed == 0
    assert events == ["first", "hangs"]


async def test_secure_channels_close_before_the_node_stops() -> None:
    assert close_secure_channels in NODE_API.shutdown
    async with open_node("n", services=()) as node:
        controller = NODE_API.controller(node, pid=0, listener="")
        assert controller.shutdown_hooks == NODE_API.shutdown
