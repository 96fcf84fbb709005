"""An embedded Mesos agent: runs tasks as Docker containers or host processes and reports on them.

The master (:mod:`airflow_mesos.local.master`) hands validated TaskInfos to
:meth:`Agent.launch` and relays acknowledgements and kills; the agent sends
status updates back through the :class:`MasterLink` it was started with.

Threads and locks (the master may call into the agent while holding its own
lock, so the agent never calls the master synchronously from those calls):

- ``launch``/``kill``/``acknowledge``/``shutdown_framework`` only change state
  under ``self._lock`` and start threads; they return at once;
- one *runner* thread per task launches it, waits for it and queues its updates;
- one *dispatcher* thread sends queued updates to the master (never holding
  ``self._lock`` while calling it) and re-sends unacknowledged ones with
  Mesos' doubling backoff (:mod:`.status_updates`);
- a ``ThreadingHTTPServer`` serves ``/state``, ``/files/*`` and ``/health``.

Faults: :meth:`Agent.crash` is the agent process dying together with a host
reboot (every container and process is gone, nothing is reported);
:meth:`Agent.restart` brings the agent back on the same port with no tasks.
:meth:`Agent.partition` cuts the network between the agent and the master: the
master's pings get no answer, its messages (launch, kill, acknowledgement,
framework shutdown) are lost, and the agent holds its status updates while its
tasks keep running; :meth:`Agent.heal` re-registers with the tasks it has and
then resends what it held, as a Mesos agent does when it finds the master again.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
import uuid as uuid_module
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Protocol, TypeVar

from airflow_mesos.clock import SYSTEM_CLOCK, Clock
from airflow_mesos.local import agent_http, agent_views
from airflow_mesos.local.agent_executors import DEFAULT_EXECUTOR_HEARTBEAT_INTERVAL, ExecutorHost
from airflow_mesos.local.agent_records import (
    AgentFramework,
    AgentTask,
    AgentView,
    next_completion_deadline,
    overdue,
)
from airflow_mesos.local.allocator import InvalidResources, Resources
from airflow_mesos.local.constants import is_terminal
from airflow_mesos.local.fetcher import Fetcher, FetchError
from airflow_mesos.local.http_util import MesosHTTPServer
from airflow_mesos.local.launch_planner import (
    DEFAULT_COMMAND_KILL_GRACE,
    DEFAULT_DOCKER_STOP_TIMEOUT,
    DEFAULT_EXECUTOR_REGISTRATION_TIMEOUT,
    DEFAULT_EXECUTOR_SHUTDOWN_GRACE_PERIOD,
    LaunchError,
    RunSpec,
    grace_seconds,
    max_completion_seconds,
    plan_run,
    stringify_duration,
)
from airflow_mesos.local.process_containerizer import ExitInfo, ProcessRun, describe_exit
from airflow_mesos.local.sandbox import FileServer, create_run_directory, run_directory, virtual_latest
from airflow_mesos.local.status_updates import StatusUpdateManager, encode_uuid, new_uuid
from airflow_mesos.run_labels import run_labels

log = logging.getLogger(__name__)

T = TypeVar("T")


# ------------------------------------------------------------------------------------------ spec


@dataclass
class AgentSpec:
    """What one agent offers: resources and attributes, as the agent's ``--resources``/``--attributes`` flags."""

    hostname: str = "127.0.0.1"
    cpus: float = 2.0
    mem: float = 2048.0
    disk: float = 10240.0
    ports: list[tuple[int, int]] = field(default_factory=lambda: [(31000, 32000)])
    gpus: int = 0
    attributes: dict[str, str | float] = field(default_factory=dict)

    def resources(self) -> list[dict]:
        """v1 Resource JSON list (role ``*``); gpus only when > 0."""
        out = [
            {"name": "cpus", "type": "SCALAR", "scalar": {"value": float(self.cpus)}, "role": "*"},
            {"name": "mem", "type": "SCALAR", "scalar": {"value": float(self.mem)}, "role": "*"},
            {"name": "disk", "type": "SCALAR", "scalar": {"value": float(self.disk)}, "role": "*"},
            {"name": "ports", "type": "RANGES",
             "ranges": {"range": [{"begin": int(b), "end": int(e)} for b, e in self.ports]}, "role": "*"},
        ]
        if self.gpus > 0:
            out.append({"name": "gpus", "type": "SCALAR", "scalar": {"value": float(self.gpus)}, "role": "*"})
        return out

    def attribute_list(self) -> list[dict]:
        """v1 Attribute JSON list: TEXT for strings, SCALAR for numbers."""
        out = []
        for name, value in self.attributes.items():
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                out.append({"name": name, "type": "TEXT", "text": {"value": str(value)}})
            else:
                out.append({"name": name, "type": "SCALAR", "scalar": {"value": float(value)}})
        return out


class MasterLink(Protocol):
    """What the agent needs from the master (implemented by the master)."""

    def status_update(self, agent_id: str, framework_id: str, status: dict) -> None: ...

    def agent_reregistered(self, agent_id: str, live_tasks: list[dict]) -> None: ...

    # Only called by agents that ran custom executors (see ExecutorHost):
    # executor_exited(agent_id, framework_id, executor_id, status), executor_message(agent_id, framework_id,
    # executor_id, data), and agent_reregistered(agent_id, live_tasks, executors).


def terminal_update(prefix: str, info: ExitInfo, *, killed: bool, mem_mb: float | None,
                    completion_timed_out: bool = False) -> dict:
    """Pure: the terminal (state, reason, message, source) of an ended task, as the Mesos executors decide it.

    OOM kill -> TASK_FAILED / REASON_CONTAINER_LIMITATION_MEMORY from the agent (the memory isolator's
    limitation); killed by us -> TASK_KILLED; exit 0 -> TASK_FINISHED; else TASK_FAILED with no reason, as the
    command and docker executors' ``reaped()`` send it (src/launcher/executor.cpp, src/docker/executor.cpp
    1.11.0; REASON_COMMAND_EXECUTOR_FAILED is deprecated and never sent).
    """
    if info.error:
        return {"state": "TASK_FAILED", "message": info.error, "source": "SOURCE_EXECUTOR"}
    if info.oom_killed and not killed:
        requested = f"{int(mem_mb)}MB" if mem_mb else "unknown"
        return {"state": "TASK_FAILED", "reason": "REASON_CONTAINER_LIMITATION_MEMORY", "source": "SOURCE_AGENT",
                "message": f"Memory limit exceeded: Requested: {requested}"}
    message = describe_exit(prefix, info)
    if completion_timed_out:
        # taskCompletionTimeout killed it: TASK_FAILED, whatever the exit (executor.cpp reaped()).
        return {"state": "TASK_FAILED", "reason": "REASON_MAX_COMPLETION_TIME_REACHED", "source": "SOURCE_EXECUTOR",
                "message": message}
    if killed:
        state = "TASK_KILLED"
    elif info.exit_code == 0:
        state = "TASK_FINISHED"
    else:
        state = "TASK_FAILED"
    return {"state": state, "message": message, "source": "SOURCE_EXECUTOR"}


# ------------------------------------------------------------------------------------------ agent


class Agent(ExecutorHost):
    """One embedded Mesos agent (see the module docstring; custom executors: :mod:`.agent_executors`).

    :param executor_registration_timeout: seconds a custom executor has to SUBSCRIBE once started (Mesos'
        ``--executor_registration_timeout``, 1 min).
    :param executor_shutdown_grace_period: seconds between SHUTDOWN to an executor and the destruction of its
        container, unless its ExecutorInfo says otherwise (``--executor_shutdown_grace_period``, 5 s).
    :param executor_heartbeat_interval: seconds between HEARTBEAT events to a subscribed executor (Mesos' constant
        ``DEFAULT_EXECUTOR_HEARTBEAT_INTERVAL``, 30 min).
    """

    def __init__(self, *, agent_id: str, spec: AgentSpec, work_dir: Path, docker_client=None,
                 status_update_retry_interval: float = 10.0, clock: Clock = SYSTEM_CLOCK,
                 executor_registration_timeout: float = DEFAULT_EXECUTOR_REGISTRATION_TIMEOUT,
                 executor_shutdown_grace_period: float = DEFAULT_EXECUTOR_SHUTDOWN_GRACE_PERIOD,
                 executor_heartbeat_interval: float = DEFAULT_EXECUTOR_HEARTBEAT_INTERVAL) -> None:
        self.id = agent_id
        self.spec = spec
        self.work_dir = Path(work_dir)
        self.docker_client = docker_client
        self.clock = clock
        self.port = 0
        self._master: MasterLink | None = None
        self._lock = threading.RLock()
        self._cv = threading.Condition(self._lock)
        self._updates = StatusUpdateManager(status_update_retry_interval)
        self._frameworks: dict[str, AgentFramework] = {}
        self._tasks: dict[tuple[str, str], AgentTask] = {}
        # The tasks with a max_completion_time still to enforce: the dispatch loop wakes on every update and
        # scans these, not every task the agent ever ran (it keeps them all for /state).
        self._timed_tasks: list[AgentTask] = []
        self._completed_frameworks: dict[str, AgentFramework] = {}
        # What runs each task (a ProcessRun or DockerRun), by container id, from launch until its run ends.
        self._runs: dict[str, object] = {}
        self._files = FileServer()
        # The fetcher cache is the agent's (Mesos: --fetcher_cache_dir); sandboxes get copies.
        self._fetcher = Fetcher(self.work_dir / "fetch" / agent_id)
        self._server: ThreadingHTTPServer | None = None
        self._server_thread: threading.Thread | None = None
        self._dispatcher: threading.Thread | None = None
        # Every runner thread started and maybe still alive, also those of tasks a crash forgot.
        self._runners: list[threading.Thread] = []
        self._epoch = 0
        # Read once, at the edge: the run label scripts/lib.sh removes this run's containers by.
        self._run_labels = run_labels()
        self._closed = False
        self._start_time = 0.0
        # Cut off from the master (partition()): nothing goes to it, nothing it sends arrives.
        self._partitioned = False
        # Messages for the master other than status updates (exited executors, executor messages), sent by the
        # dispatcher thread without holding the lock: ("executor_exited" | "executor_message", *arguments).
        self._outbox: list[tuple] = []
        self._init_executors(executor_registration_timeout=executor_registration_timeout,
                             executor_shutdown_grace_period=executor_shutdown_grace_period,
                             executor_heartbeat_interval=executor_heartbeat_interval)

    def __repr__(self) -> str:
        return f"Agent(id={self.id!r}, url={self.url!r})"

    # -- identity -----------------------------------------------------------

    @property
    def pid(self) -> str:
        return f"slave(1)@{self.spec.hostname}:{self.port}"

    @property
    def url(self) -> str:
        """Where the agent's HTTP API answers (its bind address: ``127.0.0.2`` for such a hostname)."""
        return f"http://{self.bind_address}:{self.port}"

    # -- lifecycle ----------------------------------------------------------

    @property
    def bind_address(self) -> str:
        """Where the agent listens: its hostname when that is a loopback address (``127.0.0.2`` ...), so
        several agents on one machine have distinct hosts as Mesos agents do (``--ip``/``--hostname``);
        else 127.0.0.1."""
        try:
            if ipaddress.ip_address(self.spec.hostname).is_loopback:
                return self.spec.hostname
        except ValueError:
            pass
        return "127.0.0.1"

    def start(self, master: MasterLink) -> None:
        """Start the HTTP server (ephemeral port) and the update dispatcher."""
        self._master = master
        self._start_time = self.clock.time()
        self._serve(0)
        if self._dispatcher is None:
            self._dispatcher = threading.Thread(target=self._dispatch_loop, daemon=True, name=f"agent-{self.id}-updates")
            self._dispatcher.start()

    def _serve(self, port: int) -> None:
        server = MesosHTTPServer((self.bind_address, port), agent_http.make_handler(self))
        server.daemon_threads = True
        self._server = server
        self.port = server.server_address[1]
        # A short poll: shutdown() is noticed only between polls, and every agent stop waits for it.
        self._server_thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05},
                                               daemon=True, name=f"agent-{self.id}-http")
        self._server_thread.start()

    def _stop_server(self) -> None:
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        if self._server_thread is not None:
            self._server_thread.join(timeout=5)

    def _destroy_everything(self) -> list[object]:
        """Under the caller's epoch bump: forget all tasks and updates; returns the runs to destroy."""
        with self._lock:
            self._epoch += 1
            runs = list(self._runs.values()) + list(self._executor_runs.values())
            self._runs.clear()
            self._executor_runs.clear()
            for executor in self._executors.values():
                if executor.stream is not None:
                    executor.stream.close(abort=True)
            self._executors.clear()
            self._completed_executor_runs.clear()
            self._outbox.clear()
            self._timed_tasks.clear()   # their processes are gone: no completion timeout to enforce
            self._tasks.clear()
            self._frameworks.clear()
            self._updates.clear()
            self._files.clear()
        return runs

    def _kill_runs(self, runs: list[object]) -> None:
        threads = []
        for run in runs:
            t = threading.Thread(target=run.destroy, daemon=True)  # type: ignore[attr-defined]
            t.start()
            threads.append(t)
        for t in threads:
            t.join(timeout=30)
        if self.docker_client is not None:
            from airflow_mesos.local.docker_containerizer import remove_labelled_containers

            try:
                remove_labelled_containers(self.docker_client, self.id)
            except Exception as exc:  # the engine may be gone too; nothing more we can do
                log.warning("agent %s: could not sweep its containers: %s", self.id, exc)

    def crash(self) -> None:
        """The agent process dies and its host reboots: server down, everything killed, nothing reported.

        A partition ends with it: :meth:`restart` reconnects."""
        self._stop_server()
        runs = self._destroy_everything()
        with self._lock:
            self._completed_frameworks.clear()
            self._partitioned = False
        self._kill_runs(runs)

    @property
    def partitioned(self) -> bool:
        return self._partitioned

    def partition(self) -> None:
        """A network partition between this agent and the master; the agent and its tasks keep running.

        The master's pings fail (``/health`` closes the connection unanswered), so after its
        ``agent_ping_timeout`` the master marks the agent unreachable; what the master sends meanwhile
        (launch, kill, acknowledgement, framework shutdown) is lost; the agent's status updates wait in
        its status update manager, none dropped.  The agent's other endpoints (``/state``, ``/files``) keep
        answering: the partition is between agent and master only.
        """
        with self._lock:
            if self._server is None:
                raise RuntimeError(f"agent {self.id} is not running; partition() needs a live agent")
            if self._partitioned:
                raise RuntimeError(f"agent {self.id} is already partitioned from the master")
            self._partitioned = True
        log.info("agent %s: partitioned from the master", self.id)

    def heal(self) -> None:
        """The partition heals: re-register with the tasks the agent still has, then resend held updates.

        As a Mesos agent that finds its master again (slave.cpp ``doReliableRegistration``, then the task
        status update manager's ``resume()``): the re-registration reports every task whose terminal update
        has not been acknowledged, each in its latest state (so a task that ended during the partition is
        reported with its terminal state); once re-registered, the head of each task's update stream is sent
        at once and retried from the first interval again.
        """
        with self._lock:
            if not self._partitioned:
                raise RuntimeError(f"agent {self.id} is not partitioned from the master")
            report = self._reregistration_report_locked()
            executors = self._executor_report_locked() if self._had_executors else None
            master = self._master
        # Never call the master holding our lock (it calls into us holding its own).
        if master is not None:
            if executors is None:
                master.agent_reregistered(self.id, report)
            else:
                master.agent_reregistered(self.id, report, executors)
        with self._lock:
            self._partitioned = False
            self._updates.resume()
            self._cv.notify_all()
        log.info("agent %s: partition healed; re-registered with %d task(s)", self.id, len(report))

    def _reregistration_report_locked(self) -> list[dict]:
        """``[{framework_id, task_id, state}]`` of the tasks a re-registration reports: every task whose
        terminal update is not acknowledged yet, of frameworks not removed."""
        out = []
        for (framework_id, task_id), task in self._tasks.items():
            framework = self._frameworks.get(framework_id)
            if task.completed or framework is None or framework.removed:
                continue
            out.append({"framework_id": framework_id, "task_id": task_id, "state": task.state})
        return out

    def restart(self) -> None:
        """Come back on the same port with no tasks and re-register with the master."""
        if self._server is not None:
            raise RuntimeError(f"agent {self.id} is running; crash() it before restart()")
        self._start_time = self.clock.time()
        self._serve(self.port)
        master = self._master
        if master is not None:
            if self._had_executors:
                master.agent_reregistered(self.id, self.live_tasks(), [])   # they died with the host
            else:
                master.agent_reregistered(self.id, self.live_tasks())

    def close(self) -> None:
        """Orderly teardown for tests: kill everything, stop the server and dispatcher, send nothing.

        Custom executors are shut down first, as a terminating Mesos agent does (``Slave::shutdown`` shuts every
        framework down: SHUTDOWN to each executor, its container destroyed after its shutdown grace period), so
        an executor that obeys SHUTDOWN ends its tasks itself; nothing of it reaches the master.
        """
        self._shut_down_executors_for_close()
        self._stop_server()
        runs = self._destroy_everything()
        with self._lock:
            self._closed = True
            self._cv.notify_all()
            runners = list(self._runners)
        self._kill_runs(runs)
        for thread in runners:
            thread.join(timeout=10)
        if self._dispatcher is not None:
            self._dispatcher.join(timeout=5)
            self._dispatcher = None

    # -- master -> agent ----------------------------------------------------

    def launch(self, framework_info: dict, task_info: dict, launch_executor: bool | None = None) -> None:
        """Start running a (master-validated) task; returns at once.

        A task with an ExecutorInfo goes to that executor (:meth:`_launch_on_executor_locked`);
        ``launch_executor`` is the master's ``RunTaskMessage.launch_executor`` for it.
        """
        framework_id = framework_info["id"]["value"]
        task_id = task_info["task_id"]["value"]
        if self._partitioned:
            log.info("agent %s: partitioned; the launch of task %s never arrives", self.id, task_id)
            return
        container_id = str(uuid_module.uuid4())
        directory = run_directory(self.work_dir, self.id, framework_id, task_id, container_id)
        with self._lock:
            framework = self._frameworks.get(framework_id)
            if framework is None or framework.removed:
                framework = self._frameworks[framework_id] = AgentFramework(framework_info)
                self._completed_frameworks.pop(framework_id, None)
            else:
                framework.info = framework_info
            key = (framework_id, task_id)
            previous = self._tasks.get(key)
            task = AgentTask(framework_id, task_info, container_id, directory, self._epoch,
                             resources=_task_resources(task_info))
            if previous is not None and not previous.completed:
                # Same id still known here: refuse without touching the live one.
                self._emit_locked(task, "TASK_FAILED", "SOURCE_AGENT", reason="REASON_TASK_INVALID",
                                  message=f"Task '{task_id}' is already known to this agent", track=False)
                return
            if isinstance(task_info.get("executor"), dict):
                self._launch_on_executor_locked(framework, task_info, task.resources, launch_executor)
                return
            self._tasks[key] = task
            runner = threading.Thread(target=self._run_task, args=(task,), daemon=True,
                                      name=f"agent-{self.id}-task-{task_id}")
            self._runners = [t for t in self._runners if t.is_alive()] + [runner]
            runner.start()

    def kill(self, framework_id: str, task_id: str, kill_policy: dict | None = None) -> None:
        """Kill a task: SIGTERM (``docker stop``), SIGKILL after the grace period; returns at once."""
        with self._lock:
            if self._partitioned:
                log.info("agent %s: partitioned; the kill of task %s never arrives", self.id, task_id)
                return
            task = self._tasks.get((framework_id, task_id))
            if task is not None and task.executor_id and not task.terminated:
                self._kill_executor_task_locked(task, kill_policy)   # the executor kills it (KILL event)
                return
            if task is None or task.terminated or task.killed:
                return
            task.killed = True
            grace = grace_seconds(kill_policy)
            if grace is not None:
                task.kill_grace = grace
            framework = self._frameworks.get(framework_id)
            run = self._runs.get(task.container_id)
            started = task.state in ("TASK_STARTING", "TASK_RUNNING")
            if started and framework is not None and framework.capable("TASK_KILLING_STATE"):
                self._emit_locked(task, "TASK_KILLING", "SOURCE_EXECUTOR")
            if run is not None and started:
                self._start_kill(task, run)
            # Otherwise the runner sees `killed` before it starts the task.

    def _start_kill(self, task: AgentTask, run) -> None:
        grace = task.kill_grace
        if grace is None:
            grace = DEFAULT_DOCKER_STOP_TIMEOUT if task.kind == "docker" else DEFAULT_COMMAND_KILL_GRACE
        threading.Thread(target=run.kill, args=(grace,), daemon=True, name=f"kill-{task.task_id}").start()

    def acknowledge(self, framework_id: str, task_id: str, uuid: bytes) -> None:
        """Pop the task's head update if ``uuid`` matches; the next queued one is then sent."""
        with self._lock:
            if self._partitioned:
                return  # lost on the way; the update is sent again after the partition heals
            popped = self._updates.acknowledge(framework_id, task_id, uuid)
            if popped is None:
                return
            task = self._tasks.get((framework_id, task_id))
            if task is not None and is_terminal(popped.state):
                task.completed = True
                executor = self._executor_of(task)
                if executor is not None:
                    executor.complete_task(task_id)
                    if executor.state == "TERMINATED" and not executor.incomplete_tasks():
                        executor.removed = True
                self._maybe_complete_framework(framework_id)
            self._cv.notify_all()

    def shutdown_framework(self, framework_id: str) -> None:
        """The framework is gone: kill its tasks, drop its pending updates, report nothing more."""
        with self._lock:
            if self._partitioned:
                # Lost too: Mesos shuts such a framework down when the agent re-registers (master.cpp
                # __reregisterSlave); here the master's books already hold its tasks as killed.
                log.info("agent %s: partitioned; the shutdown of framework %s never arrives", self.id, framework_id)
                return
            framework = self._frameworks.get(framework_id)
            if framework is None:
                return
            framework.removed = True
            self._updates.drop_framework(framework_id)
            self._shutdown_framework_executors_locked(framework_id)
            for (fid, _), task in list(self._tasks.items()):
                if fid != framework_id or task.terminated or task.executor_id:
                    continue
                task.killed = True
                run = self._runs.get(task.container_id)
                if run is not None and task.state in ("TASK_STARTING", "TASK_RUNNING"):
                    self._start_kill(task, run)
            self._maybe_complete_framework(framework_id)

    def _maybe_complete_framework(self, framework_id: str) -> None:
        framework = self._frameworks.get(framework_id)
        if framework is None:
            return
        live = [t for (fid, _), t in self._tasks.items() if fid == framework_id and not t.completed
                and not (framework.removed and t.terminated)]
        # Framework::idle: no executor left either (a custom executor outlives its tasks).
        executors = [e for (fid, _), e in self._executors.items() if fid == framework_id and not e.removed]
        if not live and not executors:
            # Its tasks stay in self._tasks so completed_frameworks can list their executors.
            self._completed_frameworks[framework_id] = self._frameworks.pop(framework_id)

    # -- runner -------------------------------------------------------------

    def _run_task(self, task: AgentTask) -> None:
        run = None
        try:
            create_run_directory(task.directory)
            self._attach(task)
            plan = self._plan(task)
            if plan.kind != "process" and self._run_labels:
                # Beside the task's own labels; container_labels() still adds airflow-mesos.local and the ids.
                plan.docker_options["labels"] = {**plan.docker_options.get("labels", {}), **self._run_labels}
            task.kind = plan.kind
            if task.kill_grace is None:
                task.kill_grace = plan.kill_grace
            if plan.kind == "process":
                run = ProcessRun(plan, task.directory)
            elif self.docker_client is None:
                raise LaunchError("None of the enabled containerizers (mesos) could create a container for the "
                                  "provided TaskInfo/ExecutorInfo message (this agent has no Docker engine)")
            else:
                from airflow_mesos.local.docker_containerizer import DockerRun

                run = DockerRun(plan, task.directory, client=self.docker_client, agent_id=self.id,
                                secrets_dir=self.work_dir / "secrets" / task.container_id)
            with self._lock:
                if task.epoch != self._epoch:
                    return
                self._runs[task.container_id] = run
                task.has_container = True
            if plan.fetch:
                self._fetch(task, plan)
            run.prepare()
            with self._lock:
                if task.killed:
                    self._emit_locked(task, "TASK_KILLED", "SOURCE_AGENT", reason="REASON_TASK_KILLED_DURING_LAUNCH",
                                      message="Task killed before it was launched")
                    task.terminated = True
                    run.cleanup()
                    self._runs.pop(task.container_id, None)
                    return
                self._emit_locked(task, "TASK_STARTING", "SOURCE_EXECUTOR")
                seconds = max_completion_seconds(task.task_info)
                if seconds is not None:
                    # The executors start this timer when they launch the task (executor.cpp, docker/executor.cpp).
                    task.completion_deadline = self.clock.monotonic() + seconds
                    self._timed_tasks.append(task)
                    self._cv.notify_all()
            self._stderr_line(task, f"Starting task {task.task_id}")
            run.start()
        except LaunchError as exc:
            self._launch_failed(task, run, str(exc))
            return
        except Exception as exc:  # a bug or an engine failure must fail this task, never the agent
            log.exception("agent %s: launching task %s failed", self.id, task.task_id)
            self._launch_failed(task, run, f"{type(exc).__name__}: {exc}")
            return

        ips = run.network_ips(self.spec.hostname)
        with self._lock:
            self._emit_locked(task, "TASK_RUNNING", "SOURCE_EXECUTOR", ips=ips)
            if task.killed and not task.terminated:
                self._start_kill(task, run)
        info = run.wait()
        plan_mem = getattr(getattr(run, "plan", None), "mem_mb", None)
        with self._lock:
            killed, timed_out = task.killed, task.completion_timed_out
        outcome = terminal_update(run.message_prefix, info, killed=killed, mem_mb=plan_mem,
                                  completion_timed_out=timed_out)
        self._stderr_line(task, outcome["message"])
        with self._lock:
            task.terminated = True
            self._emit_locked(task, outcome["state"], outcome["source"], reason=outcome.get("reason"),
                              message=outcome["message"], ips=ips)
            framework = self._frameworks.get(task.framework_id)
            if framework is not None and framework.removed:
                self._maybe_complete_framework(task.framework_id)
        run.cleanup()
        self._forget_run(task)

    def _forget_run(self, task: AgentTask) -> None:
        """The task's run is over (and cleaned up): the agent no longer holds it."""
        with self._lock:
            if task.epoch == self._epoch:
                self._runs.pop(task.container_id, None)

    def _plan(self, task: AgentTask) -> RunSpec:
        """plan_run, with any unexpected error turned into a LaunchError (so TASK_FAILED, not a dead thread).

        The master hands over type-checked TaskInfos, so this guards against our own bugs; the exception
        text may quote TaskInfo values (possibly secrets), so the traceback goes to DEBUG only.
        """
        try:
            return plan_run(task.task_info, framework_id=task.framework_id, agent_id=self.id,
                               container_id=task.container_id, sandbox_dir=str(task.directory),
                               agent_endpoint=f"{self.spec.hostname}:{self.port}")
        except LaunchError:
            raise
        except Exception as exc:
            # Type and key errors name types and field names; other texts could quote values, so leave them out.
            detail = f"{type(exc).__name__}: {exc}" if isinstance(exc, (TypeError, AttributeError, KeyError)) \
                else type(exc).__name__
            log.warning("agent %s: cannot plan task %s: malformed TaskInfo (%s)", self.id, task.task_id, detail)
            log.debug("agent %s: planning task %s failed", self.id, task.task_id, exc_info=exc)
            raise LaunchError(f"Malformed TaskInfo ({detail})") from None

    def _fetch(self, task: AgentTask, plan: RunSpec) -> None:
        """The fetcher, before the containerizer starts anything: its log goes to the sandbox's stderr; a URI that
        cannot be fetched fails the launch, in the words of ``FetcherProcess::run``."""
        try:
            self._fetcher.fetch(plan.fetch, task.directory, user=plan.user,
                                log=lambda line: self._stderr_line(task, line))
        except FetchError:
            raise LaunchError(f"Failed to fetch all URIs for container '{task.container_id}': exited with status 1") \
                from None

    def _launch_failed(self, task: AgentTask, run, message: str) -> None:
        if run is not None:
            try:
                run.cleanup()
            except Exception:
                pass
        with self._lock:
            task.terminated = True
            self._emit_locked(task, "TASK_FAILED", "SOURCE_AGENT", reason="REASON_CONTAINER_LAUNCH_FAILED",
                              message=f"Failed to launch container: {message}")
        self._forget_run(task)

    def _stderr_line(self, task: AgentTask, line: str) -> None:
        """Executor lines go to stderr, as the Mesos executors log there; stdout stays the task's own."""
        try:
            with open(task.directory / "stderr", "a", encoding="utf-8") as handle:
                handle.write(line + "\n")
        except OSError:
            pass

    def _attach(self, task: AgentTask) -> None:
        executor_dir = task.directory.parent.parent
        self._files.attach(task.directory, str(task.directory))
        self._files.attach(task.directory, str(executor_dir / "runs" / "latest"))
        self._files.attach(task.directory, virtual_latest(task.framework_id, task.task_id))

    # -- updates ------------------------------------------------------------

    def _emit_locked(self, task: AgentTask, state: str, source: str, *, reason: str | None = None,
                     message: str | None = None, ips: list[str] | None = None, track: bool = True) -> None:
        """Create an update with a fresh uuid and queue it (caller holds the lock)."""
        if task.epoch != self._epoch:
            return  # from before a crash: that process is gone, it reports nothing
        framework = self._frameworks.get(task.framework_id) or self._completed_frameworks.get(task.framework_id)
        # A removed framework gets no more updates (Mesos drops them with its executors); the agent's own
        # view of the task still changes.
        send = not (framework is not None and framework.removed)
        now = self.clock.time()
        container_status: dict = {"container_id": {"value": task.container_id}}
        if ips:
            container_status["network_infos"] = [{"ip_addresses": [{"ip_address": ip} for ip in ips]}]
        status = {
            "task_id": {"value": task.task_id},
            "state": state,
            "source": source,
            "agent_id": {"value": self.id},
            "executor_id": {"value": task.executor_id or task.task_id},
            "timestamp": now,
            "uuid": encode_uuid(new_uuid()),
            "container_status": container_status,
        }
        if message:
            status["message"] = message
        if reason:
            status["reason"] = reason
        if track:
            task.state = state
            entry = {"state": state, "timestamp": now, "container_status": container_status}
            task.statuses.append(entry)
            executor = self._executor_of(task)
            if executor is not None:
                # An update the agent generates for an executor's task (kill before delivery, the executor's
                # end) moves it as the executor's own would (Executor::updateTaskState).
                executor.task_update(task, state)
                if is_terminal(state):
                    task.terminated = True
        if send:
            self._updates.add(task.framework_id, task.task_id, status)
            self._cv.notify_all()

    def _dispatch_loop(self) -> None:
        while True:
            with self._cv:
                if self._closed:
                    return
                now = self.clock.monotonic()
                if self._timed_tasks:
                    self._timed_tasks = [t for t in self._timed_tasks if not t.terminated and not t.completion_timed_out]
                for task in overdue(self._timed_tasks, now):
                    self._completion_timeout_locked(task)
                next_executor_deadline = self._executor_timers_locked(now)
                sending = self._server is not None and not self._partitioned
                due = self._updates.due(now) if sending else []
                # Messages to a master the agent is cut off from are lost (Mesos sends them once, unreliably).
                outbox, self._outbox = (self._outbox, []) if sending or self._partitioned else ([], self._outbox)
                if not due and not outbox:
                    deadlines = [d for d in (self._updates.next_deadline() if sending else None,
                                             next_completion_deadline(self._timed_tasks), next_executor_deadline)
                                 if d is not None]
                    timeout = 1.0 if not deadlines else min(max(min(deadlines) - now, 0.01), 1.0)
                    self._cv.wait(timeout)
                    continue
                master = self._master
            for update in due:
                try:
                    master.status_update(self.id, update.framework_id, dict(update.status))
                except Exception:  # the master's bug must not stop updates of other tasks
                    log.exception("agent %s: master rejected a status update of task %s", self.id, update.task_id)
            for message in outbox if sending else []:
                try:
                    getattr(master, message[0])(self.id, *message[1:])
                except Exception:
                    log.exception("agent %s: the master failed on %s", self.id, message[0])

    def _completion_timeout_locked(self, task: AgentTask) -> None:
        """``taskCompletionTimeout``: kill the task at once (no grace, no TASK_KILLING); its end is TASK_FAILED
        with REASON_MAX_COMPLETION_TIME_REACHED."""
        log.info("agent %s: killing task %s, which exceeded its max_completion_time", self.id, task.task_id)
        task.completion_timed_out = True
        task.killed = True
        task.kill_grace = 0.0
        run = self._runs.get(task.container_id)
        if run is not None and task.state in ("TASK_STARTING", "TASK_RUNNING"):
            self._start_kill(task, run)
        # Otherwise the runner kills it as soon as it has started (it sees `killed`).

    def wait_runners_ended(self, timeout: float = 30.0) -> bool:
        """Wait until every task runner started so far has ended (those of tasks a crash forgot too).

        Runners are what generate status updates, so once they have ended and :meth:`pending_updates` is
        empty, nothing more can reach the master: tests prove "no more updates" with this instead of
        sleeping.  Returns False if a runner is still alive after ``timeout`` seconds.
        """
        with self._lock:
            runners = list(self._runners)
        # Real time, whatever self.clock is: a thread join blocks in real time.
        deadline = time.monotonic() + timeout
        for thread in runners:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            self._runners = [t for t in self._runners if t.is_alive()]
        return not any(t.is_alive() for t in runners)

    def pending_updates(self) -> list[dict]:
        """Updates not yet acknowledged (for tests and debugging)."""
        with self._lock:
            return [dict(u.status) for u in self._updates.pending()]

    # -- views --------------------------------------------------------------

    def live_tasks(self) -> list[dict]:
        """``[{framework_id, task_id, state}]`` of the non-terminal tasks."""
        with self._lock:
            return [{"framework_id": fid, "task_id": tid, "state": t.state}
                    for (fid, tid), t in self._tasks.items() if not is_terminal(t.state)]

    def state(self) -> dict:
        """The agent ``/state`` JSON (Mesos' agent shape; secret values never appear)."""
        return self.render(agent_views.agent_state)

    def render(self, view_fn: Callable[[AgentView], T]) -> T:
        """``view_fn`` of a consistent view of the agent, under its lock (see :mod:`.agent_views`)."""
        with self._lock:
            return view_fn(self._view())

    def _view(self) -> AgentView:
        resources = self.spec.resources()
        return AgentView(
            id=self.id, hostname=self.spec.hostname, port=self.port, pid=self.pid, start_time=self._start_time,
            registered=self._server is not None, resources=resources, attributes=dict(self.spec.attributes),
            attribute_list=self.spec.attribute_list(),
            total=Resources.from_json(resources, f"agent {self.id} resources"), flags=self.flags(),
            frameworks=dict(self._frameworks), completed_frameworks=dict(self._completed_frameworks),
            tasks=dict(self._tasks), executors=dict(self._executors),
            completed_executor_runs=tuple(self._completed_executor_runs))

    def flags(self) -> dict[str, str]:
        """The flags ``/state`` and ``/flags`` show (a subset of a real agent's)."""
        return {
            "work_dir": str(self.work_dir),
            "containerizers": "docker,mesos" if self.docker_client is not None else "mesos",
            "sandbox_directory": "/mnt/mesos/sandbox",
            "docker_stop_timeout": f"{DEFAULT_DOCKER_STOP_TIMEOUT:g}secs",
            "executor_registration_timeout": stringify_duration(self.executor_registration_timeout),
            "executor_shutdown_grace_period": stringify_duration(self.executor_shutdown_grace_period),
        }

    def now(self) -> float:
        return self.clock.time()

    @property
    def files(self) -> FileServer:
        """The sandboxes this agent serves under ``/files`` and the operator API's files calls."""
        return self._files


def _task_resources(task_info: dict) -> Resources:
    """A task's resources; the master validated them, so a bad list (our bug) only costs the metrics."""
    try:
        return Resources.from_json([r for r in task_info.get("resources") or [] if isinstance(r, dict)],
                                   "resources")
    except InvalidResources:
        return Resources()
