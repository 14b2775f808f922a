"""The echo server process and the baselines that the portals are measured beside.

Every ``open_*`` here is an async context manager that starts what it needs as subprocesses,
waits until an echo goes through, yields the entry port on 127.0.0.1, and on the way out ends
each process it started by pid: SIGTERM, a bounded wait, then SIGKILL (shielded, in
``finally``). A baseline whose tool is not installed raises ``SetupSkipped`` before it yields;
one that does not come up raises ``SetupFailed`` with the tail of its log.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from pathlib import Path

import msgspec
import trio

__all__ = [
    "HOST",
    "Link",
    "SetupFailed",
    "SetupSkipped",
    "SshServer",
    "free_port",
    "open_direct",
    "open_echo_server",
    "open_python_chain",
    "open_socat_chain",
    "open_ssh_pair",
    "open_ssh_reverse",
    "open_sshd",
    "run_module",
    "spawn",
    "stop_process",
    "wait_ready",
]

HOST = "127.0.0.1"
_REPO_ROOT = Path(__file__).resolve().parent.parent
_SSHD = "/usr/sbin/sshd"
_BACKLOG = 1024


Link = Callable[[int], AbstractAsyncContextManager[int]]
"""What a long link is made of: given a port, a context yielding the port that leads to it
(through a delay proxy, ``_delay_proxy.open_delay_proxy``)."""


class SetupSkipped(Exception):
    """A setup cannot run here (its tool is missing); the message says why."""


class SetupFailed(Exception):
    """A setup's processes did not come up; the message says what they logged."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago (another process may take it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def log_tail(path: Path, *, lines: int = 5) -> str:
    """The last lines of a log file, or a note that it is empty."""
    try:
        text = path.read_text(errors="replace").strip()
    except OSError:
        return f"(no log at {path})"
    return " | ".join(text.splitlines()[-lines:]) if text else "(its log is empty)"


async def stop_process(process: trio.Process, *, grace: float = 3.0) -> None:
    """Ends process by pid: SIGTERM, up to ``grace`` seconds, then SIGKILL; reaps it."""
    with trio.CancelScope(shield=True):
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.send_signal(signal.SIGTERM)
            with trio.move_on_after(grace):
                await process.wait()
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()
            await process.wait()


@contextlib.asynccontextmanager
async def spawn(argv: Sequence[str], *, log: Path) -> AsyncIterator[trio.Process]:
    """Runs argv with stdin from /dev/null and stdout and stderr to ``log``; stops it at exit."""
    with log.open("ab") as log_file:
        process = await trio.lowlevel.open_process(
            list(argv), stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file
        )
    try:
        yield process
    finally:
        await stop_process(process)


async def wait_ready(
    port: int,
    *,
    processes: Sequence[tuple[trio.Process, Path]] = (),
    timeout: float = 20,
    what: str = "setup",
) -> None:
    """Waits until a 1-byte echo goes through 127.0.0.1:port.

    Polls (never a fixed sleep); gives up early when one of ``processes`` exits.

    Raises:
        SetupFailed: a process exited, or no echo came back within ``timeout`` seconds.
    """
    last_error = "no attempt finished"
    with trio.move_on_after(timeout):
        while True:
            for process, log in processes:
                if process.returncode is not None:
                    raise SetupFailed(
                        f"{what}: {process.args!r} exited with status {process.returncode}:"
                        f" {log_tail(log)}"
                    )
            with trio.move_on_after(2):
                try:
                    stream = await trio.open_tcp_stream(HOST, port)
                    async with stream:
                        await stream.send_all(b"ECHO\nx")
                        if await stream.receive_some(1) == b"x":
                            return
                        last_error = "the connection closed without an echo"
                except (OSError, trio.BrokenResourceError) as exc:
                    last_error = repr(exc)
            await trio.sleep(0.05)
    raise SetupFailed(f"{what}: no echo through port {port} after {timeout:g} s ({last_error})")


async def _read_port(stdout: trio.abc.ReceiveStream, *, what: str, timeout: float = 20) -> int:
    """The port a process prints as its first line (``--print-port``)."""
    line = b""
    with trio.move_on_after(timeout):
        while not line.endswith(b"\n"):
            data = await stdout.receive_some(64)
            if not data:
                break
            line += data
    if not line.strip().isdigit():
        raise SetupFailed(f"{what} did not print its port (printed {line!r})")
    return int(line)


@contextlib.asynccontextmanager
async def run_module(module: str, *args: str, what: str, timeout: float = 20) -> AsyncIterator[int]:
    """Runs ``python -m MODULE ARGS --print-port`` from the repository as its own process and
    yields the port it prints; stops it by pid at exit."""
    process = await trio.lowlevel.open_process(
        [sys.executable, "-m", module, *args, "--print-port"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        cwd=_REPO_ROOT,
    )
    try:
        assert process.stdout is not None
        yield await _read_port(process.stdout, what=what, timeout=timeout)
    finally:
        await stop_process(process)
        with trio.CancelScope(shield=True):
            if process.stdout is not None:
                await process.stdout.aclose()


@contextlib.asynccontextmanager
async def open_echo_server(*, timeout: float = 20) -> AsyncIterator[int]:
    """Runs ``python -m benchmarks._echo_server`` as its own process and yields its port."""
    module = "benchmarks._echo_server"
    async with run_module(module, "--port", "0", what="the echo server", timeout=timeout) as port:
        await wait_ready(port, processes=[], timeout=timeout, what="echo server")
        yield port


@contextlib.asynccontextmanager
async def open_direct(echo_port: int) -> AsyncIterator[int]:
    """No tunnel: the entry port is the echo server's own."""
    yield echo_port


@contextlib.asynccontextmanager
async def open_socat_chain(echo_port: int, *, hops: int = 3) -> AsyncIterator[int]:
    """A chain of ``hops`` socat processes, each forking one child per connection.

    ``socat TCP-LISTEN:p1,bind=127.0.0.1,reuseaddr,fork TCP:127.0.0.1:p2`` and so on, the last
    one to the echo server. socat's options are its defaults (8 KiB buffer) but the listen
    backlog: socat's default of 5 drops SYNs when 100 parallel connections arrive at once, and
    the retransmissions (1 s, 3 s, 7 s...) would measure the backlog, not the relaying.
    """
    socat = shutil.which("socat")
    if socat is None:
        raise SetupSkipped("socat is not installed (apt-get install -y socat)")
    if hops < 1:
        raise ValueError(f"hops must be at least 1, got {hops}")
    with tempfile.TemporaryDirectory(prefix="bench-socat-") as tmp:
        async with contextlib.AsyncExitStack() as stack:
            target = echo_port
            started: list[tuple[trio.Process, Path]] = []
            # From the back, so that each one's target exists.
            for hop in reversed(range(hops)):
                port = free_port()
                log = Path(tmp) / f"socat{hop}.log"
                argv = [
                    socat,
                    f"TCP-LISTEN:{port},bind={HOST},reuseaddr,fork,backlog={_BACKLOG}",
                    f"TCP:{HOST}:{target}",
                ]
                started.append((await stack.enter_async_context(spawn(argv, log=log)), log))
                target = port
            await wait_ready(target, processes=started, what=f"socat x{hops}")
            yield target


@contextlib.asynccontextmanager
async def open_python_chain(echo_port: int, *, hops: int = 3) -> AsyncIterator[int]:
    """A chain of ``hops`` minimal Python relays (``benchmarks/_pyforward.py``): one thread and
    one epoll set each, no framing, no routing, no trio — what a Python inlet → relay → outlet
    costs before it does any of a portal's work."""
    if hops < 1:
        raise ValueError(f"hops must be at least 1, got {hops}")
    async with contextlib.AsyncExitStack() as stack:
        target = echo_port
        for _ in range(hops):  # from the back, so that each one's target exists
            relay = run_module("benchmarks._pyforward", "--to", str(target), what="a Python relay")
            target = await stack.enter_async_context(relay)
        await wait_ready(target, processes=[], what=f"python x{hops}")
        yield target


class SshServer(msgspec.Struct, frozen=True, kw_only=True):
    """A private sshd on 127.0.0.1 and what a client needs to log in to it."""

    port: int
    user: str
    key: Path
    directory: Path

    def client_argv(self, *forward: str, port: int | None = None) -> list[str]:
        """An ``ssh -N`` command line to this server with the given forwarding options.

        ``port``: where the client connects instead of the server's own port (a delay proxy).
        """
        ssh = shutil.which("ssh") or "ssh"
        return [
            ssh,
            "-N",
            *forward,
            "-F",
            "/dev/null",
            "-i",
            str(self.key),
            "-p",
            str(self.port if port is None else port),
            "-o",
            "BatchMode=yes",
            "-o",
            "IdentitiesOnly=yes",
            "-o",
            "ExitOnForwardFailure=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            "-o",
            "LogLevel=ERROR",
            f"{self.user}@{HOST}",
        ]


def _check_ssh_tools() -> None:
    missing = [
        tool
        for tool, found in (
            ("sshd", os.access(_SSHD, os.X_OK)),
            ("ssh", shutil.which("ssh") is not None),
            ("ssh-keygen", shutil.which("ssh-keygen") is not None),
        )
        if not found
    ]
    if missing:
        raise SetupSkipped(
            f"{', '.join(missing)} not installed (apt-get install -y openssh-server openssh-client)"
        )


async def _keygen(path: Path) -> None:
    await trio.run_process(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bench", "-f", str(path)],
        stdin=subprocess.DEVNULL,
        capture_stdout=True,
        capture_stderr=True,
    )


@contextlib.asynccontextmanager
async def open_sshd() -> AsyncIterator[SshServer]:
    """Runs a private ``sshd -D -e`` on a free 127.0.0.1 port, with its own host key,
    client key and authorized_keys in a temporary directory, for the current user.

    As root, sshd needs its privilege separation directory /run/sshd; it is created (0755)
    when missing, as the sshd service would.
    """
    _check_ssh_tools()
    user = getpass.getuser()
    with tempfile.TemporaryDirectory(prefix="bench-sshd-") as tmp:
        directory = Path(tmp)
        host_key, client_key = directory / "host_key", directory / "client_key"
        await _keygen(host_key)
        await _keygen(client_key)
        port = free_port()
        config = _write_sshd_config(directory, port, host_key, client_key)
        log = directory / "sshd.log"
        async with spawn([_SSHD, "-D", "-e", "-f", str(config)], log=log) as sshd:
            await _wait_listening(port, sshd, log)
            yield SshServer(port=port, user=user, key=client_key, directory=directory)


def _write_sshd_config(directory: Path, port: int, host_key: Path, client_key: Path) -> Path:
    """Writes authorized_keys and sshd_config into directory; returns the config's path."""
    authorized = directory / "authorized_keys"
    authorized.write_bytes(client_key.with_suffix(".pub").read_bytes())
    config = directory / "sshd_config"
    config.write_text(
        f"Port {port}\n"
        f"ListenAddress {HOST}\n"
        f"HostKey {host_key}\n"
        f"AuthorizedKeysFile {authorized}\n"
        "PermitRootLogin prohibit-password\n"
        "PubkeyAuthentication yes\n"
        "PasswordAuthentication no\n"
        "KbdInteractiveAuthentication no\n"
        "AllowTcpForwarding yes\n"
        "StrictModes no\n"
        "UsePAM no\n"
        "PidFile none\n"
        "MaxStartups 100\n"
        "LogLevel ERROR\n"
    )
    privsep = Path("/run/sshd")
    if os.geteuid() == 0 and not privsep.is_dir():
        privsep.mkdir(mode=0o755, parents=True, exist_ok=True)
    return config


async def _wait_listening(port: int, process: trio.Process, log: Path, timeout: float = 10) -> None:
    """Waits until something accepts on 127.0.0.1:port while process runs."""
    with trio.move_on_after(timeout):
        while process.returncode is None:
            try:
                stream = await trio.open_tcp_stream(HOST, port)
            except OSError:
                await trio.sleep(0.05)
                continue
            await stream.aclose()
            return
        raise SetupFailed(f"sshd exited with status {process.returncode}: {log_tail(log)}")
    raise SetupFailed(f"sshd did not listen on port {port} after {timeout:g} s: {log_tail(log)}")


@contextlib.asynccontextmanager
async def _remote_forward(
    server: SshServer, target_port: int, name: str, *, via: int | None = None
) -> AsyncIterator[int]:
    """``ssh -R``: sshd listens on a new port and forwards to target_port via the client,
    which connects to sshd through port ``via`` when given."""
    entry = free_port()
    log = server.directory / f"{name}.log"
    argv = server.client_argv("-R", f"{HOST}:{entry}:{HOST}:{target_port}", port=via)
    async with spawn(argv, log=log) as ssh:
        await wait_ready(entry, processes=[(ssh, log)], what=f"ssh -R ({name})")
        yield entry


@contextlib.asynccontextmanager
async def open_ssh_reverse(echo_port: int, *, link: Link | None = None) -> AsyncIterator[int]:
    """An ``ssh -R`` tunnel: the entry port is sshd's; the ssh client connects to the server.

    The same shape as an outlet behind a relay: the server side dials out, sshd listens. With
    ``link``, the ssh client's connection to sshd goes through it (a long link).
    """
    async with open_sshd() as server, contextlib.AsyncExitStack() as stack:
        via = None if link is None else await stack.enter_async_context(link(server.port))
        async with _remote_forward(server, echo_port, "ssh-R", via=via) as entry:
            yield entry


@contextlib.asynccontextmanager
async def open_ssh_pair(echo_port: int) -> AsyncIterator[int]:
    """``ssh -L`` + ``ssh -R`` through one sshd, the shape of inlet -> relay -> outlet.

    The server side runs ``ssh -R`` (sshd listens on a middle port), the client side runs
    ``ssh -L`` (the entry port, forwarded through sshd to the middle port). Each hop is
    encrypted; sshd, like a relay, sees the plaintext between the two.
    """
    async with (
        open_sshd() as server,
        _remote_forward(server, echo_port, "ssh-R") as middle,
    ):
        entry = free_port()
        log = server.directory / "ssh-L.log"
        argv = server.client_argv("-L", f"{HOST}:{entry}:{HOST}:{middle}")
        async with spawn(argv, log=log) as ssh:
            await wait_ready(entry, processes=[(ssh, log)], what="ssh -L")
            yield entry
