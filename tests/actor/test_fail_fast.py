"""A request fails with its reason instead of a timeout: an unreachable host, and an actor that
raises while handling it (its `ErrorReply`, across nodes too)."""

from __future__ import annotations

import socket

import pytest
import trio

from actors import (
    TCP,
    Actor,
    ActorFailed,
    Address,
    ErrorReply,
    LocalMessage,
    TransportError,
    error_reply,
    read_error_reply,
    route,
)
from transports import open_node
from transports.testing import open_topology


class Picky(Actor):
    """Raises on `bad`, echoes anything else."""

    async def handle_message(self, message: LocalMessage) -> None:
        if message.payload == b"bad":
            raise ValueError("refusing 'bad'")
        await self.ctx.reply(message, message.payload)


def _closed_port() -> int:
    """A loopback port nobody listens on (bound, then closed)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


async def test_an_unreachable_host_fails_the_request_with_the_reason() -> None:
    port = _closed_port()
    with trio.fail_after(10):
        async with open_node("n1", services=()) as node:
            target = route(Address(TCP, f"127.0.0.1:{port}"), "echo")
            with pytest.raises(TransportError, match=f"cannot connect to 127.0.0.1:{port}: "):
                await node.request(target, b"x", timeout=5)
            assert node.tcp.connections() == []


async def test_a_handler_that_raises_fails_the_request_and_the_actor_serves_on(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(10):
        async with open_node("n1", services=()) as node:
            await node.start_actor(Picky(), "picky")
            started = trio.current_time()
            with pytest.raises(ActorFailed) as info:
                await node.request(route("picky"), b"bad", timeout=5)
            assert trio.current_time() == started
            assert str(info.value) == (
                "/service/picky on node n1 failed: ValueError: refusing 'bad'"
            )
            # Restarted by its supervisor, it answers the next request.
            assert (await node.request(route("picky"), b"good", timeout=5)).payload == b"good"


async def test_the_failure_comes_back_across_nodes(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(10):
        async with open_topology(transport="memory") as topology:
            await topology["n3"].start_actor(Picky(), "picky")
            far = topology.route("n1", "n3", "picky", via_hop=True)
            with pytest.raises(ActorFailed, match="/service/picky on node n3 failed: ValueError"):
                await topology["n1"].request(far, b"bad", timeout=5)
            assert (await topology["n1"].request(far, b"ok", timeout=5)).payload == b"ok"


def test_an_error_reply_is_told_apart_from_an_ordinary_payload() -> None:
    report = ErrorReply(at="/service/x", node="n1", reason="KeyError: 'k'")
    assert read_error_reply(error_reply(report)) == report
    assert read_error_reply(b"an ordinary reply") is None
    assert read_error_reply(b"") is None
