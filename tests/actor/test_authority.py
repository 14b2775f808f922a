"""An authority node's service over memory streams (under `autojump_clock`, so no real
waiting): enrollment with a ticket, credentials for members only, the subjects of a channel
between two members, and a 5 s credential refreshed before it lapses."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import msgspec
import pytest
import trio

from actors import Node, local
from secure import (
    AUTHORITY_SERVICE,
    AuthorityClient,
    AuthorityError,
    AuthorityFailure,
    AuthorityReply,
    AuthorityService,
    Credential,
    CredentialRefresher,
    Enrollment,
    Identity,
    ListMembers,
    ProjectInfo,
    SecureChannels,
    SecureChannelWorker,
    SqliteEnrollmentStore,
    TrustContext,
    encode_authority_message,
    issue_credential,
    verify_credential,
)
from transports.testing import Topology, open_topology

BASE = 1_800_000_000.0
AUTHORITY, ADMIN, ACCOUNT = Identity.generate(), Identity.generate(), Identity.generate()


def wall() -> float:
    """The wall clock of every part of the test: moves with trio's (autojumping) clock."""
    return BASE + trio.current_time()


@dataclass
class Project:
    topology: Topology
    service: AuthorityService

    def channels(
        self, name: str, identity: Identity, credential: Credential | None = None
    ) -> SecureChannels:
        """`name`'s channels under `identity`, trusting the authority, fetching from it, and
        presenting `credential` if given."""
        trust = TrustContext(
            [AUTHORITY.public],
            credential=credential,
            authority_route=self.topology.route(name, "authority", "api"),
            clock=wall,
        )
        return SecureChannels(self.topology[name], identity, trust=trust)

    async def client(self, channels: SecureChannels) -> AuthorityClient:
        trust = channels.trust
        assert trust is not None
        assert trust.authority_route is not None
        return await AuthorityClient.connect(
            channels, trust.authority_route, [AUTHORITY.identifier]
        )


@asynccontextmanager
async def project(tmp_path: Path, *, credential_ttl: int = 3600) -> AsyncIterator[Project]:
    names = ("authority", "admin", "alice", "bob")
    links = [("admin", "authority"), ("alice", "authority"), ("bob", "authority"), ("alice", "bob")]
    async with open_topology(names, links=links, transport="memory", services=()) as topology:
        node: Node = topology["authority"]
        store = SqliteEnrollmentStore(tmp_path / "authority.sqlite")
        enrollment = Enrollment(store, authority=AUTHORITY.identifier, project_id="p-1")
        enrollment.set_pre_trusted({ADMIN.identifier: {"ockam-role": "enroller"}}, now=wall())
        info = ProjectInfo(
            "p-1",
            "default",
            ("/ip4/127.0.0.1/tcp/4000",),
            AUTHORITY.public,
            "/ip4/127.0.0.1/tcp/4001",
        )
        service = AuthorityService(
            enrollment,
            AUTHORITY,
            info,
            credential_ttl=credential_ttl,
            account_authority=ACCOUNT.identifier,
            clock=wall,
        )
        await node.start_actor(service, AUTHORITY_SERVICE)
        # The authority believes the account authority's credentials: they make admins.
        account = TrustContext([ACCOUNT.public], clock=wall)
        await SecureChannels(node, AUTHORITY, trust=account).create_listener()
        try:
            yield Project(topology, service)
        finally:
            store.close()


async def test_a_ticket_makes_a_member_who_gets_a_credential(
    autojump_clock: trio.abc.Clock, tmp_path: Path
) -> None:
    with trio.fail_after(60):
        async with project(tmp_path) as p:
            admin = await p.client(p.channels("admin", ADMIN))
            ticket = await admin.create_ticket(attributes={"component": "web"})
            assert ticket.authority.identifier == AUTHORITY.identifier

            alice = Identity.generate()
            client = await p.client(p.channels("alice", alice))
            with pytest.raises(AuthorityError, match="not a member") as refused:
                await client.issue_credential()
            assert refused.value.kind == "not_a_member"

            member = await client.redeem(ticket)
            assert member.attributes == {"component": "web"}
            assert member.added_by == ADMIN.identifier
            credential = await client.issue_credential()
            data = verify_credential(
                credential,
                issuer_identity=AUTHORITY.identifier,
                now=wall(),
                subject=alice.identifier,
            )
            assert data.attributes == {"component": "web"}

            bob = await p.client(p.channels("bob", Identity.generate()))
            with pytest.raises(AuthorityError) as replayed:
                await bob.redeem(ticket)
            assert replayed.value.kind == "ticket_used_up"
            with pytest.raises(AuthorityError) as listing:
                await client.members()
            assert listing.value.kind == "not_authorized"
            members = await admin.members()
            assert {m.identifier for m in members} == {ADMIN.identifier, alice.identifier}


async def test_a_request_not_through_a_secure_channel_is_refused(
    autojump_clock: trio.abc.Clock, tmp_path: Path
) -> None:
    with trio.fail_after(60):
        async with project(tmp_path) as p:
            plain = p.topology.route("admin", "authority", AUTHORITY_SERVICE)
            reply = await p.topology["admin"].request(
                plain, encode_authority_message(ListMembers())
            )
            failure = msgspec.msgpack.decode(reply.payload, type=AuthorityReply)
            assert isinstance(failure, AuthorityFailure)
            assert failure.kind == "no_secure_channel"


async def test_members_carry_each_others_subject_and_a_5s_credential_refreshes(
    autojump_clock: trio.abc.Clock, tmp_path: Path
) -> None:
    alice, bob = Identity.generate(), Identity.generate()
    with trio.fail_after(120):
        async with project(tmp_path, credential_ttl=5) as p:
            admin = await p.client(p.channels("admin", ADMIN))
            refreshers = {}
            channels = {}
            for name, identity, component in (("alice", alice, "web"), ("bob", bob, "db")):
                ticket = await admin.create_ticket(attributes={"component": component})
                channels[name] = p.channels(name, identity)
                await (await p.client(channels[name])).redeem(ticket)
                refresher = CredentialRefresher(channels[name])
                refreshers[name] = refresher
                await p.topology[name].start_actor(refresher, f"refresher_{name}")
                while refresher.fetched == 0:
                    await refresher.changed.wait()

            await channels["bob"].create_listener("bob_api")
            info = await channels["alice"].create(p.topology.route("alice", "bob", "bob_api"))
            initiator = p.topology["alice"].actor_at(local(info.address.removeprefix("/service/")))
            assert isinstance(initiator, SecureChannelWorker)
            assert initiator.subject(wall()).attributes == {"component": "db"}
            responder = next(
                w
                for w in p.topology["bob"].actors_of(SecureChannelWorker)
                if w.machine.role == "responder"
                and w.machine.remote_identity is not None
                and w.machine.remote_identity.identifier == alice.identifier
            )
            while not responder.subject(wall()).has_credential:
                await responder.subject_changed.wait()
            first_expiry = responder.subject_expires
            assert first_expiry is not None

            # Alice's refresher fetches a fresh credential at 80 % of its 5 s and presents
            # it, so the responder's subject never lapses.
            while responder.subject_expires == first_expiry:
                assert responder.subject(wall()).attributes == {"component": "web"}
                await responder.subject_changed.wait()
            assert responder.subject_expires is not None
            assert responder.subject_expires > first_expiry
            assert responder.subject(first_expiry).attributes == {"component": "web"}
            assert refreshers["alice"].fetched >= 2
            assert refreshers["alice"].last_error is None


async def test_an_account_authority_credential_naming_the_project_makes_an_admin(
    autojump_clock: trio.abc.Clock, tmp_path: Path
) -> None:
    carol, dave = Identity.generate(), Identity.generate()
    with trio.fail_after(60):
        async with project(tmp_path) as p:
            account = issue_credential(
                ACCOUNT, carol.identifier, {"project": "p-1"}, ttl=60, now=wall()
            )
            admin = await p.client(p.channels("alice", carol, account))
            ticket = await admin.create_ticket(enroller=True)
            assert len(ticket.secret) == 32

            # The same attribute from the project's own authority makes no admin.
            forged = issue_credential(
                AUTHORITY, dave.identifier, {"project": "p-1"}, ttl=60, now=wall()
            )
            client = await p.client(p.channels("bob", dave, forged))
            with pytest.raises(AuthorityError) as refused:
                await client.create_ticket(enroller=True)
            assert refused.value.kind == "not_authorized"


async def test_an_authority_without_tickets_or_direct_authentication_refuses_them(
    autojump_clock: trio.abc.Clock, tmp_path: Path
) -> None:
    with trio.fail_after(60):
        async with project(tmp_path) as p:
            admin = await p.client(p.channels("admin", ADMIN))
            ticket = await admin.create_ticket()
            p.service.token_enrollment = False
            p.service.direct_authentication = False
            for refused in (admin.create_ticket(), admin.redeem(ticket), admin.members()):
                with pytest.raises(AuthorityError) as failure:
                    await refused
                assert failure.value.kind == "not_authorized"
            assert (await admin.issue_credential()).issuer == AUTHORITY.identifier
