"""A node's life with real `ockam` processes, as Ockam's users script it: create, stop,
create again, kill -9, restart, foreground nodes, log files, names, the default node, `-y`
on deletes and `--version`."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from importlib.metadata import version

import pytest

from .conftest import OCKAM, Ockam, free_port, pid_alive, port_bound
from .test_secure_cli import identifier_of, wait_until

pytestmark = pytest.mark.e2e

PETNAME = re.compile(r"[a-z]+-[a-z]+")


def status_of(ockam: Ockam, node: str) -> str:
    """`running` or `stopped`, as `node list --output json` says."""
    listed = ockam.json("node", "list")
    assert isinstance(listed, list)
    [item] = [i for i in listed if i["node_name"] == node]
    return str(item["status"]["status"] if isinstance(item["status"], dict) else item["status"])


def uppercase(ockam: Ockam, node: str, text: str) -> str:
    """`text` sent to node `node`'s uppercase service through its TCP listener."""
    return ockam.out("message", "send", text, "--to", f"/node/{node}/service/uppercase")


def test_stop_then_create_brings_the_node_back(ockam: Ockam) -> None:
    ockam.run("node", "create", "n1")
    port, identifier = ockam.listener_port("n1"), identifier_of(ockam, "n1")
    ockam.run("node", "stop", "n1")
    assert wait_until(lambda: not port_bound(port))
    assert status_of(ockam, "n1") == "stopped"

    assert ockam.out("node", "create", "n1") == "/node/n1"
    assert ockam.listener_port("n1") == port
    assert identifier_of(ockam, "n1") == identifier
    assert uppercase(ockam, "n1", "back") == "BACK"


def test_killed_node_is_stopped_and_create_starts_it_again(ockam: Ockam) -> None:
    ockam.run("node", "create", "n1")
    port, pid = ockam.listener_port("n1"), ockam.node_pid("n1")
    os.kill(pid, signal.SIGKILL)
    assert wait_until(lambda: not pid_alive(pid))
    assert status_of(ockam, "n1") == "stopped"
    shown = ockam.json("node", "show", "n1")
    assert isinstance(shown, dict)
    assert shown["status"] == "stopped"
    assert "pid" not in shown

    assert ockam.out("node", "create", "n1") == "/node/n1"
    assert status_of(ockam, "n1") == "running"
    assert ockam.listener_port("n1") == port
    assert ockam.node_pid("n1") != pid
    assert uppercase(ockam, "n1", "again") == "AGAIN"


def test_create_on_a_running_node_fails_in_one_line(ockam: Ockam) -> None:
    ockam.run("node", "create", "n1")
    pid = ockam.node_pid("n1")
    again = ockam.run("node", "create", "n1", check=False)
    assert again.returncode == 1
    assert again.stderr.strip().count("\n") == 0
    assert "n1 is already running" in again.stderr
    assert "Traceback" not in again.stderr
    assert ockam.node_pid("n1") == pid


def test_restart_keeps_the_listener_and_the_identity(ockam: Ockam) -> None:
    ockam.run("node", "create", "n1")
    port, pid, identifier = (
        ockam.listener_port("n1"),
        ockam.node_pid("n1"),
        identifier_of(ockam, "n1"),
    )
    assert ockam.out("node", "restart", "n1") == "/node/n1"
    assert not pid_alive(pid)
    assert ockam.node_pid("n1") != pid
    assert ockam.listener_port("n1") == port
    assert identifier_of(ockam, "n1") == identifier
    assert uppercase(ockam, "n1", "restarted") == "RESTARTED"
    # A stopped node restarts too.
    ockam.run("node", "stop", "n1")
    ockam.run("node", "restart", "n1")
    assert status_of(ockam, "n1") == "running"


@contextmanager
def foreground(ockam: Ockam, *args: str) -> Iterator[subprocess.Popen[str]]:
    """`ockam node create ARGS... -f` running in the background of the test, once it runs."""
    process = subprocess.Popen(
        [*OCKAM, "node", "create", *args, "-f"],
        env=ockam.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        name = args[0]
        assert any(line.strip() == f"/node/{name}" for line in iter(process.stdout.readline, ""))
        yield process
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=20)
        assert process.stdout is not None
        process.stdout.close()


@pytest.mark.parametrize("how", ["SIGTERM", "SIGINT", "node stop"])
def test_foreground_node_leaves_nothing_once_stopped(ockam: Ockam, how: str) -> None:
    port = free_port()
    with foreground(ockam, "fg", f"--tcp-listener-address=127.0.0.1:{port}") as process:
        assert port_bound(port)
        assert status_of(ockam, "fg") == "running"
        assert uppercase(ockam, "fg", "fg") == "FG"
        socket_mode = (ockam.home / "nodes" / "fg" / "api.sock").stat().st_mode & 0o777
        assert socket_mode == 0o600
        if how == "node stop":
            ockam.run("node", "stop", "fg")
        else:
            process.send_signal(signal.Signals[how])
        assert process.wait(timeout=20) == 0
    assert not pid_alive(process.pid)
    assert not port_bound(port)
    assert ockam.json("node", "list") == []
    assert not (ockam.home / "nodes" / "fg").exists()


def test_two_nodes_of_one_name_are_refused(ockam: Ockam) -> None:
    with foreground(ockam, "fg") as process:
        for extra in (["-f"], ["--foreground"], []):
            second = ockam.run("node", "create", "fg", *extra, check=False)
            assert second.returncode == 1
            assert "fg is already running" in second.stderr
        assert process.poll() is None
        assert uppercase(ockam, "fg", "still") == "STILL"


def test_foreground_node_over_a_stopped_one_keeps_its_state(ockam: Ockam) -> None:
    ockam.run("node", "create", "n1")
    port = ockam.listener_port("n1")
    ockam.run("node", "stop", "n1")
    with foreground(ockam, "n1") as process:
        assert ockam.listener_port("n1") == port
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    # It was made by `node create` in the background: it stays, stopped.
    assert status_of(ockam, "n1") == "stopped"


def test_background_nodes_write_stdout_and_stderr_logs(ockam: Ockam) -> None:
    ockam.run("node", "create", "n1")
    folder = ockam.home / "nodes" / "n1"
    assert (folder / "stdout.log").is_file()
    assert (folder / "stderr.log").is_file()
    assert not (folder / "node.log").exists()
    assert "node n1 is running" in (folder / "stdout.log").read_text()
    logs = ockam.run("node", "logs", "n1")
    assert "node n1 is running" in logs.stdout
    (folder / "stderr.log").write_text("an error line\n")
    assert ockam.out("node", "logs", "n1", "--err") == "an error line"
    assert "an error line" in ockam.run("node", "logs", "n1").stderr


def test_node_names(ockam: Ockam) -> None:
    bad = ockam.run("node", "create", "n!", check=False)
    assert bad.returncode == 1
    assert "invalid node name 'n!'" in bad.stderr
    assert "letters, digits, '_' and '-'" in bad.stderr
    for config in ("n.1", "node.yaml", "./config.yaml", "configs/n1"):
        missing = ockam.run("node", "create", config, check=False)
        assert missing.returncode == 1, config
        assert f"no configuration file {config!r}" in missing.stderr
        assert "Traceback" not in missing.stderr
    assert ockam.out("node", "create", "Node_1-b") == "/node/Node_1-b"


def test_a_node_without_a_name_gets_a_memorable_one(ockam: Ockam) -> None:
    created = ockam.out("node", "create")
    name = created.removeprefix("/node/")
    assert PETNAME.fullmatch(name), created
    assert status_of(ockam, name) == "running"


def test_commands_without_at_use_or_create_the_default_node(ockam: Ockam) -> None:
    missing = ockam.run("node", "default", check=False)
    assert missing.returncode == 1
    assert "no default node" in missing.stderr
    target = free_port()
    # No node yet: the outlet goes to a default node made on the spot, as in Ockam.
    outlet = ockam.run("tcp-outlet", "create", "--to", f"127.0.0.1:{target}")
    assert outlet.stdout.strip() == "/service/outlet"
    default = ockam.out("node", "default")
    assert PETNAME.fullmatch(default)
    assert default in outlet.stderr
    assert "/service/outlet" in ockam.out("tcp-outlet", "list")

    ockam.run("node", "create", "n2")
    assert ockam.out("node", "default") == default
    assert ockam.out("node", "default", "n2") == "n2"
    assert ockam.out("node", "default") == "n2"
    listed = ockam.json("node", "list")
    assert isinstance(listed, list)
    assert {i["node_name"]: i["is_default"] for i in listed} == {default: False, "n2": True}
    assert ockam.out("tcp-outlet", "list") == ""
    # The default node deleted, the oldest one is the default again.
    ockam.run("node", "delete", "n2")
    assert ockam.out("node", "default") == default


DELETABLE = [
    "node",
    "tcp-outlet",
    "tcp-inlet",
    "relay",
    "tcp-listener",
    "tcp-connection",
    "secure-channel",
    "secure-channel-listener",
    "service",
    "identity",
    "vault",
]


@pytest.mark.parametrize("group", DELETABLE)
def test_every_delete_takes_yes(ockam: Ockam, group: str) -> None:
    text = ockam.out(group, "delete", "--help")
    assert "--yes" in text
    assert "-y" in text


def test_deletes_with_yes_delete(ockam: Ockam) -> None:
    ockam.run("node", "create", "n1")
    ockam.run("node", "create", "n2")
    at = ("--at", "n1")
    outlet = ockam.out("tcp-outlet", "create", *at, "--to", f"127.0.0.1:{free_port()}")
    inlet_port = free_port()
    ockam.run("tcp-inlet", "create", *at, "--from", f"127.0.0.1:{inlet_port}", "--to", outlet)
    ockam.run("relay", "create", "r1", "--at", "/node/n2", "--to", "n1")
    listener = f"127.0.0.1:{free_port()}"
    ockam.run("tcp-listener", "create", listener, *at)
    connection = ockam.out("tcp-connection", "create", "--from", "n1", "--to", listener)
    channel = ockam.out("secure-channel", "create", "--from", "n1", "--to", "/node/n2/service/api")
    ockam.run("secure-channel-listener", "create", "picky", *at)
    ockam.run("service", "start", "hop", *at)
    ockam.run("identity", "create", "spare")
    ockam.run("vault", "create", "v2")

    inlets = ockam.json("tcp-inlet", "list", *at)
    assert isinstance(inlets, list)
    [inlet] = inlets
    ockam.run("tcp-outlet", "delete", outlet, *at, "-y")
    gone = ockam.run("tcp-outlet", "delete", outlet, *at, "--yes", check=False)
    assert gone.returncode == 1
    assert "not found" in gone.stderr
    ockam.run("tcp-inlet", "delete", str(inlet["alias"]), *at, "-y")
    ockam.run("relay", "delete", "r1", "--at", "n1", "--yes")
    ockam.run("tcp-listener", "delete", listener, *at, "-y")
    ockam.run("tcp-connection", "delete", connection, *at, "-y")
    ockam.run("secure-channel", "delete", channel, *at, "-y")
    ockam.run("secure-channel-listener", "delete", "picky", *at, "-y")
    ockam.run("service", "delete", "hop", *at, "-y")
    ockam.run("identity", "delete", "spare", "-y")
    ockam.run("vault", "delete", "v2", "--yes")
    ockam.run("node", "delete", "n2", "-y")
    assert ockam.out("tcp-outlet", "list", *at) == ""
    assert ockam.out("tcp-inlet", "list", *at) == ""
    assert not port_bound(inlet_port)
    listed = ockam.json("node", "list")
    assert isinstance(listed, list)
    assert [i["node_name"] for i in listed] == ["n1"]


def test_version_is_the_package_version(ockam: Ockam) -> None:
    printed = ockam.out("--version")
    assert printed == f"ockam {version('trio-ockam')}"
    assert printed != "ockam 0.0.0"


def test_service_start_without_at_creates_the_default_node(ockam: Ockam) -> None:
    started = ockam.out("service", "start", "uppercase", "--addr", "up")
    assert started == "/service/up"
    default = ockam.out("node", "default")
    assert PETNAME.fullmatch(default)
    assert ockam.out("message", "send", "hi", "--to", f"/node/{default}/service/up") == "HI"
