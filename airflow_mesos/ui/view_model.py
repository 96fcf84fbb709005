"""The Mesos page's view model: pure functions, no I/O, no clock.

Inputs are what :mod:`airflow_mesos.ui.sources` read: the leading master's ``/master/state`` JSON (or why
it could not be read) and rows of Airflow's metadata database (the framework ids the executor keeps, the
task instances still QUEUED, the ``mesos waiting`` events the executor writes to Airflow's ``log`` table, and
the task instances whose ``external_executor_id`` is a Mesos task of ours).  The output of :func:`build_view`
is plain JSON (dicts, lists, strings, numbers), which the API returns as is and the page renders.

Facts relied on:

- Mesos' state JSON (``src/common/http.cpp`` ``model(...)``): agents under ``slaves`` with flat resource maps
  ``resources`` / ``used_resources`` / ``offered_resources`` (``{"cpus": 4.0, "mem": 8192.0, "ports":
  "[31000-32000]"}``) and ``attributes`` (``{"rack": "r1"}``); frameworks under ``frameworks`` (registered,
  ``connected`` and ``active``) and ``completed_frameworks`` (torn down), each with ``tasks``,
  ``unreachable_tasks`` and ``completed_tasks``; a task's ``labels`` are ``[{"key", "value"}]``; ``leader_info``
  is the leading master's MasterInfo.
- The MesosExecutor names each Mesos task by the task instance's ``external_executor_id`` and labels it with
  ``airflow.dag_id``, ``airflow.task_id``, ``airflow.run_id``, ``airflow.try_number``, ``airflow.map_index``
  (callbacks carry ``airflow.callback_id`` instead).
- It writes a ``mesos waiting`` event (``extra`` = the reason) each time the reason a queued task waits
  changes; so the newest one of the task instance's current try is the current reason.
"""

from __future__ import annotations

import datetime
import urllib.parse
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "ACTIVE_TASK_STATES",
    "RESOURCE_NAMES",
    "FrameworkRecord",
    "KnownTaskInstance",
    "MasterSnapshot",
    "QueuedTaskInstance",
    "WaitEvent",
    "agent_views",
    "build_view",
    "current_wait_reasons",
    "framework_views",
    "master_view",
    "mesos_executor_names",
    "mesos_tasks",
    "resources_of",
    "shown_tasks",
    "task_instance_path",
    "task_views",
    "waiting_views",
]

RESOURCE_NAMES = ("cpus", "mem", "disk", "gpus")
"""The scalar resources shown per agent (mem and disk in MiB, as Mesos counts them)."""

ACTIVE_TASK_STATES = (
    "TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_KILLING", "TASK_UNREACHABLE",
)
"""Mesos task states of tasks that are not over, in the order the page lists them."""

RECENT_TASKS = 20
"""Finished Mesos tasks of ours shown at most (the newest), beside every active one."""

LABEL_PREFIX = "airflow."
WAIT_EVENT = "mesos waiting"
"""``event`` of the rows the MesosExecutor writes to Airflow's ``log`` table for a waiting task."""


# ------------------------------------------------------------------------------------------------ inputs


@dataclass(frozen=True)
class MasterSnapshot:
    """What asking the masters gave: the leader's ``/master/state`` JSON, or why there is none."""

    configured: str
    """The ``[mesos] master`` option as shown (ZooKeeper credentials masked)."""
    url: str | None = None
    """The master that answered (the leader)."""
    state: Mapping[str, Any] | None = None
    error: str | None = None


@dataclass(frozen=True)
class FrameworkRecord:
    """A row of ``airflow_mesos_framework``: the framework id the executor subscribed with."""

    name: str
    """The framework name, ``name@team`` for a team's executor."""
    framework_id: str
    master: str | None = None
    updated_at: datetime.datetime | None = None


@dataclass(frozen=True)
class QueuedTaskInstance:
    """A task instance in state QUEUED (Airflow handed it to an executor; it has not started)."""

    dag_id: str
    task_id: str
    run_id: str
    map_index: int
    try_number: int
    queued_at: datetime.datetime | None = None
    external_executor_id: str | None = None
    """The Mesos task id the executor will use (pre-assigned by Airflow)."""
    executor: str | None = None
    """The task's ``executor`` (None: the default executor)."""
    pool: str | None = None
    priority_weight: int | None = None

    @property
    def key(self) -> tuple[str, str, str, int]:
        return (self.dag_id, self.task_id, self.run_id, self.map_index)


@dataclass(frozen=True)
class WaitEvent:
    """A ``mesos waiting`` row of Airflow's ``log`` table."""

    id: int
    dag_id: str | None
    task_id: str | None
    run_id: str | None
    map_index: int | None
    try_number: int | None
    reason: str | None
    at: datetime.datetime | None = None

    @property
    def key(self) -> tuple[str | None, str | None, str | None, int | None]:
        return (self.dag_id, self.task_id, self.run_id, self.map_index)


@dataclass(frozen=True)
class KnownTaskInstance:
    """A task instance whose ``external_executor_id`` is the id of a Mesos task of ours."""

    external_executor_id: str
    dag_id: str
    task_id: str
    run_id: str
    map_index: int
    try_number: int
    state: str | None


# ------------------------------------------------------------------------------------------------ helpers


def _iso(value: datetime.datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.replace(tzinfo=datetime.timezone.utc)  # Airflow stores UTC
    return value.isoformat()


def _epoch_iso(seconds: Any) -> str | None:
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
        return None
    return datetime.datetime.fromtimestamp(float(seconds), tz=datetime.timezone.utc).isoformat()


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0.0
    return float(value)


def _round(value: float) -> float:
    # Mesos keeps three decimals of a scalar (fixed point); sums of floats would show 0.30000000000000004.
    return round(value, 3)


def _mappings(items: Any) -> list[Mapping[str, Any]]:
    return [item for item in items or [] if isinstance(item, Mapping)] if isinstance(items, list) else []


def resources_of(model: Any) -> dict[str, float]:
    """The scalars of :data:`RESOURCE_NAMES` in a flat state-JSON resource map; missing ones are 0."""
    model = model if isinstance(model, Mapping) else {}
    return {name: _round(_number(model.get(name))) for name in RESOURCE_NAMES}


def _attribute_text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def task_instance_path(ui_base: str, dag_id: str, run_id: str, task_id: str, map_index: int = -1) -> str:
    """The Airflow UI's page of one task instance: ``<base>/dags/<dag>/runs/<run>/tasks/<task>[/mapped/<i>]``.

    Each part is percent-encoded (run ids carry ``:`` and ``+``; DAG and task ids may carry ``.``).
    """
    def part(text: str) -> str:
        return urllib.parse.quote(str(text), safe="")

    path = f"{ui_base.rstrip('/')}/dags/{part(dag_id)}/runs/{part(run_id)}/tasks/{part(task_id)}"
    if map_index is not None and map_index >= 0:
        path += f"/mapped/{int(map_index)}"
    return path


def mesos_executor_names(core_executor: str | None) -> tuple[frozenset[str], bool]:
    """Which ``TaskInstance.executor`` values mean the MesosExecutor, from ``[core] executor``.

    ``[core] executor`` is a comma list of ``alias:module.Class``, ``module.Class`` or core names; the first is
    the default, which task instances with no ``executor`` of their own (None) use.

    :return: the names (aliases, class paths, class names) and whether the default is a MesosExecutor.
    """
    names: set[str] = set()
    default_is_mesos = False
    for position, entry in enumerate(e.strip() for e in (core_executor or "").split(",")):
        if not entry:
            continue
        alias, _, path = entry.rpartition(":") if ":" in entry else ("", "", entry)
        if not path.split(".")[-1].endswith("MesosExecutor"):
            continue
        names.update(n for n in (alias, path, path.split(".")[-1]) if n)
        default_is_mesos = default_is_mesos or position == 0
    return frozenset(names), default_is_mesos


# ------------------------------------------------------------------------------------------------ master


def master_view(snapshot: MasterSnapshot) -> dict[str, Any]:
    """The master part: reachable or not, which master leads, its version and agent counts."""
    state = snapshot.state if isinstance(snapshot.state, Mapping) else None
    view: dict[str, Any] = {
        "configured": snapshot.configured, "reachable": state is not None, "url": snapshot.url,
        "error": snapshot.error if state is None else None, "leader": None, "version": None,
        "elected_at": None, "activated_agents": None, "unreachable_agents": None,
    }
    if state is None:
        if view["error"] is None:
            view["error"] = "The Mesos master gave no state"
        return view
    info = state.get("leader_info") if isinstance(state.get("leader_info"), Mapping) else {}
    hostname, port = info.get("hostname"), info.get("port")
    if isinstance(hostname, str) and hostname and isinstance(port, int) and not isinstance(port, bool):
        view["leader"] = f"{hostname}:{port}"
    elif isinstance(state.get("leader"), str):
        view["leader"] = state["leader"].rpartition("@")[2] or state["leader"]
    view["version"] = state.get("version") if isinstance(state.get("version"), str) else None
    view["elected_at"] = _epoch_iso(state.get("elected_time"))
    for key, name in (("activated_agents", "activated_slaves"), ("unreachable_agents", "unreachable_slaves")):
        value = state.get(name)
        view[key] = int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    return view


def _framework_models(state: Mapping[str, Any] | None) -> list[tuple[Mapping[str, Any], bool]]:
    """Every framework in the state with whether it is a completed (removed) one."""
    if not isinstance(state, Mapping):
        return []
    return ([(f, False) for f in _mappings(state.get("frameworks"))]
            + [(f, True) for f in _mappings(state.get("completed_frameworks"))])


def framework_views(state: Mapping[str, Any] | None, records: Sequence[FrameworkRecord],
                    framework_name: str) -> list[dict[str, Any]]:
    """The executor's framework(s): the id each one subscribed with and what the master says of it.

    One entry per row of ``airflow_mesos_framework``; with no row at all, one entry for ``framework_name``
    that says the executor has not registered yet.
    """
    by_id: dict[str, tuple[Mapping[str, Any], bool]] = {}
    for model, completed in _framework_models(state):
        fid = model.get("id")
        if isinstance(fid, str) and (fid not in by_id or by_id[fid][1]):
            by_id[fid] = (model, completed)  # a registered entry wins over a completed one
    rows = list(records) or [FrameworkRecord(name=framework_name, framework_id="")]
    views = []
    for record in sorted(rows, key=lambda r: r.name):
        view: dict[str, Any] = {
            "name": record.name, "id": record.framework_id or None, "recorded_at": _iso(record.updated_at),
            "connected": None, "active": None, "status": "", "hostname": None, "roles": [],
            "registered_at": None, "failover_timeout": None,
        }
        found = by_id.get(record.framework_id) if record.framework_id else None
        if not record.framework_id:
            view["status"] = ("not registered yet: no framework id in the metadata database (the scheduler has "
                              "not subscribed)")
        elif state is None:
            view["status"] = "unknown: the Mesos master could not be asked"
        elif found is None:
            view["status"] = ("unknown to the master: it was never registered with this cluster, or the master "
                              "forgot it (failover, or it was removed long ago)")
        else:
            model, completed = found
            view["connected"] = bool(model.get("connected")) and not completed
            view["active"] = bool(model.get("active")) and not completed
            view["hostname"] = model.get("hostname") if isinstance(model.get("hostname"), str) else None
            roles = model.get("roles") if isinstance(model.get("roles"), list) else [model.get("role")]
            view["roles"] = [r for r in roles if isinstance(r, str)]
            view["registered_at"] = _epoch_iso(model.get("registered_time"))
            timeout = model.get("failover_timeout")
            view["failover_timeout"] = _number(timeout) if timeout is not None else None
            if completed:
                view["status"] = ("removed: torn down, or its scheduler stayed away longer than its failover "
                                  "timeout; its tasks were killed")
            elif view["connected"]:
                view["status"] = "connected"
            else:
                view["status"] = ("disconnected: no scheduler is subscribed; Mesos keeps its tasks running until "
                                  "the failover timeout")
        views.append(view)
    return views


# ------------------------------------------------------------------------------------------------ tasks


def labels_of(task: Mapping[str, Any]) -> dict[str, str]:
    """A state-JSON task's labels as a dict (the last value of a repeated key wins)."""
    labels = task.get("labels")
    if isinstance(labels, Mapping):  # TaskInfo form {"labels": [...]}
        labels = labels.get("labels")
    out: dict[str, str] = {}
    for label in _mappings(labels):
        if isinstance(label.get("key"), str):
            out[label["key"]] = str(label.get("value", ""))
    return out


def _last_status_time(task: Mapping[str, Any]) -> float:
    stamps = [_number(s.get("timestamp")) for s in _mappings(task.get("statuses"))]
    return max(stamps, default=0.0)


def _first_status_time(task: Mapping[str, Any], state: str) -> float | None:
    stamps = [_number(s.get("timestamp")) for s in _mappings(task.get("statuses")) if s.get("state") == state]
    return min(stamps) if stamps else None


def mesos_tasks(state: Mapping[str, Any] | None, framework_ids: Iterable[str]) -> list[Mapping[str, Any]]:
    """The task models of our frameworks (registered or completed): live, unreachable and completed ones.

    A task listed twice (it moved between lists while the master rendered) keeps its newer entry.
    """
    wanted = {f for f in framework_ids if f}
    found: dict[tuple[str, str], Mapping[str, Any]] = {}
    for model, _ in _framework_models(state):
        if model.get("id") not in wanted:
            continue
        for key in ("tasks", "unreachable_tasks", "completed_tasks"):
            for task in _mappings(model.get(key)):
                task_id = task.get("id")
                if not isinstance(task_id, str):
                    continue
                ident = (str(model.get("id")), task_id)
                if ident not in found or _last_status_time(task) >= _last_status_time(found[ident]):
                    found[ident] = task
    return list(found.values())


def shown_tasks(tasks: Sequence[Mapping[str, Any]], recent_limit: int = RECENT_TASKS) -> list[Mapping[str, Any]]:
    """The tasks the page lists: every one that is not over, and the newest ``recent_limit`` finished ones."""
    active = [t for t in tasks if t.get("state") in ACTIVE_TASK_STATES]
    finished = sorted((t for t in tasks if t.get("state") not in ACTIVE_TASK_STATES), key=_last_status_time,
                      reverse=True)
    return active + finished[:max(recent_limit, 0)]


def _state_rank(state: str) -> int:
    return ACTIVE_TASK_STATES.index(state) if state in ACTIVE_TASK_STATES else len(ACTIVE_TASK_STATES)


def task_views(tasks: Sequence[Mapping[str, Any]], agents: Mapping[str, Mapping[str, Any]],
               known: Mapping[str, KnownTaskInstance], ui_base: str,
               recent_limit: int = RECENT_TASKS, dag_ids: Collection[str] | None = None) -> dict[str, Any]:
    """Our Mesos tasks by state, each with its task instance (from its labels) and a link to it in the UI.

    :param agents: the agents' state models by id (for the hostname).
    :param known: task instances by ``external_executor_id`` (for the Airflow state).
    :param dag_ids: the DAGs the user may see (None: all); tasks of other DAGs are counted, not listed.
    :return: ``{"counts": {state: n}, "active": [...], "recent": [...], "hidden": n}``: every task that is not
        over, by state; the newest ``recent_limit`` finished ones; how many were left out for ``dag_ids``.
    """
    counts: dict[str, int] = {}
    for task in tasks:
        state = str(task.get("state") or "TASK_UNKNOWN")
        counts[state] = counts.get(state, 0) + 1
    active, finished = [], []
    hidden = 0
    for task in shown_tasks(tasks, recent_limit):
        task_id = str(task.get("id"))
        state = str(task.get("state") or "TASK_UNKNOWN")
        labels = labels_of(task)
        agent_id = task.get("slave_id") or task.get("agent_id")
        agent = agents.get(agent_id) if isinstance(agent_id, str) else None
        ti = known.get(task_id)
        view: dict[str, Any] = {
            "mesos_task_id": task_id, "name": task.get("name") if isinstance(task.get("name"), str) else None,
            "state": state, "agent_id": agent_id if isinstance(agent_id, str) else None,
            "agent_hostname": agent.get("hostname") if agent and isinstance(agent.get("hostname"), str) else None,
            "resources": resources_of(task.get("resources")),
            "started_at": _epoch_iso(_first_status_time(task, "TASK_RUNNING")),
            "updated_at": _epoch_iso(_last_status_time(task)),
            "dag_id": None, "task_id": None, "run_id": None, "map_index": None, "try_number": None,
            "callback_id": labels.get(f"{LABEL_PREFIX}callback_id"), "airflow_state": None, "ti_url": None,
        }
        dag_id, af_task_id, run_id = (labels.get(f"{LABEL_PREFIX}{k}") for k in ("dag_id", "task_id", "run_id"))
        map_index = _int_or_none(labels.get(f"{LABEL_PREFIX}map_index"))
        try_number = _int_or_none(labels.get(f"{LABEL_PREFIX}try_number"))
        if ti is not None:  # the database has the task instance: its own ids are authoritative
            dag_id, af_task_id, run_id, map_index = ti.dag_id, ti.task_id, ti.run_id, ti.map_index
            try_number = ti.try_number if try_number is None else try_number
            view["airflow_state"] = ti.state
        if dag_ids is not None and dag_id not in dag_ids:
            hidden += 1
            continue
        if dag_id and af_task_id and run_id:
            index = -1 if map_index is None else map_index
            view.update(dag_id=dag_id, task_id=af_task_id, run_id=run_id, map_index=index, try_number=try_number,
                        ti_url=task_instance_path(ui_base, dag_id, run_id, af_task_id, index))
        (active if state in ACTIVE_TASK_STATES else finished).append((task, view))
    active.sort(key=lambda tv: (_state_rank(tv[1]["state"]), tv[1]["dag_id"] or "", tv[1]["task_id"] or "",
                                _minus_one(tv[1]["map_index"]), tv[1]["mesos_task_id"]))
    finished.sort(key=lambda tv: _last_status_time(tv[0]), reverse=True)
    ordered_counts = dict(sorted(counts.items(), key=lambda kv: (_state_rank(kv[0]), kv[0])))
    return {"counts": ordered_counts, "active": [v for _, v in active], "recent": [v for _, v in finished],
            "hidden": hidden}


def _minus_one(value: int | None) -> int:
    return -1 if value is None else value


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


# ------------------------------------------------------------------------------------------------ agents


def agent_views(state: Mapping[str, Any] | None, our_tasks: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every registered agent: host, attributes, and per resource total, used, offered and free.

    ``free`` is what no task holds (total - used), offered or not: offers are lent to a framework for a few
    seconds and come back.  ``airflow_tasks`` counts our active tasks on the agent.
    """
    if not isinstance(state, Mapping):
        return []
    ours: dict[str, int] = {}
    for task in our_tasks:
        agent_id = task.get("slave_id") or task.get("agent_id")
        if isinstance(agent_id, str) and task.get("state") in ACTIVE_TASK_STATES:
            ours[agent_id] = ours.get(agent_id, 0) + 1
    views = []
    for agent in _mappings(state.get("slaves")):
        total = resources_of(agent.get("resources"))
        used = resources_of(agent.get("used_resources"))
        offered = resources_of(agent.get("offered_resources"))
        attributes = agent.get("attributes") if isinstance(agent.get("attributes"), Mapping) else {}
        agent_id = str(agent.get("id"))
        views.append({
            "id": agent_id,
            "hostname": agent.get("hostname") if isinstance(agent.get("hostname"), str) else None,
            "active": bool(agent.get("active", True)) and not bool(agent.get("deactivated", False)),
            "attributes": {str(k): _attribute_text(v) for k, v in sorted(attributes.items())},
            "resources": {name: {"total": total[name], "used": used[name], "offered": offered[name],
                                 "free": _round(max(total[name] - used[name], 0.0))}
                          for name in RESOURCE_NAMES},
            "airflow_tasks": ours.get(agent_id, 0),
        })
    views.sort(key=lambda a: (a["hostname"] or "", a["id"]))
    return views


def _cluster_totals(agents: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    return {name: {part: _round(sum(a["resources"][name][part] for a in agents))
                   for part in ("total", "used", "offered", "free")}
            for name in RESOURCE_NAMES}


# ------------------------------------------------------------------------------------------------ waiting


def current_wait_reasons(queued: Sequence[QueuedTaskInstance],
                         events: Sequence[WaitEvent]) -> dict[tuple[str, str, str, int], WaitEvent]:
    """The current ``mesos waiting`` event of each queued task instance: the newest one of its current try.

    "Newest" is the highest row id (ids grow with inserts; timestamps from several schedulers need not).
    Events of an earlier try, or with another event name, do not count.
    """
    tries = {ti.key: ti.try_number for ti in queued}
    current: dict[tuple[str, str, str, int], WaitEvent] = {}
    for event in events:
        key = event.key
        if key not in tries:
            continue
        if event.try_number is not None and event.try_number != tries[key]:
            continue
        if key not in current or event.id > current[key].id:
            current[key] = event  # type: ignore[index]
    return current


def waiting_views(queued: Sequence[QueuedTaskInstance], events: Sequence[WaitEvent],
                  launched: Mapping[str, Mapping[str, Any]], ui_base: str,
                  now: datetime.datetime) -> list[dict[str, Any]]:
    """Every queued task instance with why it is not placed yet, oldest first.

    :param launched: our Mesos tasks by id; a queued task instance whose Mesos task already exists was
        placed and is starting (Airflow marks it RUNNING when the worker starts), so its last wait reason
        is history: it is shown as ``launched``.
    :param now: the time to measure how long each has waited (the caller reads the clock).
    """
    reasons = current_wait_reasons(queued, events)
    views = []
    for ti in queued:
        event = reasons.get(ti.key)
        task = launched.get(ti.external_executor_id or "") if ti.external_executor_id else None
        waited = None
        if ti.queued_at is not None:
            queued_at = ti.queued_at if ti.queued_at.tzinfo else ti.queued_at.replace(tzinfo=datetime.timezone.utc)
            waited = max((now - queued_at).total_seconds(), 0.0)
        if task is not None:
            status, reason = "launched", f"placed on Mesos ({task.get('state')}); waiting for the worker to start"
        elif event is not None and event.reason:
            status, reason = "waiting", event.reason
        else:
            status, reason = "waiting", None
        views.append({
            "dag_id": ti.dag_id, "task_id": ti.task_id, "run_id": ti.run_id, "map_index": ti.map_index,
            "try_number": ti.try_number, "mesos_task_id": ti.external_executor_id, "queued_at": _iso(ti.queued_at),
            "waiting_seconds": None if waited is None else round(waited, 1), "status": status, "reason": reason,
            "reason_at": _iso(event.at) if event is not None else None, "pool": ti.pool,
            "priority_weight": ti.priority_weight,
            "ti_url": task_instance_path(ui_base, ti.dag_id, ti.run_id, ti.task_id, ti.map_index),
        })
    views.sort(key=lambda v: (v["queued_at"] or "", v["dag_id"], v["task_id"], v["map_index"]))
    return views


# ------------------------------------------------------------------------------------------------ the page


def build_view(
    *,
    master: MasterSnapshot,
    frameworks: Sequence[FrameworkRecord],
    framework_name: str,
    queued: Sequence[QueuedTaskInstance],
    wait_events: Sequence[WaitEvent],
    known_task_instances: Sequence[KnownTaskInstance],
    ui_base: str,
    now: datetime.datetime,
    queued_total: int | None = None,
    problems: Sequence[str] = (),
    dag_ids: Collection[str] | None = None,
) -> dict[str, Any]:
    """The whole page's view model.

    :param frameworks: the rows of ``airflow_mesos_framework``.
    :param framework_name: ``[mesos] framework_name``, shown when no row exists yet.
    :param queued: QUEUED task instances of the MesosExecutor (at most as many as the caller read).
    :param queued_total: how many there are in all, when ``queued`` is a first page of them.
    :param known_task_instances: task instances whose ``external_executor_id`` is one of our Mesos tasks.
    :param ui_base: the UI's root path (``[api] base_url``'s path, "" by default), for task instance links.
    :param problems: what went wrong while reading the database or the settings, shown on the page.
    :param dag_ids: the DAGs the user may see (None: all): only their task instances are listed (``queued`` is
        expected to be filtered already).
    """
    state = master.state if isinstance(master.state, Mapping) else None
    framework_ids = [r.framework_id for r in frameworks]
    tasks = mesos_tasks(state, framework_ids)
    agents_by_id = {str(a.get("id")): a for a in _mappings((state or {}).get("slaves"))}
    known = {ti.external_executor_id: ti for ti in known_task_instances}
    launched = {str(t.get("id")): t for t in tasks if t.get("state") in ACTIVE_TASK_STATES}
    agents = agent_views(state, tasks)
    waiting = waiting_views(queued, wait_events, launched, ui_base, now)
    return {
        "generated_at": now.isoformat(),
        "master": master_view(master),
        "frameworks": framework_views(state, frameworks, framework_name),
        "agents": agents,
        "totals": _cluster_totals(agents),
        "tasks": task_views(tasks, agents_by_id, known, ui_base, dag_ids=dag_ids),
        "waiting": waiting,
        "waiting_total": max(queued_total if queued_total is not None else len(waiting), len(waiting)),
        "problems": list(problems),
    }
