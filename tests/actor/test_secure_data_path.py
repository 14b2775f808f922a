"""The secure channel's data path: an established end encrypts and decrypts in the sender's
task (`SecureChannelWorker.try_handle_now`), and every message still arrives, in order, each
way, when receivers are slow and senders many."""

from __future__ import annotations

import trio

from actors import Actor, LocalMessage, Route, local, route
from secure import Identity, SecureChannels, SecureChannelWorker
from transports import open_node

SENDERS = 3
MESSAGES = 60


class Collect(Actor):
    """Keeps every payload; slow (a small mailbox, a checkpoint per message), so that the
    channel end delivering to it waits and later messages queue behind it."""

    mailbox_size = 2

    def __init__(self, *, answer: bool) -> None:
        self.payloads: list[bytes] = []
        self.answer = answer
        self.all_in = trio.Event()

    async def handle_message(self, message: LocalMessage) -> None:
        self.payloads.append(message.payload)
        await trio.lowlevel.checkpoint()
        if self.answer:
            # Sent back through the channel end that is still delivering this message.
            await self.ctx.reply(message, b"re:" + message.payload)
        if len(self.payloads) == SENDERS * MESSAGES:
            self.all_in.set()


def in_order(payloads: list[bytes], prefix: bytes = b"") -> bool:
    """Every sender's messages are all there, in the order it sent them."""
    return all(
        [p for p in payloads if p.startswith(prefix + b"%d-" % sender)]
        == [prefix + b"%d-%d" % (sender, n) for n in range(MESSAGES)]
        for sender in range(SENDERS)
    )


async def test_many_senders_through_an_established_channel_keep_their_order_both_ways() -> None:
    with trio.fail_after(30):
        async with open_node("a") as a, open_node("b") as b:
            await SecureChannels(b, Identity.generate()).create_listener("api")
            listener = await b.tcp.listen()
            host, _, port = listener.address.rpartition(":")
            to_api = Route.parse(f"/ip4/{host}/tcp/{port}") + route("api")
            info = await SecureChannels(a, Identity.generate()).create(to_api)
            collect, replies = Collect(answer=True), Collect(answer=False)
            await b.start_actor(collect, local("collect"))
            await a.start_actor(replies, local("replies"))
            into_channel = Route.parse(info.address) + route("collect")

            async def sender(number: int) -> None:
                for n in range(MESSAGES):
                    payload = b"%d-%d" % (number, n)
                    sent = LocalMessage(into_channel, Route((local("replies"),)), payload)
                    assert await a.router.send(sent)

            async with trio.open_nursery() as nursery:
                for number in range(SENDERS):
                    nursery.start_soon(sender, number)
            await collect.all_in.wait()
            await replies.all_in.wait()

            assert in_order(collect.payloads)
            assert in_order(replies.payloads, b"re:")
            [initiator] = a.actors_of(SecureChannelWorker)
            [responder] = b.actors_of(SecureChannelWorker)
            assert initiator.machine.frames_dropped == responder.machine.frames_dropped == 0
