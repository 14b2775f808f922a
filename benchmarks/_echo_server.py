"""A TCP echo and bulk-transfer server for the benchmarks, run as its own process.

    python -m benchmarks._echo_server --port 0 --print-port

With ``--print-port`` the bound port is printed on stdout (one line, flushed); then the server
runs until it is killed. It is plain asyncio with protocol callbacks: no task per connection and
no copies beyond the kernel's, so that the server is not what the benchmarks measure.

One port serves every benchmark, so that each tunnel under test needs to forward only one port.
A connection starts in command mode, where each command is one ASCII line:

``ECHO``
    Every byte received after the line is sent back, until the client closes.
``UP <n>``
    The server reads n bytes, discards them, then replies ``OK`` (one line) and reads the next
    command.
``DOWN <n>``
    The server sends n zero bytes, then reads the next command.
``HOLD``
    The server stops reading this connection for good: a service that never reads, so the
    bytes a client pushes pile up in front of it (the memory benchmark).

Anything else gets ``ERR <reason>`` (one line) and the connection is closed. A client may send
a command and the data after it in one write (``b"ECHO\\n" + message``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import enum
import sys
from typing import cast

_CHUNK = bytes(256 * 1024)
_MAX_LINE = 64
_WRITE_HIGH_WATER = 1024 * 1024


class _Mode(enum.Enum):
    COMMAND = enum.auto()
    ECHO = enum.auto()
    UP = enum.auto()
    DOWN = enum.auto()
    HOLD = enum.auto()


class _Connection(asyncio.Protocol):
    """One client connection; every method runs in the event loop's thread."""

    def __init__(self) -> None:
        self._transport: asyncio.Transport | None = None
        self._mode = _Mode.COMMAND
        self._line = bytearray()
        self._remaining = 0
        self._pending = b""
        self._write_paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast("asyncio.Transport", transport)
        self._transport.set_write_buffer_limits(high=_WRITE_HIGH_WATER)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None

    def pause_writing(self) -> None:
        self._write_paused = True
        if self._transport is not None:
            # Echo: stop reading while the client is not reading, as TCP would.
            self._transport.pause_reading()

    def resume_writing(self) -> None:
        self._write_paused = False
        if self._mode is _Mode.DOWN:
            self._pump()
        elif self._transport is not None and self._mode is not _Mode.HOLD:
            self._transport.resume_reading()

    def data_received(self, data: bytes) -> None:
        if self._mode is _Mode.ECHO:
            # The hot path of the latency benchmarks: one call, no copy.
            assert self._transport is not None
            self._transport.write(data)
            return
        self._feed(data)

    def _feed(self, data: bytes) -> None:
        transport = self._transport
        if transport is None:
            return
        while data and not transport.is_closing():
            if self._mode is _Mode.HOLD:
                return  # what came with the command is dropped; nothing more is read
            if self._mode is _Mode.ECHO:
                transport.write(data)
                return
            if self._mode is _Mode.DOWN:
                # The client wrote before the download ended; keep it for later.
                self._pending += data
                return
            if self._mode is _Mode.UP:
                if len(data) <= self._remaining:
                    self._remaining -= len(data)
                    data = b""
                else:
                    data = data[self._remaining :]
                    self._remaining = 0
                if self._remaining == 0:
                    self._mode = _Mode.COMMAND
                    transport.write(b"OK\n")
                continue
            end = data.find(b"\n")
            if end < 0:
                self._line += data
                if len(self._line) > _MAX_LINE:
                    self._fail("command line too long")
                return
            self._line += data[:end]
            data = data[end + 1 :]
            line = bytes(self._line)
            self._line.clear()
            self._command(line)

    def _command(self, line: bytes) -> None:
        verb, _, argument = line.strip().partition(b" ")
        if verb == b"ECHO" and not argument:
            self._mode = _Mode.ECHO
            return
        if verb == b"HOLD" and not argument:
            self._mode = _Mode.HOLD
            assert self._transport is not None
            self._transport.pause_reading()
            return
        if verb not in (b"UP", b"DOWN"):
            self._fail(f"unknown command {line[:_MAX_LINE]!r}")
            return
        try:
            size = int(argument)
        except ValueError:
            size = -1
        if size < 0:
            self._fail(f"{verb.decode()} needs a byte count, got {argument[:_MAX_LINE]!r}")
            return
        self._remaining = size
        if verb == b"UP":
            self._mode = _Mode.UP
            if size == 0:
                self._mode = _Mode.COMMAND
                assert self._transport is not None
                self._transport.write(b"OK\n")
        else:
            self._mode = _Mode.DOWN
            assert self._transport is not None
            self._transport.pause_reading()
            self._pump()

    def _pump(self) -> None:
        """Sends the rest of a download until the transport asks to pause."""
        transport = self._transport
        if transport is None:
            return
        while self._remaining and not self._write_paused:
            size = min(self._remaining, len(_CHUNK))
            transport.write(_CHUNK if size == len(_CHUNK) else _CHUNK[:size])
            self._remaining -= size
        if self._remaining == 0 and self._mode is _Mode.DOWN:
            self._mode = _Mode.COMMAND
            if not self._write_paused:
                transport.resume_reading()
            pending, self._pending = self._pending, b""
            self._feed(pending)

    def _fail(self, reason: str) -> None:
        if self._transport is not None:
            self._transport.write(f"ERR {reason}\n".encode())
            self._transport.close()
        self._mode = _Mode.COMMAND


async def serve(host: str, port: int, *, print_port: bool) -> None:
    """Serves on (host, port) forever; port 0 picks a free port."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Connection, host, port, backlog=1024, reuse_address=True)
    if print_port:
        bound = server.sockets[0].getsockname()[1]
        print(bound, flush=True)
    async with server:
        await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks._echo_server", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port to bind (0: a free port)")
    parser.add_argument("--print-port", action="store_true", help="print the bound port on stdout")
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be 0-65535, got {args.port}")
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(args.host, args.port, print_port=args.print_port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
