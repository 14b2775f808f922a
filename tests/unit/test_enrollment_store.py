"""The `EnrollmentStore` contract, held by the in-memory store and the SQLite one alike; and
what only the SQLite file does: survive a restart, stay private, share one ticket atomically."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from secure import (
    Enrollment,
    EnrollmentStore,
    Identity,
    Member,
    MemoryEnrollmentStore,
    SqliteEnrollmentStore,
    TicketRecord,
    TicketUsedUpError,
    new_secret,
    secret_hash,
)

NOW = 1_800_000_000.0
AUTHORITY = Identity.generate()
ADMIN, ALICE, BOB = (Identity.generate().identifier for _ in range(3))


@pytest.fixture(params=["memory", "sqlite"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[EnrollmentStore]:
    if request.param == "memory":
        yield MemoryEnrollmentStore()
        return
    sqlite = SqliteEnrollmentStore(tmp_path / "authority.sqlite")
    yield sqlite
    sqlite.close()


def _ticket(uses: int = 1) -> TicketRecord:
    return TicketRecord(secret_hash(new_secret()), {"component": "db"}, ADMIN, 1, 601, uses, uses)


def test_members_are_put_replaced_listed_and_deleted(store: EnrollmentStore) -> None:
    alice = Member(ALICE, {"component": "db"}, ADMIN, 10, pre_trusted=False)
    bob = Member(BOB, {}, ADMIN, 11, pre_trusted=True)
    with store.transaction():
        store.put_member(bob)
        store.put_member(alice)
    assert store.get_member(ALICE) == alice
    assert store.list_members() == sorted([alice, bob], key=lambda m: m.identifier)
    changed = Member(ALICE, {"component": "web"}, BOB, 12, pre_trusted=False)
    store.put_member(changed)
    assert store.get_member(ALICE) == changed
    store.delete_member(ALICE)
    store.delete_member(ALICE)  # absent: no error
    assert store.get_member(ALICE) is None
    assert store.list_members() == [bob]


def test_tickets_are_found_by_their_secret_hash(store: EnrollmentStore) -> None:
    ticket = _ticket(uses=2)
    store.put_ticket(ticket)
    assert store.get_ticket(ticket.secret_hash) == ticket
    assert store.get_ticket(secret_hash(new_secret())) is None


def test_the_rules_run_over_the_store(store: EnrollmentStore) -> None:
    enrollment = Enrollment(store, authority=AUTHORITY.identifier, project_id="p-1")
    enrollment.set_pre_trusted({ADMIN: {"ockam-role": "enroller"}}, now=NOW)
    secret = new_secret()
    enrollment.create_ticket(ADMIN, attributes={"component": "db"}, secret=secret, now=NOW)
    assert enrollment.redeem(secret, ALICE, now=NOW).attributes == {"component": "db"}
    with pytest.raises(TicketUsedUpError):
        enrollment.redeem(secret, BOB, now=NOW)
    assert [m.identifier for m in store.list_members()] == sorted([ADMIN, ALICE])


def test_a_failed_transaction_changes_nothing(tmp_path: Path) -> None:
    store = SqliteEnrollmentStore(tmp_path / "authority.sqlite")

    def half_way() -> None:
        with store.transaction():
            store.put_member(Member(ALICE, {}, ADMIN, 1))
            raise RuntimeError("half-way")

    with pytest.raises(RuntimeError):
        half_way()
    assert store.get_member(ALICE) is None
    store.close()


def test_the_file_is_private_and_outlives_its_connection(tmp_path: Path) -> None:
    path = tmp_path / "authority.sqlite"
    store = SqliteEnrollmentStore(path)
    enrollment = Enrollment(store, authority=AUTHORITY.identifier, project_id="p-1")
    enrollment.set_pre_trusted({ADMIN: {"ockam-role": "enroller"}}, now=NOW)
    secret = new_secret()
    enrollment.create_ticket(ADMIN, secret=secret, now=NOW)
    enrollment.issue_credential(AUTHORITY, ADMIN, now=NOW, ttl=60)
    store.close()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = path.read_bytes()
    assert secret not in data
    assert secret_hash(secret) in data
    reopened = SqliteEnrollmentStore(path)
    assert [m.identifier for m in reopened.list_members()] == [ADMIN]
    reopened.close()


def test_two_connections_cannot_both_use_a_single_use_ticket(tmp_path: Path) -> None:
    path = tmp_path / "authority.sqlite"
    first, second = SqliteEnrollmentStore(path), SqliteEnrollmentStore(path, timeout=0.1)
    rules = [
        Enrollment(s, authority=AUTHORITY.identifier, project_id="p-1") for s in (first, second)
    ]
    rules[0].set_pre_trusted({ADMIN: {"ockam-role": "enroller"}}, now=NOW)
    secret = new_secret()
    rules[0].create_ticket(ADMIN, secret=secret, now=NOW)
    rules[1].redeem(secret, ALICE, now=NOW)
    with pytest.raises(TicketUsedUpError):
        rules[0].redeem(secret, BOB, now=NOW)
    assert first.get_member(BOB) is None
    first.close()
    second.close()


def test_two_prefixes_keep_two_authorities_apart_in_one_file(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite3"
    first = SqliteEnrollmentStore(path, prefix="authority_a_")
    second = SqliteEnrollmentStore(path, prefix="authority_b_")
    ticket = _ticket()
    first.put_member(Member(ALICE, {}, ADMIN, 1))
    second.put_ticket(ticket)
    assert [m.identifier for m in first.list_members()] == [ALICE]
    assert second.list_members() == []
    assert first.get_ticket(ticket.secret_hash) is None
    assert second.get_ticket(ticket.secret_hash) == ticket
    first.close()
    second.close()
    with pytest.raises(ValueError, match="bad table prefix"):
        SqliteEnrollmentStore(path, prefix="x; DROP TABLE members; --")
