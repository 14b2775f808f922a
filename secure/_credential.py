"""Credentials: an authority's signed statement of a subject's attributes, for a limited time.

A credential says "identity SUBJECT has these attributes, from CREATED until EXPIRES, in SCOPE",
signed with the Ed25519 key of the issuing identity (the authority). Whoever trusts the
authority's identifier believes the attributes; policies (`secure.is_authorized`) decide on them.

Encoding (ours, not Ockam's): a `Credential` is the msgpack array
``[data, issuer_public_key, signature]``. ``data`` is the msgpack encoding of `CredentialData`,
kept as the exact bytes that were signed, so verifying never depends on encoding the same value
twice the same way. ``signature`` is the issuer's signature over `CREDENTIAL_CONTEXT` + ``data``.
The issuer's public key travels with the credential, so a verifier that knows only the
authority's *identifier* can check it: the identifier is the hash of that key. On the command
line a credential is written in hex (`Credential.hex`, `Credential.from_hex`).

`verify_credential` refuses, each with its own exception (all `CredentialError`): bytes that are
not a credential, an issuer other than the trusted one, a signature that does not verify (one
byte changed anywhere), a credential for another subject or scope, one not yet valid, and one
that has expired.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Mapping
from typing import Annotated

import msgspec

from ._channel_info import check_identifier
from ._hex import decode_hex
from ._identity import SIGNATURE_LEN, Identity, IdentityError, IdentityPublic

CREDENTIAL_CONTEXT = b"trio-ockam/credential/v1\x00"
"""Prefix of the message an issuer signs, so a credential signature means nothing else."""

DEFAULT_CREDENTIAL_SCOPE = "project-member"
"""The scope of credentials an authority issues to its members."""

RESERVED_ATTRIBUTES = frozenset({"identifier", "has_credential"})
"""Attribute names a credential may not carry: policies see the subject's verified identifier
as ``subject.identifier`` and ``subject.has_credential``, and an issuer cannot override them."""

MAX_CLOCK_SKEW = 60
"""Seconds a credential's creation time may lie in the verifier's future (clocks differ)."""

_KEY_LEN = 32


class CredentialError(Exception):
    """A credential was refused; the subclass says why."""


class CredentialDecodeError(CredentialError):
    """The bytes or the hex text are not a credential."""


class CredentialIssuerError(CredentialError):
    """The credential was issued by an identity other than the trusted authority."""


class CredentialSignatureError(CredentialError):
    """The signature does not verify: the credential was altered after it was signed."""


class CredentialSubjectError(CredentialError):
    """The credential is about another identity than the one presenting it."""


class CredentialScopeError(CredentialError):
    """The credential was issued for another scope than the one required."""


class CredentialExpiredError(CredentialError):
    """The credential's expiry time has passed."""


class CredentialNotYetValidError(CredentialError):
    """The credential's creation time lies in the future."""


class CredentialData(msgspec.Struct, frozen=True, array_like=True, forbid_unknown_fields=True):
    """What a credential states; the bytes of its encoding are what the issuer signs.

    Attributes:
        subject: The identifier of the identity the credential is about.
        scope: What the credential is for (`DEFAULT_CREDENTIAL_SCOPE` for project members).
        attributes: Name to value, both strings, sorted by name.
        created: When it was issued, in whole seconds since the Unix epoch.
        expires: When it stops being valid, in whole seconds since the Unix epoch.
    """

    subject: str
    scope: str
    attributes: dict[str, str]
    created: int
    expires: int

    def is_expired(self, now: float) -> bool:
        """Whether the credential has expired at `now` (seconds since the Unix epoch)."""
        return now >= self.expires


class Credential(msgspec.Struct, frozen=True, array_like=True, forbid_unknown_fields=True):
    """A signed credential, as it travels and as it is stored.

    Make one with `issue_credential`; check one with `verify_credential`. `data` decodes without
    verification for display (`Credential.unverified_data`): never decide anything on it.

    Attributes:
        data: The msgpack encoding of a `CredentialData`, exactly as signed.
        issuer_public_key: The issuer's raw 32-byte Ed25519 public key.
        signature: The issuer's signature over `CREDENTIAL_CONTEXT` + `data`.
    """

    data: bytes
    issuer_public_key: Annotated[bytes, msgspec.Meta(min_length=_KEY_LEN, max_length=_KEY_LEN)]
    signature: Annotated[bytes, msgspec.Meta(min_length=SIGNATURE_LEN, max_length=SIGNATURE_LEN)]

    @property
    def issuer(self) -> str:
        """The identifier of the identity that signed the credential (derived from its key).

        Raises:
            CredentialDecodeError: The key is not a valid Ed25519 public key.
        """
        return _issuer(self).identifier

    def unverified_data(self) -> CredentialData:
        """The statement, decoded but NOT verified: for showing, never for deciding.

        Raises:
            CredentialDecodeError: `data` is not a well-formed statement.
        """
        try:
            return _data_decoder.decode(self.data)
        except msgspec.DecodeError as exc:
            raise CredentialDecodeError(f"credential's statement is malformed: {exc}") from None

    def encode(self) -> bytes:
        """The msgpack encoding of the credential."""
        return _encoder.encode(self)

    def hex(self) -> str:
        """The encoding in lowercase hex, as the command line prints and takes it."""
        return self.encode().hex()

    @classmethod
    def decode(cls, data: bytes) -> Credential:
        """Parse an encoded credential (not verified).

        Raises:
            CredentialDecodeError: The bytes are not a credential.
        """
        try:
            return _decoder.decode(data)
        except msgspec.DecodeError as exc:  # ValidationError is a subclass
            raise CredentialDecodeError(f"not a credential: {exc}") from None

    @classmethod
    def from_hex(cls, text: str) -> Credential:
        """Parse a credential written in hex (not verified).

        Raises:
            CredentialDecodeError: The text is not hex, or its bytes are not a credential.
        """
        return cls.decode(decode_hex(text, what="a credential", error=CredentialDecodeError))


def _check_attributes(attributes: Mapping[str, str]) -> dict[str, str]:
    checked: dict[str, str] = {}
    for name, value in sorted(attributes.items()):
        if not isinstance(name, str) or not name or not name.isprintable() or " " in name:
            raise ValueError(
                f"an attribute name is a non-empty printable string without spaces, got {name!r}"
            )
        if name in RESERVED_ATTRIBUTES:
            raise ValueError(
                f"attribute name {name!r} is reserved: policies set subject.{name} themselves"
            )
        if not isinstance(value, str):
            raise TypeError(f"attribute {name!r} must be a string, got {type(value).__name__}")
        checked[name] = value
    return checked


def issue_credential(
    issuer: Identity,
    subject: str,
    attributes: Mapping[str, str],
    *,
    ttl: int,
    now: float,
    scope: str = DEFAULT_CREDENTIAL_SCOPE,
) -> Credential:
    """Issue a credential: `issuer` states that `subject` has `attributes` for `ttl` seconds.

    Args:
        issuer: The authority's identity, with its private key.
        subject: The identifier of the identity the credential is about (``"I"`` + 64 hex).
        attributes: Attribute names to values; names are non-empty, without spaces, and not
            one of `RESERVED_ATTRIBUTES`.
        ttl: How long it is valid, in whole seconds (at least 1).
        now: The current time, in seconds since the Unix epoch (``time.time()``).
        scope: What the credential is for.

    Raises:
        ValueError: The subject is not an identifier, the ttl is not positive, the scope is
            empty, or an attribute name is invalid or reserved.
        TypeError: An attribute value is not a string.
    """
    check_identifier(subject)
    if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl < 1:
        raise ValueError(f"ttl is a whole number of seconds, at least 1, got {ttl!r}")
    if not isinstance(scope, str) or not scope or not scope.isprintable():
        raise ValueError(f"scope must be a non-empty printable string, got {scope!r}")
    created = math.floor(now)
    data = CredentialData(
        subject=subject,
        scope=scope,
        attributes=_check_attributes(attributes),
        created=created,
        expires=created + ttl,
    )
    encoded = _encoder.encode(data)
    return Credential(
        data=encoded,
        issuer_public_key=issuer.public_bytes,
        signature=issuer.sign(CREDENTIAL_CONTEXT + encoded),
    )


def verify_credential(
    credential: Credential | bytes | str,
    *,
    issuer_identity: IdentityPublic | str,
    now: float,
    subject: str | None = None,
    scope: str | None = None,
) -> CredentialData:
    """Check a credential against the trusted authority; return what it states.

    Args:
        credential: The credential, its encoding, or its hex.
        issuer_identity: The trusted authority: its public identity, or just its identifier
            (the credential carries the key, whose hash the identifier is).
        now: The current time, in seconds since the Unix epoch.
        subject: If given, the identifier the credential must be about (the peer presenting it).
        scope: If given, the scope the credential must have been issued for.

    Returns:
        The verified statement: subject, scope, attributes, created, expires.

    Raises:
        CredentialDecodeError: Not a credential.
        CredentialIssuerError: Issued by someone else than `issuer_identity`.
        CredentialSignatureError: The signature does not verify (the credential was altered).
        CredentialSubjectError: About another identity than `subject`.
        CredentialScopeError: For another scope than `scope`.
        CredentialNotYetValidError: Created more than `MAX_CLOCK_SKEW` seconds after `now`.
        CredentialExpiredError: Expired at or before `now`.
    """
    if isinstance(credential, str):
        credential = Credential.from_hex(credential)
    elif not isinstance(credential, Credential):
        credential = Credential.decode(credential)
    trusted = (
        issuer_identity.identifier
        if isinstance(issuer_identity, IdentityPublic)
        else issuer_identity
    )
    issuer = _issuer(credential)
    if issuer.identifier != trusted:
        raise CredentialIssuerError(
            f"credential was issued by {issuer.identifier}, "
            f"which is not the trusted authority {trusted}"
        )
    try:
        issuer.verify(credential.signature, CREDENTIAL_CONTEXT + credential.data)
    except IdentityError:
        raise CredentialSignatureError(
            f"credential signature does not verify for authority {trusted}: "
            "the credential was altered after it was issued"
        ) from None
    data = credential.unverified_data()  # verified now
    if subject is not None and data.subject != subject:
        raise CredentialSubjectError(
            f"credential is for {data.subject}, not for {subject} who presented it"
        )
    if scope is not None and data.scope != scope:
        raise CredentialScopeError(f"credential has scope {data.scope!r}, expected {scope!r}")
    if data.created > now + MAX_CLOCK_SKEW:
        raise CredentialNotYetValidError(
            f"credential was created at {_when(data.created)}, "
            f"{data.created - now:.0f} s in the future: check the clocks"
        )
    if data.is_expired(now):
        raise CredentialExpiredError(
            f"credential expired at {_when(data.expires)} ({now - data.expires:.0f} s ago)"
        )
    return data


def _issuer(credential: Credential) -> IdentityPublic:
    try:
        return IdentityPublic(credential.issuer_public_key)
    except IdentityError as exc:
        raise CredentialDecodeError(f"credential's issuer key is not valid: {exc}") from None


def _when(timestamp: int) -> str:
    return datetime.datetime.fromtimestamp(timestamp, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Credential)
_data_decoder = msgspec.msgpack.Decoder(CredentialData)
