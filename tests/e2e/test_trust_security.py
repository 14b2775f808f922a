"""Security of the trust layer, end to end: vault files only their owner can read, private keys
never in a log, a command's output or the state database, and credentials from an untrusted
issuer or for another identity refused wherever they are offered."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ._trust_helpers import Authority, curl, serve_http, serve_through
from .conftest import Ockam


@pytest.fixture
def outputs(ockam: Ockam, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every `ockam` command's stdout and stderr from now on, to search them for secrets."""
    seen: list[str] = []
    run = ockam.run

    def recording(*args: str, **options: Any) -> subprocess.CompletedProcess[str]:
        result = run(*args, **options)
        seen.extend((result.stdout, result.stderr))
        return result

    monkeypatch.setattr(ockam, "run", recording)
    return seen


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[int]:
    """An HTTP server serving `hello.txt`; its port."""
    root = tmp_path / "www"
    root.mkdir()
    (root / "hello.txt").write_text("hello\n")
    with serve_http(root, tmp_path / "http.log") as port:
        yield port


def refused(ockam: Ockam, *args: str) -> str:
    """The one error line of `ockam ARGS...`, which must fail with exit status 1."""
    result = ockam.run(*args, check=False)
    assert result.returncode == 1, result
    assert result.stderr.count("\n") == 1, result.stderr
    return result.stderr


def secret_forms(home: Path) -> dict[str, list[bytes]]:
    """Every private key in the home's vaults, by name, in each form it could leak in: raw,
    hex (both cases) and base64 (as the vault file keeps it)."""
    found: dict[str, list[bytes]] = {}
    for vault in (home / "vaults").glob("*/vault.json"):
        data = json.loads(vault.read_text())
        for kind in ("identities", "static_keys"):
            for name, encoded in data[kind].items():
                raw = base64.b64decode(encoded)
                found[f"{vault.parent.name}/{kind}/{name}"] = [
                    raw,
                    raw.hex().encode(),
                    raw.hex().upper().encode(),
                    encoded.encode(),
                ]
    return found


def test_private_keys_stay_in_vault_files_only_their_owner_reads(
    ockam: Ockam, outputs: list[str], http_server: int
) -> None:
    authority = Authority(ockam)
    ockam.run("vault", "create", "second")
    ockam.run("identity", "create", "spare", "--vault", "second")
    alice = authority.trusting_node("alice")
    ockam.run("identity", "create", "bob")
    bob = ockam.out("identity", "show", "bob")
    authority.trusting_node("bob", "--credential", authority.issue(bob, "role=db"))
    authority.store("alice", authority.issue(alice, "component=web"))
    port = serve_through(ockam, "alice", "bob", http_server)
    assert curl(port).stdout == "hello\n"
    for args in [
        ("identity", "list"), ("identity", "show", "alice", "--full"), ("vault", "list"),
        ("vault", "show", "second"), ("node", "show", "alice"), ("credential", "list"),
        ("credential", "show", "--at", "bob"), ("secure-channel", "list", "--at", "alice"),
        ("node", "logs", "alice"), ("node", "logs", "bob"),
    ]:  # fmt: skip
        ockam.run(*args)
        ockam.run(*args, "--output", "json", check=False)
    assert bob != alice

    home = ockam.home
    vault_files = sorted((home / "vaults").glob("*/vault.json"))
    assert len(vault_files) == 2
    for path in vault_files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
        assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700, path.parent
    for node in ("alice", "bob"):
        assert stat.S_IMODE((home / "nodes" / node / "trust.json").stat().st_mode) == 0o600

    secrets = secret_forms(home)
    # authority, alice, bob, spare, and the Noise keys of alice's and bob's channels.
    assert {
        "default/identities/alice",
        "default/static_keys/bob",
        "second/identities/spare",
    } <= set(secrets)
    assert len(outputs) > 40  # every command's stdout and stderr was kept
    places: dict[str, bytes] = {
        "command output": "\n".join(outputs).encode(),
        **{
            str(path.relative_to(home)): path.read_bytes()
            for path in home.rglob("*")
            if path.is_file() and "vaults" not in path.parts and not path.is_socket()
        },
    }
    assert any(name.endswith("database.sqlite3") for name in places)
    assert any(name.endswith("stdout.log") for name in places)
    for where, content in places.items():
        for name, forms in secrets.items():
            for form in forms:
                assert form not in content, f"the private key {name} is in {where}"


def test_a_credential_from_an_untrusted_issuer_is_refused(ockam: Ockam, http_server: int) -> None:
    authority = Authority(ockam)
    mallory = Authority(ockam, "mallory")
    alice = authority.trusting_node("alice")
    forged = mallory.issue(alice, "component=web")
    message = refused(
        ockam, "credential", "verify", "--issuer", authority.identifier, "--credential", forged
    )
    assert f"issued by {mallory.identifier}, which is not the trusted authority" in message
    message = refused(
        ockam, "credential", "store", "--at", "alice", "--issuer", authority.identifier,
        "--credential", forged,
    )  # fmt: skip
    assert f"issued by {mallory.identifier}" in message
    message = refused(
        ockam, "credential", "store", "--at", "alice", "--issuer", mallory.identifier,
        "--credential", forged,
    )  # fmt: skip
    assert f"node alice does not trust the issuer {mallory.identifier}" in message
    assert ockam.json("credential", "list") == []
    ockam.run("identity", "create", "carol")
    for_carol = mallory.issue(ockam.out("identity", "show", "carol"))
    message = refused(
        ockam, "node", "create", "carol", "--identity", "carol",
        "--authority-identity", authority.exported, "--credential", for_carol,
    )  # fmt: skip
    assert f"issued by {mallory.identifier}" in message

    # At run time: bob trusts the authority; eve trusts mallory and presents mallory's
    # credential. bob's outlet serves alice (the authority's credential), never eve.
    bob = authority.trusting_node("bob")
    authority.store("bob", authority.issue(bob))
    authority.store("alice", authority.issue(alice, "component=web"))
    ockam.run("identity", "create", "eve")
    eve = ockam.out("identity", "show", "eve")
    mallory.trusting_node("eve", "--credential", mallory.issue(eve, "component=web"))
    port = serve_through(ockam, "alice", "bob", http_server)
    assert curl(port).stdout == "hello\n"
    bound = ockam.out(
        "tcp-inlet", "create", "--at", "eve", "--from", "127.0.0.1:0",
        "--to", "/node/bob/secure/api/service/outlet",
    )  # fmt: skip
    assert curl(int(bound.rpartition(":")[2])).returncode != 0
    # bob drops mallory's credential: eve's channel has no verified attributes at bob's end.
    log = (ockam.home / "nodes" / "bob" / "stdout.log").read_text()
    assert f"a credential from {eve}, refused: credential was issued by {mallory.identifier}" in log
    # And eve, who believes only mallory, does not believe bob's: its inlet refuses the portal.
    log = (ockam.home / "nodes" / "eve" / "stdout.log").read_text()
    assert "refused a portal: tcp-inlet" in log


def test_a_credential_for_another_identifier_is_refused(ockam: Ockam) -> None:
    authority = Authority(ockam)
    alice = authority.trusting_node("alice")
    bob = authority.trusting_node("bob")
    for_alice = authority.issue(alice, "component=web")
    message = refused(
        ockam, "credential", "store", "--at", "bob", "--issuer", authority.identifier,
        "--credential", for_alice,
    )  # fmt: skip
    assert f"the credential is for {alice}, not for node bob's identity {bob}" in message
    ockam.run("identity", "create", "carol")
    message = refused(
        ockam, "node", "create", "carol", "--identity", "carol",
        "--authority-identity", authority.exported, "--credential", for_alice,
    )  # fmt: skip
    assert f"credential is for {alice}" in message
    assert ockam.json("credential", "list") == []
    assert "has no credential" in refused(ockam, "credential", "show", "--at", "bob")
    assert os.path.exists(ockam.home / "nodes" / "bob" / "trust.json")
