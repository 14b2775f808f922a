"""The node's registry: actors by address (aliases too), by class, services flagged."""

from __future__ import annotations

import pytest
import trio

from actors import Actor, Echo, LocalMessage, Uppercase, local, open_node, route


class Base(Actor):
    """A plain actor that answers `base`."""

    async def handle_message(self, message: LocalMessage) -> None:
        await self.ctx.reply(message, b"base")


class Derived(Base):
    """A subclass, to check the class index covers the whole MRO."""


class Other(Actor):
    """Crashes on `crash`, to check a restart keeps the actor registered."""

    async def handle_message(self, message: LocalMessage) -> None:
        if message.payload == b"crash":
            raise RuntimeError("asked to crash")
        await self.ctx.reply(message, b"other")


async def test_every_address_of_an_actor_finds_it_and_stopping_frees_them_all() -> None:
    with trio.fail_after(10):
        async with open_node("n1", services=()) as node:
            actor = Base()
            await node.start_actor(actor, "main", aliases=["alias1", local("alias2")])
            for address in ("main", "alias1", local("alias2")):
                assert node.actor_at(address) is actor
            stopped = node.monitor("alias2")
            assert not stopped.is_set()

            assert node.stop_actor("alias1")

            for address in ("main", "alias1", "alias2"):
                assert node.actor_at(address) is None
                assert not node.router.is_registered(local(address))
            await stopped.wait()
            assert node.monitor("main").is_set()
            assert not node.stop_actor("main")
            assert node.workers() == []


async def test_an_address_freed_by_a_stop_can_be_taken_at_once() -> None:
    with trio.fail_after(10):
        async with open_node("n1", services=()) as node:
            old, new = Base(), Other()
            await node.start_actor(old, "x")
            old_stopped = node.monitor("x")
            node.stop_actor("x")
            # The old actor's task has not ended yet; its end must not unregister the new one.
            await node.start_actor(new, "x")
            await old_stopped.wait()

            assert node.actor_at("x") is new
            reply = await node.request(route("x"), b"hi", timeout=5)
            assert reply.payload == b"other"
            assert node.actors_of(Base) == []


async def test_actors_of_a_class_includes_subclasses_in_start_order() -> None:
    with trio.fail_after(10):
        async with open_node("n1", services=()) as node:
            first, second, third, other = Derived(), Base(), Derived(), Other()
            for actor in (first, second, other, third):
                await node.start_actor(actor)

            assert node.actors_of(Derived) == [first, third]
            assert node.actors_of(Base) == [first, second, third]
            assert node.actors_of(Other) == [other]
            assert node.actors_of(Actor) == [first, second, other, third]

            node.stop_actor(first.ctx.address)
            assert node.actors_of(Base) == [second, third]
            assert node.actors_of(Echo) == []


async def test_a_restarted_actor_stays_registered_in_its_place(
    autojump_clock: trio.abc.Clock,
) -> None:
    with trio.fail_after(10):
        async with open_node("n1", services=()) as node:
            before, other, after = Base(), Other(), Base()
            for actor, name in ((before, "before"), (other, "other"), (after, "after")):
                await node.start_actor(actor, name)
            assert await node.send(route("other"), b"crash")

            reply = await node.request(route("other"), b"hi", timeout=5)

            assert reply.payload == b"other"
            assert node.actor_at("other") is other
            assert node.actors_of(Actor) == [before, other, after]


async def test_services_are_flagged_in_the_worker_list() -> None:
    with trio.fail_after(10):
        async with open_node("n1", services=("echo", "uppercase")) as node:
            await node.start_actor(Base(), "plain")
            await node.start_actor(Uppercase(), "flagged", service=True)

            flags = {w.address: w.service for w in node.workers()}

            assert flags == {"echo": True, "uppercase": True, "plain": False, "flagged": True}
            assert [type(a) for a in node.actors_of(Uppercase)] == [Uppercase, Uppercase]


async def test_an_actor_that_fails_to_start_leaves_no_trace() -> None:
    class FailsToStart(Actor):
        async def on_start(self) -> None:
            raise RuntimeError("no")

    with trio.fail_after(10):
        async with open_node("n1", services=()) as node:
            with pytest.raises(RuntimeError, match="no"):
                await node.start_actor(FailsToStart(), "bad", aliases=["worse"])
            assert node.actor_at("bad") is None
            assert node.actors_of(FailsToStart) == []
            assert not node.router.is_registered(local("worse"))
            await node.start_actor(Base(), "bad")
            assert isinstance(node.actor_at("bad"), Base)
