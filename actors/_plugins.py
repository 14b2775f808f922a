"""Actors from other distributions, found through the `ockam.actors` entry-point group."""

from __future__ import annotations

from importlib.metadata import EntryPoint, entry_points

import msgspec

from ._actor import Actor
from ._errors import OckamError

ENTRY_POINT_GROUP = "ockam.actors"


class PluginError(OckamError, LookupError):
    """No plugin of that name, a plugin that does not load (its module fails to import, it is
    not an Actor subclass), or a configuration it refuses. The message names the plugin and
    its entry point; the cause, when there is one, is chained (`__cause__`)."""


class PluginInfo(msgspec.Struct, frozen=True):
    """An installed plugin: its service name, its entry point (`module:Class`), the
    distribution that registers it, and why it does not load (`""` when it loads)."""

    name: str
    entry_point: str
    distribution: str
    error: str = ""

    @property
    def loads(self) -> bool:
        """True when the plugin loads as an Actor subclass."""
        return not self.error


def _entry_points() -> dict[str, EntryPoint]:
    # The first registration of a name wins, as `load_plugin` takes it.
    found: dict[str, EntryPoint] = {}
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        found.setdefault(ep.name, ep)
    return found


def _distribution(ep: EntryPoint) -> str:
    return ep.dist.name if ep.dist is not None else ""


def _load(ep: EntryPoint) -> type[Actor]:
    where = f"plugin {ep.name!r} (entry point {ep.value!r} of {_distribution(ep) or 'unknown'})"
    try:
        loaded = ep.load()
    except Exception as exc:
        raise PluginError(f"{where} does not load: {type(exc).__name__}: {exc}") from exc
    if not (isinstance(loaded, type) and issubclass(loaded, Actor)):
        raise PluginError(f"{where} is not an Actor subclass: {loaded!r}")
    return loaded


def plugins() -> list[PluginInfo]:
    """Every plugin registered under `ockam.actors`, by name, each loaded to tell whether it
    works (`PluginInfo.error` says why not)."""
    infos = []
    for name, ep in sorted(_entry_points().items()):
        try:
            _load(ep)
            error = ""
        except PluginError as exc:
            error = str(exc)
        infos.append(PluginInfo(name, ep.value, _distribution(ep), error))
    return infos


def available_plugins() -> list[str]:
    """Names of the plugins that load (see `plugins` for the others and why)."""
    return [info.name for info in plugins() if info.loads]


def load_plugin(name: str) -> type[Actor]:
    """The Actor subclass registered as `name` under `ockam.actors`.

    Raises:
        PluginError: nothing is registered under `name`, its module does not import (the
            import error chained), or it is not an Actor subclass.
    """
    found = _entry_points()
    ep = found.get(name)
    if ep is None:
        known = ", ".join(sorted(found)) or "none installed"
        raise PluginError(f"no service or plugin named {name!r} (plugins: {known})")
    return _load(ep)
