"""The pytest plugin of the testing kit, registered as the `pytest11` entry point `trio_ockam`:
installing the package gives every test these fixtures, with nothing in `conftest.py`.

- `ockam_node`: a `NetworkNode` (`transports.open_node`), TCP at `node.tcp`.
- `ockam_topology`: a `Topology` (`transports.testing.open_topology`).
- `ockam_echo_server`, `ockam_sink_server`: TCP servers on 127.0.0.1 port 0.

Markers configure the nodes: `@pytest.mark.ockam_node(name="n1", services=(...))` takes
`open_node`'s arguments, `@pytest.mark.ockam_topology(["a", "b"], links=..., transport=...,
services=...)` `open_topology`'s. The fixtures are async: run the tests with pytest-trio
(`trio_mode = true`, or `@pytest.mark.trio` on each test).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from ._node import NetworkNode, open_node
from .testing import (
    EchoServer,
    SinkServer,
    Topology,
    open_echo_server,
    open_sink_server,
    open_topology,
)


def pytest_configure(config: pytest.Config) -> None:
    """Register the markers, so that `--strict-markers` accepts them."""
    config.addinivalue_line(
        "markers",
        "ockam_node(name='node', *, services=...): the node the ockam_node fixture opens "
        "(transports.open_node's arguments)",
    )
    config.addinivalue_line(
        "markers",
        "ockam_topology(names=('n1', 'n2', 'n3'), *, links=None, transport='tcp', services=...):"
        " the nodes the ockam_topology fixture opens (open_topology's arguments)",
    )


def _marker_arguments(request: pytest.FixtureRequest, name: str) -> tuple[Any, dict[str, Any]]:
    marker = request.node.get_closest_marker(name)
    return ((), {}) if marker is None else (marker.args, dict(marker.kwargs))


@pytest.fixture
async def ockam_node(request: pytest.FixtureRequest) -> AsyncIterator[NetworkNode]:
    """A running node with the TCP and WebSocket transports, stopped after the test."""
    args, kwargs = _marker_arguments(request, "ockam_node")
    async with open_node(*args, **kwargs) as node:
        yield node


@pytest.fixture
async def ockam_topology(request: pytest.FixtureRequest) -> AsyncIterator[Topology]:
    """Running, connected nodes (a chain `n1 - n2 - n3` over loopback TCP unless the test's
    `ockam_topology` marker says otherwise), stopped after the test."""
    args, kwargs = _marker_arguments(request, "ockam_topology")
    async with open_topology(*args, **kwargs) as topology:
        yield topology


@pytest.fixture
async def ockam_echo_server() -> AsyncIterator[EchoServer]:
    """An `EchoServer` on 127.0.0.1 port 0: the target of an outlet (`.address`)."""
    async with open_echo_server() as server:
        yield server


@pytest.fixture
async def ockam_sink_server() -> AsyncIterator[SinkServer]:
    """A `SinkServer` on 127.0.0.1 port 0 that counts what it receives (`.received`)."""
    async with open_sink_server() as server:
        yield server
