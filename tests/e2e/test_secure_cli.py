"""Secure channels, identities and vaults through the `ockam` command, with real nodes."""

from __future__ import annotations

import os
import re
import signal
import stat
import time
from collections.abc import Callable

import pytest

from .conftest import Ockam

pytestmark = pytest.mark.e2e

IDENTIFIER = re.compile(r"^I[0-9a-f]{64}$")
CHANNEL = re.compile(r"^/service/[0-9a-f]{32}$")


def wait_until(predicate: Callable[[], bool], seconds: float = 10.0) -> bool:
    """Poll `predicate` until it is true or `seconds` pass."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def identifier_of(ockam: Ockam, node: str) -> str:
    status = ockam.json("node", "show", node)
    assert isinstance(status, dict)
    identifier = ockam.out("identity", "show", str(status["identity_name"]))
    assert IDENTIFIER.match(identifier)
    return identifier


def channels_at(ockam: Ockam, node: str) -> list[dict[str, object]]:
    channels = ockam.json("secure-channel", "list", "--at", node)
    assert isinstance(channels, list)
    return channels


def test_seed_secure_channel_through_a_forwarder(ockam: Ockam) -> None:
    ockam.run("node", "create", "blue")
    ockam.run("node", "create", "green")
    forwarder = ockam.out(
        "forwarder", "create", "blue", "--at", "/node/green", "--to", "/node/blue"
    )
    assert forwarder == "/service/forward_to_blue"
    ockam.run("node", "create", "yellow")

    to_api = "/node/green/service/forward_to_blue/service/api"
    channel = ockam.out("secure-channel", "create", "--from", "/node/yellow", "--to", to_api)
    assert CHANNEL.match(channel)
    reply = ockam.out(
        "message", "send", "hello", "--from", "/node/yellow", "--to", "-/service/uppercase",
        input=channel + "\n",
    )  # fmt: skip
    assert reply == "HELLO"

    [info] = channels_at(ockam, "yellow")
    assert info["address"] == channel
    assert info["role"] == "initiator"
    assert info["identifier"] == identifier_of(ockam, "yellow")
    assert info["remote_identifier"] == identifier_of(ockam, "blue")
    assert str(info["route"]).endswith("/service/forward_to_blue/service/api")
    [accepted] = channels_at(ockam, "blue")
    assert accepted["role"] == "responder"
    assert accepted["remote_identifier"] == identifier_of(ockam, "yellow")
    assert channels_at(ockam, "green") == []  # green only relays ciphertext
    shown = ockam.json("secure-channel", "show", channel, "--at", "yellow")
    assert shown == info

    # `/secure/api` in a route opens a channel on the fly, or reuses a live one to that listener.
    inline = "/node/green/service/forward_to_blue/secure/api/service/uppercase"
    assert ockam.out("message", "send", "hi", "--from", "yellow", "--to", inline) == "HI"
    assert [c["address"] for c in channels_at(ockam, "yellow")] == [channel]
    on_the_fly = "/node/blue/secure/api/service/echo"
    assert ockam.out("message", "send", "hi", "--from", "yellow", "--to", on_the_fly) == "hi"
    assert len(channels_at(ockam, "yellow")) == 2
    assert len(channels_at(ockam, "blue")) == 2

    # Deleting one end closes the other.
    assert ockam.out("secure-channel", "delete", channel, "--at", "yellow") == channel
    assert wait_until(lambda: len(channels_at(ockam, "blue")) == 1)
    assert len(channels_at(ockam, "yellow")) == 1
    failed = ockam.run("secure-channel", "show", channel, "--at", "yellow", check=False)
    assert failed.returncode == 1
    assert "was not found on node yellow" in failed.stderr

    # Without --from, a short-lived node with a throwaway identity opens the channel, and
    # closes it before it exits: blue is not left with a dead channel behind the relay.
    assert ockam.out("message", "send", "hey", "--to", inline) == "HEY"
    assert wait_until(lambda: len(channels_at(ockam, "blue")) == 1)


@pytest.mark.parametrize("how", ["node stop", "SIGTERM"])
def test_stopping_a_node_closes_its_channels_across_a_relay(ockam: Ockam, how: str) -> None:
    ockam.run("node", "create", "blue")
    ockam.run("node", "create", "green")
    ockam.run("relay", "create", "blue", "--at", "/node/green", "--to", "/node/blue")
    ockam.run("node", "create", "yellow")
    to_api = "/node/green/service/forward_to_blue/service/api"
    channel = ockam.out("secure-channel", "create", "--from", "yellow", "--to", to_api)
    [info] = channels_at(ockam, "yellow")
    assert info["address"] == channel

    # Yellow's connection goes to green, which stays up: only blue's Close ends the channel.
    if how == "node stop":
        ockam.run("node", "stop", "blue")
    else:
        os.kill(ockam.node_pid("blue"), signal.SIGTERM)
    assert wait_until(lambda: channels_at(ockam, "yellow") == [], seconds=5)
    log = (ockam.home / "nodes" / "yellow" / "stdout.log").read_text()
    assert "the other end closed it" in log


def test_authorized_identifiers(ockam: Ockam) -> None:
    ockam.run("node", "create", "n1")
    ockam.run("node", "create", "n2")
    n1, n2 = identifier_of(ockam, "n1"), identifier_of(ockam, "n2")
    to_api = "/node/n2/service/api"

    wrong = ockam.run(
        "secure-channel", "create", "--from", "n1", "--to", to_api, "--authorized", n1,
        check=False,
    )  # fmt: skip
    assert wrong.returncode == 1
    assert f"the listener's identity {n2} is not authorized" in wrong.stderr
    assert "Traceback" not in wrong.stderr

    channel = ockam.out(
        "secure-channel", "create", "--from", "n1", "--to", to_api, "--authorized", n2
    )
    assert CHANNEL.match(channel)
    echo = f"{channel}/service/echo"
    assert ockam.out("message", "send", "x", "--from", "n1", "--to", echo) == "x"

    picky = ockam.out(
        "secure-channel-listener", "create", "picky", "--at", "n2", "--authorized", n2
    )
    assert picky == "/service/picky"
    listed = ockam.out("secure-channel-listener", "list", "--at", "n2")
    assert listed.split() == ["/service/api", "/service/picky"]
    started = time.monotonic()
    refused = ockam.run(
        "secure-channel", "create", "--from", "n1", "--to", "/node/n2/service/picky", check=False
    )
    assert refused.returncode == 1
    assert time.monotonic() - started < 8  # refused at once, not after the 10 s timeout
    assert f"identity {n1} is not authorized" in refused.stderr
    log = (ockam.home / "nodes" / "n2" / "stdout.log").read_text()
    assert "secure channel listener picky: refused identity" in log

    bad = ockam.run(
        "secure-channel", "create", "--from", "n1", "--to", to_api, "--authorized", "I00",
        check=False,
    )  # fmt: skip
    assert bad.returncode == 1
    assert "invalid identifier 'I00'" in bad.stderr


def test_identities_and_vaults(ockam: Ockam) -> None:
    alice = ockam.out("identity", "create", "alice")
    assert IDENTIFIER.match(alice)
    assert ockam.out("identity", "show", "alice") == alice
    again = ockam.run("identity", "create", "alice", check=False)
    assert again.returncode == 1
    assert "identity 'alice' already exists" in again.stderr
    assert ockam.json("identity", "list") == [
        {"name": "alice", "identifier": alice, "vault": "default", "is_default": False}
    ]
    default = ockam.out("identity", "show")
    assert IDENTIFIER.match(default)
    assert default != alice
    assert ockam.out("identity", "list").splitlines() == [f"alice  {alice}", f"default  {default}"]

    vault = ockam.home / "vaults" / "default" / "vault.json"
    assert stat.S_IMODE(vault.stat().st_mode) == 0o600
    assert stat.S_IMODE(vault.parent.stat().st_mode) == 0o700
    assert alice not in vault.read_text()  # keys, not identifiers, are stored

    assert ockam.out("vault", "create", "v1") == "v1"
    v1 = ockam.home / "vaults" / "v1" / "vault.json"
    assert stat.S_IMODE(v1.stat().st_mode) == 0o600
    assert ockam.run("vault", "create", "v1", check=False).returncode == 1
    assert ockam.out("vault", "list").splitlines() == ["default", "v1"]
    bob = ockam.out("identity", "create", "bob", "--vault", "v1")
    assert ockam.json("identity", "list", "--vault", "v1") == [
        {"name": "bob", "identifier": bob, "vault": "v1", "is_default": False}
    ]
    missing = ockam.run("identity", "show", "carol", check=False)
    assert missing.returncode == 1
    assert "no identity named 'carol'" in missing.stderr


def test_node_identity_is_kept_across_restarts(ockam: Ockam) -> None:
    alice = ockam.out("identity", "create", "alice")
    ockam.run("node", "create", "n1", "--identity", "alice")
    ockam.run("node", "create", "n2")
    assert identifier_of(ockam, "n1") == alice
    n2 = identifier_of(ockam, "n2")
    assert ockam.out("identity", "show", "n2") == n2  # named after the node

    ockam.run("node", "stop", "n2")
    ockam.run("node", "start", "n2")
    assert identifier_of(ockam, "n2") == n2
    channel = ockam.out("secure-channel", "create", "--from", "n1", "--to", "/node/n2/service/api")
    [info] = channels_at(ockam, "n1")
    assert info["address"] == channel
    assert info["remote_identifier"] == n2
