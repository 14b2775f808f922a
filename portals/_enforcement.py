"""`Enforcement`: an outlet's or inlet's policy at run time, the I/O side of `PolicyGuard`.

A portal is admitted when it opens (`admit`: the outlet on the Ping, whose return route's first
hop is the channel end it came through; the inlet before its Ping, on its route's first hop),
and an admitted portal under a policy is watched (`watch`) until it closes: at the subject's
expiry, on the channel's news of a fresh credential, and on a change of the node's policies,
the guard decides again, and a portal it no longer allows is closed.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import trio

from secure import SecureChannelWorker

from ._policy_guard import PolicyGuard, SubjectSource
from ._policy_store import PolicyStore, Resource

if TYPE_CHECKING:
    from actors import Address, Node

log = logging.getLogger("ockam.policy")

Clock = Callable[[], float]
"""The wall clock credentials expire by (`time.time`; tests pass one that follows trio's)."""


class Enforcement:
    """The policy of one resource (an outlet, an inlet) as its portals meet it.

    Args:
        store: The node's policies; the resource's is looked up at each check, so a policy
            set after the resource was created applies to its next portal.
        resource: The outlet or inlet.
        clock: The wall clock (`time.time`).
    """

    def __init__(self, store: PolicyStore, resource: Resource, *, clock: Clock = time.time) -> None:
        self.store = store
        self.resource = resource
        self.clock = clock

    def admit(self, node: Node, first_hop: Address) -> PolicyGuard | None:
        """Check a portal that arrives through `first_hop`; None when the resource has no
        policy. A denial (`not guard.allowed`) is logged here, with the identifier and the
        policy."""
        policy = self.store.expression_for(self.resource)
        if policy is None:
            return None
        guard = PolicyGuard(self.resource, subject_source(node, first_hop))
        now = self.clock()
        if not guard.check(policy, now=now).allowed:
            log.warning("refused a portal: %s", guard.refusal(policy, now=now))
        return guard

    async def watch(self, guard: PolicyGuard, close: Callable[[str], Awaitable[None]]) -> None:
        """Check `guard` again whenever it may have changed its mind; when it denies, log it
        and `close(reason)` the portal. Returns then (or never)."""
        while True:
            await self._next_change(guard)
            policy = self.store.expression_for(self.resource)
            now = self.clock()
            if not guard.check(policy, now=now).allowed:
                log.warning("closing a portal: %s", guard.refusal(policy, now=now))
                await close(f"the {self.resource.type.value} policy no longer allows this portal")
                return

    async def _next_change(self, guard: PolicyGuard) -> None:
        """Until the guard's deadline, the subject changes, or the policies do."""
        events = [self.store.changes()]
        changed = subject_changes(guard.source)
        if changed is not None:
            events.append(changed)
        wait = guard.deadline - self.clock()
        async with trio.open_nursery() as nursery:
            if not math.isinf(wait):
                nursery.cancel_scope.deadline = trio.current_time() + max(wait, 0.0)
            for event in events:
                nursery.start_soon(_set_then_cancel, event, nursery.cancel_scope)


async def _set_then_cancel(event: trio.Event, scope: trio.CancelScope) -> None:
    await event.wait()
    scope.cancel()


def subject_source(node: Node, first_hop: Address) -> SubjectSource | None:
    """The established secure channel end at `first_hop` on `node`, or None: anything else
    (a connection, a relay, a local worker, a channel still in its handshake) proves no one."""
    actor = node.actor_at(first_hop)
    if isinstance(actor, SecureChannelWorker) and actor.established.is_set():
        return actor
    return None


def subject_changes(source: SubjectSource | None) -> trio.Event | None:
    """The event set when `source`'s subject next changes (a fresh credential); None when it
    cannot change: no channel, or one that stopped (its portals close with it)."""
    if isinstance(source, SecureChannelWorker) and not source.stopped.is_set():
        return source.subject_changed
    return None
