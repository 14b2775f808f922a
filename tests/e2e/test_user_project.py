"""The relay + portal test of docs/testing.md, copied into a project of its own outside the
repository, as a user writes it: only the installed package and its pytest plugin, no
`conftest.py`. It passes under pytest, and its tests pass `mypy --strict`, with the editable
install that docs/testing.md names (`--config-settings editable_mode=compat`)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from .test_plugin_package import _fresh_venv

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


def page_blocks() -> tuple[str, str]:
    """The Python test and the `pyproject.toml` under the page's relay and portal heading."""
    text = (ROOT / "docs" / "testing.md").read_text()
    section = text[text.index("## A relay and a portal, as a test") :]
    test = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    pyproject = re.search(r"```toml\n(.*?)```", section, re.DOTALL)
    assert test is not None, "the section lost its ```python block"
    assert pyproject is not None, "the section lost its ```toml block"
    return test.group(1), pyproject.group(1)


@pytest.fixture(scope="module")
def user_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh virtual environment with this repository installed editable in the mode that
    docs/testing.md gives for type checkers (it sees this environment's other packages)."""
    python = _fresh_venv(tmp_path_factory.mktemp("user-venv"))
    subprocess.run(
        [
            *(str(python), "-m", "pip", "install", "--quiet", "--no-deps"),
            *("-e", str(ROOT), "--config-settings", "editable_mode=compat"),
        ],
        check=True,
        timeout=300,
    )
    return python


@pytest.fixture
def user_project(tmp_path: Path) -> Path:
    test, pyproject = page_blocks()
    project = tmp_path / "my-portal-tests"
    (project / "tests").mkdir(parents=True)
    (project / "pyproject.toml").write_text(pyproject)
    (project / "tests" / "test_relay_portal.py").write_text(test)
    return project


def run(python: Path, project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(python), "-m", *args],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_pages_relay_and_portal_test_passes_in_a_user_project(
    user_python: Path, user_project: Path
) -> None:
    done = run(user_python, user_project, "pytest", "-q", "-p", "no:cacheprovider")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "2 passed" in done.stdout


def test_the_pages_relay_and_portal_test_passes_mypy_strict(
    user_python: Path, user_project: Path
) -> None:
    done = run(user_python, user_project, "mypy", "--strict", "--no-error-summary", "tests")
    assert done.returncode == 0, done.stdout + done.stderr
