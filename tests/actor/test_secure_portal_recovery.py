"""An inlet over a secure channel through a relay outlives the relay node: once the relay is
back, the inlet's next client gets a new channel (`SecureChannels.refresh`). And
`SecureChannels.refresh` itself."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import trio

import secure._channels
from actors import Node, local, route
from portals import Portals
from secure import Identity, SecureChannelError, SecureChannels
from transports import open_node

from .test_secure_channel import (
    channel_route,
    listen_behind_relay,
    tcp_route,
    two_nodes,
    wait_until,
)

RELAY = local("forward_to_server")


async def _echo(stream: trio.SocketStream) -> None:
    async with stream:
        try:
            async for data in stream:
                await stream.send_all(data)
        except trio.BrokenResourceError:
            pass


class RelayNode:
    """A relay node run in its own cancel scope, so a test can stop it and start another."""

    def __init__(self) -> None:
        self.scope = trio.CancelScope()
        self.done = trio.Event()
        self.port = 0

    async def run(self, port: int, *, task_status: trio.TaskStatus[Node]) -> None:
        try:
            with self.scope:
                async with open_node("relay") as relay:
                    listener = await relay.tcp.listen(f"127.0.0.1:{port}")
                    self.port = int(listener.address.rpartition(":")[2])
                    task_status.started(relay)
                    await trio.sleep_forever()
        finally:
            self.done.set()

    async def stop(self) -> None:
        self.scope.cancel()
        await self.done.wait()


@asynccontextmanager
async def recoverable_portal(
    *, refresh: bool, ping_timeout: float = 10
) -> AsyncIterator[tuple[int, RelayNode, trio.Nursery]]:
    """client (inlet) → secure channel through `relay` → server (outlet) → an echo server.

    Yields the inlet's port, the relay node's runner and a nursery to start a new one in.
    """
    async with trio.open_nursery() as nursery:
        listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
        target = listeners[0].socket.getsockname()[1]
        nursery.start_soon(trio.serve_listeners, _echo, listeners)
        runner = RelayNode()
        await nursery.start(runner.run, 0)
        async with open_node("server") as server, open_node("client") as client:
            to_relay = tcp_route(f"127.0.0.1:{runner.port}")
            server_channels = await listen_behind_relay(server, to_relay)
            await Portals(server).create_outlet(target=f"127.0.0.1:{target}")
            client_channels = SecureChannels(client, Identity.generate())
            channel = await client_channels.create(
                to_relay + route("forward_to_server", "api"),
                authorized=[server_channels.identifier],
            )
            inlet = await Portals(client).create_inlet(
                bind="127.0.0.1:0",
                route=channel_route(channel, "outlet"),
                ping_timeout=ping_timeout,
                refresh=client_channels.refresh if refresh else None,
            )
            yield int(inlet.bind_addr.rpartition(":")[2]), runner, nursery
        nursery.cancel_scope.cancel()


async def echo_once(port: int, data: bytes = b"ping") -> bytes:
    """What comes back of `data` through the inlet, or b"" if the portal closed."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    received = b""
    async with stream:
        try:
            await stream.send_all(data)
            while len(received) < len(data):
                chunk = await stream.receive_some(100)
                if not chunk:
                    break
                received += chunk
        except trio.BrokenResourceError:
            pass  # the inlet reset the connection
    return received


async def restart_relay(runner: RelayNode, nursery: trio.Nursery) -> Node:
    """Stop the relay node, start a new one on the same port, wait for the server's relay."""
    port = runner.port
    await runner.stop()
    again = RelayNode()
    new_relay: Node = await nursery.start(again.run, port)
    assert again.port == port
    with trio.fail_after(10):
        await wait_until(lambda: new_relay.router.is_registered(RELAY))
    return new_relay


async def test_inlet_serves_new_clients_once_the_relay_node_is_back() -> None:
    async with recoverable_portal(refresh=True) as (port, runner, nursery):
        with trio.fail_after(10):
            assert await echo_once(port) == b"ping"
        await restart_relay(runner, nursery)
        with trio.fail_after(10):
            assert await echo_once(port, b"after the restart") == b"after the restart"
            # Later clients use the new channel at once.
            assert await echo_once(port, b"and again") == b"and again"


async def test_without_refresh_the_inlet_keeps_its_dead_channel() -> None:
    async with recoverable_portal(refresh=False, ping_timeout=1) as (port, runner, nursery):
        with trio.fail_after(10):
            assert await echo_once(port) == b"ping"
        await restart_relay(runner, nursery)
        with trio.fail_after(10):
            assert await echo_once(port) == b""


async def test_refresh_keeps_a_route_into_a_live_channel() -> None:
    with trio.fail_after(20):
        async with two_nodes() as (alice, _, to_bob):
            channel = await alice.create(to_bob)
            into = channel_route(channel, "echo")
            assert await alice.refresh(into) == into


async def test_refresh_keeps_a_route_that_starts_with_no_channel() -> None:
    with trio.fail_after(20):
        async with two_nodes() as (alice, _, to_bob):
            await alice.create(to_bob)
            for unchanged in (route("echo"), to_bob, route()):
                assert await alice.refresh(unchanged) == unchanged


async def test_refresh_replaces_an_ended_channel_once() -> None:
    with trio.fail_after(20):
        async with two_nodes() as (alice, bob, to_bob):
            channel = await alice.create(to_bob, authorized=[bob.identifier])
            into = channel_route(channel, "uppercase")
            assert alice.delete(channel.address)
            await wait_until(lambda: alice.show(channel.address) is None)
            refreshed = await alice.refresh(into)
            assert refreshed != into
            assert refreshed[1:] == into[1:]
            new = alice.show(f"/service/{refreshed.next.value}")
            assert new is not None
            assert new.route == channel.route
            assert new.authorized == [bob.identifier]
            reply = await alice.node.request(refreshed, b"hello")
            assert reply.payload == b"HELLO"
            # The old route now maps to the new channel: no other channel is opened.
            assert await alice.refresh(into) == refreshed
            assert len([c for c in alice.list() if c.role == "initiator"]) == 1


async def test_refresh_follows_replacements_that_ended_too() -> None:
    with trio.fail_after(20):
        async with two_nodes() as (alice, _, to_bob):
            channel = await alice.create(to_bob)
            into = channel_route(channel, "echo")
            alice.delete(channel.address)
            await wait_until(lambda: alice.show(channel.address) is None)
            second = await alice.refresh(into)
            alice.delete(second.next)
            await wait_until(lambda: alice.show(second.next) is None)
            third = await alice.refresh(into)
            assert third.next not in (into.next, second.next)
            assert (await alice.node.request(third, b"x")).payload == b"x"
            assert await alice.refresh(second) == third


async def test_refresh_raises_when_the_channel_cannot_be_opened_again() -> None:
    with trio.fail_after(20):
        async with two_nodes() as (alice, bob, to_bob):
            channel = await alice.create(to_bob, timeout=0.5)
            bob.delete_listener("api")
            alice.delete(channel.address)
            await wait_until(lambda: alice.show(channel.address) is None)
            with pytest.raises(SecureChannelError):
                await alice.refresh(channel_route(channel, "echo"))


async def test_refresh_forgets_the_oldest_ended_channels(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(secure._channels, "ENDED_KEPT", 1)
    with trio.fail_after(20):
        async with two_nodes() as (alice, _, to_bob):
            routes = []
            for _ in range(3):
                channel = await alice.create(to_bob)
                routes.append(channel_route(channel, "echo"))
                alice.delete(channel.address)
                await wait_until(lambda: alice.show(channel.address) is None)  # noqa: B023
            await alice.create(to_bob)  # remembering it forgets all but the last ended one
            assert await alice.refresh(routes[0]) == routes[0]
            assert await alice.refresh(routes[1]) == routes[1]
            assert await alice.refresh(routes[2]) != routes[2]
