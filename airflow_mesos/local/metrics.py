"""``/metrics/snapshot`` of the embedded master and agents, with Mesos' metric names.

Pure rendering of the master's and agents' records into the flat ``{name: value}``
map Mesos serves (``src/master/metrics.cpp``, ``src/slave/metrics.cpp`` and the
``Master::_tasks_*`` / ``_resources_*`` gauges of ``src/master/master.cpp``).
The caller holds the master's (or agent's) lock and passes ``now``; only
:func:`system_metrics` reads the host (load average, memory).

Gauges (tasks_running, cpus_used, ...) are exact.  The terminal task counters
(``master/tasks_finished`` ...) are counted from the tasks the master still
remembers (completed tasks are capped at 1000 per framework and 50 completed
frameworks), where a real master keeps a counter since it was elected; the
message counters (``master/messages_*``) are left out because nothing counts them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from airflow_mesos.local.allocator import Resources

if TYPE_CHECKING:  # pragma: no cover
    from airflow_mesos.local.master import Master

SCALAR_RESOURCES = ("cpus", "gpus", "mem", "disk")
MASTER_LIVE_STATES = ("TASK_STAGING", "TASK_STARTING", "TASK_RUNNING", "TASK_KILLING")
MASTER_TERMINAL_COUNTERS = ("TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_ERROR",
                            "TASK_DROPPED", "TASK_GONE", "TASK_GONE_BY_OPERATOR")
AGENT_TERMINAL_COUNTERS = ("TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_LOST", "TASK_GONE")
_TERMINAL = frozenset(MASTER_TERMINAL_COUNTERS)


def _metric_suffix(state: str) -> str:
    """``TASK_GONE_BY_OPERATOR`` -> ``gone_by_operator``."""
    return state[len("TASK_"):].lower()


def _resource_gauges(prefix: str, total: Resources, used: Resources) -> dict[str, float]:
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


def master_metrics(master: Master, now: float, *, operator_subscribers: int = 0) -> dict[str, float]:
    """The master's ``/metrics/snapshot`` entries (``master/*``) for wall-clock time ``now``.

    Agents marked unreachable are not registered agents: they count only in
    ``master/slaves_unreachable`` and their resources leave the totals, as in Mesos.
    """
    reachable = [r for r in master.agents.values() if r.reachable]
    frameworks = list(master.frameworks.values())
    out: dict[str, float] = {
        "master/elected": 0.0 if master.standby else 1.0,
        "master/uptime_secs": max(0.0, now - master.start_time),
        "master/slaves_active": float(len(reachable)),
        "master/slaves_inactive": 0.0,
        "master/slaves_connected": float(len(reachable)),
        "master/slaves_disconnected": 0.0,
        "master/slaves_unreachable": float(len(master.agents) - len(reachable)),
        "master/frameworks_active": float(sum(1 for f in frameworks if f.active)),
        "master/frameworks_inactive": float(sum(1 for f in frameworks if not f.active)),
        "master/frameworks_connected": float(sum(1 for f in frameworks if f.connected)),
        "master/frameworks_disconnected": float(sum(1 for f in frameworks if not f.connected)),
        "master/outstanding_offers": float(len(master.offers)),
        "master/operator_event_stream_subscribers": float(operator_subscribers),
    }
    reachable_ids = {r.id for r in reachable}
    live = {state: 0 for state in MASTER_LIVE_STATES}
    for framework in frameworks:
        for task in framework.tasks.values():
            if task.agent_id in reachable_ids and task.state in live:
                live[task.state] += 1
    for state, count in live.items():
        out[f"master/tasks_{_metric_suffix(state)}"] = float(count)
    out["master/tasks_unreachable"] = float(sum(
        1 for f in frameworks for t in f.unreachable_tasks.values() if t.state == "TASK_UNREACHABLE"))

    terminal = {state: 0 for state in MASTER_TERMINAL_COUNTERS}
    for framework in frameworks + list(master.completed_frameworks):
        for task in _remembered_tasks(framework):
            if task.state in terminal:
                terminal[task.state] += 1
    for state, count in terminal.items():
        out[f"master/tasks_{_metric_suffix(state)}"] = float(count)

    total, used = Resources(), Resources()
    for record in reachable:
        total = total + record.total
    for framework in frameworks:
        for task in framework.tasks.values():
            if task.holds_resources and task.agent_id in reachable_ids:
                used = used + task.resources
    out.update(_resource_gauges("master", total, used))
    return out


def _remembered_tasks(framework: Any) -> Iterable[Any]:
    yield from framework.tasks.values()
    yield from framework.unreachable_tasks.values()
    yield from framework.completed_tasks


def agent_metrics(view: AgentView, now: float) -> dict[str, float]:
    """An agent's ``/metrics/snapshot`` entries (``slave/*``) from a snapshot of its records."""
    live = {state: 0 for state in MASTER_LIVE_STATES}
    terminal = {state: 0 for state in AGENT_TERMINAL_COUNTERS}
    used = Resources()
    executors_running = executors_registering = executors_terminated = 0
    for task in view.tasks:
        if task.terminated or task.state in _TERMINAL:
            executors_terminated += 1
            if task.state in terminal:
                terminal[task.state] += 1
            continue
        if task.state in live:
            live[task.state] += 1
        if task.state == "TASK_STAGING":
            executors_registering += 1
        else:
            executors_running += 1
        used = used + task.resources
    out: dict[str, float] = {
        "slave/uptime_secs": max(0.0, now - view.start_time),
        "slave/registered": 1.0 if view.registered else 0.0,
        "slave/frameworks_active": float(view.frameworks_active),
        "slave/executors_registering": float(executors_registering),
        "slave/executors_running": float(executors_running),
        "slave/executors_terminating": 0.0,
        "slave/executors_terminated": float(executors_terminated),
        "slave/recovery_errors": 0.0,
    }
    for state, count in live.items():
        out[f"slave/tasks_{_metric_suffix(state)}"] = float(count)
    for state, count in terminal.items():
        out[f"slave/tasks_{_metric_suffix(state)}"] = float(count)
    out.update(_resource_gauges("slave", view.total, used))
    return out


class AgentTaskView:
    """What the agent metrics need of one task: its state, whether its run ended, its resources."""

    __slots__ = ("resources", "state", "terminated")

    def __init__(self, state: str, terminated: bool, resources: Resources) -> None:
        self.state = state
        self.terminated = terminated
        self.resources = resources


class AgentView:
    """A plain snapshot of an agent's records, so :func:`agent_metrics` needs no agent and no lock."""

    __slots__ = ("frameworks_active", "registered", "start_time", "tasks", "total")

    def __init__(self, *, start_time: float, registered: bool, frameworks_active: int, total: Resources,
                 tasks: list[AgentTaskView]) -> None:
        self.start_time = start_time
        self.registered = registered
        self.frameworks_active = frameworks_active
        self.total = total
        self.tasks = tasks


def system_metrics() -> dict[str, float]:
    """``system/*`` of the host (load average and memory), as the Mesos system process reports them.

    Reads the host: call it at the HTTP edge, not from rendering code.
    """
    out: dict[str, float] = {"system/cpus_total": float(os.cpu_count() or 0)}
    try:
        one, five, fifteen = os.getloadavg()
        out.update({"system/load_1min": one, "system/load_5min": five, "system/load_15min": fifteen})
    except OSError:  # not available on this platform
        pass
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            fields = dict(line.split(":", 1) for line in handle if ":" in line)
        total_kb = int(fields["MemTotal"].split()[0])
        free_kb = int(fields["MemFree"].split()[0])  # sysinfo freeram, as stout os::memory()
        out.update({"system/mem_total_bytes": float(total_kb * 1024), "system/mem_free_bytes": float(free_kb * 1024)})
    except (OSError, KeyError, ValueError, IndexError):  # not Linux, or an unexpected format
        pass
    return out


def as_metric_list(snapshot: dict[str, float]) -> list[dict[str, Any]]:
    """``GET_METRICS`` form: ``[{"name": ..., "value": ...}]`` sorted by name."""
    return [{"name": name, "value": snapshot[name]} for name in sorted(snapshot)]
