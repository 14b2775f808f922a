"""Addresses, routes and the text syntax Ockam users type (`/service/x/ip4/127.0.0.1/tcp/7000`)."""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Iterable, Iterator
from typing import overload

import msgspec

from ._errors import TransportError

LOCAL = 0
"""Transport type of an address that names a worker on this node."""
TCP = 1
"""Transport type of a `host:port` reached over TCP."""
WS = 2
"""Transport type of a `host:port` reached over WebSocket."""

TRANSPORT_NAMES = {LOCAL: "local", TCP: "tcp", WS: "ws"}


class RouteError(ValueError):
    """A route or address in text form could not be understood."""


class Address(msgspec.Struct, frozen=True, array_like=True, gc=False):
    """One hop of a route: a transport type and a value (a worker name, or `host:port`).

    On the wire an address is the two-element array `[type, value]`.
    """

    type: int
    value: str

    def __str__(self) -> str:
        return f"{self.type}#{self.value}"

    @property
    def text(self) -> str:
        """This address as Ockam prints it in routes, output and logs: `/service/NAME` for a
        local worker, `/ip4/HOST/tcp/PORT` for a TCP peer (`str()` is the short form `0#NAME`
        of Ockam's `Address`, which its JSON output and the wire keep)."""
        return _address_text(self)

    @classmethod
    def parse(cls, text: str) -> Address:
        """Parse Ockam's short form `T#value` (`0#uppercase`, `1#127.0.0.1:7000`).

        A bare value with no `#` is a local address.
        """
        type_text, sep, value = text.partition("#")
        if not sep:
            return local(text)
        try:
            type_ = int(type_text)
        except ValueError:
            raise RouteError(
                f"bad address {text!r}: the part before '#' must be a number"
            ) from None
        if not value:
            raise RouteError(f"bad address {text!r}: nothing after '#'")
        return cls(type_, value)

    @property
    def is_local(self) -> bool:
        """True when the address names a worker on this node."""
        return self.type == LOCAL


def local(value: str) -> Address:
    """The local address `0#value`."""
    if not value or "/" in value or "#" in value:
        raise RouteError(f"bad local address {value!r}: it must be non-empty, without '/' or '#'")
    return Address(LOCAL, value)


def random_address() -> Address:
    """A fresh local address of 32 hex digits, as Ockam names transient workers."""
    return Address(LOCAL, secrets.token_hex(16))


class Route:
    """An ordered, immutable sequence of addresses; the first one is the next hop."""

    __slots__ = ("_addresses",)
    _addresses: tuple[Address, ...]

    def __init__(self, addresses: Iterable[Address] = ()) -> None:
        object.__setattr__(self, "_addresses", tuple(addresses))

    @classmethod
    def _wrap(cls, addresses: tuple[Address, ...]) -> Route:
        route = cls.__new__(cls)
        object.__setattr__(route, "_addresses", addresses)
        return route

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("Route is immutable")

    @classmethod
    def parse(cls, text: str) -> Route:
        """Parse a route's text form; every segment must resolve to an address.

        `/node/NAME`, `/secure/NAME`, `/project/NAME` and `-` must be resolved first (by the
        CLI, or by the node): use `MultiAddr.parse` for text that may contain them.
        """
        return MultiAddr.parse(text).to_route()

    @property
    def addresses(self) -> tuple[Address, ...]:
        """The addresses, first hop first."""
        return self._addresses

    @property
    def next(self) -> Address:
        """The first address; raises `RouteError` on an empty route."""
        if not self._addresses:
            raise RouteError("the route is empty")
        return self._addresses[0]

    def pop_front(self) -> Route:
        """The route without its first address."""
        return Route._wrap(self._addresses[1:])

    def prepend(self, address: Address) -> Route:
        """The route with `address` in front."""
        return Route._wrap((address, *self._addresses))

    def replace_front(self, address: Address) -> Route:
        """The route with its first address replaced by `address`."""
        return Route._wrap((address, *self._addresses[1:]))

    def __add__(self, other: Route) -> Route:
        return Route._wrap(self._addresses + other._addresses)

    def __len__(self) -> int:
        return len(self._addresses)

    def __bool__(self) -> bool:
        return bool(self._addresses)

    def __iter__(self) -> Iterator[Address]:
        return iter(self._addresses)

    @overload
    def __getitem__(self, index: int) -> Address: ...
    @overload
    def __getitem__(self, index: slice) -> Route: ...
    def __getitem__(self, index: int | slice) -> Address | Route:
        if isinstance(index, slice):
            return Route._wrap(self._addresses[index])
        return self._addresses[index]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Route) and self._addresses == other._addresses

    def __hash__(self) -> int:
        return hash(self._addresses)

    def __repr__(self) -> str:
        return f"Route({' => '.join(map(str, self._addresses))})"

    def __str__(self) -> str:
        return "".join(_address_text(a) for a in self._addresses)


def route(*parts: Address | str) -> Route:
    """Build a route from addresses and local names: `route("hop", "uppercase")`."""
    return Route(p if isinstance(p, Address) else local(p) for p in parts)


def split_host_port(address: str, *, default_host: str | None = None) -> tuple[str, int]:
    """`HOST:PORT` (or `[V6]:PORT`) as a pair: the one parser of socket addresses.

    With `default_host`, a bare `PORT` means `default_host:PORT` (the CLI's `--to 5000`).

    Raises:
        TransportError: `address` is not `HOST:PORT` with a port from 0 to 65535.
    """
    text = address.strip()
    if default_host is not None and text.isdigit():
        text = f"{default_host}:{text}"
    host, sep, port = text.rpartition(":")
    host = host.strip("[]")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) < 65536:
        expected = "HOST:PORT or PORT" if default_host is not None else "HOST:PORT"
        raise TransportError(f"bad address {address!r}: expected {expected}, like 127.0.0.1:7000")
    return host, int(port)


def local_name(address: str | Address) -> str:
    """The worker name in `outlet`, `0#outlet`, `/service/outlet` or `/worker/outlet`: the one
    normalizer of local addresses typed by users.

    Raises:
        RouteError: `address` does not name one local worker.
    """
    if isinstance(address, Address):
        if not address.is_local:
            raise RouteError(f"bad address {str(address)!r}: expected a local worker")
        return address.value
    text = address.strip()
    if text.startswith("/"):
        segments = MultiAddr.parse(text).segments
        if len(segments) != 1 or segments[0].kind not in ("service", "worker"):
            raise RouteError(f"bad address {text!r}: expected /service/NAME or NAME")
        return segments[0].value
    parsed = Address.parse(text)
    if not parsed.is_local:
        raise RouteError(f"bad address {text!r}: expected a local worker, like /service/NAME")
    return local(parsed.value).value


def _is_ip4(host: str) -> bool:
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        return False
    return True


def _address_text(address: Address) -> str:
    if address.type == LOCAL:
        return f"/service/{address.value}"
    if address.type in (TCP, WS):
        host, port = split_host_port(address.value)
        head = f"/ip4/{host}" if _is_ip4(host) else f"/dnsaddr/{host}"
        return f"{head}/tcp/{port}" + ("/ws" if address.type == WS else "")
    return f"/type/{address.type}/{address.value}"


_UNRESOLVED = frozenset({"node", "secure", "project", "stdin"})
"""Segment kinds that are not addresses until something resolves them."""


class Segment(msgspec.Struct, frozen=True):
    """One segment of a route's text form.

    `kind` is one of `service`, `worker`, `node`, `secure`, `project`, `ip4`, `ip6`, `dnsaddr`,
    `type`, `stdin`. For transport segments `value` is `host:port`; `ws` marks a WebSocket
    address. `node`, `secure`, `project` and `stdin` are not addresses: the CLI resolves
    `/node/NAME` and `-`, the node `/secure/LISTENER` and `/project/NAME` (a secure channel to
    the project node).
    """

    kind: str
    value: str = ""
    ws: bool = False
    type: int = LOCAL

    def __str__(self) -> str:
        if self.kind == "stdin":
            return "/-"
        if self.kind in ("ip4", "ip6", "dnsaddr"):
            host, port = split_host_port(self.value)
            return f"/{self.kind}/{host}/tcp/{port}" + ("/ws" if self.ws else "")
        if self.kind == "type":
            return f"/type/{self.type}/{self.value}"
        return f"/{self.kind}/{self.value}"

    @property
    def resolved(self) -> bool:
        """True when the segment is an address without help from the CLI."""
        return self.kind not in _UNRESOLVED

    def to_address(self) -> Address:
        """The address of a resolved segment."""
        if self.kind in ("service", "worker"):
            return Address(LOCAL, self.value)
        if self.kind in ("ip4", "ip6", "dnsaddr"):
            return Address(WS if self.ws else TCP, self.value)
        if self.kind == "type":
            return Address(self.type, self.value)
        raise RouteError(f"'{self}' must be resolved before it can be used as an address")


_NAMED = ("service", "worker", "node", "secure", "project")


class MultiAddr:
    """A route's text form, segment by segment, kept exactly as typed.

    `str(MultiAddr.parse(text)) == text` for every well-formed text whose segments are
    written in their canonical spelling.
    """

    __slots__ = ("segments",)

    def __init__(self, segments: Iterable[Segment]) -> None:
        self.segments: tuple[Segment, ...] = tuple(segments)

    @classmethod
    def parse(cls, text: str) -> MultiAddr:
        """Parse `/service/a/ip4/127.0.0.1/tcp/7000/-/service/b` and friends."""
        if not text or not text.strip():
            raise RouteError("empty route")
        text = text.strip()
        if text == "-":
            return cls([Segment("stdin")])
        parts = text.split("/")
        # A leading '-' (as in `-/service/uppercase`) stands for the piped route.
        if parts[0] == "-":
            parts[0] = ""
            parts.insert(1, "-")
        if parts[0] != "":
            raise RouteError(
                f"bad route {text!r}: it must start with '/' (for example /service/echo)"
            )
        segments: list[Segment] = []
        i = 1
        while i < len(parts):
            kind = parts[i]
            if kind == "-":
                segments.append(Segment("stdin"))
                i += 1
                continue
            if kind in _NAMED:
                value = parts[i + 1] if i + 1 < len(parts) else ""
                if not value or "#" in value:
                    raise RouteError(f"bad route {text!r}: /{kind} needs a name")
                segments.append(Segment(kind, value))
                i += 2
                continue
            if kind in ("ip4", "ip6", "dnsaddr"):
                if i + 3 >= len(parts) or parts[i + 2] != "tcp":
                    raise RouteError(f"bad route {text!r}: expected /{kind}/HOST/tcp/PORT")
                host, port = parts[i + 1], parts[i + 3]
                if not host or not port.isdigit() or not 0 < int(port) < 65536:
                    raise RouteError(
                        f"bad route {text!r}: bad host or port in /{kind}/{host}/tcp/{port}"
                    )
                if kind == "ip4" and not _is_ip4(host):
                    raise RouteError(f"bad route {text!r}: {host!r} is not an IPv4 address")
                i += 4
                ws = i < len(parts) and parts[i] == "ws"
                if ws:
                    i += 1
                segments.append(Segment(kind, f"{host}:{port}", ws=ws))
                continue
            if kind == "type":
                if i + 2 >= len(parts) or not parts[i + 1].isdigit() or not parts[i + 2]:
                    raise RouteError(f"bad route {text!r}: expected /type/NUMBER/VALUE")
                segments.append(Segment("type", parts[i + 2], type=int(parts[i + 1])))
                i += 3
                continue
            if kind == "" and i == len(parts) - 1:
                break  # a trailing slash
            raise RouteError(
                f"bad route {text!r}: unknown segment {kind!r} "
                "(expected /service, /worker, /node, /secure, /project, /ip4, /dnsaddr or -)"
            )
        if not segments:
            raise RouteError(f"bad route {text!r}: no segments")
        return cls(segments)

    def __str__(self) -> str:
        text = "".join(map(str, self.segments))
        # A leading piped segment is written `-`, as users type it: `-/service/outlet`.
        return text[1:] if self.segments and self.segments[0].kind == "stdin" else text

    def __repr__(self) -> str:
        return f"MultiAddr({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MultiAddr) and self.segments == other.segments

    def __hash__(self) -> int:
        return hash(self.segments)

    @property
    def resolved(self) -> bool:
        """True when every segment is an address."""
        return all(s.resolved for s in self.segments)

    def to_route(self) -> Route:
        """The route, when every segment is resolved."""
        return Route(s.to_address() for s in self.segments)
