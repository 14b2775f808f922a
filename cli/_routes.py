"""Resolving the parts of a route only the CLI knows: `/node/NAME` and a piped `-`."""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Callable

from actors import MultiAddr, RouteError, Segment

from ._state import StateStore


def node_name(value: str) -> str:
    """The node name in `n1` or `/node/n1`."""
    if value.startswith("/node/"):
        value = value[len("/node/") :].rstrip("/")
    if not value or "/" in value:
        raise RouteError(f"expected a node name like n1 or /node/n1, not {value!r}")
    return value


def connect_host(listener: str) -> str:
    """The address to connect to for a listener bound to `listener` (`0.0.0.0` → loopback)."""
    host, _, port = listener.rpartition(":")
    if host in ("0.0.0.0", "", "::", "[::]"):
        host = "127.0.0.1"
    return f"{host}:{port}"


def listener_segment(address: str) -> Segment:
    """The route segment that reaches the TCP listener at `address` (`host:port`)."""
    host = address.rpartition(":")[0]
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return Segment("dnsaddr", address)
    return Segment("ip4", address)


def read_stdin_route() -> MultiAddr:
    """The route piped on standard input (the first non-empty line)."""
    if sys.stdin is None or sys.stdin.isatty():
        raise RouteError("the route has a '-' segment, but nothing is piped on standard input")
    for line in sys.stdin.read().splitlines():
        if line.strip():
            return MultiAddr.parse(line.strip())
    raise RouteError("the route has a '-' segment, but standard input is empty")


def resolve_route(
    text: str, store: StateStore, *, stdin: Callable[[], MultiAddr] = read_stdin_route
) -> MultiAddr:
    """`text` with every `/node/NAME` replaced by that node's TCP listener and `-` by stdin.

    Standard input is read only when the route has a `-` segment.
    """
    parsed = MultiAddr.parse(text)
    segments: list[Segment] = []
    piped: MultiAddr | None = None
    for segment in parsed.segments:
        if segment.kind == "stdin":
            if piped is None:
                piped = resolve_route(str(stdin()), store, stdin=stdin)
            segments.extend(piped.segments)
        elif segment.kind == "node":
            record = store.get(segment.value)
            segments.append(listener_segment(connect_host(record.listener)))
        else:
            segments.append(segment)
    return MultiAddr(segments)
