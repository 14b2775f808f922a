"""Listing, showing and deleting relays, outlets and inlets; a hung node is still deleted."""

from __future__ import annotations

import os
import signal
import socket
import time

import pytest

from .conftest import Ockam, free_port, pid_alive, port_bound

pytestmark = pytest.mark.e2e


def test_relay_list_show_delete(ockam: Ockam) -> None:
    ockam.run("node", "create", "relay")
    ockam.run("node", "create", "server")
    assert ockam.out(
        "relay", "create", "server", "--at", "/node/relay", "--to", "/node/server"
    ) == ("/service/forward_to_server")
    assert ockam.out("relay", "create", "--at", "/node/relay", "--to", "server") == (
        "/service/forward_to_default"
    )
    relays = ockam.json("relay", "list", "--to", "server")
    assert isinstance(relays, list)
    # Ockam's RelayInfo: the bare remote address; the route ends at the relay worker.
    assert sorted(r["remote_address"] for r in relays) == [
        "forward_to_default",
        "forward_to_server",
    ]
    assert all(r["forwarding_route"].endswith(f"=> 0#{r['remote_address']}") for r in relays)
    shown = ockam.json("relay", "show", "server", "--at", "server")
    assert isinstance(shown, dict)
    # Ockam's RelayShowOutput: the addresses as multiaddrs, the route as relay_route.
    assert shown["remote_address"] == "/service/forward_to_server"
    assert shown["relay_route"].endswith(" => 0#forward_to_server")
    assert shown["connection_status"] == "Up"
    route = "/node/relay/service/forward_to_server/service/uppercase"
    assert ockam.out("message", "send", "up", "--to", route) == "UP"

    ockam.run("relay", "delete", "server", "--at", "server")
    remaining = ockam.json("relay", "list", "--to", "server")
    assert isinstance(remaining, list)
    assert [r["name"] for r in remaining] == ["default"]
    missing = ockam.run("relay", "show", "server", "--at", "server", check=False)
    assert missing.returncode != 0
    assert missing.returncode == 1
    assert "Relay 'server' was not found on node server" in missing.stderr


def test_outlet_and_inlet_list_show_delete(ockam: Ockam) -> None:
    ockam.run("node", "create", "n1")
    target = free_port()
    assert ockam.out("tcp-outlet", "create", "--at", "n1", "--to", str(target)) == "/service/outlet"
    assert ockam.out(
        "tcp-outlet", "create", "--at", "n1", "--from", "db", "--to", f"127.0.0.1:{target}"
    ) == ("/service/db")
    outlets = ockam.json("tcp-outlet", "list", "--at", "n1")
    assert isinstance(outlets, list)
    assert {o["worker_address"]: o["to"] for o in outlets} == {
        "/service/outlet": f"127.0.0.1:{target}",
        "/service/db": f"127.0.0.1:{target}",
    }
    shown = ockam.json("tcp-outlet", "show", "/service/db", "--at", "n1")
    assert isinstance(shown, dict)
    assert shown["worker_address"] == "/service/db"
    taken = ockam.run(
        "tcp-outlet", "create", "--at", "n1", "--from", "db", "--to", "1", check=False
    )
    assert taken.returncode != 0
    assert "/service/db" in taken.stderr
    ockam.run("tcp-outlet", "delete", "db", "--at", "n1")
    outlets = ockam.json("tcp-outlet", "list", "--at", "n1")
    assert isinstance(outlets, list)
    assert [o["worker_address"] for o in outlets] == ["/service/outlet"]

    port = free_port()
    bound = ockam.out(
        "tcp-inlet", "create", "--at", "n1", "--from", str(port), "--alias", "web",
        "--to", "/service/outlet",
    )  # fmt: skip
    assert bound == f"127.0.0.1:{port}"
    assert port_bound(port)
    inlet = ockam.json("tcp-inlet", "show", "web", "--at", "n1")
    assert isinstance(inlet, dict)
    assert inlet["alias"] == "web"
    assert inlet["bind_addr"] == f"127.0.0.1:{port}"
    assert inlet["outlet_addr"] == "/service/outlet"
    inlets = ockam.json("tcp-inlet", "list", "--at", "n1")
    assert isinstance(inlets, list)
    assert [i["alias"] for i in inlets] == ["web"]
    in_use = ockam.run(
        "tcp-inlet", "create", "--at", "n1", "--from", str(port), "--to", "/service/outlet",
        check=False,
    )  # fmt: skip
    assert in_use.returncode != 0
    assert "cannot listen on" in in_use.stderr
    ockam.run("tcp-inlet", "delete", "web", "--at", "n1")
    assert not port_bound(port)
    with socket.socket() as again:
        # As every server does (trio's listeners too): a connection the inlet accepted may
        # still be in TIME_WAIT on that port.
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))
        again.listen()


def test_a_hung_node_is_still_deleted(ockam: Ockam) -> None:
    port = free_port()
    ockam.run("node", "create", "n1", f"--tcp-listener-address=127.0.0.1:{port}")
    pid = ockam.node_pid("n1")
    os.kill(pid, signal.SIGSTOP)  # the node can no longer answer anything
    try:
        ockam.run("node", "delete", "--all", "--yes", timeout=60)
    finally:
        if pid_alive(pid):
            os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not pid_alive(pid)
    assert not port_bound(port)
    assert ockam.json("node", "list") == []


def test_a_relay_over_websocket(ockam: Ockam) -> None:
    ockam.run("node", "create", "relay")
    ockam.run("node", "create", "server")
    ws_port = free_port()
    assert ockam.out("tcp-listener", "create", f"127.0.0.1:{ws_port}", "--ws", "--at", "relay") == (
        f"127.0.0.1:{ws_port}"
    )
    listeners = ockam.json("tcp-listener", "list", "--at", "relay")
    assert isinstance(listeners, list)
    assert {(item["socket_addr"], item["type"], item["mode"]) for item in listeners} >= {
        (f"127.0.0.1:{ws_port}", "WebSocket", "Listen")
    }
    over_ws = f"/ip4/127.0.0.1/tcp/{ws_port}/ws"
    assert ockam.out("relay", "create", "server", "--at", over_ws, "--to", "server") == (
        "/service/forward_to_server"
    )
    connections = ockam.json("tcp-connection", "list", "--at", "server")
    assert isinstance(connections, list)
    assert [(c["type"], c["mode"]) for c in connections] == [("WebSocket", "Outgoing")]
    route = f"{over_ws}/service/forward_to_server/service/uppercase"
    assert ockam.out("message", "send", "through websocket", "--to", route) == "THROUGH WEBSOCKET"
    ockam.run("tcp-listener", "delete", f"127.0.0.1:{ws_port}", "--at", "relay")
    assert not port_bound(ws_port)


def test_the_seeds_odd_spellings_work_as_typed(ockam: Ockam) -> None:
    # Seed 001 prints `--tcp-listener-address=` with its value stripped; seed 004 spells
    # `ockam fowarder create`.
    assert ockam.out("node", "create", "n2", "--tcp-listener-address=") == "/node/n2"
    ockam.run("node", "create", "n1")
    assert ockam.out("fowarder", "create", "n1", "--at", "/node/n1", "--to", "/node/n2") == (
        "/service/forward_to_n1"
    )
    route = "/node/n1/service/forward_to_n1/service/uppercase"
    assert ockam.out("message", "send", "hello", "--to", route) == "HELLO"
    assert "fowarder" not in ockam.out("--help")
