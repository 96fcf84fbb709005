"""A scripted fake of the driver's Transport, and helpers to drive a SchedulerDriver in tests."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from airflow_mesos.mesos import events
from airflow_mesos.mesos.errors import MesosConnectionError
from airflow_mesos.mesos.recordio import encode
from airflow_mesos.mesos.transport import Response

WAIT = 5.0  # real seconds a test waits for the driver's threads before failing


def frame(event: dict) -> bytes:
    return encode(json.dumps(event).encode())


def subscribed(framework_id: str = "F-0000", interval: float = 15.0) -> bytes:
    return frame({"type": "SUBSCRIBED", "subscribed": {"framework_id": {"value": framework_id},
                                                      "heartbeat_interval_seconds": interval}})


HEARTBEAT = frame({"type": "HEARTBEAT"})


class FakeStream:
    """An open SUBSCRIBE answer whose body the test feeds with :meth:`send` and ends with :meth:`end`."""

    _END = object()

    def __init__(self, status: int = 200, headers: dict | None = None, body: bytes = b"",
                 stream_id: str = "stream-1") -> None:
        self.status = status
        self.headers = dict(headers or {})
        if status == 200:
            self.headers.setdefault("mesos-stream-id", stream_id)
        self._body = body
        self._chunks: queue.Queue = queue.Queue()
        self.closed = threading.Event()

    def send(self, data: bytes) -> None:
        self._chunks.put(data)

    def end(self, error: Exception | None = None) -> None:
        self._chunks.put(error if error is not None else self._END)

    def iter_chunks(self):
        while True:
            item = self._chunks.get(timeout=WAIT * 2)
            if item is self._END:
                return
            if isinstance(item, Exception):
                raise item
            yield item

    def read_error_body(self, limit: int = 4096) -> bytes:
        return self._body[:limit]

    def close(self) -> None:
        self.closed.set()
        self._chunks.put(self._END)


@dataclass
class Request:
    url: str
    body: dict
    headers: dict


class FakeTransport:
    """Each SUBSCRIBE takes the next scripted outcome (a FakeStream to return or an exception to
    raise), waiting for the test to script it; each POST answers with the next scripted Response
    (202 by default)."""

    def __init__(self) -> None:
        self.outcomes: queue.Queue = queue.Queue()
        self.subscribes: list[Request] = []
        self.posts: list[Request] = []
        self.post_responses: list[Response] = []
        self.released = False
        self.closed = False
        self.on_post: Callable[[Request], None] | None = None  # lets a test act like the master
        self._lock = threading.Lock()

    def script(self, *outcomes) -> None:
        for outcome in outcomes:
            self.outcomes.put(outcome)

    def subscribe(self, url, body, headers, timeout):
        with self._lock:
            self.subscribes.append(Request(url, json.loads(body), dict(headers)))
        deadline = time.monotonic() + WAIT * 2
        while time.monotonic() < deadline:
            try:
                outcome = self.outcomes.get(timeout=0.02)
            except queue.Empty:
                if self.released:
                    raise MesosConnectionError("fake transport released") from None
                continue
            if isinstance(outcome, Exception):
                raise outcome
            return outcome
        raise MesosConnectionError("test scripted no SUBSCRIBE outcome in time")

    def post(self, url, body, headers, timeout):
        request = Request(url, json.loads(body), dict(headers))
        with self._lock:
            self.posts.append(request)
            response = self.post_responses.pop(0) if self.post_responses else Response(202)
        if self.on_post is not None:
            self.on_post(request)
        return response

    def close(self) -> None:
        self.closed = True


def wait_until(predicate: Callable[[], bool], what: str, timeout: float = WAIT, interval: float = 0.005) -> None:
    """Poll ``predicate`` every ``interval`` seconds (raise it for one that makes HTTP requests)."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(interval)


def next_event(driver, kind: type | tuple = events.Event, *, skip=(events.Heartbeat,)) -> events.Event:
    """The next event of ``kind`` (skipping ``skip`` types); fails on any other event."""
    deadline = time.monotonic() + WAIT
    while True:
        event = driver.events.get(timeout=max(0.0, deadline - time.monotonic()))
        if isinstance(event, skip) and not isinstance(event, kind):
            continue
        assert isinstance(event, kind), f"expected {kind}, got {event!r}"
        return event
