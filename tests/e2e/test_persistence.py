"""A node's resources live in the state database: a node stopped, or killed with SIGKILL, and
started again brings back its outlets, inlets, relays, listeners and services, and a portal
through a relay carries traffic again without any other command."""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import trio

from .conftest import Ockam, free_port, pid_alive, port_bound
from .test_relay_portal import http_server

pytestmark = pytest.mark.e2e

BACK_WITHIN = 5.0
"""Seconds a portal has, once its node was started again, to carry a request."""


def portal_through_relay(ockam: Ockam, web_port: int) -> int:
    """Nodes relay, server (outlet to `web_port`, relay at relay) and client (inlet through
    the relay); returns the inlet's port."""
    ockam.run("node", "create", "relay")
    ockam.run("node", "create", "server")
    ockam.run("tcp-outlet", "create", "--at", "server", "--to", f"127.0.0.1:{web_port}")
    ockam.run("relay", "create", "server", "--at", "/node/relay", "--to", "/node/server")
    ockam.run("node", "create", "client")
    route = "/node/relay/service/forward_to_server/service/outlet"
    bind = ockam.out("tcp-inlet", "create", "--at", "client", "--to", route)
    return int(bind.rpartition(":")[2])


async def curl(port: int) -> str | None:
    """The body `curl` gets from the inlet on `port`, or None when it gets none."""
    result = await trio.run_process(
        ["curl", "--silent", "--max-time", "2", f"http://127.0.0.1:{port}/index.html"],
        capture_stdout=True,
        check=False,
    )
    return result.stdout.decode() if result.returncode == 0 else None


async def served_again(port: int) -> str:
    """What curl gets through the inlet on `port`, polled until it gets a body; the test
    fails unless one comes within BACK_WITHIN seconds."""
    with trio.fail_after(BACK_WITHIN):
        while (body := await curl(port)) is None:
            await trio.sleep(0.1)
    return body


def kill(ockam: Ockam, node: str) -> None:
    """SIGKILL node `node`'s process, and wait until it is gone."""
    pid = ockam.node_pid(node)
    os.kill(pid, signal.SIGKILL)

    async def gone() -> None:
        with trio.fail_after(10):
            while pid_alive(pid):
                await trio.sleep(0.05)

    trio.run(gone)


def served_within(port: int) -> str:
    """`served_again`, from a synchronous test."""
    return trio.run(served_again, port)


def rows(ockam: Ockam, node: str) -> list[tuple[str, str]]:
    """The (kind, key) rows the state database holds for `node`."""
    with sqlite3.connect(ockam.home / "database.sqlite3") as db:
        found = db.execute(
            "SELECT kind, key FROM node_resources WHERE node = ? ORDER BY kind", (node,)
        ).fetchall()
    return [(kind, key) for kind, key in found]


@contextmanager
def taken(port: int) -> Iterator[None]:
    """Port `port` of 127.0.0.1 listened on by this test (an inlet's, the node down)."""
    with socket.socket() as taker:
        # An earlier portal's connection may linger in TIME_WAIT on the port.
        taker.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        taker.bind(("127.0.0.1", port))
        taker.listen()
        yield


@pytest.fixture
def web(ockam: Ockam) -> Iterator[int]:
    """`python3 -m http.server` serving an index.html; yields its port."""
    directory = ockam.home.parent / "www"
    directory.mkdir()
    (directory / "index.html").write_text("persisted\n")
    port = free_port()
    with http_server(port, str(directory)):
        yield port


RESOURCES = (("tcp-outlet", "server"), ("relay", "server"), ("tcp-inlet", "client"))
"""What `portal_through_relay` makes, by kind, and the node each is on."""


def listed(ockam: Ockam, what: str, node: str) -> list[dict[str, object]]:
    """`ockam WHAT list --at NODE --output json`, but for the worker address of a relay
    client (a new worker once the node restarted: a relay's client is not its name)."""
    items = ockam.json(what, "list", "--at", node)
    assert isinstance(items, list)
    if what == "relay":
        return [{k: v for k, v in item.items() if k != "worker_address"} for item in items]
    return items


def test_stop_then_start_brings_back_outlets_inlets_relays_listeners_services(
    ockam: Ockam, web: int
) -> None:
    inlet_port = portal_through_relay(ockam, web)
    assert served_within(inlet_port) == "persisted\n"
    extra = ockam.out("tcp-listener", "create", "127.0.0.1:0", "--at", "server")
    ockam.run("service", "start", "echo", "--at", "server", "--addr", "my_echo")
    before = {what: listed(ockam, what, node) for what, node in RESOURCES}
    for node in ("server", "client"):
        ockam.run("node", "stop", node)
    for node in ("server", "client"):
        ockam.run("node", "start", node)
    assert served_within(inlet_port) == "persisted\n"
    for what, node in RESOURCES:
        assert listed(ockam, what, node) == before[what], what
    listeners = ockam.out("tcp-listener", "list", "--at", "server")
    assert extra.rpartition(":")[2] in listeners
    services = ockam.json("service", "list", "--at", "server")
    assert isinstance(services, list)
    assert "my_echo" in str(services)
    message = ockam.out("message", "send", "hi", "--to", "/node/server/service/my_echo")
    assert message == "hi"


def test_kill_9_of_either_end_and_start_brings_the_portal_back(ockam: Ockam, web: int) -> None:
    inlet_port = portal_through_relay(ockam, web)
    assert served_within(inlet_port) == "persisted\n"

    kill(ockam, "server")
    ockam.run("node", "start", "server")
    # Nothing but `node start`: the outlet serves, the relay registers again, and the
    # client's inlet, which never stopped, reaches the new outlet through it.
    assert served_within(inlet_port) == "persisted\n"
    assert [o["to"] for o in listed(ockam, "tcp-outlet", "server")] == [f"127.0.0.1:{web}"]
    relays = listed(ockam, "relay", "server")
    assert [r["remote_address"] for r in relays] == ["forward_to_server"]

    kill(ockam, "client")
    ockam.run("node", "start", "client")
    assert served_within(inlet_port) == "persisted\n"
    inlets = listed(ockam, "tcp-inlet", "client")
    assert [i["bind_addr"] for i in inlets] == [f"127.0.0.1:{inlet_port}"]


def test_kill_9_then_create_brings_the_portal_back_too(ockam: Ockam, web: int) -> None:
    inlet_port = portal_through_relay(ockam, web)
    assert served_within(inlet_port) == "persisted\n"

    for node in ("server", "client"):
        kill(ockam, node)
        ockam.run("node", "create", node)  # as Ockam: create on a dead node starts it again
        assert served_within(inlet_port) == "persisted\n"
    assert [o["to"] for o in listed(ockam, "tcp-outlet", "server")] == [f"127.0.0.1:{web}"]
    assert [r["remote_address"] for r in listed(ockam, "relay", "server")] == ["forward_to_server"]
    assert [i["bind_addr"] for i in listed(ockam, "tcp-inlet", "client")] == [
        f"127.0.0.1:{inlet_port}"
    ]


def test_a_relay_whose_relay_node_is_down_comes_back_once_it_is_up(ockam: Ockam, web: int) -> None:
    inlet_port = portal_through_relay(ockam, web)
    # As after a reboot where the relay node starts last.
    ockam.run("node", "stop", "relay")
    ockam.run("node", "stop", "server")
    ockam.run("node", "start", "server")
    logged = ockam.out("node", "logs", "server")
    assert "could not restore relay 'server' on node server:" in logged
    assert "trying again in the background" in logged
    ockam.run("node", "start", "relay")

    async def relayed_again() -> str:
        # A bound for the test, not a promise of the product: the retries back off to 15 s.
        with trio.fail_after(60):
            while (body := await curl(inlet_port)) is None:
                await trio.sleep(0.2)
        return body

    assert trio.run(relayed_again) == "persisted\n"
    relays = listed(ockam, "relay", "server")
    assert [r["remote_address"] for r in relays] == ["forward_to_server"]


def test_a_resource_that_cannot_come_back_is_logged_and_the_node_starts(
    ockam: Ockam, web: int
) -> None:
    ockam.run("node", "create", "n")
    ockam.run("tcp-outlet", "create", "--at", "n", "--to", f"127.0.0.1:{web}")
    bind = ockam.out("tcp-inlet", "create", "--at", "n", "--alias", "web",
                     "--to", "/node/n/service/outlet")  # fmt: skip
    port = int(bind.rpartition(":")[2])
    ockam.run("node", "stop", "n")
    with taken(port):  # while the node is down
        ockam.run("node", "start", "n")
        logged = ockam.out("node", "logs", "n")
        assert "could not restore tcp-inlet 'web' on node n:" in logged
        assert ockam.json("tcp-inlet", "list", "--at", "n") == []
        outlets = ockam.json("tcp-outlet", "list", "--at", "n")
        assert isinstance(outlets, list)
        assert len(outlets) == 1
    # Its row stays: once the port is free, the next start brings the inlet back.
    assert ("tcp-inlet", "web") in rows(ockam, "n")
    ockam.run("node", "stop", "n")
    ockam.run("node", "start", "n")
    assert served_within(port) == "persisted\n"
    # An inlet that did not come back can still be deleted: its row goes.
    ockam.run("node", "stop", "n")
    with taken(port):
        ockam.run("node", "start", "n")
    ockam.run("tcp-inlet", "delete", "web", "--at", "n")
    assert ("tcp-inlet", "web") not in rows(ockam, "n")
    assert ockam.run("tcp-inlet", "delete", "web", "--at", "n", check=False).returncode == 1


def test_delete_forgets_and_node_delete_removes_the_rows(ockam: Ockam, web: int) -> None:
    ockam.run("node", "create", "n")
    ockam.run("tcp-outlet", "create", "--at", "n", "--to", f"127.0.0.1:{web}", "--from", "db")
    ockam.run("tcp-outlet", "create", "--at", "n", "--to", f"127.0.0.1:{web}", "--from", "web")
    ockam.run("tcp-inlet", "create", "--at", "n", "--alias", "i", "--to", "/node/n/service/db")
    ockam.run("relay", "create", "n", "--at", "/node/n", "--to", "/node/n")
    assert rows(ockam, "n") == [
        ("relay", "n"),
        ("tcp-inlet", "i"),
        ("tcp-outlet", "db"),
        ("tcp-outlet", "web"),
    ]
    ockam.run("tcp-outlet", "delete", "/service/db", "--at", "n")
    ockam.run("relay", "delete", "n", "--at", "n")
    assert rows(ockam, "n") == [("tcp-inlet", "i"), ("tcp-outlet", "web")]
    ockam.run("node", "stop", "n")
    ockam.run("node", "start", "n")
    assert ockam.json("relay", "list", "--at", "n") == []
    assert rows(ockam, "n") == [("tcp-inlet", "i"), ("tcp-outlet", "web")]
    ockam.run("node", "delete", "n", "--yes")
    assert rows(ockam, "n") == []
    # A new node of the same name starts with nothing of the old one's.
    ockam.run("node", "create", "n")
    assert ockam.json("tcp-outlet", "list", "--at", "n") == []


def test_a_status_server_comes_back_on_its_port(ockam: Ockam) -> None:
    ockam.run("node", "create", "n", "--http-server")
    shown = ockam.json("node", "show", "n")
    assert isinstance(shown, dict)
    address = shown["http_server_address"]
    assert isinstance(address, dict)
    port = int(str(address["V4"]).rpartition(":")[2])
    kill(ockam, "n")
    assert not port_bound(port)
    ockam.run("node", "start", "n")
    assert port_bound(port)
    assert ockam.json("node", "show", "n")["http_server_address"] == address  # type: ignore[index]
    ockam.run("node", "stop", "n")
    ockam.run("node", "start", "n")
    assert port_bound(port)


def test_listeners_and_connections_come_back_and_are_forgotten_by_any_key(ockam: Ockam) -> None:
    ockam.run("node", "create", "a")
    ockam.run("node", "create", "b")
    peer = f"127.0.0.1:{ockam.listener_port('b')}"
    worker = ockam.out("tcp-connection", "create", "--from", "a", "--to", peer)
    listener = ockam.out("tcp-listener", "create", "127.0.0.1:0", "--at", "a")
    assert rows(ockam, "a") == [
        ("tcp-connection", worker.removeprefix("/service/")),
        ("tcp-listener", listener),
    ]
    ockam.run("node", "stop", "a")
    ockam.run("node", "start", "a")
    # The connection is back under a new worker address, and its row's key follows.
    (line,) = ockam.out("tcp-connection", "list", "--at", "a").splitlines()
    again, mode, to = line.split()
    assert (mode, to) == ("outgoing", peer)
    assert again != worker
    assert rows(ockam, "a") == [
        ("tcp-connection", again.removeprefix("/service/")),
        ("tcp-listener", listener),
    ]
    listeners = ockam.out("tcp-listener", "list", "--at", "a").splitlines()
    (listener_worker,) = [w for w, address, _ in map(str.split, listeners) if address == listener]
    ockam.run("tcp-listener", "delete", listener_worker, "--at", "a")
    ockam.run("tcp-connection", "delete", again, "--from", "a")
    assert rows(ockam, "a") == []


def test_a_secure_channel_listener_comes_back_and_is_forgotten_when_deleted(
    ockam: Ockam,
) -> None:
    ockam.run("node", "create", "a")
    ockam.run("node", "create", "b")
    (b_api,) = listed(ockam, "secure-channel-listener", "b")
    b = str(b_api["identifier"])
    ockam.run("secure-channel-listener", "create", "only_b", "--at", "a", "--authorized", b)
    ockam.run("node", "stop", "a")
    ockam.run("node", "start", "a")
    assert rows(ockam, "a") == [("secure-channel-listener", "only_b")]
    listeners = listed(ockam, "secure-channel-listener", "a")
    (only_b,) = [item for item in listeners if "only_b" in str(item["address"])]
    assert only_b["authorized"] == [b]
    # The listener that came back accepts b's channel and serves through it.
    channel = ockam.out("secure-channel", "create", "--from", "b", "--to", "/node/a/service/only_b")
    assert (
        ockam.out("message", "send", "hi", "--from", "b", "--to", f"{channel}/service/echo") == "hi"
    )
    ockam.run("secure-channel-listener", "delete", "only_b", "--at", "a", "--yes")
    assert rows(ockam, "a") == []
