"""The ockam setup: a portal made of ``ockam`` nodes, inlet -> relay -> outlet, and its teardown.

``open_portal`` drives the ``ockam`` command in a temporary OCKAM_HOME and yields the running
portal (``ockam_opener``: an opener yielding its inlet's port); ``find_ockam`` says which
``ockam`` to run.
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
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Literal

import msgspec
import trio

from ._baselines import HOST, Link, SetupFailed, SetupSkipped, free_port, log_tail, wait_ready
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
                # Not the caller's directory: `python -m cli` (how a node starts) puts its
                # working directory first on sys.path, and a repository there would shadow
                # the ockam under test (another commit's, with --compare-ref).
                cwd=self.home,
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


class OckamPortal:
    """A running portal: the inlet's port, and the node processes behind it."""

    def __init__(self, entry: int, cli: _OckamCli, nodes: list[str]) -> None:
        self.entry = entry
        self.nodes = nodes
        self._cli = cli

    async def node_pids(self) -> dict[str, int]:
        """Each node's pid, from ``ockam node show NAME --output json``.

        Raises:
            SetupFailed: a node is not known or shows no pid.
        """
        pids: dict[str, int] = {}
        for node in self.nodes:
            shown = await self._cli.run("node", "show", node, "--output", "json", timeout=10)
            try:
                pids[node] = int(msgspec.json.decode(shown)["pid"])
            except (msgspec.DecodeError, KeyError, TypeError, ValueError) as exc:
                raise SetupFailed(f"`ockam node show {node}` printed no pid: {exc!r}") from None
        return pids


@contextlib.asynccontextmanager
async def open_portal(
    echo_port: int,
    *,
    ockam: str,
    hops: Literal[2, 3] = 3,
    secure: bool = False,
    link: Link | None = None,
) -> AsyncIterator[OckamPortal]:
    """The seed's portal in front of the echo server, as ockam nodes in a temporary OCKAM_HOME.

    ``hops=3``: inlet on node ``client`` -> node ``relay`` -> outlet on node ``server`` (the
    relay ``forward_to_server`` registered at ``relay``), three processes; with ``secure`` the
    inlet's route goes through a secure channel from ``client`` to ``server``'s ``api``
    listener, through the relay. ``hops=2``: the inlet on the relay node itself, two processes.
    ``link``: the server node's connection to the relay goes through it (a long link).
    At exit: ``ockam node delete --all --yes``.
    """
    if secure and hops != 3:
        raise ValueError("a secure channel runs inlet node -> outlet node: hops=3")
    tmp = tempfile.mkdtemp(prefix="bench-ockam-")
    cli = _OckamCli(ockam, Path(tmp))
    nodes: list[str] = []
    try:
        async with contextlib.AsyncExitStack() as stack:
            relay_port = free_port()
            nodes.append("relay")
            await cli.run(
                "node", "create", "relay", "--tcp-listener-address", f"{HOST}:{relay_port}"
            )
            nodes.append("server")
            await cli.run("node", "create", "server")
            await cli.run(
                "tcp-outlet", "create", "--at", "server",
                "--from", "/service/outlet", "--to", f"{HOST}:{echo_port}",
            )  # fmt: skip
            relay_at = "/node/relay"
            if link is not None:
                relay_at = f"/ip4/{HOST}/tcp/{await stack.enter_async_context(link(relay_port))}"
            await cli.run("relay", "create", "server", "--at", relay_at, "--to", "/node/server")
            inlet_at, route = "relay", "/service/forward_to_server/service/outlet"
            if hops == 3:
                nodes.append("client")
                await cli.run("node", "create", "client")
                inlet_at, route = "client", f"/node/relay{route}"
            if secure:
                route = await _secure_route(cli)
            entry = free_port()
            await cli.run(
                "tcp-inlet", "create", "--at", inlet_at, "--from", f"{HOST}:{entry}", "--to", route
            )
            await wait_ready(entry, timeout=30, what="ockam portal")
            yield OckamPortal(entry, cli, nodes)
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


async def _secure_route(cli: _OckamCli) -> str:
    """Opens the secure channel client -> server (through the relay); the inlet's route in it."""
    to_api = "/node/relay/service/forward_to_server/service/api"
    try:
        printed = await cli.run(
            "secure-channel", "create", "--from", "/node/client", "--to", to_api
        )
    except SetupFailed as exc:
        raise SetupSkipped(f"secure-channel create failed: {exc}") from None
    found = _SERVICE.search(printed)
    if found is None:
        raise SetupSkipped(f"secure-channel create printed no /service/<address>: {printed!r}")
    return f"{found.group()}/service/outlet"


def ockam_opener(
    *, ockam: str, hops: Literal[2, 3] = 3, secure: bool = False, link: Link | None = None
) -> Callable[[int], AbstractAsyncContextManager[int]]:
    """``open_portal`` as a baseline's opener: given the echo port, yields the inlet's port."""

    @contextlib.asynccontextmanager
    async def open_ockam_portal(echo_port: int) -> AsyncIterator[int]:
        async with open_portal(
            echo_port, ockam=ockam, hops=hops, secure=secure, link=link
        ) as portal:
            yield portal.entry

    return open_ockam_portal
