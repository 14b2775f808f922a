"""Secure channels between nodes over loopback TCP: round trips, a relay that sees only
ciphertext, authorization, tampering, replays and closing."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import pytest
import trio

from actors import LocalMessage, Node, Route, route, start_relay
from secure import (
    KEEPALIVE_INTERVAL,
    KEEPALIVE_TIMEOUT,
    Identity,
    SecureChannelError,
    SecureChannelInfo,
    SecureChannels,
    SecureChannelWorker,
    create_secure_channel,
    resolve_secure_route,
)
from transports import NetworkNode, TcpTransport, open_node

Send = Callable[[LocalMessage], Awaitable[bool]]


def tcp_route(address: str, *names: str) -> Route:
    """The route to `names` on the node listening at `address`."""
    host, _, port = address.rpartition(":")
    return Route.parse(f"/ip4/{host}/tcp/{port}") + route(*names)


async def listen_route(node: NetworkNode, *names: str) -> Route:
    """The route to `names` on `node`, through a new TCP listener of its own."""
    return tcp_route((await node.tcp.listen()).address, *names)


def channel_route(info: SecureChannelInfo, *names: str) -> Route:
    """The route into the channel, then on to `names` on the far side."""
    return Route.parse(info.address) + route(*names)


def spy_on(
    node: Node, *, intercept: Callable[[LocalMessage], LocalMessage] | None = None
) -> list[LocalMessage]:
    """Record (and optionally rewrite) every message `node` routes from now on.

    Installed before the node has connections, so every connection worker's reader and every
    actor send through it.
    """
    seen: list[LocalMessage] = []
    original: Send = node.router.send

    async def send(message: LocalMessage) -> bool:
        if intercept is not None:
            message = intercept(message)
        seen.append(message)
        return await original(message)

    node.router.send = send  # type: ignore[method-assign]
    return seen


async def wait_until(condition: Callable[[], bool]) -> None:
    """Poll `condition` until it holds (callers bound the wait with `trio.fail_after`)."""
    while not condition():
        await trio.sleep(0.01)


async def listen_behind_relay(
    node: Node,
    to_relay: Route,
    *,
    keepalive_interval: float = KEEPALIVE_INTERVAL,
    keepalive_timeout: float = KEEPALIVE_TIMEOUT,
) -> SecureChannels:
    """`node`'s secure channel listener `api`, reachable through a relay it registers at the
    node `to_relay` leads to, as `forward_to_<node name>`."""
    channels = SecureChannels(
        node,
        Identity.generate(),
        keepalive_interval=keepalive_interval,
        keepalive_timeout=keepalive_timeout,
    )
    await channels.create_listener("api")
    await start_relay(node, at=to_relay, name=node.name)
    return channels


async def channel_through_relay(
    client: Node, relay: NetworkNode, server: Node
) -> tuple[SecureChannelInfo, SecureChannels, list[LocalMessage]]:
    """A secure channel from `client` to `server`'s listener behind a relay at `relay`.

    Returns the channel, the server's channels and every message the relay node routes.
    """
    crossing = spy_on(relay)
    to_relay = await listen_route(relay)
    server_channels = await listen_behind_relay(server, to_relay)
    info = await SecureChannels(client, Identity.generate()).create(
        to_relay + route(f"forward_to_{server.name}", "api"),
        authorized=[server_channels.identifier],
    )
    return info, server_channels, crossing


def channel_workers(node: Node) -> list[SecureChannelWorker]:
    return node.actors_of(SecureChannelWorker)


def tcp_of(channels: SecureChannels) -> TcpTransport:
    """The TCP transport of the node `channels` runs on (`two_nodes` opens network nodes)."""
    assert isinstance(channels.node, NetworkNode)
    return channels.node.tcp


@asynccontextmanager
async def two_nodes() -> AsyncIterator[tuple[SecureChannels, SecureChannels, Route]]:
    """Nodes `a` and `b`, each with an identity and a listener at `api`; the route from a to
    b's listener."""
    async with open_node("a") as a, open_node("b") as b:
        alice, bob = SecureChannels(a, Identity.generate()), SecureChannels(b, Identity.generate())
        await alice.create_listener("api")
        await bob.create_listener("api")
        listener = await b.tcp.listen()
        yield alice, bob, tcp_route(listener.address, "api")


async def test_message_through_a_channel_comes_back_uppercased() -> None:
    with trio.fail_after(10):
        async with two_nodes() as (alice, bob, to_bob):
            info = await alice.create(to_bob)

            assert info.address.startswith("/service/")
            assert len(info.address) == len("/service/") + 32
            assert info.role == "initiator"
            assert info.route == str(to_bob)
            assert info.identifier == alice.identifier
            assert info.remote_identifier == bob.identifier
            reply = await alice.node.request(channel_route(info, "uppercase"), b"hello", timeout=5)
            assert reply.payload == b"HELLO"
            # The reply came back through the channel, whose address is on its return route.
            assert reply.return_route == Route.parse(info.address) + route("uppercase")
            [responder] = bob.list()
            assert responder.role == "responder"
            assert responder.remote_identifier == alice.identifier
            assert responder.identifier == bob.identifier

            assert alice.list() == [info]
            assert alice.show(info.address) == info
            assert alice.show(info.address.removeprefix("/service/")) == info
            assert alice.show("/service/nothing") is None
            assert [listener.address for listener in alice.listeners()] == ["/service/api"]

            for n in range(20):  # many messages, both ways, same channel
                payload = f"message {n}".encode()
                echoed = await alice.node.request(channel_route(info, "echo"), payload, timeout=5)
                assert echoed.payload == payload


async def test_create_secure_channel_function_and_reuse() -> None:
    with trio.fail_after(10):
        async with two_nodes() as (alice, bob, to_bob):
            identity = Identity.generate()
            info = await create_secure_channel(
                alice.node, str(to_bob), identity=identity, authorized=[bob.identifier]
            )
            assert info.identifier == identity.identifier
            assert info.authorized == [bob.identifier]

            first = await alice.create(to_bob)
            again = await alice.create(to_bob, reuse=True)
            other = await alice.create(to_bob)
            assert again == first
            assert other.address != first.address


async def test_a_relay_in_the_middle_sees_only_ciphertext() -> None:
    secret = b"the eagle lands at midnight"
    with trio.fail_after(15):
        async with (
            open_node("yellow") as yellow,
            open_node("green") as green,
            open_node("blue") as blue,
        ):
            info, blue_channels, crossing_green = await channel_through_relay(yellow, green, blue)
            reply = await yellow.request(channel_route(info, "uppercase"), secret, timeout=5)

            assert reply.payload == secret.upper()
            assert info.remote_identifier == blue_channels.identifier
            payloads = [m.payload for m in crossing_green]
            # The handshake, the confirmation and both data frames crossed green (an encrypted
            # frame is the msgpack array [3, frame]), and none of it was readable there.
            encrypted = [p for p in payloads if p.startswith(b"\x92\x03")]
            assert len(encrypted) >= 3
            for payload in payloads:
                assert secret not in payload
                assert secret.upper() not in payload
                assert b"uppercase" not in payload


async def test_initiator_refuses_a_listener_it_does_not_authorize(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="ockam.secure")
    stranger = Identity.generate()
    with trio.fail_after(10):
        async with two_nodes() as (alice, bob, to_bob):
            with pytest.raises(SecureChannelError) as raised:
                await alice.create(to_bob, authorized=[stranger.identifier], timeout=30)

            message = str(raised.value)
            assert f"the listener's identity {bob.identifier} is not authorized" in message
            assert stranger.identifier in message
            # The listener side was told, logged it and gave up: nothing is left on either node.
            await wait_until(lambda: not channel_workers(bob.node))
            assert not channel_workers(alice.node)
            assert any(
                "initiator refused the secure channel" in r.getMessage()
                and f"identity {bob.identifier}" in r.getMessage()
                for r in caplog.records
            )


async def test_listener_refuses_an_initiator_it_does_not_authorize(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="ockam.secure")
    with trio.fail_after(10):
        async with two_nodes() as (alice, bob, _):
            [listener] = tcp_of(bob).listeners()
            picky = await bob.create_listener("picky", authorized=[Identity.generate().identifier])
            assert picky.address == "/service/picky"

            start = trio.current_time()
            with pytest.raises(SecureChannelError) as raised:
                await alice.create(tcp_route(listener.address, "picky"), timeout=30)

            assert trio.current_time() - start < 5  # a refusal, not a timeout
            message = str(raised.value)
            assert "refused the secure channel" in message
            assert f"identity {alice.identifier} is not authorized" in message
            assert any(
                "secure channel listener picky: refused identity" in r.getMessage()
                and alice.identifier in r.getMessage()
                and r.levelno == logging.WARNING
                for r in caplog.records
            )
            await wait_until(
                lambda: not channel_workers(bob.node) and not channel_workers(alice.node)
            )
            # The default listener still takes anyone.
            info = await alice.create(tcp_route(listener.address, "api"))
            assert info.remote_identifier == bob.identifier


async def test_tampered_and_replayed_frames_are_dropped_and_the_channel_keeps_working(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="ockam.secure")
    with trio.fail_after(10):
        await _tamper_and_replay(caplog)


async def _tamper_and_replay(caplog: pytest.LogCaptureFixture) -> None:
    tamper = {"armed": False}
    captured: list[LocalMessage] = []
    async with open_node("a") as a, open_node("b") as b:
        bob = SecureChannels(b, Identity.generate())
        ciphertext_addresses: set[str] = set()

        def intercept(message: LocalMessage) -> LocalMessage:
            if message.onward_route.next.value not in ciphertext_addresses:
                return message
            if not tamper["armed"]:
                captured.append(message)
                return message
            tamper["armed"] = False
            flipped = message.payload[:-1] + bytes([message.payload[-1] ^ 0x01])
            return LocalMessage(message.onward_route, message.return_route, flipped)

        spy_on(b, intercept=intercept)
        await bob.create_listener("api")
        listener = await b.tcp.listen()
        alice = SecureChannels(a, Identity.generate())
        info = await alice.create(tcp_route(listener.address, "api"))
        [responder] = channel_workers(b)
        ciphertext_addresses.add(responder.ciphertext_address.value)

        tamper["armed"] = True
        await a.send(channel_route(info, "uppercase"), b"tampered")
        await wait_until(lambda: responder.machine.frames_dropped == 1)
        assert any("dropped a frame (tampered)" in r.getMessage() for r in caplog.records)

        reply = await a.request(channel_route(info, "uppercase"), b"still here", timeout=5)
        assert reply.payload == b"STILL HERE"

        # Replaying a genuine frame: refused, and nothing reaches the service twice.
        received = responder.machine.frames_received
        await b.router.send(captured[-1])
        await wait_until(lambda: responder.machine.frames_dropped == 2)
        assert responder.machine.frames_received == received
        assert any("dropped a frame (replayed)" in r.getMessage() for r in caplog.records)
        reply = await a.request(channel_route(info, "uppercase"), b"and here", timeout=5)
        assert reply.payload == b"AND HERE"


@pytest.mark.parametrize("closing", ["initiator", "responder"])
async def test_deleting_one_end_closes_the_other(closing: str) -> None:
    with trio.fail_after(10):
        async with two_nodes() as (alice, bob, to_bob):
            info = await alice.create(to_bob)
            [responder] = bob.list()
            assert len(channel_workers(alice.node)) == len(channel_workers(bob.node)) == 1

            if closing == "initiator":
                assert alice.delete(info.address)
            else:
                assert bob.delete(responder.address)

            await wait_until(lambda: not channel_workers(alice.node))
            await wait_until(lambda: not channel_workers(bob.node))
            assert alice.list() == bob.list() == []
            assert not alice.delete(info.address)
            # The connection itself stays up: a new channel opens at once.
            assert (await alice.create(to_bob)).remote_identifier == bob.identifier


async def test_a_channel_stops_when_its_connection_goes_down() -> None:
    with trio.fail_after(10):
        async with two_nodes() as (alice, bob, to_bob):
            await alice.create(to_bob)
            [connection] = tcp_of(alice).connections()

            assert tcp_of(alice).disconnect(connection.worker)

            await wait_until(lambda: not channel_workers(alice.node))
            await wait_until(lambda: not channel_workers(bob.node))


async def test_clear_errors_when_nobody_answers() -> None:
    with trio.fail_after(10):
        async with two_nodes() as (alice, _, to_bob):
            # Right node, but no listener at that address: the handshake goes unanswered.
            no_listener = to_bob[:-1] + route("nothing-here")
            with pytest.raises(SecureChannelError, match="no secure channel listener answered"):
                await alice.create(no_listener, timeout=0.5)
            # A port nobody listens on: refused at once.
            with trio.socket.socket() as sock:
                await sock.bind(("127.0.0.1", 0))
                port = sock.getsockname()[1]
            with pytest.raises(SecureChannelError, match="cannot open a secure channel"):
                await alice.create(Route.parse(f"/ip4/127.0.0.1/tcp/{port}/service/api"))
            with pytest.raises(ValueError, match="invalid identifier"):
                await alice.create(to_bob, authorized=["Inot-an-identifier"])
            assert not channel_workers(alice.node)


async def test_a_channel_to_a_listener_on_the_same_node() -> None:
    with trio.fail_after(10):
        async with open_node("solo") as node:
            channels = SecureChannels(node, Identity.generate())
            await channels.create_listener()
            info = await channels.create(route("api"))
            reply = await node.request(channel_route(info, "uppercase"), b"loop", timeout=5)
            assert reply.payload == b"LOOP"
            assert {c.role for c in channels.list()} == {"initiator", "responder"}
            assert channels.delete(info.address)
            await wait_until(lambda: not channel_workers(node))


async def test_aclose_tells_every_other_end() -> None:
    with trio.fail_after(10):
        async with two_nodes() as (alice, bob, to_bob):
            await alice.create(to_bob)
            await alice.create(to_bob)
            assert len(channel_workers(bob.node)) == 2

            with trio.fail_after(2):  # promptly: the Close frames, not a timeout
                await bob.aclose()
                await wait_until(lambda: not channel_workers(alice.node))

            assert not channel_workers(bob.node)
            assert bob.listeners() == []
            # The connection is still up: the other ends stopped because they were told.
            assert tcp_of(alice).connections()
            await bob.aclose()  # nothing left to close


async def test_a_node_that_closes_its_channels_before_stopping_ends_them_across_a_relay() -> None:
    # Across a relay the initiator's connection (to the relay node) stays up when the
    # responder's node stops, so only the responder's Close can end the initiator's end.
    with trio.fail_after(10):
        async with open_node("yellow") as yellow, open_node("green") as green:
            to_green = await listen_route(green)
            yellow_channels = SecureChannels(yellow, Identity.generate())
            async with open_node("blue") as blue:
                blue_channels = await listen_behind_relay(blue, to_green)
                info = await yellow_channels.create(to_green + route("forward_to_blue", "api"))
                reply = await yellow.request(channel_route(info, "echo"), b"hi", timeout=5)
                assert reply.payload == b"hi"

                await blue_channels.aclose()
            with trio.fail_after(2):
                await wait_until(lambda: not channel_workers(yellow))
            assert yellow_channels.list() == []


async def test_create_bounds_the_connection_too(monkeypatch: pytest.MonkeyPatch) -> None:
    with trio.fail_after(10):
        async with two_nodes() as (alice, _, to_bob):

            async def never_connects(address: object) -> object:
                await trio.sleep_forever()  # a firewall that drops the SYN

            monkeypatch.setattr(alice.node.router, "resolve", never_connects)
            start = trio.current_time()
            with pytest.raises(SecureChannelError, match=r"no connection to .* within 0\.5 s"):
                await alice.create(to_bob, timeout=0.5)
            assert trio.current_time() - start < 2
            assert not channel_workers(alice.node)


async def test_secure_segments_in_a_route_open_or_reuse_channels() -> None:
    with trio.fail_after(10):
        async with two_nodes() as (alice, bob, to_bob):
            to_node = str(to_bob[:-1])
            text = f"{to_node}/secure/api/service/uppercase"

            onward = await resolve_secure_route(text, alice)
            [info] = alice.list()
            assert info.remote_identifier == bob.identifier
            assert onward == channel_route(info, "uppercase")
            reply = await alice.node.request(onward, b"through", timeout=5)
            assert reply.payload == b"THROUGH"
            assert await resolve_secure_route(text, alice) == onward  # reused
            assert len(alice.list()) == 1

            # A route without /secure/ needs no channels; one with it does.
            plain = f"{to_node}/service/echo"
            assert await resolve_secure_route(plain, None) == Route.parse(plain)
            with pytest.raises(SecureChannelError, match="no identity here"):
                await resolve_secure_route(text, None)
