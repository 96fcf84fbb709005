"""An embedded agent's records: the frameworks and tasks it runs, as plain data, and the view of them.

The :class:`~airflow_mesos.local.agent.Agent` owns them and changes them under its lock; what runs a
task (its process or container, its runner thread) stays in the agent.  :mod:`.agent_views` renders an
:class:`AgentView`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from airflow_mesos.local.allocator import Resources


@dataclass
class AgentTask:
    """One task the agent was asked to run (its executor run, in Mesos' terms).

    ``statuses`` are the agent's own short entries (state, timestamp, container_status) per update it
    generated; ``has_container`` is True from the moment a containerizer holds a run for it.
    """

    framework_id: str
    task_info: dict
    container_id: str
    directory: Path
    epoch: int
    resources: Resources = field(default_factory=Resources)
    state: str = "TASK_STAGING"
    statuses: list[dict] = field(default_factory=list)
    kind: str | None = None  # "docker" | "mesos" | "process", once planned
    kill_grace: float | None = None
    killed: bool = False
    has_container: bool = False
    terminated: bool = False  # the run has ended (terminal update generated)
    completed: bool = False  # terminal update acknowledged
    # TaskInfo.max_completion_time: when (agent's monotonic clock) the executor kills the task, and whether it did.
    completion_deadline: float | None = None
    completion_timed_out: bool = False

    @property
    def task_id(self) -> str:
        return self.task_info["task_id"]["value"]


@dataclass
class AgentFramework:
    """A framework with tasks on this agent; ``removed`` once the master shut it down here."""

    info: dict
    removed: bool = False

    @property
    def id(self) -> str:
        return self.info["id"]["value"]

    def capable(self, capability: str) -> bool:
        return any(c.get("type") == capability for c in self.info.get("capabilities", []))


def overdue(tasks: Iterable[AgentTask], now: float) -> list[AgentTask]:
    """The tasks whose ``max_completion_time`` has passed at ``now`` and that are still running (the executors'
    ``taskCompletionTimeout``): they are to be killed, and reported TASK_FAILED."""
    return [t for t in tasks if t.completion_deadline is not None and now >= t.completion_deadline
            and not t.terminated and not t.completion_timed_out]


def next_completion_deadline(tasks: Iterable[AgentTask]) -> float | None:
    """The earliest ``max_completion_time`` deadline still to come, if any."""
    deadlines = [t.completion_deadline for t in tasks
                 if t.completion_deadline is not None and not t.terminated and not t.completion_timed_out]
    return min(deadlines) if deadlines else None


def executor_completed(framework: AgentFramework | None, task: AgentTask) -> bool:
    """Whether the agent lists this task's executor as completed: its terminal update was acknowledged, or
    its framework was removed and the run ended."""
    return bool(task.completed or (framework is not None and framework.removed and task.terminated))


@dataclass(frozen=True)
class AgentView:
    """What an agent's views render: its identity, what it offers, its flags and its records.

    Built by the agent under its lock; nothing in a view reads the :class:`Agent` itself.
    """

    id: str
    hostname: str
    port: int
    pid: str
    start_time: float
    registered: bool
    resources: list[dict]
    attributes: Mapping[str, str | float]
    attribute_list: list[dict]
    total: Resources
    flags: Mapping[str, str]
    frameworks: Mapping[str, AgentFramework]
    completed_frameworks: Mapping[str, AgentFramework]
    tasks: Mapping[tuple[str, str], AgentTask]

    def framework_of(self, task: AgentTask) -> AgentFramework | None:
        return self.frameworks.get(task.framework_id) or self.completed_frameworks.get(task.framework_id)
