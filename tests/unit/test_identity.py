"""Identities, static-key bindings, identity proofs in a handshake, and the file vault."""

from __future__ import annotations

import base64
import hashlib
import os
import stat
from pathlib import Path

import msgspec
import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey

from secure import (
    HandshakeState,
    Identity,
    IdentityError,
    IdentityProof,
    IdentityPublic,
    Vault,
    VaultError,
    bind_static_key,
    verify_binding,
)


def _static_public() -> bytes:
    return X25519PrivateKey.generate().public_key().public_bytes_raw()


# -- identities ---------------------------------------------------------------------------------


def test_identifier_is_I_and_hex_sha256_of_public_key() -> None:
    identity = Identity.generate()
    assert len(identity.public_bytes) == 32
    assert identity.identifier == "I" + hashlib.sha256(identity.public_bytes).hexdigest()
    assert len(identity.identifier) == 65
    assert identity.public.identifier == identity.identifier
    assert IdentityPublic(identity.public_bytes) == identity.public
    assert identity.identifier in repr(identity)
    assert identity.private_bytes().hex() not in repr(identity)


def test_identity_round_trips_through_private_bytes() -> None:
    identity = Identity.generate()
    loaded = Identity.from_private_bytes(identity.private_bytes())
    assert loaded.identifier == identity.identifier
    assert loaded.public == identity.public
    assert hash(loaded.public) == hash(identity.public)
    with pytest.raises(ValueError, match="32 bytes, got 5"):
        Identity.from_private_bytes(b"short")


def test_sign_and_verify() -> None:
    identity = Identity.generate()
    signature = identity.sign(b"data")
    assert len(signature) == 64
    identity.public.verify(signature, b"data")
    with pytest.raises(IdentityError, match="does not verify"):
        identity.public.verify(signature, b"other data")
    with pytest.raises(IdentityError, match="does not verify"):
        Identity.generate().public.verify(signature, b"data")
    with pytest.raises(IdentityError):
        identity.public.verify(signature[:-1], b"data")


def test_public_key_must_be_32_bytes() -> None:
    with pytest.raises(IdentityError, match="32 bytes, got 31"):
        IdentityPublic(bytes(31))


# -- binding a Noise static key -----------------------------------------------------------------


def test_binding_verifies() -> None:
    identity = Identity.generate()
    static = _static_public()
    signature = bind_static_key(identity, static)
    verified = verify_binding(identity.public_bytes, static, signature)
    assert verified.identifier == identity.identifier


def test_binding_with_a_wrong_key_fails() -> None:
    identity = Identity.generate()
    static = _static_public()
    signature = bind_static_key(identity, static)
    with pytest.raises(IdentityError, match="did not sign this Noise static key"):
        verify_binding(identity.public_bytes, _static_public(), signature)
    with pytest.raises(IdentityError, match="did not sign this Noise static key"):
        verify_binding(Identity.generate().public_bytes, static, signature)
    # A plain signature over the key is not a binding: the message is domain-separated.
    with pytest.raises(IdentityError):
        verify_binding(identity.public_bytes, static, identity.sign(static))
    with pytest.raises(ValueError, match="32-byte X25519 public key"):
        bind_static_key(identity, b"short")


def test_identity_proof_encodes_and_decodes() -> None:
    identity = Identity.generate()
    static = _static_public()
    proof = IdentityProof.create(identity, static)
    encoded = proof.encode()
    assert msgspec.msgpack.decode(encoded) == [identity.public_bytes, proof.signature]
    decoded = IdentityProof.decode(encoded)
    assert decoded == proof
    assert decoded.verify(static).identifier == identity.identifier
    with pytest.raises(IdentityError):
        decoded.verify(_static_public())


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"\xc1",
        msgspec.msgpack.encode([b"x" * 31, b"s" * 64]),
        msgspec.msgpack.encode([b"x" * 32, b"s" * 63]),
        msgspec.msgpack.encode([b"x" * 32, b"s" * 64, b"extra"]),
        msgspec.msgpack.encode({"public_key": b"x" * 32}),
    ],
)
def test_malformed_identity_proof_raises_identity_error(payload: bytes) -> None:
    with pytest.raises(IdentityError, match="malformed identity proof"):
        IdentityProof.decode(payload)


def test_handshake_carrying_identity_proofs_authenticates_both_sides() -> None:
    alice, bob = Identity.generate(), Identity.generate()
    initiator = HandshakeState(True, static_private=X25519PrivateKey.generate().private_bytes_raw())
    responder = HandshakeState(
        False, static_private=X25519PrivateKey.generate().private_bytes_raw()
    )
    responder.read_message(initiator.write_message(b""))
    message2 = responder.write_message(IdentityProof.create(bob, responder.static_public).encode())
    bob_proof = IdentityProof.decode(initiator.read_message(message2))
    assert initiator.remote_static is not None
    assert bob_proof.verify(initiator.remote_static).identifier == bob.identifier
    message3 = initiator.write_message(
        IdentityProof.create(alice, initiator.static_public).encode()
    )
    alice_proof = IdentityProof.decode(responder.read_message(message3))
    assert responder.remote_static is not None
    assert alice_proof.verify(responder.remote_static).identifier == alice.identifier
    # A proof replayed from another session (another static key) does not fit this one.
    with pytest.raises(IdentityError):
        bob_proof.verify(responder.remote_static)


# -- vault --------------------------------------------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_vault_file_is_0600_in_a_0700_directory(tmp_path: Path) -> None:
    path = tmp_path / "home" / "vault.json"
    vault = Vault.open(path)
    assert vault.path == path
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700
    vault.create_identity("default")
    vault.get_or_create_static_key("default")
    assert _mode(path) == 0o600
    assert sorted(p.name for p in path.parent.iterdir()) == ["vault.json", "vault.json.lock"]


def test_vault_file_mode_ignores_a_permissive_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        vault = Vault.open(tmp_path / "v" / "vault.json")
        vault.create_identity("a")
    finally:
        os.umask(old)
    assert _mode(vault.path) == 0o600
    assert _mode(vault.path.parent) == 0o700


def test_vault_survives_reopen(tmp_path: Path) -> None:
    path = tmp_path / "vault.json"
    vault = Vault.open(path)
    identity = vault.create_identity("default")
    other = vault.create_identity("other")
    static = vault.get_or_create_static_key("default")
    assert len(static) == 32
    assert vault.get_or_create_static_key("default") == static

    reopened = Vault(path)
    assert reopened.list_identities() == ["default", "other"]
    assert reopened.get_identity("default").identifier == identity.identifier
    assert reopened.get_identity("other").public == other.public
    assert reopened.get_or_create_static_key("default") == static
    assert reopened.get_or_create_static_key("second") != static


def test_deleting_an_identity_forgets_its_keys(tmp_path: Path) -> None:
    vault = Vault.open(tmp_path / "vault.json")
    gone, kept = vault.create_identity("gone"), vault.create_identity("kept")
    static = vault.get_or_create_static_key("gone")
    assert vault.delete_identity("gone") is True
    assert vault.delete_identity("gone") is False
    assert Vault(vault.path).list_identities() == ["kept"]
    content = vault.path.read_bytes()
    for secret in (gone.private_bytes(), static):
        assert base64.b64encode(secret) not in content
    assert base64.b64encode(kept.private_bytes()) in content
    assert _mode(vault.path) == 0o600


def test_two_vault_objects_on_one_file_see_each_other(tmp_path: Path) -> None:
    path = tmp_path / "vault.json"
    first, second = Vault.open(path), Vault.open(path)
    first.create_identity("a")
    second.create_identity("b")
    assert first.list_identities() == second.list_identities() == ["a", "b"]


def test_duplicate_identity_is_refused(tmp_path: Path) -> None:
    vault = Vault.open(tmp_path / "vault.json")
    vault.create_identity("x")
    with pytest.raises(VaultError, match=r"identity 'x' already exists in vault /.*vault\.json"):
        vault.create_identity("x")


def test_missing_identity_is_reported(tmp_path: Path) -> None:
    vault = Vault.open(tmp_path / "vault.json")
    assert vault.list_identities() == []
    with pytest.raises(VaultError, match=r"no identity 'ghost' in vault .*identities there: none"):
        vault.get_identity("ghost")
    vault.create_identity("real")
    with pytest.raises(VaultError, match="identities there: 'real'"):
        vault.get_identity("ghost")
    with pytest.raises(ValueError, match="non-empty"):
        vault.create_identity("")


def test_vault_readable_by_others_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "vault.json"
    Vault.open(path).create_identity("a")
    path.chmod(0o644)
    with pytest.raises(VaultError, match=r"mode 0644.*chmod 600"):
        Vault.open(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"{not json", "corrupt or not a vault"),
        (
            b'{"version": 1, "identities": {"a": "AAAA"}, "static_keys": {}}',
            "identity 'a' is 3 bytes",
        ),
    ],
    ids=["corrupt", "bad key length"],
)
def test_a_broken_vault_is_refused(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "vault.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, content)
    os.close(fd)
    with pytest.raises(VaultError, match=message):
        Vault.open(path)


def test_updates_leave_no_temporary_files(tmp_path: Path) -> None:
    """Writes are atomic: no temporary file is left behind after many updates."""
    vault = Vault.open(tmp_path / "vault.json")
    for n in range(5):
        vault.create_identity(f"id{n}")
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")]
    assert leftovers == []
