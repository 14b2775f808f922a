"""The credentials `credential store` kept, in the state database, and how the `credential`
commands show one.

A stored credential is a node's own: `credential store --at NODE` gives it to the running node
(which presents it in its secure channels) and records it here, so that the node presents it
again after `node stop`/`node start`. Rows are keyed by name (the node's name unless another
is given); storing under a name again replaces the row. The table lives beside the nodes' in
`$OCKAM_HOME/database.sqlite3`; it holds credentials only (public, signed statements), never a
private key.
"""

from __future__ import annotations

import re
import sqlite3
import time
from contextlib import AbstractContextManager
from pathlib import Path

import msgspec

from actors import OckamError
from secure import (
    Credential,
    CredentialError,
    IdentityError,
    IdentityPublic,
    check_identifier,
    verify_credential,
)

from ._state import StateStore

_SCHEMA = """
CREATE TABLE IF NOT EXISTS credentials (
    name TEXT PRIMARY KEY,
    node TEXT NOT NULL,
    issuer TEXT NOT NULL,
    scope TEXT NOT NULL,
    credential TEXT NOT NULL,
    stored REAL NOT NULL
)
"""


class CredentialRefused(OckamError):
    """A credential was refused: not one, from another issuer, altered, expired, not for
    this identity (the message says which)."""


class CredentialNotFound(OckamError):
    """No stored credential of that name."""


class StoredCredential(msgspec.Struct, frozen=True):
    """A row of the credentials table."""

    name: str
    node: str
    issuer: str
    scope: str
    credential: str
    """The credential, in hex."""
    stored: float


class CredentialView(msgspec.Struct, frozen=True):
    """A credential as the `credential` commands print it (`--output json`).

    Attributes:
        credential: The credential in hex (what `credential verify/store --credential` take).
        subject: The identifier it is about.
        issuer: The identifier of the identity that signed it.
        scope: What it is for.
        attributes: Its attributes, by name.
        created_at: When it was issued (seconds since the Unix epoch).
        expires_at: When it expires (seconds since the Unix epoch).
        is_verified: Whether it verifies now against its issuer (False once expired).
        name: The name it is stored under (stored credentials only).
        node: The node it was stored at (stored credentials only).
    """

    credential: str
    subject: str
    issuer: str
    scope: str
    attributes: dict[str, str]
    created_at: int
    expires_at: int
    is_verified: bool
    name: str = ""
    node: str = ""


def parse_credential(text: str) -> Credential:
    """The credential written in hex in `text`.

    Raises:
        CredentialRefused: It is not hex, or not a credential.
    """
    try:
        credential = Credential.from_hex(text)
        # A malformed statement or issuer key is refused here, not when it is shown.
        credential.unverified_data()
        _ = credential.issuer
    except CredentialError as exc:
        raise CredentialRefused(f"Credential is not valid: {exc}") from None
    return credential


def parse_identifier(text: str, flag: str) -> str:
    """The identifier given to `flag`: an identifier (``I…``) or an exported identity (hex).

    Raises:
        ValueError: It is neither, with the flag and the reason.
    """
    text = text.strip()
    if text.startswith("I"):
        try:
            return check_identifier(text)
        except ValueError as exc:
            raise ValueError(f"bad {flag}: {exc}") from None
    try:
        return IdentityPublic.from_exported(text).identifier
    except IdentityError as exc:
        raise ValueError(
            f"bad {flag}: expected an identifier (I…) or an exported identity in hex: {exc}"
        ) from None


def check(
    credential: Credential,
    *,
    issuer: str,
    now: float,
    subject: str | None = None,
    scope: str | None = None,
) -> None:
    """Verify `credential` against `issuer` (and `subject`, `scope`) at `now`.

    Raises:
        CredentialRefused: It was issued by someone else, altered, is for another subject,
            is not yet valid or has expired; the message says which.
    """
    try:
        verify_credential(credential, issuer_identity=issuer, now=now, subject=subject, scope=scope)
    except CredentialError as exc:
        raise CredentialRefused(f"Credential is not valid: {exc}") from None


def view(credential: Credential, *, name: str = "", node: str = "") -> CredentialView:
    """How the commands show `credential` (verified against its own issuer, now)."""
    data = credential.unverified_data()
    issuer = credential.issuer
    try:
        verify_credential(credential, issuer_identity=issuer, now=time.time())
        verified = True
    except CredentialError:
        verified = False
    return CredentialView(
        credential=credential.hex(),
        subject=data.subject,
        issuer=issuer,
        scope=data.scope,
        attributes=dict(data.attributes),
        created_at=data.created,
        expires_at=data.expires,
        is_verified=verified,
        name=name,
        node=node,
    )


def _when(timestamp: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(timestamp))


def describe(v: CredentialView) -> str:
    """The readable form of a credential (a terminal's, and `credential issue`'s plain)."""
    mark = "✔︎ valid" if v.is_verified else "✕ not valid now"
    head = f"Credential {v.name} " if v.name else "Credential "
    attributes = ", ".join(f"{k}={val}" for k, val in v.attributes.items()) or "none"
    return (
        f"{head}({mark})\n"
        f"  subject: {v.subject}\n"
        f"  issuer: {v.issuer}\n"
        f"  scope: {v.scope}\n"
        f"  attributes: {attributes}\n"
        f"  created: {_when(v.created_at)}\n"
        f"  expires: {_when(v.expires_at)}" + (f"\n  node: {v.node}" if v.node else "")
    )


_DURATION = re.compile(r"(\d+)([smhd]?)")
_UNIT = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str, flag: str = "--ttl") -> int:
    """Whole seconds from `5s`, `10m`, `2h`, `30d`, `1h30m` or a bare number of seconds.

    Raises:
        ValueError: It is not such a duration, or it is zero.
    """
    cleaned = text.strip().lower()
    parts = list(_DURATION.finditer(cleaned))
    if not cleaned or "".join(p.group(0) for p in parts) != cleaned:
        raise ValueError(f"bad {flag} {text!r}: expected a duration like 5s, 10m, 2h or 30d")
    seconds = sum(int(p.group(1)) * _UNIT[p.group(2)] for p in parts)
    if seconds < 1:
        raise ValueError(f"bad {flag} {text!r}: at least 1 second")
    return seconds


def parse_attributes(values: list[str]) -> dict[str, str]:
    """`--attribute K=V`, repeated, as a dict (a later K replaces an earlier one).

    Raises:
        ValueError: One has no `=`, or an empty name.
    """
    attributes: dict[str, str] = {}
    for value in values:
        name, sep, text = value.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"bad --attribute {value!r}: expected NAME=VALUE")
        attributes[name.strip()] = text
    return attributes


def _connect(home: Path) -> AbstractContextManager[sqlite3.Connection]:
    return StateStore(home).connect(_SCHEMA)


_COLUMNS = "name, node, issuer, scope, credential, stored"


def put_credential(home: Path, row: StoredCredential) -> None:
    """Store `row`, replacing the credential of the same name."""
    with _connect(home) as db:
        db.execute(
            f"INSERT OR REPLACE INTO credentials ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?)",
            (row.name, row.node, row.issuer, row.scope, row.credential, row.stored),
        )


def stored_credentials(home: Path, *, node: str | None = None) -> list[StoredCredential]:
    """The stored credentials (of `node`, or all), oldest first."""
    with _connect(home) as db:
        if node is None:
            rows = db.execute(f"SELECT {_COLUMNS} FROM credentials ORDER BY stored").fetchall()
        else:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM credentials WHERE node = ? ORDER BY stored", (node,)
            ).fetchall()
    return [StoredCredential(*row) for row in rows]


def get_credential(home: Path, name: str) -> StoredCredential:
    """The credential stored as `name`.

    Raises:
        CredentialNotFound: There is none.
    """
    with _connect(home) as db:
        row = db.execute(f"SELECT {_COLUMNS} FROM credentials WHERE name = ?", (name,)).fetchone()
    if row is None:
        raise CredentialNotFound(
            f"there is no stored credential named {name!r} (see `ockam credential list`)"
        )
    return StoredCredential(*row)
