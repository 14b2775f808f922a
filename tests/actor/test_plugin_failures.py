"""Plugins that do not load, and plugins that take configuration, registered as a real
distribution would be: a `.dist-info` folder with `entry_points.txt` on `sys.path`."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from actors import (
    PluginError,
    PluginInfo,
    available_plugins,
    load_plugin,
    make_service,
    plugins,
    route,
    start_service,
)
from transports import open_node

MODULE = """
import msgspec

from actors import Actor, LocalMessage


class NotAnActor:
    pass


class Greeter(Actor):
    class Options(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
        greeting: str = "hello"
        times: int = 1

    def __init__(self, options: "Greeter.Options") -> None:
        self.options = options

    async def handle_message(self, message: LocalMessage) -> None:
        text = " ".join([self.options.greeting] * self.options.times)
        await self.ctx.reply(message, f"{text}, {message.payload.decode()}".encode())
"""

ENTRY_POINTS = {
    "ghost": "no_such_module_for_ockam:Ghost",
    "plain": "ockam_test_plugins:NotAnActor",
    "greeter": "ockam_test_plugins:Greeter",
}


@pytest.fixture
def installed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """`ockam-test-plugins` on `sys.path`, registering `ENTRY_POINTS` under `ockam.actors`."""
    (tmp_path / "ockam_test_plugins.py").write_text(MODULE)
    info = tmp_path / "ockam_test_plugins-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: ockam-test-plugins\nVersion: 0.1\n"
    )
    lines = "".join(f"{name} = {value}\n" for name, value in ENTRY_POINTS.items())
    (info / "entry_points.txt").write_text(f"[ockam.actors]\n{lines}")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("ockam_test_plugins", None)


@pytest.mark.usefixtures("installed")
def test_a_missing_module_is_a_plugin_error_with_the_import_error_chained() -> None:
    with pytest.raises(PluginError) as info:
        load_plugin("ghost")
    assert str(info.value) == (
        "plugin 'ghost' (entry point 'no_such_module_for_ockam:Ghost' of ockam-test-plugins) "
        "does not load: ModuleNotFoundError: No module named 'no_such_module_for_ockam'"
    )
    assert isinstance(info.value.__cause__, ModuleNotFoundError)


@pytest.mark.usefixtures("installed")
def test_a_class_that_is_not_an_actor_is_refused_naming_it() -> None:
    with pytest.raises(PluginError, match=r"^plugin 'plain' \(entry point 'ockam_test_plugins:"):
        load_plugin("plain")
    with pytest.raises(PluginError, match="is not an Actor subclass: <class 'ockam_test_plugins"):
        make_service("plain")


@pytest.mark.usefixtures("installed")
def test_plugins_tell_which_load() -> None:
    found = {info.name: info for info in plugins()}
    assert found["greeter"] == PluginInfo(
        "greeter", "ockam_test_plugins:Greeter", "ockam-test-plugins"
    )
    assert found["greeter"].loads
    assert not found["ghost"].loads
    assert "ModuleNotFoundError" in found["ghost"].error
    assert not found["plain"].loads
    assert "reverse" in found
    names = available_plugins()
    assert "greeter" in names
    assert "reverse" in names
    assert "ghost" not in names
    assert "plain" not in names


@pytest.mark.usefixtures("installed")
async def test_a_plugin_takes_its_configuration_validated(autojump_clock: trio.abc.Clock) -> None:
    with trio.fail_after(10):
        async with open_node("n1", services=()) as node:
            await start_service(node, "greeter")
            await start_service(
                node, "greeter", address="loud", config={"greeting": "HEY", "times": 2}
            )
            assert (await node.request(route("greeter"), b"you")).payload == b"hello, you"
            assert (await node.request(route("loud"), b"you")).payload == b"HEY HEY, you"

            with pytest.raises(PluginError) as info:
                await start_service(node, "greeter", address="bad", config={"times": "two"})
            assert str(info.value) == (
                "invalid configuration for service 'greeter': "
                "Expected `int`, got `str` - at `$.times`"
            )
            with pytest.raises(PluginError, match="Object contains unknown field `volume`"):
                make_service("greeter", {"volume": 11})
            with pytest.raises(PluginError, match="service 'echo' takes no configuration"):
                await start_service(node, "echo", config={})
            assert [w.address for w in node.workers()] == ["greeter", "loud"]
