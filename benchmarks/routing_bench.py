"""Round trips through three nodes over loopback TCP, beside a bare trio socket ping-pong.

    python -m benchmarks.routing_bench [--seconds N] [--size BYTES] [--json]

Both measurements run in this one process, one after the other, under the same `trio.run`:

- **trio-ockam**: three nodes (`transports.testing.open_topology`, loopback TCP); n1 sends a
  request along `n1 → n2 hop → n3 uppercase` and waits for the reply before sending the next.
- **bare trio**: a client and an echo server on a loopback TCP connection (TCP_NODELAY), the
  client sending one message and reading it back before sending the next.

Each runs for `--seconds` (default 5) after a short warm-up. The ratio says how many bare
round trips fit in the time of one routed round trip: the cost of two extra hops, framing,
the codec and the actors' mailboxes, in a single-threaded Python process.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Awaitable, Callable
from functools import partial

import msgspec
import trio

from transports.testing import open_topology

WARM_UP = 0.5
"""Seconds of round trips before each measurement, not counted."""


class RoundTrips(msgspec.Struct, frozen=True, kw_only=True):
    """Sequential round trips over a span of time.

    Attributes:
        name: what was measured.
        count: round trips completed.
        seconds: time they took.
        per_second: round trips per second.
        mean_us: mean microseconds per round trip.
        p50_us: median microseconds per round trip.
        p99_us: 99th percentile, microseconds.
    """

    name: str
    count: int
    seconds: float
    per_second: float
    mean_us: float
    p50_us: float
    p99_us: float


class Report(msgspec.Struct, frozen=True, kw_only=True):
    """Both measurements of one run and their ratios."""

    size: int
    routed: RoundTrips
    bare: RoundTrips
    rate_ratio: float
    """Routed round trips per second divided by bare ones (below 1: routing is slower)."""
    latency_ratio: float
    """Routed mean µs per round trip divided by bare (above 1: routing is slower)."""


def _percentile(sorted_values: list[int], fraction: float) -> float:
    index = min(len(sorted_values) - 1, math.ceil(fraction * len(sorted_values)) - 1)
    return sorted_values[max(index, 0)] / 1000


async def _measure(
    name: str, seconds: float, round_trip: Callable[[], Awaitable[None]]
) -> RoundTrips:
    warm_up_end = time.perf_counter() + WARM_UP
    while time.perf_counter() < warm_up_end:
        await round_trip()
    samples: list[int] = []
    clock = time.perf_counter_ns
    start = clock()
    deadline = start + int(seconds * 1e9)
    now = start
    while now < deadline:
        before = now
        await round_trip()
        now = clock()
        samples.append(now - before)
    elapsed = (now - start) / 1e9
    samples.sort()
    return RoundTrips(
        name=name,
        count=len(samples),
        seconds=elapsed,
        per_second=len(samples) / elapsed,
        mean_us=elapsed * 1e6 / len(samples),
        p50_us=_percentile(samples, 0.5),
        p99_us=_percentile(samples, 0.99),
    )


async def measure_routed(seconds: float, size: int) -> RoundTrips:
    """Requests n1 → n2 hop → n3 uppercase over loopback TCP, one at a time."""
    payload = b"a" * size
    expected = payload.upper()
    async with open_topology(transport="tcp", services=("uppercase", "hop")) as topology:
        n1 = topology["n1"]
        route = topology.route("n1", "n3", "uppercase", via_hop=True)

        async def round_trip() -> None:
            reply = await n1.request(route, payload, timeout=10)
            if reply.payload != expected:
                raise RuntimeError(f"uppercase answered {reply.payload[:20]!r}...")

        return await _measure("trio-ockam: n1 → n2 hop → n3 uppercase", seconds, round_trip)


async def echo(stream: trio.SocketStream) -> None:
    """Send back every byte `stream` receives, until it ends (a `trio.serve_tcp` handler)."""
    try:
        while data := await stream.receive_some(65536):
            await stream.send_all(data)
    except trio.BrokenResourceError:
        pass


async def measure_bare(seconds: float, size: int) -> RoundTrips:
    """A trio client and echo server on one loopback TCP connection, one message at a time."""
    message = b"a" * size
    async with trio.open_nursery() as nursery:
        listeners: list[trio.SocketListener] = await nursery.start(
            partial(trio.serve_tcp, echo, 0, host="127.0.0.1")
        )
        port = listeners[0].socket.getsockname()[1]
        stream = await trio.open_tcp_stream("127.0.0.1", port)  # TCP_NODELAY is trio's default
        async with stream:

            async def round_trip() -> None:
                await stream.send_all(message)
                received = 0
                while received < size:
                    data = await stream.receive_some(65536)
                    if not data:
                        raise RuntimeError("the echo server closed the connection")
                    received += len(data)

            result = await _measure("bare trio socket ping-pong", seconds, round_trip)
        nursery.cancel_scope.cancel()
    return result


async def run(seconds: float, size: int) -> Report:
    """Measure both, routed first, and compare."""
    with trio.fail_after(seconds * 2 + WARM_UP * 2 + 60):
        routed = await measure_routed(seconds, size)
        bare = await measure_bare(seconds, size)
    return Report(
        size=size,
        routed=routed,
        bare=bare,
        rate_ratio=routed.per_second / bare.per_second,
        latency_ratio=routed.mean_us / bare.mean_us,
    )


def format_report(report: Report) -> str:
    """The report as a table for a terminal."""
    lines = [
        f"Sequential round trips over loopback TCP, {report.size}-byte messages, "
        f"{report.routed.seconds:.1f} s each, one process",
        "",
        f"{'':<42}{'trips/s':>10}{'µs/trip':>10}{'p50 µs':>10}{'p99 µs':>10}{'count':>10}",
    ]
    for r in (report.routed, report.bare):
        lines.append(
            f"{r.name:<42}{r.per_second:>10,.0f}{r.mean_us:>10.1f}{r.p50_us:>10.1f}"
            f"{r.p99_us:>10.1f}{r.count:>10,}"
        )
    lines.append(
        f"{'ratio trio-ockam / bare':<42}{report.rate_ratio:>9.3f}x{report.latency_ratio:>9.2f}x"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.routing_bench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument(
        "--seconds", type=float, default=5.0, help="seconds per measurement (default 5)"
    )
    parser.add_argument("--size", type=int, default=64, help="message size in bytes (default 64)")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    if args.seconds <= 0:
        parser.error(f"--seconds must be positive, not {args.seconds}")
    if not 1 <= args.size <= 1024 * 1024:
        parser.error(f"--size must be between 1 and 1048576, not {args.size}")
    report = trio.run(run, args.seconds, args.size)
    if args.json:
        sys.stdout.write(msgspec.json.encode(report).decode() + "\n")
    else:
        print(format_report(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
