"""Every example of docs/python-api.md runs as printed: it prints what the page says, logs no
warning but those the page shows (its nodes shut down cleanly), and passes `mypy --strict`."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import trio

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "python-api.md"

EXAMPLE = re.compile(
    r"^## (?P<title>.+?)\n.*?```python\n(?P<code>.*?)```\n\nprints\n\n```\n(?P<out>.*?)```"
    r"(?:\n\nand logs[^\n]*\n[^`]*```\n(?P<log>.*?)```)?",
    re.DOTALL | re.MULTILINE,
)
"""A section's program, what it prints and what it logs (only when the page says "and logs")."""


def examples() -> dict[str, tuple[str, str, str]]:
    """Each section's program, and what the page says it prints and logs, by section title."""
    found = {
        m["title"]: (m["code"], m["out"], m["log"] or "")
        for m in EXAMPLE.finditer(PAGE.read_text())
    }
    assert found, "docs/python-api.md has no example with its output"
    return found


SECTIONS = ["Nodes", "Routes", "Relays", "Portals", "Secure channels", "Trust"]


def test_every_section_has_an_example() -> None:
    assert list(examples()) == SECTIONS


@pytest.mark.parametrize("section", SECTIONS)
async def test_the_example_prints_what_the_page_says(section: str, tmp_path: Path) -> None:
    code, expected, logged = examples()[section]
    script = tmp_path / "example.py"
    script.write_text(code)
    with trio.fail_after(60):
        done = await trio.run_process(
            [sys.executable, str(script)], capture_stdout=True, capture_stderr=True, check=False
        )
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode() == expected
    # Python's last-resort log handler writes every warning to stderr: none but the page's,
    # shutdown included.
    assert done.stderr.decode() == logged


async def test_the_examples_pass_mypy_strict(tmp_path: Path) -> None:
    scripts = []
    for number, (code, _, _) in enumerate(examples().values()):
        scripts.append(tmp_path / f"example_{number}.py")
        scripts[-1].write_text(code)
    with trio.fail_after(240):
        done = await trio.run_process(
            [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", *map(str, scripts)],
            cwd=ROOT,  # the project's mypy cache
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
