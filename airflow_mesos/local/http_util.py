"""Small HTTP helpers shared by the embedded master's handlers: JSON bodies, RecordIO, media types."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

APPLICATION_JSON = "application/json"
APPLICATION_PROTOBUF = "application/x-protobuf"


def dumps(obj: object) -> str:
    """Compact JSON, as Mesos' stout writes it."""
    return json.dumps(obj, separators=(",", ":"), allow_nan=False)


def recordio(event: dict) -> bytes:
    """One RecordIO record: ``<decimal length>\\n<json>`` (docs/recordio.md)."""
    data = dumps(event).encode()
    return str(len(data)).encode() + b"\n" + data


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


def query_params(query: str) -> dict[str, str]:
    """First value of each query parameter."""
    return {k: v[0] for k, v in parse_qs(query, keep_blank_values=True).items()}
