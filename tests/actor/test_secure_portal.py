"""A portal over a secure channel through a relay: bytes intact, the relay sees no plaintext."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

from actors import LocalMessage
from portals import Portals
from transports import open_node

from ..transfer import MARKER, MB, data_server, download, payload, upload
from .test_secure_channel import channel_route, channel_through_relay


@asynccontextmanager
async def secure_portal() -> AsyncIterator[tuple[int, list[LocalMessage]]]:
    """client (inlet) → secure channel through `relay` → server (outlet) → a data server.

    Yields the inlet's port and every message the relay node routed.
    """
    async with (
        data_server() as target,
        open_node("relay") as relay,
        open_node("server") as server,
        open_node("client") as client,
    ):
        await Portals(server).create_outlet(target=f"127.0.0.1:{target.port}")
        channel, _, crossing_relay = await channel_through_relay(client, relay, server)
        inlet = await Portals(client).create_inlet(
            bind="127.0.0.1:0", route=channel_route(channel, "outlet")
        )
        yield int(inlet.bind_addr.rpartition(":")[2]), crossing_relay


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
