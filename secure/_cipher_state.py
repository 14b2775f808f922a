"""`CipherState`: a cipher key and a nonce counter (Noise revision 34, section 5.1), sans-IO.

AES-256-GCM and ChaCha20-Poly1305 come from `cryptography`. The nonce rules live here: nonces
are 4 zero bytes then the 64-bit counter (big-endian for AES-GCM, little-endian for
ChaCha20-Poly1305), 2**64 - 1 is reserved for rekeying, and a nonce already used under a key is
never used to encrypt again.
"""

from __future__ import annotations

import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM, ChaCha20Poly1305

from ._noise_errors import DecryptionError, DropReason, NoiseError, NonceError, NonceExhaustedError

CIPHERS = ("AESGCM", "ChaChaPoly")
"""The cipher names accepted by ``cipher=`` options, as spelled in Noise protocol names."""

KEY_LEN = 32
"""Length of a cipher key."""

TAG_LEN = 16
"""Length of the authentication tag that every encryption appends."""

MAX_NONCE = 2**64 - 1
"""Reserved by the specification (used by `CipherState.rekey`); never used to encrypt a message."""

_AESGCM_NONCE = struct.Struct(">4xQ")  # 4 zero bytes, then the counter big-endian
_CHACHA_NONCE = struct.Struct("<4xQ")  # 4 zero bytes, then the counter little-endian
_ZEROS = bytes(KEY_LEN)


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
