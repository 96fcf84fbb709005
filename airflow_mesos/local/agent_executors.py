"""The executor side of an embedded agent: custom executors, their v1 HTTP API and what happens to their tasks.

:class:`ExecutorHost` is mixed into :class:`~airflow_mesos.local.agent.Agent`; it follows the Mesos 1.11 agent
(``src/slave/slave.cpp``, ``src/slave/http.cpp``, ``include/mesos/v1/executor/executor.proto``):

- a task with an ``ExecutorInfo`` goes to the framework's executor of that id on this agent; the first one
  launches it (``Slave::launchExecutor``) as a host process or a container (:func:`.launch_planner.
  plan_executor_run`), with the ``MESOS_*`` environment of ``executorEnvironment``;
- tasks wait in the executor's queue until it SUBSCRIBEs on ``/api/v1/executor``, then go to it as LAUNCH
  events; later ones go to the running executor at once (``Slave::__run`` / ``___run``);
- an executor that does not subscribe within ``executor_registration_timeout`` is destroyed and its tasks
  fail with REASON_EXECUTOR_REGISTRATION_TIMEOUT (``registerExecutorTimeout``);
- its UPDATE calls go through the agent's status update manager to the master, and the executor gets
  ACKNOWLEDGED as soon as the agent has taken the update in (``___statusUpdate``: the status update manager
  handled it; the scheduler's acknowledgement is the manager's business, not the executor's);
- SHUTDOWN (from the scheduler, from a framework's removal) sends SHUTDOWN and destroys the container after
  the shutdown grace period (``_shutdownExecutor`` / ``shutdownExecutorTimeout``);
- when the executor terminates, its non-terminal tasks get the update ``sendExecutorTerminatedStatusUpdate``
  decides (:func:`.agent_records.executor_terminated_update`) and the master hears ``ExitedExecutorMessage``
  (``executorTerminated``).

Locks and threads as in the agent: the methods called by the master and the HTTP handlers change state under
the agent's lock and return at once; one runner thread per executor run starts it and waits for it; what the
agent tells the master (exited executors, executor messages) goes through the agent's outbox, which its
dispatcher thread sends without holding the lock.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
import uuid as uuid_module
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from airflow_mesos.local.agent_records import (
    REGISTERING,
    RUNNING,
    TERMINATED,
    TERMINATING,
    AgentExecutor,
    AgentFramework,
    AgentTask,
    executor_terminated_update,
)
from airflow_mesos.local.constants import is_terminal
from airflow_mesos.local.event_stream import EventStream
from airflow_mesos.local.http_util import APPLICATION_JSON, HttpReply, accepts, decode_call, not_acceptable
from airflow_mesos.local.launch_planner import (
    LaunchError,
    executor_limits,
    executor_shutdown_grace,
    plan_executor_run,
    stringify_duration,
)
from airflow_mesos.local.process_containerizer import ExitInfo, ProcessRun
from airflow_mesos.local.sandbox import create_run_directory, run_directory, virtual_latest
from airflow_mesos.local.validation import validate_executor_call

log = logging.getLogger(__name__)

MAX_COMPLETED_EXECUTORS_PER_FRAMEWORK = 150
"""The agent's ``--max_completed_executors_per_framework`` default (src/slave/constants.hpp)."""

DEFAULT_EXECUTOR_HEARTBEAT_INTERVAL = 30 * 60.0
"""``DEFAULT_EXECUTOR_HEARTBEAT_INTERVAL`` (src/slave/constants.hpp): HEARTBEAT events on an executor's stream
(a constant in Mesos, not a flag; an Agent argument here so a test need not wait half an hour)."""


def wait_status(info: ExitInfo | None) -> int:
    """The ``ExitedExecutorMessage.status`` of an ended run: a wait(2) status (exit code << 8, or the signal),
    -1 when the containerizer could not tell (``executorTerminated``'s "special status")."""
    if info is None or info.error:
        return -1
    if info.signal is not None:
        return int(info.signal)
    if info.exit_code is not None:
        return (int(info.exit_code) & 0xFF) << 8
    return -1


class ExecutorHost:
    """The custom-executor half of an agent (a mixin of :class:`~airflow_mesos.local.agent.Agent`)."""

    # Set by Agent.__init__ (see there): the agent's lock, records and helpers this half works with.
    _executors: dict[tuple[str, str], AgentExecutor]

    def _init_executors(self, *, executor_registration_timeout: float, executor_shutdown_grace_period: float,
                        executor_heartbeat_interval: float = DEFAULT_EXECUTOR_HEARTBEAT_INTERVAL) -> None:
        if not executor_registration_timeout > 0:
            raise ValueError(f"executor_registration_timeout must be a positive number of seconds, got "
                             f"{executor_registration_timeout!r}")
        if not executor_shutdown_grace_period >= 0:
            raise ValueError(f"executor_shutdown_grace_period must be a non-negative number of seconds, got "
                             f"{executor_shutdown_grace_period!r}")
        self.executor_registration_timeout = float(executor_registration_timeout)
        self.executor_shutdown_grace_period = float(executor_shutdown_grace_period)
        if not executor_heartbeat_interval > 0:
            raise ValueError(f"executor_heartbeat_interval must be a positive number of seconds, got "
                             f"{executor_heartbeat_interval!r}")
        self.executor_heartbeat_interval = float(executor_heartbeat_interval)
        self._executors = {}
        # Earlier runs of executor ids that run again, kept for /state's completed_executors (bounded per
        # framework as --max_completed_executors_per_framework bounds them).
        self._completed_executor_runs: list[AgentExecutor] = []
        # What runs each executor (a ProcessRun or DockerRun), by container id, from its launch to its end.
        self._executor_runs: dict[str, Any] = {}
        # True once this agent ran a custom executor: its re-registrations then report executors.
        self._had_executors = False

    # -- launching ----------------------------------------------------------------------------------

    def _task_dropped_locked(self, framework: AgentFramework, task_info: dict, executor_id: str,
                             message: str) -> None:
        """``sendTaskDroppedUpdate``: TASK_DROPPED (TASK_LOST without PARTITION_AWARE), REASON_EXECUTOR_TERMINATED,
        for a task the agent does not take on."""
        task = AgentTask(framework.id, task_info, "", Path(), self._epoch, executor_id=executor_id)
        state = "TASK_DROPPED" if framework.capable("PARTITION_AWARE") else "TASK_LOST"
        self._emit_locked(task, state, "SOURCE_AGENT", reason="REASON_EXECUTOR_TERMINATED", message=message,
                          track=False)

    def _launch_on_executor_locked(self, framework: AgentFramework, task_info: dict, resources,
                                   launch_executor: bool | None) -> None:
        """``Slave::__run`` for a task with an ExecutorInfo (the caller holds the lock and checked the task id).

        ``launch_executor`` is the master's ``RunTaskMessage.launch_executor``: True when the master added the
        executor with this task, False when it expects it to run already, None when it did not say.
        """
        executor_info = task_info["executor"]
        executor_id = executor_info["executor_id"]["value"]
        key = (framework.id, executor_id)
        executor = self._executors.get(key)
        if executor is not None and executor.removed:
            executor = None
        if launch_executor is True and executor is not None:
            self._task_dropped_locked(framework, task_info, executor_id,
                                      "Master wants to launch executor, but one already exists")
            if executor.state == TERMINATED:
                self._outbox.append(("executor_exited", framework.id, executor_id, -1))
                self._cv.notify_all()
            else:
                self._shutdown_executor_locked(executor)
            return
        if launch_executor is False and executor is None:
            self._task_dropped_locked(framework, task_info, executor_id,
                                      "No executor is expected to launch and there is none running")
            return
        if executor is None:
            executor = self._new_executor_locked(framework, executor_info)
        if executor.state in (TERMINATING, TERMINATED):
            self._task_dropped_locked(framework, task_info, executor_id,
                                      f"Executor {'terminating' if executor.state == TERMINATING else 'terminated'}")
            return
        task = AgentTask(framework.id, task_info, executor.container_id, executor.directory, self._epoch,
                         resources=resources, executor_id=executor_id)
        task.kind = "executor"
        self._tasks[(framework.id, task.task_id)] = task
        executor.queued_tasks[task.task_id] = task
        if executor.state == RUNNING:
            self._deliver_locked(executor, [task.task_id])

    def _new_executor_locked(self, framework: AgentFramework, executor_info: dict) -> AgentExecutor:
        """``Framework::addExecutor`` and ``Slave::launchExecutor``: a new run of the executor, started by its
        own runner thread."""
        container_id = str(uuid_module.uuid4())
        executor_id = executor_info["executor_id"]["value"]
        directory = run_directory(self.work_dir, self.id, framework.id, executor_id, container_id)
        executor = AgentExecutor(framework.id, executor_info, container_id, directory, self._epoch)
        earlier = self._executors.get((framework.id, executor_id))
        if earlier is not None:
            self._completed_executor_runs.append(earlier)
            runs = [e for e in self._completed_executor_runs if e.framework_id == framework.id]
            for stale in runs[:-MAX_COMPLETED_EXECUTORS_PER_FRAMEWORK]:
                self._completed_executor_runs.remove(stale)
        self._executors[(framework.id, executor_id)] = executor
        self._had_executors = True
        runner = threading.Thread(target=self._run_executor, args=(executor, dict(framework.info)), daemon=True,
                                  name=f"agent-{self.id}-executor-{executor_id}")
        self._runners = [t for t in self._runners if t.is_alive()] + [runner]
        runner.start()
        return executor

    def _executor_plan(self, executor: AgentExecutor, framework_info: dict):
        try:
            return plan_executor_run(
                executor.info, agent_id=self.id, container_id=executor.container_id,
                sandbox_dir=str(executor.directory), agent_pid=f"slave(1)@{self.bind_address}:{self.port}",
                agent_address=f"{self.bind_address}:{self.port}",
                checkpoint=bool(framework_info.get("checkpoint", False)),
                shutdown_grace=executor_shutdown_grace(executor.info, self.executor_shutdown_grace_period))
        except LaunchError:
            raise
        except Exception as exc:  # our bug on a type-checked ExecutorInfo; its text may quote values
            detail = f"{type(exc).__name__}: {exc}" if isinstance(exc, (TypeError, AttributeError, KeyError)) \
                else type(exc).__name__
            log.debug("agent %s: planning executor %s failed", self.id, executor.id, exc_info=exc)
            raise LaunchError(f"Malformed ExecutorInfo ({detail})") from None

    def _run_executor(self, executor: AgentExecutor, framework_info: dict) -> None:
        """The executor run's thread: sandbox, plan, fetch, container, start; wait for it to end."""
        run = None
        try:
            create_run_directory(executor.directory)
            self._files.attach(executor.directory, str(executor.directory))
            self._files.attach(executor.directory, str(executor.directory.parent / "latest"))
            self._files.attach(executor.directory, virtual_latest(executor.framework_id, executor.id))
            plan = self._executor_plan(executor, framework_info)
            if plan.kind != "process" and self._run_labels:
                plan.docker_options["labels"] = {**plan.docker_options.get("labels", {}), **self._run_labels}
            if plan.kind == "process":
                run = ProcessRun(plan, executor.directory)
            elif self.docker_client is None:
                raise LaunchError("None of the enabled containerizers (mesos) could create a container for the "
                                  "provided TaskInfo/ExecutorInfo message (this agent has no Docker engine)")
            else:
                from airflow_mesos.local.docker_containerizer import DockerRun

                run = DockerRun(plan, executor.directory, client=self.docker_client, agent_id=self.id,
                                secrets_dir=self.work_dir / "secrets" / executor.container_id)
            with self._lock:
                if executor.epoch != self._epoch:
                    return
                executor.kind = plan.kind
                self._executor_runs[executor.container_id] = run
                if executor.state != REGISTERING:
                    raise LaunchError("the executor was shut down before it started")
            if plan.fetch:
                self._fetch(_FetchTarget(executor), plan)
            run.prepare()
            with self._lock:
                if executor.state != REGISTERING:
                    raise LaunchError("the executor was shut down before it started")
            run.start()
            with self._lock:
                # executorLaunched: the registration timer starts once the container is up.
                if executor.state == REGISTERING:
                    executor.registration_deadline = self.clock.monotonic() + self.executor_registration_timeout
                    self._cv.notify_all()
        except LaunchError as exc:
            with self._lock:
                if executor.state == REGISTERING and executor.pending_termination is None:
                    # executorLaunched on a failed launch: the tasks fail with the containerizer's words.
                    executor.pending_termination = {"state": "TASK_FAILED", "reason": "REASON_CONTAINER_LAUNCH_FAILED",
                                                    "message": f"Failed to launch container: {exc}"}
            self._stderr_of(executor, f"Failed to launch executor: {exc}")
            self._executor_ended(executor, run, None, {})
            return
        except Exception as exc:  # an engine failure must end this executor, never the agent
            log.exception("agent %s: launching executor %s failed", self.id, executor.id)
            with self._lock:
                if executor.pending_termination is None:
                    executor.pending_termination = {"state": "TASK_FAILED", "reason": "REASON_CONTAINER_LAUNCH_FAILED",
                                                    "message": f"Failed to launch container: {type(exc).__name__}"}
            self._executor_ended(executor, run, None, {})
            return
        info = run.wait()
        with self._lock:
            destroyed = executor.destroyed
        killed_init = executor.kind == "mesos" and info.exit_code is not None and info.exit_code > 128
        if destroyed and (info.error or killed_init):
            # The agent destroyed it: SIGKILL, which the Mesos containerizer sees as the executor's wait status.
            # Docker reports a killed init as exit code 128 + signal, or nothing once the container is removed.
            info = ExitInfo(signal=signal.SIGKILL, oom_killed=info.oom_killed)
        elif killed_init and info.oom_killed:
            info = ExitInfo(signal=info.exit_code - 128, oom_killed=True)
        termination: dict = {}
        if info.oom_killed:
            mem = getattr(run.plan, "mem_mb", None)
            termination = {"state": "TASK_FAILED", "reason": "REASON_CONTAINER_LIMITATION_MEMORY",
                           "message": f"Memory limit exceeded: Requested: {int(mem) if mem else 'unknown'}MB"}
        self._executor_ended(executor, run, info, termination)

    def _executor_ended(self, executor: AgentExecutor, run, info: ExitInfo | None, termination: dict) -> None:
        status = wait_status(info)
        self._stderr_of(executor, "Executor " + (f"exited with status {info.exit_code}" if info and
                                                 info.exit_code is not None else
                                                 f"terminated with signal {info.signal}" if info and info.signal
                                                 else "terminated"))
        self._executor_terminated(executor, termination, status)
        if run is not None:
            try:
                run.cleanup()
            except Exception:  # the container may be gone already
                pass
        with self._lock:
            if executor.epoch == self._epoch:
                self._executor_runs.pop(executor.container_id, None)

    def _stderr_of(self, executor: AgentExecutor, line: str) -> None:
        """The agent's own lines about an executor go to its sandbox's stderr, as the Mesos agent's launcher's do."""
        try:
            with open(executor.directory / "stderr", "a", encoding="utf-8") as handle:
                handle.write(line + "\n")
        except OSError:
            pass

    def _executor_terminated(self, executor: AgentExecutor, termination: dict, status: int) -> None:
        """``Slave::executorTerminated``."""
        with self._lock:
            if executor.epoch != self._epoch or executor.state == TERMINATED:
                return
            executor.state = TERMINATED
            executor.exit_status = status
            executor.registration_deadline = executor.shutdown_deadline = None
            if executor.stream is not None:
                executor.stream.close()
                executor.stream = None
            framework = self._frameworks.get(executor.framework_id)
            if framework is not None and not framework.removed:
                outcome = executor_terminated_update(executor, termination)
                for task in [t for t in executor.launched_tasks.values() if not is_terminal(t.state)] + \
                        list(executor.queued_tasks.values()):
                    self._emit_locked(task, outcome["state"], "SOURCE_AGENT", reason=outcome["reason"],
                                      message=outcome["message"])
            else:
                # A framework being removed gets no updates; its launched tasks simply end here.
                for task in list(executor.launched_tasks.values()) + list(executor.queued_tasks.values()):
                    task.terminated = True
                executor.terminated_tasks.update({t.task_id: t for t in executor.live_tasks()})
                executor.launched_tasks.clear()
                executor.queued_tasks.clear()
            # Custom executors only: the master keeps no command executors.
            self._outbox.append(("executor_exited", executor.framework_id, executor.id, status))
            if framework is None or framework.removed or not executor.incomplete_tasks():
                executor.removed = True
            self._maybe_complete_framework(executor.framework_id)
            self._cv.notify_all()
        log.info("agent %s: executor %s of framework %s terminated (wait status %d)", self.id, executor.id,
                 executor.framework_id, status)

    # -- delivering tasks and resources ---------------------------------------------------------------

    def _deliver_locked(self, executor: AgentExecutor, task_ids: list[str]) -> None:
        """Grow the container to the executor's and its tasks' resources, then LAUNCH the tasks still queued
        (``containerizer->update`` then ``___run``)."""
        run = self._executor_runs.get(executor.container_id)
        if run is None or not hasattr(run, "update_limits"):
            # A host process has no cgroup here: there is no limit to move, so the tasks go at once.
            self._launch_queued_locked(executor, task_ids)
            return
        self._resize_locked(executor, run, task_ids)

    def _limits_locked(self, executor: AgentExecutor) -> tuple[float | None, float | None]:
        return executor_limits(executor.info.get("resources") or [],
                               [t.task_info.get("resources") or [] for t in executor.live_tasks()])

    def _shrink_locked(self, executor: AgentExecutor) -> None:
        """A task ended: the container's limits follow (``Slave::_statusUpdate`` updates the container with
        the executor's remaining resources); Docker can lower them while the container runs."""
        run = self._executor_runs.get(executor.container_id)
        if run is None or not hasattr(run, "update_limits") or executor.state == TERMINATED:
            return
        self._resize_locked(executor, run, [])

    def _resize_locked(self, executor: AgentExecutor, run, task_ids: list[str]) -> None:
        """Ask for the container's limits to follow its tasks, then LAUNCH ``task_ids``.

        One resizer thread per executor applies the limits of the moment it applies them, until no change is
        pending, so concurrent grows and shrinks cannot leave a stale limit behind, and a task is LAUNCHed only
        after a resize that counted it."""
        executor.pending_launches.extend(task_ids)
        executor.resize_pending = True
        if executor.resizing:
            return
        executor.resizing = True

        def resize() -> None:
            while True:
                with self._lock:
                    if not executor.resize_pending or executor.epoch != self._epoch or \
                            executor.state == TERMINATED:
                        executor.resizing = False
                        launches, executor.pending_launches = executor.pending_launches, []
                        self._launch_queued_locked(executor, launches)
                        return
                    executor.resize_pending = False
                    cpus, mem = self._limits_locked(executor)
                    launches, executor.pending_launches = executor.pending_launches, []
                run.update_limits(cpus, mem)
                with self._lock:
                    self._launch_queued_locked(executor, launches)

        threading.Thread(target=resize, daemon=True, name=f"resize-{executor.container_id[:8]}").start()

    def _launch_queued_locked(self, executor: AgentExecutor, task_ids: list[str]) -> None:
        if executor.epoch != self._epoch or executor.state != RUNNING:
            return  # it ended meanwhile; executorTerminated takes care of the queue
        for task_id in task_ids:
            task = executor.queued_tasks.pop(task_id, None)
            if task is None:
                continue  # killed before delivery
            executor.launched_tasks[task_id] = task
            executor.ever_sent_task = True
            # Mesos sends on the executor's connection even when it broke (Executor::send): the LAUNCH is then
            # lost, and the task, still STAGING and not among the re-subscribing executor's
            # unacknowledged_tasks, is dropped by Slave::subscribe.
            if executor.stream is not None:
                executor.stream.send({"type": "LAUNCH", "launch": {"task": task.task_info}})

    # -- the master's calls ---------------------------------------------------------------------------------

    def _kill_executor_task_locked(self, task: AgentTask, kill_policy: dict | None) -> None:
        """``Slave::killTask`` / ``kill`` for a custom executor's task."""
        executor = self._executors.get((task.framework_id, task.executor_id or ""))
        if executor is None or executor.removed:
            return
        if task.task_id in executor.queued_tasks and executor.state in (REGISTERING, RUNNING):
            self._emit_locked(task, "TASK_KILLED", "SOURCE_AGENT", reason="REASON_TASK_KILLED_DURING_LAUNCH",
                              message="Killed before delivery to the executor")
            return
        if executor.state == RUNNING and task.task_id in executor.launched_tasks and executor.stream is not None:
            kill: dict = {"task_id": {"value": task.task_id}}
            if kill_policy:
                kill["kill_policy"] = kill_policy
            executor.stream.send({"type": "KILL", "kill": kill})

    def shutdown_executor(self, framework_id: str, executor_id: str) -> None:
        """``Slave::shutdownExecutor`` (the scheduler's SHUTDOWN, relayed by the master); returns at once."""
        with self._lock:
            if self._partitioned:
                log.info("agent %s: partitioned; the shutdown of executor %s never arrives", self.id, executor_id)
                return
            framework = self._frameworks.get(framework_id)
            if framework is None or framework.removed:
                return
            executor = self._executors.get((framework_id, executor_id))
            if executor is None or executor.removed or executor.state in (TERMINATING, TERMINATED):
                return
            self._shutdown_executor_locked(executor)

    def _shutdown_executor_locked(self, executor: AgentExecutor) -> None:
        """``Slave::_shutdownExecutor``: SHUTDOWN to the executor (lost if it has not subscribed), and its
        container destroyed once the shutdown grace period has passed."""
        if executor.state not in (REGISTERING, RUNNING):
            return
        executor.state = TERMINATING
        executor.registration_deadline = None
        if executor.stream is not None:
            executor.stream.send({"type": "SHUTDOWN"})
        grace = executor_shutdown_grace(executor.info, self.executor_shutdown_grace_period)
        executor.shutdown_deadline = self.clock.monotonic() + grace
        self._cv.notify_all()

    def message_to_executor(self, framework_id: str, executor_id: str, data: str) -> None:
        """``Slave::schedulerMessage``: the scheduler's MESSAGE to a running executor; dropped otherwise."""
        with self._lock:
            if self._partitioned:
                return
            framework = self._frameworks.get(framework_id)
            executor = self._executors.get((framework_id, executor_id))
            if framework is None or framework.removed or executor is None or executor.removed:
                log.info("agent %s: dropping a message for unknown executor %s", self.id, executor_id)
                return
            if executor.state != RUNNING or executor.stream is None:
                log.info("agent %s: dropping a message for executor %s, which is %s", self.id, executor_id,
                         executor.state.lower())
                return
            executor.stream.send({"type": "MESSAGE", "message": {"data": data}})

    def _shutdown_framework_executors_locked(self, framework_id: str) -> None:
        """``Slave::shutdownFramework``: every executor of the framework is shut down."""
        for (fid, _), executor in self._executors.items():
            if fid == framework_id and not executor.removed:
                self._shutdown_executor_locked(executor)

    def _shut_down_executors_for_close(self) -> None:
        """The agent is terminating: its frameworks are (``Framework::TERMINATING``: no more status updates),
        every live executor gets SHUTDOWN and is destroyed after its grace; returns once they all terminated
        (the dispatcher thread runs the graces, the runner threads see the ends)."""
        with self._lock:
            live = [e for e in self._executors.values() if not e.removed and e.state != TERMINATED]
            if not live:
                return
            for framework in self._frameworks.values():
                framework.removed = True
                self._updates.drop_framework(framework.id)
            for executor in live:
                self._shutdown_executor_locked(executor)
            deadlines = [e.shutdown_deadline for e in live if e.shutdown_deadline is not None]
        # Real time: the graces are run by the dispatcher on the agent's clock, this only bounds the wait.
        limit = time.monotonic() + (max(deadlines) - self.clock.monotonic() if deadlines else 0.0) + 30.0
        with self._cv:
            while any(e.state != TERMINATED for e in live) and time.monotonic() < limit:
                self._cv.wait(0.1)

    # -- timers (the agent's dispatcher thread) ---------------------------------------------------------

    def _executor_timers_locked(self, now: float) -> float | None:
        """Registration timeouts and shutdown graces that have passed; returns the next deadline, if any."""
        upcoming: list[float] = []
        for executor in self._executors.values():
            if executor.removed:
                continue
            if executor.next_heartbeat is not None:
                if executor.stream is None or executor.state == TERMINATED:
                    executor.next_heartbeat = None
                else:
                    if now >= executor.next_heartbeat:
                        # ResponseHeartbeater: the first one after an interval, then one per interval.
                        executor.stream.send({"type": "HEARTBEAT"})
                        executor.next_heartbeat = now + self.executor_heartbeat_interval
                    upcoming.append(executor.next_heartbeat)
            if executor.registration_deadline is not None:
                if executor.state != REGISTERING:
                    executor.registration_deadline = None
                elif now >= executor.registration_deadline:
                    self._registration_timeout_locked(executor)
                else:
                    upcoming.append(executor.registration_deadline)
            if executor.shutdown_deadline is not None:
                if executor.state != TERMINATING:
                    executor.shutdown_deadline = None
                elif now >= executor.shutdown_deadline:
                    executor.shutdown_deadline = None
                    log.info("agent %s: killing executor %s after its shutdown grace period", self.id, executor.id)
                    self._destroy_executor_locked(executor)
                else:
                    upcoming.append(executor.shutdown_deadline)
        return min(upcoming) if upcoming else None

    def _registration_timeout_locked(self, executor: AgentExecutor) -> None:
        """``Slave::registerExecutorTimeout``: destroyed at once; its tasks get TASK_FAILED with
        REASON_EXECUTOR_REGISTRATION_TIMEOUT."""
        log.info("agent %s: terminating executor %s because it did not register within %s", self.id, executor.id,
                 stringify_duration(self.executor_registration_timeout))
        executor.registration_deadline = None
        executor.state = TERMINATING
        executor.pending_termination = {
            "state": "TASK_FAILED", "reason": "REASON_EXECUTOR_REGISTRATION_TIMEOUT",
            "message": f"Executor did not register within {stringify_duration(self.executor_registration_timeout)}"}
        self._destroy_executor_locked(executor)

    def _destroy_executor_locked(self, executor: AgentExecutor) -> None:
        """``containerizer->destroy``: SIGKILL (``docker rm -f``), from a thread of its own; the runner thread
        sees the run end and calls :meth:`_executor_terminated`."""
        run = self._executor_runs.get(executor.container_id)
        if run is None:
            return  # not started yet: the runner sees the state and ends it
        executor.destroyed = True
        threading.Thread(target=run.destroy, daemon=True, name=f"destroy-{executor.container_id[:8]}").start()

    # -- the v1 executor API (/api/v1/executor) ------------------------------------------------------------

    def executor_api(self, method: str, headers: Mapping[str, str], body: bytes) -> HttpReply | EventStream:
        """``Http::executor`` (src/slave/http.cpp 1.11.0), in its order: 405, Content-Type, body -> Call,
        ``validateExecutorCall``, Accept (SUBSCRIBE) or 202 (HEARTBEAT), framework and executor lookup, 403
        before subscribing, then the call."""
        call = decode_call(method, headers, body, "executor.Call")
        if isinstance(call, HttpReply):
            return call
        error = validate_executor_call(call)
        if error is not None:
            return HttpReply.text(400, f"Failed to validate Executor::Call: {error}")
        kind = call["type"]
        if kind == "SUBSCRIBE":
            if not accepts(headers.get("Accept"), APPLICATION_JSON):
                return not_acceptable()
        elif kind == "HEARTBEAT":
            return HttpReply.text(202)
        with self._lock:
            framework = self._frameworks.get(call["framework_id"]["value"])
            if framework is None:
                return HttpReply.text(400, "Framework cannot be found")
            executor = self._executors.get((framework.id, call["executor_id"]["value"]))
            if executor is None or executor.removed:
                return HttpReply.text(400, "Executor cannot be found")
            if executor.state == REGISTERING and kind != "SUBSCRIBE":
                return HttpReply.text(403, "Executor is not subscribed")
            if kind == "SUBSCRIBE":
                return self._subscribe_executor_locked(framework, executor, call["subscribe"])
            if kind == "UPDATE":
                ack = self._executor_update_locked(framework, executor, call["update"]["status"])
                if ack is not None and executor.stream is not None:
                    executor.stream.send(ack)
                return HttpReply.text(202)
            if kind == "MESSAGE":
                # Slave::executorMessage: dropped for a framework being removed (still 202 to the executor).
                if not framework.removed:
                    self._outbox.append(("executor_message", framework.id, executor.id, call["message"]["data"]))
                    self._cv.notify_all()
                return HttpReply.text(202)
        log.warning("agent %s: received an UNKNOWN executor call", self.id)
        return HttpReply.text(501)

    def _subscribe_executor_locked(self, framework: AgentFramework, executor: AgentExecutor,
                                   subscribe: dict) -> EventStream:
        """``Slave::subscribe`` for an HTTP executor."""
        stream = EventStream(str(uuid_module.uuid4()))
        stream.executor_key = (framework.id, executor.id)  # type: ignore[attr-defined]
        if self._closed or framework.removed or executor.state in (TERMINATING, TERMINATED):
            # The agent or the framework is going away, or the executor is: it is told to shut down.
            stream.send({"type": "SHUTDOWN"})
            stream.close()
            return stream
        if executor.stream is not None:
            executor.stream.close()   # a retried SUBSCRIBE: the earlier connection ends
        executor.state = RUNNING
        executor.registration_deadline = None
        executor.stream = stream
        executor.next_heartbeat = self.clock.monotonic() + self.executor_heartbeat_interval
        self._cv.notify_all()
        acks = []
        for update in subscribe.get("unacknowledged_updates") or []:
            ack = self._executor_update_locked(framework, executor, update["status"])
            if ack is not None:
                acks.append(ack)
        known = {t["task_id"]["value"] for t in subscribe.get("unacknowledged_tasks") or []}
        for task in list(executor.launched_tasks.values()):
            if task.state == "TASK_STAGING" and task.task_id not in known:
                # The agent sent it, the executor never got it (Mesos: the agent restarted meanwhile).
                self._emit_locked(task, "TASK_DROPPED" if framework.capable("PARTITION_AWARE") else "TASK_LOST",
                                  "SOURCE_AGENT", reason="REASON_AGENT_RESTARTED",
                                  message="Task launched during agent restart")
        if not executor.ever_sent_task and not executor.queued_tasks:
            # MESOS-8411: every task it was launched for was killed before delivery.
            log.warning("agent %s: shutting down executor %s: it was never sent a task and its queued tasks were "
                        "killed before delivery", self.id, executor.id)
            self._shutdown_executor_locked(executor)
            return stream
        stream.send({"type": "SUBSCRIBED", "subscribed": {
            "executor_info": executor.info, "framework_info": framework.info,
            "agent_info": self._agent_info(), "container_id": {"value": executor.container_id}}})
        for ack in acks:
            stream.send(ack)
        self._deliver_locked(executor, list(executor.queued_tasks))
        log.info("agent %s: executor %s of framework %s subscribed", self.id, executor.id, framework.id)
        return stream

    def _agent_info(self) -> dict:
        return {"hostname": self.spec.hostname, "port": self.port, "id": {"value": self.id},
                "resources": self.spec.resources(), "attributes": self.spec.attribute_list()}

    def executor_stream_closed(self, stream: EventStream) -> None:
        """The executor's SUBSCRIBE connection ended; the executor itself goes on (it may subscribe again)."""
        with self._lock:
            stream.closed = True
            executor = self._executors.get(getattr(stream, "executor_key", ("", "")))
            if executor is not None and executor.stream is stream:
                executor.stream = None

    def _executor_update_locked(self, framework: AgentFramework, executor: AgentExecutor, status: dict) -> dict | None:
        """An executor's UPDATE (``Slave::statusUpdate`` / ``_statusUpdate`` / ``___statusUpdate``): the agent's id,
        the executor's id and the container's status go on it, the task's state follows it, the status update
        manager takes it (a resent uuid once); the ACKNOWLEDGED event for the executor is returned, or None
        when the update is dropped (a framework being removed)."""
        if framework.removed:
            log.info("agent %s: ignoring an update of framework %s, which is being removed", self.id, framework.id)
            return None
        task_id = status["task_id"]["value"]
        status = dict(status)
        status["agent_id"] = {"value": self.id}
        status["executor_id"] = {"value": executor.id}
        status.setdefault("timestamp", self.clock.time())
        task = self._tasks.get((framework.id, task_id))
        if task is not None and task.executor_id != executor.id:
            task = None   # a task of another executor: forwarded, not tracked (as Mesos does)
        if task is not None and "container_status" not in status:
            status["container_status"] = {"container_id": {"value": executor.container_id},
                                          "network_infos": [{"ip_addresses": [{"ip_address": self.bind_address}]}]}
        added = self._updates.add(framework.id, task_id, status)
        if added is not None:
            if task is not None and (task.task_id in executor.launched_tasks or task.task_id in executor.queued_tasks):
                self._track_executor_task_locked(executor, task, status["state"], status.get("container_status"))
            self._cv.notify_all()
        return {"type": "ACKNOWLEDGED", "acknowledged": {"task_id": {"value": task_id}, "uuid": status["uuid"]}}

    def _track_executor_task_locked(self, executor: AgentExecutor, task: AgentTask, state: str,
                                    container_status: dict | None) -> None:
        """``Executor::updateTaskState``: the agent's record of the task, and the container's limits when it ends."""
        entry: dict = {"state": state, "timestamp": self.clock.time()}
        if container_status is not None:
            entry["container_status"] = container_status
        task.statuses.append(entry)
        executor.task_update(task, state)
        if is_terminal(state):
            task.terminated = True
            self._shrink_locked(executor)

    # -- re-registration, views -------------------------------------------------------------------------

    def _executor_report_locked(self) -> list[dict]:
        """The ExecutorInfos a re-registration reports (``ReregisterSlaveMessage.executor_infos``): the live
        custom executors of frameworks not removed."""
        out = []
        for (framework_id, _), executor in self._executors.items():
            framework = self._frameworks.get(framework_id)
            if framework is None or framework.removed or executor.removed or executor.state == TERMINATED:
                continue
            out.append(executor.info)
        return out

    def _executor_of(self, task: AgentTask) -> AgentExecutor | None:
        """The run of the custom executor that holds ``task`` (None for a command task, or a task of an earlier
        run of that executor id)."""
        if not task.executor_id:
            return None
        executor = self._executors.get((task.framework_id, task.executor_id))
        return executor if executor is not None and executor.container_id == task.container_id else None


class _FetchTarget:
    """What the agent's fetcher needs of a run (its sandbox and where its log lines go): an executor's."""

    def __init__(self, executor: AgentExecutor) -> None:
        self.directory = executor.directory
        self.container_id = executor.container_id

