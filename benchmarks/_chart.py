"""The ratios of a run as a chart: each portal over the ssh path of its shape (matplotlib).

Needs the ``bench`` extra (``pip install -e '.[bench]'``); nothing else in the project imports
matplotlib. One panel for the LAN figures, one for the long link; bars on a log scale, 1 is
level with ssh, and a short black line marks issue 14's target for each figure.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display here

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.ticker import FuncFormatter

from ._report import LAN_FIGURES, LINK_FIGURES, PathReport, Report

__all__ = ["TARGETS", "draw_ratios"]

TARGETS = {
    "upload_mb_s": 1.5,
    "download_mb_s": 1.5,
    "rtt_p50_us": 1.0,
    "connections_per_s": 10.0,
    "parallel_round_trips_per_s": 1.2,
}
"""Issue 14's LAN targets, as ratios to ssh (RTT: at most; the others: at least)."""

LINK_TARGETS = {"upload_mb_s": 4.0, "download_mb_s": 4.0, "first_byte_ms": 0.6}
"""Its long-link targets, against ``ssh -R``."""


def _bars(
    axes: Axes,
    groups: list[str],
    series: dict[str, list[float | None]],
    targets: list[float | None],
    before: str | None,
) -> None:
    """Grouped bars: one group per figure, one bar per path, a target mark per group."""
    width = 0.8 / max(1, len(series))
    colours: dict[str, str] = {}
    for index, (name, values) in enumerate(series.items()):
        xs = [g + (index - (len(series) - 1) / 2) * width for g in range(len(groups))]
        heights = [v if v is not None else float("nan") for v in values]
        # One colour per path; the other commit's bars (--compare-ref) hatched in the same one.
        base, _, commit = name.partition(" @")
        colour = colours.setdefault(base, f"C{len(colours)}")
        hatch = "//" if before is not None and commit == before else None
        bars = axes.bar(xs, heights, width, label=name, color=colour, hatch=hatch, alpha=0.9)
        for bar, value in zip(bars, values, strict=True):
            if value is not None:
                axes.annotate(
                    f"{value:.2f}",
                    (bar.get_x() + bar.get_width() / 2, value),
                    ha="center",
                    va="bottom",
                    fontsize=6,
                )
    for g, target in enumerate(targets):
        if target is not None:
            axes.hlines(target, g - 0.4, g + 0.4, colors="black", linewidth=1.5)
    axes.axhline(1.0, color="grey", linewidth=0.8, linestyle="--")
    axes.set_yscale("log")
    plain = FuncFormatter(lambda value, _: f"{value:g}")
    axes.yaxis.set_major_formatter(plain)
    axes.yaxis.set_minor_formatter(plain)
    axes.tick_params(axis="y", which="minor", labelsize=6)
    axes.set_xticks(range(len(groups)), groups, fontsize=8)
    axes.set_ylabel("÷ the ssh path of the same shape\n(RTT, first byte: lower is better)")
    axes.legend(fontsize=7, loc="upper left")


def _ratios(paths: list[PathReport], keys: list[str]) -> dict[str, list[float | None]]:
    return {path.name: [path.ratios.get(key) for key in keys] for path in paths if path.ratios}


def draw_ratios(report: Report, out: Path) -> None:
    """Writes the chart of ``report``'s ratios to ``out`` (PNG)."""
    panels = 2 if report.links else 1
    figure, axes = plt.subplots(panels, 1, figsize=(12, 5 * panels), squeeze=False)
    lan_keys = [f.key for f in LAN_FIGURES]
    _bars(
        axes[0][0],
        [f.title for f in LAN_FIGURES],
        _ratios(report.lan, lan_keys),
        [TARGETS.get(key) for key in lan_keys],
        report.compare_ref,
    )
    axes[0][0].set_title("On the LAN: each portal ÷ ssh -R (2 processes) or ssh -L + -R (3)")
    if report.links:
        groups: list[str] = []
        series: dict[str, list[float | None]] = {}
        targets: list[float | None] = []
        for link in report.links:
            for f in LINK_FIGURES:
                groups.append(f"{f.title}\n{link.rtt_ms:g} ms")
                targets.append(LINK_TARGETS.get(f.key))
        names = [p.name for p in report.links[0].paths if p.ratios]
        for name in names:
            series[name] = [
                next((p.ratios.get(f.key) for p in link.paths if p.name == name), None)
                for link in report.links
                for f in LINK_FIGURES
            ]
        _bars(axes[1][0], groups, series, targets, report.compare_ref)
        axes[1][0].set_title("Long link: the 2-process portal ÷ ssh -R")
    m = report.machine
    figure.suptitle(
        f"trio-ockam portals against ssh, {report.date}; {m.cores} cores ({m.cpu}),"
        f" median of {report.params.rounds} round(s); black marks: issue 14's targets"
        + (f"; hatched: {report.compare_ref}" if report.compare_ref else ""),
        fontsize=9,
    )
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    plt.close(figure)
