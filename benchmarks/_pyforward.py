"""The least a Python process can do to relay TCP: a baseline for the portal's Python floor.

    python -m benchmarks._pyforward --to PORT --print-port

Listens on 127.0.0.1 (a free port, printed on stdout with ``--print-port``), and for each
accepted connection opens one to ``127.0.0.1:PORT`` and copies bytes both ways until both sides
have ended. One thread, one level-triggered epoll set (``selectors``), non-blocking sockets,
TCP_NODELAY, no framing, no routing, no trio: the fastest shape of a Python relay, so that
three of these in a chain show what any Python implementation of inlet → relay → outlet pays
before it does any of a portal's work. A copy that the far socket does not take at once stops
reading its source until the rest is written, so memory stays bounded by one read per
direction.
"""

from __future__ import annotations

import argparse
import contextlib
import selectors
import socket

_READ_SIZE = 256 * 1024
_BACKLOG = 1024


class _Direction:
    """Bytes from `source` to `sink`, and what `sink` has not taken yet."""

    __slots__ = ("closed", "done", "pending", "reverse", "sink", "source")

    def __init__(self, source: socket.socket, sink: socket.socket) -> None:
        self.source = source
        self.sink = sink
        self.pending = b""
        self.done = False
        self.closed = False
        self.reverse: _Direction | None = None


class _Forwarder:
    def __init__(self, target: int) -> None:
        self.target = target
        self.selector = selectors.DefaultSelector()

    def accept(self, listener: socket.socket) -> None:
        try:
            client, _ = listener.accept()
        except BlockingIOError:
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", self.target))
        except OSError:
            client.close()
            return
        up, down = _Direction(client, upstream), _Direction(upstream, client)
        up.reverse, down.reverse = down, up
        for sock, direction in ((client, up), (upstream, down)):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, True)
            sock.setblocking(False)
            self.selector.register(sock, selectors.EVENT_READ, direction)

    def _update(self, direction: _Direction) -> None:
        """Watch `direction.source` for what it waits for now: reading (unless its copy is
        blocked or ended), and writing what the opposite direction has pending."""
        sock = direction.source
        if direction.closed:
            return
        assert direction.reverse is not None
        events = 0
        if not direction.done and not direction.pending:
            events |= selectors.EVENT_READ
        if direction.reverse.pending:
            events |= selectors.EVENT_WRITE
        registered = sock in self.selector.get_map()
        if events and registered:
            self.selector.modify(sock, events, direction)
        elif events:
            self.selector.register(sock, events, direction)
        elif registered:
            self.selector.unregister(sock)

    def readable(self, direction: _Direction) -> None:
        try:
            data = direction.source.recv(_READ_SIZE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if data:
            self._write(direction, data)
        else:
            self._end(direction)

    def writable(self, direction: _Direction) -> None:
        """`direction.sink` can take more of `direction.pending`."""
        data, direction.pending = direction.pending, b""
        self._write(direction, data)

    def _write(self, direction: _Direction, data: bytes) -> None:
        try:
            sent = direction.sink.send(data)
        except BlockingIOError:
            sent = 0
        except OSError:
            self._close(direction)
            return
        direction.pending = data[sent:]
        assert direction.reverse is not None
        self._update(direction)
        self._update(direction.reverse)
        if not direction.pending and direction.done:
            self._shutdown(direction)

    def _end(self, direction: _Direction) -> None:
        direction.done = True
        if not direction.pending:
            self._shutdown(direction)
        self._update(direction)

    def _shutdown(self, direction: _Direction) -> None:
        with contextlib.suppress(OSError):
            direction.sink.shutdown(socket.SHUT_WR)
        assert direction.reverse is not None
        if direction.reverse.done and not direction.reverse.pending:
            self._close(direction)

    def _close(self, direction: _Direction) -> None:
        assert direction.reverse is not None
        if direction.closed:
            return
        direction.closed = direction.reverse.closed = True
        for sock in (direction.source, direction.sink):
            if sock in self.selector.get_map():
                self.selector.unregister(sock)
            sock.close()

    def serve(self, listener: socket.socket) -> None:
        listener.setblocking(False)
        self.selector.register(listener, selectors.EVENT_READ, None)
        while True:
            for key, events in self.selector.select():
                if key.data is None:
                    self.accept(listener)
                    continue
                reading: _Direction = key.data
                if events & selectors.EVENT_WRITE and not reading.closed:
                    assert reading.reverse is not None
                    self.writable(reading.reverse)
                if events & selectors.EVENT_READ and not reading.closed:
                    self.readable(reading)


def main() -> None:
    """Parse the arguments and forward until killed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--to", type=int, required=True, help="the port to forward to")
    parser.add_argument("--print-port", action="store_true", help="print the listening port")
    args = parser.parse_args()
    listener = socket.create_server(("127.0.0.1", 0), backlog=_BACKLOG)
    if args.print_port:
        print(listener.getsockname()[1], flush=True)
    with contextlib.suppress(KeyboardInterrupt):
        _Forwarder(args.to).serve(listener)


if __name__ == "__main__":
    main()
