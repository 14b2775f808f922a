"""One-for-one supervision: restart a crashed actor, within limits, then escalate."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import msgspec
import trio

if TYPE_CHECKING:
    from ._actor import Actor, Context

log = logging.getLogger("ockam.supervisor")


class RestartPolicy(msgspec.Struct, frozen=True):
    """How a supervisor treats an actor's crash.

    `permanent` actors are restarted after any crash, `temporary` ones never (a connection or a
    portal worker whose socket is gone). At most `max_restarts` restarts within `within`
    seconds; one more crash is escalated.
    """

    mode: Literal["permanent", "temporary"] = "permanent"
    max_restarts: int = 3
    within: float = 5.0


PERMANENT = RestartPolicy()
TEMPORARY = RestartPolicy(mode="temporary")


class Escalation(msgspec.Struct, frozen=True):
    """A report that an actor failed beyond what its supervisor may repair."""

    address: str
    actor: str
    reason: str
    restarts: int


class _Status:
    """Passes `started` through to the caller of `nursery.start` and remembers it did."""

    def __init__(self, inner: trio.TaskStatus[None]) -> None:
        self.inner = inner
        self.done = False

    def started(self, value: None = None) -> None:
        self.done = True
        self.inner.started(value)


async def supervise(
    actor: Actor,
    ctx: Context,
    policy: RestartPolicy,
    escalate: Callable[[Escalation], Any],
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run `actor` and restart it by `policy` when it crashes.

    A crash before the actor reported ready is raised to whoever started it. Past the restart
    limit the actor stops and `escalate` receives an `Escalation`; the node carries on.
    """
    status = _Status(task_status)
    crashes: deque[float] = deque()
    restarts = 0
    while True:
        try:
            if status.done:
                await actor.run()
            else:
                await actor.run(task_status=status)
            return
        except Exception as exc:
            if not status.done:
                raise
            log.error(
                "actor %s (%s) crashed: %r",
                ctx.address.text,
                type(actor).__name__,
                exc,
                exc_info=exc,
            )
            if policy.mode == "temporary":
                return
            now = trio.current_time()
            crashes.append(now)
            while crashes and now - crashes[0] > policy.within:
                crashes.popleft()
            if len(crashes) > policy.max_restarts:
                report = Escalation(
                    address=str(ctx.address),
                    actor=type(actor).__name__,
                    reason=repr(exc),
                    restarts=restarts,
                )
                log.error(
                    "actor %s crashed %d times within %.1f s; stopping it and escalating",
                    ctx.address.text,
                    len(crashes),
                    policy.within,
                )
                escalate(report)
                return
            restarts += 1
            log.warning("restarting actor %s (restart %d)", ctx.address.text, restarts)
