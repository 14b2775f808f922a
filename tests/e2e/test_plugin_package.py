"""A plugin as a user ships it: its own distribution (pyproject with `[build-system]`),
installed with pip into a fresh virtual environment, then started, configured, listed and
stopped with the `ockam` of that environment."""

from __future__ import annotations

import subprocess
import sys
import sysconfig
from pathlib import Path

import msgspec
import pytest

from .conftest import Ockam

pytestmark = pytest.mark.e2e

PYPROJECT = """\
[build-system]
requires = ["setuptools>=61", "wheel"]
build-backend = "setuptools.build_meta"

[project]
name = "ockam-greeter"
version = "0.1.0"
dependencies = ["trio-ockam"]

[project.entry-points."ockam.actors"]
greeter = "ockam_greeter:Greeter"
"""

MODULE = '''\
import msgspec

from actors import Actor, LocalMessage


class Greeter(Actor):
    """Replies with a greeting."""

    class Options(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
        greeting: str = "hello"

    def __init__(self, options: "Greeter.Options") -> None:
        self.options = options

    async def handle_message(self, message: LocalMessage) -> None:
        text = f"{self.options.greeting}, {message.payload.decode()}"
        await self.ctx.reply(message, text.encode())
'''


def _fresh_venv(tmp_path: Path) -> Path:
    """A new virtual environment that sees this one's packages (trio-ockam and pip) through a
    `.pth` file, so installing the plugin fetches only its build backend; its python."""
    venv = tmp_path / "venv"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120
    )
    python = venv / "bin" / "python"
    site = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.strip()
    ours = sysconfig.get_paths()["purelib"]
    (Path(site) / "trio_ockam_base.pth").write_text(f"import site; site.addsitedir({ours!r})\n")
    return python


def test_a_plugin_package_installed_with_pip(tmp_path: Path) -> None:
    project = tmp_path / "ockam-greeter"
    (project / "ockam_greeter").mkdir(parents=True)
    (project / "pyproject.toml").write_text(PYPROJECT)
    (project / "ockam_greeter" / "__init__.py").write_text(MODULE)
    python = _fresh_venv(tmp_path)
    subprocess.run(
        [
            str(python),
            "-m",
            "pip",
            "install",
            "--quiet",
            # Build isolation: pip fetches the plugin's build backend from the package index.
            str(project),
        ],
        check=True,
        timeout=300,
    )
    ockam = Ockam(tmp_path / "ockam-home", python=str(python))
    try:
        ockam.run("node", "create", "n1")
        assert "installed plugins: greeter, reverse" in ockam.out("service", "start", "--help")
        assert ockam.out("service", "start", "greeter", "--at", "n1") == "/service/greeter"
        start = ("service", "start", "greeter", "--at", "n1", "--addr")
        assert ockam.out(*start, "hey", "--config", '{"greeting": "hey"}') == "/service/hey"
        send = ("message", "send", "you", "--from", "n1", "--to")
        assert ockam.out(*send, "/service/greeter") == "hello, you"
        assert ockam.out(*send, "/service/hey") == "hey, you"

        bad = ockam.run(*start, "bad", "--config", '{"greeting": 1}', check=False)
        assert bad.returncode == 1
        assert bad.stderr.strip() == (
            "error: invalid configuration for service 'greeter': "
            "Expected `str`, got `int` - at `$.greeting`"
        )

        listed = msgspec.json.decode(ockam.out("service", "list", "--at", "n1", "--output", "json"))
        greeters = [s for s in listed if s["name"] == "greeter"]
        assert greeters == [
            {
                "name": "greeter",
                "address": "greeter",
                "kind": "plugin",
                "running": True,
                "entry_point": "ockam_greeter:Greeter",
                "error": "",
            },
            {
                "name": "greeter",
                "address": "hey",
                "kind": "plugin",
                "running": True,
                "entry_point": "ockam_greeter:Greeter",
                "error": "",
            },
        ]
        assert {
            "name": "reverse",
            "address": "",
            "kind": "plugin",
            "running": False,
            "entry_point": "actors._example_plugin:Reverse",
            "error": "",
        } in listed

        assert ockam.out("service", "stop", "/service/hey", "--at", "n1") == "/service/hey"
        gone = ockam.run(*send, "/service/hey", check=False)
        assert gone.stderr.strip() == "error: no worker at /service/hey"
        assert ockam.out(*send, "/service/greeter") == "hello, you"
        running = [
            s["address"]
            for s in msgspec.json.decode(ockam.out("service", "list", "--output", "json"))
            if s["running"]
        ]
        assert "hey" not in running
        assert "greeter" in running
    finally:
        ockam.run("node", "delete", "--all", "--yes", check=False, timeout=120)
