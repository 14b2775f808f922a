"""A TCP forwarder that makes a long link out of loopback: each chunk waits half the RTT.

    python -m benchmarks._delay_proxy --to PORT --rtt-ms 40 --print-port

Listens on 127.0.0.1 (a free port, printed with ``--print-port``); for each accepted connection
it opens one to ``127.0.0.1:PORT`` and carries bytes both ways, holding every chunk it reads for
half the round trip before writing it on, so a request and its answer take the whole round
trip. The kernel here has no netem; this stands in for it between the private side and the
relay.

The delay is all it adds: chunks keep their order and are written as soon as they are due, and
each direction holds up to ``CAPACITY`` bytes in flight (far above any bandwidth-delay product
this machine can fill), so a transfer is bound by its own windows, as on a real link, not by
the proxy. ``DelayLine`` is the sans-IO core (chunks and times in, due chunks out); ``carry``
is the Trio shell for one direction.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import sys
from collections.abc import AsyncIterator
from functools import partial

import trio

from ._baselines import HOST, run_module

__all__ = ["CAPACITY", "DelayLine", "carry", "open_delay_proxy"]

CAPACITY = 256 * 1024 * 1024
"""Bytes one direction holds in flight before it stops reading its source."""

_READ_SIZE = 256 * 1024


class DelayLine:
    """Chunks in, the same chunks out in the same order, each ``delay`` seconds after it came in.

    Sans-IO: the caller passes the time. The end of the stream travels like a chunk: it is due
    ``delay`` after it was seen, behind every chunk before it.
    """

    def __init__(self, delay: float, *, capacity: int = CAPACITY) -> None:
        if delay < 0:
            raise ValueError(f"delay must not be negative, got {delay!r}")
        if capacity < 1:
            raise ValueError(f"capacity must be positive, got {capacity!r}")
        self.delay = delay
        self.capacity = capacity
        self.buffered = 0
        self._chunks: collections.deque[tuple[float, bytes]] = collections.deque()
        self._end_due: float | None = None

    def has_room(self) -> bool:
        """Whether the source may be read again (fewer than ``capacity`` bytes in flight)."""
        return self.buffered < self.capacity

    def push(self, chunk: bytes, now: float) -> None:
        """A chunk read at ``now``; it is due at ``now + delay``."""
        if self._end_due is not None:
            raise ValueError("a chunk after the end of the stream")
        if chunk:
            self._chunks.append((now + self.delay, chunk))
            self.buffered += len(chunk)

    def end(self, now: float) -> None:
        """The source ended at ``now``."""
        if self._end_due is None:
            self._end_due = now + self.delay

    def next_due(self) -> float | None:
        """When the next chunk, or else the end, is due; None while nothing is in flight."""
        if self._chunks:
            return self._chunks[0][0]
        return self._end_due

    def pop_due(self, now: float) -> list[bytes]:
        """The chunks due at ``now``, oldest first, taken off the line."""
        due: list[bytes] = []
        while self._chunks and self._chunks[0][0] <= now:
            chunk = self._chunks.popleft()[1]
            self.buffered -= len(chunk)
            due.append(chunk)
        return due

    def ended(self, now: float) -> bool:
        """Whether the end is due at ``now`` and every chunk before it has been taken."""
        return not self._chunks and self._end_due is not None and self._end_due <= now


class _Wakeup:
    """Wakes one waiting task whenever ``set`` is called (a reusable ``trio.Event``)."""

    def __init__(self) -> None:
        self._event = trio.Event()

    def set(self) -> None:
        self._event.set()

    async def wait(self) -> None:
        await self._event.wait()
        self._event = trio.Event()


async def carry(
    source: trio.abc.ReceiveStream, sink: trio.abc.HalfCloseableStream, line: DelayLine
) -> None:
    """Moves source's bytes to sink through ``line``; at the source's end, ``sink.send_eof()``.

    One task reads (while the line has room), one writes what is due, in order.
    """
    arrived, taken = _Wakeup(), _Wakeup()

    async def read() -> None:
        while True:
            while not line.has_room():
                await taken.wait()
            data = await source.receive_some(_READ_SIZE)
            if not data:
                line.end(trio.current_time())
                arrived.set()
                return
            line.push(bytes(data), trio.current_time())
            arrived.set()

    async def write() -> None:
        while True:
            due = line.next_due()
            if due is None:
                await arrived.wait()
                continue
            await trio.sleep_until(due)
            now = trio.current_time()
            for chunk in line.pop_due(now):
                await sink.send_all(chunk)
            taken.set()
            if line.ended(now):
                await sink.send_eof()
                return

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read)
        nursery.start_soon(write)


async def _serve_one(client: trio.SocketStream, target: int, delay: float) -> None:
    """Both directions of one connection; a failure on either side closes both."""
    async with client:
        try:
            upstream = await trio.open_tcp_stream(HOST, target)
        except OSError:
            return
        async with upstream:
            with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(carry, client, upstream, DelayLine(delay))
                    nursery.start_soon(carry, upstream, client, DelayLine(delay))


async def serve(target: int, rtt_ms: float, *, print_port: bool) -> None:
    """Listens on a free 127.0.0.1 port and delays every connection to ``target`` by rtt_ms."""
    listeners = await trio.open_tcp_listeners(0, host=HOST, backlog=1024)
    if print_port:
        print(listeners[0].socket.getsockname()[1], flush=True)
    delay = rtt_ms / 2000

    async def handle(client: trio.SocketStream) -> None:
        await _serve_one(client, target, delay)

    await trio.serve_listeners(handle, listeners)


@contextlib.asynccontextmanager
async def open_delay_proxy(target: int, *, rtt_ms: float) -> AsyncIterator[int]:
    """Runs the proxy as its own process in front of 127.0.0.1:target; yields its port."""
    args = ("--to", str(target), "--rtt-ms", f"{rtt_ms:g}")
    async with run_module("benchmarks._delay_proxy", *args, what="the delay proxy") as port:
        yield port


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks._delay_proxy", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--to", type=int, required=True, help="the port to forward to")
    parser.add_argument("--rtt-ms", type=float, required=True, help="round trip to add, in ms")
    parser.add_argument("--print-port", action="store_true", help="print the listening port")
    args = parser.parse_args(argv)
    if args.rtt_ms < 0:
        parser.error(f"--rtt-ms must not be negative, got {args.rtt_ms:g}")
    with contextlib.suppress(KeyboardInterrupt):
        trio.run(partial(serve, args.to, args.rtt_ms, print_port=args.print_port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
