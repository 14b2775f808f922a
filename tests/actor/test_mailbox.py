"""The one shortcut on the data path: `Mailbox.put` offers a message to `Actor.try_handle_now`.

Each test checks one clause of the contract in `Actor.try_handle_now`'s docstring, on a real
node; the last one pushes frames through a connection whose peer reads slowly, so that both
the sender's task and the mailbox loop frame messages.
"""

from __future__ import annotations

import logging

import pytest
import trio
import trio.testing

import transports
from actors import Actor, LocalMessage, Route, local, open_node
from transports import WireDecoder


class Recorder(Actor):
    """Handles messages whose payload starts with b"now" in the sender's task, queues the
    rest; records (how, payload) in the order it handled them."""

    def __init__(self) -> None:
        self.handled: list[tuple[str, bytes]] = []
        self.tasks: list[trio.lowlevel.Task] = []
        self.release = trio.Event()

    async def try_handle_now(self, message: LocalMessage) -> bool:
        if message.payload == b"boom":
            raise RuntimeError("a bug in the actor")
        if not message.payload.startswith(b"now"):
            return False
        self.handled.append(("now", message.payload))
        self.tasks.append(trio.lowlevel.current_task())
        return True

    async def handle_message(self, message: LocalMessage) -> None:
        if message.payload == b"slow":
            await self.release.wait()
        self.handled.append(("queued", message.payload))


def to(name: str, payload: bytes) -> LocalMessage:
    return LocalMessage(Route((local(name),)), Route(), payload)


async def test_a_message_handled_now_runs_in_the_senders_task() -> None:
    with trio.fail_after(5):
        async with open_node("n", services=()) as node:
            recorder = Recorder()
            await node.start_actor(recorder, "r")
            assert await node.router.send(to("r", b"now 1"))
            assert recorder.handled == [("now", b"now 1")]
            assert recorder.tasks == [trio.lowlevel.current_task()]


async def test_a_message_never_overtakes_one_queued_before_it() -> None:
    with trio.fail_after(5):
        async with open_node("n", services=()) as node:
            recorder = Recorder()
            await node.start_actor(recorder, "r")
            # "slow" queues and holds the actor's task; "queued" waits behind it; "now 2"
            # would be handled now, but must queue behind both.
            for payload in (b"slow", b"queued", b"now 2"):
                assert await node.router.send(to("r", payload))
            await trio.testing.wait_all_tasks_blocked()
            assert recorder.handled == []
            recorder.release.set()
            while len(recorder.handled) < 3:
                await trio.sleep(0.01)
            assert recorder.handled == [
                ("queued", b"slow"),
                ("queued", b"queued"),
                ("queued", b"now 2"),
            ]
            # With the mailbox empty again, the shortcut is taken again.
            assert await node.router.send(to("r", b"now 3"))
            assert recorder.handled[-1] == ("now", b"now 3")


async def test_an_error_drops_that_message_and_the_sender_carries_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with trio.fail_after(5):
        async with open_node("n", services=()) as node:
            recorder = Recorder()
            await node.start_actor(recorder, "r")
            with caplog.at_level(logging.ERROR, logger="ockam.actor"):
                await node.router.send(to("r", b"boom"))
            assert (
                "/service/r (Recorder) failed on a message; the message is dropped" in caplog.text
            )
            assert await node.router.send(to("r", b"now after"))
            assert recorder.handled == [("now", b"now after")]


class Stalling(Actor):
    """Waits in `try_handle_now` until cancelled (a full next mailbox, say)."""

    def __init__(self) -> None:
        self.entered = trio.Event()

    async def try_handle_now(self, message: LocalMessage) -> bool:
        if message.payload == b"stall":
            self.entered.set()
            await trio.sleep_forever()
        return False


async def test_a_cancelled_sender_leaves_the_mailbox_usable() -> None:
    with trio.fail_after(5):
        async with open_node("n", services=()) as node:
            ctx = await node.start_actor(Stalling(), "s")
            with trio.move_on_after(0.1) as scope:
                await node.router.send(to("s", b"stall"))
            assert scope.cancelled_caught
            # Nothing was queued by the cancelled put: the mailbox counts no message.
            assert ctx.mailbox.empty


async def test_frames_keep_their_order_through_a_slow_connection() -> None:
    """A connection's sender frames messages itself until its buffer is full; then they queue
    in its mailbox. Either way the peer reads them in the order they were sent."""
    count, size = 200, 10_000
    with trio.fail_after(10):
        async with transports.open_node("n", services=()) as node:
            ours, theirs = trio.testing.lockstep_stream_pair()
            decoder = WireDecoder()
            received: list[bytes] = []

            async def read_slowly() -> None:
                while len(received) < count:
                    data = await theirs.receive_some(4096)
                    received.extend(m.payload for m in decoder.receive_data(data))
                    await trio.lowlevel.checkpoint()

            async with trio.open_nursery() as nursery:
                nursery.start_soon(read_slowly)
                info = await node.tcp.attach(ours, peer="reader", mode="outgoing")
                for i in range(count):
                    route = Route((local(info.worker), local("far")))
                    payload = i.to_bytes(4, "big") * (size // 4)
                    assert await node.router.send(LocalMessage(route, Route(), payload))
            assert [int.from_bytes(p[:4], "big") for p in received] == list(range(count))
            assert all(len(p) == size for p in received)
