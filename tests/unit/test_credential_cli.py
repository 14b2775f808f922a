"""The `credential` commands' parsing, without processes: durations, attributes, identifiers,
credentials in hex, and the trust flags of `node create`."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from cli._credential_store import (
    CredentialRefused,
    check,
    describe,
    parse_attributes,
    parse_credential,
    parse_duration,
    parse_identifier,
    view,
)
from cli._node_trust import TRUST_FILE, TrustConfig, TrustOptions, read_trust, save_trust
from secure import Identity, issue_credential


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("5s", 5), ("5", 5), ("10m", 600), ("2h", 7200), ("30d", 2592000), ("1h30m", 5400)],
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "0s", "soon", "5x", "-5s", "5 s", "m"])
def test_bad_durations_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="bad --ttl"):
        parse_duration(text)


@given(st.lists(st.tuples(st.integers(0, 999), st.sampled_from("smhd")), min_size=1, max_size=4))
def test_a_duration_is_the_sum_of_its_parts(parts: list[tuple[int, str]]) -> None:
    unit = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    total = sum(n * unit[u] for n, u in parts)
    text = "".join(f"{n}{u}" for n, u in parts)
    if total == 0:
        with pytest.raises(ValueError, match="at least 1 second"):
            parse_duration(text)
    else:
        assert parse_duration(text) == total


def test_attributes() -> None:
    assert parse_attributes(["a=1", "b=x=y", "c=", "a=2"]) == {"a": "2", "b": "x=y", "c": ""}
    for bad in ("novalue", "=x"):
        with pytest.raises(ValueError, match="bad --attribute"):
            parse_attributes([bad])


def test_identifiers_or_exported_identities() -> None:
    identity = Identity.generate()
    assert parse_identifier(identity.identifier, "--for") == identity.identifier
    assert parse_identifier(identity.public.export_hex(), "--for") == identity.identifier
    for bad in ("Ixyz", "zz", "abcd"):
        with pytest.raises(ValueError, match="bad --for"):
            parse_identifier(bad, "--for")


def test_a_credential_in_hex_is_checked_and_shown() -> None:
    authority, alice = Identity.generate(), Identity.generate()
    now = time.time()
    credential = issue_credential(
        authority, alice.identifier, {"component": "web"}, ttl=60, now=now
    )
    parsed = parse_credential(credential.hex())
    check(parsed, issuer=authority.identifier, now=now, subject=alice.identifier)
    shown = view(parsed, name="alice", node="alice")
    assert (shown.subject, shown.issuer, shown.is_verified) == (
        alice.identifier,
        authority.identifier,
        True,
    )
    assert "component=web" in describe(shown)
    with pytest.raises(CredentialRefused, match="not the trusted authority"):
        check(parsed, issuer=alice.identifier, now=now)
    with pytest.raises(CredentialRefused, match="expired"):
        check(parsed, issuer=authority.identifier, now=now + 61)
    with pytest.raises(CredentialRefused, match="not for"):
        check(parsed, issuer=authority.identifier, now=now, subject=authority.identifier)
    with pytest.raises(CredentialRefused, match="scope"):
        check(parsed, issuer=authority.identifier, now=now, scope="admins")
    with pytest.raises(CredentialRefused, match="Credential is not valid"):
        parse_credential("00")


def test_the_trust_file_round_trips_and_is_private(tmp_path: Path) -> None:
    config = TrustConfig(authority_identity=Identity.generate().public.export_hex())
    save_trust(tmp_path, config)
    assert (tmp_path / TRUST_FILE).stat().st_mode & 0o777 == 0o600
    assert read_trust(tmp_path) == config
    save_trust(tmp_path, None)
    assert read_trust(tmp_path) is None


def test_trust_options_know_when_given() -> None:
    assert not TrustOptions().given
    assert TrustOptions(credential_scope="x").given
