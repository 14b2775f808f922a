"""A node's resources in the state database, so that a restarted node brings them back.

Each resource a node was asked to create (an outlet, an inlet, a relay it registered, an extra
listener, a connection, a service) is a row of `node_resources`: the node, the resource's kind
and key, and the control request that made it, with what the node chose filled in (the port
an inlet got for port 0, the address an outlet got). The create handler writes the row once
the resource exists; the delete path removes it. When the node process starts, `restore`
sends every row's request to the node again, through the same handlers: restoring is
re-creating, so a restored outlet is exactly what `tcp-outlet create` makes. The port of the
node's HTTP status server is a row of `node_http_servers`.

The rows belong to the node's record: a trigger on `nodes` removes them when the record is
deleted (`node delete`), as `ON DELETE CASCADE` would, without the per-connection pragma a
foreign key needs. `INSERT OR REPLACE` of the record (a node started again) does not fire it.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from weakref import WeakKeyDictionary

import msgspec
import trio

from actors import unwrap_group

from ._control import Request, encode
from ._controller import NodeController
from ._feature import NodeApi
from ._state import StateStore

log = logging.getLogger("ockam.persist")

RESTORE_TIMEOUT = 5.0
"""Seconds one resource may take to come back when its node starts (a relay registering)."""

RESTORE_ORDER = ("tcp-listener", "tcp-connection", "service", "tcp-outlet", "relay", "tcp-inlet")
"""The order kinds come back in: an outlet serves before its relay registers, and an inlet
takes clients only once what it leads to may be there."""

_SCHEMA = (
    """CREATE TABLE IF NOT EXISTS node_resources (
        node TEXT NOT NULL,
        kind TEXT NOT NULL,
        key TEXT NOT NULL,
        request BLOB NOT NULL,
        created REAL NOT NULL,
        PRIMARY KEY (node, kind, key)
    )""",
    """CREATE TABLE IF NOT EXISTS node_http_servers (
        node TEXT PRIMARY KEY,
        port INTEGER NOT NULL
    )""",
    """CREATE TRIGGER IF NOT EXISTS node_rows_follow_record AFTER DELETE ON nodes BEGIN
        DELETE FROM node_resources WHERE node = OLD.name;
        DELETE FROM node_http_servers WHERE node = OLD.name;
    END""",
)


class PersistedResource(msgspec.Struct, frozen=True):
    """One row of `node_resources`: what `restore` sends node `node` to bring it back."""

    node: str
    kind: str
    """The resource's kind, as in `ockam KIND list`: `tcp-outlet`, `relay`..."""
    key: str
    """What the resource is known by on its node: an alias, a name, an address."""
    request: bytes
    """The msgpack form of the control request that creates it."""
    created: float


class Persistence:
    """The rows of node `node` in the state database of `store`."""

    def __init__(self, store: StateStore, node: str) -> None:
        self.database: Path = store.database
        self.node = node
        self._replacing: PersistedResource | None = None
        store.all()  # makes sure the `nodes` table the trigger watches exists
        with self._connect() as db:
            for statement in _SCHEMA:
                db.execute(statement)

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        connection = sqlite3.connect(self.database, timeout=10)
        try:
            with connection:
                yield connection
        finally:
            connection.close()

    def remember(self, kind: str, key: str, request: Request) -> None:
        """Write (or overwrite) the row of resource `kind`/`key`."""
        with self._connect() as db:
            replaced = self._replacing
            if replaced is not None and replaced.kind == kind and replaced.key != key:
                # A restored resource known by a new key (a connection's worker address).
                db.execute(
                    "DELETE FROM node_resources WHERE node = ? AND kind = ? AND key = ?",
                    (self.node, kind, replaced.key),
                )
            db.execute(
                "INSERT OR REPLACE INTO node_resources (node, kind, key, request, created) "
                "VALUES (?, ?, ?, ?, COALESCE((SELECT created FROM node_resources "
                "WHERE node = ? AND kind = ? AND key = ?), ?))",
                (self.node, kind, key, encode(request), self.node, kind, key, time.time()),
            )

    def forget(self, kind: str, key: str) -> None:
        """Remove the row of resource `kind`/`key`, if there is one."""
        with self._connect() as db:
            db.execute(
                "DELETE FROM node_resources WHERE node = ? AND kind = ? AND key = ?",
                (self.node, kind, key),
            )

    def resources(self) -> list[PersistedResource]:
        """The node's rows, in the order they come back in."""
        with self._connect() as db:
            rows = db.execute(
                "SELECT node, kind, key, request, created FROM node_resources WHERE node = ?",
                (self.node,),
            ).fetchall()
        found = [PersistedResource(*row) for row in rows]

        def order(row: PersistedResource) -> tuple[int, float]:
            kind = RESTORE_ORDER.index(row.kind) if row.kind in RESTORE_ORDER else 99
            return kind, row.created

        return sorted(found, key=order)

    def http_server_port(self) -> int | None:
        """The port the node's status server listened on, if it had one."""
        with self._connect() as db:
            row = db.execute(
                "SELECT port FROM node_http_servers WHERE node = ?", (self.node,)
            ).fetchone()
        return None if row is None else int(row[0])

    def remember_http_server(self, port: int) -> None:
        """Keep the port the node's status server listens on, for its next start."""
        with self._connect() as db:
            db.execute(
                "INSERT OR REPLACE INTO node_http_servers (node, port) VALUES (?, ?)",
                (self.node, port),
            )

    @contextlib.contextmanager
    def replacing(self, row: PersistedResource) -> Iterator[None]:
        """While `row` is being restored: a new key written for its kind replaces its key."""
        self._replacing = row
        try:
            yield
        finally:
            self._replacing = None


_ATTACHED: WeakKeyDictionary[NodeController, Persistence] = WeakKeyDictionary()


def attach(controller: NodeController, persistence: Persistence) -> None:
    """Make `controller`'s create and delete handlers write to `persistence`."""
    _ATTACHED[controller] = persistence


def remember(c: NodeController, kind: str, key: str, request: Request) -> None:
    """Keep resource `kind`/`key`, made by `request`, for the node's next start (nothing for a
    node without persistence, as in a test's in-process node)."""
    persistence = _ATTACHED.get(c)
    if persistence is not None:
        persistence.remember(kind, key, request)


Remove = Callable[[NodeController, str], bool]


def _same_key(_: NodeController, key: str) -> str | None:
    return key


def forgetting(
    kind: str, remove: Remove, stored_key: Callable[[NodeController, str], str | None] = _same_key
) -> Remove:
    """`remove` (a `Resource.remove`) that also forgets the row of what it removed.

    `stored_key` maps the key a delete names to the one the row has (a listener's worker
    address to its socket address); it runs before `remove`, while the item still exists.
    """

    def removing(c: NodeController, key: str) -> bool:
        row_key = stored_key(c, key)
        removed = remove(c, key)
        persistence = _ATTACHED.get(c)
        if removed and row_key is not None and persistence is not None:
            persistence.forget(kind, row_key)
        return removed

    return removing


async def restore(controller: NodeController, api: NodeApi, persistence: Persistence) -> int:
    """Bring back every resource the database holds for the node; returns how many came back.

    One that cannot (its port is taken, its relay node is down) is logged in one line with
    the reason, keeps its row for the next start, and keeps no other from coming back.
    """
    restored = 0
    for row in persistence.resources():
        what = f"{row.kind} {row.key!r}"
        try:
            request = api.decode(row.request)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            log.warning("could not restore %s on node %s: unreadable row (%s)", what, row.node, exc)
            continue
        with persistence.replacing(row), trio.move_on_after(RESTORE_TIMEOUT) as scope:
            try:
                try:
                    await api.handle(controller, request)
                except BaseExceptionGroup as group:
                    raise unwrap_group(group) from None
            except Exception as exc:
                log.warning("could not restore %s on node %s: %s", what, row.node, exc)
                continue
        if scope.cancelled_caught:
            log.warning(
                "could not restore %s on node %s: not back within %g s",
                what,
                row.node,
                RESTORE_TIMEOUT,
            )
            continue
        restored += 1
    return restored
