"""How commands print: rich on a terminal, bare values in pipes, JSON on request."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any, Literal

import msgspec
from rich.console import Console
from rich.table import Table

OutputFormat = Literal["plain", "json"]


class Printer:
    """Prints a command's result in the form the user asked for.

    `--output json` prints JSON; otherwise a terminal gets the friendly form and a pipe the
    bare, machine-readable one (so `relay create | message send --to -/...` works).
    `--quiet` prints nothing but errors.
    """

    def __init__(self, output: OutputFormat = "plain", *, quiet: bool = False) -> None:
        self.output = output
        self.quiet = quiet
        self.tty = sys.stdout.isatty()
        self.console = Console(highlight=False, soft_wrap=True)

    def emit(self, *, plain: str, data: Any, pretty: str | None = None) -> None:
        """Print one result: `plain` in pipes, `pretty` (or `plain`) on a terminal, or `data`
        as JSON."""
        if self.quiet:
            return
        if self.output == "json":
            self.json(data)
        elif self.tty:
            self.console.print(pretty if pretty is not None else plain)
        else:
            _print(plain)

    def json(self, data: Any) -> None:
        """Print `data` as indented JSON."""
        _print(msgspec.json.format(msgspec.json.encode(data), indent=2).decode())

    def table(
        self,
        *,
        title: str,
        columns: Sequence[str],
        rows: Sequence[Sequence[str]],
        data: Any,
        plain_rows: Sequence[str] | None = None,
        empty: str = "",
    ) -> None:
        """Print a list: a rich table on a terminal, one line per item in pipes, or JSON."""
        if self.quiet:
            return
        if self.output == "json":
            self.json(data)
            return
        if not self.tty:
            for line in plain_rows if plain_rows is not None else ["  ".join(r) for r in rows]:
                _print(line)
            return
        if not rows:
            self.console.print(empty or f"No {title.lower()}.")
            return
        table = Table(title=title, title_justify="left")
        for index, column in enumerate(columns):
            # The first column is what users copy (an address, a name): never cut it short.
            table.add_column(column, no_wrap=index == 0, overflow="fold")
        for row in rows:
            table.add_row(*row)
        self.console.print(table)


def _print(text: str) -> None:
    try:
        print(text, flush=True)
    except BrokenPipeError:
        # The reader went away (`ockam worker list | head -1`): stop quietly, and keep
        # Python from failing again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise SystemExit(1) from None


def error(message: str) -> None:
    """Print one error line on stderr."""
    print(f"error: {message}", file=sys.stderr, flush=True)
