"""What a Mesos task status means for Airflow: one table, no I/O.

Every ``mesos.v1.TaskState`` has a row in :data:`STATE_TABLE` saying what the
executor does with it:

- ``PENDING``: the task is on its way (staging, starting, being killed); nothing
  to tell Airflow yet.
- ``RUNNING``: the worker runs; Airflow hears ``running`` once.
- ``SUCCESS``: the worker process exited 0.  (``execute_workload`` exits 0 also
  when the task itself failed: the worker reports the task's own result through
  the Execution API; the executor only says whether the process ran to its end.)
- ``FAILED``: the task is gone without finishing; Airflow fails this try and
  retries it per the task's ``retries``.
- ``UNREACHABLE``: the agent is partitioned; the task may still run.  The
  executor waits ``[mesos] unreachable_grace`` for it to come back before it
  fails the try.
- ``RELAUNCH``: Mesos refused the launch before anything ran because the offer
  was no longer valid (rescinded, or taken by a master failover), or the task's
  executor ended before the task ran (at most ``MAX_EXECUTOR_RELAUNCHES`` times).
  The task goes back to waiting for an offer; Airflow's try is not spent on it.

Warm workers (tasks in a custom executor, ``[mesos] warm_workers``) go by the same
table.  When their executor process dies (killed, out of memory, crashed), the agent
ends each task it had not finished with ``TASK_FAILED`` (or ``TASK_LOST`` where the
agent cannot tell, and for frameworks that are not partition-aware) and
``REASON_EXECUTOR_TERMINATED``: that is FAILED, so the try fails and Airflow retries
it per the task's ``retries``; the executor's other tasks are not touched by it, and
the scheduler names the executor and its exit status (from Mesos' FAILURE event) in
the failure.  A warm task that an executor refused (``TaskInfo.data`` it could not
read) is ``TASK_FAILED`` from the executor, FAILED too.  ``REASON_EXECUTOR_REGISTRATION_TIMEOUT``
(the executor never came up: a bad image, no ``python3``) fails the tries of the
tasks that waited for it.  A kill (revoke) of a warm task goes to its executor, which
ends it with ``TASK_KILLED`` as the command executor would.

:data:`REASONS` turns Mesos' ``REASON_*`` codes into words for the task's event
log and log, so a data engineer reading "the container could not be launched"
does not need the Mesos proto at hand.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from airflow_mesos.mesos.events import TaskStatus

__all__ = ["Outcome", "StateRule", "STATE_TABLE", "REASONS", "Verdict", "judge", "describe"]


class Outcome(enum.Enum):
    PENDING = "pending"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    UNREACHABLE = "unreachable"
    RELAUNCH = "relaunch"


@dataclass(frozen=True)
class StateRule:
    outcome: Outcome
    meaning: str


STATE_TABLE: dict[str, StateRule] = {
    "TASK_STAGING": StateRule(Outcome.PENDING, "Mesos is preparing the task on the agent"),
    "TASK_STARTING": StateRule(Outcome.PENDING, "the task's container or process is starting"),
    "TASK_RUNNING": StateRule(Outcome.RUNNING, "the worker runs"),
    "TASK_KILLING": StateRule(Outcome.PENDING, "the task is being killed"),
    "TASK_FINISHED": StateRule(Outcome.SUCCESS, "the worker exited 0"),
    "TASK_FAILED": StateRule(Outcome.FAILED, "the task failed"),
    "TASK_KILLED": StateRule(Outcome.FAILED, "the task was killed"),
    "TASK_ERROR": StateRule(Outcome.FAILED, "Mesos refused the task description (TaskInfo)"),
    "TASK_LOST": StateRule(Outcome.FAILED, "Mesos lost the task"),
    "TASK_DROPPED": StateRule(Outcome.FAILED, "Mesos dropped the task before it started"),
    "TASK_UNREACHABLE": StateRule(Outcome.UNREACHABLE, "the task's agent cannot be reached; it may still run"),
    "TASK_GONE": StateRule(Outcome.FAILED, "the task's agent is gone and the task with it"),
    "TASK_GONE_BY_OPERATOR": StateRule(Outcome.FAILED, "an operator marked the task's agent as gone"),
    "TASK_UNKNOWN": StateRule(Outcome.FAILED, "Mesos does not know the task"),
}

# Launches that Mesos refused only because the offer went stale: nothing ran, so
# the task is placed again instead of spending an Airflow try.  The master sends
# these for an ACCEPT of a rescinded or unknown offer (master.cpp, _accept:
# TASK_DROPPED for PARTITION_AWARE frameworks, TASK_LOST otherwise).
_RELAUNCH = frozenset({("TASK_DROPPED", "REASON_INVALID_OFFERS"), ("TASK_LOST", "REASON_INVALID_OFFERS")})

# A task whose executor ended before the task ever ran: a LAUNCH that crossed a warm executor's idle
# exit (``executorTerminated`` fails the tasks it had not started), or a launch into an executor id whose
# previous run still had unacknowledged updates (``Slave::run`` drops it, TASK_LOST for frameworks that
# are not PARTITION_AWARE).  Nothing of the worker ran, so the task is placed again rather than spending
# one of the task's tries (with ``retries=0`` a data engineer would otherwise lose a run to an idle
# timer).  Only :data:`MAX_EXECUTOR_RELAUNCHES` times, so an executor that dies at every start fails the
# try with its reason instead of looping.  Once the task reached TASK_RUNNING its worker may have done
# work, and losing its executor is a failure of the try.
_RELAUNCH_IF_NEVER_STARTED = frozenset(
    (state, "REASON_EXECUTOR_TERMINATED") for state in ("TASK_FAILED", "TASK_LOST", "TASK_DROPPED", "TASK_GONE")
)
MAX_EXECUTOR_RELAUNCHES = 2

REASONS: dict[str, str] = {
    "REASON_COMMAND_EXECUTOR_FAILED": "the worker process failed",
    "REASON_CONTAINER_LAUNCH_FAILED": "the container could not be launched",
    "REASON_CONTAINER_LIMITATION": "the container exceeded a resource limit",
    "REASON_CONTAINER_LIMITATION_DISK": "the task used more disk than it asked for",
    "REASON_CONTAINER_LIMITATION_MEMORY": "the task ran out of memory (raise its mem)",
    "REASON_CONTAINER_PREEMPTED": "the container was preempted",
    "REASON_CONTAINER_UPDATE_FAILED": "the container's resources could not be updated",
    "REASON_MAX_COMPLETION_TIME_REACHED": "the task ran longer than its maximum completion time",
    "REASON_EXECUTOR_REGISTRATION_TIMEOUT": "the executor did not register in time",
    "REASON_EXECUTOR_REREGISTRATION_TIMEOUT": "the executor did not re-register in time",
    "REASON_EXECUTOR_TERMINATED": "the task's executor terminated (its process on the agent exited and took the "
                                  "task with it)",
    "REASON_EXECUTOR_UNREGISTERED": "the executor unregistered",
    "REASON_FRAMEWORK_REMOVED": "the framework was removed from Mesos",
    "REASON_GC_ERROR": "the agent could not clean up",
    "REASON_INVALID_FRAMEWORKID": "the task names an invalid framework",
    "REASON_INVALID_OFFERS": "the offer the task was launched on was no longer valid",
    "REASON_IO_SWITCHBOARD_EXITED": "the I/O switchboard exited",
    "REASON_MASTER_DISCONNECTED": "the agent lost its master",
    "REASON_RECONCILIATION": "reported by reconciliation",
    "REASON_RESOURCES_UNKNOWN": "the task's resources are unknown to the agent",
    "REASON_AGENT_DISCONNECTED": "the task's agent disconnected",
    "REASON_AGENT_REMOVED": "the task's agent was removed",
    "REASON_AGENT_REMOVED_BY_OPERATOR": "an operator removed the task's agent",
    "REASON_AGENT_REREGISTERED": "the task's agent re-registered without it",
    "REASON_AGENT_RESTARTED": "the task's agent restarted",
    "REASON_AGENT_UNKNOWN": "the task's agent is unknown",
    "REASON_TASK_CHECK_STATUS_UPDATED": "a task check changed",
    "REASON_TASK_HEALTH_CHECK_STATUS_UPDATED": "a health check changed",
    "REASON_TASK_GROUP_INVALID": "Mesos refused the task group",
    "REASON_TASK_GROUP_UNAUTHORIZED": "the framework may not launch this task group",
    "REASON_TASK_INVALID": "Mesos refused the task description (TaskInfo)",
    "REASON_TASK_KILLED_DURING_LAUNCH": "the task was killed while it launched",
    "REASON_TASK_UNAUTHORIZED": "the framework may not launch this task",
    "REASON_TASK_UNKNOWN": "Mesos does not know the task",
}


@dataclass(frozen=True)
class Verdict:
    """What one status update means: the outcome and a one-line explanation."""

    outcome: Outcome
    summary: str
    """E.g. ``TASK_FAILED (REASON_CONTAINER_LAUNCH_FAILED: the container could not be launched):
    Failed to launch container: image not found``."""


def describe(state: str, reason: str | None = None, message: str | None = None) -> str:
    """One line naming the Mesos state, reason and message, with the reason in words."""
    text = state
    if reason:
        words = REASONS.get(reason)
        text += f" ({reason}: {words})" if words else f" ({reason})"
    else:
        rule = STATE_TABLE.get(state)
        if rule is not None:
            text += f" ({rule.meaning})"
    if message:
        text += f": {message.strip()}"
    return text


def judge(status: TaskStatus, *, started: bool = False, executor_relaunches: int = 0) -> Verdict:
    """The outcome of one status update.

    ``started``: the task has reported TASK_RUNNING before; ``executor_relaunches``: how often it was
    already placed again because its executor ended before it ran.

    A state this table does not know (a newer Mesos) is PENDING: the executor
    keeps waiting rather than guess, and reconciliation settles it.
    """
    summary = describe(status.state, status.reason, status.message)
    if (status.state, status.reason) in _RELAUNCH:
        return Verdict(Outcome.RELAUNCH, summary)
    if ((status.state, status.reason) in _RELAUNCH_IF_NEVER_STARTED and not started
            and executor_relaunches < MAX_EXECUTOR_RELAUNCHES):
        return Verdict(Outcome.RELAUNCH, summary)
    rule = STATE_TABLE.get(status.state)
    if rule is None:
        return Verdict(Outcome.PENDING, summary)
    return Verdict(rule.outcome, summary)
