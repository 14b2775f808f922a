"""The README's "Using it from Python" example runs as printed and passes `mypy --strict`."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import trio

ROOT = Path(__file__).resolve().parent.parent


def readme_example() -> str:
    """The first Python block under the README's "Using it from Python" heading."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Using it from Python") :]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found is not None, "the README's Python section has no ```python block"
    return found.group(1)


async def test_the_readme_python_example_prints_the_uppercased_reply(tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(readme_example())
    with trio.fail_after(60):
        done = await trio.run_process(
            [sys.executable, str(script)], capture_stdout=True, capture_stderr=True, check=False
        )
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().strip() == "b'HELLO'"


async def test_the_readme_python_example_passes_mypy_strict(tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(readme_example())
    with trio.fail_after(240):
        done = await trio.run_process(
            [sys.executable, "-m", "mypy", "--strict", "--no-error-summary", str(script)],
            cwd=ROOT,  # the project's mypy cache
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
