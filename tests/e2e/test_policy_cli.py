"""Policies through the `ockam` command, with real nodes, `python3 -m http.server` and curl.

An outlet created with `--allow '(= subject.identifier "<alt>")'` serves an inlet whose
secure channel proves the identity `alt` (`tcp-inlet create --identity alt`), and refuses a
plain route and a channel that proves the inlet node's own identity; a resource-type policy
guards an outlet created after it, also after the node restarted.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import msgspec
import pytest

from .conftest import Ockam, free_port
from .test_relay_portal import http_server

pytestmark = pytest.mark.e2e

IDENTIFIER = re.compile(r"^I[0-9a-f]{64}$")
PAGE = "served through a portal\n"


def curl(port: int) -> subprocess.CompletedProcess[str]:
    """GET /page.txt through the inlet listening on `port`, bounded by curl's --max-time."""
    return subprocess.run(
        [
            "curl",
            "--silent",
            "--show-error",
            "--max-time",
            "15",
            f"http://127.0.0.1:{port}/page.txt",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )


def inlet(ockam: Ockam, to: str, *extra: str) -> int:
    """A TCP inlet on node `client` reaching `to`; returns its port."""
    port = free_port()
    ockam.run(
        "tcp-inlet", "create", "--at", "client", "--from", f"127.0.0.1:{port}", "--to", to, *extra
    )
    return port


def site(tmp_path: Path) -> str:
    web = tmp_path / "web"
    web.mkdir()
    (web / "page.txt").write_text(PAGE)
    return str(web)


def assert_served(port: int) -> None:
    result = curl(port)
    assert result.returncode == 0, result.stderr
    assert result.stdout == PAGE


def assert_refused(port: int) -> None:
    result = curl(port)
    assert result.returncode != 0, result.stdout
    assert PAGE not in result.stdout


def server_client_and_alt(ockam: Ockam) -> str:
    """Nodes `server` and `client`, and the identity `alt`; returns alt's identifier."""
    identifier = ockam.out("identity", "create", "alt")
    assert IDENTIFIER.match(identifier)
    ockam.run("node", "create", "server")
    ockam.run("node", "create", "client")
    return identifier


def test_allow_serves_only_the_allowed_identity(ockam: Ockam, tmp_path: Path) -> None:
    alt = server_client_and_alt(ockam)
    web_port = free_port()
    allow = f'(= subject.identifier "{alt}")'
    with http_server(web_port, site(tmp_path)):
        created = ockam.json(
            "tcp-outlet", "create", "--at", "server", "--to", f"127.0.0.1:{web_port}",
            "--allow", allow,
        )  # fmt: skip
        assert isinstance(created, dict)
        policy = ockam.json("policy", "show", "outlet", "--at", "server")
        assert policy == {"resource": "outlet", "action": "handle_message", "expression": allow}

        # No secure channel: no subject, refused.
        assert_refused(inlet(ockam, "/node/server/service/outlet"))
        # A secure channel that proves the client node's own identity: refused.
        assert_refused(inlet(ockam, "/node/server/secure/api/service/outlet"))
        # The same route, its channel proving alt: served, again and again.
        served = inlet(ockam, "/node/server/secure/api/service/outlet", "--identity", "alt")
        assert_served(served)
        assert_served(served)

    log = ockam.out("node", "logs", "server")
    refusals = [line for line in log.splitlines() if "refused a portal" in line]
    assert any("no secure channel" in line and allow in line for line in refusals), log
    client_identifier = ockam.out("identity", "show", "client")
    assert any(f"subject {client_identifier}" in line and allow in line for line in refusals)
    assert not any(f"subject {alt}" in line for line in refusals)
    # No key of any vault (the identities' and the Noise static keys, base64) is in the log.
    for vault in ockam.home.glob("vaults/*/vault.json"):
        data = msgspec.json.decode(vault.read_bytes())
        keys = [*data["identities"].values(), *data["static_keys"].values()]
        assert keys
        assert not any(key in log for key in keys)


def test_inlet_identity_must_exist(ockam: Ockam) -> None:
    ockam.run("node", "create", "server")
    ockam.run("node", "create", "client")
    result = ockam.run(
        "tcp-inlet", "create", "--at", "client", "--to", "/node/server/secure/api/service/outlet",
        "--identity", "nobody", check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert result.stderr.strip().startswith("error: there is no identity named 'nobody'")
    assert "Traceback" not in result.stderr


def test_bad_allow_is_refused_before_anything_is_created(ockam: Ockam) -> None:
    ockam.run("node", "create", "server")
    result = ockam.run(
        "tcp-outlet", "create", "--at", "server", "--to", "127.0.0.1:1", "--allow",
        "component.db or", check=False,
    )  # fmt: skip
    assert result.returncode == 1
    assert "successfully parsed: `component.db`, but ` or` cannot be parsed" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert ockam.json("tcp-outlet", "list", "--at", "server") == []


def test_policy_round_trip(ockam: Ockam) -> None:
    ockam.run("node", "create", "n1")
    by_type = '(= subject.component "web")'
    typed = ockam.json(
        "policy", "create", "--at", "n1", "--resource-type", "tcp-outlet", "--expression", by_type
    )
    assert typed == {"resource": "tcp-outlet", "action": "handle_message", "expression": by_type}
    named = ockam.json(
        "policy", "create", "--at", "n1", "--resource", "db", "--allow", "component.db or admin"
    )
    assert named == {
        "resource": "db",
        "action": "handle_message",
        "expression": "component.db or admin",
    }
    assert ockam.json("policy", "list", "--at", "n1") == [named, typed]
    assert ockam.json("policy", "show", "tcp-outlet", "--at", "n1") == typed
    assert ockam.out("policy", "show", "db", "--at", "n1") == "db  component.db or admin"

    # A restarted node keeps its policies.
    ockam.run("node", "stop", "n1")
    ockam.run("node", "start", "n1")
    assert ockam.json("policy", "list", "--at", "n1") == [named, typed]

    deleted = ockam.json("policy", "delete", "db", "--at", "n1", "-y")
    assert deleted == {"resource": "db", "action": "handle_message", "node": "n1"}
    missing = ockam.run("policy", "show", "db", "--at", "n1", check=False)
    assert missing.returncode == 1
    assert missing.stderr.strip() == "error: Policy for resource 'db' was not found on node n1"
    again = ockam.run("policy", "delete", "db", "--at", "n1", "--yes", check=False)
    assert again.returncode == 1
    ockam.run("node", "stop", "n1")
    ockam.run("node", "start", "n1")
    assert ockam.json("policy", "list", "--at", "n1") == [typed]

    # A new node of a deleted node's name starts with no policies.
    ockam.run("node", "delete", "n1", "--yes")
    ockam.run("node", "create", "n1")
    assert ockam.json("policy", "list", "--at", "n1") == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--resource", "db", "--allow", "component.db or"],
            "error: invalid --allow `component.db or`: successfully parsed: `component.db`, "
            "but ` or` cannot be parsed (at character 12)",
        ),
        (
            ["--resource", "db", "--expression", '(= subject.a "1"'],
            "error: invalid --expression `(= subject.a \"1\"`: unclosed '(' (at character 0)",
        ),
        (
            ["--resource", "db", "--expression", '(= subject.a "1"))'],
            "error: invalid --expression `(= subject.a \"1\"))`: ')' without matching '(' "
            "(at character 17)",
        ),
        (["--expression", "(= a b)"], "error: give one of --resource-type or --resource"),
        (["--resource", "db"], "error: give one of --expression or --allow"),
        (
            ["--resource", "db", "--expression", "(= a b)", "--allow", "a"],
            "error: give one of --expression or --allow",
        ),
    ],
)
def test_policy_create_errors(ockam: Ockam, args: list[str], message: str) -> None:
    ockam.run("node", "create", "n1")
    result = ockam.run("policy", "create", "--at", "n1", *args, check=False)
    assert result.returncode == 1
    assert result.stderr.strip() == message
    assert ockam.json("policy", "list", "--at", "n1") == []


def test_policy_help_and_unknown_type(ockam: Ockam) -> None:
    for verb in ("create", "show", "list", "delete"):
        help_text = ockam.out("policy", verb, "--help")
        assert "--at" in help_text
        assert "--output" in help_text
    assert "--resource-type" in ockam.out("policy", "create", "--help")
    assert "--allow" in ockam.out("tcp-outlet", "create", "--help")
    inlet_help = ockam.out("tcp-inlet", "create", "--help")
    assert "--allow" in inlet_help
    assert "--identity" in inlet_help
    result = ockam.run(
        "policy", "create", "--resource-type", "kafka", "--expression", "(= a b)", check=False
    )
    assert result.returncode != 0
    assert len(result.stderr.strip().splitlines()) == 1


def test_resource_type_policy_guards_a_new_outlet(ockam: Ockam, tmp_path: Path) -> None:
    alt = server_client_and_alt(ockam)
    web_port = free_port()
    expression = f'(= subject.identifier "{alt}")'
    ockam.run(
        "policy", "create", "--at", "server", "--resource-type", "tcp-outlet",
        "--expression", expression,
    )  # fmt: skip
    # Through a restart: the restored policy guards the outlet created after it.
    ockam.run("node", "stop", "server")
    ockam.run("node", "start", "server")
    with http_server(web_port, site(tmp_path)):
        ockam.run("tcp-outlet", "create", "--at", "server", "--to", f"127.0.0.1:{web_port}")
        to = "/node/server/secure/api/service/outlet"
        assert_refused(inlet(ockam, "/node/server/service/outlet"))
        assert_refused(inlet(ockam, to))
        served = inlet(ockam, to, "--identity", "alt")
        assert_served(served)

        # Its own policy wins over its type's: now only the client node's identity may pass.
        client = ockam.out("identity", "show", "client")
        ockam.run(
            "policy", "create", "--at", "server", "--resource", "outlet",
            "--expression", f'(= subject.identifier "{client}")',
        )  # fmt: skip
        assert_refused(served)
        assert_served(inlet(ockam, to))


def worked_example() -> str:
    """The shell block of docs/trust.md's policy worked example."""
    text = (Path(__file__).resolve().parents[2] / "docs" / "trust.md").read_text()
    section = text[text.index("## Policies on the command line") :]
    section = section[section.index("**Worked example**") :]
    found = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert found is not None, "the worked example has no ```sh block"
    return found.group(1)


def test_the_worked_example(ockam: Ockam, tmp_path: Path) -> None:
    """docs/trust.md's worked example, as printed but for its ports (free ones here)."""
    script = worked_example()
    ports = {port: free_port() for port in ("5000", "6001", "6002", "6003")}
    for old, new in ports.items():
        assert f"127.0.0.1:{old}" in script
        script = script.replace(f"127.0.0.1:{old}", f"127.0.0.1:{new}")
    bin_dir = str(Path(sys.executable).parent)  # where `ockam` and `python3` are
    env = dict(ockam.env, PATH=f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}")
    with http_server(ports["5000"], site(tmp_path)):
        done = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", script],
            capture_output=True,
            text=True,
            env=env,
            timeout=180,
        )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines.count("refused") == 2, done.stdout
    assert done.stdout.endswith(PAGE)
    log = ockam.out("node", "logs", "server")
    assert sum("refused a portal" in line for line in log.splitlines()) == 2
