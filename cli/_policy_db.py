"""A node's policies in the state database, so that a restarted node keeps them.

The table `policies` lives in `$OCKAM_HOME/database.sqlite3` beside the nodes table, one row
per policy: the node, whether it guards a resource (by name) or a resource type, the
resource's name or type, the action and the expression as the user wrote it. The node
process writes the whole set of its policies after every change (`PolicyDatabase.save`) and
reads it back when it starts (`load`).

The rows belong to the node's record: a trigger on the `nodes` table drops them when
`node delete` removes the record, so a new node with a deleted node's name starts with none.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Literal

import msgspec

from ._state import StateStore

PolicyKind = Literal["resource", "resource_type"]

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

# `INSERT OR REPLACE` into `nodes` (a node starting again) fires no DELETE trigger (SQLite
# runs them for REPLACE only with recursive_triggers on): only `node delete` does.
_TRIGGER = """
CREATE TRIGGER IF NOT EXISTS policies_follow_node AFTER DELETE ON nodes BEGIN
    DELETE FROM policies WHERE node = OLD.name;
END
"""


class StoredPolicy(msgspec.Struct, frozen=True):
    """One row: a policy of `node` for a resource (by name) or a resource type."""

    kind: PolicyKind
    resource: str
    action: str
    expression: str


class PolicyDatabase:
    """The policies of node `node` in the state database of `state`.

    Every method opens its own connection, so a node process may call them from a worker
    thread (`trio.to_thread.run_sync`) without sharing one.
    """

    def __init__(self, state: StateStore, node: str) -> None:
        self.state = state
        self.node = node

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        self.state.all()  # creates the `nodes` table the trigger watches, if need be
        connection = sqlite3.connect(self.state.database, timeout=10)
        try:
            connection.execute(_SCHEMA)
            connection.execute(_TRIGGER)
            with connection:
                yield connection
        finally:
            connection.close()

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
