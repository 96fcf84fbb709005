"""The ``mesos.v1.TaskInfo`` of one Airflow workload.  Pure: no I/O, no clock.

What reaches the task, and nothing more:

- the command ``python -m airflow_mesos.worker`` (no argument carries data);
- ``AIRFLOW__CORE__EXECUTION_API_SERVER_URL`` and ``AIRFLOW__CORE__DAGS_FOLDER``;
- ``AIRFLOW_MESOS_WORKLOAD``: the workload JSON with its token taken out;
- ``AIRFLOW_MESOS_WORKLOAD_TOKEN``: the token, as a Mesos *secret* environment
  variable (``type: SECRET``, ``secret.type: VALUE``), which Mesos resolves on
  the agent and never shows in its endpoints.  Only where the operator opted in
  to ``[mesos] allow_plain_token_for_docker`` (the Docker containerizer cannot
  deliver secrets) is it a plain variable;
- the operator's and the task's non-secret ``env``.

No database URL, Fernet key or JWT secret is ever part of a TaskInfo: the worker
talks only to the Execution API.  Labels carry the task instance's ids (not
secret) so operators can find a task in Mesos' UI.

Resources are copied from the offer's own resource entries (their ``role``,
``reservations`` and ``allocation_info``), with only the amount changed, so a
task uses exactly the reserved or unreserved pool the matcher chose.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_mesos.exceptions import AirflowMesosError
from airflow_mesos.executor.matcher import ResourceShare
from airflow_mesos.worker import TOKEN_VAR, WORKLOAD_VAR

__all__ = [
    "CONTAINER_TYPES",
    "TaskInfoError",
    "VolumeMount",
    "WorkerTask",
    "build_task_info",
    "resource_templates",
    "split_token",
]

CONTAINER_TYPES = ("mesos", "docker", "process")
WORKER_MODULE = "airflow_mesos.worker"
EXECUTION_API_VAR = "AIRFLOW__CORE__EXECUTION_API_SERVER_URL"
DAGS_FOLDER_VAR = "AIRFLOW__CORE__DAGS_FOLDER"
CONTAINER_PYTHON = "python3"
_NANOS = 1_000_000_000


class TaskInfoError(AirflowMesosError, ValueError):
    """The task cannot be described to Mesos as configured; the message says which setting and why."""


@dataclass(frozen=True)
class VolumeMount:
    """A volume in a task's container: a host path, or a Docker named volume with a driver."""

    container_path: str
    mode: str = "RW"
    host_path: str | None = None
    docker_volume: str | None = None
    driver: str | None = None
    driver_options: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        if self.docker_volume is not None:
            docker_volume: dict[str, Any] = {"name": self.docker_volume}
            if self.driver:
                docker_volume["driver"] = self.driver
            if self.driver_options:
                docker_volume["driver_options"] = {
                    "parameter": [{"key": k, "value": str(v)} for k, v in sorted(self.driver_options.items())]
                }
            return {"container_path": self.container_path, "mode": self.mode,
                    "source": {"type": "DOCKER_VOLUME", "docker_volume": docker_volume}}
        return {"container_path": self.container_path, "host_path": self.host_path, "mode": self.mode}


@dataclass(frozen=True)
class WorkerTask:
    """Everything a TaskInfo is made of, resolved: the executor builds this per launch."""

    task_id: str
    name: str
    agent_id: str
    resources: tuple[ResourceShare, ...]
    container_type: str
    workload_json: str
    """The workload JSON without its token (see :func:`split_token`)."""
    token: str
    execution_api_url: str
    dags_folder: str
    image: str | None = None
    force_pull: bool = False
    network: str = "host"
    volumes: tuple[VolumeMount, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    python: str = CONTAINER_PYTHON
    labels: Mapping[str, str] = field(default_factory=dict)
    kill_grace_seconds: float = 30.0
    token_as_plain_env: bool = False

    def __repr__(self) -> str:
        # The token must never print itself (it is a bearer credential for the Execution API).
        return f"WorkerTask(task_id={self.task_id!r}, name={self.name!r}, container_type={self.container_type!r})"


def split_token(workload_json: str) -> tuple[str, str]:
    """``(workload JSON without the token, token)``."""
    data = json.loads(workload_json)
    token = data.pop("token", "") or ""
    return json.dumps(data, separators=(",", ":"), sort_keys=True), token


def resource_templates(offer_raw: Mapping[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """The first resource entry of the offer per ``(name, reservation role)`` (``"*"`` = unreserved)."""
    templates: dict[tuple[str, str], dict[str, Any]] = {}
    for resource in offer_raw.get("resources") or []:
        if not isinstance(resource, dict) or resource.get("type") != "SCALAR":
            continue
        reservations = resource.get("reservations")
        if isinstance(reservations, list) and reservations and isinstance(reservations[-1], dict):
            role = reservations[-1].get("role") or "*"
        else:
            role = resource.get("role") or "*"
        templates.setdefault((resource.get("name"), role), resource)
    return templates


def _resources_json(shares: Sequence[ResourceShare], templates: Mapping[tuple[str, str], Mapping[str, Any]],
                    allocation_info: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    out = []
    for share in shares:
        if share.amount <= 0:
            continue
        template = templates.get((share.name, share.reservation_role))
        entry = {k: v for k, v in (template or {}).items() if k not in ("scalar", "type", "name")}
        entry.update({"name": share.name, "type": "SCALAR", "scalar": {"value": round(share.amount, 3)}})
        if allocation_info is not None and "allocation_info" not in entry:
            entry["allocation_info"] = dict(allocation_info)
        out.append(entry)
    return out


def _environment(task: WorkerTask) -> dict[str, Any]:
    variables: list[dict[str, Any]] = []
    fixed = {
        EXECUTION_API_VAR: task.execution_api_url,
        DAGS_FOLDER_VAR: task.dags_folder,
        WORKLOAD_VAR: task.workload_json,
    }
    for name, value in {**task.env, **fixed}.items():
        variables.append({"name": name, "type": "VALUE", "value": str(value)})
    if task.token_as_plain_env:
        variables.append({"name": TOKEN_VAR, "type": "VALUE", "value": task.token})
    else:
        data = base64.b64encode(task.token.encode()).decode("ascii")
        variables.append({"name": TOKEN_VAR, "type": "SECRET",
                          "secret": {"type": "VALUE", "value": {"data": data}}})
    return {"variables": variables}


def _container(task: WorkerTask) -> dict[str, Any] | None:
    if task.container_type == "process":
        if task.volumes:
            paths = ", ".join(v.container_path for v in task.volumes)
            raise TaskInfoError(f"volumes ({paths}) need a container; container_type 'process' runs a plain "
                                "process on the agent")
        return None
    if not task.image:
        raise TaskInfoError(f"container_type {task.container_type!r} needs an image ([mesos] image or "
                            "executor_config.mesos.image)")
    volumes = [v.to_json() for v in task.volumes]
    if task.container_type == "mesos":
        container: dict[str, Any] = {
            "type": "MESOS",
            "mesos": {"image": {"type": "DOCKER", "docker": {"name": task.image}, "cached": not task.force_pull}},
        }
        if task.network not in ("host", ""):
            container["network_infos"] = [{"name": task.network}]
    elif task.container_type == "docker":
        if any(s.name == "gpus" and s.amount > 0 for s in task.resources):
            raise TaskInfoError("gpus need container_type 'mesos' or 'process': Mesos gives GPUs only to the "
                                "Mesos containerizer, not the Docker one")
        docker: dict[str, Any] = {"image": task.image, "force_pull_image": task.force_pull}
        if task.network in ("host", ""):
            docker["network"] = "HOST"
        elif task.network == "bridge":
            docker["network"] = "BRIDGE"
        else:
            docker["network"] = "USER"
        container = {"type": "DOCKER", "docker": docker}
        if docker["network"] == "USER":
            container["network_infos"] = [{"name": task.network}]
    else:
        raise TaskInfoError(f"container_type {task.container_type!r} is not one of {', '.join(CONTAINER_TYPES)}")
    if volumes:
        container["volumes"] = volumes
    return container


def _command(task: WorkerTask) -> dict[str, Any]:
    if task.container_type == "docker":
        # The Docker containerizer keeps the image's ENTRYPOINT and appends value + arguments as CMD.
        return {"shell": False, "value": CONTAINER_PYTHON, "arguments": ["-m", WORKER_MODULE],
                "environment": _environment(task)}
    python = task.python if task.container_type == "process" else CONTAINER_PYTHON
    return {"shell": False, "value": python, "arguments": [python, "-m", WORKER_MODULE],
            "environment": _environment(task)}


def build_task_info(task: WorkerTask, offer_raw: Mapping[str, Any]) -> dict[str, Any]:
    """The v1 TaskInfo JSON for ``task`` on the offer it was matched to.

    :raises TaskInfoError: when the combination cannot run (volumes on a process, gpus on Docker ...).
    """
    if task.container_type not in CONTAINER_TYPES:
        raise TaskInfoError(f"container_type {task.container_type!r} is not one of {', '.join(CONTAINER_TYPES)}")
    allocation_info = offer_raw.get("allocation_info") if isinstance(offer_raw.get("allocation_info"), dict) else None
    info: dict[str, Any] = {
        "name": task.name,
        "task_id": {"value": task.task_id},
        "agent_id": {"value": task.agent_id},
        "resources": _resources_json(task.resources, resource_templates(offer_raw), allocation_info),
        "command": _command(task),
        "kill_policy": {"grace_period": {"nanoseconds": int(task.kill_grace_seconds * _NANOS)}},
    }
    container = _container(task)
    if container is not None:
        info["container"] = container
    if task.labels:
        info["labels"] = {"labels": [{"key": k, "value": str(v)} for k, v in task.labels.items()]}
    return info
