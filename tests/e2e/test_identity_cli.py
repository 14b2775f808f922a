"""Identities and vaults through the `ockam` command: create, show (and export), list, the
default identity, delete; vaults created, shown, moved and deleted; keys never shown."""

from __future__ import annotations

import base64
import re
import stat
from pathlib import Path

import msgspec
import pytest

from secure import IdentityPublic

from .conftest import Ockam

pytestmark = pytest.mark.e2e

IDENTIFIER = re.compile(r"^I[0-9a-f]{64}$")


def private_keys(vault: Path) -> list[bytes]:
    """Every secret key in a vault file, raw."""
    data = msgspec.json.decode(vault.read_bytes())
    tables = (data["identities"], data["static_keys"])
    return [base64.b64decode(key) for table in tables for key in table.values()]


def test_an_identity_is_created_shown_exported_and_found_in_its_vault(ockam: Ockam) -> None:
    assert ockam.out("vault", "create", "v1") == "v1"
    bob = ockam.out("identity", "create", "bob", "--vault", "v1")
    assert IDENTIFIER.match(bob)
    assert ockam.out("identity", "show", "bob") == bob  # found without naming its vault
    assert ockam.json("identity", "show", "bob") == {
        "name": "bob", "identifier": bob, "vault": "v1", "is_default": False
    }  # fmt: skip

    exported = ockam.out("identity", "show", "bob", "--full", "--encoding", "hex")
    public = IdentityPublic.from_exported(exported)
    assert public.identifier == bob
    full = ockam.json("identity", "show", "bob", "--full")
    assert isinstance(full, dict)
    assert full["exported"] == exported
    assert full["public_key"] == public.public_bytes.hex()
    readable = ockam.out("identity", "show", "bob", "--full")
    assert readable.splitlines() == [f"Identifier: {bob}", f"Public key: {full['public_key']}"]

    again = ockam.run("identity", "create", "bob", check=False)  # the default vault: still bob
    assert again.returncode == 1
    assert again.stderr == (
        "error: identity 'bob' already exists in vault 'v1' "
        "(see it with `ockam identity show bob`)\n"
    )
    alice = ockam.out("identity", "create", "alice")
    assert [(i["name"], i["vault"]) for i in ockam.json("identity", "list")] == [  # type: ignore[attr-defined]
        ("alice", "default"),
        ("bob", "v1"),
    ]
    assert ockam.out("identity", "list", "--vault", "v1") == f"bob  {bob}"

    outputs = [exported, readable, str(full), ockam.out("vault", "show", "v1", "--output", "json")]
    outputs += [ockam.out("identity", "show", "alice", "--full", "--output", "json")]
    keys = private_keys(ockam.home / "vaults" / "v1" / "vault.json")
    keys += private_keys(ockam.home / "vaults" / "default" / "vault.json")
    assert len(keys) == 2
    for key in keys:
        for text in outputs:
            assert key.hex() not in text
            assert base64.b64encode(key).decode() not in text
    assert alice != bob


def test_the_default_identity(ockam: Ockam) -> None:
    default = ockam.out("identity", "default")  # `default`, made on first use
    assert ockam.out("identity", "show") == default
    alice = ockam.out("identity", "create", "alice")
    assert ockam.out("identity", "default", "alice") == alice
    assert ockam.out("identity", "default") == alice
    assert ockam.out("identity", "show") == alice
    listed = ockam.json("identity", "list")
    assert isinstance(listed, list)
    assert {i["name"]: i["is_default"] for i in listed} == {"alice": True, "default": False}
    missing = ockam.run("identity", "default", "carol", check=False)
    assert missing.returncode == 1
    assert missing.stderr.startswith("error: there is no identity named 'carol'")


def test_an_identity_is_deleted_unless_a_node_uses_it(ockam: Ockam) -> None:
    alice = ockam.out("identity", "create", "alice")
    ockam.run("node", "create", "n1", "--identity", "alice")
    used = ockam.run("identity", "delete", "alice", "-y", check=False)
    assert used.returncode == 1
    assert used.stderr == (
        "error: identity 'alice' is used by node n1: delete the node first "
        "(`ockam node delete n1`)\n"
    )
    assert ockam.out("identity", "show", "alice") == alice
    ockam.run("node", "delete", "n1")
    assert ockam.json("identity", "delete", "alice", "--yes") == {"name": "alice"}
    gone = ockam.run("identity", "show", "alice", check=False)
    assert gone.returncode == 1
    assert "no identity named 'alice'" in gone.stderr
    vault = msgspec.json.decode((ockam.home / "vaults" / "default" / "vault.json").read_bytes())
    assert "alice" not in vault["identities"]
    assert "alice" not in vault["static_keys"]


def test_vaults_are_created_shown_moved_and_deleted(ockam: Ockam, tmp_path: Path) -> None:
    created = ockam.json("vault", "create", "v1")
    v1 = ockam.home / "vaults" / "v1" / "vault.json"
    assert created == {"name": "v1", "path": str(v1), "is_default": False, "identities": []}
    assert stat.S_IMODE(v1.stat().st_mode) == 0o600
    ockam.run("identity", "create", "bob", "--vault", "v1")
    assert ockam.json("vault", "show", "v1") == {**created, "identities": ["bob"]}
    bob = ockam.out("identity", "show", "bob")

    moved = tmp_path / "elsewhere.json"
    shown = ockam.json("vault", "move", "v1", "--path", str(moved))
    assert isinstance(shown, dict)
    assert shown["path"] == str(moved)
    assert not v1.exists()
    assert stat.S_IMODE(moved.stat().st_mode) == 0o600
    assert ockam.out("identity", "show", "bob") == bob  # the same key, in its new place
    taken = ockam.run("vault", "move", "v1", "--path", str(moved), check=False)
    assert taken.returncode == 1
    assert taken.stderr == f"error: {moved} already exists: choose a path for a new file\n"

    outside = tmp_path / "v2.json"
    ockam.run("vault", "create", "v2", "--path", str(outside))
    assert stat.S_IMODE(outside.stat().st_mode) == 0o600
    assert ockam.out("vault", "list").splitlines() == ["default", "v1", "v2"]

    assert ockam.out("vault", "delete", "v1", "-y") == "v1"
    assert not moved.exists()
    gone = ockam.run("identity", "show", "bob", check=False)
    assert gone.returncode == 1
    missing = ockam.run("vault", "show", "v1", check=False)
    assert missing.returncode == 1
    assert missing.stderr == "error: there is no vault named 'v1' (see `ockam vault list`)\n"
    assert ockam.out("vault", "list").splitlines() == ["default", "v2"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("identity", "create", "bad name"), "error: invalid identity name 'bad name'"),
        (("identity", "create", "x", "--vault", "nope"), "error: there is no vault named 'nope'"),
        (("identity", "show", "nobody"), "error: there is no identity named 'nobody'"),
        (("identity", "show", "--encoding", "hex"), "error: --encoding applies to --full only"),
        (("identity", "delete", "nobody", "-y"), "error: there is no identity named 'nobody'"),
        (("vault", "create", "../up"), "error: invalid vault name '../up'"),
        (("vault", "delete", "nope", "-y"), "error: there is no vault named 'nope'"),
        (("vault", "move", "nope", "--path", "/tmp/x"), "error: there is no vault named 'nope'"),
    ],
)
def test_bad_input_is_one_line_and_exit_1(
    ockam: Ockam, args: tuple[str, ...], message: str
) -> None:
    result = ockam.run(*args, check=False)
    assert result.returncode == 1
    assert result.stderr.startswith(message)
    assert result.stderr.count("\n") == 1
    assert result.stdout == ""


@pytest.mark.parametrize(
    "command",
    [
        ("identity", "create"), ("identity", "show"), ("identity", "list"),
        ("identity", "delete"), ("identity", "default"),
        ("vault", "create"), ("vault", "show"), ("vault", "list"), ("vault", "delete"),
        ("vault", "move"),
    ],
)  # fmt: skip
def test_every_command_has_help(ockam: Ockam, command: tuple[str, ...]) -> None:
    result = ockam.run(*command, "--help")
    assert "Usage:" in result.stdout
    assert "--output" in result.stdout
