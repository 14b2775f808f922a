"""`ockam message send` says why a message got no answer: an unknown service on the sending
node fails with its name instead of a timeout; a timeout past another node names that node's
log."""

from __future__ import annotations

import subprocess

import pytest

from .conftest import Ockam, free_port

pytestmark = pytest.mark.e2e


def _send_from_n1(ockam: Ockam, to: str, *, timeout: str) -> subprocess.CompletedProcess[str]:
    """`ockam message send hi --from n1 --to TO --timeout TIMEOUT`, expected to fail."""
    result = ockam.run(
        "message", "send", "hi", "--from", "n1", "--to", to, "--timeout", timeout, check=False
    )
    assert result.returncode == 1
    return result


def test_an_unknown_local_service_fails_naming_it(ockam: Ockam) -> None:
    ockam.run("node", "create", "n1")
    # A minute to wait: only an immediate failure (not a timeout) names the service.
    result = _send_from_n1(ockam, "/service/nosuch", timeout="60")
    assert result.stderr.strip() == "error: no worker at /service/nosuch"
    assert ockam.out("message", "send", "hi", "--from", "n1", "--to", "/service/uppercase") == (
        "HI"
    )


def test_an_unreachable_host_fails_with_the_reason(ockam: Ockam) -> None:
    ockam.run("node", "create", "n1")
    port = free_port()
    result = _send_from_n1(ockam, f"/ip4/127.0.0.1/tcp/{port}/service/echo", timeout="60")
    assert result.stderr.startswith(f"error: cannot connect to 127.0.0.1:{port}: ")


def test_a_timeout_past_another_node_names_its_log(ockam: Ockam) -> None:
    ockam.run("node", "create", "n1")
    ockam.run("node", "create", "n2")
    result = _send_from_n1(ockam, "/node/n2/service/nosuch", timeout="1")
    assert "no reply from " in result.stderr
    assert result.stderr.strip().endswith("(`ockam node logs n2`)")
    assert "no worker at /service/nosuch" in ockam.out("node", "logs", "n2")
