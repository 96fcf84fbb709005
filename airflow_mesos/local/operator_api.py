"""The read-only operator surface of the embedded master and agents: ``POST /api/v1``, ``/metrics/snapshot``,
``/flags`` and ``/roles``, in the shapes real Mesos serves them.

- Parsing of operator calls follows ``Master::Http::api`` / ``Http::api`` (src/master/http.cpp,
  src/slave/http.cpp) and ``validation::master::call::validate``: 405 → 400 no Content-Type → 415
  (protobuf is valid for Mesos but not implemented here, like the rest of the embedded master) → 400
  "Failed to parse body into JSON: …" → 400 "Failed to convert JSON into Call protobuf: …" → 400
  "Failed to validate master::Call: …" → 406 (Accept must allow JSON) → the call.
- Responses are v1 protobuf JSON (``agent_id``, ``{"value": …}`` ids, v1 ``Resource`` lists), unlike the
  state-JSON model of ``/master/state``.
- Calls that change the cluster (RESERVE_RESOURCES, DRAIN_AGENT, MARK_AGENT_GONE, TEARDOWN, …) and the
  operator SUBSCRIBE stream answer ``501 Not Implemented`` with a message naming the call.

Rendering functions (``master_*`` / ``agent_*`` taking the records and ``now``) are pure and expect the caller
to hold the master's (or agent's) lock; :func:`master_route` and :func:`agent_route` are the HTTP edges the
handlers call.  Secrets never show: tasks are rendered from a fixed list of fields without command,
environment or docker parameters (see :func:`airflow_mesos.local.state_json.public_container`).
"""

from __future__ import annotations

import base64
import logging
import threading
import uuid
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from airflow_mesos.local import metrics as metrics_module
from airflow_mesos.local import state_json
from airflow_mesos.local.allocator import Resources
from airflow_mesos.local.http_util import (
    APPLICATION_JSON,
    HttpReply,
    accepts,
    decode_call,
    not_acceptable,
    query_params,
)
from airflow_mesos.local.validation import validate_operator_call

if TYPE_CHECKING:  # pragma: no cover
    from airflow_mesos.local.agent import Agent
    from airflow_mesos.local.master import (
        AgentRecord,
        FrameworkRecord,
        Master,
        TaskRecord,
    )

log = logging.getLogger(__name__)

MESOS_VERSION = "1.11.0"


# ------------------------------------------------------------------------------------------------
# Call parsing (pure)
# ------------------------------------------------------------------------------------------------


def parse_call(method: str, headers: Mapping[str, str], body: bytes, *, api: str) -> dict | HttpReply:
    """Decode and validate one ``POST /api/v1`` request; the call dict, or the error reply Mesos would give.

    The same decoding as the scheduler API (:func:`airflow_mesos.local.http_util.decode_call`: exact
    ``application/json``, picojson's JSON, stout's conversion into ``master.Call`` / ``agent.Call``), then
    ``validation::{master,agent}::call::validate``, then the ``Accept`` check.

    :param api: ``"master"`` or ``"agent"`` (the call message and the validation message differ).
    """
    call = decode_call(method, headers, body, f"{api}.Call")
    if isinstance(call, HttpReply):
        return call
    error = validate_operator_call(call, api)
    if error is not None:
        return HttpReply.text(400, f"Failed to validate {api}::Call: {error}")
    if not accepts(headers.get("Accept"), APPLICATION_JSON):
        return not_acceptable()
    return call


def _unsupported(call_type: str, where: str) -> HttpReply:
    return HttpReply.text(501, f"{call_type} is not supported by the embedded Mesos {where} "
                               "(it serves the read-only operator calls; see docs/local-cluster.md)")


# ------------------------------------------------------------------------------------------------
# v1 models shared by master and agent (pure)
# ------------------------------------------------------------------------------------------------

_STATUS_FIELDS = ("task_id", "state", "message", "source", "reason", "agent_id", "executor_id", "timestamp",
                  "uuid", "healthy", "labels", "check_status", "container_status", "unreachable_time", "limitation")
"""TaskStatus fields shown; ``data`` (opaque executor bytes) is left out."""


def v1_status(status: dict) -> dict:
    """A v1 TaskStatus restricted to :data:`_STATUS_FIELDS`."""
    return {key: status[key] for key in _STATUS_FIELDS if key in status}


def version_info() -> dict:
    """``VersionInfo`` as ``/version`` reports it."""
    return {"version": MESOS_VERSION, "build_date": "", "build_time": 0.0, "build_user": ""}


def flag_list(flags: dict[str, str]) -> list[dict]:
    """``GetFlags.flags``: ``[{"name", "value"}]`` sorted by name (stout's JSON::Object is a std::map)."""
    return [{"name": name, "value": str(flags[name])} for name in sorted(flags)]


def _ns(seconds: float | None) -> dict | None:
    return None if not seconds else {"nanoseconds": int(seconds * 1e9)}


def _put(target: dict, key: str, value: Any) -> None:
    if value is not None:
        target[key] = value


# ------------------------------------------------------------------------------------------------
# Master renderers (pure; the caller holds master._lock)
# ------------------------------------------------------------------------------------------------


def master_task(task: TaskRecord) -> dict:
    """A master ``Task`` in v1 JSON: no command, environment or docker parameters."""
    model: dict[str, Any] = {
        "name": task.name, "task_id": {"value": task.task_id}, "framework_id": {"value": task.framework_id},
        "agent_id": {"value": task.agent_id}, "state": task.state, "resources": task.resources.to_json(task.role),
        "statuses": [v1_status(s) for s in task.statuses],
    }
    if task.executor_id:
        model["executor_id"] = {"value": task.executor_id}
    latest = task.latest or {}
    if latest.get("uuid"):
        model["status_update_state"] = latest.get("state", task.state)
        model["status_update_uuid"] = latest["uuid"]
    _put(model, "labels", task.labels)
    _put(model, "discovery", task.discovery)
    _put(model, "container", task.container)
    _put(model, "user", task.user)
    return model


def _by_role(pairs: list[tuple[str, Resources]]) -> list[dict]:
    """Sum resources per allocation role and render them as v1 Resources carrying ``allocation_info``."""
    sums: dict[str, Resources] = {}
    for role, resources in pairs:
        sums[role] = sums.get(role, Resources()) + resources
    out: list[dict] = []
    for role in sorted(sums):
        out.extend(sums[role].to_json(role))
    return out


def master_agent(master: Master, record: AgentRecord) -> dict:
    """``GetAgents.Agent`` (protobuf::master::event::createAgentResponse)."""
    spec = record.agent.spec
    allocated = [(t.role, t.resources) for f in master.frameworks.values() for t in f.tasks.values()
                 if t.agent_id == record.id and t.holds_resources]
    offered = [(o.role, o.resources) for o in master.offers.values() if o.agent_id == record.id]
    model: dict[str, Any] = {
        "agent_info": {"hostname": spec.hostname, "port": record.agent.port, "resources": list(spec.resources()),
                       "attributes": list(spec.attribute_list()), "id": {"value": record.id}},
        "active": record.reachable, "deactivated": False, "version": MESOS_VERSION, "pid": record.agent.pid,
        "registered_time": _ns(record.registered_time),
        "total_resources": record.total.to_json(), "allocated_resources": _by_role(allocated),
        "offered_resources": _by_role(offered),
        "capabilities": [{"type": c} for c in ("MULTI_ROLE", "HIERARCHICAL_ROLE", "RESERVATION_REFINEMENT")],
        "resource_providers": [],
    }
    _put(model, "reregistered_time", _ns(record.reregistered_time))
    return model


def master_get_agents(master: Master) -> dict:
    return {"agents": [master_agent(master, r) for r in master.agents.values() if r.reachable],
            "recovered_agents": []}


def master_framework(master: Master, framework: FrameworkRecord) -> dict:
    """``GetFrameworks.Framework`` (``model(const Framework&)`` in src/master/http.cpp)."""
    allocated = [(t.role, t.resources) for t in framework.tasks.values() if t.holds_resources]
    offers = [o for o in master.offers.values() if o.framework_id == framework.id]
    model: dict[str, Any] = {
        "framework_info": framework.info, "active": framework.active, "connected": framework.connected,
        "recovered": False, "offers": [o.json for o in offers], "inverse_offers": [],
        "allocated_resources": _by_role(allocated), "offered_resources": _by_role([(o.role, o.resources) for o in offers]),
    }
    _put(model, "registered_time", _ns(framework.registered_time))
    _put(model, "reregistered_time", _ns(framework.reregistered_time))
    _put(model, "unregistered_time", _ns(framework.unregistered_time))
    return model


def master_get_frameworks(master: Master) -> dict:
    return {"frameworks": [master_framework(master, f) for f in master.frameworks.values()],
            "completed_frameworks": [master_framework(master, f) for f in master.completed_frameworks]}


def master_get_tasks(master: Master) -> dict:
    """``GetTasks``: tasks, unreachable_tasks and completed_tasks of current then completed frameworks."""
    frameworks = list(master.frameworks.values()) + list(master.completed_frameworks)
    return {
        "tasks": [master_task(t) for f in frameworks for t in f.tasks.values()],
        "unreachable_tasks": [master_task(t) for f in frameworks for t in f.unreachable_tasks.values()],
        "completed_tasks": [master_task(t) for f in frameworks for t in f.completed_tasks],
    }


def master_get_executors(master: Master) -> dict:
    """``GetExecutors``: only custom executors are known to a master; command/docker tasks have none.

    The embedded master keeps no ExecutorInfo, so a task launched with one shows a minimal
    ``executor_info`` (id, framework id) without its command.
    """
    executors, seen = [], set()
    for framework in list(master.frameworks.values()) + list(master.completed_frameworks):
        for task in list(framework.tasks.values()) + list(framework.unreachable_tasks.values()):
            key = (framework.id, task.agent_id, task.executor_id)
            if not task.executor_id or key in seen:
                continue
            seen.add(key)
            executors.append({"executor_info": {"executor_id": {"value": task.executor_id},
                                                "framework_id": {"value": framework.id}, "type": "CUSTOM"},
                              "agent_id": {"value": task.agent_id}})
    return {"executors": executors}


def master_get_state(master: Master) -> dict:
    return {"get_tasks": master_get_tasks(master), "get_executors": master_get_executors(master),
            "get_frameworks": master_get_frameworks(master), "get_agents": master_get_agents(master)}


def master_get_roles(master: Master) -> dict:
    """``GetRoles``: name, weight, frameworks and the allocated + offered cpus/mem/disk/gpus of each known role."""
    roles = []
    for name in state_json.known_roles(master):
        summary = state_json.role_summary(master, name)
        roles.append({
            "name": name, "weight": summary["weight"],
            "frameworks": [{"value": fid} for fid in summary["frameworks"]],
            "resources": [{"name": r, "type": "SCALAR", "scalar": {"value": v}}
                          for r, v in sorted(summary["resources"].items()) if r in ("cpus", "mem", "disk", "gpus")],
        })
    return {"roles": roles}


def master_get_master(master: Master) -> dict:
    return {"master_info": master.master_info(), "start_time": master.start_time, "elected_time": master.start_time}


def master_call(master: Master, call: dict, snapshot: Callable[[], dict[str, float]]) -> HttpReply:
    """Answer a parsed, validated master operator call (the caller holds the master lock).

    :param snapshot: returns the metrics snapshot (for GET_METRICS).
    """
    kind = call["type"]
    renderers: dict[str, Callable[[], dict]] = {
        "GET_HEALTH": lambda: {"healthy": True},
        "GET_FLAGS": lambda: {"flags": flag_list(state_json.flags_endpoint(master, {})["flags"])},
        "GET_VERSION": lambda: {"version_info": version_info()},
        "GET_METRICS": lambda: {"metrics": metrics_module.as_metric_list(snapshot())},
        "GET_LOGGING_LEVEL": lambda: {"level": 0},
        "GET_STATE": lambda: master_get_state(master),
        "GET_AGENTS": lambda: master_get_agents(master),
        "GET_FRAMEWORKS": lambda: master_get_frameworks(master),
        "GET_EXECUTORS": lambda: master_get_executors(master),
        "GET_OPERATIONS": lambda: {"operations": []},
        "GET_TASKS": lambda: master_get_tasks(master),
        "GET_ROLES": lambda: master_get_roles(master),
        "GET_WEIGHTS": lambda: {"weight_infos": []},
        "GET_MASTER": lambda: master_get_master(master),
        "GET_MAINTENANCE_STATUS": lambda: {"status": {}},
        "GET_MAINTENANCE_SCHEDULE": lambda: {"schedule": {}},
    }
    if kind == "UNKNOWN":
        return HttpReply.text(501)
    if kind in ("LIST_FILES", "READ_FILE"):
        # The embedded master attaches no files (it has no log files), so every path is unknown.
        return HttpReply.text(404)
    render = renderers.get(kind)
    if render is None:
        return _unsupported(kind, "master")
    return HttpReply.json({"type": kind, kind.lower(): render()})


# ------------------------------------------------------------------------------------------------
# Master HTTP edge
# ------------------------------------------------------------------------------------------------

MASTER_ROUTES = ("/api/v1", "/metrics/snapshot", "/flags", "/roles")
"""Paths this module serves on the master (also under ``/master/``, except ``/metrics/snapshot``)."""


def master_route(master: Master, method: str, request_uri: str, headers: Mapping[str, str],
                 body: bytes) -> HttpReply | StreamReply | None:
    """Serve one master request if it is an operator route; None otherwise (the caller routes it).

    A :class:`StreamReply` (operator SUBSCRIBE) is for the handler to stream as it streams scheduler events.
    """
    parts = urlsplit(request_uri)
    path, query = parts.path, query_params(parts.query)
    name = path[len("/master"):] if path.startswith("/master/") else path
    if name not in MASTER_ROUTES or (name == "/metrics/snapshot" and path != name):
        return None
    if name == "/metrics/snapshot":
        if method not in ("GET", "HEAD"):
            return HttpReply.text(405, f"Expecting one of {{ 'GET' }}, but received '{method}'", {"Allow": "GET"})
        return HttpReply.json(master_metrics_snapshot(master), jsonp=query.get("jsonp"))
    if name == "/flags":
        with master._lock:
            return HttpReply.json(state_json.flags_endpoint(master, query), jsonp=query.get("jsonp"))
    if master.standby:
        # Non-leading masters redirect read-only and operator requests to the leader (Master::Http::api).
        if master.leader is None:
            return HttpReply.text(503, "No leader elected")
        return HttpReply.text(307, headers={"Location": f"//{master.leader}{request_uri}"})
    if name == "/roles":
        with master._lock:
            return HttpReply.json(state_json.roles_endpoint(master, query), jsonp=query.get("jsonp"))
    call = parse_call(method, headers, body, api="master")
    if isinstance(call, HttpReply):
        return call
    if call["type"] == "SUBSCRIBE":
        return StreamReply(subscribe(master))
    # Taken before the lock: the system metrics read the host.
    snapshot = master_metrics_snapshot(master) if call["type"] == "GET_METRICS" else {}
    with master._lock:
        return master_call(master, call, lambda: snapshot)


def master_metrics_snapshot(master: Master) -> dict[str, float]:
    """The master's ``/metrics/snapshot``: ``master/*`` plus ``system/*`` (takes the master lock)."""
    now = master.clock.time()
    with master._lock:
        subscribers = sum(1 for sub in list(_OPERATOR_STREAMS) if not sub.closed and sub in master._subscriptions)
        snapshot = metrics_module.master_metrics(master, now, operator_subscribers=subscribers)
    snapshot.update(metrics_module.system_metrics())
    return snapshot


# ------------------------------------------------------------------------------------------------
# Operator SUBSCRIBE (master): SUBSCRIBED{get_state}, then TASK_ADDED/UPDATED, AGENT_ADDED/REMOVED,
# FRAMEWORK_ADDED/UPDATED/REMOVED and the master's HEARTBEATs
# ------------------------------------------------------------------------------------------------

OPERATOR_POLL_INTERVAL = 0.05
"""Seconds between looks at the master's records for an operator stream (see :class:`Observation`)."""

_OPERATOR_STREAMS: weakref.WeakSet[Any] = weakref.WeakSet()


@dataclass
class StreamReply:
    """An accepted operator SUBSCRIBE: the handler streams ``subscription`` (a master ``Subscription``)."""

    subscription: Any


@dataclass
class Observation:
    """What an operator stream has already reported: per task the statuses seen, agents, frameworks.

    Events are derived by comparing two observations (:func:`operator_events`), so the master needs no
    hooks: every status a task records is reported once, in order, even if several arrive between looks.
    """

    tasks: dict[tuple[str, str], int] = field(default_factory=dict)        # (framework, task) -> statuses seen
    agents: set[str] = field(default_factory=set)                          # reachable agent ids
    frameworks: dict[str, tuple] = field(default_factory=dict)             # id -> (active, connected, reregistered)


def _all_tasks(master: Master) -> dict[tuple[str, str], TaskRecord]:
    """Every task record the master holds, by (framework, task); a live task wins over a completed namesake."""
    tasks = {}
    for framework in list(master.completed_frameworks) + list(master.frameworks.values()):
        for task in (list(framework.completed_tasks) + list(framework.unreachable_tasks.values())
                     + list(framework.tasks.values())):
            tasks[(framework.id, task.task_id)] = task
    return tasks


def observe(master: Master) -> Observation:
    """The current :class:`Observation` of the master (caller holds the lock)."""
    seen = Observation()
    for framework in master.frameworks.values():
        seen.frameworks[framework.id] = (framework.active, framework.connected, framework.reregistered_time)
    seen.tasks = {key: len(task.statuses) for key, task in _all_tasks(master).items()}
    seen.agents = {r.id for r in master.agents.values() if r.reachable}
    return seen


def operator_events(master: Master, before: Observation, now: Observation) -> list[dict]:
    """The v1 master Events between two observations (caller holds the lock; pure otherwise)."""
    events: list[dict] = []
    for agent_id in sorted(now.agents - before.agents):
        events.append({"type": "AGENT_ADDED", "agent_added": {"agent": master_agent(master, master.agents[agent_id])}})
    for framework_id, flags in now.frameworks.items():
        framework = master.frameworks[framework_id]
        if framework_id not in before.frameworks:
            events.append({"type": "FRAMEWORK_ADDED",
                           "framework_added": {"framework": master_framework(master, framework)}})
        elif before.frameworks[framework_id] != flags:
            events.append({"type": "FRAMEWORK_UPDATED",
                           "framework_updated": {"framework": master_framework(master, framework)}})
    tasks = _all_tasks(master)
    for key in sorted(now.tasks, key=lambda k: (k not in before.tasks, k)):
        task = tasks[key]
        if key not in before.tasks:
            # As Mesos adds it at launch: STAGING with no statuses; each status follows as TASK_UPDATED.
            added = {k: v for k, v in master_task(task).items() if not k.startswith("status_update_")}
            added.update(state="TASK_STAGING", statuses=[])
            events.append({"type": "TASK_ADDED", "task_added": {"task": added}})
        for status in task.statuses[before.tasks.get(key, 0):]:
            events.append({"type": "TASK_UPDATED", "task_updated": {
                "framework_id": {"value": task.framework_id}, "status": v1_status(status),
                "state": status.get("state", task.state)}})
    for framework_id in before.frameworks.keys() - now.frameworks.keys():
        gone = next((f for f in master.completed_frameworks if f.id == framework_id), None)
        info = gone.info if gone is not None else {"id": {"value": framework_id}}
        events.append({"type": "FRAMEWORK_REMOVED", "framework_removed": {"framework_info": info}})
    for agent_id in sorted(before.agents - now.agents):
        events.append({"type": "AGENT_REMOVED", "agent_removed": {"agent_id": {"value": agent_id}}})
    return events


def subscribe(master: Master) -> Any:
    """Open an operator event stream: SUBSCRIBED now, events as the records change, heartbeats from the ticker."""
    from airflow_mesos.local.master import Subscription

    stream = Subscription(None, str(uuid.uuid4()))
    with master._lock:
        stream.send({"type": "SUBSCRIBED", "subscribed": {
            "get_state": master_get_state(master), "heartbeat_interval_seconds": master.heartbeat_interval}})
        seen = observe(master)
        stream.next_heartbeat = master.clock.monotonic() + master.heartbeat_interval
        master._subscriptions.add(stream)   # the master's ticker sends HEARTBEATs and stop() closes it
    _OPERATOR_STREAMS.add(stream)
    threading.Thread(target=_pump, args=(master, stream, seen), daemon=True,
                     name=f"mesos-master-operator-stream-{master.port}").start()
    return stream


def _pump(master: Master, stream: Any, seen: Observation) -> None:
    """Send the events of each look at the master until the stream or the master closes.

    A failing look (a rendering bug) is logged and closes this stream, so the subscriber sees the end
    instead of silence; the master is not affected.
    """
    while not stream.closed and not master._stop.wait(OPERATOR_POLL_INTERVAL):
        try:
            with master._lock:
                now = observe(master)
                for event in operator_events(master, seen, now):
                    stream.send(event)
                seen = now
        except Exception:  # a rendering bug ends this stream visibly, never the master
            log.exception("operator event stream: look at the master failed; closing the stream")
            stream.close()


# ------------------------------------------------------------------------------------------------
# Agent renderers (pure over the agent's records; the caller holds agent._lock)
# ------------------------------------------------------------------------------------------------


def _agent_task_done(framework_removed: bool, task: Any) -> bool:
    """Whether the agent lists this task's executor as completed (same rule as the agent's /state)."""
    return bool(task.completed or (framework_removed and task.terminated))


def agent_task(agent: Agent, task: Any) -> dict:
    """An agent ``Task`` in v1 JSON from its TaskInfo, leaving out command, environment and docker parameters."""
    info = task.task_info
    model: dict[str, Any] = {
        "name": str(info.get("name", "")), "task_id": {"value": task.task_id},
        "framework_id": {"value": task.framework_id}, "agent_id": {"value": agent.id}, "state": task.state,
        "resources": [r for r in info.get("resources") or [] if isinstance(r, dict)],
        "statuses": [v1_status({"task_id": {"value": task.task_id}, "agent_id": {"value": agent.id}, **s})
                     for s in task.statuses],
    }
    if isinstance(info.get("labels"), dict):
        model["labels"] = info["labels"]
    if isinstance(info.get("discovery"), dict):
        model["discovery"] = info["discovery"]
    if isinstance(info.get("container"), dict):
        model["container"] = state_json.public_container(info["container"])
    user = (info.get("command") or {}).get("user") if isinstance(info.get("command"), dict) else None
    _put(model, "user", user)
    return model


def _agent_framework_removed(agent: Agent, framework_id: str) -> bool:
    framework = agent._frameworks.get(framework_id) or agent._completed_frameworks.get(framework_id)
    return bool(framework is not None and framework.removed)


def agent_get_tasks(agent: Agent) -> dict:
    """``GetTasks`` of an agent: launched (running), terminated (terminal, not yet acknowledged), completed."""
    launched, terminated, completed = [], [], []
    for task in agent._tasks.values():
        model = agent_task(agent, task)
        if _agent_task_done(_agent_framework_removed(agent, task.framework_id), task):
            completed.append(model)
        elif task.terminated:
            terminated.append(model)
        else:
            launched.append(model)
    return {"pending_tasks": [], "queued_tasks": [], "launched_tasks": launched, "terminated_tasks": terminated,
            "completed_tasks": completed}


def agent_executor_info(task: Any) -> dict:
    """The command executor's ExecutorInfo Mesos generates per task, without its command line."""
    return {"executor_id": {"value": task.task_id}, "framework_id": {"value": task.framework_id},
            "name": f"Command Executor (Task: {task.task_id})", "source": task.task_id, "type": "DEFAULT",
            "resources": [r for r in task.task_info.get("resources") or [] if isinstance(r, dict)]}


def agent_get_executors(agent: Agent) -> dict:
    executors, completed = [], []
    for task in agent._tasks.values():
        done = _agent_task_done(_agent_framework_removed(agent, task.framework_id), task)
        (completed if done else executors).append({"executor_info": agent_executor_info(task)})
    return {"executors": executors, "completed_executors": completed}


def agent_get_frameworks(agent: Agent) -> dict:
    return {"frameworks": [{"framework_info": f.info} for f in agent._frameworks.values()],
            "completed_frameworks": [{"framework_info": f.info} for f in agent._completed_frameworks.values()]}


def agent_get_state(agent: Agent) -> dict:
    return {"get_tasks": agent_get_tasks(agent), "get_executors": agent_get_executors(agent),
            "get_frameworks": agent_get_frameworks(agent)}


def agent_get_containers(agent: Agent, now: float) -> dict:
    """``GetContainers``: one container per live task, with its limits (no usage statistics are collected)."""
    containers = []
    for task in agent._tasks.values():
        if task.terminated or task.run is None:
            continue
        scalars = _task_resources(task)
        status: dict[str, Any] = {"container_id": {"value": task.container_id}}
        for entry in reversed(task.statuses):
            if entry.get("container_status"):
                status = dict(entry["container_status"])
                break
        containers.append({
            "framework_id": {"value": task.framework_id}, "executor_id": {"value": task.task_id},
            "executor_name": f"Command Executor (Task: {task.task_id})",
            "container_id": {"value": task.container_id}, "container_status": status,
            "resource_statistics": {"timestamp": now, "cpus_limit": scalars.scalar("cpus"),
                                    "mem_limit_bytes": int(scalars.scalar("mem") * 1024 * 1024)},
        })
    return {"containers": containers}


def _task_resources(task: Any) -> Resources:
    resources = [r for r in task.task_info.get("resources") or [] if isinstance(r, dict)]
    try:
        return Resources.from_json(resources, f"task {task.task_id} resources")
    except ValueError:  # the master validated them; one odd task must not break the endpoint
        return Resources()


def agent_view(agent: Agent) -> metrics_module.AgentView:
    """A snapshot of the agent's records for :func:`airflow_mesos.local.metrics.agent_metrics`."""
    tasks = [metrics_module.AgentTaskView(task.state, task.terminated, _task_resources(task))
             for task in agent._tasks.values()]
    return metrics_module.AgentView(
        start_time=agent._start_time, registered=agent._server is not None,
        frameworks_active=len(agent._frameworks),
        total=Resources.from_json(agent.spec.resources(), f"agent {agent.id} resources"), tasks=tasks)


def agent_flags(agent: Agent) -> dict[str, str]:
    """The agent's flags, the same ones its ``/state`` shows."""
    return dict(agent.state()["flags"])


# ------------------------------------------------------------------------------------------------
# Agent files (reusing the agent's FileServer path rules)
# ------------------------------------------------------------------------------------------------


def agent_list_files(agent: Agent, path: str) -> dict:
    """``ListFiles``: the v1 FileInfo of each entry of an attached directory (the /files/browse listing)."""
    return {"file_infos": [entry.v1_json() for entry in agent._files.list_entries(path)]}


def agent_read_file(agent: Agent, path: str, offset: int, length: int | None) -> dict:
    """``ReadFile``: ``{"size": <file size>, "data": <base64 of up to 16 pages from offset>}`` (files.cpp ``_read``)."""
    size, data = agent._files.read_bytes(path, offset, length)
    return {"size": size, "data": base64.b64encode(data).decode("ascii")}


# ------------------------------------------------------------------------------------------------
# Agent HTTP edge
# ------------------------------------------------------------------------------------------------


def agent_call(agent: Agent, call: dict) -> HttpReply:
    """Answer a parsed, validated agent operator call (takes the agent lock as needed)."""
    from airflow_mesos.local.sandbox import FilesError

    kind = call["type"]
    if kind == "UNKNOWN":
        return HttpReply.text(501)
    try:
        if kind == "LIST_FILES":
            return HttpReply.json({"type": kind, "list_files": agent_list_files(agent, call["list_files"]["path"])})
        if kind == "READ_FILE":
            payload = call["read_file"]
            result = agent_read_file(agent, payload["path"], payload["offset"], payload.get("length"))
            return HttpReply.json({"type": kind, "read_file": result})
    except FilesError as exc:
        return HttpReply.text(exc.status, exc.message)
    now = agent.clock.time()
    # Taken before the lock: the system metrics read the host.
    snapshot = agent_metrics_snapshot(agent) if kind == "GET_METRICS" else {}
    renderers: dict[str, Callable[[], dict]] = {
        "GET_HEALTH": lambda: {"healthy": True},
        "GET_FLAGS": lambda: {"flags": flag_list(agent_flags(agent))},
        "GET_VERSION": lambda: {"version_info": version_info()},
        "GET_METRICS": lambda: {"metrics": metrics_module.as_metric_list(snapshot)},
        "GET_LOGGING_LEVEL": lambda: {"level": 0},
        "GET_STATE": lambda: agent_get_state(agent),
        "GET_CONTAINERS": lambda: agent_get_containers(agent, now),
        "GET_FRAMEWORKS": lambda: agent_get_frameworks(agent),
        "GET_EXECUTORS": lambda: agent_get_executors(agent),
        "GET_OPERATIONS": lambda: {"operations": []},
        "GET_TASKS": lambda: agent_get_tasks(agent),
        "GET_AGENT": lambda: {"agent_info": {
            "hostname": agent.spec.hostname, "port": agent.port, "id": {"value": agent.id},
            "resources": list(agent.spec.resources()), "attributes": list(agent.spec.attribute_list())}},
        "GET_RESOURCE_PROVIDERS": lambda: {"resource_providers": []},
    }
    render = renderers.get(kind)
    if render is None:
        return _unsupported(kind, "agent")
    with agent._lock:
        return HttpReply.json({"type": kind, kind.lower(): render()})


def agent_metrics_snapshot(agent: Agent) -> dict[str, float]:
    """The agent's ``/metrics/snapshot``: ``slave/*`` plus ``system/*``."""
    now = agent.clock.time()
    with agent._lock:
        view = agent_view(agent)
    snapshot = metrics_module.agent_metrics(view, now)
    snapshot.update(metrics_module.system_metrics())
    return snapshot


def agent_route(agent: Agent, method: str, request_uri: str, headers: Mapping[str, str],
                body: bytes) -> HttpReply | None:
    """Serve one agent request if it is an operator route (``/api/v1``, ``/metrics/snapshot``, ``/flags``)."""
    parts = urlsplit(request_uri)
    path, query = parts.path, query_params(parts.query)
    if path.startswith("/slave(1)/"):
        path = path[len("/slave(1)"):]
    if path == "/metrics/snapshot" and not parts.path.startswith("/slave(1)/"):
        return HttpReply.json(agent_metrics_snapshot(agent), jsonp=query.get("jsonp"))
    if path == "/flags":
        return HttpReply.json({"flags": agent_flags(agent)}, jsonp=query.get("jsonp"))
    if path == "/api/v1":
        call = parse_call(method, headers, body, api="agent")
        if isinstance(call, HttpReply):
            return call
        return agent_call(agent, call)
    return None
