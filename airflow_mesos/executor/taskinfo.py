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

With a warm worker (:class:`WarmExecutor`, ``[mesos] warm_workers``) the TaskInfo
has an ``ExecutorInfo`` (type ``CUSTOM``: ``python -m airflow_mesos.warm``) and,
by Mesos' rule, no ``CommandInfo``; what the command would carry in its
environment travels in ``TaskInfo.data`` (:func:`airflow_mesos.warm.payload.encode_task_data`:
the workload without its token, the token, the environment), which Mesos hands
only to the executor and shows in none of its endpoints.  The ExecutorInfo holds
no secret and is byte-identical for every task of the same kind (same
framework, container type, image, role, volumes, network, executor resources),
since Mesos refuses a second ExecutorInfo under a running executor's id that
differs from the first; its id is a digest of exactly that content
(:attr:`WarmExecutor.executor_id`).  ``mesos`` tasks then run inside the
executor's container (the ExecutorInfo's ``MESOS`` ContainerInfo has the image
and the volumes; the TaskInfo has none), ``process`` ones beside it.

Resources are copied from the offer's own resource entries (their ``role``,
``reservations`` and ``allocation_info``), with only the amount changed, so a
task uses exactly the reserved or unreserved pool the matcher chose.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from airflow_mesos.exceptions import AirflowMesosError
from airflow_mesos.executor.matcher import ExecutorDemand, ResourceShare
from airflow_mesos.warm.payload import TaskPayload, encode_task_data
from airflow_mesos.worker import TOKEN_VAR, WORKLOAD_VAR

__all__ = [
    "CONTAINER_TYPES",
    "TaskInfoError",
    "VolumeMount",
    "WarmExecutor",
    "WorkerTask",
    "redacted_task_info",
    "build_task_info",
    "resource_templates",
    "split_token",
]

CONTAINER_TYPES = ("mesos", "docker", "process")
WORKER_MODULE = "airflow_mesos.worker"
EXECUTION_API_VAR = "AIRFLOW__CORE__EXECUTION_API_SERVER_URL"
DAGS_FOLDER_VAR = "AIRFLOW__CORE__DAGS_FOLDER"
CONTAINER_PYTHON = "python3"
WARM_MODULE = "airflow_mesos.warm"
WARM_IDLE_TIMEOUT_VAR = "AIRFLOW_MESOS_WARM_IDLE_TIMEOUT"
WARM_EXECUTOR_ID_PREFIX = "airflow-warm-"
WARM_EXECUTOR_SOURCE = "airflow-mesos"
WARM_CONTAINER_TYPES = ("mesos", "process")
_NANOS = 1_000_000_000
_REDACTED = "<redacted>"


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
class WarmExecutor:
    """The warm-worker executor a task runs in: everything its ``ExecutorInfo`` is made of.

    Two tasks with equal ``WarmExecutor`` share one executor on an agent; everything that makes
    two executors differ is a field here, so equal fields give the same :attr:`executor_id` and
    byte-identical ExecutorInfo JSON (Mesos refuses a task whose ExecutorInfo differs from the
    running executor's of the same id).  Holds no secret: what is here is visible in Mesos'
    endpoints.
    """

    framework_name: str
    container_type: str
    """``mesos`` (the executor runs in ``image``, its tasks inside its container) or ``process``."""
    role: str
    """The role its resources are allocated to (unreserved resources of that role)."""
    cpus: float
    mem: float
    idle_timeout: float
    python: str
    """The interpreter for ``process``; ``mesos`` runs the image's ``python3``."""
    image: str | None = None
    force_pull: bool = False
    network: str = "host"
    volumes: tuple[VolumeMount, ...] = ()
    user: str | None = None
    """``CommandInfo.user`` of the executor (``[mesos] framework_user`` for ``mesos``): Mesos runs an executor as
    the framework's user and gives it a sandbox that user owns; said explicitly, so that a containerizer that
    would otherwise run the image's own ``USER`` runs the one that can write its tasks' sandboxes."""
    environment: Mapping[str, str] = field(default_factory=dict)
    """Non-secret variables the executor process starts with (the Airflow settings every task of it
    shares: Execution API URL, DAGs folder, ``[mesos] env``), so Airflow's configuration as it imports
    the worker once is the tasks' own."""

    def __post_init__(self) -> None:
        if self.container_type not in WARM_CONTAINER_TYPES:
            raise TaskInfoError(f"a warm worker runs with container_type 'mesos' or 'process', not "
                                f"{self.container_type!r}")
        if self.container_type == "mesos" and not self.image:
            raise TaskInfoError("a warm worker with container_type 'mesos' needs an image ([mesos] image or "
                                "executor_config.mesos.image)")
        if self.container_type == "process" and self.volumes:
            paths = ", ".join(v.container_path for v in self.volumes)
            raise TaskInfoError(f"volumes ({paths}) need a container; container_type 'process' runs a plain "
                                "process on the agent")
        for name, minimum in (("cpus", 0.001), ("mem", 0.001), ("idle_timeout", 0.0)):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not value >= minimum:
                bound = "> 0" if minimum else ">= 0"
                raise TaskInfoError(f"the warm executor's {name} must be a number {bound}, got {value!r}")
        # Computed once: the id is asked for at every submit and every launch.
        object.__setattr__(self, "_content", self._info_without_ids())
        digest = hashlib.sha256(json.dumps({"framework": self.framework_name, "info": self._content},
                                           sort_keys=True, separators=(",", ":")).encode()).hexdigest()
        object.__setattr__(self, "_executor_id", f"{WARM_EXECUTOR_ID_PREFIX}{self.container_type}-{digest[:20]}")

    @property
    def executor_id(self) -> str:
        """``airflow-warm-<container type>-<digest>``: a digest of the ExecutorInfo's whole content (its
        framework's name included; the framework id is left out, as executor ids are per framework)."""
        return self._executor_id  # type: ignore[attr-defined]

    def demand(self) -> ExecutorDemand:
        """What the matcher counts for this executor on an agent where it does not run yet."""
        return ExecutorDemand(self.executor_id, float(self.cpus), float(self.mem), 0.0)

    def _command(self) -> dict[str, Any]:
        python = self.python if self.container_type == "process" else CONTAINER_PYTHON
        variables = [{"name": k, "type": "VALUE", "value": str(v)} for k, v in sorted(self.environment.items())
                     if k != WARM_IDLE_TIMEOUT_VAR]
        variables.append({"name": WARM_IDLE_TIMEOUT_VAR, "type": "VALUE", "value": f"{self.idle_timeout:g}"})
        command: dict[str, Any] = {"shell": False, "value": python, "arguments": [python, "-m", WARM_MODULE],
                                   "environment": {"variables": variables}}
        if self.user:
            command["user"] = self.user
        return command

    def _resources(self) -> list[dict[str, Any]]:
        # Always unreserved resources of the role, whatever pool the offer had: the ExecutorInfo must not
        # depend on the offer it first launched with.
        allocation = {"role": self.role}
        return [{"name": name, "type": "SCALAR", "scalar": {"value": round(float(amount), 3)},
                 "allocation_info": dict(allocation)}
                for name, amount in (("cpus", self.cpus), ("mem", self.mem))]

    def _container(self) -> dict[str, Any] | None:
        if self.container_type == "process":
            return None
        container: dict[str, Any] = {
            "type": "MESOS",
            "mesos": {"image": {"type": "DOCKER", "docker": {"name": self.image}, "cached": not self.force_pull}},
        }
        if self.network not in ("host", ""):
            container["network_infos"] = [{"name": self.network}]
        if self.volumes:
            container["volumes"] = [v.to_json() for v in self.volumes]
        return container

    def _info_without_ids(self) -> dict[str, Any]:
        info: dict[str, Any] = {
            "type": "CUSTOM",
            "name": f"airflow warm worker ({self.container_type}{', ' + self.image if self.image else ''})",
            "source": WARM_EXECUTOR_SOURCE,
            "command": self._command(),
            "resources": self._resources(),
        }
        container = self._container()
        if container is not None:
            info["container"] = container
        return info

    def executor_info(self, framework_id: str) -> dict[str, Any]:
        """The ``mesos.v1.ExecutorInfo`` JSON (a fresh dict each call; equal for equal inputs)."""
        if not framework_id:
            raise TaskInfoError("a warm worker's ExecutorInfo needs the framework id (not subscribed yet?)")
        content = json.loads(json.dumps(self._content))  # a deep copy the caller may change
        return {"executor_id": {"value": self.executor_id}, "framework_id": {"value": framework_id}, **content}


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
    warm: WarmExecutor | None = None
    """Run in this warm executor instead of as a command task."""
    framework_id: str | None = None
    """The framework's id, for a warm task's ExecutorInfo."""

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


def _warm_payload(task: WorkerTask) -> str:
    """``TaskInfo.data`` of a warm task: what its command's environment would have held."""
    environment = {**{k: str(v) for k, v in task.env.items()},
                   EXECUTION_API_VAR: task.execution_api_url, DAGS_FOLDER_VAR: task.dags_folder}
    return encode_task_data(TaskPayload(workload_json=task.workload_json, token=task.token,
                                        environment=environment))


def _check_warm(task: WorkerTask) -> WarmExecutor:
    warm = task.warm
    assert warm is not None
    if task.container_type != warm.container_type:
        raise TaskInfoError(f"the task's container_type {task.container_type!r} differs from its warm executor's "
                            f"{warm.container_type!r}")
    if any(s.name == "gpus" and s.amount > 0 for s in task.resources):
        # A warm executor's tasks share its container, and with it the devices: GPU tasks get their own.
        raise TaskInfoError("a task with gpus cannot run in a warm worker (its tasks share one container); it "
                            "runs as a command task")
    if task.token_as_plain_env:
        raise TaskInfoError("a warm task carries its token in TaskInfo.data, never in a plain variable")
    return warm


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
    }
    if task.warm is not None:
        warm = _check_warm(task)
        # No CommandInfo (Mesos: one of command or executor) and no ContainerInfo: the task runs inside the
        # executor's container, which the ExecutorInfo describes.
        info["executor"] = warm.executor_info(task.framework_id or "")
        info["data"] = _warm_payload(task)
    else:
        info["command"] = _command(task)
    info["kill_policy"] = {"grace_period": {"nanoseconds": int(task.kill_grace_seconds * _NANOS)}}
    if task.warm is None:
        container = _container(task)
        if container is not None:
            info["container"] = container
    if task.labels:
        info["labels"] = {"labels": [{"key": k, "value": str(v)} for k, v in task.labels.items()]}
    return info


def redacted_task_info(info: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of a TaskInfo JSON fit for a log line or an error message: ``data`` (a warm task's payload, with
    its token) and the values of SECRET variables replaced by ``<redacted>``."""
    out = json.loads(json.dumps(info))
    if "data" in out:
        out["data"] = _REDACTED
    for holder in (out.get("command"), (out.get("executor") or {}).get("command")):
        for variable in ((holder or {}).get("environment") or {}).get("variables") or []:
            if variable.get("type") == "SECRET" or variable.get("name") == TOKEN_VAR:
                variable.pop("secret", None)
                variable["value"] = _REDACTED
    return out
