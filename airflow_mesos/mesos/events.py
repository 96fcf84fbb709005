"""Typed ``mesos.v1.scheduler.Event`` values, parsed from the JSON records of the stream.

:func:`parse_event` turns one record into one of :class:`Subscribed`, :class:`Offers`,
:class:`Rescind`, :class:`Update`, :class:`Message`, :class:`Failure`, :class:`Error`,
:class:`Heartbeat` or, for a type this version does not model, :class:`Unknown`
(forward compatible: new Mesos event types never crash the driver).  A record that
is not JSON, or lacks a required field, or has a field of the wrong type raises
:class:`~airflow_mesos.mesos.errors.MalformedEvent` naming the field path.

OFFERS is parsed offer by offer: one unreadable offer must not hide the good ones of
the same event (their resources would sit unused until the offers time out).  It
becomes a :class:`MalformedOffer` in :attr:`Offers.malformed`, with its id when that
much could be read, so the scheduler can decline it; only a broken envelope (no
``offers`` object, ``offers.offers`` not a list) makes the whole event malformed.

The driver also puts two events of its own on the queue: :class:`Disconnected`
(the subscription was lost; it is re-established automatically) and
:class:`FrameworkRemoved` (terminal: the master forgot our framework id) and
:class:`FailedOver` (terminal: another scheduler subscribed with our framework id).

Every parsed event keeps the decoded JSON in ``raw`` for fields not modelled here.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_mesos.mesos.errors import MalformedEvent

__all__ = [
    "Event",
    "Subscribed",
    "Offers",
    "Offer",
    "MalformedOffer",
    "Rescind",
    "Update",
    "TaskStatus",
    "Message",
    "Failure",
    "Error",
    "Heartbeat",
    "Unknown",
    "Disconnected",
    "FrameworkRemoved",
    "FailedOver",
    "SubscribeRefused",
    "TERMINAL_STATES",
    "parse_event",
    "parse_offer",
    "parse_task_status",
]

# protobuf_utils.cpp isTerminalState: TASK_LOST and TASK_GONE_BY_OPERATOR count as terminal there too.
TERMINAL_STATES = frozenset(
    {"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST", "TASK_DROPPED", "TASK_GONE",
     "TASK_GONE_BY_OPERATOR"}
)

# Scalars are summed in fixed point with three decimals, as Mesos itself does, so that
# 0.1 + 0.2 cpus is 0.3 and not 0.30000000000000004.
_SCALAR_DECIMALS = 3


class Event:
    """Base class of everything that appears on :attr:`SchedulerDriver.events`."""

    __slots__ = ()


@dataclass(frozen=True)
class Subscribed(Event):
    """SUBSCRIBED: the first event of a successful subscription."""

    framework_id: str
    heartbeat_interval_seconds: float | None
    master_info: dict[str, Any] | None
    raw: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class Offer:
    """One resource offer.

    ``scalars`` sums every scalar resource per name (cpus, mem, disk, gpus ...) over all roles;
    ``scalars_by_role`` keys the same sums by ``(name, role)`` where role is the reservation role
    (``"*"`` for unreserved); ``ranges`` merges range resources per name (``ports``);
    ``sets`` unions set resources.  ``attributes`` maps name to a float (SCALAR), str (TEXT),
    tuple of (begin, end) (RANGES) or frozenset (SET).  ``executor_ids`` are the framework's
    executors already running on the offer's agent (Mesos fills ``Offer.executor_ids`` so): a task
    launched into one of them needs only its own resources, not the executor's too.
    """

    id: str
    agent_id: str
    hostname: str
    scalars: dict[str, float]
    scalars_by_role: dict[tuple[str, str], float]
    ranges: dict[str, tuple[tuple[int, int], ...]]
    sets: dict[str, frozenset[str]]
    attributes: dict[str, Any]
    allocation_info: dict[str, Any] | None
    raw: dict[str, Any] = field(repr=False, compare=False)
    executor_ids: frozenset[str] = frozenset()

    @property
    def cpus(self) -> float:
        return self.scalars.get("cpus", 0.0)

    @property
    def mem(self) -> float:
        """Memory in MB."""
        return self.scalars.get("mem", 0.0)

    @property
    def disk(self) -> float:
        """Disk in MB."""
        return self.scalars.get("disk", 0.0)

    @property
    def gpus(self) -> float:
        return self.scalars.get("gpus", 0.0)

    @property
    def ports(self) -> tuple[tuple[int, int], ...]:
        """Inclusive ``(begin, end)`` port ranges."""
        return self.ranges.get("ports", ())

    @property
    def role(self) -> str | None:
        """The role this offer was allocated to (``allocation_info.role``), if the master said."""
        return (self.allocation_info or {}).get("role")


@dataclass(frozen=True)
class MalformedOffer:
    """An offer of an OFFERS event that could not be parsed.

    ``offer_id`` and ``agent_id`` are set when they at least could be read (decline the
    offer by its id so its resources go back to the allocator at once); ``problem`` is the
    :class:`~airflow_mesos.mesos.errors.MalformedEvent` message, naming the field path
    (``"malformed OFFERS event at 'offers.offers[1].hostname': required field is missing"``).
    """

    offer_id: str | None
    agent_id: str | None
    problem: str
    raw: Any = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class Offers(Event):
    """OFFERS: new resource offers (``Event.offers.offers`` in the proto).

    ``offers`` holds the offers that parsed, in stream order; ``malformed`` the ones that
    did not (see :class:`MalformedOffer`).
    """

    offers: tuple[Offer, ...]
    malformed: tuple[MalformedOffer, ...] = ()
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)


@dataclass(frozen=True)
class Rescind(Event):
    """RESCIND: an offer is no longer valid; accepting it would fail."""

    offer_id: str
    raw: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class TaskStatus:
    """``mesos.v1.TaskStatus``.  ``uuid`` is set (raw bytes) only for updates that must be
    acknowledged; ``data`` is decoded from base64; ``container_status`` is kept as JSON."""

    task_id: str
    state: str
    reason: str | None = None
    message: str | None = None
    source: str | None = None
    agent_id: str | None = None
    executor_id: str | None = None
    uuid: bytes | None = None
    timestamp: float | None = None
    healthy: bool | None = None
    data: bytes | None = None
    container_status: dict[str, Any] | None = None
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @property
    def is_terminal(self) -> bool:
        """True for states after which Mesos sends no more updates for the task."""
        return self.state in TERMINAL_STATES


@dataclass(frozen=True)
class Update(Event):
    """UPDATE: a task status update."""

    status: TaskStatus
    raw: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class Message(Event):
    """MESSAGE: opaque bytes from a custom executor."""

    agent_id: str
    executor_id: str
    data: bytes
    raw: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class Failure(Event):
    """FAILURE: an agent was removed (no ``executor_id``) or an executor terminated (with one)."""

    agent_id: str | None
    executor_id: str | None
    status: int | None
    raw: dict[str, Any] = field(repr=False, compare=False)

    @property
    def executor_terminated(self) -> bool:
        return self.executor_id is not None

    @property
    def agent_lost(self) -> bool:
        return self.executor_id is None and self.agent_id is not None


@dataclass(frozen=True)
class Error(Event):
    """ERROR: the master refuses or drops the subscription; the stream closes after it."""

    message: str
    raw: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class Heartbeat(Event):
    """HEARTBEAT: the connection is alive."""

    raw: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class Unknown(Event):
    """An event type this driver does not model (INVERSE_OFFERS, a newer Mesos type ...)."""

    type: str
    raw: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class Disconnected(Event):
    """Made by the driver: the subscription was lost; it re-subscribes by itself."""

    reason: str


@dataclass(frozen=True)
class FrameworkRemoved(Event):
    """Made by the driver, terminal: the master removed our framework (torn down or failover
    timeout expired).  The driver stops; tasks of that framework are gone."""

    message: str


@dataclass(frozen=True)
class FailedOver(Event):
    """Made by the driver, terminal: another scheduler subscribed with our framework id and the master
    moved the framework to it (ERROR "Framework failed over").  The driver stops instead of
    re-subscribing, which would take the framework back and make the two fight over it; the tasks
    run on under the other scheduler."""

    message: str


@dataclass(frozen=True)
class SubscribeRefused(Event):
    """Made by the driver: a master answered SUBSCRIBE with an HTTP error (e.g. 401 bad
    credentials); the driver backs off and tries again, this makes the cause visible."""

    status: int
    message: str


# --- parsing helpers -------------------------------------------------------------------------


class _Reader:
    """Field access with the path and event type at hand for error messages."""

    def __init__(self, event_type: str) -> None:
        self.event_type = event_type

    def fail(self, path: str, problem: str) -> MalformedEvent:
        return MalformedEvent(self.event_type, path, problem)

    def obj(self, parent: Mapping[str, Any], key: str, path: str, *, required: bool = True) -> dict | None:
        value = parent.get(key)
        full = f"{path}.{key}" if path else key
        if value is None:
            if required:
                raise self.fail(full, "required field is missing")
            return None
        if not isinstance(value, dict):
            raise self.fail(full, f"expected an object, got {type(value).__name__}")
        return value

    def str_(self, parent: Mapping[str, Any], key: str, path: str, *, required: bool = True) -> str | None:
        value = parent.get(key)
        full = f"{path}.{key}" if path else key
        if value is None:
            if required:
                raise self.fail(full, "required field is missing")
            return None
        if not isinstance(value, str):
            raise self.fail(full, f"expected a string, got {type(value).__name__}")
        return value

    def id_(self, parent: Mapping[str, Any], key: str, path: str, *, required: bool = True) -> str | None:
        """An ``XxxID`` message: ``{"value": "..."}``."""
        wrapper = self.obj(parent, key, path, required=required)
        if wrapper is None:
            return None
        return self.str_(wrapper, "value", f"{path}.{key}" if path else key)

    def number(self, parent: Mapping[str, Any], key: str, path: str, *, required: bool = False) -> float | None:
        value = parent.get(key)
        full = f"{path}.{key}" if path else key
        if value is None:
            if required:
                raise self.fail(full, "required field is missing")
            return None
        # bool is an int subclass; true is not a number here.
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self.fail(full, f"expected a number, got {type(value).__name__}")
        # Python's json accepts Infinity and NaN, which no proto number can hold.
        if not math.isfinite(value):
            raise self.fail(full, f"expected a finite number, got {value}")
        return float(value)

    def list_(self, parent: Mapping[str, Any], key: str, path: str) -> list:
        value = parent.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.fail(f"{path}.{key}" if path else key, f"expected a list, got {type(value).__name__}")
        return value

    def b64(self, parent: Mapping[str, Any], key: str, path: str, *, required: bool = False) -> bytes | None:
        text = self.str_(parent, key, path, required=required)
        if text is None:
            return None
        try:
            return base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise self.fail(f"{path}.{key}" if path else key, f"not valid base64 ({exc})") from None

    def bool_(self, parent: Mapping[str, Any], key: str, path: str) -> bool | None:
        value = parent.get(key)
        if value is None:
            return None
        if not isinstance(value, bool):
            raise self.fail(f"{path}.{key}" if path else key, f"expected a boolean, got {type(value).__name__}")
        return value


def _resource_role(resource: Mapping[str, Any]) -> str:
    # With RESERVATION_REFINEMENT the effective role is the last (most refined) reservation's.
    reservations = resource.get("reservations")
    if isinstance(reservations, list) and reservations and isinstance(reservations[-1], dict):
        role = reservations[-1].get("role")
        if isinstance(role, str):
            return role
    role = resource.get("role")
    return role if isinstance(role, str) else "*"


def _merge_ranges(ranges: list[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    merged: list[tuple[int, int]] = []
    for begin, end in sorted(ranges):
        if merged and begin <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((begin, end))
    return tuple(merged)


def _parse_ranges(r: _Reader, value: Mapping[str, Any], path: str) -> list[tuple[int, int]]:
    ranges_obj = r.obj(value, "ranges", path)
    out = []
    for i, item in enumerate(r.list_(ranges_obj, "range", f"{path}.ranges")):
        item_path = f"{path}.ranges.range[{i}]"
        if not isinstance(item, dict):
            raise r.fail(item_path, "expected an object")
        begin = r.number(item, "begin", item_path, required=True)
        end = r.number(item, "end", item_path, required=True)
        if begin != int(begin) or end != int(end) or begin > end:
            raise r.fail(item_path, f"expected integer begin <= end, got {begin}..{end}")
        out.append((int(begin), int(end)))
    return out


def _parse_set(r: _Reader, value: Mapping[str, Any], path: str) -> set[str]:
    set_obj = r.obj(value, "set", path)
    items = r.list_(set_obj, "item", f"{path}.set")
    for i, item in enumerate(items):
        if not isinstance(item, str):
            raise r.fail(f"{path}.set.item[{i}]", "expected a string")
    return set(items)


def parse_offer(data: Mapping[str, Any], *, path: str = "offer", event_type: str = "OFFERS") -> Offer:
    """Parse one ``mesos.v1.Offer``."""
    r = _Reader(event_type)
    if not isinstance(data, dict):
        raise r.fail(path, f"expected an object, got {type(data).__name__}")
    offer_id = r.id_(data, "id", path)
    agent_id = r.id_(data, "agent_id", path)
    hostname = r.str_(data, "hostname", path)
    scalars_milli: dict[str, int] = {}
    by_role_milli: dict[tuple[str, str], int] = {}
    ranges: dict[str, list[tuple[int, int]]] = {}
    sets: dict[str, set[str]] = {}
    for i, resource in enumerate(r.list_(data, "resources", path)):
        res_path = f"{path}.resources[{i}]"
        if not isinstance(resource, dict):
            raise r.fail(res_path, "expected an object")
        name = r.str_(resource, "name", res_path)
        kind = r.str_(resource, "type", res_path)
        if kind == "SCALAR":
            scalar = r.obj(resource, "scalar", res_path)
            milli = round(r.number(scalar, "value", f"{res_path}.scalar", required=True) * 10**_SCALAR_DECIMALS)
            scalars_milli[name] = scalars_milli.get(name, 0) + milli
            key = (name, _resource_role(resource))
            by_role_milli[key] = by_role_milli.get(key, 0) + milli
        elif kind == "RANGES":
            ranges.setdefault(name, []).extend(_parse_ranges(r, resource, res_path))
        elif kind == "SET":
            sets.setdefault(name, set()).update(_parse_set(r, resource, res_path))
        # Other/unknown value types (TEXT is not a resource type) are kept in raw only.
    attributes: dict[str, Any] = {}
    for i, attribute in enumerate(r.list_(data, "attributes", path)):
        attr_path = f"{path}.attributes[{i}]"
        if not isinstance(attribute, dict):
            raise r.fail(attr_path, "expected an object")
        name = r.str_(attribute, "name", attr_path)
        kind = r.str_(attribute, "type", attr_path)
        if kind == "SCALAR":
            attributes[name] = r.number(r.obj(attribute, "scalar", attr_path), "value", f"{attr_path}.scalar",
                                        required=True)
        elif kind == "TEXT":
            attributes[name] = r.str_(r.obj(attribute, "text", attr_path), "value", f"{attr_path}.text")
        elif kind == "RANGES":
            attributes[name] = _merge_ranges(_parse_ranges(r, attribute, attr_path))
        elif kind == "SET":
            attributes[name] = frozenset(_parse_set(r, attribute, attr_path))
    executor_ids = []
    for i, wrapper in enumerate(r.list_(data, "executor_ids", path)):
        id_path = f"{path}.executor_ids[{i}]"
        if not isinstance(wrapper, dict):
            raise r.fail(id_path, f"expected an object, got {type(wrapper).__name__}")
        executor_ids.append(r.str_(wrapper, "value", id_path))
    scale = 10**_SCALAR_DECIMALS
    return Offer(
        id=offer_id,
        agent_id=agent_id,
        hostname=hostname,
        scalars={name: milli / scale for name, milli in scalars_milli.items()},
        scalars_by_role={key: milli / scale for key, milli in by_role_milli.items()},
        ranges={name: _merge_ranges(values) for name, values in ranges.items()},
        sets={name: frozenset(values) for name, values in sets.items()},
        attributes=attributes,
        allocation_info=r.obj(data, "allocation_info", path, required=False),
        raw=data,
        executor_ids=frozenset(executor_ids),
    )


def parse_task_status(data: Mapping[str, Any], *, path: str = "status", event_type: str = "UPDATE") -> TaskStatus:
    """Parse one ``mesos.v1.TaskStatus``."""
    r = _Reader(event_type)
    if not isinstance(data, dict):
        raise r.fail(path, f"expected an object, got {type(data).__name__}")
    return TaskStatus(
        task_id=r.id_(data, "task_id", path),
        state=r.str_(data, "state", path),
        reason=r.str_(data, "reason", path, required=False),
        message=r.str_(data, "message", path, required=False),
        source=r.str_(data, "source", path, required=False),
        agent_id=r.id_(data, "agent_id", path, required=False),
        executor_id=r.id_(data, "executor_id", path, required=False),
        uuid=r.b64(data, "uuid", path),
        timestamp=r.number(data, "timestamp", path),
        healthy=r.bool_(data, "healthy", path),
        data=r.b64(data, "data", path),
        container_status=r.obj(data, "container_status", path, required=False),
        raw=data,
    )


def _subscribed(r: _Reader, event: dict) -> Subscribed:
    body = r.obj(event, "subscribed", "")
    return Subscribed(
        framework_id=r.id_(body, "framework_id", "subscribed"),
        heartbeat_interval_seconds=r.number(body, "heartbeat_interval_seconds", "subscribed"),
        master_info=r.obj(body, "master_info", "subscribed", required=False),
        raw=event,
    )


def _readable_id(data: Any, key: str) -> str | None:
    """``data[key].value`` if it is there and a non-empty string (for naming a malformed offer)."""
    wrapper = data.get(key) if isinstance(data, dict) else None
    value = wrapper.get("value") if isinstance(wrapper, dict) else None
    return value if isinstance(value, str) and value else None


def _offers(r: _Reader, event: dict) -> Offers:
    body = r.obj(event, "offers", "")
    offers: list[Offer] = []
    malformed: list[MalformedOffer] = []
    for i, data in enumerate(r.list_(body, "offers", "offers")):
        try:
            offers.append(parse_offer(data, path=f"offers.offers[{i}]", event_type=r.event_type))
        except MalformedEvent as exc:
            malformed.append(MalformedOffer(offer_id=_readable_id(data, "id"), agent_id=_readable_id(data, "agent_id"),
                                            problem=str(exc), raw=data))
    return Offers(offers=tuple(offers), malformed=tuple(malformed), raw=event)


def _rescind(r: _Reader, event: dict) -> Rescind:
    return Rescind(offer_id=r.id_(r.obj(event, "rescind", ""), "offer_id", "rescind"), raw=event)


def _update(r: _Reader, event: dict) -> Update:
    body = r.obj(event, "update", "")
    status = r.obj(body, "status", "update")
    return Update(status=parse_task_status(status, path="update.status", event_type=r.event_type), raw=event)


def _message(r: _Reader, event: dict) -> Message:
    body = r.obj(event, "message", "")
    return Message(
        agent_id=r.id_(body, "agent_id", "message"),
        executor_id=r.id_(body, "executor_id", "message"),
        data=r.b64(body, "data", "message", required=True),
        raw=event,
    )


def _failure(r: _Reader, event: dict) -> Failure:
    body = r.obj(event, "failure", "")
    status = r.number(body, "status", "failure")
    return Failure(
        agent_id=r.id_(body, "agent_id", "failure", required=False),
        executor_id=r.id_(body, "executor_id", "failure", required=False),
        status=None if status is None else int(status),
        raw=event,
    )


def _error(r: _Reader, event: dict) -> Error:
    return Error(message=r.str_(r.obj(event, "error", ""), "message", "error"), raw=event)


def _heartbeat(r: _Reader, event: dict) -> Heartbeat:
    return Heartbeat(raw=event)


_PARSERS = {
    "SUBSCRIBED": _subscribed,
    "OFFERS": _offers,
    "RESCIND": _rescind,
    "UPDATE": _update,
    "MESSAGE": _message,
    "FAILURE": _failure,
    "ERROR": _error,
    "HEARTBEAT": _heartbeat,
}


def parse_event(record: bytes | str | Mapping[str, Any]) -> Event:
    """Parse one event record (JSON bytes/str or an already decoded dict).

    :raises MalformedEvent: if the record is not a JSON object of a known event's shape.
    """
    if isinstance(record, (bytes, bytearray, str)):
        try:
            event = json.loads(record)
        except (ValueError, UnicodeDecodeError) as exc:
            raise MalformedEvent("?", "", f"not JSON ({exc})") from None
    else:
        event = record
    if not isinstance(event, dict):
        raise MalformedEvent("?", "", f"expected a JSON object, got {type(event).__name__}")
    event_type = event.get("type")
    if event_type is None:
        raise MalformedEvent("?", "type", "required field is missing")
    if not isinstance(event_type, str):
        raise MalformedEvent("?", "type", f"expected a string, got {type(event_type).__name__}")
    parser = _PARSERS.get(event_type)
    if parser is None:
        return Unknown(type=event_type, raw=event)
    return parser(_Reader(event_type), event)
