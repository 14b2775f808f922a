"""The secure channel wire protocol: msgspec tagged unions and their codec, sans-IO.

Payloads of routed messages, msgpack, one tagged union, integer tags::

    initiator                         listener / responder
    Hello(XX message 1)      ->       listener at `api`; starts a responder worker
                             <-       Answer(XX message 2, responder's IdentityProof)
    Finish(XX message 3,     ->
      initiator's IdentityProof,
      [its Present])
                             <-       Encrypted(Ready)       or Refuse(reason)
    Encrypted(Deliver | Heartbeat | Close)  <->  Encrypted(Deliver | Heartbeat | Close)

With a trust context (`TrustContext`), an end also presents its credential in an encrypted
`Present` frame: the initiator inside `Finish`, the responder right before `Ready` (so the
initiator knows the responder's subject when `create` returns, and the responder knows the
initiator's before it confirms: a listener may refuse a subject it does not admit); and
again, while established, whenever it has a fresh one. An end without a credential sends none, so
a channel between nodes without trust carries exactly the messages above.

Every message after `Hello` is sent to the other end's ciphertext address along the return
route of the message before, so the connections and relays in between are passed through both
ways. The initiator's `create` returns only once the responder confirmed (`Ready`, encrypted, so
it cannot be forged), and fails at once on a `Refuse`: a refused initiator learns why instead of
waiting for a timeout. `Refuse` is the only message sent in clear after message 1; an
established channel ignores it, so nobody on the path can close a channel by forging one.

Inside `Encrypted` (a `ChannelEncryptor` frame), a `Deliver` carries a message's onward route
(without the channel), its return route and its payload; the receiving end routes it on with
its own plaintext address pushed onto the return route, so replies come back through the
channel. `Heartbeat` carries nothing: an end sends one when it has sent nothing else for a
while, so that the other end, which stops once it has received nothing for longer, can tell a
quiet channel from a dead one. `Close` tells the other end to stop. A frame that fails to
decrypt (tampered, replayed, too old) is dropped and logged and the channel carries on.
"""

from __future__ import annotations

import msgspec

from actors import Address, OckamError

from ._noise_errors import DropReason

PROLOGUE = b"trio-ockam secure channel v1"
"""Noise prologue: both ends must agree on it, so a different protocol cannot be mixed in."""


class SecureChannelError(OckamError):
    """A secure channel could not be established, or was refused by the other end."""


class ChannelProtocolError(SecureChannelError):
    """Base class of the errors a `ChannelMachine` raises."""


class LocalProtocolError(ChannelProtocolError):
    """This end drove its `ChannelMachine` wrongly (sent before the channel was established,
    started twice); the machine is now in `ChannelState.ERROR`."""


class RemoteProtocolError(ChannelProtocolError):
    """The handshake failed, the other end refused it or is not authorized, or it did not
    finish in time; the machine is now in `ChannelState.ERROR`.

    Attributes:
        refusal: A `Refuse` to send to the other end (along `ChannelMachine.peer`) before
            stopping, so that it fails at once with the reason instead of by timeout; None
            when the other end must not or need not be told.
    """

    def __init__(self, message: str, *, refusal: bytes | None = None) -> None:
        super().__init__(message)
        self.refusal = refusal


class MessageDropped(ChannelProtocolError):
    """One received message was refused and dropped; the machine is unchanged and carries on.

    Anyone on the path (or who learns a ciphertext address) can send an end anything, so
    nothing unauthenticated may end a channel: messages that are malformed, out of order,
    repeated, tampered with or replayed, or that arrive after the channel ended, are dropped.

    Attributes:
        reason: Why, for logs and statistics.
    """

    def __init__(self, message: str, *, reason: DropReason) -> None:
        super().__init__(message)
        self.reason = reason


class Hello(msgspec.Struct, frozen=True, array_like=True, tag=0):
    """XX message 1, initiator to listener."""

    message: bytes


class Answer(msgspec.Struct, frozen=True, array_like=True, tag=1):
    """XX message 2, responder to initiator; its payload is the responder's `IdentityProof`."""

    message: bytes


class Finish(msgspec.Struct, frozen=True, array_like=True, tag=2):
    """XX message 3, initiator to responder; its payload is the initiator's `IdentityProof`.

    `credential`, when the initiator has one, is its `Present`, encrypted as the first
    transport frame: the responder knows the initiator's subject before it answers, so a
    listener that admits only some subjects (`Admit`) can refuse with the reason.
    """

    message: bytes
    credential: bytes | None = None


class Encrypted(msgspec.Struct, frozen=True, array_like=True, tag=3):
    """A `ChannelEncryptor` frame holding one `InnerMessage`."""

    frame: bytes


class Refuse(msgspec.Struct, frozen=True, array_like=True, tag=4):
    """The handshake failed or the peer is not authorized; the reason is for the peer's user."""

    reason: str


ChannelMessage = Hello | Answer | Finish | Encrypted | Refuse


class Deliver(msgspec.Struct, frozen=True, array_like=True, tag=0):
    """A message crossing the channel: onward route past the channel, return route, payload."""

    onward: tuple[Address, ...]
    back: tuple[Address, ...]
    payload: bytes


class Ready(msgspec.Struct, frozen=True, array_like=True, tag=1):
    """The responder verified the initiator: the channel is open."""


class Close(msgspec.Struct, frozen=True, array_like=True, tag=2):
    """The sending end stopped; the receiving end stops too."""

    reason: str = ""


class Heartbeat(msgspec.Struct, frozen=True, array_like=True, tag=3):
    """Nothing to deliver: the sending end is alive (sent when it has been quiet a while)."""


class Present(msgspec.Struct, frozen=True, array_like=True, tag=4):
    """The sending end's credential (an encoded `Credential`), for the other end to verify
    against the authorities it trusts; a later one replaces it (a refreshed credential)."""

    credential: bytes


InnerMessage = Deliver | Ready | Close | Heartbeat | Present

_encoder = msgspec.msgpack.Encoder()
outer_decoder: msgspec.msgpack.Decoder[ChannelMessage] = msgspec.msgpack.Decoder(ChannelMessage)
inner_decoder: msgspec.msgpack.Decoder[InnerMessage] = msgspec.msgpack.Decoder(InnerMessage)


def encode_channel_message(message: ChannelMessage | InnerMessage) -> bytes:
    """`message` as msgpack bytes, ready to be a routed message's payload."""
    return _encoder.encode(message)
