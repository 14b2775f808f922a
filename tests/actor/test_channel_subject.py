"""A secure channel's subject between two nodes over memory streams: each end sees the
other's verified attributes, and a credential presented again replaces the old one."""

from __future__ import annotations

import time

import pytest
import trio

from actors import Node, local
from secure import (
    Identity,
    SecureChannelError,
    SecureChannels,
    SecureChannelWorker,
    Subject,
    TrustContext,
    issue_credential,
)
from transports.testing import open_topology

AUTHORITY = Identity.generate()


def end_at(node: Node, address: str) -> SecureChannelWorker:
    worker = node.actor_at(local(address.removeprefix("/service/")))
    assert isinstance(worker, SecureChannelWorker)
    return worker


def trusting(
    node: Node, identity: Identity, attributes: dict[str, str], now: float
) -> SecureChannels:
    """`node`'s channels under `identity`, trusting AUTHORITY, holding its credential."""
    credential = issue_credential(AUTHORITY, identity.identifier, attributes, ttl=60, now=now)
    trust = TrustContext([AUTHORITY.public], credential=credential)
    return SecureChannels(node, identity, trust=trust)


async def test_each_end_carries_the_others_subject_and_a_refresh_replaces_it() -> None:
    alice, bob = Identity.generate(), Identity.generate()
    now = time.time()
    with trio.fail_after(10):
        async with open_topology(("n1", "n2"), transport="memory", services=()) as topology:
            n1 = trusting(topology["n1"], alice, {"component": "web"}, now)
            n2 = trusting(topology["n2"], bob, {"component": "db"}, now)
            await n2.create_listener()
            info = await n1.create(topology.route("n1", "n2", "api"))
            initiator = end_at(topology["n1"], info.address)
            assert initiator.subject(time.time()) == Subject(
                bob.identifier, {"component": "db"}, has_credential=True
            )
            (responder,) = topology["n2"].actors_of(SecureChannelWorker)
            while not responder.subject(time.time()).has_credential:
                await responder.subject_changed.wait()
            assert responder.subject(time.time()).attributes == {"component": "web"}
            assert responder.subject_expires == int(now) + 60

            changed = responder.subject_changed
            fresh = issue_credential(
                AUTHORITY, alice.identifier, {"component": "web", "tier": "gold"}, ttl=120, now=now
            )
            assert await n1.present_credential(fresh) == 1
            await changed.wait()
            assert responder.subject(time.time()).attributes == {"component": "web", "tier": "gold"}
            assert responder.subject_expires == int(now) + 120

            stopped = responder.subject_changed
            initiator.close()
            await stopped.wait()
            assert responder.stopped.is_set()


async def test_a_node_refuses_to_present_a_credential_that_is_not_its_own() -> None:
    alice, bob = Identity.generate(), Identity.generate()
    with trio.fail_after(10):
        async with open_topology(("n1",), links=(), transport="memory", services=()) as topology:
            channels = SecureChannels(topology["n1"], alice, trust=TrustContext([AUTHORITY.public]))
            bobs = issue_credential(AUTHORITY, bob.identifier, {}, ttl=60, now=time.time())
            with pytest.raises(SecureChannelError, match="not for"):
                await channels.present_credential(bobs)
            assert channels.trust is not None
            assert channels.trust.credential is None
