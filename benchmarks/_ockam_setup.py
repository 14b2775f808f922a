"""The ockam setup: a portal made of ``ockam`` nodes, inlet -> relay -> outlet, and its teardown.

``open_ockam_portal`` drives the ``ockam`` command in a temporary OCKAM_HOME and yields the
inlet's port; ``find_ockam`` says which ``ockam`` to run.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import trio

from ._baselines import HOST, SetupFailed, SetupSkipped, free_port, log_tail, wait_ready
from ._report import progress


def find_ockam(explicit: str | None = None) -> str | None:
    """The ``ockam`` to run: ``--ockam``, else $OCKAM, else the venv's, else the one on PATH."""
    for candidate in (explicit, os.environ.get("OCKAM")):
        if candidate:
            return shutil.which(candidate)
    beside_python = Path(sys.executable).parent / "ockam"
    if os.access(beside_python, os.X_OK):
        return str(beside_python)
    return shutil.which("ockam")


class _OckamCli:
    """Runs ``ockam`` commands with one OCKAM_HOME; output goes to files, not pipes."""

    def __init__(self, ockam: str, home: Path) -> None:
        self.ockam = ockam
        self.home = home
        self.env = {**os.environ, "OCKAM_HOME": str(home / "ockam-home")}
        self._runs = 0

    async def run(self, *args: str, timeout: float = 30) -> str:
        """Runs ``ockam ARGS``; returns its stdout.

        Raises:
            SetupFailed: the command failed or took more than ``timeout`` seconds.
        """
        self._runs += 1
        out, err = self.home / f"{self._runs}.out", self.home / f"{self._runs}.err"
        command = "ockam " + " ".join(args)
        with out.open("wb") as stdout, err.open("wb") as stderr, trio.move_on_after(timeout):
            result = await trio.run_process(
                [self.ockam, *args],
                stdin=subprocess.DEVNULL,
                stdout=stdout,
                stderr=stderr,
                check=False,
                env=self.env,
            )
            if result.returncode != 0:
                raise SetupFailed(
                    f"`{command}` exited with status {result.returncode}: {log_tail(err)}"
                )
            return out.read_text(errors="replace")
        raise SetupFailed(f"`{command}` took more than {timeout:g} s: {log_tail(err)}")

    async def delete_all(self, nodes: list[str]) -> bool:
        """``ockam node delete --all --yes``; if that fails, ends each node by its pid.

        Returns whether every node is known to be gone.
        """
        if not await trio.Path(self.env["OCKAM_HOME"]).exists():
            return True  # no command got as far as creating any state
        for args in (("--all", "--yes"), ("--all",)):
            with contextlib.suppress(SetupFailed):
                await self.run("node", "delete", *args, timeout=60)
                return True
        gone = True
        for node in nodes:
            try:
                shown = msgspec.json.decode(
                    await self.run("node", "show", node, "--output", "json", timeout=10)
                )
                pid = int(shown["pid"])
            except (SetupFailed, msgspec.DecodeError, KeyError, TypeError, ValueError):
                gone = False
                continue
            await _end_foreign_pid(pid)
        return gone


async def _end_foreign_pid(pid: int, *, grace: float = 3.0) -> None:
    """SIGTERM, then SIGKILL, a process that is not our child (a detached node)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        with trio.move_on_after(grace):
            while True:
                os.kill(pid, 0)
                await trio.sleep(0.05)
        os.kill(pid, signal.SIGKILL)


_SERVICE = re.compile(r"/service/[0-9A-Za-z_]+")


@contextlib.asynccontextmanager
async def open_ockam_portal(echo_port: int, *, ockam: str, secure: bool) -> AsyncIterator[int]:
    """The seed's portal: client inlet -> relay node -> server outlet -> echo server.

    Nodes ``relay`` (with a TCP listener on a free port), ``server`` (outlet to the echo
    server, relay ``forward_to_server`` registered at ``relay``) and ``client`` (the inlet on a
    free port) in a temporary OCKAM_HOME; with ``secure``, the inlet's route goes through a
    secure channel from ``client`` to ``server``'s ``api`` listener, through the relay.
    At exit: ``ockam node delete --all --yes``.
    """
    tmp = tempfile.mkdtemp(prefix="bench-ockam-")
    cli = _OckamCli(ockam, Path(tmp))
    nodes: list[str] = []
    try:
        nodes.append("relay")
        await cli.run("node", "create", "relay", "--tcp-listener-address", f"{HOST}:{free_port()}")
        nodes.append("server")
        await cli.run("node", "create", "server")
        await cli.run(
            "tcp-outlet", "create", "--at", "server",
            "--from", "/service/outlet", "--to", f"{HOST}:{echo_port}",
        )  # fmt: skip
        await cli.run("relay", "create", "server", "--at", "/node/relay", "--to", "/node/server")
        nodes.append("client")
        await cli.run("node", "create", "client")
        route = "/node/relay/service/forward_to_server/service/outlet"
        if secure:
            to_api = "/node/relay/service/forward_to_server/service/api"
            try:
                printed = await cli.run(
                    "secure-channel", "create", "--from", "/node/client", "--to", to_api
                )
            except SetupFailed as exc:
                raise SetupSkipped(f"secure-channel create failed: {exc}") from None
            found = _SERVICE.search(printed)
            if found is None:
                raise SetupSkipped(
                    f"secure-channel create printed no /service/<address>: {printed!r}"
                )
            route = f"{found.group()}/service/outlet"
        entry = free_port()
        await cli.run(
            "tcp-inlet", "create", "--at", "client", "--from", f"{HOST}:{entry}", "--to", route
        )
        await wait_ready(entry, timeout=30, what="ockam portal")
        yield entry
    finally:
        with trio.CancelScope(shield=True):
            if await cli.delete_all(nodes):
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                # Keep the state so that whoever reads this can find the nodes.
                progress.print(
                    "[yellow]ockam: could not delete the nodes; their OCKAM_HOME is"
                    f" {cli.env['OCKAM_HOME']}[/]"
                )
