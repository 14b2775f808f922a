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
import contextvars
import itertools
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

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

RESTORE_ORDER = (
    "tcp-listener",
    "tcp-connection",
    "service",
    "secure-channel-listener",
    "tcp-outlet",
    "relay",
    "tcp-inlet",
)
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
            replaced = _REPLACING.get()
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

    def forget(self, kind: str, key: str) -> bool:
        """Remove the row of resource `kind`/`key`; False when there was none."""
        with self._connect() as db:
            cursor = db.execute(
                "DELETE FROM node_resources WHERE node = ? AND kind = ? AND key = ?",
                (self.node, kind, key),
            )
        return cursor.rowcount > 0

    def holds(self, kind: str, key: str) -> bool:
        """True while the row of resource `kind`/`key` exists."""
        with self._connect() as db:
            row = db.execute(
                "SELECT 1 FROM node_resources WHERE node = ? AND kind = ? AND key = ?",
                (self.node, kind, key),
            ).fetchone()
        return row is not None

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


def attach(controller: NodeController, persistence: Persistence) -> None:
    """Make `controller`'s create and delete handlers write to `persistence`."""
    controller.node.attach(persistence)


def remember(c: NodeController, kind: str, key: str, request: Request) -> None:
    """Keep resource `kind`/`key`, made by `request`, for the node's next start (nothing for a
    node without persistence, as in a test's in-process node)."""
    persistence = c.node.attached(Persistence)
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
    A resource that did not come back (its row waits for the next start, or for a retry) is
    deleted by forgetting its row.
    """

    def removing(c: NodeController, key: str) -> bool:
        row_key = stored_key(c, key) or key
        removed = remove(c, key)
        persistence = c.node.attached(Persistence)
        forgotten = persistence is not None and persistence.forget(kind, row_key)
        return removed or forgotten

    return removing


RETRIED = frozenset({"relay", "tcp-connection", "tcp-inlet"})
"""Kinds that, when they cannot come back at start, are tried again in the background: what
they reach (a relay node, a peer, the project node an inlet's `/project/...` route opens a
channel to) may come up after this node does, as after a reboot."""

RETRY_DELAYS = (1.0, 2.0, 4.0, 8.0, 15.0)
"""Seconds between the tries of a resource that did not come back; the last one repeats."""


RESTORE_BUDGET = 10.0
"""Seconds a starting node spends restoring before its control socket answers; what is left
then comes back in the background (`node start` waits 20 s for the node to answer)."""


async def restore(controller: NodeController, api: NodeApi, persistence: Persistence) -> int:
    """Bring back every resource the database holds for the node; returns how many came back.

    One that cannot (its port is taken, its relay node is down) is logged in one line with
    the reason, keeps its row for the next start, and keeps no other from coming back; a
    relay, a connection or an inlet is tried again in the background (`RETRIED`) until it is
    back or deleted. Those left after `RESTORE_BUDGET` seconds come back in the background.
    """
    rows = persistence.resources()
    deadline = trio.current_time() + RESTORE_BUDGET
    restored = 0
    for index, row in enumerate(rows):
        if trio.current_time() >= deadline:
            log.warning(
                "node %s: %d resource(s) left to restore after %g s; restoring them in the "
                "background",
                persistence.node,
                len(rows) - index,
                RESTORE_BUDGET,
            )
            controller.node.nursery.start_soon(
                _restore_rows, controller, api, persistence, rows[index:]
            )
            break
        restored += await _restore_row(controller, api, persistence, row)
    return restored


async def _restore_rows(
    controller: NodeController,
    api: NodeApi,
    persistence: Persistence,
    rows: list[PersistedResource],
) -> None:
    for row in rows:
        await _restore_row(controller, api, persistence, row)


async def _restore_row(
    controller: NodeController, api: NodeApi, persistence: Persistence, row: PersistedResource
) -> int:
    """Bring back `row`: 1 when it came back, 0 when not (logged, retried when `RETRIED`)."""
    what = f"{row.kind} {row.key!r} on node {row.node}"
    try:
        request = api.decode(row.request)
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        log.warning("could not restore %s: unreadable row (%s)", what, exc)
        return 0
    reason = await _bring_back(controller, api, row, request)
    if reason is None:
        return 1
    if row.kind in RETRIED:
        log.warning("could not restore %s: %s; trying again in the background", what, reason)
        controller.node.nursery.start_soon(_retry, controller, api, persistence, row, request)
    else:
        log.warning("could not restore %s: %s", what, reason)
    return 0


_REPLACING: contextvars.ContextVar[PersistedResource | None] = contextvars.ContextVar(
    "replacing", default=None
)
"""The row being restored in this task: a new key written for its kind replaces its key. A
context variable, so that control requests served meanwhile (other tasks) never see it."""


async def _bring_back(
    controller: NodeController, api: NodeApi, row: PersistedResource, request: Request
) -> str | None:
    """Send `request` to the node's handlers again; why it failed, or None once it worked."""
    token = _REPLACING.set(row)
    try:
        with trio.move_on_after(RESTORE_TIMEOUT):
            try:
                try:
                    await api.handle(controller, request)
                except BaseExceptionGroup as group:
                    raise unwrap_group(group) from None
            except Exception as exc:
                return str(exc) or type(exc).__name__
            return None
        return f"not back within {RESTORE_TIMEOUT:g} s"
    finally:
        _REPLACING.reset(token)


async def _retry(
    controller: NodeController,
    api: NodeApi,
    persistence: Persistence,
    row: PersistedResource,
    request: Request,
) -> None:
    """Try `row` again, after each of `RETRY_DELAYS`, until it is back or its row is gone."""
    for attempt in itertools.count():
        await trio.sleep(RETRY_DELAYS[min(attempt, len(RETRY_DELAYS) - 1)])
        if not persistence.holds(row.kind, row.key):
            return  # deleted meanwhile
        if await _bring_back(controller, api, row, request) is None:
            log.info("restored %s %r on node %s", row.kind, row.key, row.node)
            return
