"""The error reply: how an actor that crashed on a request tells the requester why.

A reply is opaque bytes, so an error travels as a payload no ordinary reply starts with:
`ERROR_REPLY_PREFIX` then a msgpack `ErrorReply`. It goes along the request's return route
like any reply, through relays, hops and other nodes, and `Node.request` turns it into
`ActorFailed`. An actor that talks to other actors with `ctx.send_to` sees the raw payload:
`read_error_reply` decodes it.
"""

from __future__ import annotations

import msgspec

ERROR_REPLY_PREFIX = b"\x00ockam/error\x00"
"""The bytes every error reply starts with."""


class ErrorReply(msgspec.Struct, frozen=True):
    """Why a request got no answer: the worker (`/service/NAME`, on the node that ran it), the
    node's name, and the exception it raised (`ValueError: bad input`)."""

    at: str
    node: str
    reason: str


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(ErrorReply)


def error_reply(reply: ErrorReply) -> bytes:
    """`reply` as the payload of a message."""
    return ERROR_REPLY_PREFIX + _encoder.encode(reply)


def read_error_reply(payload: bytes) -> ErrorReply | None:
    """The `ErrorReply` in `payload`, or None when it is an ordinary reply."""
    if not payload.startswith(ERROR_REPLY_PREFIX):
        return None
    try:
        return _decoder.decode(payload[len(ERROR_REPLY_PREFIX) :])
    except msgspec.DecodeError:
        return None
