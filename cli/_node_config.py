"""`node create` from a configuration: read it, then create what it describes on the new node.

`cli._config` checks the document; this module reads it from where the command names it and,
once the node answers, asks it (and the nodes that `at` names) for the relays, outlets and
inlets, in Ockam's order. A failure part-way is the caller's to roll back (`node create`
deletes the node again).

The create requests are the features' own (`relay-create`, `tcp-outlet-create`,
`tcp-inlet-create`), made through the node's control API by their tags, so that this module
needs no feature module (only `cli._features` imports those).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import msgspec

from actors import OckamError, RelayInfo, local_name
from portals import InletInfo, OutletInfo

from ._app import ask
from ._config import ConfigError, NodeConfig, is_config_path, parse_node_config, parse_variable_args
from ._control import Request
from ._feature import NodeApi
from ._routes import resolve_route, socket_address
from ._state import StateStore


class ConfigurationFailed(OckamError):
    """A resource of the configuration could not be created; the node was removed again."""


def read_configuration(
    name: str | None, configuration: str | None, variables: Sequence[str]
) -> NodeConfig | None:
    """The configuration `node create` was given, checked; None when it was given none.

    `configuration` is inline YAML or JSON; a `name` with a dot or a slash is a file.

    Raises:
        ConfigError: the file is missing, or the configuration or a variable is bad.
    """
    if configuration is not None and name is not None and is_config_path(name):
        raise ConfigError("give the configuration inline (--configuration) or as a file, not both")
    text = configuration
    if text is None and name is not None and is_config_path(name):
        path = Path(name)
        try:
            text = path.read_text()
        except FileNotFoundError:
            raise ConfigError(f"no configuration file {name!r}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read the configuration file {name!r}: {exc}") from None
    if text is None:
        if variables:
            raise ConfigError("--variable needs a configuration (a file or --configuration)")
        return None
    return parse_node_config(
        text, variables=parse_variable_args(variables), environ=dict(os.environ)
    )


async def apply_configuration(
    state: StateStore, node: str, config: NodeConfig, *, api: NodeApi
) -> None:
    """Create the configuration's relays, outlets and inlets; `at`/`to` default to `node`.

    Raises:
        ConfigurationFailed: naming the resource that failed and why.
    """
    fields: dict[str, str | None]
    for relay in config.relays:
        fields = {"name": relay.name, "at": str(resolve_route(relay.at, state))}
        what = f"relay {relay.name}"
        await _create(state, api, relay.to or node, "relay-create", fields, RelayInfo, what)
    for outlet in config.tcp_outlets:
        fields = {"target": socket_address(outlet.to), "address": local_name(outlet.from_)}
        what = f"TCP outlet {outlet.from_}"
        await _create(state, api, outlet.at or node, "tcp-outlet-create", fields, OutletInfo, what)
    for inlet in config.tcp_inlets:
        route = str(resolve_route(inlet.to, state))
        fields = {"bind": inlet.from_, "route": route, "alias": inlet.alias}
        what = f"TCP inlet {inlet.alias or inlet.from_}"
        await _create(state, api, inlet.at or node, "tcp-inlet-create", fields, InletInfo, what)


async def _create(
    state: StateStore,
    api: NodeApi,
    at: str,
    op: str,
    fields: Mapping[str, str | None],
    result: type[object],
    what: str,
) -> None:
    request: Request = api.decode(msgspec.msgpack.encode({"op": op, **fields}))
    try:
        await ask(state, state.get(at), request, result)
    except (OckamError, ValueError) as exc:
        raise ConfigurationFailed(f"{what} on node {at}: {exc}") from None
