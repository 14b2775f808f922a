"""Enrollment tickets: one string that round-trips, checks its identities, hides its secret."""

from __future__ import annotations

import hashlib

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secure import (
    SECRET_LEN,
    EnrollmentTicket,
    Identity,
    TicketError,
    new_secret,
    secret_hash,
)

PROJECT = Identity.generate().public
AUTHORITY = Identity.generate().public


def _ticket(**changes: object) -> EnrollmentTicket:
    fields: dict[str, object] = {
        "project_id": "p-1",
        "project_name": "default",
        "project_routes": ["/ip4/127.0.0.1/tcp/4000", "/ip4/127.0.0.1/tcp/4001"],
        "project_identity": PROJECT,
        "authority_identity": AUTHORITY,
        "authority_route": "/ip4/127.0.0.1/tcp/5000/service/api",
        "secret": new_secret(),
    }
    fields.update(changes)
    return EnrollmentTicket.create(**fields)  # type: ignore[arg-type]


def test_a_ticket_round_trips_as_one_hex_string() -> None:
    ticket = _ticket()
    text = ticket.encode()
    assert isinstance(text, str)
    assert all(c in "0123456789abcdef" for c in text)
    back = EnrollmentTicket.decode(f" {text}\n")
    assert back == ticket
    assert back.project == PROJECT
    assert back.authority == AUTHORITY
    assert back.project_routes == ("/ip4/127.0.0.1/tcp/4000", "/ip4/127.0.0.1/tcp/4001")


def test_the_secret_is_random_and_stored_as_its_hash() -> None:
    one, two = new_secret(), new_secret()
    assert len(one) == SECRET_LEN
    assert one != two
    assert secret_hash(one) == hashlib.sha256(one).digest()


def test_the_repr_never_shows_the_secret() -> None:
    ticket = _ticket()
    assert ticket.secret.hex() not in repr(ticket)
    assert str(ticket.secret) not in repr(ticket)
    assert AUTHORITY.identifier in repr(ticket)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"project_id": ""}, "empty project_id"),
        ({"project_name": ""}, "empty project_name"),
        ({"authority_route": ""}, "empty authority_route"),
        ({"project_routes": []}, "at least one project route"),
        ({"project_routes": ["/a", ""]}, "at least one project route"),
        ({"secret": b"short"}, "secret is 32 bytes"),
    ],
)
def test_create_checks_its_fields(changes: dict[str, object], message: str) -> None:
    with pytest.raises(TicketError, match=message):
        _ticket(**changes)


def test_a_ticket_with_an_altered_identity_is_refused() -> None:
    ticket = _ticket()
    forged = msgspec.msgpack.encode([AUTHORITY.identifier, PROJECT.public_bytes])
    altered = msgspec.structs.replace(ticket, authority_identity=forged)
    text = msgspec.msgpack.encode(altered).hex()
    with pytest.raises(TicketError, match="authority identity: exported identity names"):
        EnrollmentTicket.decode(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("xyz", "only the digits 0-9 and a-f"),
        ("", "not an enrollment ticket"),
        (
            msgspec.msgpack.encode([2, "p", "n", ["/r"], b"", b"", "/a", b"\x00" * 32]).hex(),
            "not an enrollment ticket",
        ),
    ],
)
def test_malformed_tickets_are_refused(text: str, message: str) -> None:
    with pytest.raises(TicketError, match=message):
        EnrollmentTicket.decode(text)


_TEXT = _ticket().encode()


@settings(deadline=None)
@given(index=st.integers(0, len(_TEXT) - 1), char=st.sampled_from("0123456789abcdefg"))
def test_a_changed_character_is_refused_or_changes_only_the_secret_or_a_route(
    index: int, char: str
) -> None:
    # No checksum covers the routes and the secret (the authority checks the secret); every
    # identity in the ticket is checked, so a change there is refused.
    original = EnrollmentTicket.decode(_TEXT)
    try:
        changed = EnrollmentTicket.decode(_TEXT[:index] + char + _TEXT[index + 1 :])
    except TicketError:
        return
    assert changed.project == original.project
    assert changed.authority == original.authority
