"""The embedded master's HTTP edge: routing, request decoding and replies, nothing else.

:func:`serve` answers one request (method, URI, headers, body) with an :class:`HttpReply`, or with the
:class:`EventStream` of an accepted SUBSCRIBE for the handler to stream; it decides nothing about frameworks
or tasks itself: that is the master's (:class:`MasterService`), and what is shown is rendered by
:mod:`.master_views` under the master's lock (``service.render``).

Endpoints, as a 1.11 master routes them (libprocess processes ``master``, ``metrics`` and ``version``; see
:func:`.http_util.resolve_endpoint`): ``/api/v1/scheduler`` (scheduler API), ``/api/v1`` (operator API),
``/state``, ``/frameworks``, ``/slaves``, ``/tasks``, ``/state-summary``, ``/flags``, ``/roles``, ``/health``,
``/redirect`` (all also under ``/master/``), ``/metrics/snapshot`` and ``/version``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler
from typing import Protocol, TypeVar
from urllib.parse import urlsplit

from airflow_mesos.local import master_views
from airflow_mesos.local.constants import version_info
from airflow_mesos.local.event_stream import EventStream, write_event_stream
from airflow_mesos.local.host_metrics import system_metrics
from airflow_mesos.local.http_util import (
    APPLICATION_JSON,
    HttpReply,
    MesosRequestHandler,
    decode_operator_call,
    accepts,
    decode_call,
    not_acceptable,
    query_params,
    resolve_endpoint,
)
from airflow_mesos.local.records import MasterView
from airflow_mesos.local.validation import validate_call

log = logging.getLogger(__name__)

T = TypeVar("T")

MASTER_PROCESSES: dict[str, frozenset[str]] = {
    "master": frozenset({"api/v1/scheduler", "api/v1", "state", "frameworks", "slaves", "tasks", "state-summary",
                         "flags", "roles", "health", "redirect"}),
    "metrics": frozenset({"snapshot"}),
    "version": frozenset({""}),
}
"""The libprocess processes of the master and their endpoint names (``route(...)`` in master.cpp)."""

CHANGING_CALLS = frozenset({"DEACTIVATE_AGENT", "REACTIVATE_AGENT"})
"""The operator calls that change the cluster which the embedded master implements (the others are 501)."""

_STREAM_POLL = 0.2
"""Seconds a streaming handler waits for an event before it checks whether the client went away."""


class MasterService(Protocol):
    """What the HTTP edge needs of the master (implemented by :class:`~airflow_mesos.local.master.Master`)."""

    standby: bool

    def leader_hostport(self) -> str | None:
        """``host:port`` of the leading master (this one when it leads); None when no leader is known."""

    def authenticate(self, header: str | None) -> tuple[bool, str | None]:
        """(authorized, principal) for an ``Authorization`` header."""

    def render(self, view_fn: Callable[[MasterView], T]) -> T:
        """``view_fn`` of a consistent view of the master (under its lock)."""

    def now(self) -> float:
        """Wall-clock time of the master's clock."""

    def subscribe(self, call: dict, principal: str | None) -> EventStream:
        """A validated scheduler SUBSCRIBE; the stream to send (SUBSCRIBED, or an ERROR then the end)."""

    def scheduler_call(self, call: dict, principal: str | None, stream_id: str | None) -> tuple[int, str]:
        """A validated non-SUBSCRIBE scheduler call; the (status, body) to answer."""

    def subscribe_operator(self) -> EventStream:
        """An operator SUBSCRIBE; the stream of master events."""

    def operator_call(self, call: dict) -> tuple[int, str]:
        """An operator call that changes the cluster (DEACTIVATE_AGENT, REACTIVATE_AGENT); the (status, body)."""

    def stream_closed(self, stream: EventStream) -> None:
        """The connection of ``stream`` ended."""


# ------------------------------------------------------------------------------------------------
# Requests (no sockets here: the handler below reads and writes them)
# ------------------------------------------------------------------------------------------------


def serve(service: MasterService, method: str, request_uri: str, headers: Mapping[str, str],
          body: bytes) -> HttpReply | EventStream:
    """Answer one request to the master."""
    parts = urlsplit(request_uri)
    query = query_params(parts.query)
    route = resolve_endpoint(parts.path, MASTER_PROCESSES, "master")
    if route is None:
        return HttpReply.text(404)
    process, endpoint = route
    if process == "version":
        return HttpReply.json(version_info(), jsonp=query.get("jsonp"))
    if process == "metrics":
        if method not in ("GET", "HEAD"):
            return HttpReply.text(405, f"Expecting one of {{ 'GET' }}, but received '{method}'", {"Allow": "GET"})
        return HttpReply.json(metrics_snapshot(service), jsonp=query.get("jsonp"))
    if endpoint == "api/v1/scheduler":
        return _scheduler(service, method, parts, headers, body)
    if endpoint == "health":
        return HttpReply.text(200)
    if endpoint == "redirect":
        leader = service.leader_hostport()
        return HttpReply.text(503, "No leader elected") if leader is None else \
            HttpReply.text(307, headers={"Location": f"//{leader}"})
    if endpoint == "flags":  # a standby serves its own flags
        return HttpReply.json(service.render(lambda view: master_views.flags_endpoint(view, query)),
                              jsonp=query.get("jsonp"))
    if service.standby:
        # Non-leading masters redirect read-only and operator requests to the leader (Master::Http::redirect).
        return _redirect(service, request_uri)
    if endpoint == "api/v1":
        return _operator(service, method, headers, body)
    result = service.render(lambda view: master_views.READONLY_ENDPOINTS[endpoint](view, query))
    return HttpReply.json(result, jsonp=query.get("jsonp"))


def _redirect(service: MasterService, path_and_query: str) -> HttpReply:
    leader = service.leader_hostport()
    if leader is None:
        return HttpReply.text(503, "No leader elected")
    return HttpReply.text(307, headers={"Location": f"//{leader}{path_and_query}"})


def metrics_snapshot(service: MasterService) -> dict[str, float]:
    """The master's ``/metrics/snapshot``: ``master/*`` plus ``system/*`` (read from the host, outside the lock)."""
    now = service.now()
    snapshot = service.render(lambda view: master_views.master_metrics(view, now))
    snapshot.update(system_metrics())
    return snapshot


def _scheduler(service: MasterService, method: str, parts, headers: Mapping[str, str],
               body: bytes) -> HttpReply | EventStream:
    """``Master::Http::scheduler`` (src/master/http.cpp); see docs/local-cluster.md for the order of checks."""
    # libprocess authenticates before the handler runs, so 401 precedes everything else.
    ok, principal = service.authenticate(headers.get("Authorization"))
    if not ok:
        return HttpReply.text(401, headers={"WWW-Authenticate": 'Basic realm="mesos-master-scheduler"'})
    if service.standby:
        return _redirect(service, parts.path + (f"?{parts.query}" if parts.query else ""))
    call = decode_call(method, headers, body, "Call")
    if isinstance(call, HttpReply):
        return call
    error = validate_call(call, principal)
    if error is not None:
        return HttpReply.text(400, f"Failed to validate scheduler::Call: {error}")
    try:
        if call["type"] == "SUBSCRIBE":
            if not accepts(headers.get("Accept"), APPLICATION_JSON):
                return not_acceptable()
            if "Mesos-Stream-Id" in headers:
                return HttpReply.text(400, "Subscribe calls should not include the 'Mesos-Stream-Id' header")
            return service.subscribe(call, principal)
        status, text = service.scheduler_call(call, principal, headers.get("Mesos-Stream-Id"))
    except Exception as exc:  # noqa: BLE001 - a bug must cost this request, never the server thread
        return internal_error(call, exc)
    return HttpReply.text(status, text)


def internal_error(call: dict, exc: Exception) -> HttpReply:
    """Last resort for a bug in handling a well-typed call: 500, and the master keeps serving.

    Calls are type-checked against the protobuf shapes first, so this is never bad input.  The
    exception text may quote call values (which may be secrets), so it goes to DEBUG only.
    """
    kind = call.get("type", "UNKNOWN")
    log.error("internal error handling %s call of framework %s: %s (details at DEBUG level)", kind,
              (call.get("framework_id") or {}).get("value", "<new>"), type(exc).__name__)
    log.debug("internal error handling %s call", kind, exc_info=exc)
    return HttpReply.text(500, f"Internal error while handling the {kind} call ({type(exc).__name__}); "
                               f"see the master log")


def _operator(service: MasterService, method: str, headers: Mapping[str, str], body: bytes) -> HttpReply | EventStream:
    """``Master::Http::api``: the read-only operator calls and SUBSCRIBE; the others are 501."""
    call = decode_operator_call(method, headers, body, "master")
    if isinstance(call, HttpReply):
        return call
    if call["type"] == "SUBSCRIBE":
        return service.subscribe_operator()
    if call["type"] in CHANGING_CALLS:
        status, text = service.operator_call(call)
        return HttpReply.text(status, text)
    # Taken before the lock: the system metrics read the host.
    metrics = metrics_snapshot(service) if call["type"] == "GET_METRICS" else {}
    return service.render(lambda view: operator_reply(view, call, metrics))


def operator_reply(view: MasterView, call: dict, metrics: dict[str, float]) -> HttpReply:
    """The reply to a decoded, validated master operator call (not SUBSCRIBE)."""
    kind = call["type"]
    if kind == "UNKNOWN":
        return HttpReply.text(501)
    if kind in ("LIST_FILES", "READ_FILE"):
        # The embedded master attaches no files (it has no log files), so every path is unknown.
        return HttpReply.text(404)
    payload = master_views.master_call_response(view, kind, metrics)
    if payload is None:
        return unsupported(kind, "master")
    return HttpReply.json({"type": kind, kind.lower(): payload})


def unsupported(call_type: str, where: str) -> HttpReply:
    """501 for an operator call the embedded master or agent does not implement."""
    return HttpReply.text(501, f"{call_type} is not supported by the embedded Mesos {where} "
                               "(it serves the read-only operator calls; see docs/local-cluster.md)")


# ------------------------------------------------------------------------------------------------
# The handler: socket I/O only
# ------------------------------------------------------------------------------------------------


def make_handler(service: MasterService) -> type[BaseHTTPRequestHandler]:
    """A ``ThreadingHTTPServer`` handler class serving ``service``."""

    class Handler(_MasterHandler):
        pass

    Handler.service = service
    return Handler


class _MasterHandler(MesosRequestHandler):
    service: MasterService
    logger = log

    def do_GET(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def do_PUT(self) -> None:
        self._handle()

    def do_DELETE(self) -> None:
        self._handle()

    def _handle(self) -> None:
        try:
            body = self.read_request_body()
            if body is None:
                return
            try:
                reply = serve(self.service, self.command, self.path, self.headers, body)
            except Exception as exc:  # noqa: BLE001 - one bad request must not kill the server thread
                log.error("master: %s %s failed: %s (details at DEBUG level)", self.command,
                          urlsplit(self.path).path, type(exc).__name__)
                log.debug("master: request failed", exc_info=exc)
                reply = HttpReply.text(500, f"Internal error ({type(exc).__name__}); see the master log")
            if isinstance(reply, EventStream):
                self._stream(reply)
            else:
                self.send_reply(reply)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def _stream(self, stream: EventStream) -> None:
        """Write the stream's records as HTTP chunks until it ends or the client goes away."""
        try:
            write_event_stream(self, stream, {"Mesos-Stream-Id": stream.stream_id}, poll_seconds=_STREAM_POLL)
        finally:
            self.service.stream_closed(stream)


