"""A relay service with an authorize hook refuses a registration with the hook's reason, and
makes its relays with the factory it is given."""

from __future__ import annotations

import pytest
import trio

from actors import (
    RELAY_SERVICE,
    LocalMessage,
    RelayError,
    RelayService,
    RelayWorker,
    Route,
    local,
    route,
    start_relay,
)
from transports.testing import open_topology


class CountingRelay(RelayWorker):
    """A relay worker that counts what it forwards."""

    forwarded = 0

    async def handle_message(self, message: LocalMessage) -> None:
        self.forwarded += 1
        await super().handle_message(message)


async def test_the_authorize_hook_decides_and_the_factory_makes_the_relays() -> None:
    seen: list[tuple[str, Route]] = []

    def authorize(name: str, back: Route) -> str | None:
        seen.append((name, back))
        return None if name == "n3" else f"relay {name!r} is not allowed here"

    with trio.fail_after(10):
        async with open_topology(
            ["n2", "n3"], links=[("n3", "n2")], transport="memory", services=("echo",)
        ) as t:
            await t["n2"].start_actor(
                RelayService(authorize=authorize, make_relay=CountingRelay),
                RELAY_SERVICE,
                service=True,
            )
            to_n2 = Route((local(t.connections[("n3", "n2")].worker),))
            with pytest.raises(RelayError, match="relay 'other' is not allowed here"):
                await start_relay(t["n3"], at=to_n2, name="other")
            assert t["n2"].actor_at("forward_to_other") is None

            await start_relay(t["n3"], at=to_n2, name="n3")
            assert isinstance(t["n2"].actor_at("forward_to_n3"), CountingRelay)
            reply = await t["n2"].request(route("forward_to_n3", "echo"), b"back", timeout=5)
            assert reply.payload == b"back"
            relay = t["n2"].actor_at("forward_to_n3")
            assert isinstance(relay, CountingRelay)
            assert relay.forwarded == 1
            assert [name for name, _ in seen] == ["other", "n3"]
            assert all(back for _, back in seen)  # the registration's return route
