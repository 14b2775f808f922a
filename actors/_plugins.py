"""Actors from other distributions, found through the `ockam.actors` entry-point group."""

from __future__ import annotations

from collections.abc import Callable
from importlib.metadata import entry_points

from ._actor import Actor

ENTRY_POINT_GROUP = "ockam.actors"


class PluginError(LookupError):
    """No plugin of that name, or the plugin is not an Actor."""


def available_plugins() -> list[str]:
    """Names of the actors registered under the `ockam.actors` entry-point group."""
    return sorted({ep.name for ep in entry_points(group=ENTRY_POINT_GROUP)})


def load_plugin(name: str) -> Callable[[], Actor]:
    """The Actor subclass registered as `name` under `ockam.actors`.

    Raises:
        PluginError: nothing is registered under `name`, or it is not an Actor subclass.
    """
    matches = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == name]
    if not matches:
        known = ", ".join(available_plugins()) or "none installed"
        raise PluginError(f"no service or plugin named {name!r} (plugins: {known})")
    loaded = matches[0].load()
    if not (isinstance(loaded, type) and issubclass(loaded, Actor)):
        raise PluginError(f"plugin {name!r} ({matches[0].value}) is not an Actor subclass")
    return loaded
