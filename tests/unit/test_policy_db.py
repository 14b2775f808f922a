"""A node's policies in the state database: rows, snapshots of a `PolicyStore`, and the trigger
that drops them with the node's record. Real SQLite, no sockets."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli._policy import parse_policy, restore, snapshot
from cli._policy_db import PolicyDatabase, StoredPolicy
from cli._state import StateStore
from portals import PolicyStore, ResourceType
from secure import PolicyExpressionError


def test_snapshot_and_restore_round_trip(tmp_path: Path) -> None:
    store = PolicyStore()
    store.set_resource_type_policy(ResourceType.TCP_OUTLET, '(= subject.component "web")')
    store.set_resource_type_policy(ResourceType.TCP_INLET, "trusted")
    store.set_resource_policy("db", "component.db or admin")
    store.set_resource_policy("outlet", '(= subject.identifier "I00")')
    rows = snapshot(store)
    assert [(r.kind, r.resource) for r in rows] == [
        ("resource", "db"),
        ("resource", "outlet"),
        ("resource_type", "tcp-inlet"),
        ("resource_type", "tcp-outlet"),
    ]
    database = PolicyDatabase(StateStore(tmp_path), "n1")
    database.save(rows)
    PolicyDatabase(StateStore(tmp_path), "n2").save([rows[0]])
    assert database.load() == rows
    again = PolicyStore()
    assert restore(again, database.load()) == 4
    assert again.policies() == store.policies()


def test_save_replaces_and_restore_skips_bad_rows(tmp_path: Path) -> None:
    database = PolicyDatabase(StateStore(tmp_path), "n1")
    database.save([StoredPolicy("resource", "a", "handle_message", "x")])
    bad = [
        StoredPolicy("resource", "b", "handle_message", "component.db or"),
        StoredPolicy("resource_type", "kafka", "handle_message", "x"),
        StoredPolicy("resource", "c", "handle_message", "y"),
    ]
    database.save(bad)
    assert database.load() == [bad[0], bad[2], bad[1]]  # resources first, then types
    store = PolicyStore()
    assert restore(store, database.load()) == 1
    assert [p.resource for p in store.policies()] == ["c"]


def test_the_rows_go_with_the_node_record(tmp_path: Path) -> None:
    state = StateStore(tmp_path)
    state.put(state.new_record("n1", pid=1, listener="127.0.0.1:1"))
    state.put(state.new_record("n2", pid=2, listener="127.0.0.1:2"))
    n1, n2 = PolicyDatabase(state, "n1"), PolicyDatabase(state, "n2")
    row = StoredPolicy("resource", "a", "handle_message", "x")
    n1.save([row])
    n2.save([row])
    # A node that starts again replaces its record: its policies stay.
    state.put(state.new_record("n1", pid=3, listener="127.0.0.1:1"))
    assert n1.load() == [row]
    state.delete("n1")  # `node delete`
    assert n1.load() == []
    assert n2.load() == [row]


@pytest.mark.parametrize(
    ("text", "form", "message"),
    [
        (
            "component.db or",
            "allow",
            "invalid --allow `component.db or`: successfully parsed: `component.db`, but ` or` "
            "cannot be parsed (at character 12)",
        ),
        ("(= a", "allow", "invalid --allow `(= a`: unclosed '(' (at character 0)"),
        (
            '(= a "b',
            "expression",
            'invalid --expression `(= a "b`: unterminated string starting at character 5',
        ),
    ],
)
def test_parse_policy_says_where_it_stopped(text: str, form: str, message: str) -> None:
    with pytest.raises(PolicyExpressionError) as caught:
        parse_policy(text, form, flag=f"--{form}")  # type: ignore[arg-type]
    assert str(caught.value) == message


def test_expression_flag_takes_s_expressions_only() -> None:
    parse_policy("component.db", "allow", flag="--allow")
    with pytest.raises(PolicyExpressionError, match="must be an operation"):
        parse_policy("component.db", "expression", flag="--expression")
