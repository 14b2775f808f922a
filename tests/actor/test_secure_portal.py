"""A portal over a secure channel through a relay: bytes intact, the relay sees no plaintext."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from actors import LocalMessage, open_node, route, start_relay
from portals import Portals
from secure import Identity, SecureChannels

from .test_secure_channel import channel_route, spy_on, tcp_route

MB = 1024 * 1024
MARKER = b"<<plaintext that must never cross the relay>>"


def payload(size: int) -> bytes:
    """`size` bytes: pseudo-random blocks, each followed by `MARKER`."""
    block = hashlib.sha256(b"block").digest() * 64 + MARKER  # about 2 KiB
    return (block * (size // len(block) + 1))[:size]


async def _sink_and_source(stream: trio.SocketStream) -> None:
    """`U` + bytes: answers their sha256 at EOF; `D<n>\\n`: sends `payload(n)`."""
    async with stream:
        mode = await stream.receive_some(1)
        if mode == b"U":
            digest = hashlib.sha256()
            async for data in stream:
                digest.update(data)
            await stream.send_all(digest.hexdigest().encode())
        elif mode == b"D":
            header = b""
            while not header.endswith(b"\n"):
                header += await stream.receive_some(1)
            await stream.send_all(payload(int(header)))


@asynccontextmanager
async def secure_portal() -> AsyncIterator[tuple[int, list[LocalMessage]]]:
    """client (inlet) → secure channel through `relay` → server (outlet) → a data server.

    Yields the inlet's port and every message the relay node routed.
    """
    async with trio.open_nursery() as nursery:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        target = listeners[0].socket.getsockname()[1]
        nursery.start_soon(trio.serve_listeners, _sink_and_source, listeners)
        async with (
            open_node("relay") as relay,
            open_node("server") as server,
            open_node("client") as client,
        ):
            crossing_relay = spy_on(relay)
            assert relay.tcp is not None
            relay_listener = await relay.tcp.listen()
            to_relay = tcp_route(relay_listener.address)
            server_channels = SecureChannels(server, Identity.generate())
            await server_channels.create_listener("api")
            await Portals(server).create_outlet(target=f"127.0.0.1:{target}")
            await start_relay(server, at=to_relay, name="server")
            channel = await SecureChannels(client, Identity.generate()).create(
                to_relay + route("forward_to_server", "api"),
                authorized=[server_channels.identifier],
            )
            inlet = await Portals(client).create_inlet(
                bind="127.0.0.1:0", route=channel_route(channel, "outlet")
            )
            yield int(inlet.bind_addr.rpartition(":")[2]), crossing_relay
        nursery.cancel_scope.cancel()


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


async def download(port: int, size: int) -> tuple[str, int]:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    digest = hashlib.sha256()
    received = 0
    async with stream:
        await stream.send_all(b"D%d\n" % size)
        while received < size:
            chunk = await stream.receive_some(256 * 1024)
            assert chunk, "the portal closed before the download was complete"
            digest.update(chunk)
            received += len(chunk)
    return digest.hexdigest(), received


async def test_50_mb_each_way_over_a_secure_channel_through_a_relay() -> None:
    data = payload(50 * MB)
    expected = hashlib.sha256(data).hexdigest()
    with trio.fail_after(120):
        async with secure_portal() as (port, _):
            assert await upload(port, data) == expected
            assert await download(port, len(data)) == (expected, len(data))


async def test_the_relay_sees_no_plaintext_of_a_portal_transfer() -> None:
    data = payload(2 * MB)
    with trio.fail_after(60):
        async with secure_portal() as (port, crossing_relay):
            assert await upload(port, data) == hashlib.sha256(data).hexdigest()
            assert (await download(port, len(data)))[1] == len(data)
            # Every message the relay node routed, payloads and routes alike.
            assert len(crossing_relay) > 2 * len(data) // (64 * 1024)
            for message in crossing_relay:
                assert MARKER not in message.payload
                assert MARKER[:16] not in message.payload
                assert b"outlet" not in message.payload
