"""The errors of the Noise layer, shared by the handshake and the transport encryption.

After a `HandshakeError` the handshake is unusable; after a `DecryptionError` nothing changed
and the receiver carries on; a `NonceError` means nothing was encrypted.
"""

from __future__ import annotations

import enum


class NoiseError(Exception):
    """Base class of the errors raised by the Noise layer."""


class HandshakeError(NoiseError):
    """The handshake failed or was driven wrongly; the `HandshakeState` is now unusable.

    Start a new handshake (new `HandshakeState` objects on both sides) to try again.
    """


class NonceError(NoiseError):
    """Encrypting would reuse a nonce with the same key; the message was not encrypted."""


class NonceExhaustedError(NonceError):
    """The nonce counter reached its last usable value; re-establish the channel to continue."""


class DropReason(enum.StrEnum):
    """Why a ciphertext, a transport frame or a channel message was refused
    (`DecryptionError.reason`, `MessageDropped.reason`)."""

    MALFORMED = "malformed"
    """Undecodable, too short to hold a counter and a tag, or carries a counter that is never
    valid."""
    UNEXPECTED = "unexpected"
    """A channel message this end does not expect now: out of order or repeated."""
    CLOSED = "closed"
    """A channel message that arrived after the channel ended (closed or failed)."""
    TAMPERED = "tampered"
    """Failed authentication: modified in transit, truncated, or not from this channel."""
    REPLAYED = "replayed"
    """A frame with the same counter was already accepted."""
    TOO_OLD = "too_old"
    """Older than the replay window: it cannot be told apart from a replay."""
    TOO_FAR_AHEAD = "too_far_ahead"
    """Encrypted under a key more than one rekey interval ahead of the receiver."""
    CREDENTIAL_REFUSED = "credential_refused"
    """A presented credential that does not verify against the trusted authorities."""


class DecryptionError(NoiseError):
    """A ciphertext was refused; nothing was decrypted and the receiver's state is unchanged.

    Attributes:
        reason: Why it was refused, for logs and statistics.
    """

    def __init__(self, message: str, *, reason: DropReason) -> None:
        super().__init__(message)
        self.reason = reason
