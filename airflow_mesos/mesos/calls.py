"""Pure builders for ``mesos.v1.scheduler.Call`` messages, as JSON-ready dicts.

Shapes follow ``include/mesos/v1/scheduler/scheduler.proto`` (not the examples in
``docs/scheduler-http-api.md``, which are wrong in places: REVIVE/SUPPRESS take a
repeated ``roles``, ERROR lives under ``error``).  Every function returns a fresh
dict and does no I/O; the driver adds nothing to the body but sends it.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

Call = dict[str, Any]

NANOSECONDS_PER_SECOND = 1_000_000_000


def _id(value: str, what: str) -> dict[str, str]:
    if not isinstance(value, str) or not value:
        raise ValueError(f"{what} must be a non-empty string, got {value!r}")
    return {"value": value}


def _ids(values: Iterable[str], what: str) -> list[dict[str, str]]:
    if isinstance(values, str):
        # A bare string is iterable too; sending one id per character would be a silent disaster.
        raise TypeError(f"{what} must be a list of ids, got the string {values!r}")
    return [_id(value, what) for value in values]


def _filters(refuse_seconds: float | None) -> dict[str, float] | None:
    if refuse_seconds is None:
        return None
    if refuse_seconds < 0:
        raise ValueError(f"refuse_seconds must be >= 0, got {refuse_seconds}")
    return {"refuse_seconds": float(refuse_seconds)}


def subscribe(
    framework_info: Mapping[str, Any],
    framework_id: str | None = None,
    suppressed_roles: Sequence[str] | None = None,
) -> Call:
    """SUBSCRIBE.  With ``framework_id`` (re-subscription after a failover) the id is set both in
    ``subscribe.framework_info.id`` and at the top level, as the master requires them to be equal.

    :raises ValueError: if ``framework_info`` already carries a different id.
    """
    info = copy.deepcopy(dict(framework_info))
    for required in ("user", "name"):
        if not info.get(required):
            raise ValueError(f"framework_info.{required} is required by the Mesos HTTP API")
    call: Call = {"type": "SUBSCRIBE", "subscribe": {"framework_info": info}}
    existing = info.get("id", {}).get("value") if isinstance(info.get("id"), Mapping) else None
    if framework_id is None:
        framework_id = existing
    if framework_id is not None:
        if existing is not None and existing != framework_id:
            raise ValueError(f"framework_info.id {existing!r} differs from framework_id {framework_id!r}")
        info["id"] = _id(framework_id, "framework_id")
        call["framework_id"] = _id(framework_id, "framework_id")
    if suppressed_roles is not None:
        call["subscribe"]["suppressed_roles"] = list(suppressed_roles)
    return call


def teardown(framework_id: str) -> Call:
    """TEARDOWN: the master kills every task of the framework and forgets it."""
    return {"framework_id": _id(framework_id, "framework_id"), "type": "TEARDOWN"}


def launch(task_infos: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """A LAUNCH offer operation, for :func:`accept`."""
    return {"type": "LAUNCH", "launch": {"task_infos": [copy.deepcopy(dict(task)) for task in task_infos]}}


def accept(
    framework_id: str,
    offer_ids: Sequence[str],
    operations: Sequence[Mapping[str, Any]],
    filters: Mapping[str, Any] | None = None,
) -> Call:
    """ACCEPT offers with offer operations (e.g. :func:`launch`); unused resources are declined
    with ``filters`` (``{"refuse_seconds": s}``; Mesos default 5 s)."""
    body: dict[str, Any] = {
        "offer_ids": _ids(offer_ids, "offer_id"),
        "operations": [copy.deepcopy(dict(op)) for op in operations],
    }
    if filters is not None:
        body["filters"] = dict(filters)
    return {"framework_id": _id(framework_id, "framework_id"), "type": "ACCEPT", "accept": body}


def accept_filters(refuse_seconds: float | None) -> dict[str, float] | None:
    """``Filters`` for :func:`accept`, or ``None`` to use the master's default."""
    return _filters(refuse_seconds)


def decline(framework_id: str, offer_ids: Sequence[str], refuse_seconds: float | None = None) -> Call:
    """DECLINE offers; with ``refuse_seconds`` the master withholds those resources that long."""
    body: dict[str, Any] = {"offer_ids": _ids(offer_ids, "offer_id")}
    filters = _filters(refuse_seconds)
    if filters is not None:
        body["filters"] = filters
    return {"framework_id": _id(framework_id, "framework_id"), "type": "DECLINE", "decline": body}


def _roles_call(kind: str, framework_id: str, roles: Sequence[str] | None) -> Call:
    call: Call = {"framework_id": _id(framework_id, "framework_id"), "type": kind.upper()}
    if roles is not None:
        if isinstance(roles, str):
            raise TypeError(f"roles must be a list of role names, got the string {roles!r}")
        # An omitted body means "all roles"; an explicit list restricts the call to those.
        call[kind] = {"roles": list(roles)}
    return call


def revive(framework_id: str, roles: Sequence[str] | None = None) -> Call:
    """REVIVE: clear offer filters and un-suppress ``roles`` (all roles when ``None``)."""
    return _roles_call("revive", framework_id, roles)


def suppress(framework_id: str, roles: Sequence[str] | None = None) -> Call:
    """SUPPRESS: stop receiving offers for ``roles`` (all roles when ``None``)."""
    return _roles_call("suppress", framework_id, roles)


def kill(
    framework_id: str,
    task_id: str,
    agent_id: str | None = None,
    grace_period_seconds: float | None = None,
) -> Call:
    """KILL a task; ``grace_period_seconds`` overrides the task's kill policy (SIGTERM→SIGKILL delay)."""
    body: dict[str, Any] = {"task_id": _id(task_id, "task_id")}
    if agent_id is not None:
        body["agent_id"] = _id(agent_id, "agent_id")
    if grace_period_seconds is not None:
        if grace_period_seconds < 0:
            raise ValueError(f"grace_period_seconds must be >= 0, got {grace_period_seconds}")
        nanoseconds = int(round(grace_period_seconds * NANOSECONDS_PER_SECOND))
        body["kill_policy"] = {"grace_period": {"nanoseconds": nanoseconds}}
    return {"framework_id": _id(framework_id, "framework_id"), "type": "KILL", "kill": body}


def acknowledge(framework_id: str, agent_id: str, task_id: str, uuid: bytes) -> Call:
    """ACKNOWLEDGE a status update that carried ``uuid`` (the raw bytes, sent base64-encoded)."""
    if not isinstance(uuid, (bytes, bytearray)) or not uuid:
        raise ValueError(f"uuid must be the non-empty raw bytes of TaskStatus.uuid, got {uuid!r}")
    return {
        "framework_id": _id(framework_id, "framework_id"),
        "type": "ACKNOWLEDGE",
        "acknowledge": {
            "agent_id": _id(agent_id, "agent_id"),
            "task_id": _id(task_id, "task_id"),
            "uuid": base64.b64encode(bytes(uuid)).decode("ascii"),
        },
    }


def reconcile(framework_id: str, tasks: Sequence[tuple[str, str | None]] = ()) -> Call:
    """RECONCILE ``tasks`` given as ``(task_id, agent_id or None)``; an empty list asks for
    the latest state of every task the master knows (implicit reconciliation)."""
    entries = []
    for index, entry in enumerate(tasks):
        if not isinstance(entry, (tuple, list)) or len(entry) != 2:
            raise TypeError(f"reconcile tasks[{index}] must be a (task_id, agent_id|None) pair, got {entry!r}")
        task_id, agent_id = entry
        item: dict[str, Any] = {"task_id": _id(task_id, f"tasks[{index}].task_id")}
        if agent_id is not None:
            item["agent_id"] = _id(agent_id, f"tasks[{index}].agent_id")
        entries.append(item)
    return {"framework_id": _id(framework_id, "framework_id"), "type": "RECONCILE", "reconcile": {"tasks": entries}}


# --- secrets in calls ------------------------------------------------------------------------

REDACTED = "<redacted>"


def _task_infos(call: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    accept = call.get("accept") if isinstance(call, Mapping) else None
    for operation in (accept or {}).get("operations") or []:
        if not isinstance(operation, Mapping):
            continue
        yield from ((operation.get("launch") or {}).get("task_infos") or [])
        yield from (((operation.get("launch_group") or {}).get("task_group") or {}).get("tasks") or [])


def _commands(task: Mapping[str, Any]) -> Iterable[Mapping[str, Any]]:
    for holder in (task, task.get("executor") or {}):
        if isinstance(holder, Mapping) and isinstance(holder.get("command"), Mapping):
            yield holder["command"]


def _json_strings(text: str) -> list[str]:
    """The string values of a JSON object (a warm payload: its token among them), or none."""
    try:
        document = json.loads(text)
    except ValueError:
        return []
    return [v for v in document.values() if isinstance(v, str)] if isinstance(document, dict) else []


def secret_values(call: Mapping[str, Any]) -> list[str]:
    """The secret strings an ACCEPT carries: each task's ``data`` (a warm task's payload, with its token) and
    each SECRET environment variable's value, as sent and decoded, so an error message that echoes any of
    them can be scrubbed (:func:`scrub`)."""
    found: list[str] = []
    for task in _task_infos(call):
        if not isinstance(task, Mapping):
            continue
        data = task.get("data")
        if isinstance(data, str) and data:
            found.append(data)
            try:
                decoded = base64.b64decode(data).decode("utf-8")
            except (ValueError, UnicodeDecodeError):
                decoded = None
            if decoded is not None:
                found.append(decoded)
                found.extend(_json_strings(decoded))
        for command in _commands(task):
            for variable in ((command.get("environment") or {}).get("variables") or []):
                if not isinstance(variable, Mapping) or variable.get("type") != "SECRET":
                    continue
                value = ((variable.get("secret") or {}).get("value") or {}).get("data")
                if isinstance(value, str) and value:
                    found.append(value)
                    try:
                        found.append(base64.b64decode(value).decode("utf-8"))
                    except (ValueError, UnicodeDecodeError):
                        pass
    return sorted({value for value in found if len(value) >= 8}, key=len, reverse=True)


def scrub(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every one of ``secrets`` replaced by ``<redacted>`` (longest first)."""
    for secret in secrets:
        text = text.replace(secret, REDACTED)
    return text


def redacted(call: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a call fit for a log line: task ``data`` and SECRET variables' values replaced by ``<redacted>``."""
    out = copy.deepcopy(dict(call))
    for task in _task_infos(out):
        if not isinstance(task, dict):
            continue
        if "data" in task:
            task["data"] = REDACTED
        for command in _commands(task):
            for variable in ((command.get("environment") or {}).get("variables") or []):
                if isinstance(variable, dict) and variable.get("type") == "SECRET":
                    variable["secret"] = REDACTED
    return out
