"""Node processes as the operating system sees them: start one detached, tell whether it
runs, end it for sure."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

import trio

from actors import OckamError

from ._state import StateStore


class NodeStartError(OckamError):
    """A node process exited or stayed silent instead of starting."""


def pid_alive(pid: int) -> bool:
    """True when `pid` is a live process: one of its threads is not a zombie.

    A process killed with SIGKILL shows its main thread as a zombie while its other threads
    (a node's worker threads) are still exiting, and those still hold its files: its
    sockets, so its ports. It is gone only once every thread is.
    """
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        threads = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return True  # no /proc here: the signal says it exists
    for thread in threads:
        try:
            stat = Path(f"/proc/{pid}/task/{thread}/stat").read_text()
        except OSError:
            continue  # that thread is gone
        if stat.rpartition(")")[2].split()[0] not in ("Z", "X"):
            return True
    return False


def is_node_process(pid: int, name: str) -> bool:
    """True when `pid` runs node `name` (guards against a recycled pid)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return pid_alive(pid)
    foreground = b"--foreground" in argv or b"-f" in argv
    return foreground and name.encode() in argv


def log_tail(path: Path, lines: int = 3) -> str:
    """The last `lines` non-empty lines of a log file, joined by ' | '."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    tail = [line for line in text.splitlines() if line.strip()][-lines:]
    return " | ".join(tail)


def spawn_node(
    store: StateStore,
    name: str,
    *,
    listener: str,
    identity: str | None,
    http_server_port: int | None = None,
) -> int:
    """Start node `name` as a detached background process; returns its pid.

    The process has its own session, stdin from /dev/null and its output in the node's
    `stdout.log` and `stderr.log` (Ockam's files), so neither a closed terminal nor a reader
    of this command's stdout waits on it. `--child-process` tells it that it is a background
    node: its state stays when it stops.
    """
    folder = store.node_dir(name)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    argv = [sys.executable, "-m", "cli", "node", "create", name, "--foreground", "--child-process"]
    argv += ["--tcp-listener-address", listener]
    if identity:
        argv += ["--identity", identity]
    if http_server_port is not None:
        argv += ["--http-server-port", str(http_server_port)]
    env = dict(os.environ, OCKAM_HOME=str(store.home))
    with (
        open(store.stdout_log(name), "ab") as stdout,
        open(store.stderr_log(name), "ab") as stderr,
        open(os.devnull, "rb") as devnull,
    ):
        process = subprocess.Popen(
            argv,
            stdin=devnull,
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
            close_fds=True,
            env=env,
        )
    return process.pid


async def wait_gone(pid: int, seconds: float) -> bool:
    """Wait up to `seconds` for process `pid` to exit; True once it has."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        await trio.sleep(0.02)
    return not pid_alive(pid)


async def stop_process(
    pid: int, name: str, ask: Callable[[], Awaitable[object]], *, grace: float = 5.0
) -> None:
    """End node `name`'s process `pid` for sure: `ask` it to stop (its control API), wait
    up to `grace` seconds, then SIGTERM, then SIGKILL, each with a bounded wait.

    A process that is already gone (killed with `kill -9`, say) is fine; a pid now used by
    some other program is never signalled.

    Raises:
        NodeStartError: the process is still there even after SIGKILL.
    """
    if not pid_alive(pid) or not is_node_process(pid, name):
        return
    with trio.move_on_after(grace):
        with contextlib.suppress(OckamError):
            await ask()
        if await wait_gone(pid, grace):
            return
    for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        if await wait_gone(pid, wait):
            return
    raise NodeStartError(f"node {name!r} (pid {pid}) would not stop, even with SIGKILL")
