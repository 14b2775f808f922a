"""`/project/NAME` segments over loopback TCP: a channel to the project node along the first
access route that opens, reused; and what keeps working when a channel ends (a relay
registered through it, a channel opened through it)."""

from __future__ import annotations

import pytest
import trio

from actors import OckamError, Route, RouteError, route, start_relay
from secure import ProjectAccess, SecureChannelError, resolve_secure_route

from .test_secure_channel import two_nodes

CLOSED = "/ip4/127.0.0.1/tcp/1/service/api"
"""An access route nothing answers on."""


class NotInProject(OckamError):
    pass


async def test_a_project_segment_opens_one_channel_along_the_first_route_that_works() -> None:
    with trio.fail_after(10):
        async with two_nodes() as (alice, bob, to_bob):
            project = ProjectAccess("default", bob.identifier, (CLOSED, str(to_bob)))

            def lookup(name: str) -> ProjectAccess:
                if name != "default":
                    raise NotInProject(f"not in project {name}")
                return project

            text = "/project/default/service/uppercase"
            onward = await resolve_secure_route(text, alice, projects=lookup)
            reply = await alice.node.request(onward, b"hello", timeout=5)
            assert reply.payload == b"HELLO"
            assert await resolve_secure_route(text, alice, projects=lookup) == onward  # reused
            [info] = alice.list()
            assert (info.route, info.authorized) == (str(to_bob), [bob.identifier])

            # End to end through it: a second channel, opened through the first.
            inner = await resolve_secure_route(
                "/project/default/secure/api/service/echo", alice, projects=lookup
            )
            assert len(alice.list()) == 2
            assert (await alice.node.request(inner, b"x", timeout=5)).payload == b"x"

            with pytest.raises(NotInProject, match="not in project other"):
                await resolve_secure_route("/project/other", alice, projects=lookup)
            with pytest.raises(RouteError, match="must come first"):
                await resolve_secure_route("/service/a/project/default", alice, projects=lookup)
            with pytest.raises(RouteError, match="there is no project here"):
                await resolve_secure_route(text, alice)


async def test_a_project_that_proves_another_identity_is_not_reached() -> None:
    with trio.fail_after(20):
        async with two_nodes() as (alice, _bob, to_bob):
            impostor = ProjectAccess("default", alice.identifier, (CLOSED, str(to_bob)))
            with pytest.raises(SecureChannelError, match="cannot reach project default: ") as info:
                await resolve_secure_route(
                    "/project/default", alice, projects=lambda _: impostor, timeout=5
                )
            assert str(info.value).count(";") == 1  # one reason per route


async def test_a_relay_through_a_channel_registers_again_through_a_new_one() -> None:
    with trio.fail_after(20):
        async with two_nodes() as (alice, bob, to_bob):
            first = await alice.create(to_bob)
            at = Route.parse(first.address)
            client = await start_relay(
                alice.node, at=at, name="a", refresh=alice.refresh, label="/project/default"
            )
            assert client.info().at == "/project/default"
            reply = await bob.node.request(route("forward_to_a", "uppercase"), b"hi", timeout=5)
            assert reply.payload == b"HI"

            alice.delete(first.address)  # as when the project node restarts
            while client.relay_node == at or not client.up:
                await trio.sleep(0.05)
            [second] = alice.list()
            assert second.address != first.address
            reply = await bob.node.request(route("forward_to_a", "uppercase"), b"back", timeout=5)
            assert reply.payload == b"BACK"


async def test_a_channel_opened_through_an_ended_channel_is_opened_again() -> None:
    with trio.fail_after(20):
        async with two_nodes() as (alice, _bob, to_bob):
            outer = await alice.create(to_bob)
            inner = await alice.create(Route.parse(outer.address) + route("api"))
            onward = Route.parse(inner.address) + route("uppercase")

            alice.delete(outer.address)
            while alice.show(inner.address) is not None:
                await trio.sleep(0.05)  # the inner channel ends with its carrier
            fresh = await alice.refresh(onward)
            assert fresh != onward
            assert (await alice.node.request(fresh, b"again", timeout=5)).payload == b"AGAIN"
            assert len(alice.list()) == 2
