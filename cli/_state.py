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

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")


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
    if not _NAME.match(name):
        raise InvalidName(
            f"invalid node name {name!r}: use 1-64 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit"
        )
    return name


def ockam_home() -> Path:
    """`$OCKAM_HOME`, or `~/.ockam`."""
    return Path(os.environ.get("OCKAM_HOME") or Path.home() / ".ockam")


_SCHEMA = """
CREATE TABLE IF NOT EXISTS nodes (
    name TEXT PRIMARY KEY,
    pid INTEGER NOT NULL,
    listener TEXT NOT NULL,
    created REAL NOT NULL,
    identity TEXT NOT NULL DEFAULT ''
)
"""


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

    def log_file(self, name: str) -> Path:
        """Where node `name` writes its log."""
        return self.node_dir(name) / "node.log"

    def socket_path(self, name: str) -> Path:
        """The node's control socket (mode 0600)."""
        return self.node_dir(name) / "api.sock"

    def _connect(self) -> AbstractContextManager[sqlite3.Connection]:
        return self.connect(_SCHEMA)

    @contextmanager
    def connect(self, schema: str) -> Iterator[sqlite3.Connection]:
        """A connection to the state database, in one transaction, after `schema` (one
        ``CREATE TABLE IF NOT EXISTS``) made its table: for tables beside the nodes'."""
        self.home.mkdir(parents=True, exist_ok=True, mode=0o700)
        connection = sqlite3.connect(self.database, timeout=10)
        try:
            connection.execute(schema)
            with connection:
                yield connection
        finally:
            connection.close()

    def put(self, record: NodeRecord) -> None:
        """Insert or replace the record of `record.name`."""
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO nodes (name, pid, listener, created, identity) "
                "VALUES (?, ?, ?, ?, ?)",
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

    def new_record(self, name: str, *, pid: int, listener: str, identity: str = "") -> NodeRecord:
        """A record for a node starting now."""
        return NodeRecord(name, pid, listener, time.time(), identity)
