"""`ockam message send`: a message along a route, from a node or from this command."""

from __future__ import annotations

from typing import Annotated

import msgspec
from cyclopts import Parameter

from actors import TCP, Address, RequestTimeout, Route
from secure import Identity, SecureChannels, resolve_secure_route
from transports import open_node

from ._app import DEFAULT, Common, RouteOption, ask_node, command_group, resolved, run
from ._control import Request
from ._controller import NodeController
from ._feature import Feature
from ._state import StateStore

message_app = command_group("message", "Send messages along routes.")
FEATURE = Feature("message", commands=[message_app])


class SendMessage(Request, frozen=True, tag="message-send"):
    """Send `payload` along `route` (text, resolved but for local segments) and await a reply."""

    route: str
    payload: bytes
    timeout: float = 10.0


class MessageReply(msgspec.Struct, frozen=True):
    """The reply to a `SendMessage`."""

    payload: bytes
    return_route: str


@FEATURE.handles(SendMessage)
async def _send(c: NodeController, r: SendMessage) -> MessageReply:
    onward = await c.route(r.route)
    try:
        reply = await c.node.request(onward, r.payload, timeout=r.timeout)
    except RequestTimeout as exc:
        name = _node_at(c.node.first_remote_hop(onward))
        if name is None:
            raise
        raise RequestTimeout(f"{exc} (`ockam node logs {name}`)") from None
    return MessageReply(payload=reply.payload, return_route=str(reply.return_route))


def _node_at(hop: str | None) -> str | None:
    """The name of the local node listening where `hop` (`127.0.0.1:7000` or
    `/ip4/127.0.0.1/tcp/7000`) leads, when the state database knows one."""
    if hop is None:
        return None
    for record in StateStore().all():
        if record.listener and hop in (
            record.listener,
            str(Route((Address(TCP, record.listener),))),
        ):
            return record.name
    return None


async def _send_from_here(route: str, payload: bytes, timeout: float) -> bytes:
    async with open_node("message-send", services=()) as node:
        # A throwaway identity for the channels any /secure/ segment opens; they are closed
        # before the node goes, so no other end is left with a dead channel.
        channels = SecureChannels(node, Identity.generate())
        try:
            onward = await resolve_secure_route(route, channels)
            answer = await node.request(onward, payload, timeout=timeout)
        finally:
            await channels.aclose()
        return answer.payload


@message_app.command
def send(
    message: str,
    /,
    *,
    to: RouteOption,
    from_: Annotated[str | None, Parameter(name="--from")] = None,
    timeout: float = 10.0,
    common: Common = DEFAULT,
) -> None:
    """Send MESSAGE along a route and print the reply.

    Parameters
    ----------
    message
        The message to send.
    to
        The route, like /node/n1/service/uppercase; a '-' segment is replaced by the route
        piped on standard input.
    from_
        The node that sends (n1 or /node/n1); without it, this command runs a short-lived node
        with a throwaway identity for any /secure/ segment of the route.
    timeout
        Seconds to wait for the reply.
    """
    printer = common.printer()
    route = resolved(to)
    payload = message.encode()
    if from_ is not None:
        _, reply = ask_node(from_, SendMessage(route, payload, timeout), MessageReply)
        text = reply.payload
    else:
        text = run(lambda: _send_from_here(route, payload, timeout))
    decoded = text.decode(errors="replace")
    printer.emit(plain=decoded, data={"reply": decoded})
