"""Portals through a relay, with real node processes, real clients and real servers."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import trio

from ..transfer import MB, data_server, download, payload, upload
from .conftest import Ockam, free_port, pid_alive, port_bound

pytestmark = pytest.mark.e2e


@contextmanager
def http_server(port: int, directory: str) -> Iterator[None]:
    """`python3 -m http.server` on 127.0.0.1:`port`, stopped by pid afterwards."""
    process = subprocess.Popen(
        [sys.executable, "-m", "http.server", "--bind", "127.0.0.1", str(port)],
        cwd=directory,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while not port_bound(port):
            assert time.monotonic() < deadline, "http.server did not start"
            time.sleep(0.05)
        yield
    finally:
        process.terminate()
        process.wait(timeout=10)


def relay_topology(ockam: Ockam, target_port: int, *, hop: bool) -> tuple[int, int]:
    """relay, server (outlet + relay registration) and client (inlet) nodes; returns the
    relay's listener port and the inlet's port."""
    relay_port = free_port()
    inlet_port = free_port()
    ockam.run("node", "create", "relay", f"--tcp-listener-address=127.0.0.1:{relay_port}")
    ockam.run("node", "create", "server")
    if hop:
        ockam.run("service", "start", "hop", "--at", "server")
    ockam.run("tcp-outlet", "create", "--at", "server", "--to", f"127.0.0.1:{target_port}")
    assert ockam.out("relay", "create", "server", "--at", "/node/relay", "--to", "/node/server")
    ockam.run("node", "create", "client")
    route = "/node/relay/service/forward_to_server" + ("/service/hop" if hop else "")
    ockam.run(
        "tcp-inlet", "create", "--at", "client", "--from", f"127.0.0.1:{inlet_port}",
        "--to", f"{route}/service/outlet",
    )  # fmt: skip
    return relay_port, inlet_port


def test_curl_through_relay_and_hop(ockam: Ockam, tmp_path: object) -> None:
    web = ockam.home.parent / "www"
    web.mkdir()
    (web / "index.html").write_text("through the relay\n")
    web_port = free_port()
    with http_server(web_port, str(web)):
        _, inlet_port = relay_topology(ockam, web_port, hop=True)
        head = subprocess.run(
            ["curl", "--silent", "--show-error", "--head", f"127.0.0.1:{inlet_port}"],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        assert head.stdout.startswith("HTTP/1.0 200 OK")
        body = subprocess.run(
            ["curl", "--silent", "--show-error", f"127.0.0.1:{inlet_port}/index.html"],
            capture_output=True, text=True, timeout=30, check=True,
        )  # fmt: skip
        assert body.stdout == "through the relay\n"


async def test_50_mb_each_way_through_a_relay(ockam: Ockam) -> None:
    data = payload(50 * MB)
    expected = hashlib.sha256(data).hexdigest()
    async with data_server() as server:
        port = server.port
        _, inlet_port = await trio.to_thread.run_sync(
            lambda: relay_topology(ockam, port, hop=False)
        )
        with trio.fail_after(240):
            assert await upload(inlet_port, data) == expected
            assert await download(inlet_port, len(data)) == (expected, len(data))


async def test_200_concurrent_connections(ockam: Ockam) -> None:
    async with data_server() as server:
        port = server.port
        _, inlet_port = await trio.to_thread.run_sync(
            lambda: relay_topology(ockam, port, hop=False)
        )
        results: dict[int, bool] = {}

        async def client(index: int) -> None:
            message = hashlib.sha256(b"%d" % index).digest() * 512  # 16 KiB, unique per client
            stream = await trio.open_tcp_stream("127.0.0.1", inlet_port)
            async with stream:
                await stream.send_all(b"E" + message)
                echoed = b""
                while len(echoed) < len(message):
                    chunk = await stream.receive_some(65536)
                    assert chunk, f"client {index}: connection closed early"
                    echoed += chunk
            results[index] = echoed == message

        with trio.fail_after(120):
            async with trio.open_nursery() as nursery:
                for index in range(200):
                    nursery.start_soon(client, index)
        assert len(results) == 200
        assert all(results.values())


async def test_relay_node_killed_and_restarted(ockam: Ockam) -> None:
    async with data_server() as server:
        port = server.port
        relay_port, inlet_port = await trio.to_thread.run_sync(
            lambda: relay_topology(ockam, port, hop=False)
        )

        async def echo_once(patience: float = 2) -> bytes:
            stream = await trio.open_tcp_stream("127.0.0.1", inlet_port)
            async with stream:
                await stream.send_all(b"Eping")
                with trio.move_on_after(patience):
                    return await stream.receive_some(100)
            return b""

        with trio.fail_after(10):
            assert await echo_once() == b"ping"
        # A transfer in flight when the relay dies ends on the client side, promptly.
        stream = await trio.open_tcp_stream("127.0.0.1", inlet_port)
        await stream.send_all(b"Ehalf")
        with trio.fail_after(10):
            assert await stream.receive_some(100) == b"half"
        pid = await trio.to_thread.run_sync(lambda: ockam.node_pid("relay"))
        os.kill(pid, signal.SIGKILL)
        with trio.fail_after(10):
            while pid_alive(pid):
                await trio.sleep(0.05)
            assert await stream.receive_some(100) == b""
            # The outlet's end closes too: the server's echo connection is gone.
            while server.echoing:
                await trio.sleep(0.05)
        await stream.aclose()
        assert not port_bound(relay_port)

        await trio.to_thread.run_sync(lambda: ockam.run("node", "start", "relay"))
        # New connections through the same inlet work within 5 s of the relay's return.
        # (A connection tried before the relay is registered again waits for an answer that
        # never comes; each try gets 0.5 s so the 5 s measure the relay, not the test.)
        with trio.fail_after(5):
            while await echo_once(patience=0.5) != b"ping":
                await trio.sleep(0.1)
