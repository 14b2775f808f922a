"""The state database's node records: names, the default node, a restart keeping the order."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli._lifecycle import default_record, random_node_name
from cli._state import InvalidName, NodeNotFound, StateStore, check_node_name


@pytest.mark.parametrize("name", ["n1", "N_1", "a-b", "x" * 64, "_", "lively-otter"])
def test_ockam_node_names_are_accepted(name: str) -> None:
    assert check_node_name(name) == name


@pytest.mark.parametrize("name", ["", "n!", "n.1", "a/b", "x" * 65, "n1\n", "é"])
def test_other_names_are_refused_saying_what_a_name_is(name: str) -> None:
    with pytest.raises(InvalidName, match="letters, digits, '_' and '-'"):
        check_node_name(name)


def test_a_node_started_again_keeps_its_place(tmp_path: Path) -> None:
    state = StateStore(tmp_path)
    state.put(state.new_record("n1", pid=1, listener="127.0.0.1:1"))
    state.put(state.new_record("n2", pid=2, listener="127.0.0.1:2"))
    state.put(state.new_record("n1", pid=3, listener="127.0.0.1:1", identity="i"))
    assert [(r.name, r.pid, r.identity) for r in state.all()] == [("n1", 3, "i"), ("n2", 2, "")]
    assert state.default_name() == "n1"


def test_the_default_node(tmp_path: Path) -> None:
    state = StateStore(tmp_path)
    assert state.default_name() is None
    with pytest.raises(NodeNotFound):
        default_record(state)
    for number in (1, 2, 3):
        state.put(state.new_record(f"n{number}", pid=number, listener="127.0.0.1:0"))
    assert state.default_name() == "n1"
    state.set_default("n2")
    assert default_record(state).name == "n2"
    with pytest.raises(NodeNotFound):
        state.set_default("nope")
    state.delete("n2")
    assert state.default_name() == "n1"
    state.put(state.new_record("n2", pid=4, listener="127.0.0.1:0"))
    assert state.default_name() == "n1"  # deleting the default forgot the choice


def test_random_names_are_memorable_and_new(tmp_path: Path) -> None:
    state = StateStore(tmp_path)
    names = set()
    for _ in range(20):
        name = random_node_name(state)
        assert check_node_name(name) == name
        assert name.count("-") == 1
        state.put(state.new_record(name, pid=1, listener="127.0.0.1:0"))
        names.add(name)
    assert len(names) == 20
