"""What ``airflow-mesos status`` shows, as plain data, and the pure functions that build it.

Inputs are what the edge read (:mod:`airflow_mesos.status.read`): the master's
read-only JSON documents (``/master/state``, ``/master/frameworks``,
``/master/slaves``, ``/master/tasks``) and rows of Airflow's metadata database
(the framework id the MesosExecutor stored, the queued task instances, and the
``log`` rows with event ``mesos waiting`` in which the executor records why a
task is not placed yet).  Nothing here does I/O or reads a clock.
"""

from __future__ import annotations

import datetime
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

WAIT_EVENT = "mesos waiting"
"""The ``log.event`` of the executor's waiting reasons (``MesosExecutor.sync``)."""

SCALARS = ("cpus", "mem", "disk", "gpus")
ACTIVE_TASK_STATES = ("TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_KILLING", "TASK_UNREACHABLE")
# Label keys the executor puts on every task it launches (executor.py, _work_for).
LABEL_DAG_ID, LABEL_TASK_ID, LABEL_RUN_ID = "airflow.dag_id", "airflow.task_id", "airflow.run_id"
LABEL_TRY, LABEL_MAP_INDEX = "airflow.try_number", "airflow.map_index"


@dataclass(frozen=True)
class MasterInfo:
    """The master that answered, and whether it leads."""

    url: str
    version: str = ""
    hostname: str = ""
    is_leader: bool | None = None
    """Its pid is the leader's (None: it does not say)."""
    leader_url: str | None = None
    """The leading master's URL from its MasterInfo (None: unknown)."""
    start_time: float | None = None


@dataclass(frozen=True)
class FrameworkInfo:
    """The MesosExecutor's framework as the master sees it."""

    name: str
    id: str | None
    """The framework id (None when none is stored and no framework of that name is registered)."""
    id_source: str
    """Where the id came from: "metadata database", "master (by name)" or "" (not found)."""
    registered: bool = False
    """The master knows the framework (it may be disconnected, within its failover timeout)."""
    removed: bool = False
    """The master lists it among the completed frameworks (torn down, or its failover timeout passed)."""
    connected: bool = False
    active: bool = False
    roles: tuple[str, ...] = ()
    registered_time: float | None = None

    @property
    def state(self) -> str:
        if self.id is None:
            return "not registered"
        if self.removed:
            return "removed"
        if not self.registered:
            return "not registered with this master"
        if self.connected:
            return "connected" if self.active else "connected, inactive"
        return "disconnected (Mesos keeps its tasks within the failover timeout)"


@dataclass(frozen=True)
class AgentInfo:
    """One agent: its resources, what tasks use of them, its attributes."""

    id: str
    hostname: str
    total: Mapping[str, float]
    used: Mapping[str, float]
    attributes: Mapping[str, Any] = field(default_factory=dict)
    active: bool = True

    def free(self, name: str) -> float:
        return max(0.0, float(self.total.get(name, 0.0)) - float(self.used.get(name, 0.0)))


@dataclass(frozen=True)
class MesosTask:
    """A Mesos task of the framework, with the Airflow task instance it runs (from its labels)."""

    id: str
    state: str
    agent_id: str
    hostname: str = ""
    name: str = ""
    dag_id: str | None = None
    task_id: str | None = None
    run_id: str | None = None
    map_index: int = -1
    try_number: int | None = None

    @property
    def label(self) -> str:
        if self.dag_id is None or self.task_id is None:
            return self.name or self.id
        return ti_label(self.dag_id, self.task_id, self.map_index)


@dataclass(frozen=True)
class QueuedTaskInstance:
    """A task instance Airflow has queued (``task_instance.state = 'queued'``)."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int
    external_executor_id: str | None = None
    queued_at: datetime.datetime | None = None

    @property
    def key(self) -> tuple[str, str, str, int, int]:
        return (self.dag_id, self.run_id, self.task_id, self.map_index, self.try_number)


@dataclass(frozen=True)
class WaitEvent:
    """One ``log`` row with event ``mesos waiting``: why a try was not placed, from ``when`` on."""

    dag_id: str
    run_id: str
    task_id: str
    map_index: int
    try_number: int
    when: datetime.datetime | None
    reason: str

    @property
    def key(self) -> tuple[str, str, str, int, int]:
        return (self.dag_id, self.run_id, self.task_id, self.map_index, self.try_number)


@dataclass(frozen=True)
class WaitingTask:
    """A queued task instance that has no Mesos task yet, and the latest reason the executor gave."""

    ti: QueuedTaskInstance
    reason: str | None
    since: datetime.datetime | None = None

    @property
    def label(self) -> str:
        return ti_label(self.ti.dag_id, self.ti.task_id, self.ti.map_index)


@dataclass(frozen=True)
class Snapshot:
    """Everything ``status`` prints."""

    master: MasterInfo
    framework: FrameworkInfo
    agents: tuple[AgentInfo, ...]
    tasks: tuple[MesosTask, ...]
    waiting: tuple[WaitingTask, ...] | None
    """None when the metadata database could not be read."""
    problems: tuple[str, ...] = ()
    """What could not be read, one line each (e.g. the metadata database)."""


def ti_label(dag_id: str, task_id: str, map_index: int = -1) -> str:
    """``dag.task`` or ``dag.task[3]`` for a mapped one."""
    return f"{dag_id}.{task_id}" + (f"[{map_index}]" if map_index is not None and map_index >= 0 else "")


def _scalars(model: Mapping[str, Any] | None) -> dict[str, float]:
    out = {}
    for name in SCALARS:
        try:
            out[name] = float((model or {}).get(name, 0.0))
        except (TypeError, ValueError):
            out[name] = 0.0
    return out


def master_info(url: str, state: Mapping[str, Any]) -> MasterInfo:
    """From ``/master/state`` of the master at ``url``."""
    from airflow_mesos.mesos.detector import master_info_url
    from airflow_mesos.mesos.errors import MasterDetectionError

    leader_url = None
    if isinstance(state.get("leader_info"), Mapping):
        try:
            leader_url = master_info_url(state["leader_info"], url.split("://", 1)[0] if "://" in url else "http")
        except MasterDetectionError:
            leader_url = None
    is_leader = None
    if state.get("pid"):
        is_leader = bool(state.get("leader")) and state.get("leader") == state.get("pid")
    start = state.get("start_time")
    return MasterInfo(url=url, version=str(state.get("version", "")), hostname=str(state.get("hostname", "")),
                      is_leader=is_leader, leader_url=leader_url,
                      start_time=float(start) if isinstance(start, (int, float)) else None)


def framework_info(frameworks: Mapping[str, Any], name: str, stored_id: str | None) -> FrameworkInfo:
    """From ``/master/frameworks``: the framework with ``stored_id``, or else the active one named ``name``."""
    current = [f for f in frameworks.get("frameworks", []) if isinstance(f, dict)]
    completed = [f for f in frameworks.get("completed_frameworks", []) if isinstance(f, dict)]
    source = "metadata database" if stored_id else ""
    framework_id = stored_id
    if framework_id is None:
        named = [f for f in current if f.get("name") == name]
        named.sort(key=lambda f: (not f.get("active"), -(f.get("registered_time") or 0.0)))
        if named:
            framework_id, source = str(named[0].get("id")), "master (by name)"
    if framework_id is None:
        return FrameworkInfo(name=name, id=None, id_source="")
    for record in current:
        if record.get("id") == framework_id:
            roles = record.get("roles") or ([record["role"]] if record.get("role") else [])
            registered = record.get("registered_time")
            return FrameworkInfo(
                name=name, id=framework_id, id_source=source, registered=True, connected=bool(record.get("connected")),
                active=bool(record.get("active")), roles=tuple(roles),
                registered_time=float(registered) if isinstance(registered, (int, float)) else None)
    removed = any(record.get("id") == framework_id for record in completed)
    return FrameworkInfo(name=name, id=framework_id, id_source=source, removed=removed)


def agents_info(slaves: Mapping[str, Any]) -> tuple[AgentInfo, ...]:
    """From ``/master/slaves``, by hostname."""
    out = []
    for record in slaves.get("slaves", []):
        if not isinstance(record, dict):
            continue
        out.append(AgentInfo(
            id=str(record.get("id", "")), hostname=str(record.get("hostname", "")),
            total=_scalars(record.get("resources")), used=_scalars(record.get("used_resources")),
            attributes=dict(record.get("attributes") or {}), active=bool(record.get("active", True))))
    return tuple(sorted(out, key=lambda a: (a.hostname, a.id)))


def _labels(task: Mapping[str, Any]) -> dict[str, str]:
    labels = task.get("labels") or []
    if isinstance(labels, dict):  # the TaskInfo form {"labels": [...]}
        labels = labels.get("labels") or []
    return {str(item.get("key")): str(item.get("value", "")) for item in labels if isinstance(item, dict)}


def _int(text: str | None, default: int | None) -> int | None:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default


def mesos_tasks(tasks: Mapping[str, Any], framework_id: str | None,
                agents: Sequence[AgentInfo] = ()) -> tuple[MesosTask, ...]:
    """From ``/master/tasks``: the framework's tasks, with the task instance each runs."""
    hostnames = {agent.id: agent.hostname for agent in agents}
    out = []
    for task in tasks.get("tasks", []):
        if not isinstance(task, dict) or framework_id is None or task.get("framework_id") != framework_id:
            continue
        labels = _labels(task)
        agent_id = str(task.get("slave_id", ""))
        out.append(MesosTask(
            id=str(task.get("id", "")), state=str(task.get("state", "")), agent_id=agent_id,
            hostname=hostnames.get(agent_id, ""), name=str(task.get("name", "")),
            dag_id=labels.get(LABEL_DAG_ID), task_id=labels.get(LABEL_TASK_ID), run_id=labels.get(LABEL_RUN_ID),
            map_index=_int(labels.get(LABEL_MAP_INDEX), -1), try_number=_int(labels.get(LABEL_TRY), None)))
    return tuple(out)


def counts_by_state(tasks: Iterable[MesosTask]) -> list[tuple[str, int]]:
    """``[("TASK_RUNNING", 2), ("TASK_FINISHED", 7)]``: active states first, then the rest by name."""
    counts = Counter(task.state for task in tasks)
    order = {state: i for i, state in enumerate(ACTIVE_TASK_STATES)}
    return sorted(counts.items(), key=lambda item: (order.get(item[0], len(order)), item[0]))


def waiting_tasks(queued: Iterable[QueuedTaskInstance], events: Iterable[WaitEvent],
                  mesos_task_ids: Iterable[str]) -> tuple[WaitingTask, ...]:
    """The queued task instances that are not a Mesos task yet, each with its latest waiting reason.

    A queued TI whose ``external_executor_id`` Mesos knows was placed (Airflow marks it running only when the
    worker starts), so its earlier reason no longer holds.  The reason is the latest ``mesos waiting`` row of
    the same try; a TI without one has none recorded yet (the scheduler writes event rows in batches).
    Ordered by how long they have been queued.
    """
    launched = set(mesos_task_ids)
    latest: dict[tuple, WaitEvent] = {}
    for event in events:
        seen = latest.get(event.key)
        if seen is None or _after(event.when, seen.when):
            latest[event.key] = event
    out = []
    for ti in queued:
        if ti.external_executor_id and ti.external_executor_id in launched:
            continue
        event = latest.get(ti.key)
        out.append(WaitingTask(ti=ti, reason=event.reason if event else None, since=event.when if event else None))
    epoch = datetime.datetime.min.replace(tzinfo=datetime.timezone.utc)
    return tuple(sorted(out, key=lambda w: (_aware(w.ti.queued_at) or epoch, w.label)))


def _aware(when: datetime.datetime | None) -> datetime.datetime | None:
    if when is not None and when.tzinfo is None:
        return when.replace(tzinfo=datetime.timezone.utc)
    return when


def _after(a: datetime.datetime | None, b: datetime.datetime | None) -> bool:
    if a is None:
        return False
    return b is None or _aware(a) >= _aware(b)
