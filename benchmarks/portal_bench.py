"""Portal benchmark: an ockam inlet -> relay -> outlet beside direct, socat and ssh baselines.

    python -m benchmarks.portal_bench [--quick] [--json] [--secure] [--setup NAME ...]

Runs the echo server (benchmarks/_echo_server.py) as its own process, then brings up each setup
in front of it in turn and measures through the setup's entry port: throughput (upload and
download), round-trip latency (p50/p99), connections per second, and round trips per second
over 100 parallel connections. Prints a table of the figures and a table of ratios to the ockam
setup (``--json``: one JSON document instead). A setup whose tool is missing is skipped with the
reason; one that fails is reported and the run goes on. See docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from functools import partial
from pathlib import Path
from typing import Literal, NamedTuple, TypeVar

import msgspec
import trio
from rich.console import Console
from rich.table import Table

from ._baselines import (
    HOST,
    SetupFailed,
    SetupSkipped,
    free_port,
    log_tail,
    open_direct,
    open_echo_server,
    open_socat_chain,
    open_ssh_pair,
    open_ssh_reverse,
    wait_ready,
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

Opener = Callable[[int], AbstractAsyncContextManager[int]]
_T = TypeVar("_T")

OCKAM_PLAIN = "ockam inlet→relay→outlet"
OCKAM_SECURE = "ockam inlet→relay→outlet, secure channel"


class Params(msgspec.Struct, frozen=True, kw_only=True):
    """How much each figure measures.

    The RTT and connection figures stop after ``max_seconds`` even when their count is not
    reached (their results say how many they did); ``timeout`` bounds each figure.
    """

    megabytes: float
    rtt_count: int
    connection_count: int
    parallel_connections: int
    parallel_seconds: float
    max_seconds: float
    timeout: float


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


class SetupReport(msgspec.Struct, frozen=True, kw_only=True):
    """One setup's figures; ``errors`` maps a figure that failed to the reason."""

    name: str
    status: Literal["ok", "skipped", "failed"]
    reason: str = ""
    throughput: Throughput | None = None
    rtt: Latency | None = None
    connections: ConnectionRate | None = None
    parallel: ParallelRate | None = None
    errors: dict[str, str] = msgspec.field(default_factory=dict)
    setup_seconds: float = 0.0


class Report(msgspec.Struct, frozen=True, kw_only=True):
    """The whole run. ``ratios[setup][figure]`` is the setup's figure over ``relative_to``'s."""

    quick: bool
    secure: bool
    params: Params
    setups: list[SetupReport]
    relative_to: str | None
    ratios: dict[str, dict[str, float]]


class Figure(NamedTuple):
    """One column of the tables: its key in ``Report.ratios``, its title, how to read it."""

    key: str
    title: str
    get: Callable[[SetupReport], float | None]


FIGURES = [
    Figure(
        "upload_mb_s", "upload\nMB/s", lambda r: r.throughput.upload_mb_s if r.throughput else None
    ),
    Figure(
        "download_mb_s",
        "download\nMB/s",
        lambda r: r.throughput.download_mb_s if r.throughput else None,
    ),
    Figure("rtt_p50_us", "RTT p50\nµs", lambda r: r.rtt.p50_us if r.rtt else None),
    Figure("rtt_p99_us", "RTT p99\nµs", lambda r: r.rtt.p99_us if r.rtt else None),
    Figure(
        "connections_per_s",
        "conn/s",
        lambda r: r.connections.per_second if r.connections else None,
    ),
    Figure(
        "parallel_round_trips_per_s",
        "parallel\nround trips/s",
        lambda r: r.parallel.per_second if r.parallel else None,
    ),
]


# ---------------------------------------------------------------------------------------------
# The ockam setup


def find_ockam(explicit: str | None = None) -> str | None:
    """The ``ockam`` to run: ``--ockam``, else $OCKAM, else the venv's, else the one on PATH."""
    for candidate in (explicit, os.environ.get("OCKAM")):
        if candidate:
            return shutil.which(candidate)
    beside_python = Path(sys.executable).parent / "ockam"
    if os.access(beside_python, os.X_OK):
        return str(beside_python)
    return shutil.which("ockam")


class _OckamCli:
    """Runs ``ockam`` commands with one OCKAM_HOME; output goes to files, not pipes."""

    def __init__(self, ockam: str, home: Path) -> None:
        self.ockam = ockam
        self.home = home
        self.env = {**os.environ, "OCKAM_HOME": str(home / "ockam-home")}
        self._runs = 0

    async def run(self, *args: str, timeout: float = 30) -> str:
        """Runs ``ockam ARGS``; returns its stdout.

        Raises:
            SetupFailed: the command failed or took more than ``timeout`` seconds.
        """
        self._runs += 1
        out, err = self.home / f"{self._runs}.out", self.home / f"{self._runs}.err"
        command = "ockam " + " ".join(args)
        with out.open("wb") as stdout, err.open("wb") as stderr, trio.move_on_after(timeout):
            result = await trio.run_process(
                [self.ockam, *args],
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                check=False,
                env=self.env,
            )
            if result.returncode != 0:
                raise SetupFailed(
                    f"`{command}` exited with status {result.returncode}: {log_tail(err)}"
                )
            return out.read_text(errors="replace")
        raise SetupFailed(f"`{command}` took more than {timeout:g} s: {log_tail(err)}")

    async def delete_all(self, nodes: list[str]) -> bool:
        """``ockam node delete --all --yes``; if that fails, ends each node by its pid.

        Returns whether every node is known to be gone.
        """
        if not await trio.Path(self.env["OCKAM_HOME"]).exists():
            return True  # no command got as far as creating any state
        for args in (("--all", "--yes"), ("--all",)):
            with contextlib.suppress(SetupFailed):
                await self.run("node", "delete", *args, timeout=60)
                return True
        gone = True
        for node in nodes:
            try:
                shown = msgspec.json.decode(
                    await self.run("node", "show", node, "--output", "json", timeout=10)
                )
                pid = int(shown["pid"])
            except (SetupFailed, msgspec.DecodeError, KeyError, TypeError, ValueError):
                gone = False
                continue
            await _end_foreign_pid(pid)
        return gone


async def _end_foreign_pid(pid: int, *, grace: float = 3.0) -> None:
    """SIGTERM, then SIGKILL, a process that is not our child (a detached node)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        with trio.move_on_after(grace):
            while True:
                os.kill(pid, 0)
                await trio.sleep(0.05)
        os.kill(pid, signal.SIGKILL)


_SERVICE = re.compile(r"/service/[0-9A-Za-z_]+")


@contextlib.asynccontextmanager
async def open_ockam_portal(echo_port: int, *, ockam: str, secure: bool) -> AsyncIterator[int]:
    """The seed's portal: client inlet -> relay node -> server outlet -> echo server.

    Nodes ``relay`` (with a TCP listener on a free port), ``server`` (outlet to the echo
    server, relay ``forward_to_server`` registered at ``relay``) and ``client`` (the inlet on a
    free port) in a temporary OCKAM_HOME; with ``secure``, the inlet's route goes through a
    secure channel from ``client`` to ``server``'s ``api`` listener, through the relay.
    At exit: ``ockam node delete --all --yes``.
    """
    tmp = tempfile.mkdtemp(prefix="bench-ockam-")
    cli = _OckamCli(ockam, Path(tmp))
    nodes: list[str] = []
    try:
        nodes.append("relay")
        await cli.run("node", "create", "relay", "--tcp-listener-address", f"{HOST}:{free_port()}")
        nodes.append("server")
        await cli.run("node", "create", "server")
        await cli.run(
            "tcp-outlet", "create", "--at", "server",
            "--from", "/service/outlet", "--to", f"{HOST}:{echo_port}",
        )  # fmt: skip
        await cli.run("relay", "create", "server", "--at", "/node/relay", "--to", "/node/server")
        nodes.append("client")
        await cli.run("node", "create", "client")
        route = "/node/relay/service/forward_to_server/service/outlet"
        if secure:
            to_api = "/node/relay/service/forward_to_server/service/api"
            try:
                printed = await cli.run(
                    "secure-channel", "create", "--from", "/node/client", "--to", to_api
                )
            except SetupFailed as exc:
                raise SetupSkipped(f"secure-channel create failed: {exc}") from None
            found = _SERVICE.search(printed)
            if found is None:
                raise SetupSkipped(
                    f"secure-channel create printed no /service/<address>: {printed!r}"
                )
            route = f"{found.group()}/service/outlet"
        entry = free_port()
        await cli.run(
            "tcp-inlet", "create", "--at", "client", "--from", f"{HOST}:{entry}", "--to", route
        )
        await wait_ready(entry, timeout=30, what="ockam portal")
        yield entry
    finally:
        with trio.CancelScope(shield=True):
            if await cli.delete_all(nodes):
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                # Keep the state so that whoever reads this can find the nodes.
                _progress.print(
                    "[yellow]ockam: could not delete the nodes; their OCKAM_HOME is"
                    f" {cli.env['OCKAM_HOME']}[/]"
                )


# ---------------------------------------------------------------------------------------------
# Running the setups


def _console(*, stderr: bool) -> Console:
    """A rich console, 120 columns wide when it is not a terminal (rich's default is 80)."""
    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal:
        console.width = 120
    return console


_progress = _console(stderr=True)


async def measure_setup(name: str, opener: Opener, echo_port: int, params: Params) -> SetupReport:
    """Brings the setup up, measures the four figures through it, brings it down.

    Never raises for the setup's own failures: they go into the report.
    """
    _progress.print(f"[bold]{name}[/]: starting")
    started = time.perf_counter()
    errors: dict[str, str] = {}
    p = params
    try:
        async with opener(echo_port) as entry:
            setup_seconds = time.perf_counter() - started
            _progress.print(f"  up in {setup_seconds:.1f} s, entry {HOST}:{entry}")
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
        _progress.print(f"  [yellow]skipped[/]: {exc}")
        return SetupReport(name=name, status="skipped", reason=str(exc))
    except (SetupFailed, OSError) as exc:
        _progress.print(f"  [red]failed[/]: {exc}")
        return SetupReport(name=name, status="failed", reason=str(exc), errors=errors)
    except Exception as exc:  # a broken setup must not end the run: report it, go on
        _progress.print(f"  [red]failed unexpectedly[/]: {exc!r}")
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
        _progress.print(f"  [red]{figure} failed[/]: {exc}")
        return None
    _progress.print(f"  {_describe(result)}")
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


def compute_ratios(setups: list[SetupReport], relative_to: str) -> dict[str, dict[str, float]]:
    """Each setup's figures divided by the same figure of the setup named relative_to."""
    reference = next(s for s in setups if s.name == relative_to)
    ratios: dict[str, dict[str, float]] = {}
    for setup in setups:
        row: dict[str, float] = {}
        for key, _, get in FIGURES:
            value, base = get(setup), get(reference)
            if value is not None and base:
                row[key] = value / base
        if row:
            ratios[setup.name] = row
    return ratios


def _pick_reference(setups: list[SetupReport], wanted: str) -> str | None:
    """The setup the ratios are relative to: ``wanted`` if it ran, else direct."""
    ran = {s.name for s in setups if s.status == "ok"}
    for name in (wanted, "direct"):
        if name in ran:
            return name
    return None


# ---------------------------------------------------------------------------------------------
# Output


def _format(key: str, value: float | None) -> str:
    if value is None:
        return "—"
    if key.endswith("mb_s"):
        return f"{value:,.1f}"
    return f"{value:,.0f}"


def print_tables(report: Report, console: Console) -> None:
    """The figures, then the ratios, then why a setup or figure is missing."""
    p = report.params
    table = Table(
        title=(
            f"Portal benchmark{' (quick)' if report.quick else ''}: {p.megabytes:g} MB each way,"
            f" up to {p.rtt_count} round trips and {p.connection_count} connections,"
            f" {p.parallel_connections} parallel connections for {p.parallel_seconds:g} s"
        ),
    )
    table.add_column("setup")
    for _, title, _ in FIGURES:
        table.add_column(title, justify="right")
    for setup in report.setups:
        name = setup.name if setup.status == "ok" else f"{setup.name} ({setup.status})"
        table.add_row(name, *(_format(key, get(setup)) for key, _, get in FIGURES))
    console.print(table)
    if report.relative_to is not None:
        ratios = Table(
            title=f"Ratios: each figure ÷ the same figure for {report.relative_to}",
            caption=(
                "above 1: the setup moves more bytes or connections per second,"
                " or has longer round trips, than " + report.relative_to
            ),
        )
        ratios.add_column("setup")
        for _, title, _ in FIGURES:
            ratios.add_column(title, justify="right")
        for setup in report.setups:
            row = report.ratios.get(setup.name)
            if row is None:
                continue
            ratios.add_row(
                setup.name,
                *(f"{row[key]:.2f}x" if key in row else "—" for key, _, _ in FIGURES),
            )
        console.print(ratios)
    for setup in report.setups:
        if setup.reason:
            console.print(f"[yellow]{setup.name} {setup.status}[/]: {setup.reason}")
        for figure, error in setup.errors.items():
            console.print(f"[red]{setup.name}: {figure} failed[/]: {error}")


# ---------------------------------------------------------------------------------------------
# Command line

SETUP_KEYS = ("direct", "socat", "ssh", "ssh-pair", "ockam")


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
                _progress.print(f"[red]cannot run the benchmark[/]: {exc}")
            finally:
                nursery.cancel_scope.cancel()
    return report


async def _cancel_on_signal(signals: AsyncIterator[int], scope: trio.CancelScope) -> None:
    async for number in signals:
        _progress.print(f"{signal.Signals(number).name}: stopping every process, then exiting")
        scope.cancel()
        return


async def _run_setups(args: argparse.Namespace) -> Report:
    params = QUICK if args.quick else FULL
    reports: list[SetupReport] = []
    setups = _setups(args)
    async with open_echo_server() as echo_port:
        _progress.print(f"echo server on {HOST}:{echo_port}")
        for _, name, setup in setups:
            if isinstance(setup, str):
                _progress.print(f"[bold]{name}[/]: [yellow]skipped[/]: {setup}")
                reports.append(SetupReport(name=name, status="skipped", reason=setup))
                continue
            reports.append(await measure_setup(name, setup, echo_port, params))
    names = {key: name for key, name, _ in setups}
    reference = _pick_reference(reports, names.get(args.relative_to, args.relative_to))
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
    _progress.print(f"done in {time.perf_counter() - started:.0f} s")
    if args.json:
        sys.stdout.buffer.write(msgspec.json.format(msgspec.json.encode(report), indent=2))
        sys.stdout.buffer.write(b"\n")
    else:
        print_tables(report, _console(stderr=False))
    return 0


if __name__ == "__main__":
    sys.exit(main())
