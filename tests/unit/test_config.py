"""Node configuration files: Ockam's keys, inline YAML and JSON, variables, errors naming keys."""

from __future__ import annotations

from pathlib import Path

import pytest

from cli._config import (
    ConfigError,
    NodeConfig,
    RelayConfig,
    TcpInletConfig,
    TcpOutletConfig,
    is_config_path,
    parse_node_config,
    parse_variable_args,
)

FULL = """
name: n1
tcp-listener-address: 127.0.0.1:6000
tcp-outlets:
  db:
    to: 5432
  web:
    to: localhost:8080
    from: /service/web-outlet
tcp-inlets:
  app:
    from: 6001
    to: /node/n2/service/outlet
relays:
  blue:
    at: /node/n2
"""


def test_ockams_keys_become_the_resources_they_describe() -> None:
    config = parse_node_config(FULL)
    assert config == NodeConfig(
        name="n1",
        tcp_listener_address="127.0.0.1:6000",
        tcp_outlets=(
            TcpOutletConfig(to="127.0.0.1:5432", from_="db"),
            TcpOutletConfig(to="localhost:8080", from_="web-outlet"),
        ),
        tcp_inlets=(
            TcpInletConfig(from_="127.0.0.1:6001", to="/node/n2/service/outlet", alias="app"),
        ),
        relays=(RelayConfig(name="blue", at="/node/n2"),),
    )


def test_inline_yaml_flow_as_in_ockams_docs() -> None:
    config = parse_node_config("{name: n, tcp-outlets: {db: {to: 5432}}}")
    assert config.name == "n"
    assert config.tcp_outlets == (TcpOutletConfig(to="127.0.0.1:5432", from_="db"),)


def test_inline_json() -> None:
    config = parse_node_config(
        '{"name": "n", "tcp-inlets": {"i": {"from": "127.0.0.1:7001", "to": "/service/outlet"}}}'
    )
    assert config.tcp_inlets == (
        TcpInletConfig(from_="127.0.0.1:7001", to="/service/outlet", alias="i"),
    )


def test_a_file_read_as_text(tmp_path: Path) -> None:
    path = tmp_path / "node.yaml"
    path.write_text(FULL)
    assert parse_node_config(path.read_text()) == parse_node_config(FULL)


def test_ockams_aliases_and_list_forms() -> None:
    config = parse_node_config(
        """
tcp_outlets:
  - from: a
    to: 7000
  - b:
      to: :7001
relay:
  - r1:
      at: /node/n2
"""
    )
    assert config.name is None
    assert [o.from_ for o in config.tcp_outlets] == ["a", "b"]
    assert config.tcp_outlets[1].to == "127.0.0.1:7001"
    assert config.relays == (RelayConfig(name="r1", at="/node/n2"),)


def test_an_empty_configuration_is_a_node_without_resources() -> None:
    assert parse_node_config("") == NodeConfig()


def test_variables_from_the_command_the_environment_and_the_file() -> None:
    text = """
variables:
  PORT: "5432"
  HOST: from-file
name: ${NAME}
tcp-outlets:
  db: {to: "${HOST}:$PORT"}
"""
    config = parse_node_config(
        text, variables={"NAME": "n7"}, environ={"HOST": "db.internal", "PORT": "6543"}
    )
    assert config.name == "n7"
    # The environment wins over the file's variables, as in Ockam.
    assert config.tcp_outlets[0].to == "db.internal:6543"
    config = parse_node_config(text, variables={"NAME": "n7", "PORT": "7000"})
    assert config.tcp_outlets[0].to == "from-file:7000"


def test_a_missing_variable_is_named() -> None:
    with pytest.raises(ConfigError, match="'DB_PORT'"):
        parse_node_config("tcp-outlets: {db: {to: '${DB_PORT}'}}", environ={})


def test_an_empty_variable_is_named() -> None:
    with pytest.raises(ConfigError, match="Empty value for variable 'PORT'"):
        parse_variable_args(["PORT="])
    with pytest.raises(ConfigError, match="Empty value for variable 'PORT'"):
        parse_node_config("variables: {PORT: ''}\nname: n")
    with pytest.raises(ConfigError, match="Empty value for variable 'HOST'"):
        parse_node_config("name: $HOST", environ={"HOST": ""})


def test_variable_arguments() -> None:
    assert parse_variable_args(["A=1", "B=x=y"]) == {"A": "1", "B": "x=y"}
    with pytest.raises(ConfigError, match="NAME=VALUE"):
        parse_variable_args(["A"])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("tcp-outlets: {db: {to: 65536}}", r"65536 at `\$\.tcp-outlets\.db\.to`"),
        ("tcp-inlets: {app: {from: 6001, to: [1]}}", r"`\$\.tcp-inlets\.app\.to`"),
        ("tcp-inlets: {a: {from: 6001}}", r"missing required field `to` - at `\$\.tcp-inlets\.a`"),
        ("relays: blue", r"missing required field `at` - at `\$\.relays\.blue`"),
        ("tcp-outlets: {db: {to: 1, port: 2}}", r"unknown field `port` - at `\$\.tcp-outlets\.db`"),
        ("tcp-outlets: [{to: 1}]", r"`\$\.tcp-outlets\[0\]` needs a name"),
        ("tcp-outlets: {db: {to: 1, at: 'a/b'}}", r"`\$\.tcp-outlets\.db\.at`"),
    ],
)
def test_errors_name_the_key(text: str, message: str) -> None:
    """Port 65536, wrong types, missing and unknown arguments: the message names the key."""
    with pytest.raises(ConfigError, match=message):
        parse_node_config(text)


def test_unknown_and_unsupported_keys_are_named() -> None:
    with pytest.raises(ConfigError, match="unknown key 'tcp-outlest'"):
        parse_node_config("tcp-outlest: {db: {to: 1}}")
    with pytest.raises(ConfigError, match="unsupported key 'kafka-inlet'"):
        parse_node_config("kafka-inlet: {}")


def test_bad_names_and_bad_yaml() -> None:
    with pytest.raises(ConfigError, match=r"`\$\.name`"):
        parse_node_config("name: 'n!'")
    with pytest.raises(ConfigError, match="not valid YAML or JSON"):
        parse_node_config("{name: n")
    with pytest.raises(ConfigError, match="map of keys"):
        parse_node_config("- a\n- b")


def test_which_arguments_are_files() -> None:
    assert is_config_path("node.yaml")
    assert is_config_path("./config.yaml")
    assert is_config_path("n.1")
    assert not is_config_path("n1")
    assert not is_config_path("my-node_2")
