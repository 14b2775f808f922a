"""`SqliteEnrollmentStore`: an authority's members and tickets in an SQLite file.

The same `EnrollmentStore` protocol as `MemoryEnrollmentStore`, kept in a file so that the
members outlive the authority's process. `transaction` is ``BEGIN IMMEDIATE`` … ``COMMIT``
(rolled back on an exception), so a redeem that reads a ticket, uses it up and adds its member
is atomic even when several processes share the file. The file is created with mode 0600; it
holds identifiers, attributes and the SHA-256 of each ticket's secret, never a private key or
a secret.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import msgspec

from ._enrollment import Member, TicketRecord

_SCHEMA = """
CREATE TABLE IF NOT EXISTS {members} (
    identifier TEXT PRIMARY KEY,
    attributes TEXT NOT NULL,
    added_by TEXT NOT NULL,
    added_at INTEGER NOT NULL,
    pre_trusted INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS {tickets} (
    secret_hash BLOB PRIMARY KEY,
    attributes TEXT NOT NULL,
    issued_by TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    usage_count INTEGER NOT NULL,
    uses_left INTEGER NOT NULL
);
"""

_PREFIX = re.compile(r"^[A-Za-z0-9_]*$")

_MEMBER_COLUMNS = "identifier, attributes, added_by, added_at, pre_trusted"
_TICKET_COLUMNS = (
    "secret_hash, attributes, issued_by, created_at, expires_at, usage_count, uses_left"
)


class SqliteEnrollmentStore:
    """An `EnrollmentStore` in the SQLite file at `path` (created with mode 0600 if absent).

    Args:
        path: The database file.
        timeout: Seconds to wait for another process's transaction to finish.
        prefix: Put before the table names (``members``, ``tickets``), so that several
            authorities can share one database file (the CLI's state database); letters,
            digits and ``_`` only.

    Raises:
        sqlite3.Error: The file cannot be opened or is not an SQLite database.
        ValueError: The prefix has other characters.
    """

    def __init__(
        self, path: str | os.PathLike[str], *, timeout: float = 5.0, prefix: str = ""
    ) -> None:
        if not _PREFIX.match(prefix):
            raise ValueError(f"bad table prefix {prefix!r}: letters, digits and '_' only")
        self._members = f"{prefix}members"
        self._tickets = f"{prefix}tickets"
        self.path = Path(path)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        os.close(fd)
        os.chmod(self.path, 0o600)  # an existing file too: it lists who may do what
        # Autocommit: `transaction` opens and ends every transaction itself.
        self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
        self._depth = 0
        self._db.executescript(_SCHEMA.format(members=self._members, tickets=self._tickets))

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """An immediate transaction: its reads and writes are atomic with respect to other
        connections; rolled back if the block raises. Nested blocks join the outer one."""
        if self._depth:
            self._depth += 1
            try:
                yield
            finally:
                self._depth -= 1
            return
        self._db.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        else:
            self._db.execute("COMMIT")
        finally:
            self._depth = 0

    def get_member(self, identifier: str) -> Member | None:
        """The member with this identifier, if any."""
        row = self._db.execute(
            f"SELECT {_MEMBER_COLUMNS} FROM {self._members} WHERE identifier = ?", (identifier,)
        ).fetchone()
        return None if row is None else _member(row)

    def put_member(self, member: Member) -> None:
        """Add or replace a member."""
        self._db.execute(
            f"INSERT OR REPLACE INTO {self._members} ({_MEMBER_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
            _row(member),
        )

    def delete_member(self, identifier: str) -> None:
        """Remove a member (no error if absent)."""
        self._db.execute(f"DELETE FROM {self._members} WHERE identifier = ?", (identifier,))

    def list_members(self) -> list[Member]:
        """Every member, sorted by identifier."""
        rows = self._db.execute(
            f"SELECT {_MEMBER_COLUMNS} FROM {self._members} ORDER BY identifier"
        )
        return [_member(row) for row in rows]

    def get_ticket(self, secret_hash: bytes) -> TicketRecord | None:
        """The ticket with this secret hash, if any."""
        row = self._db.execute(
            f"SELECT {_TICKET_COLUMNS} FROM {self._tickets} WHERE secret_hash = ?", (secret_hash,)
        ).fetchone()
        if row is None:
            return None
        digest, attributes, issued_by, created_at, expires_at, usage_count, uses_left = row
        return TicketRecord(
            bytes(digest),
            json.loads(attributes),
            issued_by,
            created_at,
            expires_at,
            usage_count,
            uses_left,
        )

    def put_ticket(self, ticket: TicketRecord) -> None:
        """Add or replace a ticket."""
        self._db.execute(
            f"INSERT OR REPLACE INTO {self._tickets} ({_TICKET_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?)",
            _row(ticket),
        )


def _row(record: Member | TicketRecord) -> tuple[object, ...]:
    """`record`'s fields in column order, its attributes (the second field) as JSON."""
    values = list(msgspec.structs.astuple(record))
    values[1] = json.dumps(values[1], sort_keys=True)
    return tuple(values)


def _member(row: tuple[str, str, str, int, int]) -> Member:
    identifier, attributes, added_by, added_at, pre_trusted = row
    return Member(identifier, json.loads(attributes), added_by, added_at, bool(pre_trusted))
