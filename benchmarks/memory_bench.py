"""Memory benchmark: what a portal's nodes hold for a service that never reads, and per idle
connection.

    python -m benchmarks.memory_bench [--quick] [--json] [--ockam PATH]

One 3-process portal (inlet node ``client`` → ``relay`` → outlet node ``server``, as in
``portal_bench``) in front of the echo server. Two measurements, each node's resident set
(``VmRSS`` of ``/proc/PID/status``) read before and during:

- **Held push**: a client connects through the inlet, sends ``HOLD`` (the service stops
  reading for good) and pushes 256 MiB; it stops when everything is sent or when nothing more
  is taken for a few seconds (the path is full). Each node's peak growth over its baseline,
  sampled every 50 ms, against the portal's window (what flow control lets one connection
  hold in flight): a node that grows by more holds bytes flow control should have held back.
- **Idle connections**: 1,000 connections opened through the inlet, each with one echoed
  round trip (so that the outlet's side is connected too) and then left idle; each node's
  growth divided by 1,000.

See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import datetime
import resource
import sys
import time

import msgspec
import trio

from ._baselines import HOST, SetupFailed, SetupSkipped, open_echo_server
from ._measure import BenchmarkError, round_trip
from ._ockam_setup import find_ockam, open_portal
from ._report import Machine, machine, make_console, progress

__all__ = ["HeldPush", "IdleConnections", "MemoryReport", "main", "read_rss"]

_SAMPLE_SECONDS = 0.05
_FAILURES = (BenchmarkError, OSError, trio.TooSlowError, trio.BrokenResourceError)
_CHUNK = bytes(64 * 1024)


class HeldPush(msgspec.Struct, frozen=True, kw_only=True):
    """A push into a service that never reads: how far it got, what each node grew by."""

    offered_bytes: int
    accepted_bytes: int
    stalled: bool
    baseline_kib: dict[str, int]
    peak_growth_kib: dict[str, int]


class IdleConnections(msgspec.Struct, frozen=True, kw_only=True):
    """Connections opened and left idle: each node's growth, in total and per connection."""

    connections: int
    baseline_kib: dict[str, int]
    growth_kib: dict[str, int]
    per_connection_kib: dict[str, float]


class MemoryReport(msgspec.Struct, frozen=True, kw_only=True):
    """The run: ``window_kib`` is the most the portal's window holds (payloads times payload
    size) when the checkout's ``portals`` says it, else None."""

    date: str
    machine: Machine
    window_kib: float | None
    held: HeldPush | None
    idle: IdleConnections | None
    errors: dict[str, str]


def read_rss(pid: int) -> int:
    """The resident set of process pid, in KiB (``VmRSS``).

    Raises:
        BenchmarkError: the process is gone, or shows no VmRSS.
    """
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except (OSError, ValueError) as exc:
        raise BenchmarkError(f"cannot read the memory of pid {pid}: {exc}") from None
    raise BenchmarkError(f"pid {pid} shows no VmRSS (a kernel thread, or gone)")


def _rss(pids: dict[str, int]) -> dict[str, int]:
    return {node: read_rss(pid) for node, pid in pids.items()}


def _window_kib() -> float | None:
    """The most a window holds: MAX_WINDOW (or, before windows grew, WINDOW) payloads of CHUNK
    bytes, from this checkout's portals (if it has them)."""
    try:
        import portals
    except ImportError:
        return None
    window = getattr(portals, "MAX_WINDOW", getattr(portals, "WINDOW", None))
    chunk = getattr(portals, "CHUNK", None)
    if isinstance(window, int) and isinstance(chunk, int):
        return window * chunk / 1024
    return None


async def held_push(
    entry: int, pids: dict[str, int], *, mebibytes: int, stall_seconds: float
) -> HeldPush:
    """Pushes ``mebibytes`` MiB into a ``HOLD`` connection through ``entry``, sampling RSS."""
    baseline = _rss(pids)
    peak = dict(baseline)
    offered = mebibytes * 2**20
    accepted = 0
    stalled = False

    async def sample(task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            for node, kib in _rss(pids).items():
                peak[node] = max(peak[node], kib)
            await trio.sleep(_SAMPLE_SECONDS)

    with trio.fail_after(stall_seconds * 4 + 600):
        async with trio.open_nursery() as nursery:
            await nursery.start(sample)
            stream = await trio.open_tcp_stream(HOST, entry)
            async with stream:
                await stream.send_all(b"HOLD\n")
                chunk = memoryview(_CHUNK)
                while accepted < offered:
                    with trio.move_on_after(stall_seconds) as scope:
                        await stream.send_all(chunk[: min(len(chunk), offered - accepted)])
                    if scope.cancelled_caught:
                        # send_all may have put part of this chunk in the kernel; the count is
                        # of whole chunks, so it errs low by under 64 KiB.
                        stalled = True
                        break
                    accepted += min(len(chunk), offered - accepted)
                await trio.sleep(1)  # the last bytes settle into the nodes; keep sampling
                nursery.cancel_scope.cancel()
    return HeldPush(
        offered_bytes=offered,
        accepted_bytes=accepted,
        stalled=stalled,
        baseline_kib=baseline,
        peak_growth_kib={node: peak[node] - baseline[node] for node in pids},
    )


async def idle_connections(entry: int, pids: dict[str, int], *, count: int) -> IdleConnections:
    """Opens ``count`` connections through ``entry``, one echo each, and reads RSS with them
    all open and idle."""
    baseline = _rss(pids)
    streams: list[trio.SocketStream] = []

    async def connect(limit: trio.CapacityLimiter) -> None:
        async with limit:
            stream = await trio.open_tcp_stream(HOST, entry)
            streams.append(stream)
            await round_trip(stream, b"ECHO\n")

    try:
        with trio.fail_after(120):
            limit = trio.CapacityLimiter(50)
            async with trio.open_nursery() as nursery:
                for _ in range(count):
                    nursery.start_soon(connect, limit)
            await trio.sleep(1)  # let each node finish what the last connections started
            after = _rss(pids)
    finally:
        for stream in streams:
            await trio.aclose_forcefully(stream)
    growth = {node: after[node] - baseline[node] for node in pids}
    return IdleConnections(
        connections=count,
        baseline_kib=baseline,
        growth_kib=growth,
        per_connection_kib={node: kib / count for node, kib in growth.items()},
    )


async def run(args: argparse.Namespace) -> MemoryReport:
    """Brings the portal up, measures both, brings it down."""
    ockam = find_ockam(args.ockam)
    if ockam is None:
        raise SetupSkipped("no ockam command (not beside this python, not on PATH, $OCKAM unset)")
    mebibytes, connections = (32, 200) if args.quick else (256, 1000)
    errors: dict[str, str] = {}
    held: HeldPush | None = None
    idle: IdleConnections | None = None
    async with open_echo_server() as echo, open_portal(echo, ockam=ockam, hops=3) as portal:
        pids = await portal.node_pids()
        progress.print(f"portal up, inlet {HOST}:{portal.entry}, nodes {pids}")
        try:
            held = await held_push(portal.entry, pids, mebibytes=mebibytes, stall_seconds=3)
            progress.print(f"held push: {held}")
        except* _FAILURES as group:
            errors["held"] = repr(group.exceptions[0])
            progress.print(f"[red]held push failed[/]: {group.exceptions[0]!r}")
        try:
            idle = await idle_connections(portal.entry, pids, count=connections)
            progress.print(f"idle connections: {idle}")
        except* _FAILURES as group:
            errors["idle"] = repr(group.exceptions[0])
            progress.print(f"[red]idle connections failed[/]: {group.exceptions[0]!r}")
    return MemoryReport(
        date=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        machine=machine(),
        window_kib=_window_kib(),
        held=held,
        idle=idle,
        errors=errors,
    )


def _raise_file_limit() -> None:
    """1,000 connections need more than the usual 1,024 descriptors in this process and in the
    nodes it starts (they inherit the limit): raise the soft limit to the hard one."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    wanted = hard if hard != resource.RLIM_INFINITY else 65536
    if soft != resource.RLIM_INFINITY and soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def _print(report: MemoryReport) -> None:
    console = make_console(stderr=False)
    console.print(f"{report.date}: {report.machine.cores} cores ({report.machine.cpu})")
    if report.window_kib is not None:
        console.print(f"portal window: {report.window_kib:,.0f} KiB per direction")
    if report.held is not None:
        h = report.held
        end = "stalled (the path is full)" if h.stalled else "everything sent"
        console.print(
            f"held push: {h.accepted_bytes / 2**20:,.0f} of {h.offered_bytes / 2**20:,.0f} MiB"
            f" taken, {end}; peak growth KiB: {h.peak_growth_kib}"
        )
    if report.idle is not None:
        i = report.idle
        per = {node: round(kib, 1) for node, kib in i.per_connection_kib.items()}
        total = sum(i.per_connection_kib.values())
        console.print(
            f"{i.connections} idle connections: KiB per connection {per}, all nodes {total:.1f}"
        )
    for what, error in report.errors.items():
        console.print(f"[red]{what} failed[/]: {error}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.memory_bench", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="32 MiB and 200 connections")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--ockam", metavar="PATH", help="the ockam command to run")
    args = parser.parse_args(argv)
    _raise_file_limit()
    started = time.perf_counter()
    try:
        report = trio.run(run, args)
    except KeyboardInterrupt:
        return 130
    except (SetupSkipped, SetupFailed) as exc:
        progress.print(f"[red]cannot run the benchmark[/]: {exc}")
        return 1
    progress.print(f"done in {time.perf_counter() - started:.0f} s")
    if args.json:
        sys.stdout.buffer.write(msgspec.json.format(msgspec.json.encode(report), indent=2))
        sys.stdout.buffer.write(b"\n")
    else:
        _print(report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
