"""The CLI's state under `$OCKAM_HOME`: an SQLite database of nodes, and a folder per node."""

from __future__ import annotations

import os
import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

import msgspec

from actors import OckamError

# Ockam's rule (`node create`: no character outside `[\w_-]`), in ASCII and at most 64 long.
_NAME = re.compile(r"[A-Za-z0-9_\-]{1,64}")


class InvalidName(OckamError):
    """A node name that cannot be used."""


class NodeNotFound(OckamError):
    """No node of that name in the state database."""


class NodeRecord(msgspec.Struct, frozen=True):
    """A node as the state database remembers it."""

    name: str
    pid: int
    listener: str
    created: float
    identity: str = ""


def check_node_name(name: str) -> str:
    """`name` when it can name a node; `InvalidName` saying why not otherwise."""
    if not _NAME.fullmatch(name):
        raise InvalidName(
            f"invalid node name {name!r}: use 1 to 64 letters, digits, '_' and '-' "
            "(a name with a dot or a slash is a configuration file)"
        )
    return name


def ockam_home() -> Path:
    """`$OCKAM_HOME`, or `~/.ockam`."""
    return Path(os.environ.get("OCKAM_HOME") or Path.home() / ".ockam")


_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS nodes (
    name TEXT PRIMARY KEY,
    pid INTEGER NOT NULL,
    listener TEXT NOT NULL,
    created REAL NOT NULL,
    identity TEXT NOT NULL DEFAULT ''
)
""",
    # At most one row: the node `ockam node default NAME` chose (Ockam's `is_default` flag).
    """
CREATE TABLE IF NOT EXISTS default_node (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    name TEXT NOT NULL
)
""",
    # Nodes that serve others (a self-hosted project's authority and project node): never
    # the default node unless `node default NAME` says so.
    "CREATE TABLE IF NOT EXISTS serving_nodes (name TEXT PRIMARY KEY)",
    """
CREATE TRIGGER IF NOT EXISTS serving_nodes_follow_record AFTER DELETE ON nodes BEGIN
    DELETE FROM serving_nodes WHERE name = OLD.name;
END
""",
)


class StateStore:
    """Nodes in `$OCKAM_HOME/database.sqlite3`, and each node's folder `nodes/NAME/`."""

    def __init__(self, home: Path | None = None) -> None:
        self.home = home or ockam_home()

    @property
    def database(self) -> Path:
        """The SQLite file."""
        return self.home / "database.sqlite3"

    def node_dir(self, name: str) -> Path:
        """The folder of node `name`: its log, control socket and vault."""
        return self.home / "nodes" / check_node_name(name)

    def stdout_log(self, name: str) -> Path:
        """The file a background node's standard output (its log) goes to: Ockam's name."""
        return self.node_dir(name) / "stdout.log"

    def stderr_log(self, name: str) -> Path:
        """The file a background node's standard error (errors, crashes) goes to."""
        return self.node_dir(name) / "stderr.log"

    def socket_path(self, name: str) -> Path:
        """The node's control socket (mode 0600)."""
        return self.node_dir(name) / "api.sock"

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:
        return self.connect(*_SCHEMA)

    @contextmanager
    def connect(self, *schema: str) -> Iterator[sqlite3.Connection]:
        """A connection to the state database, in one transaction, after `schema` (each a
        ``CREATE TABLE IF NOT EXISTS``) made its tables: for tables beside the nodes'."""
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        connection = sqlite3.connect(self.database, timeout=10)
        try:
            for statement in schema:
                connection.execute(statement)
            with connection:
                yield connection
        finally:
            connection.close()

    def put(self, record: NodeRecord) -> None:
        """Insert the record of `record.name`, or update its pid, listener and identity: a
        node started again keeps its creation time, so the order of nodes stays."""
        with self._connect() as db:
            db.execute(
                "INSERT INTO nodes (name, pid, listener, created, identity) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                "pid = excluded.pid, listener = excluded.listener, identity = excluded.identity",
                (record.name, record.pid, record.listener, record.created, record.identity),
            )

    def get(self, name: str) -> NodeRecord:
        """The record of node `name`; `NodeNotFound` when there is none."""
        check_node_name(name)
        with self._connect() as db:
            row = db.execute(
                "SELECT name, pid, listener, created, identity FROM nodes WHERE name = ?", (name,)
            ).fetchone()
        if row is None:
            raise NodeNotFound(f"there is no node named {name!r} (see `ockam node list`)")
        return NodeRecord(*row)

    def find(self, name: str) -> NodeRecord | None:
        """The record of node `name`, or None."""
        try:
            return self.get(name)
        except NodeNotFound:
            return None

    def all(self) -> list[NodeRecord]:
        """Every node, oldest first."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT name, pid, listener, created, identity FROM nodes ORDER BY created"
            ).fetchall()
        return [NodeRecord(*row) for row in rows]

    def delete(self, name: str) -> None:
        """Forget node `name` (its folder is removed by the caller)."""
        with self._connect() as db:
            db.execute("DELETE FROM nodes WHERE name = ?", (name,))
            db.execute("DELETE FROM default_node WHERE name = ?", (name,))

    def default_name(self) -> str | None:
        """The default node: the one `set_default` chose while it exists, else the oldest but
        for serving nodes (`set_serving`) (Ockam: the first node created is the default, and
        another takes over when the default is deleted); None when there is no such node."""
        with self._connect() as db:
            row = db.execute(
                "SELECT nodes.name FROM default_node JOIN nodes USING (name)"
            ).fetchone()
            if row is None:
                row = db.execute(
                    "SELECT name FROM nodes WHERE name NOT IN (SELECT name FROM serving_nodes) "
                    "ORDER BY created LIMIT 1"
                ).fetchone()
        return None if row is None else str(row[0])

    def set_serving(self, name: str) -> None:
        """Keep node `name` from becoming the default node by being the oldest: it serves
        other nodes (a project's authority or relay node) rather than the user's commands.
        Forgotten with the node's record."""
        check_node_name(name)
        with self._connect() as db:
            db.execute("INSERT OR IGNORE INTO serving_nodes (name) VALUES (?)", (name,))

    def set_default(self, name: str) -> None:
        """Make node `name` the default node; `NodeNotFound` when there is no such node."""
        self.get(name)
        with self._connect() as db:
            db.execute("INSERT OR REPLACE INTO default_node (id, name) VALUES (0, ?)", (name,))

    def new_record(self, name: str, *, pid: int, listener: str, identity: str = "") -> NodeRecord:
        """A record for a node starting now."""
        return NodeRecord(name, pid, listener, time.time(), identity)
