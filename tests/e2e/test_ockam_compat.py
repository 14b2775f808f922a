"""Our `--output json` against Ockam's output structs, field by field, with real nodes.

Each command's JSON must have exactly the keys of the Ockam struct it mirrors
(`cli/_ockam_views.py`, `docs/ockam-output.md`) and decode into it strictly: same names, same
value types, nothing extra, nothing missing.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from cli import _ockam_views as views

from .conftest import Ockam, free_port

pytestmark = pytest.mark.e2e


def keys_of(struct: type[msgspec.Struct]) -> set[str]:
    return {field.encode_name for field in msgspec.structs.fields(struct)}


def check(value: object, struct: type[msgspec.Struct]) -> Any:
    """`value` has exactly `struct`'s keys (an unset optional may be left out) and decodes
    into it."""
    assert isinstance(value, dict)
    required = {f.encode_name for f in msgspec.structs.fields(struct) if f.required}
    assert required <= set(value) <= keys_of(struct), (struct.__name__, sorted(value))
    return msgspec.convert(value, struct, strict=True)


def check_list(value: object, struct: type[msgspec.Struct]) -> list[Any]:
    assert isinstance(value, list)
    assert value, f"no {struct.__name__} to check"
    return [check(item, struct) for item in value]


def test_every_resource_prints_ockams_shape(ockam: Ockam) -> None:
    ockam.run("node", "create", "relay", "--http-server")
    ockam.run("node", "create", "db")
    target, inlet_port = free_port(), free_port()
    check(ockam.json("tcp-outlet", "create", "--at", "db", "--to", str(target)), views.OutletStatus)
    check(ockam.json("relay", "create", "db", "--at", "/node/relay", "--to", "db"), views.RelayInfo)
    check(
        ockam.json(
            "tcp-inlet", "create", "--at", "relay", "--from", str(inlet_port),
            "--to", "/service/forward_to_db/service/outlet", "--alias", "web",
        ),
        views.InletStatus,
    )  # fmt: skip

    shown = check(ockam.json("node", "show", "relay"), views.NodeResources)
    assert shown.http_server_address is not None
    assert [i.alias for i in shown.inlets] == ["web"]
    listed = check_list(ockam.json("node", "list"), views.NodeListOutput)
    assert [n.node_name for n in listed] == ["relay", "db"]
    assert listed[0].is_default

    [outlet] = check_list(ockam.json("tcp-outlet", "list", "--at", "db"), views.OutletStatus)
    assert outlet.worker_address == "/service/outlet"
    assert (
        check(ockam.json("tcp-outlet", "show", "outlet", "--at", "db"), views.OutletStatus)
        == outlet
    )
    check_list(ockam.json("tcp-inlet", "list", "--at", "relay"), views.InletStatus)
    check(ockam.json("tcp-inlet", "show", "web", "--at", "relay"), views.InletStatus)

    [relay] = check_list(ockam.json("relay", "list", "--to", "db"), views.RelayInfo)
    assert relay.remote_address == "forward_to_db"
    shown_relay = check(ockam.json("relay", "show", "db", "--at", "db"), views.RelayShowOutput)
    assert shown_relay.remote_address == "/service/forward_to_db"
    assert shown_relay.relay_route is not None
    assert shown_relay.relay_route.endswith("=> 0#forward_to_db")

    [listener] = check_list(
        ockam.json("tcp-listener", "list", "--at", "relay"), views.TransportStatus
    )
    assert (listener.tt, listener.tm, listener.worker_addr) == ("Tcp", "Listen", "<none>")
    check(
        ockam.json("tcp-listener", "show", listener.socket_addr, "--at", "relay"),
        views.TransportStatus,
    )
    [connection] = check_list(
        ockam.json("tcp-connection", "list", "--at", "db"), views.TransportStatus
    )
    assert connection.tm == "Outgoing"
    check_list(ockam.json("worker", "list", "--at", "db"), views.WorkerStatus)

    missing = ockam.run("tcp-outlet", "show", "nothing", "--at", "db", check=False)
    assert missing.returncode == 1
    assert "was not found on node db" in missing.stderr
