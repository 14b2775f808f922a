"""Ockam's JSON shapes: the keys and value forms serde gives Ockam's output structs."""

from __future__ import annotations

import msgspec

from cli import _ockam_views as views


def as_json(value: object) -> object:
    return msgspec.json.decode(msgspec.json.encode(value))


def listener() -> views.TransportStatus:
    return views.TransportStatus("Tcp", "Listen", "127.0.0.1:5000", "<none>", "0#listener", "fc")


def node(*, pid: int | None) -> views.NodeResources:
    return views.NodeResources(
        name="n1",
        identity_name="n1",
        is_default=False,
        status=views.process_state(pid).status,
        pid=pid if pid is not None else msgspec.UNSET,
        route=views.RouteToNode(views.node_route("n1"), views.dnsaddr_route(5000)),
        http_server_address=None,
        transports=[listener()],
        secure_channel_listeners=[views.SecureChannelListener(views.local_address("api"), "fc")],
        inlets=[],
        outlets=[views.OutletStatus("127.0.0.1:5432", views.service_multiaddr("outlet"))],
        services=[views.ServiceStatus("uppercase", "uppercase")],
    )


def test_node_show_flattens_the_process_status() -> None:
    shown = as_json(node(pid=42))
    assert isinstance(shown, dict)
    assert list(shown) == [
        "name",
        "identity_name",
        "is_default",
        "status",
        "pid",
        "route",
        "http_server_address",
        "transports",
        "secure_channel_listeners",
        "inlets",
        "outlets",
        "services",
    ]
    assert shown["status"] == "running"
    assert shown["pid"] == 42
    assert shown["route"] == {"short": "/node/n1", "verbose": "/dnsaddr/localhost/tcp/5000"}
    assert shown["http_server_address"] is None
    assert shown["services"] == [{"addr": "uppercase", "type": "uppercase"}]
    assert shown["secure_channel_listeners"] == [
        {"address": "0#api", "flow_control_id": "fc", "is_key_exchange_only": False}
    ]


def test_a_stopped_node_has_no_pid_and_a_node_without_listener_no_verbose_route() -> None:
    shown = as_json(node(pid=None))
    assert isinstance(shown, dict)
    assert shown["status"] == "stopped"
    assert "pid" not in shown
    assert as_json(views.RouteToNode("/node/n1")) == {"short": "/node/n1"}


def test_node_list_keeps_the_status_object() -> None:
    assert as_json(views.NodeListOutput("n1", views.process_state(7), 7, True)) == {
        "node_name": "n1",
        "status": {"status": "running", "pid": 7},
        "pid": 7,
        "is_default": True,
    }
    assert as_json(views.NodeListOutput("n2", views.process_state(None), None, False)) == {
        "node_name": "n2",
        "status": {"status": "stopped"},
        "pid": None,
        "is_default": False,
    }
    assert views.process_state(9, zombie=True).status == "zombie"


def test_transport_status_renames_type_and_mode() -> None:
    assert as_json(listener()) == {
        "type": "Tcp",
        "mode": "Listen",
        "socket_addr": "127.0.0.1:5000",
        "worker_addr": "<none>",
        "processor_address": "0#listener",
        "flow_control_id": "fc",
    }


def test_portals() -> None:
    assert as_json(views.OutletStatus("127.0.0.1:5432", "/service/outlet")) == {
        "to": "127.0.0.1:5432",
        "worker_address": "/service/outlet",
        "payload": None,
        "privileged": False,
    }
    inlet = views.InletStatus(
        "127.0.0.1:6000", "0#inlet", "web", None, "0#outlet", "Up", "/service/outlet"
    )
    assert as_json(inlet) == {
        "bind_addr": "127.0.0.1:6000",
        "worker_addr": "0#inlet",
        "alias": "web",
        "payload": None,
        "outlet_route": "0#outlet",
        "status": "Up",
        "outlet_addr": "/service/outlet",
        "privileged": False,
    }


def test_relays() -> None:
    route = views.route_text(["1#127.0.0.1:4000", views.local_address("forward_to_blue")])
    assert route == "1#127.0.0.1:4000 => 0#forward_to_blue"
    info = views.RelayInfo(route, "forward_to_blue", "0#r", None, "Up", "/node/n2", "blue")
    assert as_json(info) == {
        "forwarding_route": route,
        "remote_address": "forward_to_blue",
        "worker_address": "0#r",
        "flow_control_id": None,
        "connection_status": "Up",
        "destination_address": "/node/n2",
        "name": "blue",
        "last_failure": None,
    }
    shown = views.RelayShowOutput(
        "blue", "/node/n2", "Up", route, views.service_multiaddr("forward_to_blue"), "/service/r"
    )
    assert as_json(shown) == {
        "name": "blue",
        "destination": "/node/n2",
        "connection_status": "Up",
        "relay_route": route,
        "remote_address": "/service/forward_to_blue",
        "worker_address": "/service/r",
    }


def test_secure_channels_and_workers() -> None:
    assert as_json(views.ShowSecureChannelResponse("0#enc", "1#h => 0#api", None, "fc")) == {
        "channel": "0#enc",
        "route": "1#h => 0#api",
        "authorized_identifiers": None,
        "flow_control_id": "fc",
    }
    assert as_json(views.SecureChannelListOutput("n1", "/service/api", "/service/enc")) == {
        "from": "n1",
        "to": "/service/api",
        "at": "/service/enc",
    }
    assert as_json(views.WorkerStatus("echo")) == {"addr": "echo"}


def test_address_forms() -> None:
    assert views.local_address("outlet") == "0#outlet"
    assert views.local_address("/service/outlet") == "0#outlet"
    assert views.local_address("0#outlet") == "0#outlet"
    assert views.service_multiaddr("0#outlet") == "/service/outlet"
    assert views.service_multiaddr("/worker/ab") == "/service/ab"
    assert views.internet_address("127.0.0.1", 8080) == {"V4": "127.0.0.1:8080"}
    assert views.internet_address("::1", 8080) == {"V6": "[::1]:8080"}
    assert views.internet_address("localhost", 8080) == {"Dns": ["localhost", 8080]}
