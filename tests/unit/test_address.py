"""Addresses and routes: the text users type, parsed and printed back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors import (
    LOCAL,
    TCP,
    WS,
    Address,
    MultiAddr,
    Route,
    RouteError,
    Segment,
    local,
    random_address,
    route,
)

# Texts that parse to a route on their own, and print back exactly as typed.
RESOLVED = [
    "/service/x",
    "/service/uppercase",
    "/ip4/127.0.0.1/tcp/7000",
    "/dnsaddr/localhost/tcp/7000",
    "/dnsaddr/localhost/tcp/7000/ws",
    "/ip4/127.0.0.1/tcp/7000/ws",
    "/ip4/10.0.0.1/tcp/4000/service/hop/ip4/127.0.0.1/tcp/7000/service/uppercase",
    "/type/7/custom",
]
# Texts the CLI or the node must resolve first (/node, /secure, /project, the piped `-`).
UNRESOLVED = [
    "/worker/x",
    "/node/n1",
    "/secure/api",
    "/project/default",
    "/project/default/service/forward_to_n3/secure/api/service/outlet",
    "-",
    "-/service/outlet",
    "/node/n1/-/service/uppercase",
    "/node/n1/secure/api/service/echo",
]


@pytest.mark.parametrize("text", RESOLVED + UNRESOLVED)
def test_multiaddr_prints_back_as_typed(text: str) -> None:
    parsed = MultiAddr.parse(text)
    assert str(parsed) == text
    assert MultiAddr.parse(str(parsed)) == parsed


@pytest.mark.parametrize("text", RESOLVED)
def test_route_prints_back_as_typed(text: str) -> None:
    parsed = Route.parse(text)
    assert str(parsed) == text
    assert Route.parse(str(parsed)) == parsed


@pytest.mark.parametrize(
    ("text", "addresses"),
    [
        ("/service/x", [Address(LOCAL, "x")]),
        ("/worker/x", [Address(LOCAL, "x")]),
        ("/ip4/127.0.0.1/tcp/7000", [Address(TCP, "127.0.0.1:7000")]),
        ("/dnsaddr/localhost/tcp/7000/ws", [Address(WS, "localhost:7000")]),
        (
            "/ip4/127.0.0.1/tcp/7000/service/hop/service/echo",
            [Address(TCP, "127.0.0.1:7000"), local("hop"), local("echo")],
        ),
    ],
)
def test_text_to_addresses(text: str, addresses: list[Address]) -> None:
    assert Route.parse(text).addresses == tuple(addresses)


def test_worker_and_service_name_the_same_local_address() -> None:
    assert Route.parse("/worker/x") == Route.parse("/service/x") == route("x")
    # A route prints local addresses as /service/...
    assert str(Route.parse("/worker/x")) == "/service/x"


@pytest.mark.parametrize(
    ("text", "segments"),
    [
        ("/node/n1", [Segment("node", "n1")]),
        ("/secure/api", [Segment("secure", "api")]),
        ("/project/default", [Segment("project", "default")]),
        (
            "/project/p1/service/forward_to_n3",
            [Segment("project", "p1"), Segment("service", "forward_to_n3")],
        ),
        ("-", [Segment("stdin")]),
        ("-/service/outlet", [Segment("stdin"), Segment("service", "outlet")]),
        (
            "/node/n2/-/service/uppercase",
            [Segment("node", "n2"), Segment("stdin"), Segment("service", "uppercase")],
        ),
        ("/dnsaddr/localhost/tcp/7000/ws", [Segment("dnsaddr", "localhost:7000", ws=True)]),
    ],
)
def test_unresolved_segments(text: str, segments: list[Segment]) -> None:
    parsed = MultiAddr.parse(text)
    assert list(parsed.segments) == segments
    assert parsed.resolved is all(s.resolved for s in segments)


@pytest.mark.parametrize(
    "text", ["/node/n1", "/secure/api", "/project/default", "-", "-/service/outlet"]
)
def test_route_parse_refuses_what_the_cli_must_resolve(text: str) -> None:
    with pytest.raises(RouteError, match="must be resolved before it can be used"):
        Route.parse(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty route"),
        ("   ", "empty route"),
        ("service/x", "must start with '/'"),
        ("/service", "/service needs a name"),
        ("/service/", "/service needs a name"),
        ("/node/", "/node needs a name"),
        ("/project", "/project needs a name"),
        ("/service/a#b", "/service needs a name"),
        ("/ip4/127.0.0.1", r"expected /ip4/HOST/tcp/PORT"),
        ("/ip4/127.0.0.1/udp/7000", r"expected /ip4/HOST/tcp/PORT"),
        ("/ip4/localhost/tcp/7000", "'localhost' is not an IPv4 address"),
        ("/ip4/127.0.0.1/tcp/0", "bad host or port"),
        ("/ip4/127.0.0.1/tcp/65536", "bad host or port"),
        ("/dnsaddr/localhost/tcp/http", "bad host or port"),
        ("/type/x/y", "expected /type/NUMBER/VALUE"),
        ("/foo/bar", "unknown segment 'foo'"),
        ("/", "no segments"),
    ],
)
def test_bad_text_gets_a_clear_error(text: str, message: str) -> None:
    with pytest.raises(RouteError, match=message) as info:
        MultiAddr.parse(text)
    if text.strip():
        # The message quotes what was typed, so the user sees which route is wrong.
        assert repr(text.strip()) in str(info.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x#y", "the part before '#' must be a number"),
        ("1#", "nothing after '#'"),
    ],
)
def test_bad_short_address(text: str, message: str) -> None:
    with pytest.raises(RouteError, match=message):
        Address.parse(text)


def test_short_address_form() -> None:
    assert Address.parse("0#uppercase") == local("uppercase")
    assert Address.parse("uppercase") == local("uppercase")
    assert Address.parse("1#127.0.0.1:7000") == Address(TCP, "127.0.0.1:7000")
    assert str(Address(TCP, "127.0.0.1:7000")) == "1#127.0.0.1:7000"


@pytest.mark.parametrize("value", ["", "a/b", "a#b"])
def test_bad_local_address(value: str) -> None:
    with pytest.raises(RouteError, match="bad local address"):
        local(value)


def test_route_operations() -> None:
    r = route("hop", "uppercase")
    assert r.next == local("hop")
    assert r.pop_front() == route("uppercase")
    assert r.prepend(local("a")) == route("a", "hop", "uppercase")
    assert r.replace_front(local("b")) == route("b", "uppercase")
    assert r + route("c") == route("hop", "uppercase", "c")
    assert r[1:] == route("uppercase")
    assert r[0] == local("hop")
    assert list(r) == [local("hop"), local("uppercase")]
    assert not Route()
    assert hash(route("x")) == hash(Route([local("x")]))
    with pytest.raises(RouteError, match="the route is empty"):
        _ = Route().next
    with pytest.raises(AttributeError, match="immutable"):
        r.foo = 1


def test_random_addresses_are_32_hex_digits() -> None:
    a, b = random_address(), random_address()
    assert a != b
    assert a.is_local
    assert len(a.value) == 32
    int(a.value, 16)


# Local names: anything but '/', '#' and whitespace (the text form strips whitespace).
_names = st.text(
    st.characters(categories=("L", "N", "P", "S"), exclude_characters="/#", max_codepoint=0x2FFF),
    min_size=1,
    max_size=12,
)
_ports = st.integers(1, 65535)
_ip4 = st.ip_addresses(v=4).map(str)
_hostnames = st.from_regex(r"[a-z][a-z0-9-]{0,10}(\.[a-z][a-z0-9-]{0,10}){0,2}", fullmatch=True)
_local_addresses = _names.map(local)
_transport_addresses = st.builds(
    lambda kind, host, port: Address(kind, f"{host}:{port}"),
    st.sampled_from([TCP, WS]),
    _ip4 | _hostnames,
    _ports,
)
_other_addresses = st.builds(Address, st.integers(3, 255), _names)
_addresses = _local_addresses | _transport_addresses | _other_addresses
_routes = st.lists(_addresses, min_size=1, max_size=6).map(Route)


@given(_routes)
def test_route_text_round_trips(r: Route) -> None:
    assert Route.parse(str(r)) == r


@given(_addresses)
def test_short_address_round_trips(a: Address) -> None:
    assert Address.parse(str(a)) == a


_segments = st.one_of(
    st.builds(Segment, st.sampled_from(["service", "worker", "node", "secure", "project"]), _names),
    st.just(Segment("stdin")),
    st.builds(
        lambda host, port, ws: Segment("ip4", f"{host}:{port}", ws=ws), _ip4, _ports, st.booleans()
    ),
    st.builds(
        lambda host, port, ws: Segment("dnsaddr", f"{host}:{port}", ws=ws),
        _hostnames,
        _ports,
        st.booleans(),
    ),
)


@given(st.lists(_segments, min_size=1, max_size=6).map(MultiAddr))
def test_multiaddr_text_round_trips(m: MultiAddr) -> None:
    text = str(m)
    assert MultiAddr.parse(text) == m
    assert str(MultiAddr.parse(text)) == text
