"""Exported identities: what `identity show NAME --full --encoding hex` prints and
`--authority-identity HEX` takes."""

from __future__ import annotations

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secure import Identity, IdentityError, IdentityPublic


def test_export_round_trips_through_hex_and_bytes() -> None:
    identity = Identity.generate()
    exported = identity.public.export_hex()
    assert exported == identity.public.export().hex()
    assert IdentityPublic.from_exported(exported) == identity.public
    assert IdentityPublic.from_exported(f"  {exported}\n") == identity.public
    assert IdentityPublic.from_exported(identity.public.export()).identifier == identity.identifier


def test_export_holds_the_identifier_and_the_key() -> None:
    identity = Identity.generate()
    assert msgspec.msgpack.decode(identity.public.export()) == [
        identity.identifier,
        identity.public_bytes,
    ]


def test_an_identifier_that_does_not_match_its_key_is_refused() -> None:
    alice, mallory = Identity.generate(), Identity.generate()
    forged = msgspec.msgpack.encode([alice.identifier, mallory.public_bytes])
    with pytest.raises(IdentityError, match=f"names identifier {alice.identifier}, but its public"):
        IdentityPublic.from_exported(forged)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("zz", "only the digits 0-9 and a-f"),
        ("", "not an exported identity"),
        ("92a149c403010203", "not an exported identity"),
        (msgspec.msgpack.encode(["I", b"\x00" * 31]).hex(), "not an exported identity"),
    ],
)
def test_malformed_exports_are_refused(text: str, message: str) -> None:
    with pytest.raises(IdentityError, match=message):
        IdentityPublic.from_exported(text)


@settings(deadline=None)
@given(st.data())
def test_any_flipped_byte_is_refused(data: st.DataObject) -> None:
    exported = bytearray(Identity.generate().public.export())
    index = data.draw(st.integers(0, len(exported) - 1))
    exported[index] ^= data.draw(st.integers(1, 255))
    with pytest.raises(IdentityError):
        IdentityPublic.from_exported(bytes(exported))
