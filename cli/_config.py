"""Node configuration files (`node create --configuration ...`, `node create node.yaml`), sans-IO.

Text in (YAML, or JSON, which YAML reads too), a frozen `NodeConfig` out, or a `ConfigError`
whose message names the key or the variable at fault. The keys are Ockam's
(`ockam_command/src/node/create/config.rs` and `ockam_command/src/run/parser/`):

    name: n1
    tcp-listener-address: 127.0.0.1:6000
    variables: {DB_PORT: "5432"}
    tcp-outlets:
      db: {to: "${DB_PORT}"}          # `from` defaults to the name: /service/db
    tcp-inlets:
      web: {from: 6001, to: /node/n2/service/outlet}
    relays:
      blue: {at: /node/n2}            # relay create blue --at /node/n2 --to n1

`${NAME}` and `$NAME` are replaced from, by precedence: `--variable NAME=VALUE`, the
environment, then the file's `variables:` section (Ockam's order). A missing variable or an
empty value is an error naming it. Ockam's aliases are accepted (`tcp_outlets`, `tcp-outlet`,
`relay`, `tcp_listener_address`); a resource section is a single name, a list of names and
maps, or a map from name to arguments.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import msgspec
import msgspec.yaml

from actors import TransportError, split_host_port

from ._routes import node_name

# Ockam's accepted spellings of each top-level key, to the one used here.
_ALIASES = {
    "name": "name",
    "tcp-listener-address": "tcp-listener-address",
    "tcp_listener_address": "tcp-listener-address",
    "variables": "variables",
    "tcp-outlets": "tcp-outlets",
    "tcp_outlets": "tcp-outlets",
    "tcp-outlet": "tcp-outlets",
    "tcp-inlets": "tcp-inlets",
    "tcp_inlets": "tcp-inlets",
    "tcp-inlet": "tcp-inlets",
    "relays": "relays",
    "relay": "relays",
}
# Keys of Ockam's node configuration this implementation does not run: refused by name rather
# than ignored, so a configuration never half-applies silently.
_UNSUPPORTED = (
    "ticket",
    "project",
    "identity",
    "policies",
    "kafka-inlet",
    "kafka-outlet",
    "kafka_inlet",
    "kafka_outlet",
    "influxdb-inlets",
    "influxdb-outlets",
    "skip-is-running-check",
    "exit-on-eof",
)
_VARIABLE = re.compile(r"\$\{([^}]*)\}|\$([A-Za-z_][A-Za-z0-9_]*)")
_VARIABLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class ConfigError(ValueError):
    """A configuration that cannot be used; the message names the key or variable at fault."""


class TcpOutletConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One `tcp-outlets` entry: `tcp-outlet create --from FROM --to TO [--at AT]`."""

    to: str
    from_: str = msgspec.field(name="from")
    at: str | None = None


class TcpInletConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One `tcp-inlets` entry: `tcp-inlet create --from FROM --to TO [--alias A] [--at AT]`."""

    from_: str = msgspec.field(name="from")
    to: str
    alias: str | None = None
    at: str | None = None


class RelayConfig(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """One `relays` entry: `relay create NAME --at AT [--to TO]` (`to`: this node)."""

    name: str
    at: str
    to: str | None = None


class NodeConfig(msgspec.Struct, frozen=True):
    """A node configuration, checked: `name` is `None` when the file gives none."""

    name: str | None = None
    tcp_listener_address: str | None = None
    tcp_outlets: tuple[TcpOutletConfig, ...] = ()
    tcp_inlets: tuple[TcpInletConfig, ...] = ()
    relays: tuple[RelayConfig, ...] = ()


class _OutletArgs(msgspec.Struct, forbid_unknown_fields=True):
    to: str | int
    from_: str | None = msgspec.field(default=None, name="from")
    at: str | None = None


class _InletArgs(msgspec.Struct, forbid_unknown_fields=True):
    from_: str | int = msgspec.field(name="from")
    to: str
    alias: str | None = None
    at: str | None = None


class _RelayArgs(msgspec.Struct, forbid_unknown_fields=True):
    at: str
    to: str | None = None


def is_config_path(argument: str) -> bool:
    """Whether `node create ARGUMENT` names a configuration file rather than a node: node
    names have no dot and no slash (`node.yaml`, `./config.yaml`, `n.1` are files)."""
    return "." in argument or "/" in argument


def parse_variable_args(arguments: Sequence[str]) -> dict[str, str]:
    """`--variable NAME=VALUE` arguments as a mapping; a malformed one or an empty value is an
    error naming it."""
    variables: dict[str, str] = {}
    for argument in arguments:
        key, sep, value = argument.partition("=")
        if not sep or not _VARIABLE_NAME.fullmatch(key):
            raise ConfigError(f"bad --variable {argument!r}: expected NAME=VALUE")
        if not value:
            raise ConfigError(f"Empty value for variable '{key}'")
        variables[key] = value
    return variables


def parse_node_config(
    text: str,
    *,
    variables: Mapping[str, str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> NodeConfig:
    """The node configuration in `text` (YAML or JSON), with its variables replaced.

    Args:
        text: the configuration, inline or read from a file.
        variables: the command's `--variable` values (they win over everything).
        environ: the environment variables to read `${NAME}` from.

    Raises:
        ConfigError: naming the key (`$.tcp-outlets.db.to`) or the variable at fault.
    """
    try:
        # PyYAML's safe loader, through msgspec; JSON is read as YAML's flow style.
        document = msgspec.yaml.decode(text)
    except msgspec.DecodeError as exc:
        reason = " ".join(str(exc).split())  # one line: PyYAML's messages span several
        raise ConfigError(f"the configuration is not valid YAML or JSON: {reason}") from None
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ConfigError("the configuration must be a map of keys (name, tcp-outlets, ...)")
    document = _canonical_keys(document)
    values = _variable_values(document.pop("variables", None), variables or {}, environ or {})
    document = _substitute(document, values)
    return NodeConfig(
        name=_node_name(document.get("name")),
        tcp_listener_address=_listener(document.get("tcp-listener-address")),
        tcp_outlets=tuple(_outlets(document.get("tcp-outlets"))),
        tcp_inlets=tuple(_inlets(document.get("tcp-inlets"))),
        relays=tuple(_relays(document.get("relays"))),
    )


def _canonical_keys(document: dict[Any, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in document.items():
        if key in _UNSUPPORTED:
            raise ConfigError(f"unsupported key '{key}' in the node configuration")
        canonical = _ALIASES.get(key) if isinstance(key, str) else None
        if canonical is None:
            known = ", ".join(sorted(set(_ALIASES.values())))
            raise ConfigError(f"unknown key '{key}' in the node configuration (known: {known})")
        if canonical in result:
            raise ConfigError(f"key '{key}' is given twice in the node configuration")
        result[canonical] = value
    return result


def _variable_values(
    section: Any, variables: Mapping[str, str], environ: Mapping[str, str]
) -> dict[str, str]:
    values: dict[str, str] = {}
    if section is not None:
        if not isinstance(section, dict):
            raise ConfigError("$.variables must be a map of NAME: VALUE")
        for key, value in section.items():
            text = "" if value is None else _scalar_text(value, f"$.variables.{key}")
            if not text:
                raise ConfigError(f"Empty value for variable '{key}'")
            # A file variable may itself refer to the environment, as in Ockam.
            values[str(key)] = _expand(text, {**environ, **variables})
    values.update(environ)
    values.update(variables)
    return values


def _substitute(value: Any, values: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        return _expand(value, values)
    if isinstance(value, list):
        return [_substitute(item, values) for item in value]
    if isinstance(value, dict):
        return {_substitute(k, values): _substitute(v, values) for k, v in value.items()}
    return value


def _expand(text: str, values: Mapping[str, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name = match.group(1) if match.group(1) is not None else match.group(2)
        if not _VARIABLE_NAME.fullmatch(name):
            raise ConfigError(f"bad variable reference '{match.group(0)}'")
        if name not in values:
            raise ConfigError(
                f"Failed to resolve variable '{name}': it is not set "
                f"(give it with --variable {name}=VALUE)"
            )
        if not values[name]:
            raise ConfigError(f"Empty value for variable '{name}'")
        return values[name]

    return _VARIABLE.sub(replace, text)


def _scalar_text(value: Any, path: str) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise ConfigError(f"Expected a string or a number at `{path}`")


def _node_name(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_-]+", value):
        raise ConfigError(f"bad node name {value!r} at `$.name`: use letters, digits, '_' and '-'")
    return value


def _listener(value: Any) -> str | None:
    if value is None:
        return None
    return hostname_port(value, "$.tcp-listener-address")


def hostname_port(value: object, path: str) -> str:
    """`value` as Ockam's `HostnamePort` reads it (`5432`, `:5432`, `host:5432`), written
    `host:port`; an unusable one is an error naming `path`."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise ConfigError(f"Expected a port or HOST:PORT at `{path}`, got {value!r}")
    text = str(value).strip()
    if text.isdigit() or (text.startswith(":") and text[1:].isdigit()):
        text = f"127.0.0.1:{text.lstrip(':')}"
    try:
        host, port = split_host_port(text)
    except TransportError:
        raise ConfigError(
            f"invalid port or address {value!r} at `{path}`: expected a port from 0 to 65535 "
            "or HOST:PORT"
        ) from None
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _entries(section: Any, key: str) -> list[tuple[str | None, dict[str, Any], str]]:
    """A resource section as (name, arguments, path) entries, in the order given."""
    if section is None:
        return []
    items: list[tuple[object, Any]]
    if isinstance(section, str):
        items = [(section, {})]
    elif isinstance(section, dict):
        items = list(section.items())
    elif isinstance(section, list):
        items = []
        for item in section:
            if isinstance(item, str):
                items.append((item, {}))
            elif isinstance(item, dict) and len(item) == 1 and _is_named(item):
                items.extend(item.items())
            else:
                items.append((None, item))
    else:
        raise ConfigError(f"`$.{key}` must be a name, a list or a map")
    entries = []
    for index, (key_name, arguments) in enumerate(items):
        # YAML may read a name as a number (`5432:`); a name is text.
        name = None if key_name is None else str(key_name)
        path = f"$.{key}.{name}" if name is not None else f"$.{key}[{index}]"
        if arguments is None:
            arguments = {}
        if not isinstance(arguments, dict):
            raise ConfigError(f"`{path}` must be a map of arguments")
        entries.append((name, arguments, path))
    return entries


def _is_named(item: dict[Any, Any]) -> bool:
    # `- r2: {at: ...}` names a resource; `- {from: 6060}` is an unnamed one.
    ((key, value),) = item.items()
    return isinstance(value, dict | None) and key not in ("from", "to", "at", "alias")


def _convert(arguments: dict[str, Any], kind: type[Any], path: str) -> Any:
    try:
        return msgspec.convert(arguments, kind)
    except msgspec.ValidationError as exc:
        message = str(exc).replace("`$", f"`{path}")
        if " - at `" not in message:
            message = f"{message} - at `{path}`"
        raise ConfigError(message) from None


def _outlets(section: Any) -> list[TcpOutletConfig]:
    outlets = []
    for name, arguments, path in _entries(section, "tcp-outlets"):
        args: _OutletArgs = _convert(arguments, _OutletArgs, path)
        source = args.from_ or name
        if not source:
            raise ConfigError(f"`{path}` needs a name or a `from` address")
        outlets.append(
            TcpOutletConfig(
                to=hostname_port(args.to, f"{path}.to"),
                from_=source.removeprefix("/service/"),
                at=_at(args.at, f"{path}.at"),
            )
        )
    return outlets


def _inlets(section: Any) -> list[TcpInletConfig]:
    inlets = []
    for name, arguments, path in _entries(section, "tcp-inlets"):
        args: _InletArgs = _convert(arguments, _InletArgs, path)
        inlets.append(
            TcpInletConfig(
                from_=hostname_port(args.from_, f"{path}.from"),
                to=args.to,
                alias=args.alias or name,
                at=_at(args.at, f"{path}.at"),
            )
        )
    return inlets


def _relays(section: Any) -> list[RelayConfig]:
    relays = []
    for name, arguments, path in _entries(section, "relays"):
        if name is None:
            raise ConfigError(f"`{path}` needs a relay name")
        args: _RelayArgs = _convert(arguments, _RelayArgs, path)
        relays.append(RelayConfig(name=name, at=args.at, to=_at(args.to, f"{path}.to")))
    return relays


def _at(value: str | None, path: str) -> str | None:
    if value is None:
        return None
    try:
        return node_name(value)
    except ValueError as exc:
        raise ConfigError(f"{exc} at `{path}`") from None
