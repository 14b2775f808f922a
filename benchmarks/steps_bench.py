"""Trio task steps and scheduler passes per round trip through a portal, in one process.

    python -m benchmarks.steps_bench [--secure] [--round-trips N] [--parallel N] [--json]

A count that the machine's load does not change, for before/after comparisons on a shared
machine where timings move by ±30 % from run to run: the three nodes of the 3-process shape
(inlet node → relay node → outlet node, over loopback TCP; `--secure`: through a secure
channel inlet ↔ outlet) and an echo server, all in this process. Measured: 64-byte round trips
one at a time on one connection, then over `--parallel` connections at once; for each, trio
task steps (`Instrument.before_task_step`) and scheduler passes that waited for I/O
(`after_io_wait`) per round trip, and CPU µs per round trip (all nodes, the client and the
echo server together; this one does move with the load).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Awaitable, Callable
from functools import partial

import msgspec
import trio

from actors import TCP, Address, Route, local, route, start_relay
from portals import Portals
from secure import Identity, SecureChannels
from transports import open_node

from .routing_bench import echo

SIZE = 64


class Counts(msgspec.Struct, frozen=True, kw_only=True):
    """Per round trip, over `round_trips` of them."""

    round_trips: int
    task_steps: float
    io_waits: float
    cpu_us: float


class Report(msgspec.Struct, frozen=True, kw_only=True):
    """Both measurements of one run."""

    secure: bool
    sequential: Counts
    parallel: Counts
    connections: int


class _Counter(trio.abc.Instrument):
    def __init__(self) -> None:
        self.steps = 0
        self.waits = 0

    def before_task_step(self, task: trio.lowlevel.Task) -> None:
        self.steps += 1

    def after_io_wait(self, timeout: float) -> None:
        self.waits += 1


async def _round_trips(stream: trio.SocketStream, count: int) -> None:
    message = b"x" * SIZE
    for _ in range(count):
        await stream.send_all(message)
        received = 0
        while received < SIZE:
            received += len(await stream.receive_some(65536))


async def _counted(
    counter: _Counter, round_trips: int, work: Callable[[], Awaitable[None]]
) -> Counts:
    steps, waits, cpu = counter.steps, counter.waits, time.process_time()
    await work()
    return Counts(
        round_trips=round_trips,
        task_steps=(counter.steps - steps) / round_trips,
        io_waits=(counter.waits - waits) / round_trips,
        cpu_us=(time.process_time() - cpu) * 1e6 / round_trips,
    )


async def run(*, secure: bool, round_trips: int, connections: int) -> Report:
    """Bring the portal up, measure, take it down."""
    counter = _Counter()
    with trio.fail_after(600):
        return await _run(counter, secure=secure, round_trips=round_trips, connections=connections)


async def _run(counter: _Counter, *, secure: bool, round_trips: int, connections: int) -> Report:
    async with trio.open_nursery() as nursery:
        listeners = await nursery.start(partial(trio.serve_tcp, echo, 0, host="127.0.0.1"))
        target = f"127.0.0.1:{listeners[0].socket.getsockname()[1]}"
        async with (
            open_node("relay") as relay,
            open_node("server") as server,
            open_node("client") as client,
        ):
            to_relay = Route((Address(TCP, (await relay.tcp.listen()).address),))
            await Portals(server).create_outlet(target=target)
            await start_relay(server, at=to_relay, name="server")
            to_server = to_relay + route("forward_to_server")
            if secure:
                await SecureChannels(server, Identity.generate()).create_listener("api")
                channel = await SecureChannels(client, Identity.generate()).create(
                    to_server + route("api")
                )
                to_server = Route.parse(channel.address)
            inlet = await Portals(client).create_inlet(
                bind="127.0.0.1:0", route=to_server + Route((local("outlet"),))
            )
            port = int(inlet.bind_addr.rpartition(":")[2])
            streams = [await trio.open_tcp_stream("127.0.0.1", port) for _ in range(connections)]
            for stream in streams:
                await _round_trips(stream, 10)  # connected and warm
            each = round_trips // connections

            async def parallel() -> None:
                async with trio.open_nursery() as inner:
                    for stream in streams:
                        inner.start_soon(_round_trips, stream, each)

            trio.lowlevel.add_instrument(counter)
            sequential = await _counted(
                counter, round_trips, partial(_round_trips, streams[0], round_trips)
            )
            together = await _counted(counter, each * connections, parallel)
            trio.lowlevel.remove_instrument(counter)
            for stream in streams:
                await stream.aclose()
        nursery.cancel_scope.cancel()
    return Report(secure=secure, sequential=sequential, parallel=together, connections=connections)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.steps_bench", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--secure", action="store_true", help="through a secure channel")
    parser.add_argument("--round-trips", type=int, default=3000, help="per measurement")
    parser.add_argument("--parallel", type=int, default=100, help="connections at once")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    args = parser.parse_args(argv)
    if args.parallel < 1 or args.round_trips < args.parallel:
        parser.error("--round-trips must be at least --parallel, and --parallel at least 1")
    report = trio.run(
        partial(run, secure=args.secure, round_trips=args.round_trips, connections=args.parallel)
    )
    if args.json:
        sys.stdout.write(msgspec.json.encode(report).decode() + "\n")
    else:
        for name, counts in (("one connection", report.sequential), ("parallel", report.parallel)):
            print(
                f"{name:<16} task steps/rt {counts.task_steps:6.2f}  io waits/rt "
                f"{counts.io_waits:5.2f}  cpu µs/rt {counts.cpu_us:7.1f}  ({counts.round_trips})"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
