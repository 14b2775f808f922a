"""A node's portal bytes in `/metrics`: what curl downloads through a portal is counted on
both of its nodes, parsed with prometheus_client's parser."""

from __future__ import annotations

import subprocess

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .conftest import Ockam, free_port
from .test_relay_portal import http_server
from .test_status_server import curl, http_server_of

pytestmark = pytest.mark.e2e

SIZE = 300_000


def portal_bytes(ockam: Ockam, node: str) -> tuple[float, float]:
    """`node`'s (bytes in, bytes out) as its status server's `/metrics` says."""
    status, body = curl(f"http://{http_server_of(ockam, node)}/metrics")
    assert status == 200
    samples = {
        sample.name: sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
        if sample.labels.get("node") == node
    }
    return samples["ockam_portal_bytes_in_total"], samples["ockam_portal_bytes_out_total"]


def test_portal_bytes_are_counted_on_both_nodes(ockam: Ockam) -> None:
    web = ockam.home.parent / "www"
    web.mkdir()
    (web / "data.bin").write_bytes(b"x" * SIZE)
    web_port = free_port()
    with http_server(web_port, str(web)):
        ockam.run("node", "create", "server", "--http-server")
        ockam.run("node", "create", "client", "--http-server")
        assert portal_bytes(ockam, "server") == (0, 0)
        ockam.run("tcp-outlet", "create", "--at", "server", "--to", f"127.0.0.1:{web_port}")
        bind = ockam.out("tcp-inlet", "create", "--at", "client",
                         "--to", "/node/server/service/outlet")  # fmt: skip
        download = subprocess.run(
            ["curl", "--silent", "--fail", f"http://{bind}/data.bin"],
            capture_output=True, timeout=60, check=True,
        )  # fmt: skip
        assert download.stdout == b"x" * SIZE
    server_in, server_out = portal_bytes(ockam, "server")
    client_in, client_out = portal_bytes(ockam, "client")
    # The response: read by the outlet from http.server, written by the inlet to curl; the
    # request the other way. Both were whole once curl had its answer.
    assert server_in == client_out > SIZE
    assert client_in == server_out > 0
