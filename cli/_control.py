"""The control API between the `ockam` command and a node process: framing and the client.

One request per connection on the node's Unix socket: a 4-byte big-endian length, then a
msgpack `Request` (a tagged union, tag field `op`); the node answers the same way with a
`Reply`. Each feature module defines its own requests; `cli._features` gathers them into the
union the node decodes (see `NodeApi`). The socket lives in the node's folder with mode 0600,
and the control service is never reachable through the node's TCP listener.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

import msgspec
import trio

from actors import OckamError

MAX_CONTROL_FRAME = 16 * 1024 * 1024
T = TypeVar("T")


class NodeNotRunning(OckamError):
    """The node's process does not answer on its control socket."""


class ControlError(OckamError):
    """The node refused or failed a request; the message says why."""


class Request(msgspec.Struct, frozen=True, tag_field="op"):
    """Base of every control request; subclasses name their `op` with `tag=`."""


class Reply(msgspec.Struct, frozen=True):
    """The node's answer: a result, or an error with its kind and message."""

    ok: bool
    result: msgspec.Raw = msgspec.Raw(b"\xc0")
    error: str = ""
    kind: str = ""


class Empty(msgspec.Struct, frozen=True):
    """The result of a request that returns nothing."""


_encoder = msgspec.msgpack.Encoder()
_reply_decoder = msgspec.msgpack.Decoder(Reply)


def encode(value: object) -> bytes:
    """msgpack, with the control API's shared encoder."""
    return _encoder.encode(value)


async def write_frame(stream: trio.abc.Stream, body: bytes) -> None:
    """Send one length-prefixed frame."""
    await stream.send_all(len(body).to_bytes(4, "big") + body)


async def read_frame(stream: trio.abc.Stream) -> bytes:
    """Receive one length-prefixed frame; `ControlError` on a short or oversized one."""
    buffer = bytearray()
    size: int | None = None
    while True:
        if size is None and len(buffer) >= 4:
            size = int.from_bytes(buffer[:4], "big")
            if size > MAX_CONTROL_FRAME:
                raise ControlError(f"control frame of {size} bytes is too large")
        if size is not None and len(buffer) >= 4 + size:
            return bytes(buffer[4 : 4 + size])
        data = await stream.receive_some(65536)
        if not data:
            raise ControlError("the node closed the control connection before answering")
        buffer += data


async def call(socket_path: Path, request: Request, result_type: type[T], *, node: str) -> T:
    """Send `request` to the node listening on `socket_path` and decode its result.

    Raises:
        NodeNotRunning: nothing answers on the socket.
        ControlError: the node answered with an error.
    """
    try:
        stream = await trio.open_unix_socket(str(socket_path))
    except OSError:
        raise NodeNotRunning(
            f"node {node!r} is not running (start it with `ockam node start {node}`)"
        ) from None
    async with stream:
        try:
            await write_frame(stream, encode(request))
            reply = _reply_decoder.decode(await read_frame(stream))
        except (trio.BrokenResourceError, OSError):
            raise NodeNotRunning(f"node {node!r} stopped while answering") from None
    if not reply.ok:
        raise ControlError(reply.error)
    return msgspec.msgpack.decode(reply.result, type=result_type)
