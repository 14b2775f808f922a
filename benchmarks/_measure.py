"""Client-side measurements against the echo server (benchmarks/_echo_server.py).

Each function takes the host and port of an ENTRY point that leads to the echo server, directly
or through a tunnel, and speaks the server's line protocol through it. Each one is bounded by
``timeout`` (seconds) and raises ``BenchmarkError`` when it runs out or the bytes that come back
are wrong. Units: 1 MB = 10**6 bytes; latencies in microseconds.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Iterator

import msgspec
import trio

__all__ = [
    "BenchmarkError",
    "ConnectionRate",
    "FirstByte",
    "Latency",
    "ParallelRate",
    "Throughput",
    "connections_per_second",
    "first_byte",
    "parallel_round_trips",
    "round_trip",
    "rtt",
    "throughput",
]

MESSAGE_SIZE = 64
_READ_SIZE = 64 * 1024
_SEND_CHUNK = bytes(1024 * 1024)
_ECHO = b"ECHO\n"
_MESSAGE = os.urandom(MESSAGE_SIZE)


class BenchmarkError(Exception):
    """A measurement did not finish in time, or the server's answer was wrong."""


class Throughput(msgspec.Struct, frozen=True, kw_only=True):
    """Bulk transfer on one connection, each direction timed on its own.

    Attributes:
        megabytes: MB sent each way.
        upload_mb_s: client to server, from the first byte sent to the server's ``OK``.
        download_mb_s: server to client, from the request sent to the last byte received.
    """

    megabytes: float
    upload_mb_s: float
    download_mb_s: float


class Latency(msgspec.Struct, frozen=True, kw_only=True):
    """Round trips of one 64-byte message at a time on one connection."""

    count: int
    p50_us: float
    p99_us: float
    mean_us: float


class ConnectionRate(msgspec.Struct, frozen=True, kw_only=True):
    """Sequential connections: open, send 64 bytes, receive them back, close."""

    count: int
    seconds: float
    per_second: float


class FirstByte(msgspec.Struct, frozen=True, kw_only=True):
    """New connections, one after another: from connect to the first byte of the echo back."""

    count: int
    p50_ms: float
    max_ms: float


class ParallelRate(msgspec.Struct, frozen=True, kw_only=True):
    """Round trips of 64 bytes on many connections at once, each one message at a time."""

    connections: int
    seconds: float
    round_trips: int
    per_second: float
    p50_us: float
    p99_us: float


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted, non-empty list (fraction in (0, 1])."""
    rank = max(1, math.ceil(fraction * len(sorted_values)))
    return sorted_values[rank - 1]


async def _receive_exactly(stream: trio.SocketStream, size: int) -> bytes:
    """Receives exactly size bytes; the peer closing first is a BenchmarkError."""
    data = await stream.receive_some(size)
    if len(data) == size:
        return bytes(data)
    buffer = bytearray(data)
    while len(buffer) < size:
        if not data:
            raise BenchmarkError(f"connection closed after {len(buffer)} of {size} bytes")
        data = await stream.receive_some(size - len(buffer))
        buffer += data
    return bytes(buffer)


async def _discard_exactly(stream: trio.SocketStream, size: int) -> None:
    """Receives and drops size bytes with large reads."""
    remaining = size
    while remaining:
        data = await stream.receive_some(min(_READ_SIZE, remaining))
        if not data:
            raise BenchmarkError(f"connection closed with {remaining} of {size} bytes to come")
        remaining -= len(data)


async def _receive_line(stream: trio.SocketStream) -> bytes:
    line = bytearray()
    while not line.endswith(b"\n"):
        data = await stream.receive_some(64)
        if not data:
            raise BenchmarkError(f"connection closed before a full line, got {bytes(line)!r}")
        line += data
        if len(line) > 256:
            raise BenchmarkError(f"line too long from the server: {bytes(line[:64])!r}...")
    return bytes(line)


async def round_trip(stream: trio.SocketStream, first: bytes = b"") -> None:
    """Sends ``first`` (a command line, or nothing) and a 64-byte message; checks the echo."""
    await stream.send_all(first + _MESSAGE)
    echoed = await _receive_exactly(stream, MESSAGE_SIZE)
    if echoed != _MESSAGE:
        raise BenchmarkError(f"echo returned different bytes: {echoed[:16]!r}...")


def _check_positive(name: str, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{name} must be positive, got {value!r}")


@contextlib.contextmanager
def _bounded(what: str, host: str, port: int, timeout: float) -> Iterator[None]:
    """Bounds a measurement by timeout and turns its failures into BenchmarkError."""
    where = f"{what} through {host}:{port}"
    try:
        with trio.fail_after(timeout):
            yield
    except trio.TooSlowError:
        raise BenchmarkError(f"{where} took more than {timeout:g} s") from None
    except (OSError, trio.BrokenResourceError, trio.ClosedResourceError) as exc:
        raise BenchmarkError(f"{where}: {exc!r}") from exc
    except ExceptionGroup as group:
        leaves = _leaves(group)
        raise BenchmarkError(
            f"{where}: {len(leaves)} task(s) failed, first: {leaves[0]!r}"
        ) from group


def _leaves(group: BaseExceptionGroup[BaseException]) -> list[BaseException]:
    found: list[BaseException] = []
    for exc in group.exceptions:
        found.extend(_leaves(exc) if isinstance(exc, BaseExceptionGroup) else [exc])
    return found


async def throughput(
    host: str, port: int, *, megabytes: float = 64, timeout: float = 120
) -> Throughput:
    """Measures bulk upload then download of ``megabytes`` MB on one connection.

    One small upload first makes sure the whole path is connected (a portal's outlet connects
    lazily), so connection setup is not part of the figures.

    Args:
        host: the entry point's host.
        port: the entry point's port.
        megabytes: MB to send each way (1 MB = 10**6 bytes).
        timeout: seconds for the whole measurement.

    Raises:
        BenchmarkError: on timeout or a wrong answer from the server.
    """
    _check_positive("megabytes", megabytes)
    size = int(megabytes * 1_000_000)
    with _bounded("throughput", host, port, timeout):
        stream = await trio.open_tcp_stream(host, port)
        async with stream:
            await _upload(stream, 1)
            upload = await _upload(stream, size)
            download = await _download(stream, size)
    return Throughput(
        megabytes=size / 1e6, upload_mb_s=size / 1e6 / upload, download_mb_s=size / 1e6 / download
    )


async def _upload(stream: trio.SocketStream, size: int) -> float:
    """Sends size bytes after an ``UP`` command; returns the seconds until ``OK``."""
    start = time.perf_counter()
    await stream.send_all(b"UP %d\n" % size)
    chunk = memoryview(_SEND_CHUNK)
    remaining = size
    while remaining >= len(chunk):
        await stream.send_all(chunk)
        remaining -= len(chunk)
    if remaining:
        await stream.send_all(chunk[:remaining])
    reply = await _receive_line(stream)
    elapsed = time.perf_counter() - start
    if reply != b"OK\n":
        raise BenchmarkError(f"upload: server replied {reply!r}")
    return elapsed


async def _download(stream: trio.SocketStream, size: int) -> float:
    """Asks for size bytes with a ``DOWN`` command; returns the seconds until the last one."""
    start = time.perf_counter()
    await stream.send_all(b"DOWN %d\n" % size)
    await _discard_exactly(stream, size)
    return time.perf_counter() - start


async def rtt(
    host: str,
    port: int,
    *,
    count: int = 2000,
    max_seconds: float | None = None,
    timeout: float = 60,
) -> Latency:
    """Measures ``count`` round trips of a 64-byte message on one connection.

    Ten round trips before the measured ones warm the path up.

    Args:
        host: the entry point's host.
        port: the entry point's port.
        count: round trips to measure.
        max_seconds: stop early after this long; ``Latency.count`` says how many were done.
        timeout: seconds for the whole measurement.

    Raises:
        BenchmarkError: on timeout or a wrong echo.
    """
    _check_positive("count", count)
    clock = time.perf_counter_ns
    samples: list[float] = []
    with _bounded("rtt", host, port, timeout):
        stream = await trio.open_tcp_stream(host, port)
        async with stream:
            await round_trip(stream, _ECHO)
            for _ in range(9):
                await round_trip(stream)
            stop = _stop_time(max_seconds)
            for _ in range(count):
                start = clock()
                await round_trip(stream)
                end = clock()
                samples.append((end - start) / 1000)
                if end > stop:
                    break
    samples.sort()
    return Latency(
        count=len(samples),
        p50_us=percentile(samples, 0.50),
        p99_us=percentile(samples, 0.99),
        mean_us=sum(samples) / len(samples),
    )


def _stop_time(max_seconds: float | None) -> float:
    """The perf_counter_ns value after which a measurement stops early."""
    if max_seconds is None:
        return math.inf
    _check_positive("max_seconds", max_seconds)
    return time.perf_counter_ns() + max_seconds * 1e9


async def connections_per_second(
    host: str,
    port: int,
    *,
    count: int = 500,
    max_seconds: float | None = None,
    timeout: float = 60,
) -> ConnectionRate:
    """Measures ``count`` connections one after another: open, echo 64 bytes, close.

    Args:
        host: the entry point's host.
        port: the entry point's port.
        count: connections to make.
        max_seconds: stop early after this long; ``ConnectionRate.count`` says how many.
        timeout: seconds for the whole measurement.

    Raises:
        BenchmarkError: on timeout or a wrong echo.
    """
    _check_positive("count", count)
    clock = time.perf_counter_ns
    done = 0
    with _bounded("connections_per_second", host, port, timeout):
        start = clock()
        stop = _stop_time(max_seconds)
        while done < count and clock() <= stop:
            stream = await trio.open_tcp_stream(host, port)
            async with stream:
                await round_trip(stream, _ECHO)
            done += 1
        elapsed = (clock() - start) / 1e9
    return ConnectionRate(count=done, seconds=elapsed, per_second=done / elapsed)


async def first_byte(host: str, port: int, *, count: int = 5, timeout: float = 60) -> FirstByte:
    """Measures ``count`` new connections: connect, send ``ECHO`` and 64 bytes in one write,
    time until the first byte comes back (then the rest is checked and the connection closed).

    Over a long link this is what a user waits before a new connection answers: the tunnel's
    open handshake plus one round trip for the data.

    Raises:
        BenchmarkError: on timeout or a wrong echo.
    """
    _check_positive("count", count)
    samples: list[float] = []
    with _bounded("first_byte", host, port, timeout):
        for _ in range(count):
            start = time.perf_counter()
            stream = await trio.open_tcp_stream(host, port)
            async with stream:
                await stream.send_all(_ECHO + _MESSAGE)
                first = await stream.receive_some(MESSAGE_SIZE)
                samples.append((time.perf_counter() - start) * 1000)
                if not first:
                    raise BenchmarkError("first_byte: the connection closed without an echo")
                rest = b""
                if len(first) < MESSAGE_SIZE:
                    rest = await _receive_exactly(stream, MESSAGE_SIZE - len(first))
                if first + rest != _MESSAGE:
                    raise BenchmarkError("first_byte: echo returned different bytes")
    samples.sort()
    return FirstByte(count=count, p50_ms=percentile(samples, 0.5), max_ms=samples[-1])


async def parallel_round_trips(
    host: str,
    port: int,
    *,
    connections: int = 100,
    seconds: float = 3,
    timeout: float | None = None,
) -> ParallelRate:
    """Measures round trips per second over ``connections`` connections open at once.

    All connections are opened and warmed up first; then each one sends a 64-byte message,
    waits for its echo and repeats, for ``seconds``. The rate is all round trips over the time
    from the start until the last connection finished its last one.

    Args:
        host: the entry point's host.
        port: the entry point's port.
        connections: connections open at the same time.
        seconds: how long the connections send.
        timeout: seconds for the whole measurement (default: ``seconds`` + 60).

    Raises:
        BenchmarkError: on timeout or a wrong echo.
    """
    _check_positive("connections", connections)
    _check_positive("seconds", seconds)
    limit = seconds + 60 if timeout is None else timeout
    streams: list[trio.SocketStream] = []
    samples: list[float] = []
    clock = time.perf_counter_ns

    async def connect() -> None:
        stream = await trio.open_tcp_stream(host, port)
        streams.append(stream)
        await round_trip(stream, _ECHO)

    async def run(stream: trio.SocketStream, deadline: int) -> None:
        mine: list[float] = []
        while clock() < deadline:
            start = clock()
            await round_trip(stream)
            mine.append((clock() - start) / 1000)
        samples.extend(mine)

    with _bounded("parallel_round_trips", host, port, limit):
        try:
            async with trio.open_nursery() as nursery:
                for _ in range(connections):
                    nursery.start_soon(connect)
            start = clock()
            deadline = start + int(seconds * 1e9)
            async with trio.open_nursery() as nursery:
                for stream in streams:
                    nursery.start_soon(run, stream, deadline)
            elapsed = (clock() - start) / 1e9
        finally:
            for stream in streams:
                await trio.aclose_forcefully(stream)
    if not samples:
        raise BenchmarkError("parallel_round_trips: no round trip finished")
    samples.sort()
    return ParallelRate(
        connections=connections,
        seconds=elapsed,
        round_trips=len(samples),
        per_second=len(samples) / elapsed,
        p50_us=percentile(samples, 0.50),
        p99_us=percentile(samples, 0.99),
    )
