"""Secure channel keepalive: idle channels stay up on heartbeats, and an end whose other end
went silent (its node died behind a relay whose connection stays up) stops, so that
`SecureChannels.refresh` can replace it."""

from __future__ import annotations

import logging

import pytest
import trio

from actors import LocalMessage, Node, route
from secure import Identity, SecureChannels, create_secure_channel
from transports import open_node
from transports.testing import open_topology

from .test_secure_channel import (
    channel_route,
    channel_workers,
    listen_behind_relay,
    spy_on,
    tcp_route,
    wait_until,
)

INTERVAL = 1.0
TIMEOUT = 3.0


def keepalive_channels(node: Node) -> SecureChannels:
    """Channels of `node` with a short keepalive."""
    return SecureChannels(
        node, Identity.generate(), keepalive_interval=INTERVAL, keepalive_timeout=TIMEOUT
    )


async def test_an_idle_channel_stays_up_on_heartbeats(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(300):
        async with open_topology(transport="memory") as topology:
            n1, n3 = topology["n1"], topology["n3"]
            near = keepalive_channels(n1)
            far = keepalive_channels(n3)
            await far.create_listener("api")
            routed_on_far = spy_on(n3)
            info = await near.create(topology.route("n1", "n3", "api", via_hop=True))
            [initiator] = channel_workers(n1)
            [responder] = channel_workers(n3)
            sent = initiator.machine.frames_sent, responder.machine.frames_sent

            await trio.sleep(100 * INTERVAL)

            assert not initiator.stopped.is_set()
            assert not responder.stopped.is_set()
            # About one heartbeat per interval each way, and each one was received
            for worker, before in ((initiator, sent[0]), (responder, sent[1])):
                assert 90 <= worker.machine.frames_sent - before <= 101
                assert worker.machine.frames_dropped == 0
            # (but the one still on its way)
            assert initiator.machine.frames_received >= responder.machine.frames_sent - 1
            assert responder.machine.frames_received >= initiator.machine.frames_sent - 1
            # No heartbeat went on past the channel end: nothing left it on the plaintext side.
            assert not [m for m in routed_on_far if responder.plaintext_address in m.return_route]
            reply = await n1.request(channel_route(info, "echo"), b"still here", timeout=5)
            assert reply.payload == b"still here"


async def test_an_end_stops_when_nothing_arrives_while_connections_stay_up(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ockam.secure")
    with trio.fail_after(300):
        async with open_topology(transport="memory") as topology:
            n1, n2, n3 = topology["n1"], topology["n2"], topology["n3"]
            near = keepalive_channels(n1)
            far = keepalive_channels(n3)
            await far.create_listener("api")
            blackhole = {"armed": False}

            def intercept(message: LocalMessage) -> LocalMessage:
                # Every encrypted frame (msgpack [3, frame]) crossing n2, either way, vanishes.
                if blackhole["armed"] and message.payload.startswith(b"\x92\x03"):
                    return LocalMessage(route("blackhole"), message.return_route, b"")
                return message

            spy_on(n2, intercept=intercept)
            await near.create(topology.route("n1", "n3", "api", via_hop=True))
            [initiator] = channel_workers(n1)
            [responder] = channel_workers(n3)
            await trio.sleep(10 * INTERVAL)
            assert not initiator.stopped.is_set()

            blackhole["armed"] = True
            start = trio.current_time()
            await wait_until(lambda: initiator.stopped.is_set() and responder.stopped.is_set())

            # The last frame arrived at most one interval before the black hole opened.
            assert TIMEOUT - INTERVAL - 0.1 <= trio.current_time() - start <= TIMEOUT + 0.1
            assert near.list() == far.list() == []
            assert n1.tcp.connections()  # the connections stayed up all along
            silent = [r for r in caplog.records if "no traffic received" in r.getMessage()]
            assert len(silent) == 2
            assert all(f"for {TIMEOUT:g} s" in r.getMessage() for r in silent)
            assert all(r.levelno == logging.WARNING for r in silent)


async def test_refresh_replaces_a_channel_whose_far_node_died_behind_a_relay() -> None:
    # Real nodes over TCP: the far node stops without a word (no aclose, so no Close), its
    # relay goes away with it, but the near node's connection to the relay node stays up.
    interval, timeout = 0.2, 1.0
    with trio.fail_after(20):
        async with open_node("yellow") as yellow, open_node("green") as green:
            to_green = tcp_route((await green.tcp.listen()).address)
            to_listener = to_green + route("forward_to_blue", "api")
            yellow_channels = SecureChannels(
                yellow, Identity.generate(), keepalive_interval=interval, keepalive_timeout=timeout
            )
            async with open_node("blue") as blue:
                await listen_behind_relay(
                    blue, to_green, keepalive_interval=interval, keepalive_timeout=timeout
                )
                info = await yellow_channels.create(to_listener)
                onward = channel_route(info, "echo")
                assert (await yellow.request(onward, b"hi", timeout=5)).payload == b"hi"
                await trio.sleep(3 * timeout)  # idle, yet up
                assert yellow_channels.list() == [info]

            with trio.fail_after(timeout + 1):
                await wait_until(lambda: not channel_workers(yellow))
            assert yellow.tcp.connections()  # to green, still up

            async with open_node("blue") as blue:
                blue_channels = await listen_behind_relay(
                    blue, to_green, keepalive_interval=interval, keepalive_timeout=timeout
                )
                fresh = await yellow_channels.refresh(onward)

                assert fresh != onward
                assert (await yellow.request(fresh, b"back", timeout=5)).payload == b"back"
                await blue_channels.aclose()


async def test_keepalive_settings_are_checked() -> None:
    identity = Identity.generate()
    with trio.fail_after(10):
        async with open_node("a") as node:
            with pytest.raises(ValueError, match="keepalive_interval must be a positive"):
                SecureChannels(node, identity, keepalive_interval=0)
            with pytest.raises(ValueError, match="keepalive_timeout must be longer"):
                SecureChannels(node, identity, keepalive_interval=2, keepalive_timeout=2)
            with pytest.raises(ValueError, match="keepalive_timeout must be longer"):
                await create_secure_channel(
                    node, route("api"), identity=identity, keepalive_timeout=1
                )
