"""One task that waits for many streams at once.

A node that carries many portals would otherwise wake one trio task per socket and per
message, each wake-up a full pass of trio's scheduler and an `epoll_ctl`. A `SocketPoller`
keeps its own level-triggered epoll set, registered once per socket; trio waits for that one
descriptor, and when it is readable the poller calls the handler of every ready socket in a
row, in one task, inside one `frame_batch` — so the frames those handlers send through the same
connection leave in one `send`.

A stream without a descriptor (`StreamIO.fileno()` is None: memory streams in tests) is waited
for by a task of its own in the poller's nursery, which calls the same handler: the code
above the poller is the same for both.

Handlers are coroutines that should not wait: a handler that does wait (a full mailbox further
on) holds up the other streams of that poller, which is why a node keeps one poller per worker
that carries the traffic (see `portals`): streams that share a carrier would wait for it anyway.
"""

from __future__ import annotations

import select
from collections.abc import Awaitable, Callable

import trio

from ._connection import frame_batch
from ._stream_io import StreamIO

FAIR_ROUNDS = 8
"""Rounds of ready sockets handled in a row before the poller lets other tasks run."""

Handler = Callable[[], Awaitable[None]]
"""Called, in the poller's task, each time its stream has bytes to read (or is at its end);
it takes them with `StreamIO.receive_nowait`."""


class _Waiter:
    """A stream without a descriptor, waited for by a task of its own."""

    __slots__ = ("active", "handler", "scope")

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.active = True
        self.scope: trio.CancelScope | None = None  # while it waits (not in the handler)


class SocketPoller:
    """Calls a handler for each registered stream that is readable, from one task (`run`).

    Streams are watched from `add` until `remove` (which a handler may call for its own
    stream); remove a stream before closing it (epoll watches the open file, not the
    descriptor number, so a closed duplicate would keep reporting).
    """

    def __init__(self, *, read_size: int = 64 * 1024) -> None:
        self._epoll = select.epoll()
        self._handlers: dict[int, Handler] = {}
        self._waiters: dict[StreamIO, _Waiter] = {}
        self._read_size = read_size
        self._nursery: trio.Nursery | None = None
        self._closed = False

    def __len__(self) -> int:
        return len(self._handlers) + len(self._waiters)

    def add(self, io: StreamIO, handler: Handler) -> None:
        """Call `handler` while `io` is readable. Raises `trio.ClosedResourceError` once the
        poller has stopped."""
        if self._closed:
            raise trio.ClosedResourceError("the socket poller has stopped")
        fd = io.fileno()
        if fd is not None:
            self._epoll.register(fd, select.EPOLLIN)
            self._handlers[fd] = handler
            return
        waiter = self._waiters[io] = _Waiter(handler)
        if self._nursery is not None:
            self._nursery.start_soon(self._wait_for, io, waiter)
        # else `run` starts it with the others

    def remove(self, io: StreamIO) -> None:
        """Stop watching `io`; a stream not watched is ignored."""
        fd = io.fileno()
        if fd is not None:
            if self._handlers.pop(fd, None) is not None and not self._closed:
                self._epoll.unregister(fd)
            return
        waiter = self._waiters.pop(io, None)
        if waiter is not None:
            waiter.active = False
            if waiter.scope is not None:
                waiter.scope.cancel()  # not while in its handler, which finishes its work

    async def _wait_for(self, io: StreamIO, waiter: _Waiter) -> None:
        while waiter.active:
            with trio.CancelScope() as waiter.scope:
                await io.wait_readable(self._read_size)
            waiter.scope = None
            if waiter.active:
                await waiter.handler()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Wait for the registered streams and call their handlers, until cancelled."""
        epoll = self._epoll
        handlers = self._handlers
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                for io, waiter in list(self._waiters.items()):
                    nursery.start_soon(self._wait_for, io, waiter)
                task_status.started()
                rounds = 0
                while True:
                    events = epoll.poll(0)
                    if not events:
                        rounds = 0
                        await trio.lowlevel.wait_readable(epoll.fileno())
                        continue
                    with frame_batch():
                        for fd, _ in events:
                            handler = handlers.get(fd)
                            if handler is not None:  # removed by an earlier handler this round
                                await handler()
                    rounds += 1
                    if rounds >= FAIR_ROUNDS:
                        rounds = 0
                        await trio.lowlevel.checkpoint()
        finally:
            self._closed = True
            self._handlers.clear()
            self._waiters.clear()
            trio.lowlevel.notify_closing(epoll.fileno())
            epoll.close()
