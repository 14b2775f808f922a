"""A listener bound before its node is set up (`listen(..., accept_after=event)`) serves no
connection until the event is set: a peer never meets a half set-up node."""

from __future__ import annotations

import pytest
import trio
import trio.testing

from actors import route, split_host_port
from transports import open_node


@pytest.mark.parametrize("ws", [False, True], ids=["tcp", "ws"])
async def test_connections_wait_in_the_backlog_until_the_node_is_set_up(ws: bool) -> None:
    with trio.fail_after(10):
        async with open_node("n1", services=("uppercase",)) as node:
            set_up = trio.Event()
            transport = node.ws if ws else node.tcp
            listener = await transport.listen("127.0.0.1:0", accept_after=set_up)
            _, port = split_host_port(listener.address)
            assert port != 0  # bound: the port is known before the node serves
            async with open_node("client", services=()) as client:
                async with trio.open_nursery() as nursery:
                    replies: list[bytes] = []

                    async def ask() -> None:
                        peer = client.ws if ws else client.tcp
                        info = await peer.connect(listener.address)
                        reply = await client.request(route(info.worker, "uppercase"), b"up")
                        replies.append(reply.payload)

                    nursery.start_soon(ask)
                    await trio.testing.wait_all_tasks_blocked()
                    assert transport.connections() == []
                    assert replies == []
                    set_up.set()
                assert replies == [b"UP"]
                assert len(transport.connections()) == 1
