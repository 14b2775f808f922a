"""A node's life, seen from the command line: start its process and wait until it answers,
tell whether it runs (a dead process is a stopped node), stop it, delete it, and the default
node that commands use when none is named.

The node process's side (serving the control API until a signal or `Shutdown`) is
`cli._runtime.serve_node`; the requests here are answered by `cli._node`'s handlers.
"""

from __future__ import annotations

import secrets
import shutil
import sys

import msgspec
import trio

from actors import OckamError

from ._control import Empty, NodeNotRunning, Request, call
from ._process import NodeStartError, log_tail, pid_alive, spawn_node, stop_process
from ._state import NodeNotFound, NodeRecord, StateStore

START_TIMEOUT = 20.0
"""Seconds a new node process has to answer on its control socket."""


class NodeStatus(msgspec.Struct, frozen=True):
    """What a node says about itself (`GetStatus`), or 'stopped' when it does not answer."""

    name: str
    status: str
    pid: int
    listener: str
    identifier: str = ""
    services: list[str] = []
    http_server: str = ""
    """`host:port` of the node's HTTP status server; empty when it has none."""

    @property
    def running(self) -> bool:
        """Whether the node answered."""
        return self.status == "running"


class GetStatus(Request, frozen=True, tag="status"):
    """The node's status."""


class Shutdown(Request, frozen=True, tag="shutdown"):
    """Stop the node: run its shutdown hooks, then cancel its root nursery."""


class NodeRunning(OckamError):
    """`node create NAME` for a node that is already running."""


def already_running(name: str) -> NodeRunning:
    """The error for creating node `name` again while it runs (Ockam's words)."""
    return NodeRunning(f"Node {name} is already running (see `ockam node show {name}`)")


async def wait_ready(
    state: StateStore, name: str, pid: int, *, timeout: float = START_TIMEOUT
) -> NodeStatus:
    """Poll the node's control socket until it answers.

    Raises:
        NodeStartError: the process exited, or did not answer within `timeout` seconds.
    """
    deadline = trio.current_time() + timeout
    socket_path = state.socket_path(name)
    while trio.current_time() < deadline:
        if not pid_alive(pid):
            # The one-line error goes to stderr; a crash's last log lines to stdout.
            reason = (
                log_tail(state.stderr_log(name), 1)
                or log_tail(state.stdout_log(name), 1)
                or "it exited"
            )
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


async def node_status(state: StateStore, record: NodeRecord) -> NodeStatus:
    """The live status of a node, or a 'stopped' status when its process is gone (killed,
    crashed, the machine restarted) or does not answer."""
    if pid_alive(record.pid):
        try:
            with trio.move_on_after(5):
                return await call(
                    state.socket_path(record.name), GetStatus(), NodeStatus, node=record.name
                )
        except (NodeNotRunning, OckamError):
            pass
    return NodeStatus(name=record.name, status="stopped", pid=record.pid, listener=record.listener)


async def start_node(
    state: StateStore,
    name: str,
    *,
    listener: str,
    identity: str | None,
    http_server_port: int | None = None,
) -> NodeStatus:
    """Start node `name` as a background process and wait until it answers."""
    pid = spawn_node(
        state, name, listener=listener, identity=identity, http_server_port=http_server_port
    )
    return await wait_ready(state, name, pid)


async def start_again(state: StateStore, record: NodeRecord) -> NodeStatus:
    """Start a stopped node with its record's listener address and identity (a running one
    is left as it is)."""
    current = await node_status(state, record)
    if current.running:
        return current
    return await start_node(
        state, record.name, listener=record.listener, identity=record.identity or None
    )


async def stop_node(state: StateStore, record: NodeRecord) -> None:
    """Stop a node for sure: a `Shutdown` request, then signals (see `stop_process`)."""
    socket = state.socket_path(record.name)
    await stop_process(
        record.pid, record.name, lambda: call(socket, Shutdown(), Empty, node=record.name)
    )


def forget_node(state: StateStore, name: str) -> None:
    """Remove node `name`'s state: its database row and its folder."""
    state.delete(name)
    shutil.rmtree(state.node_dir(name), ignore_errors=True)


async def delete_nodes(state: StateStore, records: list[NodeRecord]) -> None:
    """Stop the nodes (all at once) and remove their state."""

    async def delete_one(record: NodeRecord) -> None:
        await stop_node(state, record)
        forget_node(state, record.name)

    async with trio.open_nursery() as nursery:
        for record in records:
            nursery.start_soon(delete_one, record)


_ADJECTIVES = (
    "able", "bold", "brave", "bright", "calm", "clever", "cosmic", "crisp", "daring", "eager",
    "fair", "fancy", "gentle", "glad", "golden", "happy", "humble", "jolly", "keen", "kind",
    "lively", "lucky", "merry", "mighty", "modest", "noble", "plucky", "polite", "proud",
    "quick", "quiet", "rapid", "shiny", "silent", "smart", "steady", "sunny", "swift", "tidy",
    "vivid", "warm", "wise", "witty", "zesty",
)  # fmt: skip
_ANIMALS = (
    "ant", "badger", "bat", "bear", "beaver", "bison", "cat", "crane", "crow", "deer",
    "dolphin", "eagle", "falcon", "ferret", "finch", "fox", "gecko", "heron", "ibex", "koala",
    "lark", "lemur", "lion", "lynx", "marten", "mole", "moose", "newt", "otter", "owl",
    "panda", "puffin", "quail", "rabbit", "raven", "seal", "sparrow", "swan", "tiger", "toad",
    "turtle", "walrus", "wolf", "wren", "yak", "zebra",
)  # fmt: skip


def random_node_name(state: StateStore) -> str:
    """A memorable name no node has yet, like Ockam's (`petname`: `lively-otter`)."""
    taken = {record.name for record in state.all()}
    for _ in range(100):
        name = f"{secrets.choice(_ADJECTIVES)}-{secrets.choice(_ANIMALS)}"
        if name not in taken:
            return name
    return secrets.token_hex(4)


def default_record(state: StateStore, *, start: bool = False) -> NodeRecord:
    """The default node's record. With `start`, a default node is created (and started) when
    there are no nodes yet, as Ockam does for a command that needs a node and names none.

    Raises:
        NodeNotFound: there are no nodes and `start` is False.
    """
    name = state.default_name()
    if name is not None:
        return state.get(name)
    if not start:
        raise NodeNotFound("there are no nodes yet: create one with `ockam node create`")
    name = random_node_name(state)
    trio.run(lambda: start_node(state, name, listener="127.0.0.1:0", identity=None))
    # stderr: the command's own output (an address a script reads) stays alone on stdout.
    print(f"No default node was found: created the default node {name}", file=sys.stderr)
    return state.get(name)
