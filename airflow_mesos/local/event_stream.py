"""One open RecordIO event stream of the embedded master (a scheduler's or an operator's SUBSCRIBE).

The master queues encoded events under its lock; the HTTP handler thread that answered the SUBSCRIBE
drains the queue onto its socket, so no socket I/O ever happens under the master's lock.
"""

from __future__ import annotations

import queue
from dataclasses import dataclass, field

from airflow_mesos.local.http_util import recordio

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
