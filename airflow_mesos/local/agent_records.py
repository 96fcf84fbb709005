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
    # The custom executor that runs it (ExecutorInfo.executor_id); None for a command task, whose executor is
    # the agent's own, one per task, with the task's id.
    executor_id: str | None = None

    @property
    def task_id(self) -> str:
        return self.task_info["task_id"]["value"]


REGISTERING, RUNNING, TERMINATING, TERMINATED = "REGISTERING", "RUNNING", "TERMINATING", "TERMINATED"
"""``Executor::State`` of src/slave/slave.hpp."""


@dataclass(eq=False)
class AgentExecutor:
    """A custom executor on this agent (``Slave::Executor``): one run of it, its container, its tasks.

    Tasks wait in ``queued_tasks`` until the executor subscribes, then are LAUNCHed and move to
    ``launched_tasks``; a terminal update moves one to ``terminated_tasks``, and the acknowledgement of that
    update to ``completed_tasks`` (``Executor::completeTask``).  ``stream`` is the executor's SUBSCRIBE
    connection (an :class:`~airflow_mesos.local.event_stream.EventStream`) while it has one.
    ``pending_termination`` is what the agent decided before destroying it (registration timeout): the state,
    reason and message its tasks get (``Executor::pendingTermination``).  Deadlines are in the agent's
    monotonic time.
    """

    framework_id: str
    info: dict
    container_id: str
    directory: Path
    epoch: int
    state: str = REGISTERING
    queued_tasks: dict[str, AgentTask] = field(default_factory=dict)
    launched_tasks: dict[str, AgentTask] = field(default_factory=dict)
    terminated_tasks: dict[str, AgentTask] = field(default_factory=dict)
    completed_tasks: list[AgentTask] = field(default_factory=list)
    stream: object | None = None
    ever_sent_task: bool = False
    kind: str | None = None  # "process" | "mesos" | "docker", once planned
    registration_deadline: float | None = None
    shutdown_deadline: float | None = None
    next_heartbeat: float | None = None
    pending_termination: dict | None = None
    exit_status: int | None = None  # the wait status, once it terminated
    destroyed: bool = False  # the agent destroyed its container (registration timeout, shutdown grace)
    # The container's limits follow its tasks (docker update) on one resizer thread: whether it runs, whether
    # a change waits for it, and the tasks to LAUNCH once a resize that counted them is done.
    resizing: bool = False
    resize_pending: bool = False
    pending_launches: list[str] = field(default_factory=list)
    removed: bool = False  # terminated and every task completed: a completed executor

    @property
    def id(self) -> str:
        return self.info["executor_id"]["value"]

    def incomplete_tasks(self) -> bool:
        """``Executor::incompleteTasks``: queued, launched or terminated-but-unacknowledged tasks."""
        return bool(self.queued_tasks or self.launched_tasks or self.terminated_tasks)

    def live_tasks(self) -> list[AgentTask]:
        """Its tasks that hold resources: queued and launched ones."""
        return list(self.queued_tasks.values()) + list(self.launched_tasks.values())

    def task_update(self, task: AgentTask, state: str) -> None:
        """``Executor::updateTaskState``: the task's new state; a terminal one moves it to the terminated."""
        task.state = state
        if state in _TERMINAL:
            queued = self.queued_tasks.pop(task.task_id, None)
            launched = self.launched_tasks.pop(task.task_id, None)
            if queued is not None or launched is not None:   # not again once it is completed
                self.terminated_tasks[task.task_id] = task

    def complete_task(self, task_id: str) -> None:
        """The terminal update of the task was acknowledged (``Executor::completeTask``)."""
        task = self.terminated_tasks.pop(task_id, None)
        if task is not None:
            self.completed_tasks.append(task)
            del self.completed_tasks[:-MAX_COMPLETED_TASKS_PER_EXECUTOR]


MAX_COMPLETED_TASKS_PER_EXECUTOR = 200
"""``MAX_COMPLETED_TASKS_PER_EXECUTOR`` of src/slave/constants.hpp."""

_TERMINAL = frozenset({"TASK_FINISHED", "TASK_FAILED", "TASK_KILLED", "TASK_ERROR", "TASK_LOST", "TASK_DROPPED",
                       "TASK_GONE", "TASK_GONE_BY_OPERATOR"})


def executor_terminated_update(executor: AgentExecutor, termination: dict | None) -> dict:
    """``Slave::sendExecutorTerminatedStatusUpdate``: the (state, reason, message) every non-terminal task of an
    executor that terminated gets, from the containerizer's termination (``{state, reason, message}``, any of
    them) and the agent's ``pending_termination``: the termination's state/reason first, then the pending
    one's, else TASK_FAILED / REASON_EXECUTOR_TERMINATED; the messages of both joined by "; ", else
    "Executor terminated".  (Mesos' comment speaks of TASK_GONE; its code sends TASK_FAILED.)"""
    termination = termination or {}
    pending = executor.pending_termination or {}
    state = termination.get("state") or pending.get("state") or "TASK_FAILED"
    reason = termination.get("reason") or pending.get("reason") or "REASON_EXECUTOR_TERMINATED"
    messages = [m for m in (pending.get("message"), termination.get("message")) if m]
    return {"state": state, "reason": reason, "message": "; ".join(messages) if messages else "Executor terminated"}


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
    executors: Mapping[tuple[str, str], AgentExecutor] = field(default_factory=dict)
    completed_executor_runs: tuple[AgentExecutor, ...] = ()

    def framework_of(self, task: AgentTask) -> AgentFramework | None:
        return self.frameworks.get(task.framework_id) or self.completed_frameworks.get(task.framework_id)
