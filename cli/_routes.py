"""The CLI's side of addresses and routes: node names, socket addresses, and the parts of a
route only the CLI can resolve (`/node/NAME` and a piped `-`).

Parsing itself is the runtime's (`actors.split_host_port`, `actors.local_name`,
`actors.MultiAddr`); this module only applies it to what users type.
"""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Callable

from actors import MultiAddr, RouteError, Segment, split_host_port

from ._state import StateStore

DEFAULT_HOST = "127.0.0.1"
"""The host of a socket address given as a bare port (`--to 5000`)."""


def node_name(value: str) -> str:
    """The node name in `n1` or `/node/n1`."""
    if value.startswith("/node/"):
        value = value[len("/node/") :].rstrip("/")
    if not value or "/" in value:
        raise RouteError(f"expected a node name like n1 or /node/n1, not {value!r}")
    return value


def socket_address(value: str) -> str:
    """`HOST:PORT` from `HOST:PORT` or a bare `PORT` (which means 127.0.0.1:PORT).

    Raises:
        TransportError: `value` is neither.
    """
    text = value.strip()
    host, port = split_host_port(text, default_host=DEFAULT_HOST)
    return f"{host}:{port}" if text.isdigit() else text


def connect_address(listener: str) -> str:
    """The address to connect to for a listener bound to `listener` (`0.0.0.0` → loopback)."""
    host, port = split_host_port(listener)
    if host in ("0.0.0.0", "::"):
        host = DEFAULT_HOST
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def listener_segment(address: str) -> Segment:
    """The route segment that reaches the TCP listener at `address` (`host:port`)."""
    host, _ = split_host_port(address)
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
            segments.append(listener_segment(connect_address(record.listener)))
        else:
            segments.append(segment)
    return MultiAddr(segments)
