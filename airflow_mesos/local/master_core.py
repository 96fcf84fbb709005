"""The embedded master's decisions, as a pure core: a stimulus and the records in, effects out.

Each function here takes the :class:`~airflow_mesos.local.records.MasterRecords`, the stimulus (a call's
payload, the time) and returns the :data:`Effect` s the master must carry out; some also change the records
(as dask's ``WorkerState.handle_stimulus`` changes its state and returns instructions).  Nothing here reads
a clock, takes a lock, sends on a socket or calls an agent: the :class:`~airflow_mesos.local.master.Master`
runs the effects (:meth:`Master._run`), under its lock, in order.

Times are passed in: ``now`` is wall-clock seconds (status timestamps, TimeInfo), ``monotonic`` the master's
monotonic clock (deadlines, refuse filters).

The call types moved here so far: RECONCILE and KILL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Union

from airflow_mesos.local.records import FrameworkRecord, MasterRecords, TaskRecord

# ------------------------------------------------------------------------------------------------
# Effects
# ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SendToFramework:
    """Queue ``event`` (a v1 scheduler Event) on the framework's stream, if it is connected."""

    framework_id: str
    event: dict


@dataclass(frozen=True)
class KillOnAgent:
    """Tell the agent to kill the task (``KillTaskMessage``)."""

    agent_id: str
    framework_id: str
    task_id: str
    kill_policy: dict | None = None


Effect = Union[SendToFramework, KillOnAgent]


def update_event(status: dict) -> dict:
    """The scheduler ``UPDATE`` event carrying ``status``."""
    return {"type": "UPDATE", "update": {"status": status}}


def time_info(seconds: float) -> dict:
    """A v1 ``TimeInfo``."""
    return {"nanoseconds": int(seconds * 1e9)}


def master_status(framework_id: str, task_id: str, state: str, message: str, reason: str, *,
                  agent_id: str | None = None, executor_id: str | None = None, timestamp: float,
                  unreachable_time: dict | None = None, healthy: bool | None = None,
                  container_status: dict | None = None) -> dict:
    """A master-generated TaskStatus (``protobuf::createStatusUpdate`` with no uuid, as the framework sees it)."""
    status: dict[str, Any] = {"task_id": {"value": task_id}, "state": state, "message": message,
                              "source": "SOURCE_MASTER", "reason": reason, "timestamp": timestamp}
    if agent_id:
        status["agent_id"] = {"value": agent_id}
    if executor_id:
        status["executor_id"] = {"value": executor_id}
    if healthy is not None:
        status["healthy"] = healthy
    if container_status is not None:
        status["container_status"] = container_status
    if unreachable_time is not None:
        status["unreachable_time"] = unreachable_time
    return status


# ------------------------------------------------------------------------------------------------
# RECONCILE
# ------------------------------------------------------------------------------------------------


def _latest_state_status(framework: FrameworkRecord, task: TaskRecord, now: float) -> dict:
    """Case (1) and implicit reconciliation: the task's latest state, its health (``getTaskHealth``: the last
    status's) and its container status (``getTaskContainerStatus``: the most recent status that has one)."""
    statuses = task.statuses
    healthy = statuses[-1].get("healthy") if statuses else None
    container_status = next((s["container_status"] for s in reversed(statuses) if "container_status" in s), None)
    return master_status(framework.id, task.task_id, task.state, "Reconciliation: Latest task state",
                         "REASON_RECONCILIATION", agent_id=task.agent_id, executor_id=task.executor_id or None,
                         timestamp=now, healthy=healthy, container_status=container_status)


def reconcile(records: MasterRecords, framework: FrameworkRecord, tasks: list[dict], now: float) -> list[Effect]:
    """``Master::reconcile`` (src/master/master.cpp 1.11.0).

    Implicit (no tasks): the latest state of every task the framework has on registered agents (not its
    unreachable or completed ones).  Explicit, per task asked about:

    1. task known: its latest state;
    2. task unknown, its agent recovered from the registry and not re-registered yet (or no agent given and
       any agent is such): no answer; the framework asks again;
    3. task unknown, agent registered: TASK_GONE;
    4. task unknown, agent unreachable: TASK_UNREACHABLE with the time the agent became unreachable;
    5. task unknown, agent gone (marked so by an operator): TASK_GONE_BY_OPERATOR;
    6. task unknown, agent unknown: TASK_UNKNOWN.

    A framework without PARTITION_AWARE gets TASK_LOST instead in cases 3 to 6.  Answers carry
    REASON_RECONCILIATION, SOURCE_MASTER and no uuid.
    """
    def send(status: dict) -> SendToFramework:
        return SendToFramework(framework.id, update_event(status))

    if not tasks:
        return [send(_latest_state_status(framework, task, now)) for task in framework.tasks.values()]
    lost = not framework.partition_aware
    effects: list[Effect] = []
    for item in tasks:
        task_id = item["task_id"]["value"]
        agent_id = (item.get("agent_id") or {}).get("value")
        task = framework.tasks.get(task_id)
        agent = records.agents.get(agent_id) if agent_id is not None else None
        if task is not None:
            effects.append(send(_latest_state_status(framework, task, now)))
        elif (agent_id is not None and agent_id in records.recovered_agents) or \
                (agent_id is None and records.recovered_agents):
            continue  # (2)
        elif agent is not None and agent.reachable:
            effects.append(send(master_status(
                framework.id, task_id, "TASK_LOST" if lost else "TASK_GONE",
                "Reconciliation: Task is unknown to the agent", "REASON_RECONCILIATION",
                agent_id=agent_id, timestamp=now)))
        elif agent is not None:
            effects.append(send(master_status(
                framework.id, task_id, "TASK_LOST" if lost else "TASK_UNREACHABLE",
                "Reconciliation: Task is unreachable", "REASON_RECONCILIATION", agent_id=agent_id, timestamp=now,
                unreachable_time=time_info(agent.unreachable_time if agent.unreachable_time is not None else now))))
        elif agent_id is not None and agent_id in records.gone_agents:
            effects.append(send(master_status(
                framework.id, task_id, "TASK_LOST" if lost else "TASK_GONE_BY_OPERATOR",
                "Reconciliation: Task is gone", "REASON_RECONCILIATION", agent_id=agent_id, timestamp=now)))
        else:
            effects.append(send(master_status(
                framework.id, task_id, "TASK_LOST" if lost else "TASK_UNKNOWN", "Reconciliation: Task is unknown",
                "REASON_RECONCILIATION", agent_id=agent_id, timestamp=now)))
    return effects


# ------------------------------------------------------------------------------------------------
# KILL
# ------------------------------------------------------------------------------------------------


def kill(records: MasterRecords, framework: FrameworkRecord, call: dict, now: float) -> list[Effect]:
    """``Master::kill``: an unknown task is reconciled explicitly (with the call's agent id, if any); a task on
    another agent than the one named is left alone; otherwise the agent is told to kill it, if it is
    reachable (an unreachable agent's tasks are killed when it re-registers)."""
    task_id = call["task_id"]["value"]
    agent_id = (call.get("agent_id") or {}).get("value")
    task = framework.tasks.get(task_id)
    if task is None:
        item: dict = {"task_id": {"value": task_id}}
        if agent_id is not None:
            item["agent_id"] = {"value": agent_id}
        return reconcile(records, framework, [item], now)
    if agent_id is not None and agent_id != task.agent_id:
        return []
    agent = records.agents.get(task.agent_id)
    if agent is None or not agent.reachable:
        return []
    return [KillOnAgent(task.agent_id, framework.id, task_id, call.get("kill_policy"))]
