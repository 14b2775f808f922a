"""Supervision: a crashed actor is restarted and keeps serving; past its limit it is escalated."""

from __future__ import annotations

import logging

import pytest
import trio

from actors import (
    TEMPORARY,
    Actor,
    Escalation,
    LocalMessage,
    RestartPolicy,
    RouteNotFound,
    local,
    open_node,
    route,
)


class Fragile(Actor):
    """Crashes on `crash`, otherwise answers with how many times it has started."""

    def __init__(self) -> None:
        self.starts = 0

    async def on_start(self) -> None:
        self.starts += 1

    async def handle_message(self, message: LocalMessage) -> None:
        if message.payload == b"crash":
            raise RuntimeError("asked to crash")
        await self.ctx.reply(message, b"started %d times" % self.starts)


async def test_a_crashed_actor_is_restarted_and_keeps_serving(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    with trio.fail_after(30):
        async with open_node("n1", services=("uppercase",)) as node:
            fragile = Fragile()
            await node.start_actor(fragile, "fragile")
            reply = await node.request(route("fragile"), b"hi", timeout=5)
            assert reply.payload == b"started 1 times"

            assert await node.send(route("fragile"), b"crash")
            # The request waits in the mailbox while the actor crashes and restarts.
            reply = await node.request(route("fragile"), b"hi", timeout=5)

            assert reply.payload == b"started 2 times"
            assert node.actor_at("fragile") is fragile
            assert node.escalations == []
    crash_logs = [r for r in caplog.records if r.name == "ockam.supervisor"]
    assert any(
        r.levelno == logging.ERROR
        and "/service/fragile" in r.getMessage()
        and "asked to crash" in r.getMessage()
        for r in crash_logs
    )
    assert any(
        "restarting actor /service/fragile (restart 1)" in r.getMessage() for r in crash_logs
    )


async def test_past_the_limit_the_failure_is_escalated_and_the_node_serves_on(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    with trio.fail_after(30):
        async with open_node("n1", services=("echo", "uppercase")) as node:
            escalated = trio.Event()
            reports: list[Escalation] = []

            def on_escalation(report: Escalation) -> None:
                reports.append(report)
                escalated.set()

            node.on_escalation(on_escalation)
            await node.start_actor(
                Fragile(), "fragile", policy=RestartPolicy(max_restarts=2, within=10.0)
            )
            for _ in range(3):
                assert await node.send(route("fragile"), b"crash")
            await escalated.wait()

            expected = Escalation(
                address="0#fragile",
                actor="Fragile",
                reason="RuntimeError('asked to crash')",
                restarts=2,
            )
            assert reports == [expected]
            assert node.escalations == [expected]
            # The actor is gone: its address is free and a request to it fails at once.
            assert node.actor_at("fragile") is None
            assert not node.router.is_registered(local("fragile"))
            with pytest.raises(RouteNotFound, match="no worker at /service/fragile"):
                await node.request(route("fragile"), b"hi", timeout=2)
            # The node's other actors still answer.
            assert (await node.request(route("uppercase"), b"still here", timeout=5)).payload == (
                b"STILL HERE"
            )
            assert (await node.request(route("echo"), b"echo", timeout=5)).payload == b"echo"
    assert any(
        r.name == "ockam.supervisor"
        and r.levelno == logging.ERROR
        and "/service/fragile crashed 3 times within 10.0 s; stopping it and escalating"
        in r.getMessage()
        for r in caplog.records
    )


async def test_crashes_spread_over_time_are_not_escalated(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(300):
        async with open_node("n1", services=()) as node:
            fragile = Fragile()
            await node.start_actor(
                fragile, "fragile", policy=RestartPolicy(max_restarts=1, within=5.0)
            )
            for _ in range(5):
                assert await node.send(route("fragile"), b"crash")
                await trio.sleep(6)  # each crash falls out of the window before the next
            reply = await node.request(route("fragile"), b"hi", timeout=5)
            assert reply.payload == b"started 6 times"
            assert node.escalations == []


async def test_a_temporary_actor_is_not_restarted(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    with trio.fail_after(30):
        async with open_node("n1", services=("echo",)) as node:
            await node.start_actor(Fragile(), "fragile", policy=TEMPORARY)
            stopped = node.monitor("fragile")
            assert await node.send(route("fragile"), b"crash")
            await stopped.wait()
            assert node.actor_at("fragile") is None
            assert node.escalations == []
            assert (await node.request(route("echo"), b"ok", timeout=5)).payload == b"ok"
    assert any(
        "/service/fragile" in r.getMessage() and "crashed" in r.getMessage() for r in caplog.records
    )


class BrokenStart(Actor):
    async def on_start(self) -> None:
        raise ValueError("cannot start")


async def test_a_crash_before_ready_is_raised_to_the_starter(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(30):
        async with open_node("n1", services=("echo",)) as node:
            with pytest.raises(ValueError, match="cannot start"):
                await node.start_actor(BrokenStart(), "broken")
            assert not node.router.is_registered(local("broken"))
            assert (await node.request(route("echo"), b"ok", timeout=5)).payload == b"ok"
