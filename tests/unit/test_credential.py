"""Credentials: issuing, the codec, and every reason verification refuses one."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secure import (
    CREDENTIAL_CONTEXT,
    MAX_CLOCK_SKEW,
    Credential,
    CredentialData,
    CredentialDecodeError,
    CredentialError,
    CredentialExpiredError,
    CredentialIssuerError,
    CredentialNotYetValidError,
    CredentialScopeError,
    CredentialSignatureError,
    CredentialSubjectError,
    Identity,
    issue_credential,
    verify_credential,
)

NOW = 1_800_000_000.5
AUTHORITY = Identity.generate()
ALICE = Identity.generate()


def _issue(**attributes: str) -> Credential:
    return issue_credential(AUTHORITY, ALICE.identifier, attributes, ttl=5, now=NOW)


def test_a_credential_verifies_and_states_what_was_issued() -> None:
    credential = _issue(component="db", role="member")
    data = verify_credential(
        credential, issuer_identity=AUTHORITY.public, now=NOW + 4, subject=ALICE.identifier
    )
    assert data == CredentialData(
        subject=ALICE.identifier,
        scope="project-member",
        attributes={"component": "db", "role": "member"},
        created=1_800_000_000,
        expires=1_800_000_005,
    )
    assert credential.issuer == AUTHORITY.identifier
    assert credential.unverified_data() == data
    # the authority's identifier alone is enough: the credential carries the key
    assert (
        verify_credential(credential.hex(), issuer_identity=AUTHORITY.identifier, now=NOW) == data
    )
    assert verify_credential(credential.encode(), issuer_identity=AUTHORITY.public, now=NOW) == data


def test_the_signature_covers_the_context_and_the_exact_data() -> None:
    credential = _issue(a="1")
    AUTHORITY.public.verify(credential.signature, CREDENTIAL_CONTEXT + credential.data)
    assert credential.issuer_public_key == AUTHORITY.public_bytes


def test_wrong_issuer_is_refused() -> None:
    impostor = Identity.generate()
    credential = issue_credential(impostor, ALICE.identifier, {"a": "1"}, ttl=5, now=NOW)
    with pytest.raises(CredentialIssuerError, match=f"issued by {impostor.identifier}, which"):
        verify_credential(credential, issuer_identity=AUTHORITY.public, now=NOW)


def test_an_issuer_key_swapped_in_is_refused_as_wrong_issuer() -> None:
    credential = _issue(a="1")
    swapped = msgspec.structs.replace(credential, issuer_public_key=ALICE.public_bytes)
    with pytest.raises(CredentialIssuerError):
        verify_credential(swapped, issuer_identity=AUTHORITY.identifier, now=NOW)


@pytest.mark.parametrize("field", ["data", "signature"])
def test_a_flipped_bit_in_data_or_signature_breaks_the_signature(field: str) -> None:
    credential = _issue(component="db")
    value = bytearray(getattr(credential, field))
    value[-1] ^= 0x01
    altered = msgspec.structs.replace(credential, **{field: bytes(value)})
    with pytest.raises(CredentialSignatureError, match="altered after it was issued"):
        verify_credential(altered, issuer_identity=AUTHORITY.public, now=NOW)


def test_elevated_attributes_re_encoded_are_refused() -> None:
    credential = _issue(role="member")
    data = msgspec.structs.replace(credential.unverified_data(), attributes={"role": "admin"})
    forged = msgspec.structs.replace(credential, data=msgspec.msgpack.encode(data))
    with pytest.raises(CredentialSignatureError):
        verify_credential(forged, issuer_identity=AUTHORITY.public, now=NOW)


def test_expired_is_refused_at_and_after_expiry() -> None:
    credential = _issue()
    verify_credential(credential, issuer_identity=AUTHORITY.public, now=NOW + 4.4)
    with pytest.raises(
        CredentialExpiredError, match=r"expired at 2027-01-15T08:00:05Z \(0 s ago\)"
    ):
        verify_credential(credential, issuer_identity=AUTHORITY.public, now=1_800_000_005)
    with pytest.raises(CredentialExpiredError, match=r"\(10 s ago\)"):
        verify_credential(credential, issuer_identity=AUTHORITY.public, now=1_800_000_015)
    assert credential.unverified_data().is_expired(1_800_000_005)


def test_created_in_the_future_is_refused_beyond_the_clock_skew() -> None:
    credential = _issue()
    verify_credential(credential, issuer_identity=AUTHORITY.public, now=NOW - MAX_CLOCK_SKEW)
    with pytest.raises(CredentialNotYetValidError, match="in the future: check the clocks"):
        verify_credential(credential, issuer_identity=AUTHORITY.public, now=NOW - 100)


def test_a_credential_for_another_identifier_is_refused() -> None:
    bob = Identity.generate()
    with pytest.raises(
        CredentialSubjectError,
        match=f"for {ALICE.identifier}, not for {bob.identifier} who presented it",
    ):
        verify_credential(
            _issue(), issuer_identity=AUTHORITY.public, now=NOW, subject=bob.identifier
        )


def test_a_credential_for_another_scope_is_refused() -> None:
    with pytest.raises(CredentialScopeError, match="scope 'project-member', expected 'admin'"):
        verify_credential(_issue(), issuer_identity=AUTHORITY.public, now=NOW, scope="admin")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not hex", "only the digits 0-9 and a-f"),
        ("", "not a credential"),
        ("93c40100", "not a credential"),
    ],
)
def test_malformed_credentials_are_refused(text: str, message: str) -> None:
    with pytest.raises(CredentialDecodeError, match=message):
        verify_credential(text, issuer_identity=AUTHORITY.public, now=NOW)


def test_a_signed_but_malformed_statement_is_refused() -> None:
    garbage = b"\x01\x02"
    credential = Credential(
        data=garbage,
        issuer_public_key=AUTHORITY.public_bytes,
        signature=AUTHORITY.sign(CREDENTIAL_CONTEXT + garbage),
    )
    with pytest.raises(CredentialDecodeError, match="statement is malformed"):
        verify_credential(credential, issuer_identity=AUTHORITY.public, now=NOW)


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"subject": "alice"}, ValueError, "invalid identifier 'alice'"),
        ({"ttl": 0}, ValueError, "ttl is a whole number of seconds"),
        ({"ttl": 1.5}, ValueError, "ttl is a whole number of seconds"),
        ({"scope": ""}, ValueError, "scope must be a non-empty"),
        ({"attributes": {"": "x"}}, ValueError, "attribute name is a non-empty"),
        ({"attributes": {"a b": "x"}}, ValueError, "without spaces"),
        ({"attributes": {"identifier": "I00"}}, ValueError, "'identifier' is reserved"),
        ({"attributes": {"a": 1}}, TypeError, "attribute 'a' must be a string"),
    ],
)
def test_issue_checks_its_arguments(kwargs: dict[str, object], error: type, message: str) -> None:
    arguments: dict[str, object] = {
        "subject": ALICE.identifier,
        "attributes": {},
        "ttl": 5,
        "now": NOW,
        "scope": "project-member",
    }
    arguments.update(kwargs)
    with pytest.raises(error, match=message):
        issue_credential(AUTHORITY, **arguments)  # type: ignore[arg-type]


_names = st.text(
    st.characters(
        codec="utf-8", exclude_categories=("Cc", "Cs", "Zs", "Zl", "Zp", "Cf", "Co", "Cn")
    ),
    min_size=1,
    max_size=12,
).filter(lambda name: name not in {"identifier", "has_credential"})


@settings(deadline=None)
@given(
    attributes=st.dictionaries(_names, st.text(max_size=20), max_size=5),
    ttl=st.integers(1, 10**9),
    now=st.floats(0, 4_000_000_000),
)
def test_codec_round_trip(attributes: dict[str, str], ttl: int, now: float) -> None:
    credential = issue_credential(AUTHORITY, ALICE.identifier, attributes, ttl=ttl, now=now)
    assert Credential.from_hex(credential.hex()) == credential
    assert Credential.decode(credential.encode()) == credential
    data = verify_credential(credential.hex(), issuer_identity=AUTHORITY.public, now=now)
    assert data.attributes == attributes
    assert data.expires - data.created == ttl


_ENCODED = _issue(component="db", role="member").encode()


@settings(max_examples=300, deadline=None)
@given(index=st.integers(0, len(_ENCODED) - 1), mask=st.integers(1, 255))
def test_any_single_flipped_byte_is_refused(index: int, mask: int) -> None:
    altered = bytearray(_ENCODED)
    altered[index] ^= mask
    with pytest.raises(CredentialError):
        verify_credential(bytes(altered), issuer_identity=AUTHORITY.public, now=NOW)
