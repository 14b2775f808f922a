"""The benchmarks' delay proxy as the benchmark runs it: its own process, real loopback sockets.

Bytes must cross it intact and in order both ways, and each connection's end must reach the
other side (no timing is asserted: the delay itself is checked on a fake clock in
tests/unit/test_delay_proxy.py).
"""

from __future__ import annotations

import os

import pytest
import trio

from benchmarks._baselines import HOST, open_echo_server
from benchmarks._delay_proxy import open_delay_proxy

pytestmark = pytest.mark.e2e


async def test_bytes_cross_the_proxy_process_intact_both_ways() -> None:
    payload = os.urandom(2 * 1024 * 1024)
    with trio.fail_after(60):
        async with open_echo_server() as echo, open_delay_proxy(echo, rtt_ms=10) as port:
            stream = await trio.open_tcp_stream(HOST, port)
            echoed = bytearray()

            async def send() -> None:
                await stream.send_all(b"ECHO\n" + payload)
                await stream.send_eof()

            async def receive() -> None:
                while len(echoed) < len(payload):
                    data = await stream.receive_some(65536)
                    assert data, f"the proxy closed after {len(echoed)} bytes"
                    echoed.extend(data)

            async with stream, trio.open_nursery() as nursery:
                nursery.start_soon(send)
                nursery.start_soon(receive)
            assert bytes(echoed) == payload


async def test_a_client_closing_reaches_the_server_through_the_proxy() -> None:
    with trio.fail_after(60):
        async with open_echo_server() as echo, open_delay_proxy(echo, rtt_ms=10) as port:
            stream = await trio.open_tcp_stream(HOST, port)
            async with stream:
                await stream.send_all(b"ECHO\nlast words")
                await stream.send_eof()
                received = bytearray()
                while data := await stream.receive_some(65536):
                    received.extend(data)
            assert bytes(received) == b"last words"
