"""A node's policies in the state database, so that a restarted node keeps them.

The table `policies` lives in `$OCKAM_HOME/database.sqlite3` beside the nodes table, one row
per policy: the node, whether it guards a resource (by name) or a resource type, the
resource's name or type, the action and the expression as the user wrote it. The node
process writes the whole set of its policies after every change (`PolicyDatabase.save`) and
reads it back when it starts (`load`).

`node delete` removes the node's folder but knows nothing of this table, so a new node with
the name of a deleted one must not inherit its policies: the node's folder holds a marker
file, written the first time its policies are loaded; a node whose folder has no marker is
new, and its name's old rows are dropped (`claim`).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

import msgspec

PolicyKind = Literal["resource", "resource_type"]

MARKER = "policies.marker"
"""The file in a node's folder that says its rows in the table are its own."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS policies (
    node TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('resource', 'resource_type')),
    resource TEXT NOT NULL,
    action TEXT NOT NULL,
    expression TEXT NOT NULL,
    PRIMARY KEY (node, kind, resource, action)
)
"""


class StoredPolicy(msgspec.Struct, frozen=True):
    """One row: a policy of `node` for a resource (by name) or a resource type."""

    kind: PolicyKind
    resource: str
    action: str
    expression: str


class PolicyDatabase:
    """The policies of node `node` in the SQLite file `database`.

    Every method opens its own connection, so a node process may call them from a worker
    thread (`trio.to_thread.run_sync`) without sharing one.
    """

    def __init__(self, database: Path, node: str) -> None:
        self.database = database
        self.node = node

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self.database.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        connection = sqlite3.connect(self.database, timeout=10)
        try:
            connection.execute(_SCHEMA)
            with connection:
                yield connection
        finally:
            connection.close()

    def claim(self, node_dir: Path) -> bool:
        """Make the table's rows for this node name this node's: when `node_dir` has no
        marker (the node is new, or its folder was deleted), drop them and write the marker.

        Returns:
            True when the node already had the marker (its rows are its own).
        """
        marker = node_dir / MARKER
        if marker.exists():
            return True
        with self._connect() as db:
            db.execute("DELETE FROM policies WHERE node = ?", (self.node,))
        node_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        marker.write_text("the policies of this node are in the state database\n")
        return False

    def load(self) -> list[StoredPolicy]:
        """The node's policies: resources' first, then resource types', each sorted."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT kind, resource, action, expression FROM policies WHERE node = ? "
                "ORDER BY kind, resource, action",
                (self.node,),
            ).fetchall()
        return [StoredPolicy(*row) for row in rows]

    def save(self, policies: Sequence[StoredPolicy]) -> None:
        """Replace the node's policies by `policies`, in one transaction."""
        with self._connect() as db:
            db.execute("DELETE FROM policies WHERE node = ?", (self.node,))
            db.executemany(
                "INSERT INTO policies (node, kind, resource, action, expression) "
                "VALUES (?, ?, ?, ?, ?)",
                [(self.node, p.kind, p.resource, p.action, p.expression) for p in policies],
            )
