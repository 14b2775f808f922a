"""What a benchmark run reports, and how it prints: the figures, their ratios, the consoles.

``Report`` is also the ``--json`` document. ``print_tables`` prints a table of the figures and a
table of ratios to a reference setup; ``progress`` is the stderr console a run narrates on.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, NamedTuple

import msgspec
from rich.console import Console
from rich.table import Table

from ._measure import ConnectionRate, Latency, ParallelRate, Throughput


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


def pick_reference(setups: list[SetupReport], wanted: str) -> str | None:
    """The setup the ratios are relative to: ``wanted`` if it ran, else direct."""
    ran = {s.name for s in setups if s.status == "ok"}
    for name in (wanted, "direct"):
        if name in ran:
            return name
    return None


# ---------------------------------------------------------------------------------------------
# Output


def make_console(*, stderr: bool) -> Console:
    """A rich console, 120 columns wide when it is not a terminal (rich's default is 80)."""
    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal:
        console.width = 120
    return console


# Where a run says what it is doing: stderr, so that ``--json`` keeps stdout to itself.
progress = make_console(stderr=True)


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
