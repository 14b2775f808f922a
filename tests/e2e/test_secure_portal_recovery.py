"""The seed's portal over a secure channel through a relay, with real node processes: killing
the relay node and starting it again does not break the inlet for good."""

from __future__ import annotations

import os
import signal

import pytest
import trio

from ..transfer import data_server, echo_once
from .conftest import Ockam, free_port, pid_alive

pytestmark = pytest.mark.e2e


def secure_portal(ockam: Ockam, target_port: int) -> int:
    """n1 (outlet, relay registration), relay, n2 (secure channel to n1 through the relay, and
    an inlet into it), as in the seed; returns the inlet's port."""
    inlet_port = free_port()
    ockam.run("node", "create", "relay", f"--tcp-listener-address=127.0.0.1:{free_port()}")
    ockam.run("node", "create", "n1")
    ockam.run("tcp-outlet", "create", "--at", "n1", "--to", f"127.0.0.1:{target_port}")
    ockam.run("relay", "create", "n1", "--at", "/node/relay", "--to", "/node/n1")
    ockam.run("node", "create", "n2")
    channel = ockam.out(
        "secure-channel", "create", "--from", "/node/n2",
        "--to", "/node/relay/service/forward_to_n1/service/api",
    )  # fmt: skip
    ockam.run(
        "tcp-inlet", "create", "--at", "/node/n2", "--from", f"127.0.0.1:{inlet_port}",
        "--to", "-/service/outlet", input=channel + "\n",
    )  # fmt: skip
    return inlet_port


async def test_inlet_over_a_secure_channel_recovers_from_a_killed_relay(ockam: Ockam) -> None:
    async with data_server() as server:
        port = server.port
        inlet_port = await trio.to_thread.run_sync(lambda: secure_portal(ockam, port))

        with trio.fail_after(10):
            assert await echo_once(inlet_port) == b"ping"
        pid = await trio.to_thread.run_sync(lambda: ockam.node_pid("relay"))
        os.kill(pid, signal.SIGKILL)
        with trio.fail_after(10):
            while pid_alive(pid):
                await trio.sleep(0.05)

        await trio.to_thread.run_sync(lambda: ockam.run("node", "start", "relay"))
        # A new connection through the same inlet works within 10 s of the relay's return.
        with trio.fail_after(10):
            while await echo_once(inlet_port) != b"ping":
                await trio.sleep(0.1)
        inlets = await trio.to_thread.run_sync(
            lambda: ockam.json("tcp-inlet", "list", "--at", "n2")
        )
        assert isinstance(inlets, list)
        assert [inlet["status"] for inlet in inlets] == ["Up"]
