"""The control server bounds reading a request and writing its reply, never the handling: a
request may take as long as its own timeout says. Handlers that could wait on the network
bound themselves. All under `autojump_clock`: no test waits for real."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import msgspec
import pytest
import trio
import trio.testing

from actors import Actor, LocalMessage
from cli._control import Empty, Reply, Request, encode, read_frame
from cli._controller import NodeController
from cli._feature import Feature, NodeApi
from cli._features import FEATURES
from cli._message import MessageReply, SendMessage
from cli._runtime import REQUEST_TIMEOUT, ControlServer
from cli._transport import CONNECT_TIMEOUT, CreateConnection
from transports import open_node

TESTING = Feature("testing")


class SlowForTests(Request, frozen=True, tag="test-slow-request"):
    """A request whose handler takes `seconds`."""

    seconds: float


@TESTING.handles(SlowForTests)
async def _slow(c: NodeController, r: SlowForTests) -> Empty:
    await trio.sleep(r.seconds)
    return Empty()


API = NodeApi([*FEATURES, TESTING])
"""The node's control API, and a request only these tests know."""


class BlackHole(Actor):
    """Takes every message and never answers."""

    async def handle_message(self, message: LocalMessage) -> None:
        pass


class Echo(Actor):
    """Answers every message with its payload."""

    async def handle_message(self, message: LocalMessage) -> None:
        await self.ctx.reply(message, message.payload)


@asynccontextmanager
async def control_server() -> AsyncIterator[ControlServer]:
    """A control server for a fresh node; tests hand it streams directly, as the socket would."""
    async with open_node("n", services=()) as node:
        await node.start_actor(BlackHole(), "blackhole")
        controller = API.controller(node, pid=0, listener="")
        yield ControlServer(controller, API, Path("unused.sock"))


async def exchange(server: ControlServer, frame: bytes) -> Reply:
    """Send `frame` (a whole control frame) over a fresh connection and decode the reply."""
    client, served = trio.testing.memory_stream_pair()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(server._serve, served)
        await client.send_all(frame)
        return msgspec.msgpack.decode(await read_frame(client), type=Reply)


def framed(request: Request) -> bytes:
    body = encode(request)
    return len(body).to_bytes(4, "big") + body


async def test_a_request_may_take_longer_than_any_fixed_bound(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with control_server() as server:
        start = trio.current_time()
        reply = await exchange(server, framed(SlowForTests(seconds=120)))
        assert reply.ok
        assert trio.current_time() - start == pytest.approx(120)


async def test_message_send_waits_for_its_own_timeout(autojump_clock: trio.abc.Clock) -> None:
    async with control_server() as server:
        start = trio.current_time()
        reply = await exchange(server, framed(SendMessage("/service/blackhole", b"hi", 35)))
        assert trio.current_time() - start == pytest.approx(35)
        assert not reply.ok
        assert reply.kind == "RequestTimeout"
        assert "no reply from" in reply.error
        assert "within 35 s" in reply.error

        await server.controller.node.start_actor(Echo(), "echo")
        reply = await exchange(server, framed(SendMessage("/service/echo", b"hi", 35)))
        assert reply.ok
        assert msgspec.msgpack.decode(reply.result, type=MessageReply).payload == b"hi"


async def test_a_client_that_never_finishes_its_request_is_dropped(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    async with control_server() as server:
        client, served = trio.testing.memory_stream_pair()
        start = trio.current_time()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server._serve, served)
            await client.send_all(framed(SendMessage("/service/echo", b"hi"))[:-3])
            assert await client.receive_some() == b""  # closed, with nothing said
        assert trio.current_time() - start == pytest.approx(REQUEST_TIMEOUT)
        assert any(
            "sent no complete request within 10 s" in r.getMessage()
            and r.levelno == logging.WARNING
            for r in caplog.records
        )


async def test_a_malformed_request_gets_an_error_reply(autojump_clock: trio.abc.Clock) -> None:
    async with control_server() as server:
        reply = await exchange(server, b"\x00\x00\x00\x03abc")
        assert not reply.ok
        assert reply.kind == "bad"
        assert reply.error.startswith("bad control request")


async def test_tcp_connection_create_is_bounded(
    autojump_clock: trio.abc.Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with control_server() as server:
        tcp = server.controller.node.tcp

        async def never_accepted(address: str) -> None:
            await trio.sleep_forever()  # a firewall that drops the SYN

        monkeypatch.setattr(tcp, "connect", never_accepted)
        start = trio.current_time()
        reply = await exchange(server, framed(CreateConnection("192.0.2.1:4000")))
        assert trio.current_time() - start == pytest.approx(CONNECT_TIMEOUT)
        assert not reply.ok
        assert reply.kind == "TransportError"
        assert "no TCP connection to 192.0.2.1:4000 within 10 s" in reply.error
