"""One open RecordIO event stream of the embedded master (a scheduler's or an operator's SUBSCRIBE).

The master queues encoded events under its lock; the HTTP handler thread that answered the SUBSCRIBE
drains the queue onto its socket, so no socket I/O ever happens under the master's lock.
"""

from __future__ import annotations

import queue
from dataclasses import dataclass, field

from collections.abc import Mapping
from http.server import BaseHTTPRequestHandler

from airflow_mesos.local.http_util import APPLICATION_JSON, peer_closed, recordio

CLOSE = object()
"""Queue item: end the stream with the terminating chunk (an orderly close)."""

ABORT = object()
"""Queue item: drop the TCP connection, as a network failure would."""


@dataclass(eq=False)
class EventStream:
    """The queue of RecordIO records for one SUBSCRIBE connection.

    :param stream_id: the ``Mesos-Stream-Id`` of the response.
    :param framework_id: the framework a scheduler stream belongs to; None for an operator stream (and for a
        scheduler stream that was refused before a framework was known).
    :param operator: True for a master operator API stream (``POST /api/v1`` SUBSCRIBE).
    """

    stream_id: str
    framework_id: str | None = None
    operator: bool = False
    next_heartbeat: float = 0.0
    closed: bool = False
    items: queue.Queue[object] = field(default_factory=queue.Queue)

    def send(self, event: dict) -> None:
        """Queue ``event`` (a v1 Event as JSON); ignored once the stream is closed."""
        if not self.closed:
            self.items.put(recordio(event))

    def close(self, abort: bool = False) -> None:
        """End the stream after what is queued: orderly, or (``abort``) by dropping the connection."""
        if not self.closed:
            self.closed = True
            self.items.put(ABORT if abort else CLOSE)

    def next_item(self, timeout: float) -> object | None:
        """The next queued record (bytes), :data:`CLOSE` or :data:`ABORT`; None if nothing came in ``timeout``."""
        try:
            return self.items.get(timeout=timeout)
        except queue.Empty:
            return None


def write_event_stream(handler: BaseHTTPRequestHandler, stream: EventStream, headers: Mapping[str, str],
                       poll_seconds: float = 0.2) -> None:
    """Answer 200 and write ``stream``'s RecordIO records as HTTP chunks until it ends or the client goes away
    (an :class:`~airflow_mesos.local.event_stream.EventStream`; its CLOSE ends the chunked body, ABORT drops
    the connection).  The caller learns the end when this returns."""
    import socket

    handler.send_response(200)
    handler.send_header("Content-Type", APPLICATION_JSON)
    handler.send_header("Transfer-Encoding", "chunked")
    for key, value in headers.items():
        handler.send_header(key, value)
    handler.end_headers()
    handler.close_connection = True
    sock = handler.connection
    try:
        handler.wfile.flush()
        while True:
            item = stream.next_item(poll_seconds)
            if item is None:
                if peer_closed(sock):
                    break
                continue
            if item is CLOSE:
                handler.wfile.write(b"0\r\n\r\n")
                handler.wfile.flush()
                break
            if item is ABORT:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                break
            handler.wfile.write(f"{len(item):x}\r\n".encode() + item + b"\r\n")
            handler.wfile.flush()
    except OSError:
        pass
