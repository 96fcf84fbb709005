"""An embedded agent's HTTP edge: routing, request decoding and replies, nothing else.

:func:`serve` answers one request; what is shown is rendered by :mod:`.agent_views` under the agent's lock
(``service.render``), files come from the agent's :class:`~airflow_mesos.local.sandbox.FileServer`.

Endpoints, as a 1.11 agent routes them (libprocess processes ``slave(1)``, ``files``, ``metrics`` and
``version``; see :func:`.http_util.resolve_endpoint`): ``/state``, ``/flags``, ``/health``, ``/api/v1`` (also
under ``/slave(1)/``), ``/api/v1/executor`` (the executor API; a SUBSCRIBE answers with an event stream), ``/files/read``, ``/files/browse``, ``/files/download``, ``/files/debug``,
``/metrics/snapshot`` and ``/version``.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable, Mapping
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Protocol, TypeVar
from urllib.parse import urlsplit

from airflow_mesos.local import agent_views
from airflow_mesos.local.agent_records import AgentView
from airflow_mesos.local.constants import version_info
from airflow_mesos.local.event_stream import EventStream, write_event_stream
from airflow_mesos.local.host_metrics import system_metrics
from airflow_mesos.local.http_util import (
    HttpReply,
    MesosRequestHandler,
    decode_operator_call,
    query_params,
    resolve_endpoint,
)
from airflow_mesos.local.sandbox import FileServer, FilesError

log = logging.getLogger(__name__)

T = TypeVar("T")

AGENT_PROCESSES: dict[str, frozenset[str]] = {
    "slave(1)": frozenset({"api/v1", "api/v1/executor", "state", "flags", "health"}),
    "files": frozenset({"read", "browse", "download", "debug"}),
    "metrics": frozenset({"snapshot"}),
    "version": frozenset({""}),
}
"""The libprocess processes of an agent and their endpoint names (``route(...)`` in slave.cpp, files.cpp)."""

HANG_UP = object()
"""What :func:`serve` returns when the request gets no answer at all (the agent is partitioned from its master
and this is the master's ping)."""


class AgentService(Protocol):
    """What the HTTP edge needs of an agent (implemented by :class:`~airflow_mesos.local.agent.Agent`)."""

    id: str

    @property
    def partitioned(self) -> bool:
        """Cut off from the master: its ``/health`` pings get no answer."""

    @property
    def files(self) -> FileServer:
        """The sandboxes the agent serves."""

    def render(self, view_fn: Callable[[AgentView], T]) -> T:
        """``view_fn`` of a consistent view of the agent (under its lock)."""

    def now(self) -> float:
        """Wall-clock time of the agent's clock."""

    def executor_api(self, method: str, headers: Mapping[str, str], body: bytes) -> HttpReply | EventStream:
        """One call of the v1 executor API: the reply, or a SUBSCRIBE's event stream."""

    def executor_stream_closed(self, stream: EventStream) -> None:
        """An executor's event stream ended."""


def serve(service: AgentService, method: str, request_uri: str, headers: Mapping[str, str],
          body: bytes) -> HttpReply | EventStream | object:
    """Answer one request to the agent (an :class:`HttpReply`, an executor's :class:`EventStream`, or
    :data:`HANG_UP`)."""
    parts = urlsplit(request_uri)
    query = query_params(parts.query)
    route = resolve_endpoint(parts.path, AGENT_PROCESSES, "slave(1)")
    if route is None:
        return HttpReply.text(404)
    process, endpoint = route
    if endpoint == "api/v1":
        return _operator(service, method, headers, body)
    if endpoint == "api/v1/executor":
        return service.executor_api(method, headers, body)
    if method not in ("GET", "HEAD"):
        return HttpReply.text(405, headers={"Allow": "GET"})
    jsonp = query.get("jsonp")
    if process == "version":
        return HttpReply.json(version_info(), jsonp=jsonp)
    if process == "metrics":
        return HttpReply.json(metrics_snapshot(service), jsonp=jsonp)
    if process == "files":
        return _files(service.files, endpoint, query)
    if endpoint == "health":
        return HANG_UP if service.partitioned else HttpReply.text(200)
    if endpoint == "flags":
        return HttpReply.json(service.render(lambda view: {"flags": dict(view.flags)}), jsonp=jsonp)
    return HttpReply.json(service.render(agent_views.agent_state), jsonp=jsonp)


def _files(files: FileServer, endpoint: str, query: dict[str, str]) -> HttpReply:
    """``/files/*`` (src/files/files.cpp): raw text reads, directory listings, downloads."""
    jsonp = query.get("jsonp")
    try:
        if endpoint == "read":
            return HttpReply.json(files.read(query), jsonp=jsonp)
        if endpoint == "browse":
            return HttpReply.json(files.browse(query), jsonp=jsonp)
        if endpoint == "debug":
            return HttpReply.json(files.debug(), jsonp=jsonp)
        real = files.download_path(query)
        with open(real, "rb") as handle:
            data = handle.read()
    except FilesError as exc:
        return HttpReply.text(exc.status, exc.message)
    return HttpReply(200, data, "application/octet-stream",
                     {"Content-Disposition": f'attachment; filename="{Path(real).name}"'})


def metrics_snapshot(service: AgentService) -> dict[str, float]:
    """The agent's ``/metrics/snapshot``: ``slave/*`` plus ``system/*`` (read from the host, outside the lock)."""
    now = service.now()
    snapshot = service.render(lambda view: agent_views.agent_metrics(view, now))
    snapshot.update(system_metrics())
    return snapshot


def _operator(service: AgentService, method: str, headers: Mapping[str, str], body: bytes) -> HttpReply:
    """The agent's ``Http::api``: the read-only calls and the files; the others are 501."""
    call = decode_operator_call(method, headers, body, "agent")
    if isinstance(call, HttpReply):
        return call
    return operator_reply(service, call)


def operator_reply(service: AgentService, call: dict) -> HttpReply:
    """The reply to a decoded, validated agent operator call."""
    kind = call["type"]
    if kind == "UNKNOWN":
        return HttpReply.text(501)
    try:
        if kind == "LIST_FILES":
            entries = service.files.list_entries(call["list_files"]["path"])
            return HttpReply.json({"type": kind, "list_files": {"file_infos": [e.v1_json() for e in entries]}})
        if kind == "READ_FILE":
            payload = call["read_file"]
            size, data = service.files.read_bytes(payload["path"], payload["offset"], payload.get("length"))
            return HttpReply.json({"type": kind, "read_file": {"size": size, "data": _base64(data)}})
    except FilesError as exc:
        return HttpReply.text(exc.status, exc.message)
    # Taken before the lock: the system metrics read the host.
    metrics = metrics_snapshot(service) if kind == "GET_METRICS" else {}
    now = service.now()
    payload = service.render(lambda view: agent_views.agent_call_response(view, kind, metrics, now))
    if payload is None:
        return HttpReply.text(501, f"{kind} is not supported by the embedded Mesos agent "
                                   "(it serves the read-only operator calls; see docs/local-cluster.md)")
    return HttpReply.json({"type": kind, kind.lower(): payload})


def _base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def make_handler(service: AgentService) -> type[BaseHTTPRequestHandler]:
    """A ``ThreadingHTTPServer`` handler class serving ``service``."""

    class Handler(_AgentHandler):
        pass

    Handler.service = service
    return Handler


class _AgentHandler(MesosRequestHandler):
    service: AgentService
    logger = log

    def do_GET(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        try:
            body = self.read_request_body()
            if body is None:
                return
            try:
                reply = serve(self.service, self.command, self.path, self.headers, body)
            except Exception as exc:  # noqa: BLE001 - one bad request must not kill the server thread
                log.exception("agent %s: %s failed", self.service.id, urlsplit(self.path).path)
                reply = HttpReply.text(500, f"{type(exc).__name__}\n")
            if reply is HANG_UP:
                self.close_connection = True
                return
            if isinstance(reply, EventStream):
                # An executor's SUBSCRIBE: no Mesos-Stream-Id (that header is the scheduler API's).
                try:
                    write_event_stream(self, reply, {})
                finally:
                    self.service.executor_stream_closed(reply)
                return
            self.send_reply(reply)  # type: ignore[arg-type]
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
