"""A standalone authority and its members through the `ockam` command, as Ockam's own
`authority.bats` runs it: `authority create`, a project file in Ockam's shape, `project
import`, `project enroll` with and without tickets, `project ticket` by admins and enrollers;
single-use, two-use, enroller and expiring tickets; replayed tickets and borrowed or forged
admin credentials refused."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import msgspec
import pytest

from secure import EnrollmentTicket, Identity, IdentityPublic, Vault, issue_credential

from .conftest import Ockam, free_port

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.e2e

PROJECT_MODEL_KEYS = {
    "id", "name", "space_name", "access_route", "users", "space_id", "identity",
    "authority_access_route", "authority_identity", "version", "running", "operation_id",
    "user_roles", "project_change_history",
}  # fmt: skip


def start_authority(ockam: Ockam, trusted: dict[str, dict[str, str]], *flags: str) -> None:
    """`authority create` on a free port, then `project import` of the project file a user
    writes for it (Ockam's `ProjectModel` JSON, as in Ockam's tests)."""
    created = ockam.out(
        "authority", "create", "--tcp-listener-address", "127.0.0.1:0",
        "--project-identifier", "1", "--trusted-identities", msgspec.json.encode(trusted).decode(),
        *flags,
    )  # fmt: skip
    assert created == "/node/authority"
    port = ockam.listener_port("authority")
    project = {
        "id": "1",
        "name": "default",
        "space_name": "together-porgy",
        "access_route": "/dnsaddr/127.0.0.1/tcp/4000/service/api",
        "users": [],
        "space_id": "1",
        "identity": "I6c20e814b56579306f55c64e8747e6c1b4a53d9aa1b2c3d4e5f6a6b5c4d3e2f1",
        "authority_access_route": f"/dnsaddr/127.0.0.1/tcp/{port}/service/api",
        "authority_identity": exported(ockam, "authority"),
        "version": "605c4632ded93eb17edeeef31fa3860db225b3ab-2023-12-05",
        "running": False,
        "operation_id": None,
        "user_roles": [],
    }  # fmt: skip
    path = ockam.home / "project.json"
    path.write_bytes(msgspec.json.encode(project))
    assert ockam.out("project", "import", "--project-file", str(path)) == "default"


def exported(ockam: Ockam, name: str) -> str:
    """Identity `name`, exported (hex)."""
    return ockam.out("identity", "show", name, "--full", "--encoding", "hex")


def vault_identity(ockam: Ockam, name: str) -> Identity:
    """Identity `name` from the default vault (the account authority signs outside `ockam`:
    it stands for Ockam's Orchestrator)."""
    return Vault(ockam.home / "vaults" / "default" / "vault.json").get_identity(name)


def refused(ockam: Ockam, *args: str) -> str:
    """The one error line of a failing `ockam ARGS...`."""
    result = ockam.run(*args, check=False)
    assert result.returncode == 1, result.stdout
    assert result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.stderr
    return result.stderr


def test_standalone_authority_admin_enrollers_members(ockam: Ockam) -> None:
    for name in ("account", "admin", "m1", "m2", "m3", "m4", "m5", "m7"):
        ockam.out("identity", "create", name)
    ids = {name: ockam.out("identity", "show", name) for name in ("admin", "m1", "m3")}
    account_full = exported(ockam, "account")
    start_authority(
        ockam,
        {ids["m1"]: {"sample_attr": "sample_val"}},
        "--no-direct-authentication", "--account-authority", account_full,
        "--enforce-admin-checks",
    )  # fmt: skip
    statuses = ockam.json("node", "show", "authority")
    assert isinstance(statuses, dict)
    assert statuses["status"] == "running"
    assert statuses["identity_name"] == "authority"
    shown = ockam.json("project", "show")
    assert isinstance(shown, dict)
    assert set(shown) == PROJECT_MODEL_KEYS
    assert shown["authority_access_route"].endswith("/service/api")

    # m1 is pre-trusted: no ticket needed; it sees its attribute.
    assert '"sample_attr=sample_val"' in ockam.out("project", "enroll", "--identity", "m1")

    # The admin is an admin only with the account authority's credential naming project 1.
    account = vault_identity(ockam, "account")
    admin_credential = issue_credential(
        account, ids["admin"], {"project": "1"}, ttl=600, now=time.time()
    ).hex()
    admin = ("--identity", "admin", "--credential", admin_credential)
    assert "is not an enroller" in refused(ockam, "project", "ticket", "--identity", "admin")

    single = ockam.out("project", "ticket", *admin, "--attribute", "sample_attr=m2_member")
    assert '"sample_attr=m2_member"' in ockam.out("project", "enroll", single, "--identity", "m2")
    assert "already used 1 time" in refused(ockam, "project", "enroll", single, "--identity", "m5")
    # Replayed by the identity that used it: refused all the same.
    assert "already used" in refused(ockam, "project", "enroll", single, "--identity", "m2")

    double = ockam.out(
        "project", "ticket", *admin, "--usage-count", "2", "--attribute", "sample_attr=group"
    )
    for member in ("m3", "m4"):
        enrolled = ockam.json("project", "enroll", double, "--identity", member)
        assert isinstance(enrolled, dict)
        assert enrolled["project_name"] == "default"
        assert enrolled["identity"]["name"] == member
        assert enrolled["credential"]["attributes"] == {"sample_attr": "group"}
    assert "already used 2 times" in refused(ockam, "project", "enroll", double, "--identity", "m5")

    enroller = ockam.out("project", "ticket", *admin, "--enroller")
    assert '"ockam-role=enroller"' in ockam.out("project", "enroll", enroller, "--identity", "m7")
    # The new enroller mints member tickets, not enroller tickets.
    member_ticket = ockam.out("project", "ticket", "--identity", "m7", "--relay", "m5")
    assert '"ockam-relay=m5"' in ockam.out("project", "enroll", member_ticket, "--identity", "m5")
    assert "only admins make enroller tickets" in refused(
        ockam, "project", "ticket", "--identity", "m7", "--enroller"
    )

    # The state database holds identifiers, attributes and hashes: no secret, no key.
    database = (ockam.home / "database.sqlite3").read_bytes()
    secrets = [EnrollmentTicket.decode(t).secret for t in (single, double, enroller)]
    vault = msgspec.json.decode((ockam.home / "vaults" / "default" / "vault.json").read_bytes())
    secrets += [base64.b64decode(key) for key in vault["identities"].values()]
    for secret in secrets:
        assert secret not in database
        assert secret.hex().encode() not in database

    # A credential about another identity, or from another issuer, makes no admin.
    borrowed = ("--identity", "m3", "--credential", admin_credential)
    assert "is not an enroller" in refused(ockam, "project", "ticket", *borrowed, "--enroller")
    forged = issue_credential(
        vault_identity(ockam, "authority"), ids["m3"], {"project": "1"}, ttl=600, now=time.time()
    ).hex()
    forger = ("--identity", "m3", "--credential", forged)
    assert "is not an enroller" in refused(ockam, "project", "ticket", *forger, "--enroller")


def test_an_expired_ticket_fails_and_a_fresh_one_enrolls(ockam: Ockam) -> None:
    enroller = ockam.out("identity", "create", "enroller")
    ockam.out("identity", "create", "m3")
    start_authority(ockam, {enroller: {"ockam-role": "enroller"}})
    ticket = ("project", "ticket", "--identity", "enroller", "--attribute", "sample_attr=m3")
    expiring = ockam.out(*ticket, "--expires-in", "1s")
    time.sleep(2)  # the point of the test: the ticket's 1 s pass before it is used
    assert "expired" in refused(ockam, "project", "enroll", expiring, "--identity", "m3")
    fresh = ockam.out(*ticket, "--expires-in", "30s")
    assert '"sample_attr=m3"' in ockam.out("project", "enroll", fresh, "--identity", "m3")


def test_a_ticket_imports_its_project_in_another_home(
    ockam: Ockam, tmp_path_factory: pytest.TempPathFactory
) -> None:
    enroller = ockam.out("identity", "create", "enroller")
    start_authority(ockam, {enroller: {"ockam-role": "enroller"}})
    ticket = ockam.out("project", "ticket", "--identity", "enroller", "--attribute", "k=v")
    other = Ockam(tmp_path_factory.mktemp("other") / "ockam-home")
    assert '"k=v"' in other.out("project", "enroll", ticket)  # the default identity
    info = other.json("project", "information")
    assert isinstance(info, dict)
    # A standalone authority is its own project node: the ticket's routes lead to it.
    route = f"/ip4/127.0.0.1/tcp/{ockam.listener_port('authority')}/service/api"
    assert info == {
        "id": "1",
        "name": "default",
        "identity": ockam.out("identity", "show", "authority"),
        "access_route": route,
        "authority_access_route": route,
        "authority_identity": exported(ockam, "authority"),
    }
    assert IdentityPublic.from_exported(info["authority_identity"]).identifier == info["identity"]
    # A member (not an enroller) makes no tickets; a bad ticket is one clear line.
    assert "is not an enroller" in refused(other, "project", "ticket")
    assert "enrollment ticket" in refused(other, "project", "enroll", "not-a-ticket")


def test_errors_are_one_line(ockam: Ockam) -> None:
    assert "there is no project yet" in refused(ockam, "project", "ticket")
    assert "there is no project named" in refused(ockam, "project", "show", "nope")
    assert "not a project file" in refused(
        ockam, "project", "import", "--project-file", "/dev/null"
    )
    assert "cannot parse the trusted identities" in refused(
        ockam, "authority", "create", "--project-identifier", "1", "--trusted-identities", "{x"
    )
    assert "bad --expires-in" in refused(ockam, "project", "ticket", "--expires-in", "soon")


def test_the_trust_walkthrough_runs_as_printed(ockam: Ockam, tmp_path: Path) -> None:
    text = (ROOT / "docs" / "trust.md").read_text()
    section = text[text.index("## Authorities and enrollment") :]
    found = re.search(r"```sh\n(.*?)```", section, re.DOTALL)
    assert found is not None
    port = str(free_port())  # the walkthrough's port 4000 may be taken here
    script = found.group(1).replace(":4000", f":{port}").replace("/tcp/4000/", f"/tcp/{port}/")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    wrapper = bin_dir / "ockam"
    wrapper.write_text(f'#!/bin/sh\nexec {sys.executable} -m cli "$@"\n')
    wrapper.chmod(0o755)
    env = dict(ockam.env, PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert '"component=db"' in done.stdout
    assert "bob was refused: single-use ticket" in done.stdout
    assert "already used 1 time" in done.stderr
    information = done.stdout[done.stdout.rindex("{") :]
    assert msgspec.json.decode(information)["authority_access_route"].endswith(
        f"{port}/service/api"
    )


def test_an_authority_restarts_as_one_and_keeps_its_members(ockam: Ockam) -> None:
    enroller = ockam.out("identity", "create", "enroller")
    ockam.out("identity", "create", "alice")
    trusted = msgspec.json.encode({enroller: {"ockam-role": "enroller"}}).decode()
    flags = ("--project-identifier", "1", "--trusted-identities", trusted)
    start_authority(ockam, {enroller: {"ockam-role": "enroller"}})
    ticket = ockam.out("project", "ticket", "--identity", "enroller", "--attribute", "k=v")
    assert '"k=v"' in ockam.out("project", "enroll", ticket, "--identity", "alice")
    assert "is already running" in refused(ockam, "authority", "create", *flags)

    ockam.out("node", "stop", "authority")
    ockam.out("node", "start", "authority")  # same listener, still the authority
    assert '"k=v"' in ockam.out("project", "enroll", "--identity", "alice")
    assert ockam.out("node", "logs", "authority").count("is the authority") == 2

    port = str(ockam.listener_port("authority"))
    ockam.out("node", "delete", "authority", "--yes")
    assert not (ockam.home / "nodes" / "authority").exists()
    listen = ("--tcp-listener-address", f"127.0.0.1:{port}")
    ockam.out("authority", "create", *flags, *listen)  # same identity: same members
    assert '"k=v"' in ockam.out("project", "enroll", "--identity", "alice")

    ockam.out("node", "create", "plain")
    assert "is not an authority" in refused(ockam, "authority", "create", "plain", *flags)
