"""`node create --project FILE|NAME`'s checks, without a node: what `trust.json` records of the
project, and the one-line errors for a project a node cannot be in."""

from __future__ import annotations

from pathlib import Path

import msgspec
import pytest

from cli._node_trust import ProjectRecord, TrustOptions, trust_config
from cli._project_store import ProjectError, ProjectStore
from cli._state import StateStore
from secure import Identity


@pytest.fixture
def state(tmp_path: Path) -> StateStore:
    return StateStore(tmp_path / "home")


def project_file(folder: Path, **fields: object) -> Path:
    """A project JSON as `project information --output json` prints it, with `fields`."""
    authority, project = Identity.generate(), Identity.generate()
    data = {
        "id": "1",
        "name": "default",
        "identity": project.identifier,
        "access_route": "/ip4/127.0.0.1/tcp/4000/service/api",
        "authority_access_route": "/ip4/127.0.0.1/tcp/4001/service/api",
        "authority_identity": authority.public.export_hex(),
        **fields,
    }
    path = folder / "project.json"
    path.write_bytes(msgspec.json.encode(data))
    return path


def test_a_project_file_is_imported_and_recorded(state: StateStore, tmp_path: Path) -> None:
    path = project_file(tmp_path)
    config = trust_config(state, "n1", TrustOptions(project=str(path)))
    assert config is not None
    project = ProjectStore(state).get("default")
    assert project.identity is not None
    assert config.project == ProjectRecord(
        "default", project.identity, ["/ip4/127.0.0.1/tcp/4000/service/api"]
    )
    assert config.authority_identity == project.authority_identity
    assert config.authority_route == "/ip4/127.0.0.1/tcp/4001/service/api"
    # Imported, the project is known by its name.
    again = trust_config(state, "n3", TrustOptions(project="default"))
    assert again == config


def test_projects_a_node_cannot_be_in(state: StateStore, tmp_path: Path) -> None:
    with pytest.raises(ProjectError, match="there is no project named 'nope'"):
        trust_config(state, "n1", TrustOptions(project="nope"))
    with pytest.raises(ProjectError, match="cannot read the project file"):
        trust_config(state, "n1", TrustOptions(project=str(tmp_path / "missing.json")))
    path = project_file(tmp_path, identity=None, authority_access_route=None)
    with pytest.raises(ProjectError, match="has no identity, authority_access_route: "):
        trust_config(state, "n1", TrustOptions(project=str(path)))
    path = project_file(tmp_path)
    with pytest.raises(ValueError, match="--project names the authority"):
        trust_config(
            state, "n1", TrustOptions(project=str(path), authority_identity="00", credential=None)
        )
