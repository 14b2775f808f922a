"""`node create` from configurations, with real node processes: inline, files, variables, a
portal through a relay described in two files, and rollback when a resource fails."""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest

from .conftest import Ockam, free_port, pid_alive, port_bound
from .test_relay_portal import http_server

pytestmark = pytest.mark.e2e


def names(ockam: Ockam) -> list[str]:
    listed = ockam.json("node", "list")
    assert isinstance(listed, list)
    return sorted(str(node.get("node_name", node.get("name"))) for node in listed)


def test_inline_configuration_creates_the_node_and_its_outlet(ockam: Ockam) -> None:
    target = free_port()
    ockam.run(
        "node", "create", "--configuration", f"{{name: n1, tcp-outlets: {{db: {{to: {target}}}}}}}"
    )
    outlets = ockam.json("tcp-outlet", "list", "--at", "n1")
    assert isinstance(outlets, list)
    [outlet] = outlets
    assert outlet["worker_address"] == "/service/db"
    assert outlet["to"] == f"127.0.0.1:{target}"


def test_two_files_make_a_portal_through_a_relay(ockam: Ockam, tmp_path: Path) -> None:
    """The worked example of docs/node-configuration.md, with free ports."""
    web, inlet = free_port(), free_port()
    (tmp_path / "db.yaml").write_text(
        'name: db\nvariables:\n  DB_PORT: "0"\n'
        "tcp-outlets:\n  db:\n    to: ${DB_PORT}\n"
        "relays:\n  db:\n    at: /node/relay\n"
    )
    (tmp_path / "app.yaml").write_text(
        "name: app\ntcp-inlets:\n  db:\n"
        f"    from: 127.0.0.1:{inlet}\n"
        "    to: /node/relay/service/forward_to_db/service/db\n"
    )
    (tmp_path / "index.html").write_text("through the relay\n")
    with http_server(web, str(tmp_path)):
        ockam.run("node", "create", "relay")
        # --variable wins over the file's `variables:` section.
        ockam.run("node", "create", str(tmp_path / "db.yaml"), "--variable", f"DB_PORT={web}")
        ockam.run("node", "create", str(tmp_path / "app.yaml"))
        page = subprocess.run(
            ["curl", "--silent", "--show-error", f"http://127.0.0.1:{inlet}/index.html"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        )
    assert page.stdout == "through the relay\n"
    assert names(ockam) == ["app", "db", "relay"]


def test_two_unnamed_nodes_from_one_file_get_two_names(ockam: Ockam, tmp_path: Path) -> None:
    path = tmp_path / "outlet.yaml"
    path.write_text("tcp-outlets:\n  web: {to: 8080}\n")
    first = ockam.out("node", "create", str(path))
    second = ockam.out("node", "create", str(path))
    assert first != second
    assert sorted([first, second]) == [f"/node/{n}" for n in names(ockam)]


def test_a_failing_resource_deletes_the_node_again(ockam: Ockam) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        listener = free_port()
        result = ockam.run(
            "node", "create", "--configuration",
            f"{{name: half, tcp-listener-address: 127.0.0.1:{listener}, "
            f"tcp-outlets: {{db: {{to: 5432}}}}, "
            f"tcp-inlets: {{web: {{from: {port}, to: /service/db}}}}}}",
            check=False,
        )  # fmt: skip
    assert result.returncode == 1
    assert "TCP inlet web on node half" in result.stderr
    assert "in use" in result.stderr
    assert "Traceback" not in result.stderr
    assert names(ockam) == []
    assert not port_bound(listener)
    assert not (ockam.home / "nodes" / "half").exists()
    leftover = subprocess.run(["pgrep", "-f", "node create half"], capture_output=True, text=True)
    assert not [pid for pid in leftover.stdout.split() if pid_alive(int(pid))]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (["--configuration", "{tcp-outlets: {db: {to: 65536}}}"], "`$.tcp-outlets.db.to`"),
        (["--configuration", "{name: n, tcp-outlets: {db: {to: '${PORT}'}}}"], "'PORT'"),
        (["--configuration", "{tcp-outlets: {db: {to: 1}}}", "--variable", "PORT="], "'PORT'"),
        (["--configuration", "{relays: {r: {}}}"], "`$.relays.r`"),
        (["missing.yaml"], "no configuration file 'missing.yaml'"),
    ],
)
def test_a_bad_configuration_creates_nothing(
    ockam: Ockam, arguments: list[str], message: str
) -> None:
    result = ockam.run("node", "create", *arguments, check=False)
    assert result.returncode == 1
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert names(ockam) == []
