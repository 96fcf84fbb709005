"""HTTP pieces shared by the embedded master's and agents' edges: replies, JSON, RecordIO, media types, and
the request decoding both v1 APIs (scheduler and operator) share."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import parse_qs

from airflow_mesos.local import proto

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
