"""The v1 executor API as data: agent events parsed, executor calls built.  Pure.

``include/mesos/v1/executor/executor.proto`` in its JSON mapping: events arrive
as RecordIO records of ``{"type": "LAUNCH", "launch": {"task": TaskInfo}}`` and
so on; calls are ``{"type": "UPDATE", "framework_id": {...}, "executor_id":
{...}, "update": {"status": TaskStatus}}``.  ``bytes`` fields (a status' ``uuid``,
``TaskInfo.data``, a message's ``data``) are base64 text in JSON.

:func:`parse_event` returns one of the event classes below, :class:`UnknownEvent`
for a type this version does not model (new Mesos types never crash the
executor), and raises :class:`MalformedAgentEvent` naming the field when a
record lacks what its type requires.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_mesos.exceptions import AirflowMesosError

__all__ = [
    "AcknowledgedEvent",
    "AgentEvent",
    "ErrorEvent",
    "HeartbeatEvent",
    "KillEvent",
    "LaunchEvent",
    "LaunchGroupEvent",
    "MalformedAgentEvent",
    "MessageEvent",
    "ShutdownEvent",
    "SubscribedEvent",
    "UnknownEvent",
    "heartbeat_call",
    "message_call",
    "parse_event",
    "subscribe_call",
    "task_status",
    "update_call",
]

_NANOS = 1_000_000_000


class MalformedAgentEvent(AirflowMesosError, ValueError):
    """An event record from the agent is not JSON or lacks a field its type requires (the message names it)."""


class AgentEvent:
    """Base of the events the agent sends on the SUBSCRIBE stream."""

    __slots__ = ()


@dataclass(frozen=True)
class SubscribedEvent(AgentEvent):
    framework_capabilities: frozenset[str]
    agent_hostname: str | None
    container_id: str | None
    raw: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class LaunchEvent(AgentEvent):
    task_id: str
    task_info: dict[str, Any] = field(repr=False)
    """The whole TaskInfo (its ``data`` holds the token: never printed)."""


@dataclass(frozen=True)
class LaunchGroupEvent(AgentEvent):
    task_ids: tuple[str, ...]


@dataclass(frozen=True)
class KillEvent(AgentEvent):
    task_id: str
    grace_seconds: float | None = None
    """The KILL's own ``kill_policy.grace_period``, which overrides the task's."""


@dataclass(frozen=True)
class AcknowledgedEvent(AgentEvent):
    task_id: str
    uuid: str
    """The acknowledged status' uuid, base64 as in JSON."""


@dataclass(frozen=True)
class ShutdownEvent(AgentEvent):
    pass


@dataclass(frozen=True)
class MessageEvent(AgentEvent):
    data: bytes = field(repr=False)


@dataclass(frozen=True)
class ErrorEvent(AgentEvent):
    message: str


@dataclass(frozen=True)
class HeartbeatEvent(AgentEvent):
    pass


@dataclass(frozen=True)
class UnknownEvent(AgentEvent):
    type: str


def _object(value: Any, path: str, event_type: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise MalformedAgentEvent(f"{event_type} event: {path} must be an object, got {type(value).__name__}")
    return value


def _id(container: Mapping[str, Any], key: str, path: str, event_type: str) -> str:
    value = _object(container.get(key), f"{path}.{key}", event_type).get("value")
    if not isinstance(value, str) or not value:
        raise MalformedAgentEvent(f"{event_type} event: {path}.{key}.value must be a non-empty string")
    return value


def duration_seconds(duration: Any) -> float | None:
    """A ``DurationInfo`` in seconds, or ``None`` when ``duration`` is not one with whole ``nanoseconds``."""
    if not isinstance(duration, Mapping) or "nanoseconds" not in duration:
        return None
    try:
        return int(duration["nanoseconds"]) / _NANOS
    except (TypeError, ValueError):
        return None


def grace_seconds(kill_policy: Any) -> float | None:
    """``kill_policy.grace_period`` in seconds, or ``None`` when the policy sets none."""
    if not isinstance(kill_policy, Mapping):
        return None
    seconds = duration_seconds(kill_policy.get("grace_period"))
    return None if seconds is None else max(0.0, seconds)


def parse_event(record: bytes | str | Mapping[str, Any]) -> AgentEvent:
    """One event record of the SUBSCRIBE stream, typed.

    :raises MalformedAgentEvent: the record is not a JSON object or lacks a required field.
    """
    if isinstance(record, Mapping):
        event = record
    else:
        try:
            event = json.loads(record)
        except ValueError as exc:
            raise MalformedAgentEvent(f"event record is not JSON ({exc})") from None
    event = _object(event, "event", "an")
    kind = event.get("type")
    if not isinstance(kind, str):
        raise MalformedAgentEvent("event has no 'type'")
    if kind == "SUBSCRIBED":
        body = _object(event.get("subscribed"), "subscribed", kind)
        framework = body.get("framework_info") if isinstance(body.get("framework_info"), Mapping) else {}
        capabilities = frozenset(
            cap.get("type") for cap in framework.get("capabilities") or [] if isinstance(cap, Mapping)
            and isinstance(cap.get("type"), str))
        agent = body.get("agent_info") if isinstance(body.get("agent_info"), Mapping) else {}
        container = body.get("container_id") if isinstance(body.get("container_id"), Mapping) else {}
        return SubscribedEvent(capabilities, agent.get("hostname"), container.get("value"), dict(body))
    if kind == "LAUNCH":
        task = _object(_object(event.get("launch"), "launch", kind).get("task"), "launch.task", kind)
        return LaunchEvent(_id(task, "task_id", "launch.task", kind), dict(task))
    if kind == "LAUNCH_GROUP":
        group = _object(_object(event.get("launch_group"), "launch_group", kind).get("task_group"),
                        "launch_group.task_group", kind)
        tasks = group.get("tasks") or []
        if not isinstance(tasks, list):
            raise MalformedAgentEvent(f"{kind} event: launch_group.task_group.tasks must be a list")
        return LaunchGroupEvent(tuple(_id(_object(t, "launch_group.task_group.tasks[]", kind), "task_id",
                                          "launch_group.task_group.tasks[]", kind) for t in tasks))
    if kind == "KILL":
        body = _object(event.get("kill"), "kill", kind)
        return KillEvent(_id(body, "task_id", "kill", kind), grace_seconds(body.get("kill_policy")))
    if kind == "ACKNOWLEDGED":
        body = _object(event.get("acknowledged"), "acknowledged", kind)
        uuid = body.get("uuid")
        if not isinstance(uuid, str) or not uuid:
            raise MalformedAgentEvent(f"{kind} event: acknowledged.uuid must be base64 text")
        return AcknowledgedEvent(_id(body, "task_id", "acknowledged", kind), uuid)
    if kind == "SHUTDOWN":
        return ShutdownEvent()
    if kind == "MESSAGE":
        data = _object(event.get("message"), "message", kind).get("data", "")
        try:
            return MessageEvent(base64.b64decode(data or "", validate=True))
        except (binascii.Error, ValueError, TypeError):
            raise MalformedAgentEvent(f"{kind} event: message.data is not base64") from None
    if kind == "ERROR":
        message = _object(event.get("error"), "error", kind).get("message")
        return ErrorEvent(str(message) if message is not None else "")
    if kind == "HEARTBEAT":
        return HeartbeatEvent()
    return UnknownEvent(kind)


# --- calls ---------------------------------------------------------------------------------------


def _envelope(kind: str, framework_id: str, executor_id: str) -> dict[str, Any]:
    return {"type": kind, "framework_id": {"value": framework_id}, "executor_id": {"value": executor_id}}


def subscribe_call(framework_id: str, executor_id: str, unacknowledged_tasks: Sequence[Mapping[str, Any]] = (),
                   unacknowledged_updates: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """SUBSCRIBE, with what the agent may have missed while we were apart (``Call.Subscribe``)."""
    call = _envelope("SUBSCRIBE", framework_id, executor_id)
    call["subscribe"] = {"unacknowledged_tasks": [dict(t) for t in unacknowledged_tasks],
                         "unacknowledged_updates": [dict(u) for u in unacknowledged_updates]}
    return call


def task_status(*, task_id: str, state: str, uuid: str, executor_id: str, timestamp: float,
                message: str | None = None, reason: str | None = None) -> dict[str, Any]:
    """A ``TaskStatus`` from this executor (``source`` must be SOURCE_EXECUTOR: the agent refuses others)."""
    status: dict[str, Any] = {
        "task_id": {"value": task_id},
        "state": state,
        "source": "SOURCE_EXECUTOR",
        "executor_id": {"value": executor_id},
        "uuid": uuid,
        "timestamp": timestamp,
    }
    if message:
        status["message"] = message
    if reason:
        status["reason"] = reason
    return status


def update_call(framework_id: str, executor_id: str, status: Mapping[str, Any]) -> dict[str, Any]:
    call = _envelope("UPDATE", framework_id, executor_id)
    call["update"] = {"status": dict(status)}
    return call


def message_call(framework_id: str, executor_id: str, data: bytes) -> dict[str, Any]:
    call = _envelope("MESSAGE", framework_id, executor_id)
    call["message"] = {"data": base64.b64encode(data).decode("ascii")}
    return call


def heartbeat_call(framework_id: str, executor_id: str) -> dict[str, Any]:
    return _envelope("HEARTBEAT", framework_id, executor_id)
