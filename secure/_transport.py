"""Transport encryption for an established secure channel, sans-IO.

After the handshake, each direction of a channel has one `ChannelEncryptor` (on the sender) and
one `ChannelDecryptor` (on the receiver), built from the `CipherState`s of
`HandshakeState.split`. Decisions, for whoever touches this next:

Frame format
    ``counter (8 bytes, big-endian) || ciphertext || tag (16 bytes)``. The counter is the Noise
    nonce the frame was encrypted under, and the associated data is empty, so frame ``n`` is
    exactly ``n.to_bytes(8, "big")`` followed by the Noise transport message number ``n``. The
    counter travels in clear so the receiver needs no shared ordering; it is authenticated
    because it is the nonce (a changed counter fails the tag check).

Replay and reordering
    Routes through relays may deliver frames out of order, so the receiver accepts any frame
    within a window of `REPLAY_WINDOW` (64) counters behind the newest frame accepted so far, at
    most once each, tracked in a 64-bit bitmap (RFC 4303 section 3.4.3, RFC 6479; WireGuard
    works the same way). A repeated counter is dropped as a replay; a counter further behind is
    dropped as too old. A frame changes the window only after its tag verified, so forged or
    damaged frames cannot push genuine ones out of it, and the decryptor keeps working after
    refusing one. Every refusal raises `DecryptionError` with a `DropReason`; the caller logs
    and drops that frame and carries on.

Rekeying
    Both sides apply Noise's ``REKEY()`` to the key of a direction every `REKEY_INTERVAL`
    (2**20) frames, at counters that are multiples of the interval, with no message exchanged:
    frame ``n`` is under key epoch ``n // REKEY_INTERVAL``. 2**20 keeps every key far inside
    the AES-GCM usage limits (TLS 1.3, RFC 8446 section 5.5, allows 2**24.5 full-size records
    per key; 2**20 frames of 64 KiB are 2**32 AES blocks, against the 2**34.5 that allows),
    and a rekey costs one block encryption, so rekeying that often costs nothing measurable.
    It is a constant of the protocol, not negotiated: both sides must use the same value. The
    receiver keeps the previous epoch's key for frames reordered across a boundary, derives
    the next epoch's key when a frame from it arrives and keeps it only if that frame
    authenticates, and refuses frames from any later epoch (reaching one would take 2**20 lost
    frames in a row).

Nonces
    The encryptor's counter only grows, a `CipherState` refuses to encrypt twice at one nonce,
    and at 2**64 - 1 (reserved by Noise) the encryptor raises `NonceExhaustedError`: the channel
    must then be re-established. No channel gets anywhere near that.
"""

from __future__ import annotations

from ._cipher_state import MAX_NONCE, TAG_LEN, CipherState
from ._noise_errors import DecryptionError, DropReason

COUNTER_LEN = 8
"""Length of the explicit counter that starts every frame."""

FRAME_OVERHEAD = COUNTER_LEN + TAG_LEN
"""Bytes a frame adds to its plaintext: the counter and the tag (24)."""

REPLAY_WINDOW = 64
"""How many counters behind the newest accepted frame a frame may be and still be accepted."""

REKEY_INTERVAL = 2**20
"""Frames per key: both sides rekey each direction at every multiple of this counter."""

_WINDOW_MASK = (1 << REPLAY_WINDOW) - 1


def _check_cipher_state(cipher_state: CipherState) -> None:
    if not isinstance(cipher_state, CipherState):
        raise TypeError(f"cipher_state must be a CipherState, got {type(cipher_state).__name__}")
    if not cipher_state.has_key:
        raise ValueError("cipher_state has no key: pass one returned by HandshakeState.split()")
    if cipher_state.nonce != 0:
        raise ValueError(
            f"cipher_state was already used (nonce {cipher_state.nonce}): pass a fresh one "
            "returned by HandshakeState.split()"
        )


def _check_interval(rekey_interval: int) -> int:
    if not isinstance(rekey_interval, int) or rekey_interval < REPLAY_WINDOW:
        raise ValueError(
            f"rekey_interval must be an integer of at least {REPLAY_WINDOW} (the replay "
            f"window), got {rekey_interval!r}"
        )
    return rekey_interval


class ChannelEncryptor:
    """Encrypts the frames one side of a channel sends.

    Args:
        cipher_state: The sending `CipherState` from `HandshakeState.split`, unused; the
            encryptor becomes its only user.
        rekey_interval: Frames per key; must match the peer's decryptor. Leave the default
            outside tests.

    Raises:
        ValueError: The cipher state has no key or was already used, or the interval is smaller
            than the replay window.
    """

    __slots__ = ("_cipher_state", "_rekey_interval")

    def __init__(self, cipher_state: CipherState, *, rekey_interval: int = REKEY_INTERVAL) -> None:
        _check_cipher_state(cipher_state)
        self._cipher_state = cipher_state
        self._rekey_interval = _check_interval(rekey_interval)

    def __repr__(self) -> str:
        return f"<ChannelEncryptor next_counter={self.next_counter}>"

    @property
    def next_counter(self) -> int:
        """The counter the next frame will carry (also the number of frames sent so far)."""
        return self._cipher_state.nonce

    def encrypt(self, plaintext: bytes) -> bytes:
        """Encrypt one message into a frame.

        Args:
            plaintext: The message.

        Returns:
            ``counter || ciphertext || tag``: `FRAME_OVERHEAD` bytes longer than `plaintext`.

        Raises:
            NonceExhaustedError: 2**64 - 1 frames were sent; re-establish the channel.
        """
        cipher_state = self._cipher_state
        counter = cipher_state.nonce
        ciphertext = cipher_state.encrypt_with_ad(b"", plaintext)
        if (counter + 1) % self._rekey_interval == 0:
            cipher_state.rekey()
        return counter.to_bytes(COUNTER_LEN, "big") + ciphertext


class ChannelDecryptor:
    """Checks and decrypts the frames one side of a channel receives.

    Accepts each counter at most once, in any order within `REPLAY_WINDOW` of the newest frame
    accepted so far. A refused frame leaves the decryptor unchanged.

    Takes the receiving `CipherState` of `HandshakeState.split` (and the same `rekey_interval`
    as the peer's encryptor), as `ChannelEncryptor` takes the sending one; raises as it does.
    """

    __slots__ = ("_bitmap", "_current", "_epoch", "_highest", "_previous", "_rekey_interval")

    def __init__(self, cipher_state: CipherState, *, rekey_interval: int = REKEY_INTERVAL) -> None:
        _check_cipher_state(cipher_state)
        self._rekey_interval = _check_interval(rekey_interval)
        self._current = cipher_state  # the key of epoch self._epoch
        self._previous: CipherState | None = None  # the key of epoch self._epoch - 1
        self._epoch = 0
        self._highest = -1  # newest counter accepted; -1 before the first frame
        self._bitmap = 0  # bit i set: counter self._highest - i was accepted

    def __repr__(self) -> str:
        return f"<ChannelDecryptor highest={self._highest} epoch={self._epoch}>"

    @property
    def highest_counter(self) -> int:
        """The newest counter accepted so far, or -1 before the first frame."""
        return self._highest

    def decrypt(self, frame: bytes) -> bytes:
        """Check one frame and return its message.

        Args:
            frame: A frame produced by the peer's `ChannelEncryptor.encrypt`.

        Returns:
            The plaintext.

        Raises:
            DecryptionError: The frame is refused; `DecryptionError.reason` says why
                (`DropReason.MALFORMED`, `TAMPERED`, `REPLAYED`, `TOO_OLD` or
                `TOO_FAR_AHEAD`). Drop the frame and keep going.
        """
        if len(frame) < FRAME_OVERHEAD:
            raise DecryptionError(
                f"frame of {len(frame)} bytes is shorter than the {FRAME_OVERHEAD}-byte minimum "
                f"({COUNTER_LEN}-byte counter and {TAG_LEN}-byte tag)",
                reason=DropReason.MALFORMED,
            )
        counter = int.from_bytes(frame[:COUNTER_LEN], "big")
        if counter >= MAX_NONCE:
            raise DecryptionError(
                "frame carries counter 2**64 - 1, which Noise reserves and no sender uses",
                reason=DropReason.MALFORMED,
            )
        age = self._highest - counter
        if age >= REPLAY_WINDOW:
            raise DecryptionError(
                f"frame {counter} is too old: {age} behind the newest frame {self._highest}, "
                f"outside the {REPLAY_WINDOW}-frame replay window",
                reason=DropReason.TOO_OLD,
            )
        if age >= 0 and (self._bitmap >> age) & 1:
            raise DecryptionError(
                f"frame {counter} was already received: dropped as a replay",
                reason=DropReason.REPLAYED,
            )

        epoch = counter // self._rekey_interval
        next_key: CipherState | None = None
        if epoch == self._epoch:
            cipher_state = self._current
        elif epoch == self._epoch + 1:
            cipher_state = next_key = self._current.rekeyed()
        elif epoch == self._epoch - 1 and self._previous is not None:
            cipher_state = self._previous
        elif epoch > self._epoch:
            raise DecryptionError(
                f"frame {counter} is under key epoch {epoch} but this side is at epoch "
                f"{self._epoch}; frames more than one rekey interval ahead are refused",
                reason=DropReason.TOO_FAR_AHEAD,
            )
        else:  # unreachable while rekey_interval >= REPLAY_WINDOW; kept as a guard
            raise DecryptionError(
                f"frame {counter} is under key epoch {epoch}, whose key is gone",
                reason=DropReason.TOO_OLD,
            )

        cipher_state.set_nonce(counter)
        try:
            plaintext = cipher_state.decrypt_with_ad(b"", frame[COUNTER_LEN:])
        except DecryptionError:
            raise DecryptionError(
                f"frame {counter} failed authentication (modified in transit, truncated, or "
                "not from this channel)",
                reason=DropReason.TAMPERED,
            ) from None

        if next_key is not None:
            self._previous, self._current = self._current, next_key
            self._epoch += 1
        if age < 0:  # newer than anything so far: slide the window forward
            shift = -age
            self._bitmap = (
                ((self._bitmap << shift) | 1) & _WINDOW_MASK if shift < REPLAY_WINDOW else 1
            )
            self._highest = counter
        else:
            self._bitmap |= 1 << age
        return plaintext
