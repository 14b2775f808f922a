"""What a benchmark run reports, and how it prints: figures, medians, ratios, consoles, Markdown.

A run measures paths (direct, the ssh tunnels, the portals) grouped by **shape**: the number
of processes between the client and the service. Each shape has one reference, its ssh path;
a path's ratios are its medians over the reference's. ``Report`` is also the ``--json``
document; ``print_tables`` prints it on a console, ``markdown`` as tables for docs/.
"""

from __future__ import annotations

import os
import platform
import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from importlib import metadata
from typing import Literal, NamedTuple

import msgspec
from rich.console import Console
from rich.markup import escape
from rich.table import Table

__all__ = [
    "LAN_FIGURES",
    "LINK_FIGURES",
    "Figure",
    "LinkReport",
    "Machine",
    "Params",
    "PathReport",
    "PathRun",
    "Report",
    "finish",
    "machine",
    "make_console",
    "markdown",
    "print_tables",
    "progress",
]

Status = Literal["ok", "skipped", "failed"]


class Params(msgspec.Struct, frozen=True, kw_only=True):
    """How much each figure measures, and how often.

    The RTT and connection figures stop after ``max_seconds`` even when their count is not
    reached; ``timeout`` bounds each figure. ``rounds``: each figure is measured that many
    times on every path, the paths interleaved, and the median is reported. The defaults are
    the full run's: the counts and sizes the published figures use.
    """

    rounds: int = 3
    mebibytes: float = 128
    rtt_count: int = 5000
    connection_count: int = 1000
    parallel_connections: int = 100
    parallel_seconds: float = 4
    max_seconds: float = 8
    timeout: float = 120
    link_rtts_ms: list[float] = msgspec.field(default_factory=lambda: [40, 100])
    link_mebibytes: float = 128
    first_byte_count: int = 5


class PathReport(msgspec.Struct, frozen=True, kw_only=True):
    """One path's figures: every round's value, their median, the ratio to its shape's ssh."""

    key: str
    name: str
    shape: str
    reference: bool
    status: Status
    reason: str = ""
    samples: dict[str, list[float]] = msgspec.field(default_factory=dict)
    medians: dict[str, float] = msgspec.field(default_factory=dict)
    relative_to: str | None = None
    ratios: dict[str, float] = msgspec.field(default_factory=dict)
    errors: dict[str, list[str]] = msgspec.field(default_factory=dict)
    setup_seconds: float = 0.0


class LinkReport(msgspec.Struct, frozen=True, kw_only=True):
    """The paths measured with ``rtt_ms`` added between the private side and the relay."""

    rtt_ms: float
    paths: list[PathReport]


class Machine(msgspec.Struct, frozen=True, kw_only=True):
    """Where the run ran."""

    cpu: str
    cores: int
    memory_gib: float
    kernel: str
    python: str
    trio: str
    msgspec: str


class Report(msgspec.Struct, frozen=True, kw_only=True):
    """The whole run. ``checkout``: the commit measured as "ockam"; ``compare_ref``: the
    other commit measured beside it (``--compare-ref``), if any."""

    date: str
    machine: Machine
    quick: bool
    params: Params
    checkout: str
    compare_ref: str | None
    lan: list[PathReport]
    links: list[LinkReport]


@dataclass
class PathRun:
    """A path while it is measured: what it is, and what each round gave so far."""

    key: str
    name: str
    shape: str
    reference: bool = False
    status: Status = "ok"
    reason: str = ""
    samples: defaultdict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: defaultdict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    setup_seconds: float = 0.0


class Figure(NamedTuple):
    """One column: its key in ``samples``, ``medians`` and ``ratios``; its title; which way
    is better."""

    key: str
    title: str
    better: Literal["higher", "lower"]


LAN_FIGURES = [
    Figure("upload_mb_s", "upload MB/s", "higher"),
    Figure("download_mb_s", "download MB/s", "higher"),
    Figure("rtt_p50_us", "RTT p50 µs", "lower"),
    Figure("rtt_p99_us", "RTT p99 µs", "lower"),
    Figure("connections_per_s", "new conn/s", "higher"),
    Figure("parallel_round_trips_per_s", "100 parallel rt/s", "higher"),
]
LINK_FIGURES = [
    Figure("upload_mb_s", "upload MB/s", "higher"),
    Figure("download_mb_s", "download MB/s", "higher"),
    Figure("first_byte_ms", "first byte ms", "lower"),
]


def finish(runs: list[PathRun]) -> list[PathReport]:
    """Medians of every figure, and ratios to the reference path of the same shape."""
    medians = {
        run.name: {key: statistics.median(values) for key, values in run.samples.items() if values}
        for run in runs
    }
    references = {run.shape: run.name for run in runs if run.reference and run.status == "ok"}
    reports = []
    for run in runs:
        reference = references.get(run.shape)
        ratios: dict[str, float] = {}
        if reference is not None and reference != run.name:
            base = medians[reference]
            ratios = {
                key: value / base[key] for key, value in medians[run.name].items() if base.get(key)
            }
        reports.append(
            PathReport(
                key=run.key,
                name=run.name,
                shape=run.shape,
                reference=run.reference,
                status=run.status,
                reason=run.reason,
                samples=dict(run.samples),
                medians=medians[run.name],
                relative_to=reference if ratios else None,
                ratios=ratios,
                errors=dict(run.errors),
                setup_seconds=run.setup_seconds,
            )
        )
    return reports


def machine() -> Machine:
    """This machine: CPU model, cores, memory, kernel, and the versions that matter."""
    cpu = platform.processor() or platform.machine()
    memory = 0.0
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            cpu = next(
                (
                    line.split(":", 1)[1].strip()
                    for line in cpuinfo
                    if line.startswith("model name")
                ),
                cpu,
            )
        with open("/proc/meminfo") as meminfo:
            kib = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal"))
            memory = kib / 2**20
    except (OSError, StopIteration, ValueError):
        pass
    return Machine(
        cpu=cpu,
        cores=os.cpu_count() or 0,
        memory_gib=round(memory, 1),
        kernel=f"{platform.system()} {platform.release()}",
        python=platform.python_version(),
        trio=metadata.version("trio"),
        msgspec=metadata.version("msgspec"),
    )


# ---------------------------------------------------------------------------------------------
# Output


def make_console(*, stderr: bool) -> Console:
    """A rich console, 140 columns wide when it is not a terminal (rich's default is 80)."""
    console = Console(stderr=stderr, highlight=False)
    if not console.is_terminal:
        console.width = 140
    return console


# Where a run says what it is doing: stderr, so that ``--json`` keeps stdout to itself.
progress = make_console(stderr=True)


def _value(key: str, value: float | None) -> str:
    if value is None:
        return "—"
    if key.endswith("mb_s"):
        return f"{value:,.1f}"
    if key.endswith("_ms"):
        return f"{value:,.1f}"
    return f"{value:,.0f}"


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}\N{MULTIPLICATION SIGN}"


def _sections(report: Report) -> list[tuple[str, list[Figure], list[PathReport]]]:
    sections = [("On the LAN (127.0.0.1)", LAN_FIGURES, report.lan)]
    for link in report.links:
        title = f"Long link: {link.rtt_ms:g} ms round trip between the private side and the relay"
        sections.append((title, LINK_FIGURES, link.paths))
    return sections


def _header(report: Report) -> str:
    m, p = report.machine, report.params
    compared = f", beside {report.compare_ref}" if report.compare_ref else ""
    return (
        f"{report.date}: ockam at {report.checkout}{compared}; {m.cores} cores ({m.cpu}),"
        f" {m.memory_gib:g} GiB, {m.kernel}, Python {m.python}, trio {m.trio};"
        f" median of {p.rounds} round(s), {p.mebibytes:g} MiB per throughput run"
        f" ({p.link_mebibytes:g} MiB over the long link){' (quick)' if report.quick else ''}"
    )


def print_tables(report: Report, console: Console) -> None:
    """Each section's medians, each path's ratios to its shape's ssh, then what went wrong."""
    console.print(_header(report))
    for title, figures, paths in _sections(report):
        table = Table(title=title)
        table.add_column("shape")
        table.add_column("path")
        for figure in figures:
            table.add_column(figure.title, justify="right")
        for path in paths:
            name = path.name if path.status == "ok" else f"{path.name} ({path.status})"
            cells = [_value(f.key, path.medians.get(f.key)) for f in figures]
            table.add_row(path.shape, name, *cells)
            if path.ratios:
                ratios = [_ratio(path.ratios.get(f.key)) for f in figures]
                table.add_row("", f"  ÷ {path.relative_to}", *ratios, style="bold")
        console.print(table)
    console.print("Ratios: above 1 is more per second, or (RTT, first byte) a longer wait.")
    for _, _, paths in _sections(report):
        for path in paths:
            if path.reason:
                console.print(f"[yellow]{path.name} {path.status}[/]: {escape(path.reason)}")
            for group, errors in path.errors.items():
                for error in errors:
                    console.print(f"[red]{path.name}: {group} failed[/]: {escape(error)}")


def markdown(report: Report) -> str:
    """The report as Markdown: a header line, then one table per section, ratios in bold."""
    lines = [_header(report), ""]
    for title, figures, paths in _sections(report):
        lines += [f"**{title}**", ""]
        lines.append("| shape | path | " + " | ".join(f.title for f in figures) + " |")
        lines.append("|---|---|" + "---:|" * len(figures))
        for path in paths:
            if path.status != "ok":
                lines.append(f"| {path.shape} | {path.name} | {path.status}: {path.reason} |")
                continue
            cells = " | ".join(_value(f.key, path.medians.get(f.key)) for f in figures)
            lines.append(f"| {path.shape} | {path.name} | {cells} |")
            if path.ratios:
                ratios = " | ".join(f"**{_ratio(path.ratios.get(f.key))}**" for f in figures)
                lines.append(f"| | ÷ {path.relative_to} | {ratios} |")
        lines.append("")
    return "\n".join(lines)
