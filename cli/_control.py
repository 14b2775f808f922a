"""The control API between the `ockam` command and a node process: structs, framing, client.

One request per connection on the node's Unix socket: a 4-byte big-endian length, then a
msgpack `Request` (a tagged union, tag field `op`); the node answers the same way with a
`Reply`. The socket lives in the node's folder with mode 0600, and the control service is never
reachable through the node's TCP listener.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any, TypeVar

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


class NodeStatus(msgspec.Struct, frozen=True):
    """What `node show` prints: Ockam's field names."""

    name: str
    status: str
    pid: int
    listener: str
    identifier: str = ""
    services: list[str] = []


# --- nodes and services -----------------------------------------------------------------------


class GetStatus(Request, frozen=True, tag="status"):
    """The node's status."""


class Shutdown(Request, frozen=True, tag="shutdown"):
    """Stop the node: cancel its root nursery."""


class StartService(Request, frozen=True, tag="service-start"):
    """Start a built-in or plugin service at `address` (default: its name)."""

    name: str
    address: str | None = None


class ListWorkers(Request, frozen=True, tag="worker-list"):
    """Every worker on the node."""


# --- tcp ----------------------------------------------------------------------------------------


class CreateListener(Request, frozen=True, tag="tcp-listener-create"):
    """Listen for TCP connections on `address` (WebSocket connections with `ws`)."""

    address: str
    ws: bool = False


class ListListeners(Request, frozen=True, tag="tcp-listener-list"):
    """Every TCP listener."""


class DeleteListener(Request, frozen=True, tag="tcp-listener-delete"):
    """Stop the listener with this worker or bound address."""

    address: str


class CreateConnection(Request, frozen=True, tag="tcp-connection-create"):
    """Open a TCP connection to `address`."""

    address: str


class ListConnections(Request, frozen=True, tag="tcp-connection-list"):
    """Every TCP connection."""


class ShowConnection(Request, frozen=True, tag="tcp-connection-show"):
    """One connection, by worker address."""

    worker: str


class DeleteConnection(Request, frozen=True, tag="tcp-connection-delete"):
    """Close one connection, by worker address."""

    worker: str


# --- messages -----------------------------------------------------------------------------------


class SendMessage(Request, frozen=True, tag="message-send"):
    """Send `payload` along `route` (text, resolved but for local segments) and await a reply."""

    route: str
    payload: bytes
    timeout: float = 10.0


class MessageReply(msgspec.Struct, frozen=True):
    """The reply to a `SendMessage`."""

    payload: bytes
    return_route: str


# --- relays -------------------------------------------------------------------------------------


class CreateRelay(Request, frozen=True, tag="relay-create"):
    """Register relay `name` at the relay node `at` leads to."""

    name: str
    at: str


class ListRelays(Request, frozen=True, tag="relay-list"):
    """Relays this node registered."""


class ShowRelay(Request, frozen=True, tag="relay-show"):
    """One relay, by name."""

    name: str


class DeleteRelay(Request, frozen=True, tag="relay-delete"):
    """Stop keeping relay `name` registered."""

    name: str


# --- portals ------------------------------------------------------------------------------------


class CreateOutlet(Request, frozen=True, tag="tcp-outlet-create"):
    """Create a TCP outlet to `target` at local address `address`."""

    target: str
    address: str | None = None


class ListOutlets(Request, frozen=True, tag="tcp-outlet-list"):
    """Every outlet."""


class ShowOutlet(Request, frozen=True, tag="tcp-outlet-show"):
    """One outlet, by address."""

    address: str


class DeleteOutlet(Request, frozen=True, tag="tcp-outlet-delete"):
    """Delete one outlet, by address."""

    address: str


class CreateInlet(Request, frozen=True, tag="tcp-inlet-create"):
    """Create a TCP inlet listening on `bind`, reaching the outlet along `route`."""

    bind: str
    route: str
    alias: str | None = None


class ListInlets(Request, frozen=True, tag="tcp-inlet-list"):
    """Every inlet."""


class ShowInlet(Request, frozen=True, tag="tcp-inlet-show"):
    """One inlet, by alias."""

    alias: str


class DeleteInlet(Request, frozen=True, tag="tcp-inlet-delete"):
    """Delete one inlet, by alias."""

    alias: str


# --- codec and client ---------------------------------------------------------------------------

_encoder = msgspec.msgpack.Encoder()
_reply_decoder = msgspec.msgpack.Decoder(Reply)


def _all_subclasses(cls: type[Request]) -> list[type[Request]]:
    found: list[type[Request]] = []
    for sub in cls.__subclasses__():
        found.append(sub)
        found.extend(_all_subclasses(sub))
    return found


@functools.cache
def _request_decoder(known: int) -> msgspec.msgpack.Decoder[Any]:
    # Cached per number of known request types: a module imported later (secure channels add
    # their requests) gets a decoder that knows its requests too.
    del known
    requests = tuple(_all_subclasses(Request))
    union: Any = requests[0]
    for request in requests[1:]:
        union = union | request
    return msgspec.msgpack.Decoder(union)


def decode_request(data: bytes) -> Request:
    """A request from its msgpack form (every `Request` subclass imported so far is known)."""
    request = _request_decoder(len(_all_subclasses(Request))).decode(data)
    assert isinstance(request, Request)
    return request


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
