"""The Noise protocol framework (revision 34), sans-IO: `CipherState`, `SymmetricState`, and a
`HandshakeState` for the XX pattern.

Supported protocols: ``Noise_XX_25519_AESGCM_SHA256`` and ``Noise_XX_25519_ChaChaPoly_SHA256``,
with X25519, AES-256-GCM and ChaCha20-Poly1305 from `cryptography`, and SHA-256 from the standard
library. Nothing here touches a socket: a handshake is driven by handing bytes to
`HandshakeState.read_message` and sending what `HandshakeState.write_message` returns.

XX is three messages::

    -> e
    <- e, ee, s, es
    -> s, se

The payload of the first message travels in clear (no key exists yet); payloads of the second and
third messages are encrypted and authenticated. A failed handshake leaves the `HandshakeState`
unusable: every later call raises `HandshakeError`, so the caller must start a new handshake.

One deliberate departure from the specification: an X25519 exchange whose result is all zeros (the
peer sent a low-order point) is refused with `HandshakeError` instead of being mixed in.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import struct
from typing import NoReturn

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

CIPHERS = ("AESGCM", "ChaChaPoly")
"""The cipher names accepted by ``cipher=`` options, as spelled in Noise protocol names."""

DH_LEN = 32
"""Length of an X25519 public key, private key and shared secret."""

HASH_LEN = 32
"""Length of a SHA-256 digest: the chaining key and handshake hash sizes."""

KEY_LEN = 32
"""Length of a cipher key."""

TAG_LEN = 16
"""Length of the authentication tag that every encryption appends."""

MAX_NONCE = 2**64 - 1
"""Reserved by the specification (used by `CipherState.rekey`); never used to encrypt a message."""

MAX_MESSAGE_LEN = 65535
"""The largest Noise handshake message, per the specification."""

_AESGCM_NONCE = struct.Struct(">4xQ")  # 4 zero bytes, then the counter big-endian
_CHACHA_NONCE = struct.Struct("<4xQ")  # 4 zero bytes, then the counter little-endian
_ZEROS = bytes(KEY_LEN)


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
    """Why a ciphertext or transport frame was refused (`DecryptionError.reason`)."""

    MALFORMED = "malformed"
    """Too short to hold a counter and a tag, or carries a counter that is never valid."""
    TAMPERED = "tampered"
    """Failed authentication: modified in transit, truncated, or not from this channel."""
    REPLAYED = "replayed"
    """A frame with the same counter was already accepted."""
    TOO_OLD = "too_old"
    """Older than the replay window: it cannot be told apart from a replay."""
    TOO_FAR_AHEAD = "too_far_ahead"
    """Encrypted under a key more than one rekey interval ahead of the receiver."""


class DecryptionError(NoiseError):
    """A ciphertext was refused; nothing was decrypted and the receiver's state is unchanged.

    Attributes:
        reason: Why it was refused, for logs and statistics.
    """

    def __init__(self, message: str, *, reason: DropReason) -> None:
        super().__init__(message)
        self.reason = reason


def _check_cipher(cipher: str) -> None:
    if cipher not in CIPHERS:
        raise ValueError(f"unsupported cipher {cipher!r}: use one of {', '.join(CIPHERS)}")


def _check_len(name: str, value: bytes, size: int) -> bytes:
    if not isinstance(value, bytes | bytearray | memoryview):
        raise TypeError(f"{name} must be bytes, got {type(value).__name__}")
    if len(value) != size:
        raise ValueError(f"{name} must be {size} bytes, got {len(value)}")
    return bytes(value)


class CipherState:
    """A cipher key and a nonce counter (Noise section 5.1).

    Nonces are 4 zero bytes followed by the 64-bit counter, big-endian for AES-GCM and
    little-endian for ChaCha20-Poly1305, as the specification requires. Besides the counter, the
    state remembers the lowest nonce never used to encrypt under the current key, so encrypting
    again at a nonce already used (after a `set_nonce` going backwards) raises `NonceError`
    instead of leaking the XOR of two plaintexts.

    Args:
        key: A 32-byte key, or None for an empty state that passes data through unchanged (as
            the specification does before the handshake has mixed in a key).
        cipher: ``"AESGCM"`` (AES-256-GCM) or ``"ChaChaPoly"`` (ChaCha20-Poly1305).

    Raises:
        ValueError: The key is not 32 bytes or the cipher is unknown.
    """

    __slots__ = ("_aead", "_cipher", "_key", "_n", "_nonce_format", "_unused_from")

    def __init__(self, key: bytes | None = None, *, cipher: str = "AESGCM") -> None:
        _check_cipher(cipher)
        self._cipher = cipher
        self._nonce_format = _AESGCM_NONCE if cipher == "AESGCM" else _CHACHA_NONCE
        self._key: bytes | None = None
        self._aead: AESGCM | ChaCha20Poly1305 | None = None
        self._n = 0
        self._unused_from = 0
        self.initialize_key(key)

    def __repr__(self) -> str:
        keyed = "keyed" if self._key is not None else "empty"
        return f"<CipherState {self._cipher} {keyed} n={self._n}>"

    @property
    def cipher(self) -> str:
        """The cipher name, ``"AESGCM"`` or ``"ChaChaPoly"``."""
        return self._cipher

    @property
    def has_key(self) -> bool:
        """Whether a key is set (``HasKey()`` in the specification)."""
        return self._key is not None

    @property
    def nonce(self) -> int:
        """The counter the next encryption or decryption uses."""
        return self._n

    def initialize_key(self, key: bytes | None) -> None:
        """Set a new key (or none) and reset the counter to 0 (``InitializeKey(k)``).

        Args:
            key: A 32-byte key, or None to empty the state.
        """
        if key is None:
            self._key = None
            self._aead = None
        else:
            self._key = _check_len("key", key, KEY_LEN)
            self._aead = self._make_aead(self._key)
        self._n = 0
        self._unused_from = 0

    def set_nonce(self, nonce: int) -> None:
        """Set the counter (``SetNonce(n)``), for receivers of out-of-order messages.

        Going backwards is allowed, but a later `encrypt_with_ad` at a nonce already used under
        this key raises `NonceError`.

        Args:
            nonce: The new counter, between 0 and 2**64 - 1 inclusive.

        Raises:
            ValueError: The value is out of range.
        """
        if not 0 <= nonce <= MAX_NONCE:
            raise ValueError(f"nonce must be between 0 and 2**64 - 1, got {nonce}")
        self._n = nonce

    def encrypt_with_ad(self, ad: bytes, plaintext: bytes) -> bytes:
        """Encrypt and authenticate `plaintext`, authenticating `ad` too; advance the counter.

        With no key set, returns `plaintext` unchanged (as the specification requires).

        Args:
            ad: Associated data, authenticated but not encrypted.
            plaintext: The data to encrypt.

        Returns:
            The ciphertext followed by the 16-byte tag.

        Raises:
            NonceExhaustedError: The counter reached 2**64 - 1, a value reserved by the
                specification; establish a new channel.
            NonceError: This nonce was already used to encrypt under the current key.
        """
        if self._aead is None:
            return bytes(plaintext)
        n = self._n
        if n >= MAX_NONCE:
            raise NonceExhaustedError(
                "the nonce counter is exhausted (2**64 - 1 messages under one key): "
                "establish a new secure channel"
            )
        if n < self._unused_from:
            raise NonceError(
                f"nonce {n} was already used to encrypt under this key; refusing to reuse it"
            )
        ciphertext = self._aead.encrypt(self._nonce_format.pack(n), plaintext, ad)
        self._n = self._unused_from = n + 1
        return ciphertext

    def decrypt_with_ad(self, ad: bytes, ciphertext: bytes) -> bytes:
        """Check and decrypt `ciphertext` against `ad`; advance the counter only on success.

        With no key set, returns `ciphertext` unchanged (as the specification requires).

        Args:
            ad: The associated data the sender authenticated.
            ciphertext: Ciphertext followed by its 16-byte tag.

        Returns:
            The plaintext.

        Raises:
            DecryptionError: Authentication failed (reason `DropReason.TAMPERED`) or the
                counter is exhausted (reason `DropReason.MALFORMED`).
        """
        if self._aead is None:
            return bytes(ciphertext)
        n = self._n
        if n >= MAX_NONCE:
            raise DecryptionError(
                "the nonce counter is exhausted: no message can use nonce 2**64 - 1",
                reason=DropReason.MALFORMED,
            )
        if len(ciphertext) < TAG_LEN:
            raise DecryptionError(
                f"ciphertext of {len(ciphertext)} bytes is shorter than the {TAG_LEN}-byte tag",
                reason=DropReason.TAMPERED,
            )
        try:
            plaintext = self._aead.decrypt(self._nonce_format.pack(n), ciphertext, ad)
        except InvalidTag:
            raise DecryptionError(
                f"ciphertext at nonce {n} failed authentication "
                "(modified in transit, or encrypted under another key)",
                reason=DropReason.TAMPERED,
            ) from None
        self._n = n + 1
        return plaintext

    def rekey(self) -> None:
        """Replace the key by ``REKEY(k)``: the first 32 bytes of encrypting 32 zero bytes at
        nonce 2**64 - 1 with empty associated data. The counter is left unchanged.

        Raises:
            NoiseError: No key is set.
        """
        self._key = self._next_key()
        self._aead = self._make_aead(self._key)
        self._unused_from = 0

    def rekeyed(self) -> CipherState:
        """A new state holding ``REKEY(k)`` and the same counter; this one is left unchanged.

        A receiver uses it to try a key before committing to it.

        Raises:
            NoiseError: No key is set.
        """
        other = CipherState(self._next_key(), cipher=self._cipher)
        other._n = self._n
        return other

    def _next_key(self) -> bytes:
        if self._aead is None:
            raise NoiseError("cannot rekey a CipherState that has no key")
        return self._aead.encrypt(self._nonce_format.pack(MAX_NONCE), _ZEROS, b"")[:KEY_LEN]

    def _make_aead(self, key: bytes) -> AESGCM | ChaCha20Poly1305:
        return AESGCM(key) if self._cipher == "AESGCM" else ChaCha20Poly1305(key)


def _hkdf2(chaining_key: bytes, input_key_material: bytes) -> tuple[bytes, bytes]:
    """Noise's HKDF with two outputs (RFC 5869 with salt = chaining key and empty info)."""
    temp_key = hmac.digest(chaining_key, input_key_material, "sha256")
    output1 = hmac.digest(temp_key, b"\x01", "sha256")
    output2 = hmac.digest(temp_key, output1 + b"\x02", "sha256")
    return output1, output2


class SymmetricState:
    """The chaining key, the handshake hash and a `CipherState` (Noise section 5.2), with SHA-256.

    Args:
        protocol_name: The full Noise protocol name, e.g. ``b"Noise_XX_25519_AESGCM_SHA256"``.
        cipher: The cipher of the `CipherState`: ``"AESGCM"`` or ``"ChaChaPoly"``.
    """

    __slots__ = ("_chaining_key", "_cipher", "_cipher_state", "_h")

    def __init__(self, protocol_name: bytes, *, cipher: str = "AESGCM") -> None:
        _check_cipher(cipher)
        if len(protocol_name) <= HASH_LEN:
            h = protocol_name.ljust(HASH_LEN, b"\x00")
        else:
            h = hashlib.sha256(protocol_name).digest()
        self._h = h
        self._chaining_key = h
        self._cipher = cipher
        self._cipher_state = CipherState(cipher=cipher)

    @property
    def handshake_hash(self) -> bytes:
        """The handshake hash ``h`` (``GetHandshakeHash()``)."""
        return self._h

    @property
    def has_key(self) -> bool:
        """Whether a key has been mixed in, so payloads are now encrypted."""
        return self._cipher_state.has_key

    def mix_hash(self, data: bytes) -> None:
        """``h = SHA-256(h || data)``."""
        self._h = hashlib.sha256(self._h + data).digest()

    def mix_key(self, input_key_material: bytes) -> None:
        """Derive a new chaining key and cipher key from `input_key_material` (a DH result)."""
        self._chaining_key, temp_key = _hkdf2(self._chaining_key, input_key_material)
        self._cipher_state.initialize_key(temp_key)

    def encrypt_and_hash(self, plaintext: bytes) -> bytes:
        """Encrypt with ``h`` as associated data (if a key is set), then mix the result into h."""
        ciphertext = self._cipher_state.encrypt_with_ad(self._h, plaintext)
        self.mix_hash(ciphertext)
        return ciphertext

    def decrypt_and_hash(self, ciphertext: bytes) -> bytes:
        """Decrypt with ``h`` as associated data (if a key is set), then mix `ciphertext` into h.

        Raises:
            DecryptionError: Authentication failed.
        """
        plaintext = self._cipher_state.decrypt_with_ad(self._h, ciphertext)
        self.mix_hash(ciphertext)
        return plaintext

    def split(self) -> tuple[CipherState, CipherState]:
        """The two transport `CipherState`s: initiator-to-responder first, then the reverse."""
        key1, key2 = _hkdf2(self._chaining_key, b"")
        return CipherState(key1, cipher=self._cipher), CipherState(key2, cipher=self._cipher)


# The XX pattern: one tuple of tokens per message. Message i is written by the initiator when i is
# even and by the responder when i is odd. This table is the whole state machine.
_XX_PATTERN: tuple[tuple[str, ...], ...] = (
    ("e",),
    ("e", "ee", "s", "es"),
    ("s", "se"),
)


def _load_private(name: str, value: bytes) -> X25519PrivateKey:
    return X25519PrivateKey.from_private_bytes(_check_len(name, value, DH_LEN))


def _public_raw(key: X25519PrivateKey) -> bytes:
    return key.public_key().public_bytes_raw()


class HandshakeState:
    """One side of a ``Noise_XX_25519_<cipher>_SHA256`` handshake, as a state machine.

    The initiator calls `write_message`, `read_message`, `write_message`; the responder
    `read_message`, `write_message`, `read_message`. `should_write` says which comes next. Once
    `complete`, `split` hands out the transport cipher states.

    Args:
        initiator: True for the side that sends the first message.
        static_private: This side's 32-byte X25519 static private key.
        prologue: Bytes both sides must agree on (e.g. a protocol version); a mismatch makes the
            handshake fail at the second message.
        ephemeral_private: A fixed 32-byte ephemeral private key, for test vectors only; by
            default a fresh one is generated.
        cipher: ``"AESGCM"`` or ``"ChaChaPoly"``.

    Raises:
        ValueError: A key is not 32 bytes or the cipher is unknown.
    """

    __slots__ = (
        "_e",
        "_error",
        "_index",
        "_initiator",
        "_protocol_name",
        "_re",
        "_rs",
        "_s",
        "_s_public",
        "_split",
        "_symmetric",
    )

    def __init__(
        self,
        initiator: bool,
        *,
        static_private: bytes,
        prologue: bytes = b"",
        ephemeral_private: bytes | None = None,
        cipher: str = "AESGCM",
    ) -> None:
        _check_cipher(cipher)
        self._initiator = bool(initiator)
        self._s = _load_private("static_private", static_private)
        self._s_public = _public_raw(self._s)
        self._e: X25519PrivateKey | None = (
            None
            if ephemeral_private is None
            else _load_private("ephemeral_private", ephemeral_private)
        )
        self._re: bytes | None = None
        self._rs: bytes | None = None
        self._protocol_name = f"Noise_XX_25519_{cipher}_SHA256"
        self._symmetric = SymmetricState(self._protocol_name.encode("ascii"), cipher=cipher)
        self._symmetric.mix_hash(bytes(prologue))
        self._index = 0
        self._error: str | None = None
        self._split: tuple[CipherState, CipherState] | None = None

    def __repr__(self) -> str:
        role = "initiator" if self._initiator else "responder"
        if self._error is not None:
            state = "failed"
        elif self.complete:
            state = "complete"
        else:
            state = f"at message {self._index + 1}"
        return f"<HandshakeState {self._protocol_name} {role} {state}>"

    @property
    def protocol_name(self) -> str:
        """The Noise protocol name, e.g. ``"Noise_XX_25519_AESGCM_SHA256"``."""
        return self._protocol_name

    @property
    def initiator(self) -> bool:
        """Whether this side sends the first message."""
        return self._initiator

    @property
    def complete(self) -> bool:
        """Whether all three messages went through without error."""
        return self._error is None and self._index == len(_XX_PATTERN)

    @property
    def failed(self) -> bool:
        """Whether an error ended this handshake."""
        return self._error is not None

    @property
    def should_write(self) -> bool:
        """Whether `write_message` is the next call (False once complete or failed)."""
        if self._error is not None or self._index >= len(_XX_PATTERN):
            return False
        return (self._index % 2 == 0) == self._initiator

    @property
    def static_public(self) -> bytes:
        """This side's 32-byte X25519 static public key."""
        return self._s_public

    @property
    def remote_static(self) -> bytes | None:
        """The peer's 32-byte X25519 static public key, once received and authenticated."""
        return self._rs

    @property
    def handshake_hash(self) -> bytes:
        """The handshake hash ``h``; final once `complete`, and then equal on both sides.

        It identifies this session uniquely, for channel binding.
        """
        return self._symmetric.handshake_hash

    def write_message(self, payload: bytes = b"") -> bytes:
        """Produce the next handshake message, carrying `payload`.

        The payload of message 1 is sent in clear; those of messages 2 and 3 are encrypted.

        Args:
            payload: Application bytes to carry (e.g. an identity proof).

        Returns:
            The message to deliver to the peer.

        Raises:
            HandshakeError: It is the peer's turn, the handshake is over, or the message would
                exceed 65535 bytes.
        """
        self._check_usable("write a message")
        number = self._index + 1
        if not self.should_write:
            self._fail(f"it is the {self._peer}'s turn: read message {number} before writing")
        message = bytearray()
        for token in _XX_PATTERN[self._index]:
            if token == "e":
                if self._e is None:
                    self._e = X25519PrivateKey.generate()
                e_public = _public_raw(self._e)
                message += e_public
                self._symmetric.mix_hash(e_public)
            elif token == "s":
                message += self._symmetric.encrypt_and_hash(self._s_public)
            else:
                self._mix_dh(token)
        message += self._symmetric.encrypt_and_hash(bytes(payload))
        if len(message) > MAX_MESSAGE_LEN:
            self._fail(
                f"message {number} would be {len(message)} bytes, over the Noise limit of "
                f"{MAX_MESSAGE_LEN}: send a smaller payload"
            )
        self._advance()
        return bytes(message)

    def read_message(self, message: bytes) -> bytes:
        """Consume the peer's next handshake message.

        Args:
            message: The bytes the peer's `write_message` produced.

        Returns:
            The payload the peer sent.

        Raises:
            HandshakeError: It is our turn to write, the handshake is over, or the message is
                malformed, truncated or fails authentication (tampered, or the sides disagree
                on prologue or cipher).
        """
        self._check_usable("read a message")
        number = self._index + 1
        if self.should_write:
            self._fail(f"it is our turn: write message {number} before reading")
        if len(message) > MAX_MESSAGE_LEN:
            self._fail(
                f"message {number} from the {self._peer} is {len(message)} bytes, over the "
                f"Noise limit of {MAX_MESSAGE_LEN}"
            )
        data = bytes(message)
        offset = 0
        for token in _XX_PATTERN[self._index]:
            if token == "e":
                if len(data) - offset < DH_LEN:
                    self._fail(
                        f"message {number} from the {self._peer} is truncated: "
                        f"{len(data)} bytes cannot hold its {DH_LEN}-byte ephemeral key"
                    )
                self._re = data[offset : offset + DH_LEN]
                offset += DH_LEN
                self._symmetric.mix_hash(self._re)
            elif token == "s":
                size = DH_LEN + (TAG_LEN if self._symmetric.has_key else 0)
                if len(data) - offset < size:
                    self._fail(
                        f"message {number} from the {self._peer} is truncated: "
                        f"{len(data)} bytes cannot hold its encrypted static key"
                    )
                try:
                    self._rs = self._symmetric.decrypt_and_hash(data[offset : offset + size])
                except DecryptionError:
                    self._fail(
                        f"message {number}: the {self._peer}'s static key failed authentication "
                        "(tampered in transit, or the sides use different prologues or ciphers)"
                    )
                offset += size
            else:
                self._mix_dh(token)
        try:
            payload = self._symmetric.decrypt_and_hash(data[offset:])
        except DecryptionError:
            self._fail(
                f"message {number}: the {self._peer}'s payload failed authentication "
                "(tampered in transit, or the sides use different prologues or ciphers)"
            )
        self._advance()
        return payload

    def split(self) -> tuple[CipherState, CipherState]:
        """The transport cipher states for this side, once the handshake is complete.

        May be called once: two owners of the same sending state would reuse nonces.

        Returns:
            ``(send, receive)``: encrypt outgoing messages with the first, decrypt incoming
            messages with the second.

        Raises:
            HandshakeError: The handshake failed or is not complete, or split() was already
                called.
        """
        self._check_usable("split", allow_complete=True)
        if not self.complete:
            self._fail(
                f"cannot split before the handshake is complete "
                f"({len(_XX_PATTERN) - self._index} message(s) to go)"
            )
        if self._split is None:
            self._fail("split() was already called: the cipher states have one owner")
        send, receive = self._split
        self._split = None
        return send, receive

    @property
    def _peer(self) -> str:
        return "responder" if self._initiator else "initiator"

    def _mix_dh(self, token: str) -> None:
        # "ee": both ephemerals. "es": initiator's ephemeral with responder's static.
        # "se": initiator's static with responder's ephemeral.
        local_ephemeral = token[0] == "e" if self._initiator else token[1] == "e"
        remote_ephemeral = token[1] == "e" if self._initiator else token[0] == "e"
        private = self._e if local_ephemeral else self._s
        public = self._re if remote_ephemeral else self._rs
        if private is None or public is None:  # unreachable with the XX table
            self._fail(f"token {token!r} needs a key that is not known yet")
        try:
            shared = private.exchange(X25519PublicKey.from_public_bytes(public))
        except ValueError:
            self._fail(
                f"message {self._index + 1}: the {self._peer} sent a low-order X25519 key "
                "(the exchange gives all zeros); refusing it"
            )
        self._symmetric.mix_key(shared)

    def _advance(self) -> None:
        self._index += 1
        if self._index == len(_XX_PATTERN):
            c1, c2 = self._symmetric.split()
            self._split = (c1, c2) if self._initiator else (c2, c1)
            self._e = None  # the ephemeral key is no longer needed; let it go

    def _check_usable(self, action: str, *, allow_complete: bool = False) -> None:
        if self._error is not None:
            raise HandshakeError(
                f"cannot {action}: this handshake already failed ({self._error}); "
                "start a new handshake"
            )
        if not allow_complete and self._index >= len(_XX_PATTERN):
            raise HandshakeError(
                f"cannot {action}: the handshake is complete; use split() for transport"
            )

    def _fail(self, reason: str) -> NoReturn:
        self._error = reason
        self._e = None
        self._split = None
        raise HandshakeError(reason)
