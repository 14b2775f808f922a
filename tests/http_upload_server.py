"""`python3 -m http.server` with an upload handler, for end-to-end tests.

GET and HEAD serve the files of --directory, as `http.server` does, no faster than --rate
bytes per second when it is given (so that what a client has not received yet was not sent
yet, rather than waiting in socket buffers); PUT and POST read the
request's body (its Content-Length), count the bytes and answer ``received N``. Every upload
is logged on stderr as ``upload PATH: N of M bytes`` once it ends, complete or cut, so a test
can tell how much reached the server. The first line on stdout is ``listening on HOST PORT``
(port 0 picks a free port).

    python3 tests/http_upload_server.py --directory DIR [--bind 127.0.0.1] [--rate B] PORT
"""

from __future__ import annotations

import argparse
import functools
import http.server
import shutil
import sys
import time
from typing import BinaryIO

CHUNK = 256 * 1024


class UploadHandler(http.server.SimpleHTTPRequestHandler):
    """`SimpleHTTPRequestHandler` that also takes uploads (PUT and POST)."""

    rate = 0
    """Bytes per second a download may go at (0: as fast as the client takes them)."""

    def copyfile(self, source: BinaryIO, outputfile: BinaryIO) -> None:  # type: ignore[override]
        """Send a file's bytes, paced to `rate`; a client that went away ends it quietly."""
        if not self.rate:
            shutil.copyfileobj(source, outputfile)
            return
        start, sent = time.monotonic(), 0
        try:
            while chunk := source.read(CHUNK):
                outputfile.write(chunk)
                sent += len(chunk)
                ahead = sent / self.rate - (time.monotonic() - start)
                if ahead > 0:
                    time.sleep(ahead)
        except OSError:
            self.close_connection = True

    def do_PUT(self) -> None:
        """Read the body, count it, answer how many bytes arrived."""
        expected = int(self.headers.get("Content-Length") or 0)
        received = 0
        try:
            while received < expected:
                chunk = self.rfile.read(min(CHUNK, expected - received))
                if not chunk:
                    break
                received += len(chunk)
        except OSError:
            pass  # the client or the portal cut the connection: report what arrived
        print(f"upload {self.path}: {received} of {expected} bytes", file=sys.stderr, flush=True)
        if received < expected:
            self.close_connection = True
            return
        body = f"received {received}\n".encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    do_POST = do_PUT

    def log_message(self, format: str, *args: object) -> None:
        """Requests go to stderr, as `http.server` logs them."""
        print(f"{self.address_string()} {format % args}", file=sys.stderr, flush=True)


def main() -> None:
    """Serve until killed."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("port", type=int, nargs="?", default=0)
    parser.add_argument("--bind", default="127.0.0.1")
    parser.add_argument("--directory", default=".")
    parser.add_argument("--rate", type=int, default=0, help="bytes per second of downloads")
    args = parser.parse_args()
    UploadHandler.rate = args.rate
    handler = functools.partial(UploadHandler, directory=args.directory)
    with http.server.ThreadingHTTPServer((args.bind, args.port), handler) as server:
        port = server.server_address[1]
        print(f"listening on {args.bind} {port}", flush=True)
        server.serve_forever()


if __name__ == "__main__":
    main()
