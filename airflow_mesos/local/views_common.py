"""Rendering pieces the master's and the agents' views share (pure).

Secrets never show: a ContainerInfo is rendered without its docker parameters (they can carry ``--env``),
a TaskStatus without its opaque ``data``.
"""

from __future__ import annotations

from typing import Any

from airflow_mesos.local.allocator import Resources
from airflow_mesos.local.constants import SCALAR_RESOURCES


def public_container(container: dict) -> dict:
    """The parts of a ContainerInfo that are safe to show: no docker parameters (they can carry ``--env``)."""
    out: dict[str, Any] = {"type": container.get("type", "MESOS")}
    docker = container.get("docker")
    if isinstance(docker, dict):
        out["docker"] = {k: docker[k] for k in ("image", "network", "port_mappings", "privileged", "force_pull_image")
                         if k in docker}
    if "volumes" in container:
        out["volumes"] = [{k: v for k, v in vol.items() if k in ("container_path", "host_path", "mode", "source")}
                          for vol in container["volumes"] if isinstance(vol, dict)]
    if "hostname" in container:
        out["hostname"] = container["hostname"]
    return out


def public_executor_info(info: dict) -> dict:
    """The parts of an ExecutorInfo that are safe to show (``json(ExecutorInfo)`` of src/common/http.cpp, less).

    Never ``data`` (Mesos' models leave it out too), and of the command only ``shell`` and ``user``: its
    value, arguments, URIs and environment can carry credentials (SECRET variables are resolved from
    there), and a view is read by anyone who can reach the endpoint.
    """
    out: dict[str, Any] = {"executor_id": info.get("executor_id", {"value": ""}),
                           "framework_id": info.get("framework_id", {"value": ""})}
    for key in ("name", "source", "labels", "type", "shutdown_grace_period", "discovery"):
        if key in info:
            out[key] = info[key]
    out["resources"] = [r for r in info.get("resources") or [] if isinstance(r, dict)]
    command = info.get("command")
    if isinstance(command, dict):
        out["command"] = {k: command[k] for k in ("shell", "user") if k in command}
    if isinstance(info.get("container"), dict):
        out["container"] = public_container(info["container"])
    return out


STATUS_FIELDS = ("task_id", "state", "message", "source", "reason", "agent_id", "executor_id", "timestamp",
                 "uuid", "healthy", "labels", "check_status", "container_status", "unreachable_time", "limitation")
"""TaskStatus fields a v1 view shows; ``data`` (opaque executor bytes) is left out."""


def v1_status(status: dict) -> dict:
    """A v1 TaskStatus restricted to :data:`STATUS_FIELDS`."""
    return {key: status[key] for key in STATUS_FIELDS if key in status}


def flag_list(flags: dict[str, str]) -> list[dict]:
    """``GetFlags.flags``: ``[{"name", "value"}]`` sorted by name (stout's JSON::Object is a std::map)."""
    return [{"name": name, "value": str(flags[name])} for name in sorted(flags)]


def time_info(seconds: float | None) -> dict | None:
    """A v1 ``TimeInfo`` for a wall-clock time; None when unset (0 or None)."""
    return None if not seconds else {"nanoseconds": int(seconds * 1e9)}


def put(target: dict, key: str, value: Any) -> None:
    """Set ``key`` unless ``value`` is None (an unset optional protobuf field)."""
    if value is not None:
        target[key] = value


def metric_suffix(state: str) -> str:
    """``TASK_GONE_BY_OPERATOR`` -> ``gone_by_operator``."""
    return state[len("TASK_"):].lower()


def resource_gauges(prefix: str, total: Resources, used: Resources) -> dict[str, float]:
    """``<prefix>/<r>_total``, ``_used``, ``_percent`` and the (always zero) revocable triple per scalar."""
    out: dict[str, float] = {}
    for name in SCALAR_RESOURCES:
        whole, taken = total.scalar(name), used.scalar(name)
        out[f"{prefix}/{name}_total"] = whole
        out[f"{prefix}/{name}_used"] = taken
        out[f"{prefix}/{name}_percent"] = taken / whole if whole > 0 else 0.0
        out[f"{prefix}/{name}_revocable_total"] = 0.0
        out[f"{prefix}/{name}_revocable_used"] = 0.0
        out[f"{prefix}/{name}_revocable_percent"] = 0.0
    return out


def metric_list(snapshot: dict[str, float]) -> list[dict[str, Any]]:
    """``GET_METRICS`` form: ``[{"name": ..., "value": ...}]`` sorted by name."""
    return [{"name": name, "value": snapshot[name]} for name in sorted(snapshot)]
