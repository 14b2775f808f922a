"""The benchmarks' delay proxy: chunks keep their bytes and order, each held for the delay.

The line is sans-IO (times passed in); the Trio shell runs over memory streams on trio's
MockClock with autojump, so "held for the delay" is read off the fake clock, not timed.
"""

from __future__ import annotations

import os

import pytest
import trio
import trio.testing

from benchmarks._delay_proxy import DelayLine, carry


def test_line_holds_each_chunk_for_the_delay_and_keeps_the_order() -> None:
    line = DelayLine(0.02)
    line.push(b"one", 0.0)
    line.push(b"two", 0.005)
    line.push(b"three", 0.010)

    assert line.next_due() == pytest.approx(0.02)
    assert line.pop_due(0.019) == []
    assert line.pop_due(0.026) == [b"one", b"two"]
    assert line.buffered == len(b"three")
    assert line.pop_due(1.0) == [b"three"]
    assert line.buffered == 0
    assert line.next_due() is None


def test_line_end_comes_after_every_chunk_before_it() -> None:
    line = DelayLine(0.05)
    line.push(b"last", 1.0)
    line.end(1.01)

    assert not line.ended(2.0)  # "last" has not been taken yet
    assert line.pop_due(1.055) == [b"last"]
    assert line.next_due() == pytest.approx(1.06)
    assert not line.ended(1.055)
    assert line.ended(1.06)
    with pytest.raises(ValueError, match="after the end"):
        line.push(b"more", 1.1)


def test_line_stops_reading_at_its_capacity_and_ignores_empty_chunks() -> None:
    line = DelayLine(0.01, capacity=10)
    line.push(b"", 0.0)
    assert line.next_due() is None
    line.push(b"123456789", 0.0)
    assert line.has_room()
    line.push(b"0", 0.0)
    assert not line.has_room()
    line.pop_due(0.01)
    assert line.has_room()


def test_line_refuses_a_negative_delay() -> None:
    with pytest.raises(ValueError, match="negative"):
        DelayLine(-1)


async def test_carry_delivers_every_byte_in_order_after_the_delay(
    autojump_clock: trio.testing.MockClock,
) -> None:
    delay = 0.05
    payload = os.urandom(3 * 1024 * 1024)
    client_side, proxy_in = trio.testing.memory_stream_pair()
    proxy_out, server_side = trio.testing.memory_stream_pair()
    received = bytearray()
    first_byte_at: list[float] = []

    async def send() -> None:
        for start in range(0, len(payload), 100_000):
            await client_side.send_all(payload[start : start + 100_000])
        await client_side.send_eof()

    async def receive() -> None:
        while data := await server_side.receive_some(65536):
            if not first_byte_at:
                first_byte_at.append(trio.current_time())
            received.extend(data)

    with trio.fail_after(60):
        started = trio.current_time()
        async with trio.open_nursery() as nursery:
            nursery.start_soon(carry, proxy_in, proxy_out, DelayLine(delay))
            nursery.start_soon(send)
            nursery.start_soon(receive)

    assert bytes(received) == payload
    assert first_byte_at[0] - started >= delay


async def test_carry_stops_reading_while_the_line_is_full(
    autojump_clock: trio.testing.MockClock,
) -> None:
    client_side, proxy_in = trio.testing.memory_stream_pair()
    proxy_out, server_side = trio.testing.memory_stream_pair()
    line = DelayLine(10.0, capacity=1000)
    received = bytearray()

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(carry, proxy_in, proxy_out, line)
            await client_side.send_all(b"a" * 1500)
            await trio.testing.wait_all_tasks_blocked()
            await client_side.send_all(b"b" * 500)
            await trio.testing.wait_all_tasks_blocked()
            assert line.buffered == 1500  # full: the b's wait in the stream, unread

            await client_side.send_eof()
            while data := await server_side.receive_some(65536):
                received.extend(data)

    assert bytes(received) == b"a" * 1500 + b"b" * 500
    assert line.buffered == 0
