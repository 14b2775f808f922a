"""Bad bytes on a connection close only that connection, with a logged reason.

Everything here runs over real loopback TCP: a raw socket misbehaves while a proper node,
connected to the same listener, keeps getting replies from `uppercase`.
"""

from __future__ import annotations

import logging
import socket
import struct
import threading
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from typing import Any, Literal

import msgspec
import pytest
import trio
import trio_websocket
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from actors import LocalMessage, Route, route, split_host_port
from transports import (
    MAX_FRAME_SIZE,
    NetworkNode,
    ProtocolError,
    StreamTransport,
    WireDecoder,
    decode_body,
    encode_message,
    open_node,
)

VERSION = b"\x01"


def _header(size: int) -> bytes:
    return size.to_bytes(4, "big")


def _frame(body: bytes) -> bytes:
    return _header(len(body)) + body


class _Served:
    """A node listening on loopback TCP (or WebSocket), and a well-behaved node connected to it."""

    def __init__(
        self,
        server: NetworkNode,
        good: NetworkNode,
        accepting: StreamTransport,
        address: str,
        good_route: Route,
    ) -> None:
        self.server = server
        self.good = good
        self.accepting = accepting
        self.address = address
        self.port = split_host_port(address)[1]
        self.good_route = good_route

    async def ping(self, payload: bytes = b"ping") -> None:
        reply = await self.good.request(self.good_route, payload, timeout=5)
        assert reply.payload == payload.upper()

    async def wait_for_connections(self, count: int) -> None:
        """Wait until the server holds exactly `count` connections."""
        while len(self.accepting.connections()) != count:
            await trio.sleep(0.001)


@asynccontextmanager
async def _serve(kind: Literal["tcp", "ws"] = "tcp") -> AsyncIterator[_Served]:
    async with (
        open_node("server", services=("uppercase",)) as server,
        open_node("good", services=()) as good,
    ):
        if kind == "ws":
            listener = await server.ws.listen("127.0.0.1:0")
            info = await good.ws.connect(listener.address)
        else:
            listener = await server.tcp.listen("127.0.0.1:0")
            info = await good.tcp.connect(listener.address)
        accepting = server.ws if kind == "ws" else server.tcp
        good_route = route(info.worker, "uppercase")
        served = _Served(server, good, accepting, listener.address, good_route)
        await served.ping()
        await served.wait_for_connections(1)
        yield served


async def _pinger(served: _Served, replies: list[int], *, task_status: Any) -> None:
    """Ask `uppercase` through the good connection over and over; count the replies."""
    replies.append(0)
    task_status.started()
    while True:
        await served.ping(b"still there?")
        replies[0] += 1
        await trio.sleep(0.001)


async def _misbehave(port: int, data: bytes) -> bytes:
    """Connect, send `data`, and return everything received until the node closes."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    try:
        await stream.send_all(data)
        received = b""
        while chunk := await stream.receive_some(65536):
            received += chunk
        return received
    finally:
        await stream.aclose()


BAD_INPUTS = [
    pytest.param(b"\x07" + _frame(b"\x90"), "protocol version 7 is not supported", id="version"),
    pytest.param(b"\x00", "protocol version 0 is not supported", id="version-0"),
    pytest.param(
        VERSION + _header(MAX_FRAME_SIZE + 1),
        f"a frame of {MAX_FRAME_SIZE + 1} bytes is over the {MAX_FRAME_SIZE} byte limit",
        id="length-over-16MiB",
    ),
    pytest.param(VERSION + b"\xff\xff\xff\xff", "a frame of 4294967295 bytes", id="length-max"),
    pytest.param(VERSION + _frame(b"\xc1"), "undecodable frame", id="garbage"),
    pytest.param(
        VERSION + _frame(msgspec.msgpack.encode({"not": "an envelope"})),
        "undecodable frame",
        id="wrong-shape",
    ),
]


@pytest.mark.parametrize(("data", "reason"), BAD_INPUTS)
async def test_bad_input_closes_only_that_connection(
    data: bytes, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    with trio.fail_after(10):
        async with _serve() as served, trio.open_nursery() as nursery:
            replies: list[int] = []
            await nursery.start(_pinger, served, replies)

            received = await _misbehave(served.port, data)

            # The node sent its version byte, then closed the connection.
            assert received == VERSION
            closing = [
                r
                for r in caplog.records
                if r.name == "ockam.transport" and r.levelno == logging.WARNING
            ]
            assert len(closing) == 1
            assert "closing connection" in closing[0].getMessage()
            assert reason in closing[0].getMessage()
            # Only that connection: the good one is still there and still answered.
            await served.wait_for_connections(1)
            before = replies[0]
            while replies[0] < before + 3:
                await trio.sleep(0.001)
            await served.ping(b"after")
            nursery.cancel_scope.cancel()


async def test_every_kind_of_bad_input_in_turn_while_the_good_connection_serves(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with trio.fail_after(20):
        async with _serve() as served, trio.open_nursery() as nursery:
            replies: list[int] = []
            await nursery.start(_pinger, served, replies)
            for param in BAD_INPUTS:
                data, reason = param.values
                assert isinstance(data, bytes)
                assert isinstance(reason, str)
                before = replies[0]
                assert await _misbehave(served.port, data) == VERSION
                closing = [r.getMessage() for r in caplog.records if r.name == "ockam.transport"]
                assert reason in closing[-1]
                while replies[0] <= before:
                    await trio.sleep(0.001)
            await served.wait_for_connections(1)
            assert served.server.router.dropped == 0
            nursery.cancel_scope.cancel()
    reasons = [r.getMessage() for r in caplog.records if "closing connection" in r.getMessage()]
    assert len(reasons) == len(BAD_INPUTS)


async def test_good_frames_are_answered_until_the_garbage(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with trio.fail_after(10):
        async with _serve() as served:
            stream = await trio.open_tcp_stream("127.0.0.1", served.port)
            try:
                hello = LocalMessage(route("uppercase"), Route(), b"hello")
                await stream.send_all(VERSION + encode_message(hello))
                decoder = WireDecoder()
                replies: list[LocalMessage] = []
                while not replies:
                    data = await stream.receive_some(65536)
                    assert data
                    replies += decoder.receive_data(data)
                assert [m.payload for m in replies] == [b"HELLO"]
                await stream.send_all(_frame(b"\xc1\xc1"))
                assert await stream.receive_some(65536) == b""
            finally:
                await stream.aclose()
            await served.ping()
    assert any("undecodable frame" in r.getMessage() for r in caplog.records)


_UPGRADE = (
    b"GET /ockam HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


@pytest.mark.parametrize("kind", ["tcp", "ws"])
async def test_peers_that_reset_at_once_leave_the_listener_serving_on_its_port(
    kind: Literal["tcp", "ws"], caplog: pytest.LogCaptureFixture
) -> None:
    with trio.fail_after(10):
        async with _serve(kind) as served:
            server = served.server
            listeners = server.ws.listeners() if kind == "ws" else server.tcp.listeners()
            for _ in range(20):
                sock = socket.socket()
                sock.connect(("127.0.0.1", served.port))
                if kind == "ws":
                    sock.sendall(_UPGRADE)
                # Close with RST: the node may find the peer gone before it answers.
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                sock.close()
            await served.wait_for_connections(1)
            assert (server.ws.listeners() if kind == "ws" else server.tcp.listeners()) == listeners
            assert server.escalations == []
            if kind == "tcp":
                # The listener still accepts: a fresh raw connection gets the version byte.
                assert await _misbehave(served.port, b"\x02") == VERSION
            await served.ping()
    # The listener never crashed (a restart would log here).
    assert not any(r.name == "ockam.supervisor" for r in caplog.records)


# --- Hypothesis: 1,000 bad streams against one node, served from a thread ---------------------
#
# Each Hypothesis example is a plain function call, so the node runs in its own thread under
# `trio.run` for the whole test, and every example talks to it with a blocking socket.


class _NodeThread:
    def __init__(self) -> None:
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self.records: list[logging.LogRecord] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="bad-input-node", daemon=True)

    def _run(self) -> None:
        try:
            trio.run(self._main)
        except BaseException as exc:
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        with trio.fail_after(600):
            async with _serve() as served:
                self.served = served
                self.token = trio.lowlevel.current_trio_token()
                self._stop = trio.Event()
                self._ready.set()
                await self._stop.wait()

    def emit(self, record: logging.LogRecord) -> None:
        with self._lock:
            self.records.append(record)

    def closing_reasons(self) -> int:
        with self._lock:
            return sum("closing connection" in r.getMessage() for r in self.records)

    def call(self, fn: Any, *args: Any) -> Any:
        return trio.from_thread.run(fn, *args, trio_token=self.token)

    def __enter__(self) -> _NodeThread:
        self._thread.start()
        assert self._ready.wait(10), "the node did not start"
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._error is None:
            trio.from_thread.run_sync(self._stop.set, trio_token=self.token)
        self._thread.join(10)
        assert not self._thread.is_alive()
        if self._error is not None:
            raise self._error


class _ListHandler(logging.Handler):
    def __init__(self, sink: _NodeThread) -> None:
        super().__init__(logging.WARNING)
        self._sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        self._sink.emit(record)


@pytest.fixture(scope="module")
def node_in_thread() -> Iterator[_NodeThread]:
    node = _NodeThread()
    handler = _ListHandler(node)
    logger = logging.getLogger("ockam.transport")
    logger.addHandler(handler)
    try:
        with node:
            yield node
    finally:
        logger.removeHandler(handler)


_msgpack_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.text(max_size=10)
    | st.binary(max_size=10),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=10,
)
_wrong_version = st.builds(
    lambda version, rest: bytes((version,)) + rest,
    st.integers(0, 255).filter(lambda v: v != 1),
    st.binary(max_size=200),
)
_oversized = st.builds(
    lambda size, rest: VERSION + _header(size) + rest,
    st.integers(MAX_FRAME_SIZE + 1, 2**32 - 1),
    st.binary(max_size=200),
)


def _undecodable(body: bytes) -> bytes:
    try:
        decode_body(body)
    except ProtocolError:
        return VERSION + _frame(body)
    assume(False)
    raise AssertionError("unreachable")


_garbage = (st.binary(max_size=300) | _msgpack_values.map(msgspec.msgpack.encode)).map(_undecodable)


@settings(
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
@given(data=_wrong_version | _oversized | _garbage)
def test_hypothesis_bad_streams_close_only_their_connection(
    node_in_thread: _NodeThread, data: bytes
) -> None:
    reasons = node_in_thread.closing_reasons()
    with socket.create_connection(("127.0.0.1", node_in_thread.served.port), timeout=10) as sock:
        sock.sendall(data)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    assert received == VERSION
    # The reason was logged before the socket closed.
    assert node_in_thread.closing_reasons() == reasons + 1
    # The same node still serves the well-behaved connection, and only it.
    node_in_thread.call(node_in_thread.served.ping)
    node_in_thread.call(_bounded, node_in_thread.served.wait_for_connections, 1)


async def _bounded(fn: Any, *args: Any) -> None:
    with trio.fail_after(10):
        await fn(*args)


@asynccontextmanager
async def _raw_websocket(port: int) -> AsyncIterator[trio_websocket.WebSocketConnection]:
    """A plain WebSocket client; it closes its own TCP stream (trio-websocket's client does
    not when the server drops the connection without a closing handshake)."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    try:
        async with trio.open_nursery() as nursery:
            ws = await trio_websocket.wrap_client_stream(
                nursery, stream, f"127.0.0.1:{port}", "/ockam"
            )
            try:
                yield ws
            finally:
                await ws.aclose()
    finally:
        await trio.aclose_forcefully(stream)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\x07", "protocol version 7 is not supported"),
        (VERSION + _header(MAX_FRAME_SIZE + 1), "over the 16777216 byte limit"),
        (VERSION + _frame(b"\xc1"), "undecodable frame"),
    ],
)
async def test_bad_input_over_websocket_closes_only_that_connection(
    data: bytes, reason: str, caplog: pytest.LogCaptureFixture
) -> None:
    with trio.fail_after(10):
        async with _serve("ws") as served, _raw_websocket(served.port) as ws:
            assert await ws.get_message() == VERSION
            await ws.send_message(data)
            with pytest.raises(trio_websocket.ConnectionClosed):
                await ws.get_message()
            assert any(
                "closing connection" in r.getMessage() and reason in r.getMessage()
                for r in caplog.records
            )
            await served.wait_for_connections(1)
            await served.ping()
