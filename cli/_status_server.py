"""A node's HTTP status server (`node create --http-server`): health, `/show`, `/metrics`.

The answers follow Ockam's `ockam_api/src/nodes/service/http.rs`: `HEAD /` is 200 with no body,
`GET /show` is the node's `NodeResources` JSON, anything else is 404 with no body (so `HEAD
/show` is refused). Two additions: `GET /` is 200 too (a plain health check), and `GET
/metrics` is the node's metrics in Prometheus' text format, from a `prometheus_client` registry
of the server's own.

HTTP/1.1 is h11's: one task per connection reads requests, answers them in order and keeps
the connection open while the client does. Each request must arrive within
`REQUEST_TIMEOUT`, so an idle or slow client cannot hold a task forever.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Iterator
from http import HTTPStatus
from typing import Final

import h11
import msgspec
import trio
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

log = logging.getLogger(__name__)

REQUEST_TIMEOUT: Final = 10.0
MAX_REQUEST_BYTES: Final = 64 * 1024
_READ_SIZE: Final = 16 * 1024


class NodeStatistics(msgspec.Struct, frozen=True):
    """A snapshot of what `/metrics` reports for one node."""

    portals_open: int = 0
    portal_bytes_in: int | None = None
    """Bytes read from TCP sockets into portals; `None` leaves the metric out."""
    portal_bytes_out: int | None = None
    """Bytes written by portals to TCP sockets; `None` leaves the metric out."""
    relays_hosted: int = 0
    relays_registered: int = 0
    secure_channels: int = 0
    errors: int = 0


class ErrorCounter(logging.Handler):
    """Counts log records at ERROR and above: the node's `errors` metric (a crashed actor, a
    dropped connection, a refused frame are all logged as errors)."""

    def __init__(self) -> None:
        super().__init__(level=logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        """Count one record."""
        self.count += 1


class _NodeCollector(Collector):
    """Turns the latest `NodeStatistics` into metric families labelled with the node."""

    def __init__(self, node: str) -> None:
        self._node = node
        self.latest = NodeStatistics()

    def collect(self) -> Iterator[Metric]:
        s, node = self.latest, [self._node]
        yield _gauge(
            "ockam_portals_open", "TCP portals open (inlet and outlet sides)", node, s.portals_open
        )
        if s.portal_bytes_in is not None:
            yield _counter(
                "ockam_portal_bytes_in",
                "Bytes read from TCP sockets into portals",
                node,
                s.portal_bytes_in,
            )
        if s.portal_bytes_out is not None:
            yield _counter(
                "ockam_portal_bytes_out",
                "Bytes written by portals to TCP sockets",
                node,
                s.portal_bytes_out,
            )
        relays = GaugeMetricFamily("ockam_relays", "Relays, by role", labels=["node", "role"])
        relays.add_metric([self._node, "hosted"], s.relays_hosted)
        relays.add_metric([self._node, "registered"], s.relays_registered)
        yield relays
        yield _gauge("ockam_secure_channels", "Secure channels open", node, s.secure_channels)
        yield _counter("ockam_errors", "Errors logged by the node", node, s.errors)


def _gauge(name: str, doc: str, labels: list[str], value: float) -> Metric:
    family = GaugeMetricFamily(name, doc, labels=["node"])
    family.add_metric(labels, value)
    return family


def _counter(name: str, doc: str, labels: list[str], value: float) -> Metric:
    family = CounterMetricFamily(name, doc, labels=["node"])
    family.add_metric(labels, value)
    return family


class _Answer(msgspec.Struct, frozen=True):
    status: int
    body: bytes = b""
    content_type: str | None = None


_NOT_FOUND: Final = _Answer(404)


class StatusServer:
    """The status server of one node.

    Args:
        node: the node's name (the `node` label of every metric).
        show: returns the node's `NodeResources` (any msgspec-encodable value).
        statistics: returns the node's `NodeStatistics`, read at each `/metrics` request.
        host: where to listen; 127.0.0.1 unless asked.
        port: the port; 0 picks a free one.
    """

    def __init__(
        self,
        *,
        node: str,
        show: Callable[[], Awaitable[object]],
        statistics: Callable[[], Awaitable[NodeStatistics]],
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        if not 0 <= port <= 65535:
            raise ValueError(f"bad HTTP server port {port}: expected 0 to 65535")
        self._show = show
        self._statistics = statistics
        self._host = host
        self._port = port
        self._collector = _NodeCollector(node)
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(self._collector)

    async def run(
        self, *, task_status: trio.TaskStatus[tuple[str, int]] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Listen, report the bound `(host, port)`, and serve until cancelled."""
        listeners = await trio.open_tcp_listeners(self._port, host=self._host)
        try:
            bound = listeners[0].socket.getsockname()
            log.info("HTTP status server listening on %s:%d", bound[0], bound[1])
            async with trio.open_nursery() as nursery:
                task_status.started((bound[0], bound[1]))
                await trio.serve_listeners(
                    self._serve_connection, listeners, handler_nursery=nursery
                )
        finally:
            for listener in listeners:
                with trio.move_on_after(1) as cleanup:
                    cleanup.shield = True
                    await trio.aclose_forcefully(listener)

    async def _serve_connection(self, stream: trio.SocketStream) -> None:
        connection = h11.Connection(h11.SERVER, max_incomplete_event_size=MAX_REQUEST_BYTES)
        try:
            while True:
                with trio.move_on_after(REQUEST_TIMEOUT):
                    request = await _next_request(connection, stream)
                    if request is None:
                        return
                    try:
                        answer = await self._answer(request.method, request.target)
                    except Exception:
                        # A failing `show` or `statistics` is this request's error, not the
                        # server's: the node and the other clients go on.
                        log.exception("the status server could not answer %r", request.target)
                        answer = _Answer(500)
                    await _send_answer(connection, stream, request.method, answer)
                    if (
                        connection.our_state is not h11.DONE
                        or connection.their_state is not h11.DONE
                    ):
                        return
                    connection.start_next_cycle()
                    continue
                return  # the client was too slow to send a request
        except h11.RemoteProtocolError as exc:
            log.info("bad HTTP request on the status server: %s", exc)
            if connection.our_state in (h11.IDLE, h11.SEND_RESPONSE):
                await _send_answer(connection, stream, b"GET", _Answer(exc.error_status_hint))
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the client went away; nothing to answer
        finally:
            await trio.aclose_forcefully(stream)

    async def _answer(self, method: bytes, target: bytes) -> _Answer:
        path = [part for part in target.split(b"?", 1)[0].split(b"/") if part]
        if path == [] and method in (b"GET", b"HEAD"):
            return _Answer(200)
        if path == [b"show"] and method == b"GET":
            return _Answer(200, msgspec.json.encode(await self._show()), "application/json")
        if path == [b"metrics"] and method == b"GET":
            self._collector.latest = await self._statistics()
            return _Answer(200, generate_latest(self.registry), CONTENT_TYPE_LATEST)
        return _NOT_FOUND


async def _next_request(
    connection: h11.Connection, stream: trio.SocketStream
) -> h11.Request | None:
    """The next request, its body read and dropped; `None` when the client closed."""
    request: h11.Request | None = None
    while True:
        event = connection.next_event()
        if event is h11.NEED_DATA:
            data = await stream.receive_some(_READ_SIZE)
            connection.receive_data(data)
        elif isinstance(event, h11.Request):
            request = event
        elif isinstance(event, h11.EndOfMessage):
            return request
        elif isinstance(event, h11.ConnectionClosed):
            return None


async def _send_answer(
    connection: h11.Connection, stream: trio.SocketStream, method: bytes, answer: _Answer
) -> None:
    headers = [("content-length", str(len(answer.body)))]
    if answer.content_type is not None:
        headers.append(("content-type", answer.content_type))
    response = h11.Response(
        status_code=answer.status, headers=headers, reason=HTTPStatus(answer.status).phrase
    )
    data = connection.send(response)
    # A HEAD answer has the headers of the GET one and no body (RFC 9110 §9.3.2).
    if method != b"HEAD" and answer.body:
        data += connection.send(h11.Data(data=answer.body))
    data += connection.send(h11.EndOfMessage())
    await stream.send_all(data)
