"""The master's read-only JSON documents (``/master/state`` and friends) in Mesos' state-JSON model.

Pure rendering of the master's records (``src/common/http.cpp`` ``model(...)``,
``src/master/readonly_handler.cpp``).  The task model has no command, no
environment and no docker parameters, so secrets handed to a task never show.
Callers hold the master lock.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from airflow_mesos.local.master import AgentRecord, FrameworkRecord, Master, TaskRecord

from airflow_mesos.local.allocator import Resources

TASK_STATES = (
    "TASK_STAGING TASK_STARTING TASK_RUNNING TASK_KILLING TASK_FINISHED TASK_KILLED TASK_FAILED TASK_LOST "
    "TASK_ERROR TASK_UNREACHABLE"
).split()


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


def task_model(task: "TaskRecord") -> dict:
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


def framework_model(master: "Master", framework: "FrameworkRecord") -> dict:
    info = framework.info
    used = Resources()
    for task in framework.tasks.values():
        if task.holds_resources:
            used = used + task.resources
    offered = Resources()
    offers = []
    for offer in master.offers.values():
        if offer.framework_id == framework.id:
            offered = offered + offer.resources
            offers.append({"id": offer.id, "framework_id": offer.framework_id, "slave_id": offer.agent_id,
                           "resources": offer.resources.to_state_model(), "allocation_info": {"role": offer.role}})
    model: dict[str, Any] = {
        "id": framework.id, "name": info.get("name", ""), "pid": None,
        "used_resources": used.to_state_model(), "offered_resources": offered.to_state_model(),
        "capabilities": sorted(framework.capabilities - {None}), "hostname": info.get("hostname", ""),
        "webui_url": info.get("webui_url", ""), "active": framework.active, "connected": framework.connected,
        "recovered": False, "user": info.get("user", ""), "failover_timeout": float(info.get("failover_timeout", 0.0)),
        "checkpoint": bool(info.get("checkpoint", False)), "registered_time": framework.registered_time,
        "unregistered_time": framework.unregistered_time or 0.0,
        "tasks": [task_model(t) for t in framework.tasks.values()],
        "unreachable_tasks": [task_model(t) for t in framework.unreachable_tasks.values()],
        "completed_tasks": [task_model(t) for t in framework.completed_tasks],
        "offers": offers, "executors": [], "completed_executors": [],
    }
    del model["pid"]  # HTTP frameworks have no libprocess pid
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


def agent_model(master: "Master", record: "AgentRecord") -> dict:
    agent = record.agent
    used = master._used(agent_id=record.id)
    offered = master._offered(agent_id=record.id)
    model: dict[str, Any] = {
        "id": record.id, "hostname": agent.spec.hostname, "port": agent.port,
        "attributes": {a["name"]: (a.get("text", {}).get("value") if a.get("type") == "TEXT" else a.get("scalar", {}).get("value"))
                       for a in agent.spec.attribute_list()},
        "pid": agent.pid, "registered_time": record.registered_time,
        "resources": record.total.to_state_model(), "used_resources": used.to_state_model(),
        "offered_resources": offered.to_state_model(), "reserved_resources": {},
        "unreserved_resources": record.total.to_state_model(), "active": record.reachable, "deactivated": False,
        "version": "1.11.0", "capabilities": ["MULTI_ROLE", "HIERARCHICAL_ROLE", "RESERVATION_REFINEMENT"],
        "reserved_resources_full": {}, "unreserved_resources_full": record.total.to_json(),
        "used_resources_full": used.to_json(), "offered_resources_full": offered.to_json(),
    }
    if record.reregistered_time is not None:
        model["reregistered_time"] = record.reregistered_time
    return model


def _flags(master: "Master") -> dict:
    return {
        "allocation_interval": f"{master.allocation_interval:g}secs" if master.allocation_interval is not None else "",
        "authenticate_http_frameworks": "true" if master._credentials else "false",
        "http_framework_authenticators": "basic",
        "hostname": master.hostname, "ip": master.host, "port": str(master.port),
        "agent_ping_timeout": f"{master.agent_ping_timeout:g}secs", "max_agent_ping_timeouts": "1",
        "offer_timeout": f"{master.offer_timeout:g}secs" if master.offer_timeout is not None else "",
        "root_submissions": "true", "zk": "" if not master._zk_url else "(set)",
        "registry": "in_memory", "quorum": "1", "work_dir": "",
    }


def master_state(master: "Master", query: dict | None = None) -> dict:
    reachable = [r for r in master.agents.values() if r.reachable]
    return {
        "version": "1.11.0", "git_sha": "", "git_tag": "1.11.0", "build_date": "", "build_time": 0.0, "build_user": "",
        "start_time": master.start_time, "elected_time": master.start_time, "id": master.id, "pid": master.pid,
        "hostname": master.hostname, "capabilities": ["AGENT_UPDATE", "AGENT_DRAINING", "QUOTA_V2"],
        "activated_slaves": float(len(reachable)), "deactivated_slaves": 0.0,
        "unreachable_slaves": float(len(master.agents) - len(reachable)),
        "leader": master.pid, "leader_info": master.master_info(), "flags": _flags(master),
        "slaves": [agent_model(master, r) for r in reachable], "recovered_slaves": [],
        "frameworks": [framework_model(master, f) for f in master.frameworks.values()],
        "completed_frameworks": [framework_model(master, f) for f in master.completed_frameworks],
        "orphan_tasks": [], "unregistered_frameworks": [],
    }


def frameworks_endpoint(master: "Master", query: dict) -> dict:
    wanted = query.get("framework_id")
    pick = (lambda f: wanted is None or f.id == wanted)
    return {"frameworks": [framework_model(master, f) for f in master.frameworks.values() if pick(f)],
            "completed_frameworks": [framework_model(master, f) for f in master.completed_frameworks if pick(f)],
            "unregistered_frameworks": []}


def slaves_endpoint(master: "Master", query: dict) -> dict:
    wanted = query.get("slave_id")
    return {"slaves": [agent_model(master, r) for r in master.agents.values()
                       if r.reachable and (wanted is None or r.id == wanted)],
            "recovered_slaves": []}


def tasks_endpoint(master: "Master", query: dict) -> dict | tuple[int, str]:
    try:
        limit = int(query.get("limit", 100))
        offset = int(query.get("offset", 0))
    except ValueError:
        return 400, "Failed to parse query parameters: limit and offset must be integers"
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        return 400, "Failed to parse query parameters: order must be 'asc' or 'desc'"
    tasks = []
    for framework in list(master.frameworks.values()) + list(master.completed_frameworks):
        if query.get("framework_id") not in (None, framework.id):
            continue
        for task in (list(framework.tasks.values()) + list(framework.unreachable_tasks.values())
                     + list(framework.completed_tasks)):
            if query.get("task_id") not in (None, task.task_id):
                continue
            tasks.append(task)
    tasks.sort(key=lambda t: (t.statuses[0]["timestamp"] if t.statuses else 0.0), reverse=(order == "desc"))
    return {"tasks": [task_model(t) for t in tasks[offset:offset + limit]]}


def state_summary(master: "Master", query: dict) -> dict:
    def counts(tasks: list) -> dict:
        return {state: sum(1 for t in tasks if t.state == state) for state in TASK_STATES}

    frameworks = list(master.frameworks.values())
    slaves = []
    for record in master.agents.values():
        if not record.reachable:
            continue
        tasks = [t for f in frameworks for t in list(f.tasks.values()) + f.completed_tasks if t.agent_id == record.id]
        model = agent_model(master, record)
        model.update(counts(tasks))
        model["framework_ids"] = sorted({t.framework_id for t in tasks})
        slaves.append(model)
    summaries = []
    for framework in frameworks:
        tasks = list(framework.tasks.values()) + framework.completed_tasks
        model = framework_model(master, framework)
        for key in ("tasks", "unreachable_tasks", "completed_tasks", "offers", "executors", "completed_executors"):
            model.pop(key, None)
        model.update(counts(tasks))
        model["slave_ids"] = sorted({t.agent_id for t in tasks})
        summaries.append(model)
    return {"hostname": master.hostname, "cluster": "", "slaves": slaves, "frameworks": summaries}


# ------------------------------------------------------------------------------------------------
# /master/flags and /master/roles
# ------------------------------------------------------------------------------------------------

DEFAULT_ROLE_WEIGHT = 1.0
"""``DEFAULT_WEIGHT`` of src/master/constants.hpp; the embedded master has no ``--weights``."""


def flags_endpoint(master: "Master", query: dict) -> dict:
    """``/master/flags``: ``{"flags": {name: string}}``, the same flags ``/master/state`` shows."""
    return {"flags": _flags(master)}


def _ancestors(role: str) -> list[str]:
    """``roles::ancestors``: ``a/b/c`` -> ``["a/b", "a"]``."""
    parts = role.split("/")
    return ["/".join(parts[:i]) for i in range(len(parts) - 1, 0, -1)]


def known_roles(master: "Master") -> list[str]:
    """``Master::knownRoles``: roles of registered frameworks and of their allocations, plus ancestors, sorted."""
    names: set[str] = set()
    for framework in master.frameworks.values():
        names.update(framework.roles)
        names.update(t.role for t in framework.tasks.values() if t.holds_resources)
    for offer in master.offers.values():
        names.add(offer.role)
    for name in list(names):
        names.update(_ancestors(name))
    return sorted(names)


def role_summary(master: "Master", role: str) -> dict:
    """One role: its frameworks and the allocated and offered quantities of it and its sub-roles.

    Mesos' ``RoleResourceBreakdown`` counts a role's descendants too (hierarchical roles).
    """
    def within(candidate: str) -> bool:
        return candidate == role or candidate.startswith(role + "/")

    allocated, offered = Resources(), Resources()
    for framework in master.frameworks.values():
        for task in framework.tasks.values():
            if task.holds_resources and within(task.role):
                allocated = allocated + task.resources
    for offer in master.offers.values():
        if within(offer.role):
            offered = offered + offer.resources
    frameworks = sorted(f.id for f in master.frameworks.values() if role in f.roles)
    return {"name": role, "weight": DEFAULT_ROLE_WEIGHT, "frameworks": frameworks,
            "allocated": _quantities(allocated), "offered": _quantities(offered),
            "resources": _quantities(allocated + offered)}


def _quantities(resources: Resources) -> dict[str, float]:
    """``ResourceQuantities`` JSON: the non-zero scalars by name."""
    return {name: milli / 1000.0 for name, milli in resources.scalars}


def roles_endpoint(master: "Master", query: dict) -> dict:
    """``/master/roles``: ``{"roles": [{name, weight, quota, resources, allocated, offered, reserved, frameworks}]}``."""
    roles = []
    for name in known_roles(master):
        summary = role_summary(master, name)
        roles.append({
            "name": name, "weight": summary["weight"],
            "quota": {"role": name, "guarantee": {}, "limit": {}, "consumed": summary["allocated"]},
            "resources": summary["resources"], "allocated": summary["allocated"], "offered": summary["offered"],
            "reserved": {}, "frameworks": summary["frameworks"],
        })
    return {"roles": roles}
