"""The status server over a real loopback socket, asked by curl: `/`, `/show`, `/metrics`."""

from __future__ import annotations

import logging
import shutil
import socket
from collections.abc import AsyncIterator

import msgspec
import pytest
import trio
from prometheus_client.parser import text_string_to_metric_families

from cli._node_view import stopped_node
from cli._ockam_views import NodeResources
from cli._status_server import ErrorCounter, NodeStatistics, StatusServer

CURL = shutil.which("curl")

# A running node with a listener on port 5000 and nothing else.
NODE = msgspec.structs.replace(
    stopped_node("n1", listener="127.0.0.1:5000", identity="", is_default=True),
    status="running",
    pid=4242,
)
# portals open, bytes in, bytes out, relays hosted, relays registered, channels, errors
STATS = NodeStatistics(3, 1000, 2000, 2, 1, 4, 5)


async def show() -> NodeResources:
    return NODE


async def statistics() -> NodeStatistics:
    return STATS


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, int]]:
    async with trio.open_nursery() as nursery:
        address = await nursery.start(StatusServer(node="n1", show=show, statistics=statistics).run)
        yield address
        nursery.cancel_scope.cancel()


async def curl(*args: str) -> tuple[int, bytes]:
    """The HTTP status and body curl gets."""
    assert CURL is not None, "the status server tests need curl (.ci/run installs it)"
    result = await trio.run_process(
        [CURL, "-s", "-o", "-", "-w", "\n%{http_code}", *args], capture_stdout=True, check=False
    )
    body, _, status = result.stdout.rpartition(b"\n")
    return int(status), body


async def test_root_answers_200_to_get_and_head(server: tuple[str, int]) -> None:
    host, port = server
    assert host == "127.0.0.1"
    with trio.fail_after(10):
        assert await curl(f"http://{host}:{port}/") == (200, b"")
        status, headers = await curl("-I", f"http://{host}:{port}/")
    assert status == 200
    assert headers.startswith(b"HTTP/1.1 200 OK")


async def test_show_is_the_nodes_json(server: tuple[str, int]) -> None:
    host, port = server
    with trio.fail_after(10):
        status, body = await curl(f"http://{host}:{port}/show")
    assert status == 200
    shown = msgspec.json.decode(body)
    assert shown == msgspec.json.decode(msgspec.json.encode(NODE))
    assert shown["route"]["verbose"] == "/dnsaddr/localhost/tcp/5000"


async def test_head_on_show_and_unknown_paths_are_refused_as_ockam_does(
    server: tuple[str, int],
) -> None:
    host, port = server
    with trio.fail_after(10):
        assert (await curl("-I", f"http://{host}:{port}/show"))[0] == 404
        assert (await curl(f"http://{host}:{port}/nothing"))[0] == 404
        assert (await curl("-X", "POST", "-d", "x", f"http://{host}:{port}/show"))[0] == 404


async def test_metrics_are_valid_prometheus_text(server: tuple[str, int]) -> None:
    host, port = server
    with trio.fail_after(10):
        status, body = await curl(f"http://{host}:{port}/metrics")
    assert status == 200
    samples = {
        (sample.name, sample.labels.get("role", "")): sample.value
        for family in text_string_to_metric_families(body.decode())
        for sample in family.samples
        if sample.labels.get("node") == "n1"
    }
    assert samples == {
        ("ockam_portals_open", ""): 3,
        ("ockam_portal_bytes_in_total", ""): 1000,
        ("ockam_portal_bytes_out_total", ""): 2000,
        ("ockam_relays", "hosted"): 2,
        ("ockam_relays", "registered"): 1,
        ("ockam_secure_channels", ""): 4,
        ("ockam_errors_total", ""): 5,
    }


async def test_one_connection_serves_several_requests(server: tuple[str, int]) -> None:
    host, port = server
    with trio.fail_after(10):
        stream = await trio.open_tcp_stream(host, port)
        async with stream:
            request = f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
            await stream.send_all(request + request.replace(b"/ ", b"/show "))
            received = b""
            while received.count(b"HTTP/1.1 200") < 2 or not received.endswith(b"}"):
                received += await stream.receive_some(65536)
    assert received.startswith(b"HTTP/1.1 200")
    assert b'"name":"n1"' in received


async def test_garbage_gets_400_and_the_server_keeps_serving(server: tuple[str, int]) -> None:
    host, port = server
    with trio.fail_after(10):
        stream = await trio.open_tcp_stream(host, port)
        async with stream:
            await stream.send_all(b"\x00\x01 not http\r\n\r\n")
            answer = await stream.receive_some(65536)
        assert answer.startswith(b"HTTP/1.1 400")
        assert await curl(f"http://{host}:{port}/") == (200, b"")


async def test_binds_where_asked_and_frees_the_port_when_cancelled() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            server = StatusServer(node="n1", show=show, statistics=statistics, port=port)
            assert await nursery.start(server.run) == ("127.0.0.1", port)
            assert await curl(f"http://127.0.0.1:{port}/") == (200, b"")
            nursery.cancel_scope.cancel()
    with socket.socket() as probe, pytest.raises(ConnectionRefusedError):
        probe.connect(("127.0.0.1", port))


async def test_a_failing_callable_is_a_500_and_the_server_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken() -> NodeResources:
        raise RuntimeError("the node is gone")

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            server = StatusServer(node="n1", show=broken, statistics=statistics)
            host, port = await nursery.start(server.run)
            assert (await curl(f"http://{host}:{port}/show"))[0] == 500
            assert (await curl(f"http://{host}:{port}/metrics"))[0] == 200
            nursery.cancel_scope.cancel()
    assert "the node is gone" in caplog.text


async def test_metrics_without_a_source_are_left_out() -> None:
    async def few() -> NodeStatistics:
        return NodeStatistics(portals_open=1)

    with trio.fail_after(10):
        async with trio.open_nursery() as nursery:
            server = StatusServer(node="n1", show=show, statistics=few)
            host, port = await nursery.start(server.run)
            status, body = await curl(f"http://{host}:{port}/metrics")
            nursery.cancel_scope.cancel()
    assert status == 200
    names = {family.name for family in text_string_to_metric_families(body.decode())}
    assert "ockam_portals_open" in names
    assert "ockam_portal_bytes_in" not in names


def test_a_bad_port_is_refused() -> None:
    with pytest.raises(ValueError, match="65536"):
        StatusServer(node="n1", show=show, statistics=statistics, port=65536)


def test_the_error_counter_counts_errors_only() -> None:
    counter = ErrorCounter()
    logger = logging.getLogger("tests.status_server")
    logger.addHandler(counter)
    try:
        logger.warning("not counted")
        logger.error("counted")
        logger.critical("counted too")
    finally:
        logger.removeHandler(counter)
    assert counter.count == 2
