"""Portal benchmark: an ockam inlet -> relay -> outlet beside direct, socat and ssh baselines.

    python -m benchmarks.portal_bench [--quick] [--json] [--secure] [--setup NAME ...]

Runs the echo server (benchmarks/_echo_server.py) as its own process, then brings up each setup
in front of it in turn and measures through the setup's entry port: throughput (upload and
download), round-trip latency (p50/p99), connections per second, and round trips per second
over 100 parallel connections. Prints a table of the figures and a table of ratios to the ockam
setup (``--json``: one JSON document instead). A setup whose tool is missing is skipped with the
reason; one that fails is reported and the run goes on. See docs/benchmarks.md.

This module is the command line and the run; the ockam setup is in ``_ockam_setup``, the
report, its tables and ratios in ``_report`` (their public names are re-exported here).
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from functools import partial
from typing import TypeVar

import msgspec
import trio

from ._baselines import (
    HOST,
    SetupFailed,
    SetupSkipped,
    open_direct,
    open_echo_server,
    open_python_chain,
    open_socat_chain,
    open_ssh_pair,
    open_ssh_reverse,
)
from ._measure import (
    BenchmarkError,
    ConnectionRate,
    Latency,
    ParallelRate,
    Throughput,
    connections_per_second,
    parallel_round_trips,
    rtt,
    throughput,
)
from ._ockam_setup import find_ockam as find_ockam
from ._ockam_setup import open_ockam_portal as open_ockam_portal
from ._report import FIGURES as FIGURES
from ._report import Figure as Figure
from ._report import Params as Params
from ._report import Report as Report
from ._report import SetupReport as SetupReport
from ._report import compute_ratios as compute_ratios
from ._report import make_console, pick_reference, progress
from ._report import print_tables as print_tables

Opener = Callable[[int], AbstractAsyncContextManager[int]]
_T = TypeVar("_T")

OCKAM_PLAIN = "ockam inlet→relay→outlet"
OCKAM_SECURE = "ockam inlet→relay→outlet, secure channel"

QUICK = Params(
    megabytes=16,
    rtt_count=1000,
    connection_count=200,
    parallel_connections=100,
    parallel_seconds=1.5,
    max_seconds=4,
    timeout=30,
)
FULL = Params(
    megabytes=128,
    rtt_count=5000,
    connection_count=1000,
    parallel_connections=100,
    parallel_seconds=5,
    max_seconds=15,
    timeout=120,
)


# ---------------------------------------------------------------------------------------------
# Running the setups


async def measure_setup(name: str, opener: Opener, echo_port: int, params: Params) -> SetupReport:
    """Brings the setup up, measures the four figures through it, brings it down.

    Never raises for the setup's own failures: they go into the report.
    """
    progress.print(f"[bold]{name}[/]: starting")
    started = time.perf_counter()
    errors: dict[str, str] = {}
    p = params
    try:
        async with opener(echo_port) as entry:
            setup_seconds = time.perf_counter() - started
            progress.print(f"  up in {setup_seconds:.1f} s, entry {HOST}:{entry}")
            bulk = await _attempt(
                "throughput",
                errors,
                partial(throughput, HOST, entry, megabytes=p.megabytes, timeout=p.timeout),
            )
            latency = await _attempt(
                "rtt",
                errors,
                partial(
                    rtt,
                    HOST,
                    entry,
                    count=p.rtt_count,
                    max_seconds=p.max_seconds,
                    timeout=p.timeout,
                ),
            )
            connections = await _attempt(
                "connections",
                errors,
                partial(
                    connections_per_second,
                    HOST,
                    entry,
                    count=p.connection_count,
                    max_seconds=p.max_seconds,
                    timeout=p.timeout,
                ),
            )
            parallel = await _attempt(
                "parallel",
                errors,
                partial(
                    parallel_round_trips,
                    HOST,
                    entry,
                    connections=p.parallel_connections,
                    seconds=p.parallel_seconds,
                    timeout=p.parallel_seconds + p.timeout,
                ),
            )
    except SetupSkipped as exc:
        progress.print(f"  [yellow]skipped[/]: {exc}")
        return SetupReport(name=name, status="skipped", reason=str(exc))
    except (SetupFailed, OSError) as exc:
        progress.print(f"  [red]failed[/]: {exc}")
        return SetupReport(name=name, status="failed", reason=str(exc), errors=errors)
    except Exception as exc:  # a broken setup must not end the run: report it, go on
        progress.print(f"  [red]failed unexpectedly[/]: {exc!r}")
        return SetupReport(name=name, status="failed", reason=repr(exc), errors=errors)
    return SetupReport(
        name=name,
        status="ok",
        throughput=bulk,
        rtt=latency,
        connections=connections,
        parallel=parallel,
        errors=errors,
        setup_seconds=setup_seconds,
    )


async def _attempt(
    figure: str, errors: dict[str, str], measure: Callable[[], Awaitable[_T]]
) -> _T | None:
    """Runs one measurement; a BenchmarkError is noted in errors and gives None."""
    try:
        result = await measure()
    except BenchmarkError as exc:
        errors[figure] = str(exc)
        progress.print(f"  [red]{figure} failed[/]: {exc}")
        return None
    progress.print(f"  {_describe(result)}")
    return result


def _describe(result: object) -> str:
    match result:
        case Throughput():
            return (
                f"throughput: up {result.upload_mb_s:,.1f} MB/s,"
                f" down {result.download_mb_s:,.1f} MB/s ({result.megabytes:g} MB each way)"
            )
        case Latency():
            return (
                f"rtt: p50 {result.p50_us:,.0f} µs, p99 {result.p99_us:,.0f} µs"
                f" ({result.count} round trips)"
            )
        case ConnectionRate():
            return (
                f"connections: {result.per_second:,.0f}/s"
                f" ({result.count} in {result.seconds:.2f} s)"
            )
        case ParallelRate():
            return (
                f"parallel: {result.per_second:,.0f} round trips/s over {result.connections}"
                f" connections (p50 {result.p50_us:,.0f} µs, p99 {result.p99_us:,.0f} µs)"
            )
    return repr(result)


# ---------------------------------------------------------------------------------------------
# Command line

SETUP_KEYS = ("direct", "python", "socat", "ssh", "ssh-pair", "ockam")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.portal_bench",
        description="Measure an ockam portal beside direct, socat and ssh baselines.",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smaller measurements (the run takes under a minute)"
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON document instead of tables"
    )
    parser.add_argument(
        "--secure",
        action="store_true",
        help="put a secure channel in the ockam portal's route, and add the ssh -L + ssh -R pair",
    )
    parser.add_argument(
        "--setup",
        action="append",
        choices=SETUP_KEYS,
        metavar="NAME",
        help=f"run only these setups (repeatable; {', '.join(SETUP_KEYS)})",
    )
    parser.add_argument(
        "--relative-to",
        choices=SETUP_KEYS,
        default="ockam",
        help="the setup the ratios are relative to (default ockam, else direct)",
    )
    parser.add_argument(
        "--ockam", metavar="PATH", help="the ockam command (default: $OCKAM, the venv's, PATH)"
    )
    return parser


def _setups(args: argparse.Namespace) -> list[tuple[str, str, Opener | str]]:
    """(key, display name, opener or the reason it is skipped), in run order."""
    chosen = set(args.setup or [key for key in SETUP_KEYS if key != "ssh-pair" or args.secure])
    ockam = find_ockam(args.ockam)
    ockam_name = OCKAM_SECURE if args.secure else OCKAM_PLAIN
    ockam_setup: Opener | str
    if ockam is None:
        ockam_setup = (
            f"no ockam command ({args.ockam!r} not found)"
            if args.ockam
            else "no ockam command (not beside this python, not on PATH, $OCKAM unset)"
        )
    else:
        ockam_setup = partial(open_ockam_portal, ockam=ockam, secure=args.secure)
    every: list[tuple[str, str, Opener | str]] = [
        ("direct", "direct", open_direct),
        ("python", "python x3 (bare relays)", open_python_chain),
        ("socat", "socat x3", open_socat_chain),
        ("ssh", "ssh -R", open_ssh_reverse),
        ("ssh-pair", "ssh -L + ssh -R", open_ssh_pair),
        ("ockam", ockam_name, ockam_setup),
    ]
    return [setup for setup in every if setup[0] in chosen]


async def run(args: argparse.Namespace) -> Report | None:
    """Runs every chosen setup in front of one echo server; returns the report.

    Returns None when the echo server cannot start, or when SIGINT, SIGTERM or SIGHUP stops the
    run; either way every process the run started has been stopped.
    """
    report: Report | None = None
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM, signal.SIGHUP) as signals:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(_cancel_on_signal, signals, nursery.cancel_scope)
            try:
                report = await _run_setups(args)
            except SetupFailed as exc:
                progress.print(f"[red]cannot run the benchmark[/]: {exc}")
            finally:
                nursery.cancel_scope.cancel()
    return report


async def _cancel_on_signal(signals: AsyncIterator[int], scope: trio.CancelScope) -> None:
    async for number in signals:
        progress.print(f"{signal.Signals(number).name}: stopping every process, then exiting")
        scope.cancel()
        return


async def _run_setups(args: argparse.Namespace) -> Report:
    params = QUICK if args.quick else FULL
    reports: list[SetupReport] = []
    setups = _setups(args)
    async with open_echo_server() as echo_port:
        progress.print(f"echo server on {HOST}:{echo_port}")
        for _, name, setup in setups:
            if isinstance(setup, str):
                progress.print(f"[bold]{name}[/]: [yellow]skipped[/]: {setup}")
                reports.append(SetupReport(name=name, status="skipped", reason=setup))
                continue
            reports.append(await measure_setup(name, setup, echo_port, params))
    names = {key: name for key, name, _ in setups}
    reference = pick_reference(reports, names.get(args.relative_to, args.relative_to))
    return Report(
        quick=args.quick,
        secure=args.secure,
        params=params,
        setups=reports,
        relative_to=reference,
        ratios={} if reference is None else compute_ratios(reports, reference),
    )


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    started = time.perf_counter()
    try:
        report = trio.run(run, args)
    except KeyboardInterrupt:
        return 130
    if report is None:
        return 1
    progress.print(f"done in {time.perf_counter() - started:.0f} s")
    if args.json:
        sys.stdout.buffer.write(msgspec.json.format(msgspec.json.encode(report), indent=2))
        sys.stdout.buffer.write(b"\n")
    else:
        print_tables(report, make_console(stderr=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
