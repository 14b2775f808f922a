"""`ockam reset` with real node processes: nothing runs and nothing is left afterwards."""

from __future__ import annotations

import pytest

from .conftest import Ockam, free_port, pid_alive, port_bound

pytestmark = pytest.mark.e2e


def populate(ockam: Ockam) -> tuple[list[int], list[int]]:
    """Two nodes with a portal, an extra identity and vault; their pids and bound ports."""
    ockam.run("node", "create", "n1")
    ockam.run("node", "create", "n2")
    outlet = ockam.out("tcp-outlet", "create", "--at", "n1", "--to", f"127.0.0.1:{free_port()}")
    inlet = free_port()
    ockam.run(
        "tcp-inlet",
        "create",
        "--at",
        "n2",
        "--from",
        f"127.0.0.1:{inlet}",
        "--to",
        f"/node/n1{outlet}",
    )
    ockam.run("identity", "create", "spare")
    ockam.run("vault", "create", "v2")
    pids = [ockam.node_pid("n1"), ockam.node_pid("n2")]
    ports = [ockam.listener_port("n1"), ockam.listener_port("n2"), inlet]
    assert all(pid_alive(pid) for pid in pids)
    assert all(port_bound(port) for port in ports)
    return pids, ports


@pytest.mark.parametrize("flag", ["-y", "--yes"])
def test_reset_stops_everything_and_removes_all_state(ockam: Ockam, flag: str) -> None:
    pids, ports = populate(ockam)
    assert ockam.out("reset", flag) == "Local Ockam configuration deleted"
    assert not any(pid_alive(pid) for pid in pids)
    assert not any(port_bound(port) for port in ports)
    assert list(ockam.home.iterdir()) == []
    assert ockam.json("node", "list") == []
    # A fresh start works, with a fresh identity.
    assert ockam.out("node", "create", "n1") == "/node/n1"


def test_reset_without_yes_in_a_pipe_refuses(ockam: Ockam) -> None:
    pids, ports = populate(ockam)
    refused = ockam.run("reset", check=False)
    assert refused.returncode == 1
    assert "--yes" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert all(pid_alive(pid) for pid in pids)
    assert all(port_bound(port) for port in ports)
    listed = ockam.json("node", "list")
    assert isinstance(listed, list)
    assert {i["node_name"] for i in listed} == {"n1", "n2"}


def test_reset_with_no_state_is_fine(ockam: Ockam) -> None:
    assert ockam.out("reset", "-y") == "Local Ockam configuration deleted"
    assert not ockam.home.exists() or list(ockam.home.iterdir()) == []
