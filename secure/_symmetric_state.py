"""`SymmetricState`: the chaining key, the handshake hash and a `CipherState` (Noise revision
34, section 5.2), with SHA-256 from the standard library and Noise's HKDF, sans-IO."""

from __future__ import annotations

import hashlib
import hmac

from ._cipher_state import CipherState, _check_cipher

HASH_LEN = 32
"""Length of a SHA-256 digest: the chaining key and handshake hash sizes."""


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
