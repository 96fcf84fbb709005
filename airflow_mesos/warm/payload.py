"""What a warm-worker task carries to its executor: the ``TaskInfo.data`` payload.  Pure.

A task launched into an airflow-mesos warm executor (``python -m airflow_mesos.warm``)
has an ``ExecutorInfo`` and therefore, by Mesos' rule, no ``CommandInfo``
(``validation.cpp``: "Task should have at least one (but not both) of CommandInfo
or ExecutorInfo present").  What a command task gets in its environment travels
instead in ``TaskInfo.data``, an opaque byte field that Mesos hands to the executor
in the LAUNCH event and renders in none of its endpoints:

- ``workload``: the workload JSON *without* its token (as in ``AIRFLOW_MESOS_WORKLOAD``);
- ``token``: the Execution API token, which the executor gives to the forked task in
  memory only (never an environment variable, argument or file);
- ``environment``: the task's non-secret variables (``AIRFLOW__CORE__EXECUTION_API_SERVER_URL``,
  ``AIRFLOW__CORE__DAGS_FOLDER``, the operator's and the task's ``env``).

The payload is JSON with a ``version``; a payload of an unknown version or shape
is refused with :class:`PayloadError` naming the field, and the executor fails that
one task with the message.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["PAYLOAD_VERSION", "PayloadError", "TaskPayload", "decode_task_data", "encode_task_data"]

PAYLOAD_VERSION = 1


class PayloadError(ValueError):
    """``TaskInfo.data`` is not a payload this executor understands; the message says which field."""


@dataclass(frozen=True)
class TaskPayload:
    workload_json: str
    """The workload JSON without its token."""
    token: str
    environment: Mapping[str, str] = field(default_factory=dict)

    def __repr__(self) -> str:
        # The token is a bearer credential for the Execution API: it never prints itself.
        return f"TaskPayload(environment={sorted(self.environment)!r}, token=<redacted>)"

    def full_workload_json(self) -> str:
        """The workload JSON with its token put back, as ``execute_workload`` wants it."""
        data = json.loads(self.workload_json)
        data["token"] = self.token
        return json.dumps(data)


def encode_task_data(payload: TaskPayload) -> str:
    """``TaskInfo.data`` as the v1 JSON API carries bytes: base64 of the payload JSON."""
    body = {
        "version": PAYLOAD_VERSION,
        "workload": payload.workload_json,
        "token": payload.token,
        "environment": {str(k): str(v) for k, v in payload.environment.items()},
    }
    return base64.b64encode(json.dumps(body, separators=(",", ":"), sort_keys=True).encode()).decode("ascii")


def decode_task_data(data: str | bytes | None) -> TaskPayload:
    """The payload of a LAUNCH event's ``task.data`` (base64 text, or the raw bytes already decoded).

    :raises PayloadError: naming what is missing or malformed (never echoing the token).
    """
    if not data:
        raise PayloadError("task.data is empty: this task was not launched by the airflow-mesos MesosExecutor")
    try:
        raw = base64.b64decode(data, validate=True) if isinstance(data, str) else bytes(data)
    except (binascii.Error, ValueError):
        raise PayloadError("task.data is not base64") from None
    try:
        body = json.loads(raw)
    except ValueError:
        raise PayloadError("task.data is not JSON") from None
    if not isinstance(body, dict):
        raise PayloadError(f"task.data must be a JSON object, got {type(body).__name__}")
    if body.get("version") != PAYLOAD_VERSION:
        raise PayloadError(f"task.data.version: expected {PAYLOAD_VERSION}, got {body.get('version')!r}")
    workload, token, environment = body.get("workload"), body.get("token"), body.get("environment", {})
    if not isinstance(workload, str) or not workload:
        raise PayloadError("task.data.workload: expected the workload JSON as a string")
    try:
        if not isinstance(json.loads(workload), dict):
            raise ValueError
    except ValueError:
        raise PayloadError("task.data.workload: not a JSON object") from None
    if not isinstance(token, str) or not token:
        raise PayloadError("task.data.token: missing (the task has no Execution API token)")
    if not isinstance(environment, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in environment.items()
    ):
        raise PayloadError("task.data.environment: expected an object of strings")
    return TaskPayload(workload_json=workload, token=token, environment=dict(environment))
