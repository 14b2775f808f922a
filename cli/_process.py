"""Node processes: start one detached, wait until it answers, stop it for sure."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import trio

from actors import OckamError

from ._control import Empty, GetStatus, NodeNotRunning, NodeStatus, Shutdown, call
from ._state import NodeRecord, StateStore


class NodeStartError(OckamError):
    """A node process exited or stayed silent instead of starting."""


def pid_alive(pid: int) -> bool:
    """True when `pid` is a live (not zombie) process."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] != "Z"


def is_node_process(pid: int, name: str) -> bool:
    """True when `pid` runs node `name` (guards against a recycled pid)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return pid_alive(pid)
    return b"--foreground" in argv and name.encode() in argv


def log_tail(path: Path, lines: int = 3) -> str:
    """The last `lines` non-empty lines of a log file, joined by ' | '."""
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return ""
    tail = [line for line in text.splitlines() if line.strip()][-lines:]
    return " | ".join(tail)


def spawn_node(store: StateStore, name: str, *, listener: str, identity: str | None) -> int:
    """Start node `name` as a detached background process; returns its pid.

    The process has its own session, stdin from /dev/null and its output in the node's log
    file, so neither a closed terminal nor a reader of this command's stdout waits on it.
    """
    folder = store.node_dir(name)
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    argv = [sys.executable, "-m", "cli", "node", "create", name, "--foreground"]
    argv += ["--tcp-listener-address", listener]
    if identity:
        argv += ["--identity", identity]
    env = dict(os.environ, OCKAM_HOME=str(store.home))
    with open(store.log_file(name), "ab") as log, open(os.devnull, "rb") as devnull:
        process = subprocess.Popen(
            argv,
            stdin=devnull,
            stdout=log,
            stderr=log,
            start_new_session=True,
            close_fds=True,
            env=env,
        )
    return process.pid


async def wait_ready(
    store: StateStore, name: str, pid: int, *, timeout: float = 20.0
) -> NodeStatus:
    """Poll the node's control socket until it answers.

    Raises:
        NodeStartError: the process exited, or did not answer within `timeout` seconds.
    """
    deadline = trio.current_time() + timeout
    socket_path = store.socket_path(name)
    while trio.current_time() < deadline:
        if not pid_alive(pid):
            reason = log_tail(store.log_file(name), 1) or "it exited"
            raise NodeStartError(f"node {name!r} did not start: {reason}")
        if socket_path.exists():
            try:
                return await call(socket_path, GetStatus(), NodeStatus, node=name)
            except NodeNotRunning:
                pass
        await trio.sleep(0.05)
    raise NodeStartError(
        f"node {name!r} did not answer within {timeout:g} s (see `ockam node logs {name}`)"
    )


async def node_status(store: StateStore, record: NodeRecord) -> NodeStatus:
    """The live status of a node, or a 'stopped' status when it does not answer."""
    if pid_alive(record.pid):
        try:
            with trio.move_on_after(5):
                return await call(
                    store.socket_path(record.name), GetStatus(), NodeStatus, node=record.name
                )
        except (NodeNotRunning, OckamError):
            pass
    return NodeStatus(name=record.name, status="stopped", pid=record.pid, listener=record.listener)


async def _wait_gone(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return True
        await trio.sleep(0.02)
    return not pid_alive(pid)


async def stop_node(store: StateStore, record: NodeRecord, *, grace: float = 5.0) -> None:
    """Stop a node for sure: ask it through its control API, wait, then SIGTERM, then SIGKILL.

    A node that is already gone (killed with `kill -9`, say) is fine; a pid now used by some
    other program is never signalled.
    """
    pid = record.pid
    if not pid_alive(pid) or not is_node_process(pid, record.name):
        return
    with trio.move_on_after(grace):
        with contextlib.suppress(OckamError):
            await call(store.socket_path(record.name), Shutdown(), Empty, node=record.name)
        if await _wait_gone(pid, grace):
            return
    for sig, wait in ((signal.SIGTERM, 3.0), (signal.SIGKILL, 3.0)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        if await _wait_gone(pid, wait):
            return
    raise NodeStartError(f"node {record.name!r} (pid {pid}) would not stop, even with SIGKILL")
