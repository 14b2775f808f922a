"""End-to-end fixtures: real `ockam` processes in a temporary OCKAM_HOME."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import msgspec
import pytest

from cli._process import pid_alive as pid_alive

OCKAM = [sys.executable, "-m", "cli"]


class Ockam:
    """Runs `ockam` commands as a user would, in one OCKAM_HOME."""

    def __init__(self, home: Path, *, python: str = sys.executable) -> None:
        self.home = home
        self.env = dict(os.environ, OCKAM_HOME=str(home))
        self.command = [python, "-m", "cli"]

    def run(
        self, *args: str, input: str | None = None, check: bool = True, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        """Run `ockam ARGS...`; with `check`, fail the test on a non-zero exit status."""
        result = subprocess.run(
            [*self.command, *args],
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            env=self.env,
            timeout=timeout,
        )
        if check and result.returncode != 0:
            pytest.fail(
                f"ockam {' '.join(args)} exited {result.returncode}\n"
                f"stdout: {result.stdout}\nstderr: {result.stderr}"
            )
        return result

    def out(self, *args: str, input: str | None = None) -> str:
        """The stripped stdout of a successful `ockam ARGS...`."""
        return self.run(*args, input=input).stdout.strip()

    def json(self, *args: str) -> object:
        """The decoded JSON output of `ockam ARGS... --output json`."""
        return msgspec.json.decode(self.out(*args, "--output", "json"))

    def node_pid(self, name: str) -> int:
        """The pid of node `name`, from `node show --output json`."""
        data = self.json("node", "show", name)
        assert isinstance(data, dict)
        return int(data["pid"])

    def listener_port(self, name: str) -> int:
        """The TCP listener port of node `name`."""
        data = self.json("node", "show", name)
        assert isinstance(data, dict)
        # Ockam's `NodeResources`: the listener is the verbose route, /dnsaddr/localhost/tcp/P.
        return int(str(data["route"]["verbose"]).rpartition("/")[2])


@pytest.fixture
def ockam(tmp_path: Path) -> Iterator[Ockam]:
    """An `Ockam` runner in a fresh OCKAM_HOME; every node is deleted afterwards."""
    runner = Ockam(tmp_path / "ockam-home")
    try:
        yield runner
    finally:
        runner.run("node", "delete", "--all", "--yes", check=False, timeout=120)


def port_bound(port: int) -> bool:
    """True when something on 127.0.0.1 accepts connections on `port`."""
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port
