"""Identities: Ed25519 keys, their identifiers, and the binding of a Noise static key to one.

An identity is an Ed25519 key pair. Its identifier is ``"I"`` followed by the lowercase hex of the
full SHA-256 digest of the raw 32-byte public key: 65 characters, e.g. ``"I3b0c…"``. (Ockam
hashes a change history and keeps 20 bytes; this project has no change history, so it hashes
the key itself and keeps all 32 bytes. Identifiers are therefore not interchangeable with
Ockam's.)

During a secure channel handshake each side sends, as the payload of its Noise message that
carries its static key (messages 2 and 3 of XX), an `IdentityProof`: its identity public key and
an Ed25519 signature over its X25519 static public key. The Noise handshake proves the peer
holds that static key; the signature proves the identity vouches for it. Together they
authenticate the peer as that identity, and ``--authorized IDENTIFIER`` compares against
`IdentityPublic.identifier`. The signed message is domain-separated (`BINDING_CONTEXT`) so
such a signature can never be mistaken for a signature over anything else.
"""

from __future__ import annotations

import hashlib
from typing import Annotated

import msgspec
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ._hex import decode_hex

IDENTIFIER_PREFIX = "I"
"""The first character of every identifier."""

PUBLIC_KEY_LEN = 32
"""Length of a raw Ed25519 public key (and of a raw private key)."""

SIGNATURE_LEN = 64
"""Length of an Ed25519 signature."""

BINDING_CONTEXT = b"trio-ockam/noise-static-key-binding/v1\x00"
"""Prefix of the message an identity signs to vouch for a Noise static key."""

_STATIC_KEY_LEN = 32


class IdentityError(Exception):
    """A signature, identity proof or key failed verification or could not be parsed."""


def _as_bytes(name: str, value: bytes) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise TypeError(f"{name} must be bytes, got {type(value).__name__}")
    return bytes(value)


def _identifier(public_raw: bytes) -> str:
    return IDENTIFIER_PREFIX + hashlib.sha256(public_raw).hexdigest()


def _binding_message(noise_static_public: bytes) -> bytes:
    static = _as_bytes("noise_static_public", noise_static_public)
    if len(static) != _STATIC_KEY_LEN:
        raise ValueError(
            f"noise_static_public must be a {_STATIC_KEY_LEN}-byte X25519 public key, "
            f"got {len(static)} bytes"
        )
    return BINDING_CONTEXT + static


class IdentityPublic:
    """The public half of an identity: verifies its signatures and names it.

    Args:
        public_key: The raw 32-byte Ed25519 public key.

    Raises:
        IdentityError: The key is not 32 bytes or not a valid Ed25519 key.
    """

    __slots__ = ("_identifier", "_key", "_raw")

    def __init__(self, public_key: bytes) -> None:
        raw = _as_bytes("public_key", public_key)
        if len(raw) != PUBLIC_KEY_LEN:
            raise IdentityError(f"an identity public key is {PUBLIC_KEY_LEN} bytes, got {len(raw)}")
        try:
            self._key = Ed25519PublicKey.from_public_bytes(raw)
        except ValueError as exc:
            raise IdentityError(f"not a valid Ed25519 public key: {exc}") from None
        self._raw = raw
        self._identifier = _identifier(raw)

    def __repr__(self) -> str:
        return f"IdentityPublic(identifier={self._identifier!r})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IdentityPublic):
            return NotImplemented
        return self._raw == other._raw

    def __hash__(self) -> int:
        return hash(self._raw)

    @property
    def identifier(self) -> str:
        """``"I"`` + hex(SHA-256(public key)), 65 characters."""
        return self._identifier

    @property
    def public_bytes(self) -> bytes:
        """The raw 32-byte Ed25519 public key."""
        return self._raw

    def export(self) -> bytes:
        """The exported identity: what another node needs to trust this one as an authority.

        The msgpack array ``[identifier, public_key]``; `IdentityPublic.from_exported` reads it
        back and checks that the identifier is the one derived from the key. On the command
        line it is written in hex (`export_hex`).
        """
        return _exported_encoder.encode(_ExportedIdentity(self._identifier, self._raw))

    def export_hex(self) -> str:
        """`export` in lowercase hex, as ``identity show NAME --full --encoding hex`` prints it."""
        return self.export().hex()

    @classmethod
    def from_exported(cls, exported: bytes | str) -> IdentityPublic:
        """Read an exported identity (bytes, or their hex as a string) and check it.

        Raises:
            IdentityError: The text is not hex, the bytes are not an exported identity, the key
                is not a valid Ed25519 key, or the identifier is not the one derived from it.
        """
        if isinstance(exported, str):
            exported = decode_hex(exported, what="an exported identity", error=IdentityError)
        try:
            data = _exported_decoder.decode(_as_bytes("exported", exported))
        except msgspec.DecodeError as exc:
            raise IdentityError(f"not an exported identity: {exc}") from None
        identity = cls(data.public_key)
        if identity.identifier != data.identifier:
            raise IdentityError(
                f"exported identity names identifier {data.identifier}, but its public key "
                f"derives {identity.identifier}: it was altered"
            )
        return identity

    def verify(self, signature: bytes, data: bytes) -> None:
        """Check that this identity signed `data`.

        Args:
            signature: A 64-byte Ed25519 signature.
            data: The signed bytes.

        Raises:
            IdentityError: The signature is not this identity's signature over `data`.
        """
        signature = _as_bytes("signature", signature)
        try:
            self._key.verify(signature, _as_bytes("data", data))
        except InvalidSignature:
            raise IdentityError(
                f"signature does not verify for identity {self._identifier} "
                "(wrong signer, or the data or signature was altered)"
            ) from None


class Identity:
    """An identity with its private key: signs, and vouches for Noise static keys.

    Create one with `Identity.generate` or load one with `Identity.from_private_bytes` (a
    `Vault` does both). The repr never shows the private key.

    Args:
        private_key: The Ed25519 private key.
    """

    __slots__ = ("_private", "_public")

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        if not isinstance(private_key, Ed25519PrivateKey):
            raise TypeError(
                f"private_key must be an Ed25519PrivateKey, got {type(private_key).__name__}"
            )
        self._private = private_key
        self._public = IdentityPublic(private_key.public_key().public_bytes_raw())

    @classmethod
    def generate(cls) -> Identity:
        """A new identity with a fresh random key."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_private_bytes(cls, private_key: bytes) -> Identity:
        """Load an identity from its raw 32-byte Ed25519 private key.

        Raises:
            ValueError: The key is not 32 bytes.
        """
        raw = _as_bytes("private_key", private_key)
        if len(raw) != PUBLIC_KEY_LEN:
            raise ValueError(f"an identity private key is {PUBLIC_KEY_LEN} bytes, got {len(raw)}")
        return cls(Ed25519PrivateKey.from_private_bytes(raw))

    def __repr__(self) -> str:
        return f"Identity(identifier={self.identifier!r})"

    @property
    def identifier(self) -> str:
        """``"I"`` + hex(SHA-256(public key)), 65 characters."""
        return self._public.identifier

    @property
    def public(self) -> IdentityPublic:
        """The public half, to hand to peers."""
        return self._public

    @property
    def public_bytes(self) -> bytes:
        """The raw 32-byte Ed25519 public key."""
        return self._public.public_bytes

    def private_bytes(self) -> bytes:
        """The raw 32-byte Ed25519 private key, for storage in a vault. Keep it secret."""
        return self._private.private_bytes_raw()

    def sign(self, data: bytes) -> bytes:
        """Sign `data`; returns a 64-byte Ed25519 signature."""
        return self._private.sign(_as_bytes("data", data))


def bind_static_key(identity: Identity, noise_static_public: bytes) -> bytes:
    """Sign a Noise static public key with an identity, vouching that the identity uses it.

    Args:
        identity: The identity that owns the static key.
        noise_static_public: The 32-byte X25519 static public key
            (`HandshakeState.static_public`).

    Returns:
        The 64-byte signature, sent in an `IdentityProof`.

    Raises:
        ValueError: The static key is not 32 bytes.
    """
    return identity.sign(_binding_message(noise_static_public))


def verify_binding(
    identity_public_key: bytes, noise_static_public: bytes, signature: bytes
) -> IdentityPublic:
    """Check that an identity vouched for a Noise static key.

    Args:
        identity_public_key: The claimed identity's raw 32-byte Ed25519 public key.
        noise_static_public: The static key the handshake authenticated
            (`HandshakeState.remote_static`).
        signature: The signature from the peer's `IdentityProof`.

    Returns:
        The verified identity; compare its `IdentityPublic.identifier` with the authorized ones.

    Raises:
        IdentityError: The key is malformed, or the signature is not that identity's over that
            static key.
        ValueError: The static key is not 32 bytes.
    """
    identity = IdentityPublic(identity_public_key)
    message = _binding_message(noise_static_public)
    try:
        identity.verify(signature, message)
    except IdentityError:
        raise IdentityError(
            f"identity {identity.identifier} did not sign this Noise static key: "
            "the peer's identity proof does not match the key it used in the handshake"
        ) from None
    return identity


class IdentityProof(msgspec.Struct, frozen=True, array_like=True, forbid_unknown_fields=True):
    """The handshake payload that binds a side's Noise static key to its identity.

    Sent as the payload of XX messages 2 (responder) and 3 (initiator), both encrypted. Encoded
    as the msgpack array ``[public_key, signature]``.

    Attributes:
        public_key: The sender's raw 32-byte Ed25519 identity public key.
        signature: `bind_static_key` over the sender's Noise static public key.
    """

    public_key: Annotated[bytes, msgspec.Meta(min_length=PUBLIC_KEY_LEN, max_length=PUBLIC_KEY_LEN)]
    signature: Annotated[bytes, msgspec.Meta(min_length=SIGNATURE_LEN, max_length=SIGNATURE_LEN)]

    @classmethod
    def create(cls, identity: Identity, noise_static_public: bytes) -> IdentityProof:
        """The proof that `identity` vouches for `noise_static_public`.

        Raises:
            ValueError: The static key is not 32 bytes.
        """
        return cls(
            public_key=identity.public_bytes,
            signature=bind_static_key(identity, noise_static_public),
        )

    def verify(self, noise_static_public: bytes) -> IdentityPublic:
        """Check this proof against the static key the handshake authenticated.

        Returns:
            The verified identity of the peer.

        Raises:
            IdentityError: The proof does not bind that static key.
        """
        return verify_binding(self.public_key, noise_static_public, self.signature)

    def encode(self) -> bytes:
        """The msgpack encoding, to use as a handshake payload."""
        return _proof_encoder.encode(self)

    @classmethod
    def decode(cls, data: bytes) -> IdentityProof:
        """Parse a handshake payload.

        Raises:
            IdentityError: The payload is not a well-formed identity proof.
        """
        try:
            return _proof_decoder.decode(data)
        except msgspec.DecodeError as exc:  # ValidationError is a subclass
            raise IdentityError(f"malformed identity proof from the peer: {exc}") from None


_proof_encoder = msgspec.msgpack.Encoder()
_proof_decoder = msgspec.msgpack.Decoder(IdentityProof)


class _ExportedIdentity(msgspec.Struct, frozen=True, array_like=True, forbid_unknown_fields=True):
    identifier: str
    public_key: Annotated[bytes, msgspec.Meta(min_length=PUBLIC_KEY_LEN, max_length=PUBLIC_KEY_LEN)]


_exported_encoder = msgspec.msgpack.Encoder()
_exported_decoder = msgspec.msgpack.Decoder(_ExportedIdentity)
