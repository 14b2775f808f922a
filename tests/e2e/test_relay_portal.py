"""Portals through a relay, with real node processes, real clients and real servers."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

import pytest
import trio

from .conftest import Ockam, free_port, pid_alive, port_bound

pytestmark = pytest.mark.e2e

MB = 1024 * 1024


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


class DataServer:
    """The data server's port, and how many echo connections it has open right now."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.echoing = 0


@asynccontextmanager
async def data_server() -> AsyncIterator[DataServer]:
    """A TCP server on a free port: `E` echoes, `U` + bytes answers their sha256 at EOF,
    `D<n>` sends n pseudo-random bytes then their sha256 is known to the test by seed."""
    server = DataServer(0)

    async def handle(stream: trio.SocketStream) -> None:
        async with stream:
            mode = await stream.receive_some(1)
            if mode == b"E":
                server.echoing += 1
                try:
                    async for data in stream:
                        await stream.send_all(data)
                except trio.BrokenResourceError:
                    pass
                finally:
                    server.echoing -= 1
            elif mode == b"U":
                digest = hashlib.sha256()
                async for data in stream:
                    digest.update(data)
                await stream.send_all(digest.hexdigest().encode())
            elif mode == b"D":
                header = b""
                while not header.endswith(b"\n"):
                    header += await stream.receive_some(1)
                size = int(header)
                await stream.send_all(payload(size))
                await stream.send_eof()

    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    server.port = listeners[0].socket.getsockname()[1]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trio.serve_listeners, handle, listeners)
        yield server
        nursery.cancel_scope.cancel()


def payload(size: int) -> bytes:
    """Deterministic pseudo-random bytes."""
    block = hashlib.sha256(b"seed").digest() * 2048  # 64 KiB
    return (block * (size // len(block) + 1))[:size]


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


async def upload(port: int, data: bytes) -> str:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(b"U")
        view = memoryview(data)
        for start in range(0, len(data), 256 * 1024):
            await stream.send_all(view[start : start + 256 * 1024])
        await stream.send_eof()
        answer = b""
        async for chunk in stream:
            answer += chunk
    return answer.decode()


async def download(port: int, size: int) -> str:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    digest = hashlib.sha256()
    received = 0
    async with stream:
        await stream.send_all(b"D%d\n" % size)
        async for chunk in stream:
            digest.update(chunk)
            received += len(chunk)
    assert received == size
    return digest.hexdigest()


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
            assert await download(inlet_port, len(data)) == expected


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
