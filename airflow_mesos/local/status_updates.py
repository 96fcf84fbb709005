"""Reliable task status updates, as the Mesos agent's task status update manager does them.

Rules (apache/mesos ``src/slave/task_status_update_manager.cpp``, ``src/slave/constants.hpp``):

- every update the agent generates carries a fresh 16-byte uuid;
- per task, updates are forwarded in order, one at a time: the head of the
  task's stream is sent, and the next one only after the head is acknowledged;
- an unacknowledged head is re-sent after ``retry_interval``, then after twice
  that, and so on, capped at :data:`MAX_RETRY_INTERVAL` (10 minutes);
- an acknowledgement whose uuid is not the head's is ignored (it is stale or a
  duplicate);
- once the terminal update of a task is acknowledged its stream is closed;
- an update whose uuid the task's stream already received is a duplicate and is
  not queued again (``TaskStatusUpdateStream::update``: an executor resends its
  unacknowledged updates when it re-subscribes).

:class:`StatusUpdateManager` is pure: it never reads a clock, sleeps or talks to
anyone.  Callers pass ``now`` (monotonic seconds) to :meth:`StatusUpdateManager.due`
and send what it returns; the agent's dispatcher thread is the edge.
"""

from __future__ import annotations

import base64
import uuid as uuid_module
from collections import OrderedDict, deque
from dataclasses import dataclass, field

_TERMINAL_STATES = frozenset({"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST",
                              "TASK_DROPPED", "TASK_GONE", "TASK_GONE_BY_OPERATOR"})

MAX_RETRY_INTERVAL = 600.0
"""Mesos' ``STATUS_UPDATE_RETRY_INTERVAL_MAX`` (10 minutes)."""

def new_uuid() -> bytes:
    """16 random bytes, as ``id::UUID::random()``."""
    return uuid_module.uuid4().bytes


def encode_uuid(raw: bytes) -> str:
    """The JSON (base64) form of a TaskStatus uuid."""
    return base64.b64encode(raw).decode("ascii")


@dataclass
class PendingUpdate:
    """One update waiting in a task's stream."""

    framework_id: str
    task_id: str
    status: dict
    uuid: bytes

    @property
    def state(self) -> str:
        return self.status["state"]


@dataclass
class _Stream:
    updates: deque[PendingUpdate] = field(default_factory=deque)
    next_send: float | None = None  # None: the head is due now (never sent)
    interval: float = 0.0
    sends: int = 0


class StatusUpdateManager:
    """Per-task ordered, acknowledged, retried status update streams.

    :param retry_interval: seconds before the first resend of an unacknowledged
        update (Mesos' ``STATUS_UPDATE_RETRY_INTERVAL_MIN`` is 10 s).
    :param max_retry_interval: cap of the doubling backoff.
    """

    def __init__(self, retry_interval: float = 10.0, max_retry_interval: float = MAX_RETRY_INTERVAL) -> None:
        if retry_interval <= 0:
            raise ValueError(f"status update retry interval must be positive, got {retry_interval!r}")
        self.retry_interval = float(retry_interval)
        self.max_retry_interval = max(float(max_retry_interval), self.retry_interval)
        # Keyed by (framework_id, task_id); insertion order keeps dispatch fair and deterministic.
        self._streams: OrderedDict[tuple[str, str], _Stream] = OrderedDict()
        # Uuids each task's stream received, until its terminal update is acknowledged (the stream's end).
        self._received: dict[tuple[str, str], set[bytes]] = {}

    def add(self, framework_id: str, task_id: str, status: dict) -> PendingUpdate | None:
        """Queue ``status`` (which must carry ``uuid`` as base64) behind the task's earlier updates; None when
        the stream already received that uuid (a duplicate, dropped)."""
        raw = base64.b64decode(status["uuid"])
        received = self._received.setdefault((framework_id, task_id), set())
        if raw in received:
            return None
        received.add(raw)
        update = PendingUpdate(framework_id, task_id, status, raw)
        stream = self._streams.setdefault((framework_id, task_id), _Stream())
        stream.updates.append(update)
        return update

    def due(self, now: float) -> list[PendingUpdate]:
        """The heads to (re)send at ``now``; records them as sent and schedules their next resend."""
        out: list[PendingUpdate] = []
        for stream in self._streams.values():
            if not stream.updates:
                continue
            if stream.next_send is not None and stream.next_send > now:
                continue
            if stream.sends == 0:
                stream.interval = self.retry_interval
            else:
                stream.interval = min(stream.interval * 2, self.max_retry_interval)
            stream.next_send = now + stream.interval
            stream.sends += 1
            out.append(stream.updates[0])
        return out

    def next_deadline(self) -> float | None:
        """The earliest time at which :meth:`due` will return something; ``-inf`` if something is due now."""
        deadlines = []
        for stream in self._streams.values():
            if not stream.updates:
                continue
            deadlines.append(float("-inf") if stream.next_send is None else stream.next_send)
        return min(deadlines) if deadlines else None

    def acknowledge(self, framework_id: str, task_id: str, uuid: bytes) -> PendingUpdate | None:
        """Pop the task's head if ``uuid`` is its uuid; returns it, or None for a stale/unknown ack."""
        key = (framework_id, task_id)
        stream = self._streams.get(key)
        if stream is None or not stream.updates or stream.updates[0].uuid != uuid:
            return None
        head = stream.updates.popleft()
        stream.next_send = None
        stream.sends = 0
        if head.state in _TERMINAL_STATES:
            self._received.pop(key, None)
        if not stream.updates:
            del self._streams[key]
        return head

    def pending(self, framework_id: str | None = None) -> list[PendingUpdate]:
        """Every queued update (optionally of one framework), heads first per task."""
        return [
            update
            for (fid, _), stream in self._streams.items()
            if framework_id is None or fid == framework_id
            for update in stream.updates
        ]

    def head(self, framework_id: str, task_id: str) -> PendingUpdate | None:
        """The update of the task now waiting for an acknowledgement, if any."""
        stream = self._streams.get((framework_id, task_id))
        return stream.updates[0] if stream and stream.updates else None

    def drop_framework(self, framework_id: str) -> int:
        """Forget every update of a removed framework; returns how many were dropped."""
        keys = [key for key in self._streams if key[0] == framework_id]
        for key in [key for key in self._received if key[0] == framework_id]:
            del self._received[key]
        dropped = 0
        for key in keys:
            dropped += len(self._streams.pop(key).updates)
        return dropped

    def clear(self) -> None:
        """Forget everything (the agent crashed)."""
        self._streams.clear()
        self._received.clear()

    def resume(self) -> None:
        """The agent (re)registered after losing its master: every head is due now, and its retries start
        again from ``retry_interval`` (``TaskStatusUpdateManagerProcess::resume``)."""
        for stream in self._streams.values():
            stream.next_send = None
            stream.sends = 0

    def __len__(self) -> int:
        return sum(len(stream.updates) for stream in self._streams.values())
