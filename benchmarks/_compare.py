"""Another commit's ``ockam``, built for one run: a temporary git worktree with its own venv.

``open_ref_ockam(ref)`` checks out ``ref`` with ``git worktree add --detach`` into a temporary
directory, makes a venv there and installs the checkout into it (``pip install -e``), yields
that venv's ``ockam`` and the commit, and removes the worktree and the directory at exit. The
benchmark runs it beside the current checkout's ``ockam``, against the same baselines in the
same run (``portal_bench --compare-ref REF``).
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

import msgspec
import trio

from ._baselines import SetupFailed
from ._report import progress

__all__ = ["Build", "describe_checkout", "open_ref_ockam"]

_REPO_ROOT = Path(__file__).resolve().parent.parent


class Build(msgspec.Struct, frozen=True, kw_only=True):
    """An ``ockam`` command and the commit it was built from."""

    ockam: str
    commit: str
    label: str


async def _run(argv: list[str], *, cwd: Path, timeout: float) -> str:
    """Runs argv; its stdout, stripped.

    Raises:
        SetupFailed: it failed (with the tail of its stderr) or took more than ``timeout`` s.
    """
    command = " ".join(Path(argv[0]).name if i == 0 else a for i, a in enumerate(argv[:4]))
    with trio.move_on_after(timeout):
        result = await trio.run_process(
            argv,
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
        if result.returncode != 0:
            tail = result.stderr.decode(errors="replace").strip().splitlines()[-3:]
            raise SetupFailed(f"`{command}` failed: {' | '.join(tail) or 'no message'}")
        return result.stdout.decode(errors="replace").strip()
    raise SetupFailed(f"`{command}` took more than {timeout:g} s")


async def _git(*args: str) -> str:
    return await _run(["git", *args], cwd=_REPO_ROOT, timeout=60)


async def describe_checkout() -> str:
    """This checkout's short commit, with ``+changes`` when the code an ockam runs differs
    from it (changes under benchmarks/, docs/ and tests/ do not count)."""
    commit = await _git("rev-parse", "--short", "HEAD")
    outside = (":!benchmarks", ":!docs", ":!tests")
    dirty = await _git("status", "--porcelain", "--untracked-files=no", "--", ".", *outside)
    return f"{commit}+changes" if dirty else commit


@contextlib.asynccontextmanager
async def open_ref_ockam(ref: str, *, timeout: float = 600) -> AsyncIterator[Build]:
    """Builds ``ref``'s ockam in a temporary worktree and venv; removes both at exit.

    Raises:
        SetupFailed: ``ref`` is not a commit here, or the worktree, venv or install failed.
    """
    try:
        commit = await _git("rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    except SetupFailed:
        raise SetupFailed(f"--compare-ref {ref!r}: not a commit in {_REPO_ROOT}") from None
    short = await _git("rev-parse", "--short", commit)
    tmp = Path(tempfile.mkdtemp(prefix="bench-ref-"))
    tree, venv = tmp / "tree", tmp / "venv"
    try:
        progress.print(f"building ockam at {ref} ({short}) in {tmp}")
        await _git("worktree", "add", "--detach", str(tree), commit)
        await _run([sys.executable, "-m", "venv", str(venv)], cwd=tmp, timeout=timeout)
        pip = str(venv / "bin" / "pip")
        await _run([pip, "install", "--quiet", "--editable", str(tree)], cwd=tmp, timeout=timeout)
        yield Build(ockam=str(venv / "bin" / "ockam"), commit=commit, label=short)
    finally:
        with trio.CancelScope(shield=True):
            with contextlib.suppress(SetupFailed):
                await _git("worktree", "remove", "--force", str(tree))
            shutil.rmtree(tmp, ignore_errors=True)
            with contextlib.suppress(SetupFailed):
                await _git("worktree", "prune")
