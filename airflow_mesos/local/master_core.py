"""The embedded master's decisions, as a pure core: a stimulus and the records in, effects out.

Each function here takes the :class:`~airflow_mesos.local.records.MasterRecords`, the stimulus (a call's
payload, the time) and returns the :data:`Effect` s the master must carry out; some also change the records
(as dask's ``WorkerState.handle_stimulus`` changes its state and returns instructions).  Nothing here reads
a clock, takes a lock, sends on a socket or calls an agent: the :class:`~airflow_mesos.local.master.Master`
runs the effects (:meth:`Master._run`), under its lock, in order.

Times are passed in: ``now`` is wall-clock seconds (status timestamps, TimeInfo), ``monotonic`` the master's
monotonic clock (deadlines, refuse filters).

Here: the scheduler calls (SUBSCRIBE, TEARDOWN, ACCEPT, DECLINE, REVIVE, SUPPRESS, KILL, RECONCILE,
UPDATE_FRAMEWORK; ACKNOWLEDGE's bookkeeping), the operator calls DEACTIVATE_AGENT and REACTIVATE_AGENT, a
framework's stream ending, status updates from agents,
agents registering, re-registering and becoming unreachable, the allocation round and what time alone
decides (failover and offer timeouts).  Every change an operator stream reports comes out as an
:data:`OperatorEffect` (``TaskAdded``, ``TaskUpdated``, ...), so the operator event stream follows the
effects instead of looking at the records.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Union
from urllib.parse import urlsplit

from airflow_mesos.local.allocator import AgentSlot, FrameworkSlot, RefuseFilter, Resources, allocate, refuse_seconds
from airflow_mesos.local.constants import TERMINAL_STATES
from airflow_mesos.local.records import (
    AgentRecord,
    ExecutorRecord,
    FrameworkRecord,
    MasterRecords,
    OfferRecord,
    TaskRecord,
    resources_by_role,
    total,
)
from airflow_mesos.local.validation import (
    framework_roles,
    validate_framework_info,
    validate_framework_update,
    validate_task,
)
from airflow_mesos.local.views_common import public_container

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


@dataclass(frozen=True)
class LaunchOnAgent:
    """Hand the (validated) task to the agent (``RunTaskMessage``); ``launch_executor`` (a task with an
    ExecutorInfo only) says whether the master added the executor with this task."""

    agent_id: str
    framework_info: dict
    task_info: dict
    launch_executor: bool | None = None


@dataclass(frozen=True)
class ShutdownExecutorOnAgent:
    """Tell the agent to shut the executor down (``ShutdownExecutorMessage``, scheduler SHUTDOWN)."""

    agent_id: str
    framework_id: str
    executor_id: str


@dataclass(frozen=True)
class MessageToExecutor:
    """Relay a scheduler MESSAGE to the agent, for the executor (``FrameworkToExecutorMessage``); ``data`` is
    the base64 text of the call."""

    agent_id: str
    framework_id: str
    executor_id: str
    data: str


@dataclass(frozen=True)
class AllocateSoon:
    """Run an allocation round at the next tick (Mesos' allocator reacts to a REVIVE, a new framework or agent);
    ignored when rounds run only on demand."""


@dataclass(frozen=True)
class ShutdownOnAgents:
    """Tell every agent the framework is gone (``ShutdownFrameworkMessage``): they kill its tasks."""

    framework_id: str


@dataclass(frozen=True)
class CloseFrameworkStream:
    """End the framework's scheduler stream (the framework was removed)."""

    framework_id: str


@dataclass(frozen=True)
class AcknowledgeOnAgent:
    """Relay a framework's acknowledgement to the agent (``StatusUpdateAcknowledgementMessage``)."""

    agent_id: str
    framework_id: str
    task_id: str
    uuid: bytes


# What operator streams report (src/master/master.cpp ``subscribers.send(...)``): the master renders each
# with master_views.operator_event at the moment it runs it.
@dataclass(frozen=True)
class TaskAdded:
    framework_id: str
    task_id: str


@dataclass(frozen=True)
class TaskUpdated:
    framework_id: str
    status: dict
    state: str


@dataclass(frozen=True)
class FrameworkAdded:
    framework_id: str


@dataclass(frozen=True)
class FrameworkUpdated:
    framework_id: str


@dataclass(frozen=True)
class FrameworkRemoved:
    framework_id: str


@dataclass(frozen=True)
class AgentAdded:
    agent_id: str


@dataclass(frozen=True)
class AgentRemoved:
    agent_id: str


OperatorEffect = Union[TaskAdded, TaskUpdated, FrameworkAdded, FrameworkUpdated, FrameworkRemoved, AgentAdded,
                       AgentRemoved]

Effect = Union[SendToFramework, KillOnAgent, LaunchOnAgent, AcknowledgeOnAgent, AllocateSoon, ShutdownOnAgents,
               CloseFrameworkStream, ShutdownExecutorOnAgent, MessageToExecutor, OperatorEffect]


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


# ------------------------------------------------------------------------------------------------
# ACCEPT, DECLINE, REVIVE, SUPPRESS
# ------------------------------------------------------------------------------------------------


def _operation_tasks(operation: dict) -> list[dict]:
    if operation.get("type") == "LAUNCH":
        return list((operation.get("launch") or {}).get("task_infos") or [])
    if operation.get("type") == "LAUNCH_GROUP":
        return list(((operation.get("launch_group") or {}).get("task_group") or {}).get("tasks") or [])
    return []


def _invalid_offers_error(records: MasterRecords, framework: FrameworkRecord, offer_ids: list[str]) -> str | None:
    """``validation::offer::validate``: every offer outstanding, once, this framework's, on one agent."""
    if not offer_ids:
        return "No offers specified"
    seen: set[str] = set()
    agent_id = None
    for offer_id in offer_ids:
        offer = records.offers.get(offer_id)
        if offer is None:
            return f"Offer {offer_id} is no longer valid"
        if offer_id in seen:
            return f"Duplicate offer {offer_id} in offer list"
        seen.add(offer_id)
        if offer.framework_id != framework.id:
            return (f"Offer {offer_id} has invalid framework {offer.framework_id} while framework {framework.id} "
                    "is expected")
        if agent_id is not None and offer.agent_id != agent_id:
            return (f"Aggregated offers must belong to one single agent. Offer {offer_id} uses agent "
                    f"{offer.agent_id} and agent {agent_id}")
        agent_id = offer.agent_id
    return None


def _task_error(framework: FrameworkRecord, task: dict, message: str, now: float,
                reason: str = "REASON_TASK_INVALID") -> SendToFramework:
    return SendToFramework(framework.id, update_event(master_status(
        framework.id, task["task_id"]["value"], "TASK_ERROR", message, reason,
        agent_id=(task.get("agent_id") or {}).get("value"), timestamp=now)))


def with_allocation_info(task: dict, role: str) -> dict:
    """A copy of the TaskInfo whose (executor) resources carry ``allocation_info`` (the master injects it)."""
    task = dict(task)

    def inject(resources: list) -> list:
        return [r if "allocation_info" in r else {**r, "allocation_info": {"role": role}} for r in resources]

    task["resources"] = inject(task.get("resources") or [])
    if isinstance(task.get("executor"), dict):
        task["executor"] = {**task["executor"], "resources": inject(task["executor"].get("resources") or [])}
    return task


def _launch(framework: FrameworkRecord, agent: AgentRecord, role: str, task: dict, available: Resources,
            now: float, effects: list[Effect]) -> Resources:
    """One task of a LAUNCH: ``validation::task::validate``, then the task is added (STAGING) and sent to the
    agent; returns what is left of the offered resources.

    A task with an ExecutorInfo: the master fills in a missing ``framework_id`` (``Master::accept``); the
    first task of an executor id on the agent adds the executor, whose resources are consumed with it, once
    (``Master::_accept``: ``isLaunchExecutor`` / ``addExecutor``); later tasks must carry a compatible
    ExecutorInfo and consume only their own resources.
    """
    existing = None
    if isinstance(task.get("executor"), dict):
        task = {**task, "executor": {"framework_id": {"value": framework.id}, **task["executor"]}}
        existing_record = framework.executors.get((agent.id, task["executor"]["executor_id"]["value"]))
        existing = existing_record.info if existing_record is not None else None
    error, resources = validate_task(
        task, agent_id=agent.id, known_task_ids=framework.tasks.keys(),
        unreachable_task_ids=framework.unreachable_tasks.keys(), offered=available, framework_id=framework.id,
        existing_executor=None if existing is None else _without_allocation_info(existing))
    if error is not None:
        effects.append(_task_error(framework, task, error, now))
        return available
    task_id = task["task_id"]["value"]
    executor_id = ((task.get("executor") or {}).get("executor_id") or {}).get("value", "")
    consumed = resources
    if executor_id and existing is None:
        executor_info = with_allocation_info(task, role)["executor"]
        executor_resources = Resources.from_json(task["executor"].get("resources") or [], "resources")
        framework.executors[(agent.id, executor_id)] = ExecutorRecord(
            framework.id, agent.id, executor_id, executor_info, role, executor_resources)
        consumed = resources + executor_resources
    container = task.get("container")
    framework.tasks[task_id] = TaskRecord(
        framework.id, agent.id, task_id, str(task.get("name", "")), executor_id, role, resources,
        labels=task.get("labels"), discovery=task.get("discovery"),
        container=public_container(container) if isinstance(container, dict) else None,
        user=(task.get("command") or {}).get("user") or framework.info.get("user"))
    effects.append(TaskAdded(framework.id, task_id))
    effects.append(LaunchOnAgent(agent.id, dict(framework.info), with_allocation_info(task, role),
                                 launch_executor=(existing is None) if executor_id else None))
    return available - consumed


def _without_allocation_info(executor_info: dict) -> dict:
    """The ExecutorInfo as the scheduler gave it (the master injected ``allocation_info`` into its resources)."""
    resources = [{k: v for k, v in r.items() if k != "allocation_info"} for r in executor_info.get("resources") or []]
    return {**executor_info, "resources": resources}


def accept(records: MasterRecords, framework: FrameworkRecord, call: dict, *, now: float,
           monotonic: float) -> list[Effect]:
    """``Master::accept`` / ``_accept`` for LAUNCH (and LAUNCH_GROUP, which the embedded agents cannot run).

    Invalid offers: every task of the call is TASK_DROPPED (PARTITION_AWARE) or TASK_LOST with
    REASON_INVALID_OFFERS, and the offers named that are still outstanding go back to the pool.  Valid
    offers are used up; each task is validated against what is left of them (TASK_ERROR /
    REASON_TASK_INVALID) and launched; what no task used is refused to the framework for
    ``filters.refuse_seconds`` (default 5 s).  Other operations are dropped (not supported here).
    """
    offer_ids = [offer["value"] for offer in call.get("offer_ids") or []]
    operations = list(call.get("operations") or [])
    effects: list[Effect] = []
    error = _invalid_offers_error(records, framework, offer_ids)
    if error is not None:
        for offer_id in offer_ids:
            records.offers.pop(offer_id, None)   # back to the pool, without a RESCIND (discardOffer)
        state = "TASK_DROPPED" if framework.partition_aware else "TASK_LOST"
        for operation in operations:
            for task in _operation_tasks(operation):
                effects.append(SendToFramework(framework.id, update_event(master_status(
                    framework.id, task["task_id"]["value"], state, f"Task launched with invalid offers: {error}",
                    "REASON_INVALID_OFFERS", agent_id=(task.get("agent_id") or {}).get("value"), timestamp=now))))
        return effects
    taken = [records.offers.pop(offer_id) for offer_id in offer_ids]
    agent_id, role = taken[0].agent_id, taken[0].role
    available = Resources()
    for offer in taken:
        available = available + offer.resources
    agent = records.agents[agent_id]
    for operation in operations:
        kind = operation.get("type")
        if kind == "LAUNCH":
            for task in _operation_tasks(operation):
                available = _launch(framework, agent, role, task, available, now, effects)
        elif kind == "LAUNCH_GROUP":
            for task in _operation_tasks(operation):
                effects.append(_task_error(framework, task, "LAUNCH_GROUP is not supported by the embedded master",
                                           now, "REASON_TASK_GROUP_INVALID"))
        # Reservation and volume operations are dropped: the embedded master has unreserved resources only.
    if not available.is_empty():
        framework.filters.append(RefuseFilter(agent_id, role, available, monotonic + refuse_seconds(call.get("filters"))))
    return effects


def decline(records: MasterRecords, framework: FrameworkRecord, call: dict, *, monotonic: float) -> list[Effect]:
    """``Master::decline``: each still-outstanding offer of this framework goes back to the pool, refused to
    the framework for ``filters.refuse_seconds``; other ids are ignored."""
    expires = monotonic + refuse_seconds(call.get("filters"))
    for offer_id in call.get("offer_ids") or []:
        offer = records.offers.get(offer_id["value"])
        if offer is None or offer.framework_id != framework.id:
            continue
        del records.offers[offer.id]
        framework.filters.append(RefuseFilter(offer.agent_id, offer.role, offer.resources, expires))
    return []


def revive(records: MasterRecords, framework: FrameworkRecord, call: dict) -> list[Effect]:
    """``Master::revive``: the roles named (all the framework's by default) are unsuppressed and their refuse
    filters dropped; an allocation round follows."""
    roles = set(call.get("roles") or framework.roles)
    framework.suppressed -= roles
    framework.filters = [f for f in framework.filters if f.role not in roles]
    return [AllocateSoon()]


def suppress(records: MasterRecords, framework: FrameworkRecord, call: dict) -> list[Effect]:
    """``Master::suppress``: no offers for the roles named (all the framework's by default) until a REVIVE."""
    framework.suppressed |= set(call.get("roles") or framework.roles)
    return []


# ------------------------------------------------------------------------------------------------
# Framework removal (TEARDOWN, failover timeout)
# ------------------------------------------------------------------------------------------------


def rescind(records: MasterRecords, offer: OfferRecord, *, notify: bool = True) -> list[Effect]:
    """The offer goes back to the pool; the framework is told (RESCIND) unless ``notify`` is False."""
    records.offers.pop(offer.id, None)
    if not notify:
        return []
    return [SendToFramework(offer.framework_id, {"type": "RESCIND", "rescind": {"offer_id": {"value": offer.id}}})]


def remove_framework(records: MasterRecords, framework: FrameworkRecord, now: float) -> list[Effect]:
    """``Master::removeFramework``: its live tasks become TASK_KILLED / REASON_FRAMEWORK_REMOVED in the records
    (not sent: there is no one to send them to), its offers go back, the agents shut it down, its stream ends
    and its id is refused from now on."""
    message = f"Framework {framework.id} removed"
    effects: list[Effect] = []
    for task in list(framework.tasks.values()) + list(framework.unreachable_tasks.values()):
        if task.state not in TERMINAL_STATES:
            status = master_status(framework.id, task.task_id, "TASK_KILLED", message, "REASON_FRAMEWORK_REMOVED",
                                   agent_id=task.agent_id, executor_id=task.executor_id or None, timestamp=now)
            effects.extend(update_task(task, status))
        task.holds_resources = False
        framework.complete(task)
    for offer in list(records.offers_of(framework_id=framework.id)):
        rescind(records, offer, notify=False)
    framework.executors.clear()   # removeFramework removes its executors and recovers their resources
    framework.connected = framework.active = False
    framework.stream_id = None
    framework.unregistered_time = now
    records.complete_framework(framework)
    return effects + [ShutdownOnAgents(framework.id), CloseFrameworkStream(framework.id),
                      FrameworkRemoved(framework.id)]


def teardown(records: MasterRecords, framework: FrameworkRecord, now: float) -> list[Effect]:
    """TEARDOWN: the framework is removed (``Master::teardown``)."""
    return remove_framework(records, framework, now)


# ------------------------------------------------------------------------------------------------
# The tick: failover timeouts, offer timeouts; the allocation round
# ------------------------------------------------------------------------------------------------


def expire(records: MasterRecords, *, monotonic: float, now: float, offer_timeout: float | None) -> list[Effect]:
    """What time alone decides: disconnected frameworks whose failover timeout elapsed are removed
    (``Master::frameworkFailoverTimeout``); offers outstanding for ``offer_timeout`` seconds are rescinded
    (``Master::offerTimeout``)."""
    effects: list[Effect] = []
    for framework in list(records.frameworks.values()):
        if not framework.connected and framework.failover_deadline is not None \
                and monotonic >= framework.failover_deadline:
            effects.extend(remove_framework(records, framework, now))
    if offer_timeout is not None:
        for offer in [o for o in records.offers.values() if monotonic - o.created >= offer_timeout]:
            effects.extend(rescind(records, offer))
    return effects


def _held(records: MasterRecords, *, agent_id: str | None = None, framework_id: str | None = None) -> Resources:
    """Resources used by tasks and executors or outstanding in offers (of one agent or one framework)."""
    return (total(resources_by_role(records.tasks(agent_id=agent_id, framework_id=framework_id)))
            + total(resources_by_role(records.executors(agent_id=agent_id, framework_id=framework_id)))
            + total(resources_by_role(records.offers_of(agent_id=agent_id, framework_id=framework_id))))


def offer_for(framework: FrameworkRecord, offer: dict) -> dict:
    """The Offer as ``framework`` is sent it (``Master::offer``): no ``allocation_info`` on the offer or its
    resources for a framework without MULTI_ROLE (MESOS-8237), and unreserved resources without ``role`` for one
    with RESERVATION_REFINEMENT (the post-refinement format)."""
    sent = copy.deepcopy(offer)
    capabilities = framework.capabilities
    if "MULTI_ROLE" not in capabilities:
        sent.pop("allocation_info", None)
        for resource in sent["resources"]:
            resource.pop("allocation_info", None)
    if "RESERVATION_REFINEMENT" in capabilities:
        for resource in sent["resources"]:
            if resource.get("role") == "*":
                del resource["role"]
    return sent


def allocation_round(records: MasterRecords, *, monotonic: float,
                     new_offer_id: Callable[[], str]) -> list[Effect]:
    """One round of the allocator (:func:`.allocator.allocate`): each reachable agent's unallocated resources
    go to one subscribed, active framework role that neither suppressed nor refused them, in DRF order; each
    framework gets one OFFERS event with its offers.

    :param new_offer_id: the id of the next offer (the master numbers them).
    """
    reachable = [a for a in records.reachable_agents() if a.active]   # deactivated agents are not offered
    agents = [AgentSlot(a.id, a.total - _held(records, agent_id=a.id), a.total.scalar("gpus") > 0) for a in reachable]
    frameworks = []
    for framework in records.frameworks.values():
        if not (framework.connected and framework.active and framework.stream_id is not None):
            continue
        framework.filters = [f for f in framework.filters if f.expires > monotonic]
        frameworks.append(FrameworkSlot(framework.id, framework.roles, set(framework.suppressed),
                                        "GPU_RESOURCES" in framework.capabilities, list(framework.filters),
                                        _held(records, framework_id=framework.id)))
    capacity = Resources()
    for agent in reachable:
        capacity = capacity + agent.total
    batches: dict[str, list[dict]] = {}
    for grant in allocate(agents, frameworks, capacity, monotonic):
        agent = records.agents[grant.agent_id]
        offer_id = new_offer_id()
        offer = {
            "id": {"value": offer_id}, "framework_id": {"value": grant.framework_id},
            "agent_id": {"value": grant.agent_id}, "hostname": agent.hostname,
            "url": {"scheme": "http", "address": {"hostname": agent.hostname, "ip": urlsplit(agent.url).hostname,
                                                  "port": agent.port},
                    "path": "/slave(1)"},
            "allocation_info": {"role": grant.role},
            "resources": grant.resources.to_json(grant.role),
            "attributes": list(agent.attributes),
        }
        # Master::offer: the ids of the framework's executors running on the agent.
        executor_ids = [{"value": e.executor_id}
                        for e in records.executors(agent_id=grant.agent_id, framework_id=grant.framework_id)]
        if executor_ids:
            offer["executor_ids"] = executor_ids
        records.offers[offer_id] = OfferRecord(offer_id, grant.framework_id, grant.agent_id, grant.role,
                                               grant.resources, monotonic, offer)
        batches.setdefault(grant.framework_id, []).append(offer_for(records.frameworks[grant.framework_id], offer))
    return [SendToFramework(framework_id, {"type": "OFFERS", "offers": {"offers": offers}})
            for framework_id, offers in batches.items()]


# ------------------------------------------------------------------------------------------------
# Status updates
# ------------------------------------------------------------------------------------------------

_CHECK_REASONS = frozenset({"REASON_TASK_CHECK_STATUS_UPDATED", "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED"})


def update_task(task: TaskRecord, status: dict) -> list[Effect]:
    """``Master::updateTask``: record ``status`` on the task.

    A terminal task keeps its state.  The statuses keep the latest one per run of equal states (a status of
    the state the last one has replaces it, so a re-sent update is recorded once), without ``data``; a new
    state is reported to operator streams (TASK_UPDATED), as is every (health) check update.  Resources are
    free once the task is terminal or unreachable.
    """
    state = status["state"]
    if task.state not in TERMINAL_STATES:
        task.state = state
    recorded = {key: value for key, value in status.items() if key != "data"}
    effects: list[Effect] = []
    if task.statuses and task.statuses[-1].get("state") == state:
        task.statuses[-1] = recorded
        if status.get("reason") in _CHECK_REASONS:
            effects.append(TaskUpdated(task.framework_id, recorded, task.state))
    else:
        task.statuses.append(recorded)
        effects.append(TaskUpdated(task.framework_id, recorded, task.state))
    task.latest = recorded
    if task.state in TERMINAL_STATES or task.state == "TASK_UNREACHABLE":
        task.holds_resources = False
    return effects


def status_update(records: MasterRecords, framework_id: str, status: dict) -> list[Effect]:
    """An agent's status update (``Master::statusUpdate``): recorded on the task the master knows (live or
    unreachable), and forwarded to the framework.  A terminal update without a uuid is never acknowledged,
    so its task is completed at once."""
    framework = records.frameworks.get(framework_id)
    if framework is None:
        return []
    task_id = status["task_id"]["value"]
    task = framework.tasks.get(task_id) or framework.unreachable_tasks.get(task_id)
    effects: list[Effect] = []
    if task is not None:
        effects.extend(update_task(task, status))
        if task.state in TERMINAL_STATES and status.get("uuid") is None:
            framework.complete(task)
    effects.append(SendToFramework(framework.id, update_event(status)))
    return effects


def acknowledge(records: MasterRecords, framework: FrameworkRecord, call: dict, uuid: bytes) -> list[Effect]:
    """ACKNOWLEDGE: relayed to the agent; the acknowledgement of a task's terminal update completes it
    (``Master::acknowledge``: the task is removed once its terminal update is acknowledged)."""
    agent_id = call["agent_id"]["value"]
    task_id = call["task_id"]["value"]
    if agent_id not in records.agents:
        return []
    task = framework.tasks.get(task_id)
    if task is not None and task.latest is not None and task.latest.get("uuid") == call.get("uuid") \
            and task.state in TERMINAL_STATES:
        framework.complete(task)
    return [AcknowledgeOnAgent(agent_id, framework.id, task_id, uuid)]


# ------------------------------------------------------------------------------------------------
# Executors: SHUTDOWN and MESSAGE calls, an executor's exit and its messages
# ------------------------------------------------------------------------------------------------


def shutdown_executor(records: MasterRecords, framework: FrameworkRecord, call: dict) -> list[Effect]:
    """SHUTDOWN (``Master::shutdown``): relayed to the agent if it is registered (and reachable: the
    embedded master's messages to an unreachable agent are lost); the agent decides the rest."""
    agent_id = call["agent_id"]["value"]
    agent = records.agents.get(agent_id)
    if agent is None or not agent.reachable:
        return []
    return [ShutdownExecutorOnAgent(agent_id, framework.id, call["executor_id"]["value"])]


def message_to_executor(records: MasterRecords, framework: FrameworkRecord, call: dict) -> list[Effect]:
    """MESSAGE (``Master::message``): relayed to the agent if it is registered and connected, else dropped."""
    agent_id = call["agent_id"]["value"]
    agent = records.agents.get(agent_id)
    if agent is None or not agent.reachable:
        return []
    return [MessageToExecutor(agent_id, framework.id, call["executor_id"]["value"], call["data"])]


def executor_exited(records: MasterRecords, agent_id: str, framework_id: str, executor_id: str,
                    status: int) -> list[Effect]:
    """``Master::exitedExecutor``: an executor the master knows on a registered agent is removed (its resources
    are free) and its connected framework gets FAILURE with the agent, executor and wait status.  Its tasks'
    updates come from the agent."""
    agent = records.agents.get(agent_id)
    if agent is None or not agent.reachable:
        return []
    framework = records.frameworks.get(framework_id)
    if framework is None or (agent_id, executor_id) not in framework.executors:
        return []
    del framework.executors[(agent_id, executor_id)]
    effects: list[Effect] = [AllocateSoon()]
    if framework.connected:
        effects.insert(0, SendToFramework(framework.id, {"type": "FAILURE", "failure": {
            "agent_id": {"value": agent_id}, "executor_id": {"value": executor_id}, "status": int(status)}}))
    return effects


def executor_message(records: MasterRecords, agent_id: str, framework_id: str, executor_id: str,
                     data: str) -> list[Effect]:
    """``Master::executorMessage``: from a registered agent, to the framework as a MESSAGE event (if it is
    known and connected)."""
    agent = records.agents.get(agent_id)
    framework = records.frameworks.get(framework_id)
    if agent is None or not agent.reachable or framework is None or not framework.connected:
        return []
    return [SendToFramework(framework.id, {"type": "MESSAGE", "message": {
        "agent_id": {"value": agent_id}, "executor_id": {"value": executor_id}, "data": data}})]


# ------------------------------------------------------------------------------------------------
# Agents
# ------------------------------------------------------------------------------------------------


def add_agent(records: MasterRecords, agent: AgentRecord) -> list[Effect]:
    """An agent registered (``Master::addSlave``); its resources are offered at the next round."""
    records.agents[agent.id] = agent
    return [AgentAdded(agent.id), AllocateSoon()]


def _send_master_update(framework: FrameworkRecord, task: TaskRecord, state: str, message: str, reason: str,
                        now: float, *, record: bool, unreachable_time: dict | None = None) -> list[Effect]:
    status = master_status(framework.id, task.task_id, state, message, reason, agent_id=task.agent_id,
                           executor_id=task.executor_id or None, timestamp=now, unreachable_time=unreachable_time)
    effects = update_task(task, status) if record else []
    return effects + [SendToFramework(framework.id, update_event(status))]


def mark_unreachable(records: MasterRecords, agent_id: str, *, now: float,
                     message: str = "health check timed out") -> list[Effect]:
    """``Master::markUnreachable`` / ``__removeSlave``: the agent's live tasks become TASK_UNREACHABLE
    (PARTITION_AWARE) or TASK_LOST with REASON_AGENT_REMOVED and the time, and move to the unreachable tasks;
    its terminal ones complete; its offers are rescinded; every framework gets a FAILURE."""
    agent = records.agents.get(agent_id)
    if agent is None or not agent.reachable:
        return []
    agent.reachable = False
    agent.unreachable_time = now
    unreachable_time = time_info(now)
    effects: list[Effect] = []
    for framework in records.frameworks.values():
        for task in [t for t in framework.tasks.values() if t.agent_id == agent_id]:
            if task.state in TERMINAL_STATES:
                framework.complete(task)
                continue
            state = "TASK_UNREACHABLE" if framework.partition_aware else "TASK_LOST"
            effects.extend(_send_master_update(framework, task, state, message, "REASON_AGENT_REMOVED", now,
                                               record=True, unreachable_time=unreachable_time))
            task.holds_resources = False
            task.unreachable_time = unreachable_time
            del framework.tasks[task.task_id]
            framework.unreachable_tasks[task.task_id] = task
        # __removeSlave removes the agent's executors too; a re-registration reports them again.
        for key in [k for k in framework.executors if k[0] == agent_id]:
            del framework.executors[key]
    for offer in list(records.offers_of(agent_id=agent_id)):
        effects.extend(rescind(records, offer))
    for framework in records.frameworks.values():
        effects.append(SendToFramework(framework.id, {"type": "FAILURE", "failure": {"agent_id": {"value": agent_id}}}))
    effects.append(AgentRemoved(agent_id))
    return effects


def agent_reregistered(records: MasterRecords, agent_id: str, live_tasks: list[dict], *, now: float,
                       monotonic: float, executors: list[dict] | None = None) -> list[Effect]:
    """An agent came back (after a restart or a healed partition) reporting ``live_tasks``
    (``[{framework_id, task_id, state}]``) and ``executors`` (the ExecutorInfos of its custom executors,
    ``ReregisterSlaveMessage.executor_infos``).

    The agent's executors become what it reports, for frameworks the master knows: reported ones are
    (re)added with their resources (``__reregisterSlave`` / ``reconcileKnownSlave``), others removed.

    Unreachable before: its reported tasks are re-added in their latest state (each framework is told, with
    REASON_AGENT_REREGISTERED), its other unreachable tasks are forgotten (``_reregisterSlave``;
    reconciliation then answers TASK_GONE for them).  Reachable before: tasks the master holds that it does not
    report become TASK_DROPPED (PARTITION_AWARE) or TASK_LOST (the agent's ``reconcileTasks``).
    """
    agent = records.agents[agent_id]
    reported = {(t["framework_id"], t["task_id"]): t for t in live_tasks}
    was_unreachable = not agent.reachable
    effects: list[Effect] = []
    for framework in records.frameworks.values():
        if was_unreachable:
            for task in [t for t in framework.unreachable_tasks.values() if t.agent_id == agent_id]:
                del framework.unreachable_tasks[task.task_id]
                live = reported.get((framework.id, task.task_id))
                if live is None:
                    continue
                # In its latest state, terminal too when it ended during a partition and its update is still
                # unacknowledged (the agent resends that update next).
                task.state, task.unreachable_time = live["state"], None
                task.holds_resources = live["state"] not in TERMINAL_STATES
                framework.tasks[task.task_id] = task
                effects.extend(_send_master_update(framework, task, live["state"], "Unreachable agent re-reregistered",
                                                   "REASON_AGENT_REREGISTERED", now, record=False))
        else:
            for task in [t for t in framework.tasks.values() if t.agent_id == agent_id]:
                if task.state in TERMINAL_STATES or (framework.id, task.task_id) in reported:
                    continue
                state = "TASK_DROPPED" if framework.partition_aware else "TASK_LOST"
                effects.extend(_send_master_update(framework, task, state, "Reconciliation: task unknown to the agent",
                                                   "REASON_RECONCILIATION", now, record=True))
                framework.complete(task)
    if executors is not None:
        for framework in records.frameworks.values():
            for key in [k for k in framework.executors if k[0] == agent_id]:
                del framework.executors[key]
        for info in executors:
            framework = records.frameworks.get(info["framework_id"]["value"])
            if framework is None:
                continue
            role = next((r["allocation_info"]["role"] for r in info.get("resources") or [] if "allocation_info" in r),
                        framework.roles[0] if framework.roles else "*")
            executor_id = info["executor_id"]["value"]
            framework.executors[(agent_id, executor_id)] = ExecutorRecord(
                framework.id, agent_id, executor_id, info, role,
                Resources.from_json(info.get("resources") or [], "resources"))
    agent.reachable = True
    agent.unreachable_time = None
    agent.reregistered_time = now
    agent.last_pong = monotonic
    if was_unreachable:
        effects.append(AgentAdded(agent_id))
    effects.append(AllocateSoon())
    return effects


# ------------------------------------------------------------------------------------------------
# SUBSCRIBE, a stream's end, UPDATE_FRAMEWORK
# ------------------------------------------------------------------------------------------------


@dataclass
class Subscribed:
    """What :func:`subscribe` decided: the framework (None when refused, then ``error`` says why)."""

    framework: FrameworkRecord | None
    error: str | None
    effects: list[Effect]


def subscribe(records: MasterRecords, info: dict, suppressed_roles: list[str], *, stream_id: str, now: float,
              new_framework_id: Callable[[], str]) -> Subscribed:
    """SUBSCRIBE (``Master::subscribe`` / ``_subscribe``): ``validateFramework`` (roles, framework id,
    suppressed roles, removed, failover timeout), then a new framework, or the known one failing over to this
    stream (its old stream gets ERROR "Framework failed over" and ends).  A re-subscription keeps the
    framework's user and checkpoint (``preserveImmutableFields``) and may not change its principal.
    An unknown id is taken as given (Mesos recovers such a framework).
    """
    error = validate_framework_info(info, suppressed_roles, records.removed_framework_ids)
    framework_id = (info.get("id") or {}).get("value")
    existing = records.frameworks.get(framework_id) if framework_id else None
    if error is None and existing is not None:
        preserved = {**info, "user": existing.info.get("user", ""),
                     "checkpoint": existing.info.get("checkpoint", False)}
        error = validate_framework_update(existing.info, preserved)
        info = preserved
    if error is not None:
        return Subscribed(None, error, [])
    effects: list[Effect] = []
    if existing is not None:
        if existing.stream_id is not None:
            effects.append(SendToFramework(existing.id, {"type": "ERROR", "error": {"message": "Framework failed over"}}))
            effects.append(CloseFrameworkStream(existing.id))
        for offer in list(records.offers_of(framework_id=existing.id)):
            rescind(records, offer, notify=False)
        existing.info = info
        existing.roles = framework_roles(info)
        existing.reregistered_time = now
        framework = existing
        effects.append(FrameworkUpdated(framework.id))
    else:
        framework_id = framework_id or new_framework_id()
        info = {**info, "id": {"value": framework_id}}
        framework = FrameworkRecord(framework_id, info, framework_roles(info), set(), now)
        records.frameworks[framework_id] = framework
        effects.append(FrameworkAdded(framework.id))
    info.setdefault("failover_timeout", 0.0)
    info.setdefault("checkpoint", False)
    framework.suppressed = set(suppressed_roles)
    framework.stream_id = stream_id
    framework.connected = framework.active = True
    framework.failover_deadline = None
    effects.append(AllocateSoon())
    return Subscribed(framework, None, effects)


def disconnect(records: MasterRecords, framework: FrameworkRecord, *, now: float, monotonic: float) -> list[Effect]:
    """The framework's stream ended (``Master::disconnect`` / ``deactivate``): inactive, its offers back in the
    pool, removed if it does not re-subscribe within its failover timeout."""
    framework.stream_id = None
    framework.connected = framework.active = False
    framework.unregistered_time = now
    for offer in list(records.offers_of(framework_id=framework.id)):
        rescind(records, offer, notify=False)
    framework.failover_deadline = monotonic + float(framework.info.get("failover_timeout") or 0.0)
    return [FrameworkUpdated(framework.id)]


def update_framework(records: MasterRecords, framework: FrameworkRecord, call: dict) -> tuple[int, str, list[Effect]]:
    """UPDATE_FRAMEWORK (``Master::updateFramework``): the new FrameworkInfo and suppressed roles replace the
    old ones (name, webui_url, capabilities, roles, labels, failover_timeout ...); offers of roles the
    framework left are rescinded.  Answers (status, body): 400 "Supplied FrameworkInfo is not valid: …" or
    "FrameworkInfo update is not valid: …" (user, checkpoint and principal cannot change), else 200."""
    info = dict(call["framework_info"])
    suppressed = list(call.get("suppressed_roles") or [])
    error = validate_framework_info(info, suppressed)
    if error is not None:
        return 400, f"Supplied FrameworkInfo is not valid: {error}", []
    error = validate_framework_update(framework.info, info)
    if error is not None:
        return 400, f"FrameworkInfo update is not valid: {error}", []
    changed = info != framework.info
    roles = framework_roles(info)
    effects: list[Effect] = []
    for offer in list(records.offers_of(framework_id=framework.id)):
        if offer.role not in roles:
            effects.extend(rescind(records, offer))
    framework.info = info
    framework.roles = roles
    framework.suppressed = set(suppressed)
    framework.filters = [f for f in framework.filters if f.role in roles]
    if changed:
        effects.append(FrameworkUpdated(framework.id))
    effects.append(AllocateSoon())
    return 200, "", effects


# ------------------------------------------------------------------------------------------------
# Operator calls: DEACTIVATE_AGENT, REACTIVATE_AGENT
# ------------------------------------------------------------------------------------------------


def deactivate_agent(records: MasterRecords, agent_id: str) -> tuple[int, str, list[Effect]]:
    """``Master::Http::_deactivateAgent`` and ``Master::deactivate``: no more offers of the agent, and its
    outstanding offers are rescinded (each framework gets a RESCIND); its tasks keep running.  An agent the
    master does not know (registered, unreachable or recovered) is a 400 "Unknown agent"."""
    agent = records.agents.get(agent_id)
    if agent is None:
        return 400, "Unknown agent", []
    agent.deactivated = True
    effects: list[Effect] = []
    for offer in list(records.offers_of(agent_id=agent_id)):
        effects.extend(rescind(records, offer))
    return 200, "", effects


def reactivate_agent(records: MasterRecords, agent_id: str) -> tuple[int, str, list[Effect]]:
    """``Master::Http::_reactivateAgent``: offers of the agent again; 400 "Agent is not deactivated" unless it is,
    409 when it is not registered any more (unreachable: it is reactivated when it re-registers)."""
    agent = records.agents.get(agent_id)
    if agent is None or not agent.deactivated:
        return 400, "Agent is not deactivated", []
    agent.deactivated = False
    if not agent.reachable:
        return 409, "Agent removed while processing the call", []
    return 200, "", [AllocateSoon()]
