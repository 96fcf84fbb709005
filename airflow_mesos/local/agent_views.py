"""What an embedded agent shows: its ``/state`` JSON, v1 operator responses and ``/metrics/snapshot``.

Pure functions of an :class:`~airflow_mesos.local.agent_records.AgentView` (no locks, no I/O; ``now`` is
passed in), in the shapes a Mesos 1.11 agent serves (``src/slave/http.cpp``, ``src/slave/metrics.cpp``).
Secrets never show: tasks are rendered from a fixed list of fields, without command, environment or docker
parameters, and the command executor is named without its command line.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from airflow_mesos.local.agent_records import AgentExecutor, AgentFramework, AgentTask, AgentView, executor_completed
from airflow_mesos.local.allocator import Resources
from airflow_mesos.local.constants import AGENT_CAPABILITIES, LIVE_STATES, MESOS_VERSION, is_terminal, version_info
from airflow_mesos.local.views_common import (
    flag_list,
    metric_list,
    metric_suffix,
    public_container,
    public_executor_info,
    put,
    resource_gauges,
    v1_status,
)

AGENT_TERMINAL_COUNTERS = ("TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_GONE")


def executor_name(task: AgentTask) -> str:
    # Mesos appends "(Command: <value>)"; a command line may embed credentials, so it is left out.
    return f"Command Executor (Task: {task.task_id})"


# ------------------------------------------------------------------------------------------------
# /state
# ------------------------------------------------------------------------------------------------


def _task_model(view: AgentView, task: AgentTask) -> dict:
    info = task.task_info
    out = {
        "id": task.task_id,
        "name": info.get("name", ""),
        "framework_id": task.framework_id,
        "executor_id": task.executor_id or "",
        "slave_id": view.id,
        "state": task.state,
        "resources": task.resources.to_state_model(),
        "statuses": [dict(s) for s in task.statuses],
    }
    if "labels" in info:
        out["labels"] = info["labels"].get("labels", [])
    if "container" in info:
        # Docker parameters can carry `--env NAME=secret`; show only what is safe.
        out["container"] = public_container(info["container"])
    if "discovery" in info:
        out["discovery"] = info["discovery"]
    return out


def _executor_model(view: AgentView, task: AgentTask) -> dict:
    task_json = _task_model(view, task)
    done = task.completed or is_terminal(task.state)
    return {
        "id": task.task_id,
        "name": executor_name(task),
        "source": task.task_id,
        "container": task.container_id,
        "directory": str(task.directory),
        "resources": task.resources.to_state_model(),
        "type": "COMMAND",
        "tasks": [] if done else [task_json],
        "queued_tasks": [],
        "completed_tasks": [task_json] if done else [],
    }


def _custom_executor_model(view: AgentView, executor: AgentExecutor) -> dict:
    """``model(const Executor&)`` (src/slave/http.cpp) of a custom executor: its resources are its own plus
    those of its queued and launched tasks (``allocatedResources``); never the TaskInfos' ``data``."""
    resources = Resources.from_json(executor.info.get("resources") or [], "resources") if \
        executor.info.get("resources") else Resources()
    for task in executor.live_tasks():
        resources = resources + task.resources
    info = public_executor_info(executor.info)
    model = {
        "id": executor.id,
        "name": info.get("name", ""),
        "source": info.get("source", ""),
        "container": executor.container_id,
        "directory": str(executor.directory),
        "resources": resources.to_state_model(),
        "type": executor.info.get("type", "CUSTOM"),
        "tasks": [_task_model(view, t) for t in executor.launched_tasks.values()],
        "queued_tasks": [_task_model(view, t) for t in executor.queued_tasks.values()],
        "completed_tasks": [_task_model(view, t) for t in list(executor.terminated_tasks.values())
                            + executor.completed_tasks],
    }
    if "labels" in info:
        model["labels"] = info["labels"].get("labels", [])
    return model


def _framework_model(view: AgentView, framework: AgentFramework) -> dict:
    info = framework.info
    executors, completed_executors = [], []
    for (framework_id, _), task in view.tasks.items():
        if framework_id == framework.id and not task.executor_id:
            (completed_executors if executor_completed(framework, task) else executors).append(
                _executor_model(view, task))
    for (framework_id, _), executor in view.executors.items():
        if framework_id == framework.id:
            (completed_executors if executor.removed else executors).append(_custom_executor_model(view, executor))
    completed_executors.extend(_custom_executor_model(view, e) for e in view.completed_executor_runs
                               if e.framework_id == framework.id)
    out = {
        "id": framework.id,
        "name": info.get("name", ""),
        "user": info.get("user", ""),
        "hostname": info.get("hostname", ""),
        "failover_timeout": info.get("failover_timeout", 0.0),
        "checkpoint": info.get("checkpoint", False),
        "capabilities": [c.get("type") for c in info.get("capabilities", [])],
        "executors": executors,
        "completed_executors": completed_executors,
    }
    if "roles" in info:
        out["roles"] = info["roles"]
    else:
        out["role"] = info.get("role", "*")
    if "principal" in info:
        out["principal"] = info["principal"]
    return out


def agent_state(view: AgentView) -> dict:
    """The agent ``/state`` JSON (Mesos' agent shape; secret values never appear)."""
    return {
        "version": MESOS_VERSION,
        "start_time": view.start_time,
        "id": view.id,
        "pid": view.pid,
        "hostname": view.hostname,
        "capabilities": list(AGENT_CAPABILITIES),
        "resources": view.total.to_state_model(),
        "reserved_resources": {},
        "unreserved_resources": view.total.to_state_model(),
        "reserved_resources_full": {},
        "unreserved_resources_full": list(view.resources),
        "attributes": {a: (v if isinstance(v, str) else float(v)) for a, v in view.attributes.items()},
        "flags": dict(view.flags),
        "frameworks": [_framework_model(view, f) for f in view.frameworks.values()],
        "completed_frameworks": [_framework_model(view, f) for f in view.completed_frameworks.values()],
    }


# ------------------------------------------------------------------------------------------------
# v1 operator API responses
# ------------------------------------------------------------------------------------------------


def agent_task(view: AgentView, task: AgentTask) -> dict:
    """An agent ``Task`` in v1 JSON from its TaskInfo, leaving out command, environment and docker parameters."""
    info = task.task_info
    model: dict[str, Any] = {
        "name": str(info.get("name", "")), "task_id": {"value": task.task_id},
        "framework_id": {"value": task.framework_id}, "agent_id": {"value": view.id}, "state": task.state,
        "resources": [r for r in info.get("resources") or [] if isinstance(r, dict)],
        "statuses": [v1_status({"task_id": {"value": task.task_id}, "agent_id": {"value": view.id}, **s})
                     for s in task.statuses],
    }
    if isinstance(info.get("labels"), dict):
        model["labels"] = info["labels"]
    if isinstance(info.get("discovery"), dict):
        model["discovery"] = info["discovery"]
    if isinstance(info.get("container"), dict):
        model["container"] = public_container(info["container"])
    user = (info.get("command") or {}).get("user") if isinstance(info.get("command"), dict) else None
    put(model, "user", user)
    if task.executor_id:
        model["executor_id"] = {"value": task.executor_id}   # Task.executor_id: the task's custom executor
    return model


def agent_get_tasks(view: AgentView) -> dict:
    """``GetTasks`` of an agent: launched (running), terminated (terminal, not yet acknowledged), completed."""
    queued, launched, terminated, completed = [], [], [], []
    for task in view.tasks.values():
        model = agent_task(view, task)
        executor = view.executors.get((task.framework_id, task.executor_id)) if task.executor_id else None
        if executor is not None and executor.queued_tasks.get(task.task_id) is task:
            queued.append(model)   # waiting for its executor to subscribe
        elif executor_completed(view.framework_of(task), task):
            completed.append(model)
        elif task.terminated:
            terminated.append(model)
        else:
            launched.append(model)
    return {"pending_tasks": [], "queued_tasks": queued, "launched_tasks": launched, "terminated_tasks": terminated,
            "completed_tasks": completed}


def agent_executor_info(task: AgentTask) -> dict:
    """The command executor's ExecutorInfo Mesos generates per task, without its command line."""
    return {"executor_id": {"value": task.task_id}, "framework_id": {"value": task.framework_id},
            "name": executor_name(task), "source": task.task_id, "type": "DEFAULT",
            "resources": [r for r in task.task_info.get("resources") or [] if isinstance(r, dict)]}


def agent_get_executors(view: AgentView) -> dict:
    executors, completed = [], []
    for task in view.tasks.values():
        if task.executor_id:
            continue
        done = executor_completed(view.framework_of(task), task)
        (completed if done else executors).append({"executor_info": agent_executor_info(task)})
    for executor in view.executors.values():
        (completed if executor.removed else executors).append({"executor_info": public_executor_info(executor.info)})
    return {"executors": executors, "completed_executors": completed}


def agent_get_frameworks(view: AgentView) -> dict:
    return {"frameworks": [{"framework_info": f.info} for f in view.frameworks.values()],
            "completed_frameworks": [{"framework_info": f.info} for f in view.completed_frameworks.values()]}


def agent_get_state(view: AgentView) -> dict:
    return {"get_tasks": agent_get_tasks(view), "get_executors": agent_get_executors(view),
            "get_frameworks": agent_get_frameworks(view)}


def agent_get_containers(view: AgentView, now: float) -> dict:
    """``GetContainers``: one container per live task, with its limits (no usage statistics are collected)."""
    containers = []
    for executor in view.executors.values():
        if executor.removed or executor.state == "TERMINATED" or executor.kind is None:
            continue
        limits = Resources.from_json(executor.info.get("resources") or [], "resources")
        for task in executor.live_tasks():
            limits = limits + task.resources
        containers.append({
            "framework_id": {"value": executor.framework_id}, "executor_id": {"value": executor.id},
            "executor_name": str(executor.info.get("name", "")), "container_id": {"value": executor.container_id},
            "container_status": {"container_id": {"value": executor.container_id}},
            "resource_statistics": {"timestamp": now, "cpus_limit": limits.scalar("cpus"),
                                    "mem_limit_bytes": int(limits.scalar("mem") * 1024 * 1024)},
        })
    for task in view.tasks.values():
        if task.terminated or not task.has_container:
            continue
        status: dict[str, Any] = {"container_id": {"value": task.container_id}}
        for entry in reversed(task.statuses):
            if entry.get("container_status"):
                status = dict(entry["container_status"])
                break
        containers.append({
            "framework_id": {"value": task.framework_id}, "executor_id": {"value": task.task_id},
            "executor_name": executor_name(task),
            "container_id": {"value": task.container_id}, "container_status": status,
            "resource_statistics": {"timestamp": now, "cpus_limit": task.resources.scalar("cpus"),
                                    "mem_limit_bytes": int(task.resources.scalar("mem") * 1024 * 1024)},
        })
    return {"containers": containers}


def agent_get_agent(view: AgentView) -> dict:
    return {"agent_info": {"hostname": view.hostname, "port": view.port, "id": {"value": view.id},
                           "resources": list(view.resources), "attributes": list(view.attribute_list)}}


def agent_call_response(view: AgentView, call_type: str, metrics: dict[str, float], now: float) -> dict | None:
    """The payload of a read-only agent call's response; None when the embedded agent does not serve it.

    :param metrics: the ``/metrics/snapshot`` for GET_METRICS (the edge takes it, with the host's numbers).
    """
    responses: dict[str, Callable[[], dict]] = {
        "GET_HEALTH": lambda: {"healthy": True},
        "GET_FLAGS": lambda: {"flags": flag_list(dict(view.flags))},
        "GET_VERSION": lambda: {"version_info": version_info()},
        "GET_METRICS": lambda: {"metrics": metric_list(metrics)},
        "GET_LOGGING_LEVEL": lambda: {"level": 0},
        "GET_STATE": lambda: agent_get_state(view),
        "GET_CONTAINERS": lambda: agent_get_containers(view, now),
        "GET_FRAMEWORKS": lambda: agent_get_frameworks(view),
        "GET_EXECUTORS": lambda: agent_get_executors(view),
        "GET_OPERATIONS": lambda: {"operations": []},
        "GET_TASKS": lambda: agent_get_tasks(view),
        "GET_AGENT": lambda: agent_get_agent(view),
        "GET_RESOURCE_PROVIDERS": lambda: {"resource_providers": []},
    }
    render = responses.get(call_type)
    return None if render is None else render()


# ------------------------------------------------------------------------------------------------
# /metrics/snapshot
# ------------------------------------------------------------------------------------------------


def agent_metrics(view: AgentView, now: float) -> dict[str, float]:
    """An agent's ``/metrics/snapshot`` entries (``slave/*``); counters count the tasks since it (re)started."""
    live = {state: 0 for state in LIVE_STATES}
    terminal = {state: 0 for state in AGENT_TERMINAL_COUNTERS}
    used = Resources()
    executors_running = executors_registering = executors_terminated = 0
    executors_terminating = 0
    for task in view.tasks.values():
        command_task = not task.executor_id   # its executor is the agent's own, one per task
        if task.terminated or is_terminal(task.state):
            executors_terminated += command_task
            if task.state in terminal:
                terminal[task.state] += 1
            continue
        if task.state in live:
            live[task.state] += 1
        if command_task and task.state == "TASK_STAGING":
            executors_registering += 1
        elif command_task:
            executors_running += 1
        used = used + task.resources
    for executor in view.executors.values():
        if executor.state == "REGISTERING":
            executors_registering += 1
        elif executor.state == "RUNNING":
            executors_running += 1
        elif executor.state == "TERMINATING":
            executors_terminating += 1
        else:
            executors_terminated += 1
        if executor.state != "TERMINATED" and executor.info.get("resources"):
            used = used + Resources.from_json(executor.info["resources"], "resources")
    out: dict[str, float] = {
        "slave/uptime_secs": max(0.0, now - view.start_time),
        "slave/registered": 1.0 if view.registered else 0.0,
        "slave/frameworks_active": float(len(view.frameworks)),
        "slave/executors_registering": float(executors_registering),
        "slave/executors_running": float(executors_running),
        "slave/executors_terminating": float(executors_terminating),
        "slave/executors_terminated": float(executors_terminated),
        "slave/recovery_errors": 0.0,
    }
    for state, count in live.items():
        out[f"slave/tasks_{metric_suffix(state)}"] = float(count)
    for state, count in terminal.items():
        out[f"slave/tasks_{metric_suffix(state)}"] = float(count)
    out.update(resource_gauges("slave", view.total, used))
    return out
