"""One task that waits for many sockets at once.

A node that carries many portals would otherwise wake one trio task per socket and per
message, each wake-up a full pass of trio's scheduler and an `epoll_ctl`. A `SocketPoller`
keeps its own level-triggered epoll set, registered once per socket; trio waits for that one
descriptor, and when it is readable the poller calls the handler of every ready socket in a
row, in one task, inside one `frame_batch` — so the frames those handlers send through the same
connection leave in one `send`.

Handlers are coroutines that should not wait: a handler that does wait (a full mailbox further
on) holds up the other sockets of that poller, which is why a node keeps one poller per worker
that carries the traffic (see `portals`): sockets that share a carrier would wait for it anyway.
"""

from __future__ import annotations

import select
import socket
from collections.abc import Awaitable, Callable

import trio

from ._connection import frame_batch

FAIR_ROUNDS = 8
"""Rounds of ready sockets handled in a row before the poller lets other tasks run."""

Handler = Callable[[], Awaitable[None]]
"""Called, in the poller's task, each time its socket has bytes to read (or is at its end)."""


class SocketPoller:
    """Calls a handler for each registered socket that is readable, from one task (`run`).

    Sockets are watched from `add` until `remove`; remove a socket before closing it (epoll
    watches the open file, not the descriptor number, so a closed duplicate would keep
    reporting).
    """

    def __init__(self) -> None:
        self._epoll = select.epoll()
        self._handlers: dict[int, Handler] = {}
        self._closed = False

    def __len__(self) -> int:
        return len(self._handlers)

    def add(self, sock: socket.socket, handler: Handler) -> None:
        """Call `handler` while `sock` is readable. Raises `trio.ClosedResourceError` once the
        poller has stopped."""
        if self._closed:
            raise trio.ClosedResourceError("the socket poller has stopped")
        fd = sock.fileno()
        self._epoll.register(fd, select.EPOLLIN)
        self._handlers[fd] = handler

    def remove(self, sock: socket.socket) -> None:
        """Stop watching `sock`; a socket not watched (or already closed) is ignored."""
        fd = sock.fileno()
        if self._handlers.pop(fd, None) is not None and not self._closed:
            self._epoll.unregister(fd)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Wait for the registered sockets and call their handlers, until cancelled."""
        epoll = self._epoll
        handlers = self._handlers
        task_status.started()
        try:
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
                        if handler is not None:  # removed by an earlier handler of this round
                            await handler()
                rounds += 1
                if rounds >= FAIR_ROUNDS:
                    rounds = 0
                    await trio.lowlevel.checkpoint()
        finally:
            self._closed = True
            self._handlers.clear()
            trio.lowlevel.notify_closing(epoll.fileno())
            epoll.close()
