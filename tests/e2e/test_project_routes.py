"""`/project/NAME` in routes, with real node processes: seed 000's Elastic Relay commands as
typed (`node create --project project.json`, `forwarder create --at /project/default`, a
message and a portal through the relay), the project channel opened once and reused, the
relay and the portal back after the project node is killed and started again, the end-to-end
`/secure/api` route through the relay, and the errors of a node outside the project.

The project is assembled by hand (`_project_helpers.hand_made_project`): an authority and a
plain node as the project node."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest
import trio

from ..transfer import data_server, echo_once
from ._project_helpers import HandMadeProject, hand_made_project
from ._trust_helpers import curl, serve_http
from .conftest import Ockam, pid_alive
from .test_enrollment_cli import refused

pytestmark = pytest.mark.e2e

THROUGH_RELAY = "/project/default/service/forward_to_n3"


def project_with_n1_n3(ockam: Ockam) -> HandMadeProject:
    """The seed's start: a project whose member is the default identity, nodes n1 and n3 in
    it (`--project project.json`, then `--project default`), and n3's relay at the project."""
    ockam.out("identity", "create", "default")
    project = hand_made_project(ockam, {"default": {}})
    created = ockam.run("node", "create", "n1", "--project", str(project.file))
    assert created.stdout.strip() == "/node/n1"
    assert created.stderr == ""  # a member: no warning
    assert ockam.out("node", "create", "n3", "--project", "default") == "/node/n3"
    relay = ockam.out("forwarder", "create", "n3", "--at", "/project/default", "--to", "/node/n3")
    assert relay == "/service/forward_to_n3"
    return project


def channels_to(ockam: Ockam, node: str, port: int) -> list[object]:
    """The channels `node` opened to the listener on `port` (the project node's)."""
    listed = ockam.json("secure-channel", "list", "--at", node)
    assert isinstance(listed, list)
    return [c for c in listed if c["route"] == f"/ip4/127.0.0.1/tcp/{port}/service/api"]


def test_seed_elastic_relay_commands_as_typed(ockam: Ockam, tmp_path: Path) -> None:
    project = project_with_n1_n3(ockam)
    send = ("message", "send", "hello", "--from", "n1", "--to")
    assert ockam.out(*send, f"{THROUGH_RELAY}/service/uppercase") == "HELLO"
    assert ockam.out(*send, f"{THROUGH_RELAY}/service/uppercase") == "HELLO"
    # Opened once, reused by the second message.
    assert len(channels_to(ockam, "n1", project.port)) == 1
    relays = ockam.json("relay", "list", "--at", "n3")
    assert isinstance(relays, list)
    assert [(r["remote_address"], r["destination_address"]) for r in relays] == [
        ("forward_to_n3", "/project/default")
    ]

    root = tmp_path / "www"
    root.mkdir()
    body = os.urandom(200_000).hex()
    (root / "hello.txt").write_text(body)
    with serve_http(root, tmp_path / "http.log") as http_port:
        ockam.run("tcp-outlet", "create", "--at", "n3", "--to", f"127.0.0.1:{http_port}")
        # Through the relay; then end to end, a channel from n1 to n3 through the relay,
        # which the project node cannot read (the outlet's subject is then n1 itself).
        for route in ("/service/outlet", "/secure/api/service/outlet"):
            bound = ockam.out(
                "tcp-inlet", "create", "--at", "n1", "--from", "127.0.0.1:0",
                "--to", f"{THROUGH_RELAY}{route}",
            )  # fmt: skip
            fetched = curl(int(bound.rpartition(":")[2]))
            assert fetched.returncode == 0, fetched.stderr
            assert fetched.stdout == body
    assert len(channels_to(ockam, "n1", project.port)) == 1


def test_errors_of_routes_to_projects(ockam: Ockam) -> None:
    project_with_n1_n3(ockam)
    ockam.out("node", "create", "plain")
    assert "node plain is not in project default: create it with --project" in refused(
        ockam, "forwarder", "create", "x", "--at", "/project/default", "--to", "/node/plain"
    )
    assert "node n1 is not in project other: create it with --project" in refused(
        ockam, "message", "send", "hi", "--from", "n1", "--to", "/project/other/service/echo"
    )
    assert "node n1 is not in project other" in refused(
        ockam, "tcp-inlet", "create", "--at", "n1", "--to", "/project/other/service/outlet"
    )
    # The project node refuses a relay: its reason, in one line.
    ockam.run("tcp-outlet", "create", "--at", "p", "--from", "forward_to_taken", "--to", "1")
    assert "forward_to_taken is taken by another worker" in refused(
        ockam, "forwarder", "create", "taken", "--at", "/project/default", "--to", "/node/n3"
    )
    assert "there is no project named 'nope'" in refused(
        ockam, "node", "create", "n5", "--project", "nope"
    )
    assert "cannot read the project file" in refused(
        ockam, "node", "create", "n5", "--project", "missing.json"
    )
    # An inlet opens its project channel when it is created: no project node, no inlet.
    ockam.run("node", "stop", "p")
    assert "cannot reach project default: " in refused(
        ockam, "tcp-inlet", "create", "--at", "n1", "--to", f"{THROUGH_RELAY}/service/outlet"
    )


def test_a_node_that_is_not_a_member_starts_and_says_why(ockam: Ockam) -> None:
    project = hand_made_project(ockam, {})
    created = ockam.run("node", "create", "n9", "--project", str(project.file), "--identity", "x")
    assert created.stdout.strip() == "/node/n9"
    assert created.stderr.count("\n") == 1, created.stderr
    assert created.stderr.startswith(
        "warning: node n9 holds no member credential of project default: "
    )
    assert "is not a member" in created.stderr
    shown = ockam.json("node", "show", "n9")
    assert isinstance(shown, dict)
    assert shown["status"] == "running"


async def test_relay_and_portal_come_back_after_the_project_node_restarts(
    ockam: Ockam,
) -> None:
    async with data_server() as server:
        project = await trio.to_thread.run_sync(lambda: project_with_n1_n3(ockam))

        def inlet(route: str) -> int:
            bound = ockam.out(
                "tcp-inlet", "create", "--at", "n1", "--from", "127.0.0.1:0",
                "--to", f"{THROUGH_RELAY}{route}",
            )  # fmt: skip
            return int(bound.rpartition(":")[2])

        await trio.to_thread.run_sync(
            lambda: ockam.run("tcp-outlet", "create", "--at", "n3", "--to", str(server.port))
        )
        inlet_port = await trio.to_thread.run_sync(inlet, "/service/outlet")
        # End to end: n1's channel to n3 rides its channel to the project node.
        e2e_port = await trio.to_thread.run_sync(inlet, "/secure/api/service/outlet")

        with trio.fail_after(10):
            assert await echo_once(inlet_port) == b"ping"
            assert await echo_once(e2e_port) == b"ping"
        pid = await trio.to_thread.run_sync(lambda: ockam.node_pid(project.node))
        os.kill(pid, signal.SIGKILL)
        with trio.fail_after(10):
            while pid_alive(pid):
                await trio.sleep(0.05)
        await trio.to_thread.run_sync(lambda: ockam.run("node", "start", project.node))
        # With no other command: the relay registers again through a fresh channel, and a
        # new client of the same inlet reaches the outlet.
        # (Each try gets 0.5 s, so that the 5 s measure the relay, not the test.)
        with trio.fail_after(5):
            while await echo_once(inlet_port, patience=0.5) != b"ping":
                await trio.sleep(0.1)
        # Its end-to-end channel opens again through the new channel to the project node.
        with trio.fail_after(5):
            while await echo_once(e2e_port, patience=0.5) != b"ping":
                await trio.sleep(0.1)
        relays = await trio.to_thread.run_sync(lambda: ockam.json("relay", "list", "--at", "n3"))
        assert isinstance(relays, list)
        assert [r["connection_status"] for r in relays] == ["Up"]

        # n3 started again replays its relay with the text it was given.
        await trio.to_thread.run_sync(lambda: ockam.run("node", "stop", "n3"))
        await trio.to_thread.run_sync(lambda: ockam.run("node", "start", "n3"))
        with trio.fail_after(10):
            while await echo_once(inlet_port) != b"ping":
                await trio.sleep(0.1)
        relays = await trio.to_thread.run_sync(lambda: ockam.json("relay", "list", "--at", "n3"))
        assert isinstance(relays, list)
        assert [(r["destination_address"], r["connection_status"]) for r in relays] == [
            ("/project/default", "Up")
        ]
