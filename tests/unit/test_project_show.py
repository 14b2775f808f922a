"""`project show` on a terminal, for a project this home hosts: its nodes and their status."""

from __future__ import annotations

from cli._project import hosted_lines
from cli._project_store import SelfHostedNode, SelfHostedProject


def test_each_node_of_a_hosted_project_is_shown_with_its_role_address_and_status() -> None:
    settings = SelfHostedProject(
        name="default",
        id="p1",
        admin="I00",
        admin_identity="default",
        authority=SelfHostedNode(
            "default-authority",
            "default-authority",
            "127.0.0.1:4000",
            "/ip4/127.0.0.1/tcp/4000/service/api",
        ),
        relays=[
            SelfHostedNode(
                "default-project",
                "default-project",
                "0.0.0.0:4001",
                "/ip4/10.0.0.1/tcp/4001/service/api",
            )
        ],
    )
    lines = hosted_lines(settings, {"default-authority": "running"}).splitlines()
    assert lines[1:] == [
        "  Self-hosted on this machine (`ockam enroll` starts it):",
        "    default-authority (authority): running, listening on 127.0.0.1:4000",
        "    default-project (relays): not created, listening on 0.0.0.0:4001",
    ]
    assert lines[0] == ""
