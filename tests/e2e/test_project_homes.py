"""A self-hosted project across three machines, each its own `OCKAM_HOME`: the admin's (who ran
`ockam enroll`; the outlet side), a member's who joined by ticket (the inlet side), and an
outsider's with the project's JSON but no membership.

The member reaches the admin's portal through the project relay; the outsider is refused a
relay at `/project/default` and the portal, each with the reason; the project node killed and
started again, the relay registers again and the portal carries traffic within 5 s, with no
other command."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio

from ..transfer import data_server, echo_once
from .conftest import Ockam, pid_alive

pytestmark = pytest.mark.e2e

PROJECT_NODE = "default-project"
THROUGH_RELAY = "/project/default/service/forward_to_server/service/outlet"
BACK_WITHIN = 5.0
"""Seconds the portal has, once the project node was started again (`node start` returned:
the node listens, its credential fetched), to carry a request."""


@pytest.fixture
def homes(tmp_path: Path) -> Iterator[tuple[Ockam, Ockam, Ockam]]:
    """Three homes (admin, member, outsider); every node of each is deleted afterwards."""
    runners = tuple(Ockam(tmp_path / name) for name in ("admin", "member", "outsider"))
    try:
        yield runners  # type: ignore[misc]
    finally:
        for runner in reversed(runners):
            runner.run("node", "delete", "--all", "--yes", check=False, timeout=120)


def refusal(ockam: Ockam, *args: str) -> str:
    """The one error line of `ockam ARGS...`, which must fail with exit status 1."""
    result = ockam.run(*args, check=False, timeout=60)
    assert result.returncode == 1, result.stdout
    assert result.stderr.count("\n") == 1, result.stderr
    return result.stderr.strip()


@asynccontextmanager
async def project_with_a_portal(
    admin: Ockam, member: Ockam, tmp_path: Path
) -> AsyncIterator[tuple[int, Path]]:
    """The admin enrolls and serves an echo server through node `server`'s outlet and relay
    at the project; the member joins by ticket and makes an inlet through the relay. Yields
    the inlet's port, once it serves, and the project's JSON file."""
    async with data_server() as server:

        def set_up() -> int:
            admin.run("enroll")
            project = tmp_path / "project.json"
            project.write_text(admin.out("project", "information", "--output", "json"))
            admin.run("node", "create", "server", "--project", str(project))
            admin.run("tcp-outlet", "create", "--at", "server", "--to", str(server.port))
            relayed = admin.out(
                "relay", "create", "server", "--at", "/project/default", "--to", "/node/server"
            )
            assert relayed == "/service/forward_to_server"
            ticket = admin.out("project", "ticket")
            joined = member.json("project", "enroll", ticket)
            assert isinstance(joined, dict)
            created = member.run("node", "create", "client", "--project", "default")
            assert created.stderr == ""  # a member: no warning
            bound = member.out(
                "tcp-inlet", "create", "--at", "client", "--from", "127.0.0.1:0",
                "--to", THROUGH_RELAY,
            )  # fmt: skip
            return int(bound.rpartition(":")[2])

        inlet_port = await trio.to_thread.run_sync(set_up)
        with trio.fail_after(10):
            assert await echo_once(inlet_port) == b"ping"
        yield inlet_port, tmp_path / "project.json"


async def test_a_member_by_ticket_reaches_the_portal_and_an_outsider_is_refused_why(
    homes: tuple[Ockam, Ockam, Ockam], tmp_path: Path
) -> None:
    admin, member, outsider = homes
    async with project_with_a_portal(admin, member, tmp_path) as (inlet_port, project):

        def outsider_tries() -> tuple[str, str, str]:
            created = outsider.run("node", "create", "x", "--project", str(project))
            relay = refusal(outsider, "relay", "create", "x", "--at", "/project/default")
            inlet = refusal(
                outsider, "tcp-inlet", "create", "--at", "x", "--from", "127.0.0.1:0",
                "--to", THROUGH_RELAY,
            )  # fmt: skip
            return created.stderr, relay, inlet

        warning, relay, inlet = await trio.to_thread.run_sync(outsider_tries)
        assert "is not a member" in warning
        for error in (relay, inlet):
            assert "is not a member of project default" in error, error
        # The refused outsider took nothing from the member: the portal still serves.
        with trio.fail_after(10):
            assert await echo_once(inlet_port) == b"ping"


async def test_the_project_node_killed_and_started_again_the_portal_serves_within_5_s(
    homes: tuple[Ockam, Ockam, Ockam], tmp_path: Path
) -> None:
    admin, member, _ = homes
    async with project_with_a_portal(admin, member, tmp_path) as (inlet_port, _):
        pid = await trio.to_thread.run_sync(lambda: admin.node_pid(PROJECT_NODE))
        os.kill(pid, signal.SIGKILL)
        with trio.fail_after(10):
            while pid_alive(pid):
                await trio.sleep(0.05)
        assert await echo_once(inlet_port, patience=0.5) != b"ping"
        await trio.to_thread.run_sync(lambda: admin.run("node", "start", PROJECT_NODE))
        # No other command: the admin's relay registers again through a fresh channel, the
        # member's inlet opens a fresh channel for its next client. Each try gets 0.5 s.
        with trio.fail_after(BACK_WITHIN):
            while await echo_once(inlet_port, patience=0.5) != b"ping":
                await trio.sleep(0.1)
        relays = await trio.to_thread.run_sync(
            lambda: admin.json("relay", "list", "--at", "server")
        )
        assert isinstance(relays, list)
        assert [(r["destination_address"], r["connection_status"]) for r in relays] == [
            ("/project/default", "Up")
        ]


async def test_an_inlet_whose_project_node_is_down_at_start_comes_back_once_it_is_up(
    homes: tuple[Ockam, Ockam, Ockam], tmp_path: Path
) -> None:
    admin, member, _ = homes
    async with project_with_a_portal(admin, member, tmp_path) as (inlet_port, _):

        def restart_client_while_the_project_node_is_down() -> None:
            admin.run("node", "stop", PROJECT_NODE)
            member.run("node", "stop", "client")
            member.run("node", "start", "client")  # its inlet cannot come back yet
            admin.run("node", "start", PROJECT_NODE)

        await trio.to_thread.run_sync(restart_client_while_the_project_node_is_down)
        # Retried in the background (after 1, 2, 4 s...): no command brings it back.
        with trio.fail_after(20):
            while await echo_or_refused(inlet_port) != b"ping":
                await trio.sleep(0.2)


async def echo_or_refused(port: int) -> bytes:
    """`echo_once`, or b"" while nothing listens on `port` (the inlet is not back yet)."""
    try:
        return await echo_once(port, patience=0.5)
    except OSError:
        return b""
