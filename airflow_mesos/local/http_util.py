"""HTTP pieces shared by the embedded master's and agents' edges: replies, JSON, RecordIO, media types, and
the request decoding both v1 APIs (scheduler and operator) share."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote

from airflow_mesos.local import proto
from airflow_mesos.local.constants import MESOS_VERSION
from airflow_mesos.local.validation import validate_operator_call

APPLICATION_JSON = "application/json"
APPLICATION_PROTOBUF = "application/x-protobuf"
TEXT_PLAIN = "text/plain; charset=utf-8"


def dumps(obj: object) -> str:
    """Compact JSON, as Mesos' stout writes it."""
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


def recordio(event: dict) -> bytes:
    """One RecordIO record: ``<decimal length>\\n<json>`` (docs/recordio.md)."""
    data = dumps(event).encode()
    return str(len(data)).encode() + b"\n" + data


@dataclass
class HttpReply:
    """One HTTP response for a server's handler to write."""

    status: int
    body: bytes = b""
    content_type: str = TEXT_PLAIN
    headers: dict[str, str] = field(default_factory=dict)

    @staticmethod
    def json(obj: object, status: int = 200, jsonp: str | None = None) -> HttpReply:
        body = dumps(obj)
        if jsonp:
            return HttpReply(status, f"{jsonp}({body});".encode(), "text/javascript")
        return HttpReply(status, body.encode(), APPLICATION_JSON)

    @staticmethod
    def text(status: int, message: str = "", headers: dict[str, str] | None = None) -> HttpReply:
        return HttpReply(status, message.encode(), TEXT_PLAIN, dict(headers or {}))


def accepts(accept_header: str | None, media_type: str) -> bool:
    """``Request::acceptsMediaType``: no header accepts anything; honours ``*/*``, ``type/*`` and ``q=0``."""
    if accept_header is None:
        return True
    main = media_type.split("/")[0]
    for item in accept_header.split(","):
        parts = [p.strip() for p in item.split(";")]
        candidate = parts[0].lower()
        q = 1.0
        for param in parts[1:]:
            if param.startswith("q="):
                try:
                    q = float(param[2:])
                except ValueError:
                    q = 0.0
        if q <= 0:
            continue
        if candidate in (media_type, "*/*", f"{main}/*"):
            return True
    return False


def not_acceptable() -> HttpReply:
    """406 for an ``Accept`` that allows neither media type (only JSON is implemented here)."""
    return HttpReply.text(406, f"Expecting 'Accept' to allow '{APPLICATION_PROTOBUF}' or '{APPLICATION_JSON}'"
                               " (only application/json is implemented by the embedded cluster)")


def query_params(query: str) -> dict[str, str]:
    """First value of each query parameter."""
    return {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}


def decode_call(method: str, headers: Mapping[str, str], body: bytes, message: str) -> dict | HttpReply:
    """Decode a v1 API request body into the ``message`` protobuf (``"Call"``, ``"master.Call"``, ``"agent.Call"``).

    The steps ``Master::Http::scheduler`` and ``Master::Http::api`` (and the agent's ``Http::api``) share, in
    their order: 405 unless POST → 400 "Expecting 'Content-Type' to be present" → 415 unless the Content-Type is
    exactly ``application/json`` (Mesos compares the whole header value, so ``application/json; charset=utf-8`` is
    415; protobuf bodies are valid for Mesos but not implemented here) → 400 "Failed to parse body into JSON: …"
    (picojson's rules: no ``NaN``, no overflowing numbers) → 400 "Failed to convert JSON into Call protobuf: …"
    (stout's ``protobuf::parse``).  Returns the normalized call, or the reply to send.
    """
    if method != "POST":
        return HttpReply.text(405, f"Expecting one of {{ 'POST' }}, but received '{method}'", {"Allow": "POST"})
    content_type = headers.get("Content-Type")
    if content_type is None:
        return HttpReply.text(400, "Expecting 'Content-Type' to be present")
    if content_type != APPLICATION_JSON:
        return HttpReply.text(415, f"Expecting 'Content-Type' of {APPLICATION_JSON} or {APPLICATION_PROTOBUF}"
                                   + (" (application/x-protobuf is not implemented by the embedded cluster)"
                                      if content_type == APPLICATION_PROTOBUF else ""))
    try:
        document = proto.parse_json_body(body)
    except ValueError as exc:
        return HttpReply.text(400, f"Failed to parse body into JSON: {exc}")
    try:
        return proto.parse(message, document)
    except proto.ProtoError as exc:
        return HttpReply.text(400, f"Failed to convert JSON into Call protobuf: {exc}")



def decode_operator_call(method: str, headers: Mapping[str, str], body: bytes, api: str) -> dict | HttpReply:
    """Decode and validate one operator ``POST /api/v1`` request (``Master::Http::api``, the agent's
    ``Http::api``): :func:`decode_call` into ``master.Call`` / ``agent.Call``, then
    ``validation::{master,agent}::call::validate``, then the ``Accept`` check.  The call, or the reply to send.

    :param api: ``"master"`` or ``"agent"``.
    """
    call = decode_call(method, headers, body, f"{api}.Call")
    if isinstance(call, HttpReply):
        return call
    error = validate_operator_call(call, api)
    if error is not None:
        return HttpReply.text(400, f"Failed to validate {api}::Call: {error}")
    if not accepts(headers.get("Accept"), APPLICATION_JSON):
        return not_acceptable()
    return call

# ------------------------------------------------------------------------------------------------
# Routing and the request handler both servers use
# ------------------------------------------------------------------------------------------------


def resolve_endpoint(path: str, processes: Mapping[str, Collection[str]], delegate: str) -> tuple[str, str] | None:
    """Which ``(process, endpoint)`` of a libprocess server answers ``path``; None for a 404.

    As libprocess routes (3rdparty/libprocess/src/process.cpp 1.11.0): ``ProcessManager::handle`` refuses a
    path with ``/..`` and picks the process the first path segment names (percent-decoded), else the
    ``delegate`` (``/state`` is ``/master/state``); ``ProcessBase::consume`` then drops the process id and any
    leading and trailing slashes and looks for the longest endpoint name that is a prefix of the rest, one
    segment shorter at a time: ``/master/state/`` and ``/master/frameworks/x/y`` answer as ``/master/state`` and
    ``/master/frameworks``.
    """
    if "/.." in path:
        return None
    tokens = [token for token in path.split("/") if token]
    if tokens and unquote(tokens[0]) in processes:
        process, rest = unquote(tokens[0]), tokens[1:]
    else:
        process, rest = delegate, tokens
    endpoints = processes.get(process, ())
    name = "/".join(rest)
    while True:
        if name in endpoints:
            return process, name
        if "/" not in name:  # stout's Path::dirname of a single segment is ".", where the search ends
            return None
        name = name.rsplit("/", 1)[0]


class MesosHTTPServer(ThreadingHTTPServer):
    """The master's and agents' server: a thread per connection and a deep listen backlog, as libprocess
    listens with ``LISTEN_BACKLOG`` (500000, 3rdparty/libprocess/src/process.cpp; the kernel caps it at
    ``net.core.somaxconn``).  socketserver's default of 5 reset connections when an executor's UPDATEs or a
    scheduler's calls came in a burst (50 tasks finishing at once in one executor)."""

    request_queue_size = 500000
    daemon_threads = True


MAX_REQUEST_BODY = 64 * 1024 * 1024
"""Bytes of a request body the embedded servers read at most (a call is a few KiB; Mesos has no limit)."""

_DIGITS = re.compile(r"[0-9]+\Z")
_CHUNK_SIZE = re.compile(rb"[0-9a-fA-F]+\Z")


class MalformedRequest(Exception):
    """The request's framing cannot be read (its body length); the connection cannot go on after it."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class MesosRequestHandler(BaseHTTPRequestHandler):
    """What the master's and agents' handlers share: HTTP/1.1, Mesos' Server header, replies, bodies.

    A body whose length cannot be read (``Content-Length: abc``, two different lengths, a bad chunk size)
    is answered 400 and the connection closed (libprocess' decoder drops the connection without an answer;
    a clear answer is kinder to the client and to whoever reads its log).
    """

    protocol_version = "HTTP/1.1"
    server_version = "Mesos/" + MESOS_VERSION
    logger = logging.getLogger(__name__)

    def read_request_body(self) -> bytes | None:
        """The body (``b""`` when there is none), or None after answering a malformed request."""
        try:
            return self.read_body()
        except MalformedRequest as exc:
            self.close_connection = True
            self.send_reply(HttpReply.text(exc.status, exc.message, {"Connection": "close"}))
            return None

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        self.logger.debug("http: " + format, *args)

    def send_reply(self, reply: HttpReply) -> None:
        data = reply.body
        self.send_response(reply.status)
        for key, value in reply.headers.items():
            self.send_header(key, value)
        if data:
            self.send_header("Content-Type", reply.content_type)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)

    def read_body(self) -> bytes:
        """Read the body by ``Transfer-Encoding: chunked`` or ``Content-Length``; raises :class:`MalformedRequest`."""
        encoding = self.headers.get("Transfer-Encoding")
        if encoding is not None:
            if encoding.strip().lower() != "chunked":
                raise MalformedRequest(400, f"Unsupported 'Transfer-Encoding' header: {encoding!r}")
            return self._read_chunked()
        values = {value.strip() for value in self.headers.get_all("Content-Length") or []}
        if not values:
            return b""
        if len(values) > 1:
            raise MalformedRequest(400, f"Conflicting 'Content-Length' headers: {', '.join(sorted(values))}")
        text = values.pop()
        if not _DIGITS.match(text):
            raise MalformedRequest(400, f"Malformed 'Content-Length' header: {text!r} is not a number of bytes")
        length = int(text)
        if length > MAX_REQUEST_BODY:
            raise MalformedRequest(413, f"Request body of {length} bytes exceeds {MAX_REQUEST_BODY} bytes")
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes:
        body = bytearray()
        while True:
            size_text = self.rfile.readline(1024).split(b";", 1)[0].strip()
            if not _CHUNK_SIZE.match(size_text):
                raise MalformedRequest(400, "Malformed chunk size in a chunked request body")
            size = int(size_text, 16)
            if size == 0:
                while self.rfile.readline(8192).strip():  # trailers, up to the empty line
                    pass
                return bytes(body)
            if len(body) + size > MAX_REQUEST_BODY:
                raise MalformedRequest(413, f"Request body exceeds {MAX_REQUEST_BODY} bytes")
            body += self.rfile.read(size)
            self.rfile.readline(8)  # the chunk's CRLF


def peer_closed(sock) -> bool:
    """True when the client closed its end of ``sock`` (readable with no data)."""
    import select
    import socket

    try:
        readable, _, _ = select.select([sock], [], [], 0)
        if not readable:
            return False
        return sock.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True

