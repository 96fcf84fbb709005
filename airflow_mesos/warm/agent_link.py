"""HTTP to the agent's ``/api/v1/executor``: the SUBSCRIBE stream and the other calls.

What the agent wants (``src/slave/http.cpp`` ``Http::executor``): a POST with
``Content-Type: application/json`` (``415`` otherwise); for SUBSCRIBE an
``Accept`` allowing ``application/json``, answered ``200`` with a RecordIO
stream of events; every other call answered ``202 Accepted``.  There is no
``Mesos-Stream-Id`` on the executor API.  With ``MESOS_EXECUTOR_AUTHENTICATION_TOKEN``
the calls carry ``Authorization: Bearer <token>`` (never logged).

:class:`AgentLink` turns all of that into core events: one reader thread per
stream decodes records into :mod:`~airflow_mesos.warm.protocol` events and ends
with :class:`~airflow_mesos.warm.core.StreamClosed`; a SUBSCRIBE without a
stream becomes :class:`~airflow_mesos.warm.core.SubscribeFailed`.  Each event is
handed to ``report`` with the stream's generation, so the runtime drops what
an older stream still delivers after a newer SUBSCRIBE.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

from airflow_mesos.mesos.errors import MesosConnectionError, RecordIOError
from airflow_mesos.mesos.recordio import RecordIODecoder
from airflow_mesos.mesos.transport import StreamResponse, Transport
from airflow_mesos.warm.core import StreamClosed, SubscribeFailed, UpdateSendFailed
from airflow_mesos.warm.protocol import MalformedAgentEvent, parse_event

__all__ = ["AgentLink", "CONTENT_TYPE"]

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/json"
_UNAVAILABLE = frozenset({503, 404})  # still recovering, or the routes are not up yet: retry (executor.cpp _send)


class AgentLink:
    """The executor's connection to its agent.

    :param url: ``http://host:port/api/v1/executor``.
    :param transport: the HTTP seam (:class:`~airflow_mesos.mesos.transport.HttpxTransport` in production).
    :param report: ``report(generation, event)``, called from the stream's reader thread.
    :param auth_token: ``MESOS_EXECUTOR_AUTHENTICATION_TOKEN``, if the agent gave one.
    :param request_timeout: seconds for a call's answer and for the SUBSCRIBE's headers.
    """

    def __init__(self, url: str, transport: Transport, report: Callable[[int, Any], None], *,
                 auth_token: str | None = None, request_timeout: float = 10.0) -> None:
        self.url = url
        self._transport = transport
        self._report = report
        self._auth_token = auth_token
        self._timeout = request_timeout
        self._lock = threading.Lock()
        self._generation = 0
        self._stream: StreamResponse | None = None

    def __repr__(self) -> str:
        return f"AgentLink(url={self.url!r})"

    @property
    def generation(self) -> int:
        with self._lock:
            return self._generation

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": CONTENT_TYPE, "Accept": CONTENT_TYPE}
        if self._auth_token:
            headers["Authorization"] = f"Bearer {self._auth_token}"
        return headers

    def subscribe(self, call: Mapping[str, Any]) -> int:
        """Drop the current stream and open a new one with ``call`` (on a thread); its generation."""
        with self._lock:
            self._generation += 1
            generation = self._generation
            old, self._stream = self._stream, None
        if old is not None:
            old.close()
        body = json.dumps(call).encode()
        threading.Thread(target=self._run_stream, args=(generation, body), name=f"warm-subscribe-{generation}",
                         daemon=True).start()
        return generation

    def _run_stream(self, generation: int, body: bytes) -> None:
        try:
            stream = self._transport.subscribe(self.url, body, self._headers(), self._timeout)
        except MesosConnectionError as exc:
            self._report(generation, SubscribeFailed("connection", str(exc)))
            return
        if stream.status != 200:
            reason = stream.read_error_body().decode("utf-8", "replace").strip()
            stream.close()
            kind = "unavailable" if stream.status in _UNAVAILABLE else "refused"
            self._report(generation, SubscribeFailed(kind, f"{stream.status} {reason}".strip()))
            return
        with self._lock:
            if generation != self._generation:
                stream.close()
                return
            self._stream = stream
        decoder = RecordIODecoder()
        reason = "the agent closed the event stream"
        try:
            for chunk in stream.iter_chunks():
                for record in decoder.feed(chunk):
                    try:
                        event = parse_event(record)
                    except MalformedAgentEvent as exc:
                        log.error("ignoring a malformed event from the agent: %s", exc)
                        continue
                    self._report(generation, event)
            decoder.close()
        except (MesosConnectionError, RecordIOError) as exc:
            reason = str(exc)
        finally:
            stream.close()
        self._report(generation, StreamClosed(reason))

    def post(self, call: Mapping[str, Any]) -> UpdateSendFailed | None:
        """POST a non-SUBSCRIBE call; ``None`` when the agent took it (202), else why not (for an UPDATE)."""
        uuid = ((call.get("update") or {}).get("status") or {}).get("uuid", "")
        try:
            response = self._transport.post(self.url, json.dumps(call).encode(), self._headers(),
                                            self._timeout)
        except MesosConnectionError as exc:
            return UpdateSendFailed(uuid, str(exc), retryable=True)
        if response.status == 202:
            return None
        reason = f"{response.status} {response.body.decode('utf-8', 'replace').strip()}".strip()
        return UpdateSendFailed(uuid, reason, retryable=response.status in _UNAVAILABLE or response.status >= 500)

    def close(self) -> None:
        with self._lock:
            self._generation += 1
            stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()
