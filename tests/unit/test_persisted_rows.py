"""The rows of a node's resources follow its record in the state database: kept when the
record is replaced (a node started again), gone when it is deleted (`node delete`)."""

from __future__ import annotations

from pathlib import Path

from cli._persisted import Persistence
from cli._relay import CreateRelay
from cli._state import StateStore


def test_rows_outlive_a_replaced_record_and_go_with_a_deleted_one(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    store.put(store.new_record("n", pid=1, listener="127.0.0.1:1"))
    rows = Persistence(store, "n")
    rows.remember("relay", "r", CreateRelay("r", "/ip4/127.0.0.1/tcp/2"))
    rows.remember_http_server(8080)
    other = Persistence(store, "m")
    other.remember("relay", "r", CreateRelay("r", "/ip4/127.0.0.1/tcp/3"))

    store.put(store.new_record("n", pid=2, listener="127.0.0.1:1"))  # started again
    assert [(r.kind, r.key) for r in rows.resources()] == [("relay", "r")]
    assert rows.http_server_port() == 8080

    store.delete("n")
    assert rows.resources() == []
    assert rows.http_server_port() is None
    assert [(r.node, r.key) for r in other.resources()] == [("m", "r")]


def test_a_row_is_rewritten_in_place_and_forgotten_once(tmp_path: Path) -> None:
    store = StateStore(tmp_path)
    rows = Persistence(store, "n")
    rows.remember("relay", "r", CreateRelay("r", "/ip4/127.0.0.1/tcp/2"))
    first = rows.resources()[0].created
    rows.remember("relay", "r", CreateRelay("r", "/ip4/127.0.0.1/tcp/4"))
    (row,) = rows.resources()
    assert row.created == first  # its place in the restore order stays
    assert rows.holds("relay", "r")
    assert rows.forget("relay", "r")
    assert not rows.forget("relay", "r")
    assert not rows.holds("relay", "r")
