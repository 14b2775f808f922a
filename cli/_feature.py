"""What a feature adds to the CLI and to every node process, and the node's control API that
gathers them all.

A feature module (`cli._portal`, `cli._relay`...) makes one `Feature`: its command groups, the
handlers of its control requests, the resources `list`/`show`/`delete` reach, and hooks that
run when a node process starts and stops. `cli._features` lists every feature, puts their
commands on the app and builds the `NodeApi` a node process serves.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any, TypeVar

import msgspec
from cyclopts import App

from transports import NetworkNode

from ._control import ControlError, Request
from ._controller import Handler, Hook, NodeController
from ._resource import Resource, add_commands, resource_handlers

R = TypeVar("R", bound=Request)


class Feature:
    """One feature of the CLI: commands, control requests and their handlers, resources, hooks.

    Each resource gets its `list`, `show` and `delete` commands on the command group named
    after its `kind`. Register a handler with the decorator: `@FEATURE.handles(CreateOutlet)`.
    """

    def __init__(
        self,
        name: str,
        *,
        commands: Sequence[App] = (),
        resources: Sequence[Resource[Any]] = (),
        setup: Sequence[Hook] = (),
        shutdown: Sequence[Hook] = (),
    ) -> None:
        self.name = name
        self.commands = tuple(commands)
        self.resources = tuple(resources)
        self.setup = tuple(setup)
        self.shutdown = tuple(shutdown)
        self.handlers: dict[type[Request], Handler] = {}
        groups = {group.name[0]: group for group in self.commands}
        for resource in self.resources:
            if resource.kind not in groups:
                raise ValueError(f"{name} declares resource {resource.kind!r} but no such group")
            add_commands(groups[resource.kind], resource)

    def handles(
        self, request_type: type[R]
    ) -> Callable[[Callable[[NodeController, R], Awaitable[Any]]], Handler]:
        """Register the decorated coroutine as the node's handler of `request_type`."""

        def register(function: Callable[[NodeController, R], Awaitable[Any]]) -> Handler:
            if request_type in self.handlers:
                raise ValueError(f"{request_type.__name__} has two handlers in {self.name}")
            self.handlers[request_type] = function
            return function

        return register

    @property
    def requests(self) -> tuple[type[Request], ...]:
        """The control requests this feature's handlers answer."""
        return tuple(self.handlers)


class NodeApi:
    """The control API of a node process: every feature's requests, handlers and hooks.

    `requests` is the explicit list the request union is built from: each feature's own, and
    the three resource requests.
    """

    def __init__(self, features: Iterable[Feature]) -> None:
        handlers: dict[type[Request], Handler] = {}
        resources: dict[str, Resource[Any]] = {}
        setup: list[Hook] = []
        shutdown: list[Hook] = []
        for feature in features:
            for request_type, handler in feature.handlers.items():
                if request_type in handlers:
                    raise ValueError(f"{request_type.__name__} is handled by two features")
                handlers[request_type] = handler
            for resource in feature.resources:
                if resource.kind in resources:
                    raise ValueError(f"resource {resource.kind!r} is declared by two features")
                resources[resource.kind] = resource
            setup.extend(feature.setup)
            shutdown.extend(feature.shutdown)
        handlers.update(resource_handlers(resources))
        self.resources = resources
        self.setup: tuple[Hook, ...] = tuple(setup)
        """Run in order when a node process starts, before it answers requests."""
        self.shutdown: tuple[Hook, ...] = tuple(shutdown)
        """Run in order, each bounded, when a node process is asked to stop."""
        self._handlers = handlers
        self.requests: tuple[type[Request], ...] = tuple(handlers)
        union: Any = self.requests[0]
        for request_type in self.requests[1:]:
            union = union | request_type
        self._decoder = msgspec.msgpack.Decoder(union)

    def decode(self, data: bytes) -> Request:
        """A request from its msgpack form.

        Raises:
            msgspec.DecodeError: `data` is not one of `requests`.
        """
        request = self._decoder.decode(data)
        assert isinstance(request, Request)
        return request

    async def handle(self, controller: NodeController, request: Request) -> Any:
        """Run the handler of `request` on `controller`'s node and return its result."""
        handler = self._handlers.get(type(request))
        if handler is None:
            raise ControlError(f"this node does not support {type(request).__name__}")
        return await handler(controller, request)

    def controller(self, node: NetworkNode, *, pid: int, listener: str) -> NodeController:
        """A controller for `node` whose `stop` runs this API's shutdown hooks."""
        return NodeController(node, pid=pid, listener=listener, shutdown_hooks=self.shutdown)
