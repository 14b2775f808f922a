"""The HTTP status server of real node processes, asked by curl: `/`, `/show`, `/metrics`."""

from __future__ import annotations

import subprocess

import msgspec
import pytest
from prometheus_client.parser import text_string_to_metric_families

from .conftest import Ockam, free_port, port_bound

pytestmark = pytest.mark.e2e


def curl(*args: str) -> tuple[int, str]:
    """The HTTP status and body curl gets."""
    result = subprocess.run(
        ["curl", "--silent", "--output", "-", "--write-out", "\n%{http_code}", *args],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    body, _, status = result.stdout.rpartition("\n")
    return int(status), body


def http_server_of(ockam: Ockam, node: str) -> str:
    shown = ockam.json("node", "show", node)
    assert isinstance(shown, dict)
    address = shown["http_server_address"]
    assert isinstance(address, dict)
    return str(address["V4"])


def test_a_status_server_on_the_port_asked_for(ockam: Ockam) -> None:
    port = free_port()
    ockam.run("node", "create", "n1", "--http-server-port", str(port))
    assert http_server_of(ockam, "n1") == f"127.0.0.1:{port}"
    assert curl(f"http://127.0.0.1:{port}/") == (200, "")
    assert curl("--head", f"http://127.0.0.1:{port}/")[0] == 200
    # As Ockam: HEAD on /show is refused.
    assert curl("--head", f"http://127.0.0.1:{port}/show")[0] == 404

    status, body = curl(f"http://127.0.0.1:{port}/show")
    assert status == 200
    shown = msgspec.json.decode(body)
    assert shown["name"] == "n1"
    assert shown["status"] == "running"
    assert shown["http_server_address"] == {"V4": f"127.0.0.1:{port}"}
    assert shown["route"]["verbose"] == f"/dnsaddr/localhost/tcp/{ockam.listener_port('n1')}"

    ockam.run("node", "delete", "n1")
    assert not port_bound(port)


def test_metrics_count_a_nodes_relays_and_portals(ockam: Ockam) -> None:
    ockam.run("node", "create", "relay", "--http-server")
    ockam.run("node", "create", "db")
    ockam.run("tcp-outlet", "create", "--at", "db", "--to", str(free_port()))
    ockam.run("relay", "create", "db", "--at", "/node/relay", "--to", "db")
    address = http_server_of(ockam, "relay")

    status, body = curl(f"http://{address}/metrics")
    assert status == 200
    samples = {
        (sample.name, sample.labels.get("role", "")): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
        if sample.labels.get("node") == "relay"
    }
    assert samples[("ockam_relays", "hosted")] == 1
    assert samples[("ockam_relays", "registered")] == 0
    assert samples[("ockam_portals_open", "")] == 0
    assert ("ockam_errors_total", "") in samples


def test_a_node_without_a_status_server_says_null(ockam: Ockam) -> None:
    ockam.run("node", "create", "n1")
    shown = ockam.json("node", "show", "n1")
    assert isinstance(shown, dict)
    assert shown["http_server_address"] is None


def test_a_bad_port_is_one_line_and_no_node(ockam: Ockam) -> None:
    result = ockam.run("node", "create", "n1", "--http-server-port", "65536", check=False)
    assert result.returncode == 1
    assert "65536" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert ockam.json("node", "list") == []
