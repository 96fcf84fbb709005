"""The embedded master's records: what it knows about frameworks, tasks, offers and agents, as plain data.

No locks, no threads, no sockets: the :class:`~airflow_mesos.local.master.Master` owns one
:class:`MasterRecords` and changes it under its lock; the views (:mod:`.master_views`) render a
:class:`MasterView` of it and the pure core (:mod:`.master_core`) decides on it.  Allocated and offered
resources are summed in one place, :func:`resources_by_role`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from airflow_mesos.local.allocator import RefuseFilter, Resources
from airflow_mesos.local.validation import capabilities

MAX_COMPLETED_TASKS = 1000
"""Per framework, like the master's ``--max_completed_tasks_per_framework`` default."""

MAX_COMPLETED_FRAMEWORKS = 50
"""Like the master's ``--max_completed_frameworks`` default."""


@dataclass
class TaskRecord:
    """A task as the master knows it (``Task`` in Mesos): no command, environment or docker parameters.

    ``container`` is already the public part of the ContainerInfo (:func:`.views_common.public_container`).
    ``holds_resources`` is False once the task is terminal (or its agent unreachable): its resources are free.
    """

    framework_id: str
    agent_id: str
    task_id: str
    name: str
    executor_id: str
    role: str
    resources: Resources
    state: str = "TASK_STAGING"
    statuses: list[dict] = field(default_factory=list)
    latest: dict | None = None
    holds_resources: bool = True
    labels: dict | None = None
    discovery: dict | None = None
    container: dict | None = None
    user: str | None = None
    unreachable_time: dict | None = None


@dataclass
class ExecutorRecord:
    """A custom executor the master knows on an agent (``Slave::executors`` / ``Framework::executors``).

    ``info`` is the ExecutorInfo as the first task that launched it carried it (framework id filled in,
    allocation_info injected); ``resources`` are its own, charged once, from that launch until the agent
    reports it exited (``Master::addExecutor`` / ``removeExecutor``).
    """

    framework_id: str
    agent_id: str
    executor_id: str
    info: dict
    role: str
    resources: Resources


@dataclass
class OfferRecord:
    """An outstanding offer; ``json`` is the Offer as it was sent, ``created`` the master's monotonic time."""

    id: str
    framework_id: str
    agent_id: str
    role: str
    resources: Resources
    created: float
    json: dict


@dataclass
class FrameworkRecord:
    """A framework the master knows (registered, or disconnected within its failover timeout).

    ``stream_id`` is the ``Mesos-Stream-Id`` of its current SUBSCRIBE connection (None while disconnected);
    ``failover_deadline`` is in the master's monotonic time.
    """

    id: str
    info: dict
    roles: list[str]
    suppressed: set[str]
    registered_time: float
    stream_id: str | None = None
    connected: bool = True
    active: bool = True
    reregistered_time: float | None = None
    unregistered_time: float | None = None
    failover_deadline: float | None = None
    tasks: dict[str, TaskRecord] = field(default_factory=dict)
    unreachable_tasks: dict[str, TaskRecord] = field(default_factory=dict)
    completed_tasks: list[TaskRecord] = field(default_factory=list)
    filters: list[RefuseFilter] = field(default_factory=list)
    # Its custom executors, by (agent id, executor id).
    executors: dict[tuple[str, str], ExecutorRecord] = field(default_factory=dict)

    @property
    def capabilities(self) -> set[str]:
        return capabilities(self.info)

    @property
    def partition_aware(self) -> bool:
        return "PARTITION_AWARE" in self.capabilities

    def complete(self, task: TaskRecord) -> None:
        """Move ``task`` to the completed tasks (bounded, oldest dropped first)."""
        self.tasks.pop(task.task_id, None)
        self.unreachable_tasks.pop(task.task_id, None)
        self.completed_tasks.append(task)
        del self.completed_tasks[:-MAX_COMPLETED_TASKS]

    def remembered_tasks(self) -> Iterator[TaskRecord]:
        """Every task the master remembers of this framework: live, unreachable, completed."""
        yield from self.tasks.values()
        yield from self.unreachable_tasks.values()
        yield from self.completed_tasks


@dataclass
class AgentRecord:
    """A registered agent: its ``SlaveInfo`` (hostname, port, resources and attributes as it declared them), its
    total as :class:`Resources`, and its reachability.  ``last_pong`` is the master's monotonic time."""

    id: str
    hostname: str
    port: int
    pid: str
    url: str
    resources: list[dict]
    attributes: list[dict]
    total: Resources
    registered_time: float
    last_pong: float
    reachable: bool = True
    reregistered_time: float | None = None
    unreachable_time: float | None = None
    # DEACTIVATE_AGENT: no offers of it until REACTIVATE_AGENT (also across unreachability and re-registration).
    deactivated: bool = False

    @property
    def active(self) -> bool:
        """Registered, reachable and not deactivated: its resources are offered (``Slave::active``)."""
        return self.reachable and not self.deactivated


@dataclass
class MasterRecords:
    """Everything the master keeps about its cluster (its "books")."""

    frameworks: dict[str, FrameworkRecord] = field(default_factory=dict)
    completed_frameworks: list[FrameworkRecord] = field(default_factory=list)
    removed_framework_ids: set[str] = field(default_factory=set)
    agents: dict[str, AgentRecord] = field(default_factory=dict)
    offers: dict[str, OfferRecord] = field(default_factory=dict)
    # Agents a failed-over master knows from its registry that have not re-registered yet (``slaves.recovered``).
    # The embedded master has no registry: after a fail-over it keeps its agents registered, so this stays empty.
    recovered_agents: set[str] = field(default_factory=set)
    # Agents an operator marked gone (``slaves.gone``: agent id -> when), which never come back.
    gone_agents: dict[str, float] = field(default_factory=dict)

    def all_frameworks(self) -> list[FrameworkRecord]:
        """Registered frameworks, then completed ones."""
        return list(self.frameworks.values()) + list(self.completed_frameworks)

    def tasks(self, *, agent_id: str | None = None, framework_id: str | None = None) -> Iterator[TaskRecord]:
        """The tasks of registered frameworks that are not unreachable or completed (``Framework::tasks``)."""
        for framework in self.frameworks.values():
            if framework_id is not None and framework.id != framework_id:
                continue
            for task in framework.tasks.values():
                if agent_id is None or task.agent_id == agent_id:
                    yield task

    def executors(self, *, agent_id: str | None = None, framework_id: str | None = None) -> Iterator[ExecutorRecord]:
        """The custom executors of registered frameworks (on one agent, of one framework)."""
        for framework in self.frameworks.values():
            if framework_id is not None and framework.id != framework_id:
                continue
            for executor in framework.executors.values():
                if agent_id is None or executor.agent_id == agent_id:
                    yield executor

    def offers_of(self, *, agent_id: str | None = None, framework_id: str | None = None) -> Iterator[OfferRecord]:
        for offer in self.offers.values():
            if (agent_id is None or offer.agent_id == agent_id) and \
                    (framework_id is None or offer.framework_id == framework_id):
                yield offer

    def reachable_agents(self) -> list[AgentRecord]:
        return [a for a in self.agents.values() if a.reachable]

    def complete_framework(self, framework: FrameworkRecord) -> None:
        """Move a removed framework to the completed ones (bounded) and refuse its id from now on."""
        del self.frameworks[framework.id]
        self.completed_frameworks.append(framework)
        del self.completed_frameworks[:-MAX_COMPLETED_FRAMEWORKS]
        self.removed_framework_ids.add(framework.id)


def resources_by_role(holders: Iterable[TaskRecord | OfferRecord | ExecutorRecord]) -> dict[str, Resources]:
    """Resources per allocation role of tasks that hold resources, of executors and of offers: the one place
    the master's allocated (used) and offered resources are summed."""
    sums: dict[str, Resources] = {}
    for holder in holders:
        if isinstance(holder, TaskRecord) and not holder.holds_resources:
            continue
        sums[holder.role] = sums.get(holder.role, Resources()) + holder.resources
    return sums


def total(by_role: Mapping[str, Resources]) -> Resources:
    """The sum of a :func:`resources_by_role` breakdown."""
    out = Resources()
    for resources in by_role.values():
        out = out + resources
    return out


@dataclass(frozen=True)
class MasterView:
    """What a view renders: the master's identity and configuration, and its records.

    Built by the master under its lock and rendered there, so the records are consistent; nothing in a view
    takes a lock or reads the :class:`Master` itself.
    """

    id: str
    pid: str
    hostname: str
    port: int
    start_time: float
    elected: bool
    master_info: dict
    flags: Mapping[str, str]
    heartbeat_interval: float
    records: MasterRecords
    operator_subscribers: int = 0
