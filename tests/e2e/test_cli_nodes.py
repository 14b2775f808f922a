"""The `ockam` command with real node processes: nodes, TCP, messages, services, errors."""

from __future__ import annotations

import os
import re
import signal
import socket
import time

import pytest

from cli._control import encode
from cli._node import Shutdown
from cli._resource import ListResources
from transports import PROTOCOL_VERSION

from .conftest import Ockam, free_port, pid_alive, port_bound

pytestmark = pytest.mark.e2e

HEX32 = re.compile(r"[0-9a-f]{32}")


def wait_until(predicate: object, seconds: float = 10.0) -> bool:
    """Poll `predicate` (a callable) until it is true or `seconds` pass."""
    assert callable(predicate)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return bool(predicate())


def test_messages_between_two_nodes(ockam: Ockam) -> None:
    port = free_port()
    assert ockam.out("node", "create", "n1") == "/node/n1"
    assert ockam.out("node", "create", "n2", f"--tcp-listener-address=127.0.0.1:{port}")
    to_n2 = "/node/n2/service/uppercase"
    assert ockam.out("message", "send", "hello", "--from", "n1", "--to", to_n2) == "HELLO"
    assert ockam.out("message", "send", "hello", "--from", "/node/n1", "--to", to_n2) == "HELLO"
    assert ockam.out("message", "send", "hello", "--to", to_n2) == "HELLO"
    direct = f"/ip4/127.0.0.1/tcp/{port}/service/echo"
    assert ockam.out("message", "send", "Echo me", "--from", "n1", "--to", direct) == "Echo me"


def test_tcp_connections_and_listeners(ockam: Ockam) -> None:
    ockam.run("node", "create", "n1")
    ockam.run("node", "create", "n2")
    n2_port = ockam.listener_port("n2")

    created = ockam.out("tcp-connection", "create", "--from", "n1", "--to", f"127.0.0.1:{n2_port}")
    worker = HEX32.search(created)
    assert worker is not None
    assert created == f"/service/{worker.group()}"
    listed = ockam.out("tcp-connection", "list", "--node", "n1")
    assert f"127.0.0.1:{n2_port}" in listed
    assert worker.group() in listed
    shown = ockam.json("tcp-connection", "show", worker.group(), "--at", "n1")
    assert isinstance(shown, dict)
    assert shown["socket_addr"] == f"127.0.0.1:{n2_port}"
    assert shown["worker_addr"] == f"0#{worker.group()}"
    # /worker/<hex> and /service/<hex> name the same connection worker.
    for prefix in ("/worker/", "/service/"):
        route = f"{prefix}{worker.group()}/service/uppercase"
        assert ockam.out("message", "send", "hi", "--from", "n1", "--to", route) == "HI"
    ockam.run("tcp-connection", "delete", worker.group(), "--at", "n1")
    assert worker.group() not in ockam.out("tcp-connection", "list", "--at", "n1")

    extra = free_port()
    assert ockam.out("tcp-listener", "create", f"127.0.0.1:{extra}", "--at", "n2").endswith(
        f":{extra}"
    )
    assert port_bound(extra)
    assert f"127.0.0.1:{extra}" in ockam.out("tcp-listener", "list", "--at", "n2")
    route = f"/ip4/127.0.0.1/tcp/{extra}/service/uppercase"
    assert ockam.out("message", "send", "via extra", "--from", "n1", "--to", route) == "VIA EXTRA"
    ockam.run("tcp-listener", "delete", f"127.0.0.1:{extra}", "--at", "n2")
    assert wait_until(lambda: not port_bound(extra))


def test_hop_service(ockam: Ockam) -> None:
    ockam.run("node", "create", "n1")
    ockam.run("node", "create", "n2")
    ockam.run("service", "start", "hop", "--at", "n2")
    workers = ockam.out("worker", "list", "--at", "n2")
    assert "/service/hop" in workers
    reply = ockam.out(
        "message", "send", "hop hop", "--from", "n1", "--to", "/node/n2/service/hop/service/echo"
    )
    assert reply == "hop hop"


def test_delete_all_stops_processes_and_frees_ports(ockam: Ockam) -> None:
    port = free_port()
    ockam.run("node", "create", "n1", f"--tcp-listener-address=127.0.0.1:{port}")
    ockam.run("node", "create", "n2")
    pids = [ockam.node_pid("n1"), ockam.node_pid("n2")]
    ports = [port, ockam.listener_port("n2")]
    assert all(pid_alive(pid) for pid in pids)
    ockam.run("node", "delete", "--all")
    assert not any(pid_alive(pid) for pid in pids)
    assert not any(port_bound(p) for p in ports)
    assert ockam.json("node", "list") == []
    assert not (ockam.home / "nodes" / "n1").exists()


def test_killed_node_shows_stopped_and_can_be_recreated(ockam: Ockam) -> None:
    ockam.run("node", "create", "n1")
    pid = ockam.node_pid("n1")
    os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: not pid_alive(pid))
    shown = ockam.json("node", "show", "n1")
    assert isinstance(shown, dict)
    assert shown["status"] == "stopped"
    # As in Ockam, `node create` brings a dead node back (tests/e2e/test_node_lifecycle.py).
    assert ockam.out("node", "create", "n1") == "/node/n1"
    assert ockam.out("message", "send", "back", "--from", "n1", "--to", "/service/uppercase") == (
        "BACK"
    )


def test_stop_and_start_keep_the_listener(ockam: Ockam) -> None:
    ockam.run("node", "create", "n1")
    port = ockam.listener_port("n1")
    ockam.run("node", "stop", "n1")
    assert wait_until(lambda: not port_bound(port))
    ockam.run("node", "start", "n1")
    assert ockam.listener_port("n1") == port
    assert ockam.out("message", "send", "again", "--to", "/node/n1/service/uppercase") == "AGAIN"


def test_control_api_is_not_reachable_over_tcp(ockam: Ockam) -> None:
    ockam.run("node", "create", "n1")
    port = ockam.listener_port("n1")
    pid = ockam.node_pid("n1")
    before = ockam.out("worker", "list", "--at", "n1")
    # A routed message to the control service, framed exactly as a peer node would send it,
    # carrying control requests that would list connections or stop the node.
    from actors import LocalMessage, Route, local
    from transports import WireDecoder, encode_message

    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(bytes((PROTOCOL_VERSION,)))
        for request in (Shutdown(), ListResources("tcp-connection")):
            message = LocalMessage(
                Route((local("_control"),)), Route((local("spy"),)), encode(request)
            )
            sock.sendall(encode_message(message))
        sock.settimeout(1.0)
        received = b""
        try:
            while chunk := sock.recv(65536):
                received += chunk
        except TimeoutError:
            pass
    # Nothing came back but the peer's version byte, and the node is as it was.
    decoder = WireDecoder()
    assert decoder.receive_data(received) == []
    assert pid_alive(pid)
    assert ockam.out("worker", "list", "--at", "n1") == before
    assert "ignored a routed message to the control service" in ockam.out("node", "logs", "n1")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("node", "create", "bad name!"), "invalid node name"),
        (("node", "show", "nope"), "no node named 'nope'"),
        (("message", "send", "x", "--to", "/service"), "bad route"),
        (("message", "send", "x", "--to", "service/echo"), "must start with '/'"),
        (("message", "send", "x", "--to", "/node/nope/service/echo"), "no node named 'nope'"),
        (("message", "send", "x", "--from", "ghost", "--to", "/service/echo"), "ghost"),
        (("tcp-connection", "create", "--from", "n1", "--to", "nowhere"), "HOST:PORT"),
        (("relay", "create", "bad name", "--at", "/node/n1", "--to", "n1"), "invalid relay name"),
        (
            (
                "message",
                "send",
                "x",
                "--to",
                "/service/nothing",
                "--from",
                "n1",
                "--timeout",
                "0.5",
            ),
            "no worker at /service/nothing",
        ),
        (("node", "frobnicate"), "frobnicate"),
    ],
)
def test_bad_input_gets_one_line_and_nonzero_exit(
    ockam: Ockam, args: tuple[str, ...], expected: str
) -> None:
    ockam.run("node", "create", "n1")
    result = ockam.run(*args, check=False)
    assert result.returncode != 0
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0]
    assert "Traceback" not in result.stderr
    # The node is untouched by bad input.
    assert ockam.out("message", "send", "ok", "--from", "n1", "--to", "/service/uppercase") == "OK"


def test_port_in_use_is_a_clear_error(ockam: Ockam) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = ockam.run(
            "node", "create", "n1", f"--tcp-listener-address=127.0.0.1:{port}", check=False
        )
    assert result.returncode != 0
    assert "cannot listen on 127.0.0.1" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_help_describes_every_command(ockam: Ockam) -> None:
    top = ockam.out("--help")
    groups = [
        "node",
        "tcp-listener",
        "tcp-connection",
        "message",
        "service",
        "worker",
        "relay",
        "forwarder",
        "tcp-outlet",
        "tcp-inlet",
    ]
    for group in groups:
        assert group in top
        text = ockam.out(group, "--help")
        assert "Usage" in text
    for command in (
        ("node", "create"),
        ("relay", "create"),
        ("tcp-inlet", "create"),
        ("message", "send"),
        ("tcp-connection", "list"),
    ):
        text = ockam.out(*command, "--help")
        assert "--output" in text
        assert "--quiet" in text
