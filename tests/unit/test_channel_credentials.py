"""Credentials in the secure channel, without sockets: each end presents its own and verifies
the other's (`ChannelMachine` with a `TrustContext`), on a fake link and a fake wall clock."""

from __future__ import annotations

import msgspec
import pytest

from actors import route
from secure import (
    ChannelState,
    Credential,
    Deliver,
    DropReason,
    Established,
    Identity,
    LocalProtocolError,
    MessageDropped,
    Presented,
    Refuse,
    RemoteProtocolError,
    Subject,
    TrustContext,
    issue_credential,
)

from .channel_link import ALICE, BOB, Link

AUTHORITY = Identity.generate()
STRANGER = Identity.generate()
T0 = 1_800_000_000.0


class WallClock:
    """The fake wall clock credentials are checked against."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


def credential(
    subject: Identity, ttl: int = 60, *, issuer: Identity = AUTHORITY, now: float = T0, **attrs: str
) -> Credential:
    return issue_credential(issuer, subject.identifier, attrs, ttl=ttl, now=now)


def trust(clock: WallClock, own: Credential | None) -> TrustContext:
    return TrustContext([AUTHORITY.public], credential=own, clock=clock)


def trusted_link(clock: WallClock, alice: Credential | None, bob: Credential | None) -> Link:
    return Link(initiator_trust=trust(clock, alice), responder_trust=trust(clock, bob))


def test_both_ends_learn_each_others_attributes() -> None:
    clock = WallClock()
    link = trusted_link(clock, credential(ALICE, component="web"), credential(BOB, component="db"))
    sent = link.handshake()
    assert {"initiator credential", "responder credential"} <= set(sent)
    assert link.initiator.subject(clock.now) == Subject(
        BOB.identifier, {"component": "db"}, has_credential=True
    )
    assert link.responder.subject(clock.now) == Subject(
        ALICE.identifier, {"component": "web"}, has_credential=True
    )
    assert link.initiator.subject_expires == link.responder.subject_expires == T0 + 60


def test_the_initiator_knows_the_responders_subject_once_established() -> None:
    clock = WallClock()
    link = trusted_link(clock, None, credential(BOB, component="db"))
    link.handshake(until="ready")
    ready = link.to_initiator(link.sent["ready"])
    assert isinstance(ready, Established)
    assert ready.subject == Subject(BOB.identifier, {"component": "db"}, has_credential=True)


def test_an_end_without_a_credential_is_identity_only() -> None:
    clock = WallClock()
    link = trusted_link(clock, None, credential(BOB, component="db"))
    sent = link.handshake()
    assert "initiator credential" not in sent
    assert link.responder.subject(clock.now) == Subject(ALICE.identifier)
    assert link.responder.subject_expires is None
    assert link.initiator.subject(clock.now).has_credential


def test_channels_without_trust_send_what_they_always_did() -> None:
    link = Link()
    sent = link.handshake()
    assert set(sent) == {"hello", "answer", "finish", "ready"}
    assert link.initiator.subject(0) == Subject(BOB.identifier)


def test_an_end_without_trust_ignores_a_credential() -> None:
    clock = WallClock()
    link = Link(initiator_trust=trust(clock, credential(ALICE, component="web")))
    link.handshake()
    assert link.responder.subject(clock.now) == Subject(ALICE.identifier)


BAD = {
    "untrusted issuer": (credential(ALICE, issuer=STRANGER, role="x"), "not a trusted authority"),
    "another identifier": (credential(BOB, role="x"), "not for"),
    "expired": (credential(ALICE, 5, now=T0 - 10, role="x"), "expired"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_a_bad_credential_is_refused_and_the_channel_goes_on(case: str) -> None:
    bad, why = BAD[case]
    clock = WallClock()
    link = trusted_link(clock, None, None)
    link.handshake()
    trust_context = link.initiator.settings.trust
    assert trust_context is not None
    trust_context.credential = bad
    # An expired credential is not even presented by its holder; present it anyway.
    clock.now -= 3600
    frame = link.initiator.present(link.now)
    clock.now += 3600
    assert frame is not None
    with pytest.raises(MessageDropped, match=why) as refused:
        link.to_responder(frame)
    assert refused.value.reason is DropReason.CREDENTIAL_REFUSED
    assert link.responder.subject(clock.now) == Subject(ALICE.identifier)
    data = link.initiator.send(route("echo").addresses, (), b"still on", link.now)
    assert isinstance(link.to_responder(data), Deliver)


def test_attributes_lapse_when_the_credential_expires() -> None:
    clock = WallClock()
    link = trusted_link(clock, credential(ALICE, 5, component="web"), None)
    link.handshake()
    assert link.responder.subject(T0 + 4.9).attributes == {"component": "web"}
    assert link.responder.subject(T0 + 5) == Subject(ALICE.identifier)
    assert link.responder.subject_expires == T0 + 5


def test_a_fresh_credential_replaces_the_old_one() -> None:
    clock = WallClock()
    link = trusted_link(clock, credential(ALICE, 5, component="web"), None)
    link.handshake()
    clock.now = T0 + 4
    fresh = credential(ALICE, 5, now=clock.now, component="web", tier="gold")
    trust_context = link.initiator.settings.trust
    assert trust_context is not None
    trust_context.credential = fresh
    frame = link.initiator.present(link.now)
    assert frame is not None
    event = link.to_responder(frame)
    assert isinstance(event, Presented)
    assert event.expires == T0 + 9
    assert link.responder.subject(T0 + 8).attributes == {"component": "web", "tier": "gold"}
    assert link.responder.subject_expires == T0 + 9


def test_a_replayed_credential_frame_is_dropped() -> None:
    clock = WallClock()
    link = trusted_link(clock, credential(ALICE, 5, component="web"), None)
    link.handshake()
    old = link.sent["initiator credential"]
    trust_context = link.initiator.settings.trust
    assert trust_context is not None
    trust_context.credential = credential(ALICE, 60, component="admin")
    fresh = link.initiator.present(link.now)
    assert fresh is not None
    assert isinstance(link.to_responder(fresh), Presented)
    with pytest.raises(MessageDropped) as replayed:
        link.to_responder(old)
    assert replayed.value.reason is DropReason.REPLAYED
    assert link.responder.subject(clock.now).attributes == {"component": "admin"}


def test_an_expired_credential_is_not_presented() -> None:
    clock = WallClock()
    link = trusted_link(clock, credential(ALICE, 5, component="web"), None)
    clock.now = T0 + 5
    sent = link.handshake()
    assert "initiator credential" not in sent
    assert link.initiator.present(link.now) is None


def test_no_subject_before_the_other_end_is_verified() -> None:
    link = Link()
    link.initiator.start(link.now)
    with pytest.raises(LocalProtocolError, match="no subject yet"):
        link.initiator.subject(T0)


def members_only(subject: Subject) -> str | None:
    if subject.has_credential:
        return None
    return f"{subject.identifier} presented no credential from the project's authority"


def test_a_listener_admits_an_initiator_by_its_credential() -> None:
    clock = WallClock()
    link = Link(
        initiator_trust=trust(clock, credential(ALICE, component="web")),
        responder_trust=trust(clock, credential(BOB)),
        admit=members_only,
    )
    link.handshake()
    assert link.responder.subject(clock.now).attributes == {"component": "web"}


@pytest.mark.parametrize("presented", ["none", "untrusted"])
def test_a_listener_refuses_an_initiator_it_does_not_admit_and_says_why(presented: str) -> None:
    clock = WallClock()
    own = None if presented == "none" else credential(ALICE, issuer=STRANGER, role="x")
    link = Link(
        initiator_trust=trust(clock, own),
        responder_trust=trust(clock, credential(BOB)),
        admit=members_only,
    )
    link.handshake(until="finish")
    with pytest.raises(RemoteProtocolError, match="presented no credential") as refused:
        link.to_responder(link.sent["finish"])
    assert link.responder.state is ChannelState.ERROR
    assert refused.value.refusal is not None
    told = msgspec.msgpack.decode(refused.value.refusal, type=Refuse).reason
    assert told.startswith(f"{ALICE.identifier} presented no credential")
    assert ("not a trusted authority" in told) == (presented == "untrusted")
    with pytest.raises(RemoteProtocolError, match="refused the secure channel: I"):
        link.to_initiator(refused.value.refusal)
    assert link.initiator.state is ChannelState.ERROR


def test_a_credential_refused_in_finish_is_reported_and_the_channel_goes_on() -> None:
    clock = WallClock()
    forged = credential(ALICE, issuer=STRANGER, role="x")
    link = trusted_link(clock, forged, None)
    link.handshake(until="finish")
    established = link.to_responder(link.sent["finish"])
    assert isinstance(established, Established)
    assert established.refused is not None
    assert "not a trusted authority" in established.refused
    assert established.subject == Subject(ALICE.identifier)
