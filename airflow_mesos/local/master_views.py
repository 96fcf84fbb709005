"""What the embedded master shows: its state JSON, v1 operator responses, metrics and operator events.

Pure functions of a :class:`~airflow_mesos.local.records.MasterView` (no locks, no I/O, no clock: ``now``
is passed in).  Three families, in the shapes real Mesos serves:

- the state-JSON model of ``/master/state``, ``/frameworks``, ``/slaves``, ``/tasks``, ``/state-summary``,
  ``/flags`` and ``/roles`` (``src/common/http.cpp`` ``model(...)``, ``src/master/readonly_handler.cpp``);
- v1 protobuf JSON for the operator API (``agent_id``, ``{"value": …}`` ids, v1 ``Resource`` lists;
  ``src/master/http.cpp``, ``protobuf::master::event::*``);
- ``/metrics/snapshot`` (``src/master/metrics.cpp``, the ``Master::_tasks_*`` / ``_resources_*`` gauges);
- operator stream events (``TASK_ADDED`` ...), one per operator effect of :mod:`.master_core`.

Secrets never show: tasks are rendered from a fixed list of fields without command, environment, docker
parameters (:func:`.views_common.public_container`) or TaskStatus ``data``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from airflow_mesos.local import master_core
from airflow_mesos.local.allocator import Resources
from airflow_mesos.local.constants import (
    AGENT_CAPABILITIES,
    LIVE_STATES,
    MASTER_CAPABILITIES,
    MESOS_VERSION,
    SCALAR_RESOURCES,
    version_info,
)
from airflow_mesos.local.records import (
    AgentRecord,
    ExecutorRecord,
    FrameworkRecord,
    MasterRecords,
    MasterView,
    TaskRecord,
    resources_by_role,
    total,
)
from airflow_mesos.local.views_common import (
    flag_list,
    metric_list,
    metric_suffix,
    public_executor_info,
    put,
    resource_gauges,
    time_info,
    v1_status,
)

STATE_SUMMARY_STATES = (
    "TASK_STAGING TASK_STARTING TASK_RUNNING TASK_KILLING TASK_FINISHED TASK_KILLED TASK_FAILED TASK_LOST "
    "TASK_ERROR TASK_UNREACHABLE"
).split()
"""The per-state task counts ``/master/state-summary`` gives each agent and framework."""

DEFAULT_ROLE_WEIGHT = 1.0
"""``DEFAULT_WEIGHT`` of src/master/constants.hpp; the embedded master has no ``--weights``."""

MASTER_TERMINAL_COUNTERS = ("TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR",
                            "TASK_DROPPED", "TASK_GONE", "TASK_GONE_BY_OPERATOR")


def _holders(records: MasterRecords, *, agent_id: str | None = None, framework_id: str | None = None) -> list:
    """What holds allocated resources: tasks, and custom executors (their resources are allocated apart)."""
    return (list(records.tasks(agent_id=agent_id, framework_id=framework_id))
            + list(records.executors(agent_id=agent_id, framework_id=framework_id)))


def _used(records: MasterRecords, *, agent_id: str | None = None, framework_id: str | None = None) -> Resources:
    return total(resources_by_role(_holders(records, agent_id=agent_id, framework_id=framework_id)))


def _offered(records: MasterRecords, *, agent_id: str | None = None, framework_id: str | None = None) -> Resources:
    return total(resources_by_role(records.offers_of(agent_id=agent_id, framework_id=framework_id)))


def _v1_by_role(by_role: dict[str, Resources]) -> list[dict]:
    """A :func:`resources_by_role` breakdown as v1 Resources carrying ``allocation_info``."""
    out: list[dict] = []
    for role in sorted(by_role):
        out.extend(by_role[role].to_json(role))
    return out


# ------------------------------------------------------------------------------------------------
# State JSON (/master/state and friends)
# ------------------------------------------------------------------------------------------------


def task_model(task: TaskRecord) -> dict:
    """``model(const Task&)``: the state-JSON task."""
    statuses = []
    for status in task.statuses:
        item: dict[str, Any] = {"state": status.get("state"), "timestamp": status.get("timestamp")}
        for key in ("labels", "container_status", "healthy"):
            if key in status:
                item[key] = status[key]
        statuses.append(item)
    model: dict[str, Any] = {
        "id": task.task_id, "name": task.name, "framework_id": task.framework_id,
        "executor_id": task.executor_id, "slave_id": task.agent_id, "state": task.state,
        "resources": task.resources.to_state_model(), "role": task.role, "statuses": statuses,
    }
    if task.user:
        model["user"] = task.user
    if task.labels:
        model["labels"] = (task.labels or {}).get("labels", [])
    if task.discovery:
        model["discovery"] = task.discovery
    if task.container:
        model["container"] = task.container
    if task.unreachable_time is not None:
        model["unreachable_time"] = task.unreachable_time
    return model


def framework_model(view: MasterView, framework: FrameworkRecord) -> dict:
    """``model(const Framework&)`` of the state JSON."""
    records = view.records
    info = framework.info
    offers = [{"id": offer.id, "framework_id": offer.framework_id, "slave_id": offer.agent_id,
               "resources": offer.resources.to_state_model(), "allocation_info": {"role": offer.role}}
              for offer in records.offers_of(framework_id=framework.id)]
    model: dict[str, Any] = {
        "id": framework.id, "name": info.get("name", ""),
        "used_resources": total(resources_by_role(list(framework.tasks.values())
                                                  + list(framework.executors.values()))).to_state_model(),
        "offered_resources": _offered(records, framework_id=framework.id).to_state_model(),
        "capabilities": sorted(framework.capabilities - {None}), "hostname": info.get("hostname", ""),
        "webui_url": info.get("webui_url", ""), "active": framework.active, "connected": framework.connected,
        "recovered": False, "user": info.get("user", ""), "failover_timeout": float(info.get("failover_timeout", 0.0)),
        "checkpoint": bool(info.get("checkpoint", False)), "registered_time": framework.registered_time,
        "unregistered_time": framework.unregistered_time or 0.0,
        "tasks": [task_model(t) for t in framework.tasks.values()],
        "unreachable_tasks": [task_model(t) for t in framework.unreachable_tasks.values()],
        "completed_tasks": [task_model(t) for t in framework.completed_tasks],
        "offers": offers, "completed_executors": [],
        # model(Framework): each executor's json(ExecutorInfo) with its slave_id (src/master/http.cpp).
        "executors": [executor_model(e) for e in framework.executors.values()],
    }
    if "principal" in info:
        model["principal"] = info["principal"]
    if framework.reregistered_time is not None:
        model["reregistered_time"] = framework.reregistered_time
    if "MULTI_ROLE" in framework.capabilities:
        model["roles"] = list(framework.roles)
    else:
        model["role"] = framework.roles[0] if framework.roles else "*"
    if info.get("labels"):
        model["labels"] = info["labels"].get("labels", [])
    return model


def _attribute_model(attributes: list[dict]) -> dict:
    return {a["name"]: (a.get("text", {}).get("value") if a.get("type") == "TEXT" else a.get("scalar", {}).get("value"))
            for a in attributes}


def agent_model(view: MasterView, agent: AgentRecord) -> dict:
    """``model(const Slave&)`` of the state JSON."""
    used = _used(view.records, agent_id=agent.id)
    offered = _offered(view.records, agent_id=agent.id)
    model: dict[str, Any] = {
        "id": agent.id, "hostname": agent.hostname, "port": agent.port,
        "attributes": _attribute_model(agent.attributes),
        "pid": agent.pid, "registered_time": agent.registered_time,
        "resources": agent.total.to_state_model(), "used_resources": used.to_state_model(),
        "offered_resources": offered.to_state_model(), "reserved_resources": {},
        "unreserved_resources": agent.total.to_state_model(), "active": agent.active, "deactivated": agent.deactivated,
        "version": MESOS_VERSION, "capabilities": list(AGENT_CAPABILITIES),
        "reserved_resources_full": {}, "unreserved_resources_full": agent.total.to_json(),
        "used_resources_full": used.to_json(), "offered_resources_full": offered.to_json(),
    }
    if agent.reregistered_time is not None:
        model["reregistered_time"] = agent.reregistered_time
    return model


def master_state(view: MasterView, query: dict | None = None) -> dict:
    """``/master/state``."""
    records = view.records
    reachable = records.reachable_agents()
    return {
        "version": MESOS_VERSION, "git_sha": "", "git_tag": MESOS_VERSION, "build_date": "", "build_time": 0.0,
        "build_user": "", "start_time": view.start_time, "elected_time": view.start_time, "id": view.id,
        "pid": view.pid, "hostname": view.hostname, "capabilities": list(MASTER_CAPABILITIES),
        "activated_slaves": float(sum(1 for a in reachable if a.active)),
        "deactivated_slaves": float(sum(1 for a in reachable if not a.active)),
        "unreachable_slaves": float(len(records.agents) - len(reachable)),
        "leader": view.pid, "leader_info": view.master_info, "flags": dict(view.flags),
        "slaves": [agent_model(view, a) for a in reachable], "recovered_slaves": [],
        "frameworks": [framework_model(view, f) for f in records.frameworks.values()],
        "completed_frameworks": [framework_model(view, f) for f in records.completed_frameworks],
        "orphan_tasks": [], "unregistered_frameworks": [],
    }


def frameworks_endpoint(view: MasterView, query: dict) -> dict:
    """``/master/frameworks`` (``?framework_id=`` picks one)."""
    wanted = query.get("framework_id")

    def pick(framework: FrameworkRecord) -> bool:
        return wanted is None or framework.id == wanted

    records = view.records
    return {"frameworks": [framework_model(view, f) for f in records.frameworks.values() if pick(f)],
            "completed_frameworks": [framework_model(view, f) for f in records.completed_frameworks if pick(f)],
            "unregistered_frameworks": []}


def slaves_endpoint(view: MasterView, query: dict) -> dict:
    """``/master/slaves`` (``?slave_id=`` picks one)."""
    wanted = query.get("slave_id")
    return {"slaves": [agent_model(view, a) for a in view.records.reachable_agents()
                       if wanted is None or a.id == wanted],
            "recovered_slaves": []}


TASK_LIMIT = 100
"""``TASK_LIMIT`` of src/master/constants.hpp: ``/master/tasks`` without a (valid) ``limit``."""

_DECIMAL = re.compile(r"[+-]?[0-9]+\Z")
_HEXADECIMAL = re.compile(r"(-?)0[xX]([0-9a-fA-F]+)\Z")
_SIZE_T = 1 << 64


def numify_int(text: str | None) -> int | None:
    """stout's ``numify<int>``: a decimal ``int`` (``boost::lexical_cast``: optional sign, digits, nothing else,
    in range), or a hexadecimal one with ``0x`` / ``-0x``; None for anything else (and for no text)."""
    if text is None:
        return None
    if _DECIMAL.match(text):
        value = int(text)
    else:
        match = _HEXADECIMAL.match(text)
        if match is None:
            return None
        value = int(match.group(2), 16)
        if value >= 1 << 31:  # the stream's extraction of the magnitude overflows
            return None
        value = -value if match.group(1) else value
    return value if -(1 << 31) <= value < 1 << 31 else None


def tasks_endpoint(view: MasterView, query: dict) -> dict:
    """``/master/tasks`` (``Master::ReadOnlyHandler::tasks``, src/master/readonly_handler.cpp 1.11.0).

    ``limit`` and ``offset`` are read with ``numify<int>`` and default to 100 and 0 when absent or not a
    number (never a 400), then used as ``size_t``: a negative limit wraps to 2^64 + limit, i.e. no limit, and
    the end of the page is ``min(offset + limit, size)`` in ``size_t`` arithmetic (so ``offset=5&limit=-1`` ends
    at 4: no tasks).  ``order=asc`` sorts by the first status's timestamp ascending, anything else descending;
    tasks without statuses come first ascending, last descending.  Tasks of registered then completed
    frameworks: live, unreachable, completed; ``framework_id`` and ``task_id`` select.
    """
    limit = numify_int(query.get("limit"))
    offset = numify_int(query.get("offset"))
    limit = TASK_LIMIT if limit is None else limit % _SIZE_T
    offset = 0 if offset is None else offset % _SIZE_T
    tasks = []
    for framework in view.records.all_frameworks():
        if query.get("framework_id") not in (None, framework.id):
            continue
        for task in framework.remembered_tasks():
            if query.get("task_id") not in (None, task.task_id):
                continue
            tasks.append(task)
    with_statuses = [t for t in tasks if t.statuses]
    without = [t for t in tasks if not t.statuses]
    if query.get("order") == "asc":
        tasks = without + sorted(with_statuses, key=lambda t: t.statuses[0].get("timestamp", 0.0))
    else:
        tasks = sorted(with_statuses, key=lambda t: t.statuses[0].get("timestamp", 0.0), reverse=True) + without
    end = min((offset + limit) % _SIZE_T, len(tasks))
    return {"tasks": [task_model(t) for t in tasks[offset:end]] if offset < end else []}


def state_summary(view: MasterView, query: dict) -> dict:
    """``/master/state-summary``: agents and frameworks with per-state task counts, no task lists."""
    def counts(tasks: list) -> dict:
        return {state: sum(1 for t in tasks if t.state == state) for state in STATE_SUMMARY_STATES}

    records = view.records
    frameworks = list(records.frameworks.values())
    slaves = []
    for agent in records.reachable_agents():
        tasks = [t for f in frameworks for t in list(f.tasks.values()) + f.completed_tasks if t.agent_id == agent.id]
        model = agent_model(view, agent)
        model.update(counts(tasks))
        model["framework_ids"] = sorted({t.framework_id for t in tasks})
        slaves.append(model)
    summaries = []
    for framework in frameworks:
        tasks = list(framework.tasks.values()) + framework.completed_tasks
        model = framework_model(view, framework)
        for key in ("tasks", "unreachable_tasks", "completed_tasks", "offers", "executors", "completed_executors"):
            model.pop(key, None)
        model.update(counts(tasks))
        model["slave_ids"] = sorted({t.agent_id for t in tasks})
        summaries.append(model)
    return {"hostname": view.hostname, "cluster": "", "slaves": slaves, "frameworks": summaries}


def flags_endpoint(view: MasterView, query: dict) -> dict:
    """``/master/flags``: ``{"flags": {name: string}}``, the same flags ``/master/state`` shows."""
    return {"flags": dict(view.flags)}


def _ancestors(role: str) -> list[str]:
    """``roles::ancestors``: ``a/b/c`` -> ``["a/b", "a"]``."""
    parts = role.split("/")
    return ["/".join(parts[:i]) for i in range(len(parts) - 1, 0, -1)]


def known_roles(records: MasterRecords) -> list[str]:
    """``Master::knownRoles``: roles of registered frameworks and of their allocations, plus ancestors, sorted."""
    names: set[str] = set()
    for framework in records.frameworks.values():
        names.update(framework.roles)
    names.update(resources_by_role(_holders(records)))
    names.update(offer.role for offer in records.offers.values())
    for name in list(names):
        names.update(_ancestors(name))
    return sorted(names)


def role_summary(records: MasterRecords, role: str) -> dict:
    """One role: its frameworks and the allocated and offered quantities of it and its sub-roles.

    Mesos' ``RoleResourceBreakdown`` counts a role's descendants too (hierarchical roles).
    """
    def within(by_role: dict[str, Resources]) -> Resources:
        return total({r: res for r, res in by_role.items() if r == role or r.startswith(role + "/")})

    allocated = within(resources_by_role(_holders(records)))
    offered = within(resources_by_role(records.offers.values()))
    frameworks = sorted(f.id for f in records.frameworks.values() if role in f.roles)
    return {"name": role, "weight": DEFAULT_ROLE_WEIGHT, "frameworks": frameworks,
            "allocated": _quantities(allocated), "offered": _quantities(offered),
            "resources": _quantities(allocated + offered)}


def _quantities(resources: Resources) -> dict[str, float]:
    """``ResourceQuantities`` JSON: the non-zero scalars by name."""
    return {name: milli / 1000.0 for name, milli in resources.scalars}


def roles_endpoint(view: MasterView, query: dict) -> dict:
    """``/master/roles``: ``{"roles": [{name, weight, quota, resources, allocated, offered, reserved, frameworks}]}``."""
    roles = []
    for name in known_roles(view.records):
        summary = role_summary(view.records, name)
        roles.append({
            "name": name, "weight": summary["weight"],
            "quota": {"role": name, "guarantee": {}, "limit": {}, "consumed": summary["allocated"]},
            "resources": summary["resources"], "allocated": summary["allocated"], "offered": summary["offered"],
            "reserved": {}, "frameworks": summary["frameworks"],
        })
    return {"roles": roles}


READONLY_ENDPOINTS: dict[str, Callable[[MasterView, dict], Any]] = {
    "state": master_state,
    "frameworks": frameworks_endpoint,
    "slaves": slaves_endpoint,
    "tasks": tasks_endpoint,
    "state-summary": state_summary,
    "flags": flags_endpoint,
    "roles": roles_endpoint,
}
"""The master's read-only JSON endpoints by libprocess endpoint name."""


# ------------------------------------------------------------------------------------------------
# v1 operator API responses
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
    put(model, "labels", task.labels)
    put(model, "discovery", task.discovery)
    put(model, "container", task.container)
    put(model, "user", task.user)
    return model


def master_agent(view: MasterView, agent: AgentRecord) -> dict:
    """``GetAgents.Agent`` (protobuf::master::event::createAgentResponse)."""
    records = view.records
    model: dict[str, Any] = {
        "agent_info": {"hostname": agent.hostname, "port": agent.port, "resources": list(agent.resources),
                       "attributes": list(agent.attributes), "id": {"value": agent.id}},
        "active": agent.active, "deactivated": agent.deactivated, "version": MESOS_VERSION, "pid": agent.pid,
        "registered_time": time_info(agent.registered_time),
        "total_resources": agent.total.to_json(),
        "allocated_resources": _v1_by_role(resources_by_role(_holders(records, agent_id=agent.id))),
        "offered_resources": _v1_by_role(resources_by_role(records.offers_of(agent_id=agent.id))),
        "capabilities": [{"type": c} for c in AGENT_CAPABILITIES],
        "resource_providers": [],
    }
    put(model, "reregistered_time", time_info(agent.reregistered_time))
    return model


def master_get_agents(view: MasterView) -> dict:
    return {"agents": [master_agent(view, a) for a in view.records.reachable_agents()], "recovered_agents": []}


def master_framework(view: MasterView, framework: FrameworkRecord) -> dict:
    """``GetFrameworks.Framework`` (``model(const Framework&)`` in src/master/http.cpp)."""
    offers = list(view.records.offers_of(framework_id=framework.id))
    model: dict[str, Any] = {
        "framework_info": framework.info, "active": framework.active, "connected": framework.connected,
        "recovered": False, "offers": [o.json for o in offers], "inverse_offers": [],
        "allocated_resources": _v1_by_role(resources_by_role(list(framework.tasks.values())
                                                             + list(framework.executors.values()))),
        "offered_resources": _v1_by_role(resources_by_role(offers)),
    }
    put(model, "registered_time", time_info(framework.registered_time))
    put(model, "reregistered_time", time_info(framework.reregistered_time))
    put(model, "unregistered_time", time_info(framework.unregistered_time))
    return model


def master_get_frameworks(view: MasterView) -> dict:
    records = view.records
    return {"frameworks": [master_framework(view, f) for f in records.frameworks.values()],
            "completed_frameworks": [master_framework(view, f) for f in records.completed_frameworks]}


def master_get_tasks(view: MasterView) -> dict:
    """``GetTasks``: tasks, unreachable_tasks and completed_tasks of current then completed frameworks."""
    frameworks = view.records.all_frameworks()
    return {
        "tasks": [master_task(t) for f in frameworks for t in f.tasks.values()],
        "unreachable_tasks": [master_task(t) for f in frameworks for t in f.unreachable_tasks.values()],
        "completed_tasks": [master_task(t) for f in frameworks for t in f.completed_tasks],
    }


def master_get_executors(view: MasterView) -> dict:
    """``GetExecutors``: the custom executors the master knows (command and docker executors are the agents'
    own and never reach it), each with its agent; ExecutorInfos shown without secrets-bearing fields."""
    executors = [{"executor_info": public_executor_info(e.info), "agent_id": {"value": e.agent_id}}
                 for e in view.records.executors()]
    return {"executors": executors}


def executor_model(executor: ExecutorRecord) -> dict:
    """``json(ExecutorInfo)`` plus ``slave_id``, as a framework's ``executors`` in the state JSON."""
    info = public_executor_info(executor.info)
    model: dict[str, Any] = {"executor_id": executor.executor_id, "name": info.get("name", ""),
                             "framework_id": executor.framework_id, "command": info.get("command", {}),
                             "resources": executor.resources.to_state_model(), "role": executor.role,
                             "slave_id": executor.agent_id}
    for key in ("labels", "type", "container"):
        if key in info:
            model[key] = info[key]
    return model


def master_get_state(view: MasterView) -> dict:
    return {"get_tasks": master_get_tasks(view), "get_executors": master_get_executors(view),
            "get_frameworks": master_get_frameworks(view), "get_agents": master_get_agents(view)}


def master_get_roles(view: MasterView) -> dict:
    """``GetRoles``: name, weight, frameworks and the allocated + offered cpus/mem/disk/gpus of each known role."""
    roles = []
    for name in known_roles(view.records):
        summary = role_summary(view.records, name)
        roles.append({
            "name": name, "weight": summary["weight"],
            "frameworks": [{"value": fid} for fid in summary["frameworks"]],
            "resources": [{"name": r, "type": "SCALAR", "scalar": {"value": v}}
                          for r, v in sorted(summary["resources"].items()) if r in SCALAR_RESOURCES],
        })
    return {"roles": roles}


def master_get_master(view: MasterView) -> dict:
    return {"master_info": view.master_info, "start_time": view.start_time, "elected_time": view.start_time}


def master_call_response(view: MasterView, call_type: str, metrics: dict[str, float]) -> dict | None:
    """The payload of a read-only master call's response (``{"type": T, t: <this>}``); None when the embedded
    master does not serve ``call_type``.

    :param metrics: the ``/metrics/snapshot`` for GET_METRICS (the edge takes it, with the host's numbers).
    """
    responses: dict[str, Callable[[], dict]] = {
        "GET_HEALTH": lambda: {"healthy": True},
        "GET_FLAGS": lambda: {"flags": flag_list(dict(view.flags))},
        "GET_VERSION": lambda: {"version_info": version_info()},
        "GET_METRICS": lambda: {"metrics": metric_list(metrics)},
        "GET_LOGGING_LEVEL": lambda: {"level": 0},
        "GET_STATE": lambda: master_get_state(view),
        "GET_AGENTS": lambda: master_get_agents(view),
        "GET_FRAMEWORKS": lambda: master_get_frameworks(view),
        "GET_EXECUTORS": lambda: master_get_executors(view),
        "GET_OPERATIONS": lambda: {"operations": []},
        "GET_TASKS": lambda: master_get_tasks(view),
        "GET_ROLES": lambda: master_get_roles(view),
        "GET_WEIGHTS": lambda: {"weight_infos": []},
        "GET_MASTER": lambda: master_get_master(view),
        "GET_MAINTENANCE_STATUS": lambda: {"status": {}},
        "GET_MAINTENANCE_SCHEDULE": lambda: {"schedule": {}},
    }
    render = responses.get(call_type)
    return None if render is None else render()


# ------------------------------------------------------------------------------------------------
# /metrics/snapshot
# ------------------------------------------------------------------------------------------------


def master_metrics(view: MasterView, now: float) -> dict[str, float]:
    """The master's ``/metrics/snapshot`` entries (``master/*``) for wall-clock time ``now``.

    Agents marked unreachable are not registered agents: they count only in ``master/slaves_unreachable``
    and their resources leave the totals, as in Mesos.  The terminal task counters are counted from the
    tasks the master still remembers (a real master keeps counters since its election).
    """
    records = view.records
    reachable = records.reachable_agents()
    frameworks = list(records.frameworks.values())
    out: dict[str, float] = {
        "master/elected": 1.0 if view.elected else 0.0,
        "master/uptime_secs": max(0.0, now - view.start_time),
        "master/slaves_active": float(sum(1 for a in reachable if a.active)),
        "master/slaves_inactive": float(sum(1 for a in reachable if not a.active)),
        "master/slaves_connected": float(len(reachable)),
        "master/slaves_disconnected": 0.0,
        "master/slaves_unreachable": float(len(records.agents) - len(reachable)),
        "master/frameworks_active": float(sum(1 for f in frameworks if f.active)),
        "master/frameworks_inactive": float(sum(1 for f in frameworks if not f.active)),
        "master/frameworks_connected": float(sum(1 for f in frameworks if f.connected)),
        "master/frameworks_disconnected": float(sum(1 for f in frameworks if not f.connected)),
        "master/outstanding_offers": float(len(records.offers)),
        "master/operator_event_stream_subscribers": float(view.operator_subscribers),
    }
    reachable_ids = {a.id for a in reachable}
    on_reachable = [t for t in records.tasks() if t.agent_id in reachable_ids]
    for state in LIVE_STATES:
        out[f"master/tasks_{metric_suffix(state)}"] = float(sum(1 for t in on_reachable if t.state == state))
    out["master/tasks_unreachable"] = float(sum(
        1 for f in frameworks for t in f.unreachable_tasks.values() if t.state == "TASK_UNREACHABLE"))
    terminal = {state: 0 for state in MASTER_TERMINAL_COUNTERS}
    for framework in records.all_frameworks():
        for task in framework.remembered_tasks():
            if task.state in terminal:
                terminal[task.state] += 1
    for state, count in terminal.items():
        out[f"master/tasks_{metric_suffix(state)}"] = float(count)
    capacity = Resources()
    for agent in reachable:
        capacity = capacity + agent.total
    on_reachable_executors = [e for e in records.executors() if e.agent_id in reachable_ids]
    out.update(resource_gauges("master", capacity, total(resources_by_role(on_reachable + on_reachable_executors))))
    return out


# ------------------------------------------------------------------------------------------------
# Operator event stream: SUBSCRIBED{get_state}, then TASK_ADDED/UPDATED, AGENT_ADDED/REMOVED,
# FRAMEWORK_ADDED/UPDATED/REMOVED, one per operator effect of the core
# ------------------------------------------------------------------------------------------------


def subscribed_event(view: MasterView) -> dict:
    """The first event of an operator stream."""
    return {"type": "SUBSCRIBED", "subscribed": {"get_state": master_get_state(view),
                                                 "heartbeat_interval_seconds": view.heartbeat_interval}}


def operator_event(view: MasterView, effect: Any) -> dict | None:
    """The v1 master Event an operator stream gets for one of the core's :data:`.master_core.OperatorEffect` s,
    rendered from the records as they are when the effect runs; None when there is nothing to tell (the record
    is gone already)."""
    records = view.records
    if isinstance(effect, master_core.TaskAdded):
        framework = records.frameworks.get(effect.framework_id)
        task = framework.tasks.get(effect.task_id) if framework is not None else None
        if task is None:
            return None
        # As Mesos adds it at launch: STAGING with no statuses; each status follows as TASK_UPDATED.
        added = {k: v for k, v in master_task(task).items() if not k.startswith("status_update_")}
        added.update(state="TASK_STAGING", statuses=[])
        return {"type": "TASK_ADDED", "task_added": {"task": added}}
    if isinstance(effect, master_core.TaskUpdated):
        return {"type": "TASK_UPDATED", "task_updated": {
            "framework_id": {"value": effect.framework_id}, "status": v1_status(effect.status), "state": effect.state}}
    if isinstance(effect, (master_core.FrameworkAdded, master_core.FrameworkUpdated)):
        framework = records.frameworks.get(effect.framework_id)
        if framework is None:
            return None
        kind = "framework_added" if isinstance(effect, master_core.FrameworkAdded) else "framework_updated"
        return {"type": kind.upper(), kind: {"framework": master_framework(view, framework)}}
    if isinstance(effect, master_core.FrameworkRemoved):
        gone = next((f for f in reversed(records.completed_frameworks) if f.id == effect.framework_id), None)
        info = gone.info if gone is not None else {"id": {"value": effect.framework_id}}
        return {"type": "FRAMEWORK_REMOVED", "framework_removed": {"framework_info": info}}
    if isinstance(effect, master_core.AgentAdded):
        agent = records.agents.get(effect.agent_id)
        return None if agent is None else {"type": "AGENT_ADDED", "agent_added": {"agent": master_agent(view, agent)}}
    if isinstance(effect, master_core.AgentRemoved):
        return {"type": "AGENT_REMOVED", "agent_removed": {"agent_id": {"value": effect.agent_id}}}
    raise TypeError(f"not an operator effect: {effect!r}")
