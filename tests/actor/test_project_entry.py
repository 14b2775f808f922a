"""A project node lets plain TCP reach nothing but its secure channels (`secure.channels_only`
as its `Node.entry`): a stranger on a connection cannot address a member's relay, the
plaintext side of the project node's channel ends (whose addresses members learn from return
routes), nor another transport address through it. The same routes without the rule reach
their targets: the control that shows each route is real."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import pytest
import trio

from actors import Address, Node, RequestTimeout, Route, local, route, start_relay
from cli._project_node import members_only
from secure import (
    Identity,
    SecureChannels,
    SecureChannelWorker,
    TrustContext,
    channels_only,
    issue_credential,
)
from transports import open_node

from .test_relay_ciphertext import channels
from .test_secure_channel import listen_route


@dataclass
class Project:
    """The project node, a member n1 that talked to n3's echo through the relay, and a
    stranger with nothing but a TCP route to the project node."""

    node: Node
    stranger: Node
    plain: Route
    """The TCP route to the project node, no address after it."""
    leaked: Address
    """The project node's channel end toward n3, from the return route n1 got."""
    internal: Route
    """The TCP route to a node that only the project node's machine reaches."""


@asynccontextmanager
async def project(*, guarded: bool) -> AsyncIterator[Project]:
    authority = Identity.generate()
    async with (
        open_node("project") as node,
        open_node("n3") as n3_node,
        open_node("n1") as n1_node,
        open_node("stranger", services=()) as stranger,
        open_node("internal") as internal,
    ):
        if guarded:
            node.entry = channels_only(node)
        to_project = await listen_route(node, "api")
        project_side = channels(node, authority, {"ockam-role": "project"})
        await project_side.create_listener("api", admit=members_only("default"))
        n3 = channels(n3_node, authority, {"ockam-relay": "n3"})
        n3_to_project = await n3.create(to_project, authorized=[project_side.identifier])
        relay = await start_relay(n3_node, at=Route.parse(n3_to_project.address), name="n3")
        n1 = channels(n1_node, authority, {"member": "true"})
        n1_to_project = await n1.create(to_project, authorized=[project_side.identifier])
        # A member's message crosses, guarded or not; its reply's return route shows the
        # project node's channel end toward n3.
        reply = await n1_node.request(
            Route.parse(n1_to_project.address) + route("forward_to_n3", "echo"), b"hi", timeout=5
        )
        assert reply.payload == b"hi"
        leaked = reply.return_route.addresses[1]
        assert node.actor_at(leaked) is not None
        try:
            yield Project(
                node,
                stranger,
                Route(to_project.addresses[:-1]),
                leaked,
                await listen_route(internal),
            )
        finally:
            n3_node.stop_actor(relay.ctx.address)
            for side in (n1, n3, project_side):
                await side.aclose()


def stranger_routes(p: Project) -> dict[str, Route]:
    """What a stranger tries: a relay, a channel end's plaintext side, another node."""
    return {
        "relay": p.plain + route("forward_to_n3", "echo"),
        "channel end": p.plain + Route((p.leaked, local("echo"))),
        "hop": p.plain + p.internal + route("echo"),
    }


@pytest.mark.parametrize("target", ["relay", "channel end", "hop"])
async def test_a_stranger_on_plain_tcp_reaches_nothing_past_the_project_node(target: str) -> None:
    with trio.fail_after(20):
        async with project(guarded=True) as p:
            dropped = p.node.router.dropped
            with pytest.raises(RequestTimeout):
                await p.stranger.request(stranger_routes(p)[target], b"in?", timeout=1)
            assert p.node.router.dropped == dropped + 1


@pytest.mark.parametrize("target", ["relay", "channel end", "hop"])
async def test_without_the_rule_the_same_routes_get_through(target: str) -> None:
    with trio.fail_after(20):
        async with project(guarded=False) as p:
            reply = await p.stranger.request(stranger_routes(p)[target], b"in?", timeout=5)
            assert reply.payload == b"in?"


@pytest.mark.parametrize("refreshed", [False, True], ids=["lapsed", "refreshed"])
async def test_a_members_channel_lasts_while_its_credential_does(refreshed: bool) -> None:
    authority = Identity.generate()
    with trio.fail_after(20):
        async with open_node("project") as node, open_node("n1") as n1_node:
            to_project = await listen_route(node, "api")
            project_side = channels(node, authority, {"ockam-role": "project"})
            await project_side.create_listener("api", admit=members_only("default"))
            n1 = SecureChannels(n1_node, N1, trust=member_trust(authority, ttl=2))
            opened = await n1.create(to_project, authorized=[project_side.identifier])
            (project_end,) = node.actors_of(SecureChannelWorker)
            if refreshed:
                fresh = member_trust(authority, ttl=3600).credential
                assert fresh is not None
                assert await n1.present_credential(fresh) == 1
                # Past the first credential's expiry, the channel still carries messages.
                await trio.sleep(3)
                reply = await n1_node.request(
                    Route.parse(opened.address) + route("echo"), b"still?", timeout=5
                )
                assert reply.payload == b"still?"
                assert not project_end.stopped.is_set()
            else:
                # No fresh credential: the project node closes the channel, both ends stop.
                await project_end.stopped.wait()
                with pytest.raises(RequestTimeout):
                    await n1_node.request(
                        Route.parse(opened.address) + route("echo"), b"still?", timeout=1
                    )
                assert n1_node.actors_of(SecureChannelWorker) == []
            for side in (n1, project_side):
                await side.aclose()


N1 = Identity.generate()


def member_trust(authority: Identity, *, ttl: int) -> TrustContext:
    """N1's trust in `authority`, with a member credential valid for `ttl` seconds."""
    credential = issue_credential(authority, N1.identifier, {"m": "1"}, ttl=ttl, now=time.time())
    return TrustContext([authority.public], credential=credential)
