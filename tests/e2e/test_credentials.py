"""Credentials that expire cut the portals opened under them, end to end: real `ockam` nodes
alice and bob trusting one authority, curl through alice's inlet to bob's outlet in front of
`tests/http_upload_server.py`, every transfer 50 MB rate-limited to 5 MB/s (10 s): by curl's
`--limit-rate`, and for downloads by the server too, so that no bytes wait in socket buffers.

When the credential of one end (alice's, then bob's), issued with `--ttl 5s`, expires, the
download (and then the upload) running through the portal is cut: curl fails with fewer than
50 MB moved; the next request fails too, until a fresh credential is stored.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ._trust_helpers import Authority, curl, serve_http, serve_through
from .conftest import Ockam

MB = 1024 * 1024
SIZE = 50 * MB
RATE = "5M"
ATTRIBUTES = {"alice": "component=web", "bob": "role=server"}


class Web:
    """The HTTP server behind bob's outlet: `big.bin` to download, `upload` to PUT to."""

    def __init__(self, port: int, log: Path, upload: Path) -> None:
        self.port, self.log, self.upload = port, log, upload

    def uploads(self) -> list[int]:
        """The bytes each upload brought the server, as it logged them (once each ended)."""
        return [
            int(n) for n in re.findall(r"upload /upload: (\d+) of \d+ bytes", self.log.read_text())
        ]

    def received(self, before: int, timeout: float = 10) -> int:
        """The bytes the upload after the first `before` ones brought the server: it logs them
        as soon as the upload ends, cut or not; 0 when none reached it within `timeout` (the
        portal was refused before the outlet connected to the server)."""
        deadline = time.monotonic() + timeout
        while len(found := self.uploads()) <= before:
            if time.monotonic() > deadline:
                return 0
            time.sleep(0.1)
        return found[before]


@pytest.fixture
def web(tmp_path: Path) -> Iterator[Web]:
    root = tmp_path / "www"
    root.mkdir()
    (root / "hello.txt").write_text("hello\n")
    with open(root / "big.bin", "wb") as big:
        big.truncate(SIZE)
    upload = tmp_path / "upload.bin"
    with open(upload, "wb") as file:
        file.truncate(SIZE)
    log = tmp_path / "http.log"
    # The server sends at the rate curl reads: with curl's --limit-rate alone, tens of MB
    # could wait in the two ends' socket buffers before the expiry, and reach curl after it.
    with serve_http(root, log, rate=5 * MB) as port:
        yield Web(port, log, upload)


def transfer(direction: str, inlet: int, web: Web) -> tuple[int, int, str]:
    """A 50 MB download or upload through the inlet at 5 MB/s: curl's exit status, the bytes
    it moved and its error."""
    url = f"http://127.0.0.1:{inlet}"
    common = ["curl", "-sS", "-o", "/dev/null", "--limit-rate", RATE, "--max-time", "60"]
    if direction == "download":
        args = [*common, "-w", "%{size_download}", f"{url}/big.bin"]
    else:
        args = [*common, "-H", "Expect:", "-T", str(web.upload), "-w", "%{size_upload}"]
        args.append(f"{url}/upload")
    done = subprocess.run(args, capture_output=True, text=True, timeout=90)
    return done.returncode, int(done.stdout.strip() or 0), done.stderr.strip()


def logs(ockam: Ockam) -> str:
    """The last lines of alice's and bob's logs, for a failing assertion's message."""
    tails = []
    for name in ("alice", "bob"):
        lines = (ockam.home / "nodes" / name / "stdout.log").read_text().splitlines()
        tails.append(f"--- {name}\n" + "\n".join(lines[-15:]))
    return "\n".join(tails)


def wait_served(ockam: Ockam, inlet: int, timeout: float = 20) -> None:
    """Poll until a request through the inlet is served again."""
    deadline = time.monotonic() + timeout
    while (got := curl(inlet)).stdout != "hello\n":
        assert time.monotonic() < deadline, f"not served: {got.stderr}\n{logs(ockam)}"


def outlet_policy(ockam: Ockam) -> list[str]:
    """The outlet's own policy: alice's attribute, where `tcp-outlet create` takes `--allow`
    (the policy CLI's); else the outlet keeps a trusting node's default policy,
    `(= subject.has_credential true)`, which an expired credential fails just the same."""
    if "--allow" in ockam.run("tcp-outlet", "create", "--help").stdout:
        return ["--allow", '(= subject.component "web")']
    return []


@pytest.mark.parametrize("expiring", ["alice", "bob"])
def test_a_transfer_is_cut_when_a_credential_expires(ockam: Ockam, web: Web, expiring: str) -> None:
    authority = Authority(ockam)
    identifiers = {name: authority.trusting_node(name) for name in ("alice", "bob")}

    def store(name: str, ttl: str) -> None:
        # On a loaded machine the two commands may outlast a 5 s credential: then the store
        # is refused as expired, and a fresh one is issued.
        for _ in range(3):
            credential = authority.issue(identifiers[name], ATTRIBUTES[name], ttl=ttl)
            stored = ockam.run(
                "credential", "store", "--at", name, "--issuer", authority.identifier,
                "--credential", credential, check=False,
            )  # fmt: skip
            if stored.returncode == 0:
                return
            assert "credential expired" in stored.stderr, stored.stderr
        pytest.fail(f"could not store a {ttl} credential at {name} before it expired")

    store("alice", "10m")
    store("bob", "10m")
    ockam.run(
        "tcp-outlet", "create", "--at", "bob", "--to", f"127.0.0.1:{web.port}",
        *outlet_policy(ockam),
    )  # fmt: skip
    bound = ockam.out(
        "tcp-inlet", "create", "--at", "alice", "--from", "127.0.0.1:0",
        "--to", "/node/bob/secure/api/service/outlet",
    )  # fmt: skip
    inlet = int(bound.rpartition(":")[2])
    wait_served(ockam, inlet)

    for direction in ("download", "upload"):
        store(expiring, "5s")
        before = len(web.uploads())
        status, moved, why = transfer(direction, inlet, web)
        assert status != 0, f"{direction} not cut at {expiring}'s expiry: {why}\n{logs(ockam)}"
        assert moved < SIZE
        if direction == "upload":
            assert web.received(before) < SIZE
        after = curl(inlet)
        assert after.returncode != 0, f"served after the expiry: {after}\n{logs(ockam)}"
        store(expiring, "10m")
        wait_served(ockam, inlet)

    side = "bob" if expiring == "alice" else "alice"
    log = (ockam.home / "nodes" / side / "stdout.log").read_text()
    assert "closing a portal" in log, log
    assert f"refused a portal: tcp-{'outlet' if side == 'bob' else 'inlet'}" in log, log


def test_with_fresh_credentials_whole_transfers_arrive(ockam: Ockam, web: Web) -> None:
    """A plain check of the topology the cut tests use, with long-lived credentials: 50 MB
    download and upload arrive whole."""
    authority = Authority(ockam)
    for name in ("alice", "bob"):
        identifier = authority.trusting_node(name)
        authority.store(name, authority.issue(identifier, ATTRIBUTES[name]))
    inlet = serve_through(ockam, "alice", "bob", web.port)
    wait_served(ockam, inlet)
    url = f"http://127.0.0.1:{inlet}"
    got = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{size_download}", "--max-time", "60",
         f"{url}/big.bin"],
        capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    assert (got.returncode, got.stdout) == (0, str(SIZE))
    sent = subprocess.run(
        ["curl", "-sS", "-H", "Expect:", "-T", str(web.upload), "--max-time", "60",
         f"{url}/upload"],
        capture_output=True, text=True, timeout=90,
    )  # fmt: skip
    assert (sent.returncode, sent.stdout) == (0, f"received {SIZE}\n")
    assert web.uploads() == [SIZE]
