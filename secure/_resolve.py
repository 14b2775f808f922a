"""Routes with secure channels in them: ``/secure/LISTENER`` and ``/project/NAME`` segments,
each replaced by a channel that a node's `SecureChannels` opens or reuses."""

from __future__ import annotations

from collections.abc import Callable

import msgspec

from actors import Address, MultiAddr, Route, RouteError, local

from ._channel_info import SecureChannelInfo
from ._channel_protocol import SecureChannelError
from ._channels import SecureChannels


class ProjectAccess(msgspec.Struct, frozen=True):
    """How a node reaches project `name`: a secure channel to the project node, which must
    prove `identifier`, along the first of `routes` (each ending at the project node's
    listener, like ``/ip4/…/tcp/P/service/api``) that opens, tried in order (one route
    today; a pool of relay nodes later)."""

    name: str
    identifier: str
    routes: tuple[str, ...]


ProjectLookup = Callable[[str], ProjectAccess]
"""The project a ``/project/NAME`` segment names; raises an `OckamError` that says why a
node cannot reach it (it is not in that project)."""


async def resolve_secure_route(
    route: MultiAddr | str,
    channels: SecureChannels | None,
    *,
    timeout: float = 10,
    projects: ProjectLookup | None = None,
) -> Route:
    """The route in `route`, each ``/secure/LISTENER`` and ``/project/NAME`` segment replaced
    by a secure channel.

    Each ``/secure/LISTENER`` opens a channel from the node of `channels` to the listener
    ``LISTENER`` at the end of the route before it, or reuses a live one opened the same way,
    and the channel's address replaces that part of the route:
    ``/ip4/…/tcp/4000/secure/api/service/echo`` becomes ``/service/<channel>/service/echo``.
    A ``/project/NAME`` segment, first in the route, does the same with a channel to the
    project node (see `ProjectAccess`): ``/project/default/service/forward_to_n3`` becomes
    ``/service/<channel>/service/forward_to_n3``. Every other segment must already be an
    address (``/node/NAME`` and ``-`` are the CLI's to resolve).

    Args:
        route: The route, as text or parsed.
        channels: The registry that opens the channels; None where there is none, which is
            fine for a route without ``/secure/`` or ``/project/``.
        timeout: Seconds each channel may take to open.
        projects: What ``/project/NAME`` segments name (None: no project here).

    Raises:
        RouteError: The route is malformed or has a segment that is not an address.
        SecureChannelError: A channel could not be opened, or `channels` is None.
        OckamError: `projects` does not know a project the route names.
    """
    parsed = MultiAddr.parse(route) if isinstance(route, str) else route
    addresses: list[Address] = []
    for segment in parsed.segments:
        if segment.kind not in ("secure", "project"):
            addresses.append(segment.to_address())
            continue
        if channels is None:
            raise SecureChannelError(
                f"cannot open the secure channel {segment} in {parsed}: "
                "there is no identity here to open it with"
            )
        if segment.kind == "project":
            if addresses:
                raise RouteError(f"bad route {parsed}: {segment} must come first")
            if projects is None:
                raise RouteError(f"cannot resolve {segment} in {parsed}: there is no project here")
            info = await _open_project_channel(channels, projects(segment.value), timeout)
        else:
            listener = Route((*addresses, local(segment.value)))
            info = await channels.create(listener, timeout=timeout, reuse=True)
        addresses = list(Route.parse(info.address))
    return Route(addresses)


async def _open_project_channel(
    channels: SecureChannels, project: ProjectAccess, timeout: float
) -> SecureChannelInfo:
    """A channel to `project`'s node along the first of its routes that opens (reused while
    it lives); the error of each route that did not, when none did."""
    if not project.routes:
        raise SecureChannelError(f"project {project.name} has no access route")
    failures: list[str] = []
    for text in project.routes:
        try:
            return await channels.create(
                Route.parse(text), authorized=[project.identifier], timeout=timeout, reuse=True
            )
        except (SecureChannelError, RouteError) as exc:
            failures.append(str(exc))
    raise SecureChannelError(f"cannot reach project {project.name}: " + "; ".join(failures))
