"""Portal benchmark: ockam portals beside the ssh tunnels of the same shape, in one run.

    python -m benchmarks.portal_bench [--quick] [--rounds N] [--compare-ref REF] [--json]
                                      [--markdown FILE] [--chart FILE] [--path KEY ...]

Runs the echo server (benchmarks/_echo_server.py) as its own process and brings up every path
in front of it at once: direct, ``ssh -R`` and the 2-process portal (inlet on the relay node),
``ssh -L + ssh -R`` and the 3-process portal (inlet node → relay node → outlet node) with and
without a secure channel, the bare Python relays. Then, round after round, it measures each
figure on every path in turn (throughput up and down, RTT p50/p99, new connections per second,
round trips per second over 100 parallel connections) and reports the medians, each portal as
a ratio to the ssh path of its shape. Then the long link: a delay proxy
(benchmarks/_delay_proxy.py) between the private side and the relay, 40 and 100 ms round trip,
for ``ssh -R`` and the 2-process portal (throughput and the first byte of a new connection).
``--compare-ref`` builds another commit's ockam and measures it beside this one. A path whose
tool is missing is skipped with the reason; one that fails is reported and the run goes on.
See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from functools import partial
from pathlib import Path
from typing import Literal, NamedTuple

import msgspec
import trio
from rich.markup import escape

from ._baselines import (
    HOST,
    Link,
    SetupFailed,
    SetupSkipped,
    open_direct,
    open_echo_server,
    open_python_chain,
    open_socat_chain,
    open_ssh_pair,
    open_ssh_reverse,
)
from ._compare import Build, describe_checkout, open_ref_ockam
from ._delay_proxy import open_delay_proxy
from ._measure import (
    BenchmarkError,
    connections_per_second,
    first_byte,
    parallel_round_trips,
    rtt,
    throughput,
)
from ._ockam_setup import find_ockam, ockam_opener
from ._report import (
    LinkReport,
    Params,
    PathRun,
    Report,
    finish,
    machine,
    make_console,
    markdown,
    print_tables,
    progress,
)

Opener = Callable[[int], AbstractAsyncContextManager[int]]

FULL = Params()
"""The full run: the counts and sizes the published figures use."""
QUICK = msgspec.structs.replace(
    FULL,
    rounds=1,
    mebibytes=16,
    rtt_count=1000,
    connection_count=200,
    parallel_seconds=1.5,
    max_seconds=3,
    timeout=30,
    link_mebibytes=8,
    first_byte_count=3,
)
"""A smoke run: the full run's shapes, small and once."""
MIB_IN_MB = 2**20 / 1e6


# ---------------------------------------------------------------------------------------------
# The paths


class PathSpec(NamedTuple):
    """A path to measure: its key (``--path``), name, shape, whether it is the shape's
    reference, and how to open it (or why it is skipped)."""

    key: str
    name: str
    shape: str
    reference: bool
    opener: Opener | str


TWO, THREE = "2 processes", "3 processes"
PATH_KEYS = ("direct", "python", "socat", "ssh", "ockam-2", "ssh-pair", "ockam-3", "ockam-3-secure")
DEFAULT_KEYS = tuple(key for key in PATH_KEYS if key != "socat")


class Ockam(NamedTuple):
    """An ockam to measure, and what its paths are called."""

    command: str | None
    label: str
    reason: str = ""


def _ockam_paths(ockam: Ockam, *, link: Link | None = None) -> list[PathSpec]:
    """The three portals of one ockam (the 2-process one only, over a long link)."""
    shapes: list[tuple[str, str, str, Literal[2, 3], bool]] = [
        ("ockam-2", "ockam inlet on relay → outlet", TWO, 2, False)
    ]
    if link is None:
        shapes += [
            ("ockam-3", "ockam inlet → relay → outlet", THREE, 3, False),
            ("ockam-3-secure", "ockam inlet → relay → outlet, secure channel", THREE, 3, True),
        ]
    paths = []
    for key, name, shape, hops, secure in shapes:
        opener: Opener | str = ockam.reason
        if ockam.command is not None:
            opener = ockam_opener(ockam=ockam.command, hops=hops, secure=secure, link=link)
        paths.append(PathSpec(key, f"{name}{ockam.label}", shape, False, opener))
    return paths


def lan_paths(ockams: list[Ockam]) -> list[PathSpec]:
    """Every LAN path, grouped by shape, in run order."""
    paths = [
        PathSpec("direct", "direct", "direct", False, open_direct),
        PathSpec("ssh", "ssh -R", TWO, True, open_ssh_reverse),
        PathSpec("ssh-pair", "ssh -L + ssh -R", THREE, True, open_ssh_pair),
        PathSpec("python", "python x3 (bare relays)", THREE, False, open_python_chain),
        PathSpec("socat", "socat x3", THREE, False, open_socat_chain),
    ]
    for ockam in ockams:
        paths += _ockam_paths(ockam)
    order = {"direct": 0, TWO: 1, THREE: 2}
    # By shape, its reference first, each portal beside the same portal of the other commit.
    return sorted(paths, key=lambda p: (order[p.shape], not p.reference, PATH_KEYS.index(p.key)))


def link_paths(ockams: list[Ockam], rtt_ms: float) -> list[PathSpec]:
    """``ssh -R`` and the 2-process portals with rtt_ms between the private side and relay."""
    link = partial(open_delay_proxy, rtt_ms=rtt_ms)
    paths = [PathSpec("ssh", "ssh -R", TWO, True, partial(open_ssh_reverse, link=link))]
    for ockam in ockams:
        paths += _ockam_paths(ockam, link=link)
    return paths


# ---------------------------------------------------------------------------------------------
# The figures


class Group(NamedTuple):
    """Figures measured together (throughput gives upload and download)."""

    name: str
    measure: Callable[[int, Params], Awaitable[dict[str, float]]]


async def _throughput(entry: int, p: Params, *, mebibytes: float) -> dict[str, float]:
    result = await throughput(HOST, entry, megabytes=mebibytes * MIB_IN_MB, timeout=p.timeout)
    return {"upload_mb_s": result.upload_mb_s, "download_mb_s": result.download_mb_s}


async def _lan_throughput(entry: int, p: Params) -> dict[str, float]:
    return await _throughput(entry, p, mebibytes=p.mebibytes)


async def _link_throughput(entry: int, p: Params) -> dict[str, float]:
    return await _throughput(entry, p, mebibytes=p.link_mebibytes)


async def _rtt(entry: int, p: Params) -> dict[str, float]:
    result = await rtt(HOST, entry, count=p.rtt_count, max_seconds=p.max_seconds, timeout=p.timeout)
    return {"rtt_p50_us": result.p50_us, "rtt_p99_us": result.p99_us}


async def _connections(entry: int, p: Params) -> dict[str, float]:
    result = await connections_per_second(
        HOST, entry, count=p.connection_count, max_seconds=p.max_seconds, timeout=p.timeout
    )
    return {"connections_per_s": result.per_second}


async def _parallel(entry: int, p: Params) -> dict[str, float]:
    result = await parallel_round_trips(
        HOST,
        entry,
        connections=p.parallel_connections,
        seconds=p.parallel_seconds,
        timeout=p.parallel_seconds + p.timeout,
    )
    return {"parallel_round_trips_per_s": result.per_second}


async def _first_byte(entry: int, p: Params) -> dict[str, float]:
    result = await first_byte(HOST, entry, count=p.first_byte_count, timeout=p.timeout)
    return {"first_byte_ms": result.p50_ms}


LAN_GROUPS = [
    Group("throughput", _lan_throughput),
    Group("rtt", _rtt),
    Group("connections", _connections),
    Group("parallel", _parallel),
]
LINK_GROUPS = [Group("throughput", _link_throughput), Group("first byte", _first_byte)]


def _describe(values: dict[str, float]) -> str:
    return ", ".join(f"{key} {value:,.1f}" for key, value in values.items())


# ---------------------------------------------------------------------------------------------
# Running


async def measure_paths(
    paths: list[PathSpec], groups: list[Group], echo_port: int, params: Params
) -> list[PathRun]:
    """Brings every path up, measures each group on every path in turn, ``params.rounds``
    times, and brings them down. A path's own failures go into its run, never raise."""
    runs: list[tuple[PathRun, int]] = []
    every: list[PathRun] = []
    async with contextlib.AsyncExitStack() as stack:
        for path in paths:
            run = PathRun(key=path.key, name=path.name, shape=path.shape, reference=path.reference)
            every.append(run)
            if isinstance(path.opener, str):
                run.status, run.reason = "skipped", path.opener
                progress.print(f"[bold]{path.name}[/]: [yellow]skipped[/]: {escape(path.opener)}")
                continue
            entry = await _bring_up(stack, path, run, echo_port)
            if entry is not None:
                runs.append((run, entry))
        for round_number in range(params.rounds):
            for group in groups:
                progress.print(f"[bold]round {round_number + 1}/{params.rounds}: {group.name}[/]")
                for run, entry in runs:
                    try:
                        values = await group.measure(entry, params)
                    except BenchmarkError as exc:
                        run.errors[group.name].append(str(exc))
                        progress.print(f"  {run.name}: [red]failed[/]: {escape(str(exc))}")
                        continue
                    for key, value in values.items():
                        run.samples[key].append(value)
                    progress.print(f"  {run.name}: {_describe(values)}")
    return every


async def _bring_up(
    stack: contextlib.AsyncExitStack, path: PathSpec, run: PathRun, echo_port: int
) -> int | None:
    """Opens the path on the stack; its entry port, or None (the reason is in ``run``)."""
    assert not isinstance(path.opener, str)
    started = time.perf_counter()
    try:
        entry = await stack.enter_async_context(path.opener(echo_port))
    except SetupSkipped as exc:
        run.status, run.reason = "skipped", str(exc)
    except (SetupFailed, OSError) as exc:
        run.status, run.reason = "failed", str(exc)
    except Exception as exc:  # a broken path must not end the run: report it, go on
        run.status, run.reason = "failed", repr(exc)
    else:
        run.setup_seconds = time.perf_counter() - started
        progress.print(f"[bold]{path.name}[/]: up in {run.setup_seconds:.1f} s, port {entry}")
        return entry
    progress.print(f"[bold]{path.name}[/]: [yellow]{run.status}[/]: {escape(run.reason)}")
    return None


async def _run_all(args: argparse.Namespace) -> Report:
    params = QUICK if args.quick else FULL
    params = msgspec.structs.replace(
        params,
        rounds=args.rounds or params.rounds,
        link_rtts_ms=[] if args.no_long_link else (args.link_rtt or params.link_rtts_ms),
    )
    keys = set(args.path or DEFAULT_KEYS)
    checkout = await describe_checkout()
    command = find_ockam(args.ockam)
    missing = "no ockam command (not beside this python, not on PATH, $OCKAM unset)"
    if args.ockam:
        missing = f"no ockam command ({args.ockam!r} not found)"
    async with contextlib.AsyncExitStack() as stack:
        ockams = [Ockam(command, f" @{checkout}" if args.compare_ref else "", missing)]
        if args.compare_ref:
            try:
                build: Build = await stack.enter_async_context(open_ref_ockam(args.compare_ref))
                ockams.append(Ockam(build.ockam, f" @{build.label}"))
            except SetupFailed as exc:
                progress.print(f"[red]--compare-ref[/]: {escape(str(exc))}")
                ockams.append(Ockam(None, f" @{args.compare_ref}", str(exc)))
        echo_port = await stack.enter_async_context(open_echo_server())
        progress.print(f"echo server on {HOST}:{echo_port}")
        chosen = [path for path in lan_paths(ockams) if path.key in keys]
        lan = finish(await measure_paths(chosen, LAN_GROUPS, echo_port, params))
        links = []
        for rtt_ms in params.link_rtts_ms:
            progress.print(f"[bold]long link, {rtt_ms:g} ms round trip[/]")
            chosen = [path for path in link_paths(ockams, rtt_ms) if path.key in keys]
            runs = await measure_paths(chosen, LINK_GROUPS, echo_port, params)
            links.append(LinkReport(rtt_ms=rtt_ms, paths=finish(runs)))
    return Report(
        date=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        machine=machine(),
        quick=args.quick,
        params=params,
        checkout=checkout,
        compare_ref=ockams[1].label.strip(" @") if args.compare_ref else None,
        lan=lan,
        links=links,
    )


async def run(args: argparse.Namespace) -> Report | None:
    """Runs the benchmark; returns the report.

    Returns None when the echo server cannot start, or when SIGINT, SIGTERM or SIGHUP stops the
    run; either way every process the run started has been stopped.
    """
    report: Report | None = None
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGHUP) as signals:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_cancel_on_signal, signals, nursery.cancel_scope)
            try:
                report = await _run_all(args)
            except SetupFailed as exc:
                progress.print(f"[red]cannot run the benchmark[/]: {escape(str(exc))}")
            finally:
                nursery.cancel_scope.cancel()
    return report


async def _cancel_on_signal(signals: AsyncIterator[int], scope: trio.CancelScope) -> None:
    async for number in signals:
        progress.print(f"{signal.Signals(number).name}: stopping every process, then exiting")
        scope.cancel()
        return


# ---------------------------------------------------------------------------------------------
# Command line


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.portal_bench",
        description="Measure ockam portals beside the ssh tunnels of the same shape.",
    )
    add = parser.add_argument
    add("--quick", action="store_true", help="small measurements, one round (a smoke run)")
    add("--rounds", type=int, metavar="N", help="rounds per figure (default 3; --quick: 1)")
    add(
        "--path",
        action="append",
        choices=PATH_KEYS,
        metavar="KEY",
        help=f"only these paths (repeatable; {', '.join(PATH_KEYS)}; default: all but socat)",
    )
    add("--link-rtt", action="append", type=float, metavar="MS", help="long-link RTTs (40, 100)")
    add("--no-long-link", action="store_true", help="skip the long-link measurements")
    add("--compare-ref", metavar="REF", help="also measure the ockam of this git commit")
    add("--ockam", metavar="PATH", help="the ockam command (default: $OCKAM, the venv's, PATH)")
    add("--json", action="store_true", help="print the report as JSON on stdout, not tables")
    add("--markdown", type=Path, metavar="FILE", help="also write the tables as Markdown")
    add("--chart", type=Path, metavar="FILE", help="also draw the ratios as a PNG (matplotlib)")
    add("--from-json", type=Path, metavar="FILE", help="measure nothing: render a saved report")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.rounds is not None and args.rounds < 1:
        parser.error(f"--rounds must be at least 1, got {args.rounds}")
    if args.link_rtt and any(value <= 0 for value in args.link_rtt):
        parser.error("--link-rtt must be positive")
    started = time.perf_counter()
    if args.from_json:
        try:
            report = msgspec.json.decode(args.from_json.read_bytes(), type=Report)
        except (OSError, msgspec.DecodeError, msgspec.ValidationError) as exc:
            parser.error(f"--from-json {args.from_json}: {exc}")
    else:
        try:
            measured = trio.run(run, args)
        except KeyboardInterrupt:
            return 130
        if measured is None:
            return 1
        report = measured
        progress.print(f"done in {time.perf_counter() - started:.0f} s")
    if args.json:
        sys.stdout.buffer.write(msgspec.json.format(msgspec.json.encode(report), indent=2))
        sys.stdout.buffer.write(b"\n")
    else:
        print_tables(report, make_console(stderr=False))
    if args.markdown:
        args.markdown.write_text(markdown(report))
    if args.chart:
        from ._chart import draw_ratios  # matplotlib: the bench extra, only when asked for

        draw_ratios(report, args.chart)
    return 0


if __name__ == "__main__":
    sys.exit(main())
