"""The Noise protocol framework (revision 34), sans-IO: a `HandshakeState` for the XX pattern,
built on `SymmetricState` (`_symmetric_state`) and `CipherState` (`_cipher_state`).

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

from typing import NoReturn

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from ._cipher_state import TAG_LEN, CipherState, _check_cipher, _check_len
from ._noise_errors import DecryptionError, HandshakeError
from ._symmetric_state import SymmetricState

DH_LEN = 32
"""Length of an X25519 public key, private key and shared secret."""

MAX_MESSAGE_LEN = 65535
"""The largest Noise handshake message, per the specification."""

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
