"""`ockam enroll`: a self-hosted project `default` (an authority node and a project node) set up,
reported, deleted with `node delete --all` and brought back the same; its project node lets in
members only, and creates relays only for those whose credential allows them.

Routes go to the project node explicitly (`/ip4/127.0.0.1/tcp/P/secure/api`); `/project/default`
is the node side's."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from .conftest import Ockam, free_port, pid_alive, port_bound

pytestmark = pytest.mark.e2e

NODES = ("default-authority", "default-project")


def enroll(ockam: Ockam, *flags: str) -> dict[str, Any]:
    """`ockam enroll --output json`."""
    data = ockam.json("enroll", *flags)
    assert isinstance(data, dict)
    return data


def information(ockam: Ockam) -> dict[str, Any]:
    data = ockam.json("project", "information")
    assert isinstance(data, dict)
    return data


def port_of(route: str) -> int:
    """P in /ip4/H/tcp/P/service/api."""
    return int(route.split("/")[4])


def secure_api(project: dict[str, Any]) -> str:
    """The route to a secure channel with the project node's listener `api`."""
    return f"/ip4/127.0.0.1/tcp/{port_of(project['access_route'])}/secure/api"


def member_credential(ockam: Ockam, *args: str) -> str:
    """`project enroll ARGS --output json`: the member credential (hex)."""
    data = ockam.json("project", "enroll", *args)
    assert isinstance(data, dict)
    return str(data["credential"]["credential"])


def member_node(ockam: Ockam, name: str, identity: str, credential: str) -> None:
    """A node under `identity` that trusts the project's authority and holds `credential`."""
    authority = information(ockam)["authority_identity"]
    ockam.out(
        "node", "create", name, "--identity", identity,
        "--authority-identity", authority, "--credential", credential,
    )  # fmt: skip


def error_line(ockam: Ockam, *args: str) -> str:
    """The one error line of a failing `ockam ARGS...`."""
    result = ockam.run(*args, check=False, timeout=60)
    assert result.returncode == 1, result.stdout
    assert result.stderr.count("\n") == 1, result.stderr
    return result.stderr.strip()


def test_enroll_sets_up_a_self_hosted_project_and_says_how_to_join(
    ockam: Ockam, tmp_path: Path
) -> None:
    said = ockam.out("enroll")
    assert "Created project default." in said
    assert "self-hosted" in said
    for name in NODES:
        assert f"node {name} (started)" in said
    assert "ockam project ticket" in said
    assert "ockam project enroll TICKET" in said
    assert "--public-address" in said  # loopback only: how to serve other machines

    listed = ockam.json("node", "list")
    assert isinstance(listed, list)
    assert {item["node_name"] for item in listed} >= set(NODES)
    project = information(ockam)
    assert project["name"] == "default"
    assert project["identity"] == ockam.out("identity", "show", "default-project")
    assert project["authority_identity"] == ockam.out(
        "identity", "show", "default-authority", "--full", "--encoding", "hex"
    )
    assert port_of(project["access_route"]) == ockam.listener_port("default-project")
    assert port_of(project["authority_access_route"]) == ockam.listener_port("default-authority")
    admin = ockam.out("identity", "show")
    assert admin in said

    shown = ockam.json("project", "show")
    assert isinstance(shown, dict)
    assert {k: shown[k] for k in project} == project
    assert shown["project_change_history"] == ockam.out(
        "identity", "show", "default-project", "--full", "--encoding", "hex"
    )
    assert ockam.out("project", "list") == "default"

    # Another machine reads the file `project information` writes.
    path = tmp_path / "project.json"
    path.write_text(ockam.out("project", "information", "--output", "json"))
    other = Ockam(tmp_path / "other-home")
    assert other.out("project", "import", "--project-file", str(path)) == "default"
    assert information(other) == project


def test_a_second_enroll_reports_the_enrollment_and_changes_nothing(ockam: Ockam) -> None:
    first = enroll(ockam)
    assert first["created"] is True
    assert first["started"] == list(NODES)
    assert first["attributes"] == {"ockam-relay": "*", "ockam-role": "enroller"}
    pids = {name: ockam.node_pid(name) for name in NODES}
    before = information(ockam)

    again = ockam.run("enroll")
    assert again.returncode == 0
    assert "Found project default." in again.stdout
    assert "nothing changed" in again.stdout
    second = enroll(ockam)
    assert second["created"] is False
    assert second["started"] == []
    assert second["project"] == first["project"]
    assert {name: ockam.node_pid(name) for name in NODES} == pids
    assert information(ockam) == before


def test_the_project_nodes_are_never_the_default_node(ockam: Ockam) -> None:
    enroll(ockam)
    assert ockam.run("node", "default", check=False).returncode == 1
    # A command without --at makes a default node of its own, as with no node at all.
    outlet = ockam.run("tcp-outlet", "create", "--to", str(free_port()))
    assert outlet.stdout.strip() == "/service/outlet"
    default = ockam.out("node", "default")
    assert default not in NODES
    assert default in outlet.stderr
    for node in NODES:
        assert ockam.json("tcp-outlet", "list", "--at", node) == []


def test_node_delete_all_leaves_nothing_and_enroll_brings_back_the_same_project(
    ockam: Ockam,
) -> None:
    enroll(ockam)
    before = information(ockam)
    credential = member_credential(ockam)
    ticket = ockam.out("project", "ticket")
    pids = [ockam.node_pid(name) for name in NODES]
    ports = [port_of(before["access_route"]), port_of(before["authority_access_route"])]

    ockam.out("node", "delete", "--all", "--yes")
    assert ockam.json("node", "list") == []
    assert not any(pid_alive(pid) for pid in pids)
    assert not any(port_bound(port) for port in ports)
    assert information(ockam) == before  # the project record stays

    back = enroll(ockam)
    assert back["created"] is False
    assert back["started"] == list(NODES)
    assert information(ockam) == before  # same identities, same routes
    # The credential from before the restart is still valid: the admin's node relays.
    member_node(ockam, "admin-node", "default", credential)
    relay = ockam.out("relay", "create", "x", "--at", secure_api(before), "--to", "admin-node")
    assert relay == "/service/forward_to_x"
    echoed = ockam.out(
        "message", "send", "hello", "--from", "admin-node",
        "--to", f"{secure_api(before)}/service/forward_to_x/service/uppercase",
    )  # fmt: skip
    assert echoed == "HELLO"
    # A ticket made before the restart, unused, still lets a newcomer join.
    ockam.out("identity", "create", "newcomer")
    assert member_credential(ockam, ticket, "--identity", "newcomer")


def test_the_project_node_creates_relays_only_as_credentials_allow(ockam: Ockam) -> None:
    enroll(ockam)
    project = information(ockam)
    at = secure_api(project)
    for name, relay in (("bob", None), ("carol", "carol")):
        ockam.out("identity", "create", name)
        ticket = ockam.out("project", "ticket", *(["--relay", relay] if relay else []))
        member_node(
            ockam, f"{name}-node", name, member_credential(ockam, ticket, "--identity", name)
        )

    refused = error_line(ockam, "relay", "create", "bob", "--at", at, "--to", "bob-node")
    bob = ockam.out("identity", "show", "bob")
    assert (
        f"identity {bob} may not create relay 'bob' at project default: its credential has no "
        "ockam-relay attribute"
    ) in refused
    ockam.out("node", "restart", "default-project")  # its folder keeps its role
    refused = error_line(ockam, "relay", "create", "other", "--at", at, "--to", "carol-node")
    assert "may not create relay 'other'" in refused
    assert "allows only relay 'carol'" in refused
    relay = ockam.out("relay", "create", "carol", "--at", at, "--to", "carol-node")
    assert relay == "/service/forward_to_carol"


def test_the_project_node_refuses_a_secure_channel_to_a_non_member(ockam: Ockam) -> None:
    enroll(ockam)
    project = information(ockam)
    member_node(ockam, "admin-node", "default", member_credential(ockam))
    ockam.out("relay", "create", "x", "--at", secure_api(project), "--to", "admin-node")
    ockam.out("identity", "create", "mallory")
    ockam.out("node", "create", "stranger", "--identity", "mallory")
    mallory = ockam.out("identity", "show", "mallory")
    reason = (
        f"identity {mallory} is not a member of project default: it presented no credential "
        "from the project's authority"
    )
    refused = error_line(
        ockam, "relay", "create", "mallory", "--at", secure_api(project), "--to", "stranger"
    )
    assert reason in refused
    refused = error_line(
        ockam, "message", "send", "hi", "--from", "stranger",
        "--to", f"{secure_api(project)}/service/echo",
    )  # fmt: skip
    assert reason in refused
    # Nor does plain TCP reach its relays: from a connection, only its channels are reachable.
    plain = f"/ip4/127.0.0.1/tcp/{port_of(project['access_route'])}"
    silent = error_line(
        ockam, "message", "send", "hi", "--from", "stranger", "--timeout", "2",
        "--to", f"{plain}/service/forward_to_x/service/echo",
    )  # fmt: skip
    assert "no reply from" in silent
    logged = ockam.out("node", "logs", "default-project")
    assert "this node lets messages from a connection reach only what authenticates them" in logged


def test_enroll_listens_where_the_flags_and_the_configuration_say(
    ockam: Ockam, tmp_path: Path
) -> None:
    authority_port, project_port = free_port(), free_port()
    config = tmp_path / "enroll.yaml"
    config.write_text(
        f"project:\n  tcp-listener-address: 127.0.0.1:{project_port}\npublic-address: localhost\n"
    )
    data = enroll(
        ockam,
        "--authority-tcp-listener-address", f"127.0.0.1:{authority_port}",
        "--config", str(config),
    )  # fmt: skip
    hosted = data["self_hosted"]
    assert hosted["authority"]["listener"] == f"127.0.0.1:{authority_port}"
    assert hosted["relays"][0]["listener"] == f"127.0.0.1:{project_port}"
    project = information(ockam)
    assert project["access_route"] == f"/dnsaddr/localhost/tcp/{project_port}/service/api"
    assert project["authority_access_route"] == (
        f"/dnsaddr/localhost/tcp/{authority_port}/service/api"
    )
    assert ockam.listener_port("default-project") == project_port
    moved = error_line(
        ockam, "enroll", "--project-tcp-listener-address", f"127.0.0.1:{free_port()}"
    )
    assert "already listens on" in moved
    assert "cannot change it" in error_line(ockam, "enroll", "--public-address", "example.com")
    assert enroll(ockam, "--config", str(config))["started"] == []  # the same: nothing changes

    bad = tmp_path / "bad.yaml"
    bad.write_text("relay-address: 1\n")
    assert "not an enroll configuration" in error_line(ockam, "enroll", "--config", str(bad))


def test_a_project_that_cannot_start_leaves_nothing_behind(ockam: Ockam) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        failed = error_line(ockam, "enroll", "--project-tcp-listener-address", f"127.0.0.1:{port}")
        assert "default-project" in failed
    assert ockam.json("node", "list") == []
    assert ockam.json("project", "list") == []
    assert enroll(ockam)["created"] is True  # on ports of its own choosing
