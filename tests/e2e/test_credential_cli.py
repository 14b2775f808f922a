"""`ockam credential issue/verify/store/list/show` and `node create --authority-identity`, as a
user types them: output in plain and JSON, and one-line errors with exit status 1."""

from __future__ import annotations

import json
import time

import pytest

from ._trust_helpers import Authority, flip_byte
from .conftest import Ockam


def refused(ockam: Ockam, *args: str) -> str:
    """The one error line of `ockam ARGS...`, which must fail with exit status 1."""
    result = ockam.run(*args, check=False)
    assert result.returncode == 1, result
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("error: ")
    return result.stderr


def test_issue_and_verify(ockam: Ockam) -> None:
    authority = Authority(ockam)
    ockam.run("identity", "create", "alice")
    alice = ockam.out("identity", "show", "alice")
    issued = ockam.json(
        "credential", "issue", "--as", "authority", "--for", alice,
        "--attribute", "component=web", "-a", "team=blue", "--ttl", "1h",
    )  # fmt: skip
    assert isinstance(issued, dict)
    assert issued["subject"] == alice
    assert issued["issuer"] == authority.identifier
    assert issued["attributes"] == {"component": "web", "team": "blue"}
    assert issued["expires_at"] - issued["created_at"] == 3600
    assert issued["is_verified"] is True
    readable = ockam.out("credential", "issue", "--as", "authority", "--for", alice)
    assert f"subject: {alice}" in readable
    assert f"issuer: {authority.identifier}" in readable

    credential = authority.issue(alice, "component=web")
    assert ockam.out("credential", "verify", "--issuer", authority.identifier,
                     "--credential", credential) == "true"  # fmt: skip
    # The issuer may also be given as its exported identity.
    verified = ockam.json(
        "credential", "verify", "--issuer", authority.exported, "--credential", credential
    )
    assert verified == {
        "is_valid": True,
        "subject": alice,
        "issuer": authority.identifier,
        "scope": "project-member",
        "attributes": {"component": "web"},
        "expires_at": verified["expires_at"],  # type: ignore[index]
    }
    shown = ockam.json("credential", "show", "--credential", credential)
    assert isinstance(shown, dict)
    assert shown["credential"] == credential


def test_verify_refuses_a_wrong_issuer_a_flipped_byte_and_an_expired_credential(
    ockam: Ockam,
) -> None:
    authority = Authority(ockam)
    ockam.run("identity", "create", "alice")
    alice = ockam.out("identity", "show", "alice")
    credential = authority.issue(alice, "component=web")
    wrong = refused(ockam, "credential", "verify", "--issuer", alice, "--credential", credential)
    assert f"issued by {authority.identifier}, which is not the trusted authority {alice}" in wrong
    altered = refused(
        ockam, "credential", "verify", "--issuer", authority.identifier,
        "--credential", flip_byte(credential),
    )  # fmt: skip
    assert "signature does not verify" in altered
    short = authority.issue(alice, ttl="1s")
    verify = ("credential", "verify", "--issuer", authority.identifier, "--credential", short)
    deadline = time.monotonic() + 30
    while ockam.run(*verify, check=False).returncode == 0:  # valid until its second is over
        assert time.monotonic() < deadline
    expired = refused(ockam, *verify)
    assert "credential expired at" in expired
    assert len({wrong, altered, expired}) == 3


def test_store_list_and_show_at_a_trusting_node(ockam: Ockam) -> None:
    authority = Authority(ockam)
    alice = authority.trusting_node("alice")
    assert "has no credential" in refused(ockam, "credential", "show", "--at", "alice")
    credential = authority.issue(alice, "component=web")
    stored = ockam.json(
        "credential", "store", "--at", "alice", "--issuer", authority.identifier,
        "--credential", credential,
    )  # fmt: skip
    assert isinstance(stored, dict)
    assert (stored["name"], stored["node"], stored["subject"]) == ("alice", "alice", alice)
    assert stored["attributes"] == {"component": "web"}
    assert ockam.out("credential", "show", "--at", "alice") == credential
    assert ockam.out("credential", "list") == f"alice  alice  {alice}"
    listed = ockam.json("credential", "list", "--at", "/node/alice")
    assert isinstance(listed, list)
    assert [item["credential"] for item in listed] == [credential]
    assert ockam.json("credential", "list", "--at", "bob") == []
    shown = ockam.json("credential", "show", "alice")
    assert isinstance(shown, dict)
    assert shown["is_verified"] is True
    # A stopped and started node presents its stored credential again.
    ockam.run("node", "stop", "alice")
    ockam.run("node", "start", "alice")
    assert ockam.out("credential", "show", "--at", "alice") == credential


def test_a_node_created_with_its_credential(ockam: Ockam) -> None:
    authority = Authority(ockam)
    ockam.run("identity", "create", "bob")
    bob = ockam.out("identity", "show", "bob")
    credential = authority.issue(bob, "role=server")
    authority.trusting_node("bob", "--credential", credential, "--credential-scope",
                            "project-member")  # fmt: skip
    assert ockam.out("credential", "show", "--at", "bob") == credential
    # Without a trusted authority a node holds no credential.
    ockam.run("node", "create", "plain")
    assert "trusts no authority" in refused(ockam, "credential", "show", "--at", "plain")
    other = authority.issue(bob)
    assert "trusts no authority" in refused(
        ockam, "credential", "store", "--at", "plain", "--issuer", authority.identifier,
        "--credential", other,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("credential", "issue", "--for", "Ixyz"), "error: bad --for: invalid identifier"),
        (("credential", "issue", "--for", "I" + "0" * 64, "--ttl", "soon"), "error: bad --ttl"),
        (("credential", "issue", "--for", "I" + "0" * 64, "-a", "x"), "error: bad --attribute"),
        (
            ("credential", "issue", "--as", "nobody", "--for", "I" + "0" * 64),
            "error: there is no identity named 'nobody'",
        ),
        (
            ("credential", "verify", "--issuer", "I" + "0" * 64, "--credential", "zz"),
            "error: Credential is not valid: a credential in hex has only the digits",
        ),
        (
            ("credential", "verify", "--issuer", "I" + "0" * 64, "--credential", "abcd"),
            "error: Credential is not valid: not a credential",
        ),
        (
            ("credential", "verify", "--issuer", "I" + "0" * 64),
            "error: give the credential with --credential HEX or --credential-path FILE",
        ),
        (("credential", "show", "nope"), "error: there is no stored credential named 'nope'"),
        (
            ("node", "create", "n1", "--credential", "abcd"),
            "error: --authority-route, --credential-scope and --credential need "
            "--authority-identity",
        ),
        (
            ("node", "create", "n1", "--authority-identity", "abc"),
            "error: bad --authority-identity",
        ),
    ],
)
def test_bad_input_is_one_line_and_exit_1(
    ockam: Ockam, args: tuple[str, ...], message: str
) -> None:
    assert refused(ockam, *args).startswith(message)


@pytest.mark.parametrize(
    "command",
    [
        ("credential", "issue"), ("credential", "verify"), ("credential", "store"),
        ("credential", "list"), ("credential", "show"),
    ],
)  # fmt: skip
def test_every_command_has_help(ockam: Ockam, command: tuple[str, ...]) -> None:
    result = ockam.run(*command, "--help")
    assert "Usage:" in result.stdout
    assert "--output" in result.stdout


def test_node_create_help_shows_the_trust_flags(ockam: Ockam) -> None:
    shown = ockam.run("node", "create", "--help").stdout
    for flag in ("--authority-identity", "--authority-route", "--credential-scope", "--credential"):
        assert flag in shown


def test_a_node_with_an_authority_route_asks_there_for_its_credential(ockam: Ockam) -> None:
    authority = Authority(ockam)
    # Not the authority: alice's secure channel there finds another identity and gives up,
    # and alice says so in her log, and tries again later.
    ockam.run("node", "create", "elsewhere")
    authority.trusting_node("alice", "--authority-route", "/node/elsewhere/service/api")
    port = ockam.listener_port("elsewhere")
    trust = json.loads((ockam.home / "nodes" / "alice" / "trust.json").read_text())
    assert trust["authority_route"] == f"/ip4/127.0.0.1/tcp/{port}/service/api"
    log = ockam.home / "nodes" / "alice" / "stdout.log"
    deadline = time.monotonic() + 30
    while "could not fetch this node's credential from" not in log.read_text():
        assert time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    assert f"/tcp/{port}/service/api" in log.read_text()
