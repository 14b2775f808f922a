"""`ockam enroll`'s decisions without processes: the project it plans, the files it writes for
the authority, the record in Ockam's JSON, and who the project node lets in."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli._config import ConfigError
from cli._enroll import (
    ADMIN_ATTRIBUTES,
    authority_config,
    fix_port,
    plan_project,
    project_model,
    read_enroll_config,
)
from cli._project_node import members_only, relay_refusal
from cli._project_store import SelfHostedProject, check_project
from secure import Identity, Subject

ADMIN = Identity.generate()
AUTHORITY = Identity.generate()
PROJECT = Identity.generate()


def plan(
    *, project_address: str = "127.0.0.1:4001", public_host: str | None = None
) -> SelfHostedProject:
    return plan_project(
        "default",
        project_id="p1",
        admin=ADMIN.identifier,
        admin_identity="alice",
        authority_address="127.0.0.1:4000",
        project_address=project_address,
        public_host=public_host,
    )


def test_the_plan_names_the_nodes_after_the_project_and_routes_to_their_listeners() -> None:
    settings = plan(project_address="0.0.0.0:4001")
    assert (settings.authority.node, settings.authority.identity) == ("default-authority",) * 2
    assert [relay.node for relay in settings.relays] == ["default-project"]
    assert settings.authority.route == "/ip4/127.0.0.1/tcp/4000/service/api"
    assert settings.relays[0].route == "/ip4/127.0.0.1/tcp/4001/service/api"  # 0.0.0.0: loopback
    public = plan(project_address="0.0.0.0:4001", public_host="relay.example.com")
    assert public.relays[0].route == "/dnsaddr/relay.example.com/tcp/4001/service/api"
    assert public.relays[0].listener == "0.0.0.0:4001"


def test_the_authority_trusts_the_admin_and_the_project_node_and_hands_out_its_routes() -> None:
    settings = plan()
    config = authority_config(settings, project_identity=PROJECT.public)
    assert config.trusted_identities == {
        ADMIN.identifier: {"ockam-role": "enroller", "ockam-relay": "*"},
        PROJECT.identifier: {"ockam-role": "project"},
    }
    assert ADMIN_ATTRIBUTES == {"ockam-role": "enroller", "ockam-relay": "*"}
    assert config.project_access_routes == ["/ip4/127.0.0.1/tcp/4001/service/api"]
    assert config.project_identity == PROJECT.public.export_hex()

    model = check_project(
        project_model(settings, authority=AUTHORITY.public, project=PROJECT.public)
    )
    assert model.identity == PROJECT.identifier
    assert model.access_route == settings.relays[0].route
    assert model.authority_access_route == settings.authority.route
    assert model.authority_identity == AUTHORITY.public.export_hex()


def test_fix_port_keeps_a_given_port_and_picks_one_for_0() -> None:
    assert fix_port("127.0.0.1:4000", "--authority-tcp-listener-address") == "127.0.0.1:4000"
    picked = fix_port("127.0.0.1:0", "--authority-tcp-listener-address")
    assert picked.startswith("127.0.0.1:")
    assert picked != "127.0.0.1:0"
    with pytest.raises(ConfigError, match="--project-tcp-listener-address"):
        fix_port("nonsense:port", "--project-tcp-listener-address")


def test_the_configuration_file_names_its_keys(tmp_path: Path) -> None:
    good = tmp_path / "enroll.yaml"
    good.write_text(
        "identity: alice\nauthority: {tcp-listener-address: 127.0.0.1:4000}\npublic-address: h\n"
    )
    config = read_enroll_config(str(good))
    address = config.authority.tcp_listener_address
    assert (config.identity, address, config.public_address) == (
        "alice",
        "127.0.0.1:4000",
        "h",
    )
    bad = tmp_path / "bad.yaml"
    bad.write_text("relay-address: 1\n")
    with pytest.raises(ConfigError, match=r"not an enroll configuration.*relay-address"):
        read_enroll_config(str(bad))
    with pytest.raises(ConfigError, match="cannot read"):
        read_enroll_config(str(tmp_path / "missing.yaml"))


def test_the_project_listener_admits_only_subjects_with_a_credential() -> None:
    admit = members_only("default")
    assert admit(Subject(ADMIN.identifier, {"ockam-relay": "*"}, has_credential=True)) is None
    assert admit(Subject(ADMIN.identifier)) == (
        f"identity {ADMIN.identifier} is not a member of project default: it presented no "
        "credential from the project's authority"
    )


@pytest.mark.parametrize(
    ("attributes", "name", "why"),
    [
        ({"ockam-relay": "*"}, "n3", None),
        ({"ockam-relay": "n3"}, "n3", None),
        ({"ockam-relay": "n1"}, "n3", "allows only relay 'n1' (ockam-relay=n1)"),
        ({}, "n3", "has no ockam-relay attribute"),
    ],
)
def test_a_relay_is_created_only_for_the_name_the_credential_allows(
    attributes: dict[str, str], name: str, why: str | None
) -> None:
    subject = Subject(ADMIN.identifier, attributes, has_credential=True)
    refusal = relay_refusal("default", subject, name)
    if why is None:
        assert refusal is None
    else:
        assert refusal == (
            f"identity {ADMIN.identifier} may not create relay {name!r} at project default: "
            f"its credential {why}"
        )


def test_a_relay_registration_needs_a_secure_channel_and_a_credential() -> None:
    assert "through a secure channel" in (relay_refusal("default", None, "x") or "")
    assert "presented no credential" in (
        relay_refusal("default", Subject(ADMIN.identifier), "x") or ""
    )
