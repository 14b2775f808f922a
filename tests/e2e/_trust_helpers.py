"""Helpers for the end-to-end trust tests: an authority identity and nodes that trust it, made
with the `ockam` command as a user would."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from .conftest import Ockam

UPLOAD_SERVER = Path(__file__).parent.parent / "http_upload_server.py"


class Authority:
    """The identity `name` in `ockam`'s home, issuing credentials with `credential issue`."""

    def __init__(self, ockam: Ockam, name: str = "authority") -> None:
        self.ockam = ockam
        self.name = name
        ockam.run("identity", "create", name)
        self.exported = ockam.out("identity", "show", name, "--full", "--encoding", "hex")
        self.identifier = ockam.out("identity", "show", name)

    def issue(self, subject: str, *attributes: str, ttl: str = "10m") -> str:
        """A credential (hex) for the identifier `subject`, with `K=V` attributes."""
        flags = [item for attribute in attributes for item in ("--attribute", attribute)]
        return self.ockam.out(
            "credential", "issue", "--as", self.name, "--for", subject, "--ttl", ttl,
            "--encoding", "hex", *flags,
        )  # fmt: skip

    def trusting_node(self, name: str, *flags: str) -> str:
        """Create node `name` (identity `name`) trusting this authority; its identifier."""
        self.ockam.run(
            "node", "create", name, "--identity", name,
            "--authority-identity", self.exported, *flags,
        )  # fmt: skip
        return self.ockam.out("identity", "show", name)

    def store(self, node: str, credential: str) -> None:
        """`credential store --at node` of a credential this authority issued."""
        self.ockam.run(
            "credential", "store", "--at", node, "--issuer", self.identifier,
            "--credential", credential,
        )  # fmt: skip


def flip_byte(credential: str) -> str:
    """`credential` (hex) with one byte in its middle changed."""
    raw = bytearray(bytes.fromhex(credential))
    raw[len(raw) // 2] ^= 0x01
    return raw.hex()


@contextmanager
def serve_http(root: Path, log: Path, *, rate: int = 0) -> Iterator[int]:
    """`tests/http_upload_server.py` serving `root` on a free port of 127.0.0.1 (downloads at
    `rate` bytes per second at most, if given), its requests and uploads logged to `log`;
    yields its port."""
    with (
        open(log, "w") as errors,
        subprocess.Popen(
            [
                sys.executable,
                str(UPLOAD_SERVER),
                "--directory",
                str(root),
                "--rate",
                str(rate),
                "0",
            ],
            stdout=subprocess.PIPE,
            stderr=errors,
            stdin=subprocess.DEVNULL,
            text=True,
        ) as server,
    ):
        try:
            assert server.stdout is not None
            yield int(server.stdout.readline().split()[-1])  # "listening on HOST PORT"
        finally:
            server.terminate()
            server.wait(timeout=10)


def curl(port: int, path: str = "/hello.txt") -> subprocess.CompletedProcess[str]:
    """GET `path` on 127.0.0.1:`port`, bounded."""
    return subprocess.run(
        ["curl", "-sS", "--max-time", "10", f"http://127.0.0.1:{port}{path}"],
        capture_output=True,
        text=True,
        timeout=30,
    )


def serve_through(ockam: Ockam, client: str, server: str, target: int) -> int:
    """An outlet on `server` to `target` and an inlet on `client` reaching it through a secure
    channel; the inlet's port."""
    ockam.run("tcp-outlet", "create", "--at", server, "--to", f"127.0.0.1:{target}")
    bound = ockam.out(
        "tcp-inlet", "create", "--at", client, "--from", "127.0.0.1:0",
        "--to", f"/node/{server}/secure/api/service/outlet",
    )  # fmt: skip
    return int(bound.rpartition(":")[2])
