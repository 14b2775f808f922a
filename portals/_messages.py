"""The portal protocol's messages, limits and errors, and their wire form (msgpack).

A portal joins one TCP connection on the inlet's node to one on the outlet's node. The inlet
worker sends `Ping` along the inlet's route (with its client's first bytes, when they are
there); the outlet spawns a worker that connects to its target and answers `Pong` from its own
address (then writes those first bytes), so the inlet learns the worker's route from the
Pong's return route. Then `Payload`s carry the bytes both ways.

Flow control: each side may have at most its window of payloads unacknowledged, `WINDOW` at
first. The receiver writes each payload to its TCP socket and returns `Credit(n)` once it has
written half its window of them. When the sender said it was `Blocked` (it had more to send
than its window let it) and the receiver's socket takes every payload at once (it keeps up), a
credit also grows the window (`Credit.grow`, doubling it) up to `MAX_WINDOW`: so a long link
gets the bandwidth-delay product it needs, a short one keeps a small window, and a slow reader
holds at most the window in any node's memory. So the mailboxes and queues on the data path stay
bounded, and a TCP client that reads slowly holds back only its own portal, never the
connection shared with other portals.

Closing: `End` says that the sender's TCP peer shut down its write side (a half-close); the
receiver shuts down the write side of its own socket once everything before the End is written.
`Disconnect` is each side's last message. A side sends it when both directions have ended
(graceful), on any error, or in answer to the peer's `Disconnect`; each side answers the peer's
Disconnect with its own (unless it has sent one already), so both sides learn that nothing more
will arrive and no message is sent to a worker that has already stopped.

`PortalState` (`_protocol.py`) checks which of them may be sent or received when.
"""

from __future__ import annotations

from typing import TypeAlias

import msgspec

from actors import OckamError

WINDOW = 32
"""Payload messages a side may have sent and not yet had credited."""
CREDIT_BATCH = WINDOW // 2
"""The receiver returns credit once it has written this many payloads to its socket (half of
the first window; half of the window as it grows)."""
MAX_PAYLOAD = 64 * 1024
"""The largest `Payload.data` the protocol accepts (64 KiB)."""
MAX_WINDOW = 256
"""The most payloads a window grows to: 16 MiB of payload data in flight per direction at most
(`MAX_PAYLOAD` each), enough for 160 MB/s over a 100 ms round trip."""
CHUNK = 60 * 1024
"""Bytes read from a TCP socket per `Payload` (60 KiB).

Large enough that per-message overhead is small, and small enough that the encoded message plus
its routing envelope (a few hundred bytes) plus a secure channel's framing and tag fit in one
64 KiB (65 535-byte) Noise transport message, so no layer has to split a payload.
"""


class Ping(msgspec.Struct, frozen=True, array_like=True, tag=True, gc=False):
    """The inlet's first message: asks the outlet for a worker connected to its target.

    `data` holds the first bytes the inlet's client sent, if they had arrived when the inlet
    opened the portal (0 to `MAX_PAYLOAD` bytes): the outlet writes them to its target as soon
    as it is connected, so a client that speaks first gets its answer one round trip sooner.
    They count as one payload of the inlet's window.
    """

    data: bytes = b""


class Pong(msgspec.Struct, frozen=True, array_like=True, tag=True, gc=False):
    """The outlet worker's first message: connected; reply to my address."""


class Payload(msgspec.Struct, frozen=True, array_like=True, tag=True, gc=False):
    """Bytes read from one TCP socket, to be written to the other (1 to `MAX_PAYLOAD` bytes)."""

    data: bytes


class Credit(msgspec.Struct, frozen=True, array_like=True, tag=True, gc=False):
    """The receiver wrote `messages` more payloads to its socket: the sender may send as many,
    and `grow` more beyond them (its window grows by `grow` payloads)."""

    messages: int
    grow: int = 0


class Blocked(msgspec.Struct, frozen=True, array_like=True, tag=True, gc=False):
    """The sender used all its credit and has more to send: its window holds it back (as QUIC's
    DATA_BLOCKED). The receiver may grow the window with its next credit."""


class End(msgspec.Struct, frozen=True, array_like=True, tag=True, gc=False):
    """The sender's TCP peer shut down its write side; no more payloads follow."""


class Disconnect(msgspec.Struct, frozen=True, array_like=True, tag=True, gc=False):
    """The sender's last message: the portal is closed (`reason` empty when it ended cleanly)."""

    reason: str = ""


PortalMessage: TypeAlias = Ping | Pong | Payload | Credit | Blocked | End | Disconnect

_encoder = msgspec.msgpack.Encoder()
_decoder: msgspec.msgpack.Decoder[PortalMessage] = msgspec.msgpack.Decoder(PortalMessage)


class PortalError(OckamError):
    """Base class of portal errors."""


class PortalProtocolError(PortalError):
    """The peer broke the portal protocol; the portal must be closed."""


class LocalPortalError(PortalError):
    """This side tried to send something the protocol does not allow (a bug in the caller)."""


class PortalTimeout(PortalError):
    """The outlet did not answer the inlet's Ping in time."""


def encode(message: PortalMessage) -> bytes:
    """`message` in its wire form, without any state check (for replies outside a portal)."""
    return _encoder.encode(message)


def decode(data: bytes) -> PortalMessage:
    """The message in `data`.

    Raises:
        PortalProtocolError: `data` is not a portal message.
    """
    try:
        return _decoder.decode(data)
    except msgspec.DecodeError as exc:
        raise PortalProtocolError(f"undecodable portal message: {exc}") from None
