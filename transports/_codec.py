"""The wire codec, sans-IO: a version byte per connection, then length-prefixed msgpack frames.

Each side of a connection first sends one byte, `PROTOCOL_VERSION`. After it, every frame is a
4-byte big-endian length followed by that many bytes: the msgpack array
`[onward_route, return_route, payload]`, where a route is an array of addresses `[type, value]`
(Ockam's envelope, shaped so an Ockam-compatible codec can sit beside this one).
"""

from __future__ import annotations

import msgspec

from actors import Address, LocalMessage, Route

PROTOCOL_VERSION = 1
MAX_FRAME_SIZE = 16 * 1024 * 1024
"""Frames longer than this (16 MiB) are a protocol error: the connection is closed."""

_HEADER = 4


class ProtocolError(Exception):
    """The peer sent bytes this codec cannot accept; the connection must be closed."""


class _Envelope(msgspec.Struct, array_like=True, frozen=True, gc=False):
    onward: tuple[Address, ...]
    ret: tuple[Address, ...]
    payload: bytes


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(_Envelope)


def encode_message(message: LocalMessage) -> bytes:
    """One frame (length prefix included) carrying `message`."""
    buffer = bytearray()
    encode_message_into(message, buffer)
    return bytes(buffer)


def encode_message_into(message: LocalMessage, buffer: bytearray) -> None:
    """Append one frame carrying `message` to `buffer`.

    Raises:
        ProtocolError: the encoded message is over `MAX_FRAME_SIZE`.
    """
    start = len(buffer)
    envelope = _Envelope(
        message.onward_route.addresses, message.return_route.addresses, message.payload
    )
    _encoder.encode_into(envelope, buffer, start + _HEADER)
    size = len(buffer) - start - _HEADER
    if size > MAX_FRAME_SIZE:
        del buffer[start:]
        raise ProtocolError(f"a message of {size} bytes is over the {MAX_FRAME_SIZE} byte limit")
    buffer[start : start + _HEADER] = size.to_bytes(_HEADER, "big")


def decode_body(body: bytes | memoryview, *, via: Address | None = None) -> LocalMessage:
    """The message in one frame body (without its length prefix); with `via`, that address
    pushed onto its return route (the connection it came in by, so that replies go back)."""
    try:
        envelope = _decoder.decode(body)
    except msgspec.DecodeError as exc:
        raise ProtocolError(f"undecodable frame: {exc}") from None
    ret = envelope.ret if via is None else (via, *envelope.ret)
    return LocalMessage(Route(envelope.onward), Route(ret), envelope.payload)


class WireDecoder:
    """Turns the bytes received on one connection into messages.

    Feed it with `receive_data`; it returns every message completed so far, each with `via`
    (when given) pushed onto its return route. The first byte must be `PROTOCOL_VERSION`. Any
    error leaves the decoder broken: every later call raises again.
    """

    def __init__(self, *, max_frame_size: int = MAX_FRAME_SIZE, via: Address | None = None) -> None:
        self._buffer = bytearray()
        self._max = max_frame_size
        self._via = via
        self._version_seen = False
        self._error: ProtocolError | None = None

    @property
    def version_seen(self) -> bool:
        """True once the peer's version byte arrived."""
        return self._version_seen

    def receive_data(self, data: bytes | bytearray | memoryview) -> list[LocalMessage]:
        """Add `data` and return the messages it completes.

        Raises:
            ProtocolError: wrong version byte, oversized frame, or undecodable frame.
        """
        if self._error is not None:
            raise self._error
        try:
            return self._receive(data)
        except ProtocolError as exc:
            self._error = exc
            # Not `clear()`: the error's traceback may still hold a view of the old buffer.
            self._buffer = bytearray()
            raise

    def _receive(self, data: bytes | bytearray | memoryview) -> list[LocalMessage]:
        buffer = self._buffer
        # With nothing held back, frames are decoded straight from `data` and only an
        # incomplete last frame is copied; else `data` joins what is held back.
        source = data
        if buffer:
            buffer += data
            source = buffer
        start = 0
        if not self._version_seen:
            if not source:
                return []
            if source[0] != PROTOCOL_VERSION:
                raise ProtocolError(
                    f"protocol version {source[0]} is not supported (this node speaks "
                    f"version {PROTOCOL_VERSION})"
                )
            self._version_seen = True
            start = 1
        messages: list[LocalMessage] = []
        end = len(source)
        via = self._via
        view = memoryview(source)
        try:
            while end - start >= _HEADER:
                size = int.from_bytes(view[start : start + _HEADER], "big")
                if size > self._max:
                    raise ProtocolError(
                        f"a frame of {size} bytes is over the {self._max} byte limit"
                    )
                if end - start - _HEADER < size:
                    break
                body_start = start + _HEADER
                messages.append(decode_body(view[body_start : body_start + size], via=via))
                start = body_start + size
            if source is not buffer and start < end:
                buffer += view[start:]
        finally:
            view.release()
        if source is buffer and start:
            del buffer[:start]
        return messages
