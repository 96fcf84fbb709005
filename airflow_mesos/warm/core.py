"""The warm executor's decisions, as a pure state machine: stimuli in, instructions out.

The edge (:mod:`~airflow_mesos.warm.runtime`) holds the HTTP connection to the
agent, the task runner and the clock.  It feeds :class:`WarmExecutorCore` what
happened (an event from the agent, a SUBSCRIBE that failed, a task's process
started or exited, time passed), each with the time, and performs the
instructions it gets back (open the SUBSCRIBE stream with this call, POST this
UPDATE, start this task, send SIGTERM to that one, exit).  Nothing here does
I/O, reads a clock or starts a thread; the uuids and the backoff's randomness
come from functions passed in.

What it follows, from Mesos 1.11's own executors (``src/launcher/executor.cpp``,
``src/launcher/default_executor.cpp``) and their library (``src/executor/executor.cpp``):

- every UPDATE has a fresh uuid and is kept until the agent ACKNOWLEDGEs it; a
  SUBSCRIBE carries the unacknowledged updates and the tasks none of whose
  updates were acknowledged yet, so nothing is lost across a reconnection;
  an UPDATE POST the agent did not take (503, no answer) is sent again after
  :data:`UPDATE_RETRY_SECONDS` while subscribed;
- a SUBSCRIBE answered 503/404 (agent still recovering) is retried every
  :data:`SUBSCRIBE_RETRY_SECONDS`;
- losing the agent: with ``MESOS_CHECKPOINT`` we reconnect (at once, then after a
  random share of ``MESOS_SUBSCRIPTION_BACKOFF_MAX``) until ``MESOS_RECOVERY_TIMEOUT``
  has passed since the disconnection; without it, or after it, we shut down;
- KILL: TASK_KILLING (when the framework has TASK_KILLING_STATE), SIGTERM to the
  task's process group, SIGKILL after the grace period (the KILL's kill policy,
  else the task's, else :data:`DEFAULT_KILL_GRACE_SECONDS`), then TASK_KILLED; a
  later KILL with a shorter grace brings the SIGKILL forward;
- a task's exit: TASK_FINISHED for status 0, else TASK_FAILED, with the
  command executor's message (``Command exited with status 1``, ``Command
  terminated with signal Killed``); ``max_completion_time`` kills with no grace
  and fails with REASON_MAX_COMPLETION_TIME_REACHED;
- SHUTDOWN: kill every task with the shutdown grace less :data:`SHUTDOWN_MARGIN_SECONDS`,
  then exit once their terminal updates are acknowledged (or after
  :data:`TERMINAL_ACK_WAIT_SECONDS`); after ``MESOS_EXECUTOR_SHUTDOWN_GRACE_PERIOD``
  whatever is left gets SIGKILL and the executor exits, as the library's
  ``ShutdownProcess`` does.

Ours: a LAUNCH whose ``TaskInfo.data`` is not a payload (:mod:`~airflow_mesos.warm.payload`)
fails that one task with the payload error; a LAUNCH of a task id this executor
still holds is refused (it would be a second process under one id); after
``idle_timeout`` seconds with no task the executor exits cleanly, and a LAUNCH
that arrives before it is gone cancels that.
"""

from __future__ import annotations

import enum
import signal as signal_module
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_mesos.warm import protocol
from airflow_mesos.warm.payload import PayloadError, TaskPayload, decode_task_data
from airflow_mesos.warm.protocol import (
    AcknowledgedEvent,
    AgentEvent,
    ErrorEvent,
    HeartbeatEvent,
    KillEvent,
    LaunchEvent,
    LaunchGroupEvent,
    MessageEvent,
    ShutdownEvent,
    SubscribedEvent,
    UnknownEvent,
)

__all__ = [
    "CoreConfig",
    "Exit",
    "Instruction",
    "Log",
    "ReleaseTask",
    "SendCall",
    "SendUpdate",
    "SignalTask",
    "StartTask",
    "Subscribe",
    "SubscribeFailed",
    "StreamClosed",
    "TaskExited",
    "TaskStartFailed",
    "TaskStarted",
    "Tick",
    "UpdateSendFailed",
    "WarmExecutorCore",
]

DEFAULT_KILL_GRACE_SECONDS = 3.0
"""The command executor's grace when neither the KILL nor the task sets a kill policy."""
SHUTDOWN_MARGIN_SECONDS = 2.0
"""Taken off the shutdown grace for the tasks' SIGTERM, so their SIGKILL and the terminal updates still
fit before the agent destroys the container (the command executor takes off its reap interval and 1 s)."""
SUBSCRIBE_RETRY_SECONDS = 1.0
"""The executors' ``doReliableRegistration`` period."""
UPDATE_RETRY_SECONDS = 1.0
MIN_RECONNECT_SECONDS = 0.05
TERMINAL_ACK_WAIT_SECONDS = 60.0
"""The default executor's fail-safe: exit even if the agent never acknowledges the last updates."""
FIRST_TASK_GRACE_SECONDS = 10.0
"""The shortest wait for a first task: the agent started this executor for one and sends it right after
SUBSCRIBED, so even an idle timeout of 0 must not end the executor before it came."""
HEARTBEAT_CALL_SECONDS = 30 * 60.0
"""The v1 executor library's ``DEFAULT_HEARTBEAT_CALL_INTERVAL``."""

EXIT_OK = 0
EXIT_AGENT_LOST = 1


# --- stimuli from the edge ------------------------------------------------------------------------


class EdgeEvent:
    __slots__ = ()


@dataclass(frozen=True)
class SubscribeFailed(EdgeEvent):
    """The SUBSCRIBE got no stream.

    ``kind``: ``"unavailable"`` (the agent answered 503 or 404: still recovering, retry),
    ``"refused"`` (another HTTP answer: it will not take us) or ``"connection"`` (no answer).
    """

    kind: str
    reason: str


@dataclass(frozen=True)
class StreamClosed(EdgeEvent):
    """The SUBSCRIBE stream ended or broke."""

    reason: str


@dataclass(frozen=True)
class UpdateSendFailed(EdgeEvent):
    uuid: str
    reason: str
    retryable: bool


@dataclass(frozen=True)
class TaskStarted(EdgeEvent):
    task_id: str
    pid: int


@dataclass(frozen=True)
class TaskStartFailed(EdgeEvent):
    task_id: str
    message: str


@dataclass(frozen=True)
class TaskExited(EdgeEvent):
    task_id: str
    exit_code: int | None
    """``None`` when a signal ended it."""
    signal: int | None = None


@dataclass(frozen=True)
class Tick(EdgeEvent):
    """Time passed (the edge ticks at :meth:`WarmExecutorCore.next_wakeup`)."""


# --- instructions -----------------------------------------------------------------------------------


class Instruction:
    __slots__ = ()


@dataclass(frozen=True)
class Subscribe(Instruction):
    """Open the SUBSCRIBE stream with this call (dropping any stream still open)."""

    call: dict[str, Any] = field(repr=False)


@dataclass(frozen=True)
class SendUpdate(Instruction):
    uuid: str
    task_id: str
    state: str
    call: dict[str, Any] = field(repr=False, compare=False)


@dataclass(frozen=True)
class SendCall(Instruction):
    """POST a call that needs no acknowledgement (HEARTBEAT)."""

    call: dict[str, Any]


@dataclass(frozen=True)
class StartTask(Instruction):
    task_id: str
    payload: TaskPayload = field(compare=False)


@dataclass(frozen=True)
class SignalTask(Instruction):
    """Send ``signal`` to the task's process group."""

    task_id: str
    signal: int


@dataclass(frozen=True)
class ReleaseTask(Instruction):
    """The task is over: write ``line`` to its stderr (as the command executor's exit line) and let it go."""

    task_id: str
    line: str


@dataclass(frozen=True)
class Log(Instruction):
    level: str
    message: str


@dataclass(frozen=True)
class Exit(Instruction):
    code: int
    reason: str


# --- state ------------------------------------------------------------------------------------------------


class Link(enum.Enum):
    DISCONNECTED = "disconnected"  # no stream; reconnecting if recovering, else about to exit
    SUBSCRIBING = "subscribing"    # SUBSCRIBE sent (or due again), no SUBSCRIBED yet
    SUBSCRIBED = "subscribed"


class TaskPhase(enum.Enum):
    STARTING = "starting"      # TASK_STARTING sent; the runner is starting its process
    RUNNING = "running"        # its process runs (TASK_RUNNING sent unless a kill came first)
    TERMINATED = "terminated"  # the terminal update is sent; kept until all its updates are acknowledged


@dataclass(slots=True)
class _Task:
    task_id: str
    info: dict[str, Any]
    kill_policy_grace: float | None
    completion_seconds: float | None
    phase: TaskPhase = TaskPhase.STARTING
    pid: int | None = None
    acknowledged: bool = False
    """Some update of this task was acknowledged: the agent knows it, so a SUBSCRIBE need not carry it."""
    unacked: set[str] = field(default_factory=set)
    killed: bool = False
    kill_grace: float | None = None
    kill_started: float | None = None
    sigkill_at: float | None = None
    sigkill_sent: bool = False
    completion_deadline: float | None = None
    completion_timed_out: bool = False


@dataclass(frozen=True)
class CoreConfig:
    framework_id: str
    executor_id: str
    checkpoint: bool
    recovery_timeout: float
    subscription_backoff_max: float
    shutdown_grace: float
    idle_timeout: float


@dataclass(slots=True)
class _Ending:
    why: str
    code: int
    started: float
    hard_deadline: float | None
    """When whatever still runs gets SIGKILL and we exit (SHUTDOWN: the shutdown grace)."""
    idle: bool = False


def _valid_task_id(task_id: str) -> str | None:
    """Why ``task_id`` cannot name a directory under the sandbox, or ``None``."""
    if task_id in (".", "..") or "/" in task_id or "\0" in task_id:
        return f"task id {task_id!r} cannot be a sandbox directory name"
    return None


def describe_exit(exit_code: int | None, signal: int | None) -> str:
    """The command executor's ``"Command " + WSTRINGIFY(status)``."""
    if signal is not None:
        try:
            name = signal_module.strsignal(signal) or f"signal {signal}"
        except ValueError:
            name = f"signal {signal}"
        return f"Command terminated with signal {name}"
    return f"Command exited with status {exit_code}"


class WarmExecutorCore:
    """Everything the warm executor decides.

    :param config: ids and timeouts (from :func:`~airflow_mesos.warm.settings.settings_from_env`).
    :param new_uuid: a fresh status uuid, base64 text (default: 16 random bytes).
    :param random: a float in [0, 1) for the reconnection backoff.
    """

    def __init__(self, config: CoreConfig, *, new_uuid: Callable[[], str], random: Callable[[], float]) -> None:
        self.config = config
        self._new_uuid = new_uuid
        self._random = random
        self.link = Link.DISCONNECTED
        self._ever_subscribed = False
        self._subscribe_at: float | None = None
        self._recovery_deadline: float | None = None
        self._killing_state = False
        self._tasks: dict[str, _Task] = {}
        self._unacked: dict[str, dict[str, Any]] = {}  # uuid -> Call.Update, in send order
        self._update_task: dict[str, str] = {}  # uuid -> task id
        self._resend_at: dict[str, float] = {}
        self._idle_since: float | None = None
        self._ever_launched = False
        self._ending: _Ending | None = None
        self._heartbeat_at: float | None = None
        self.exited: Exit | None = None

    # -- views (for the edge's logs and the tests) ----------------------------------------------------

    @property
    def live_task_ids(self) -> list[str]:
        return [t.task_id for t in self._tasks.values() if t.phase is not TaskPhase.TERMINATED]

    @property
    def held_task_ids(self) -> list[str]:
        return list(self._tasks)

    @property
    def unacknowledged_uuids(self) -> list[str]:
        return list(self._unacked)

    def waits_for_resend(self, uuid: str) -> bool:
        """The update is due to be sent again later (the edge must not send it now)."""
        return uuid in self._resend_at

    def next_wakeup(self) -> float | None:
        """The earliest time the core wants a :class:`Tick`, or ``None``."""
        if self.exited is not None:
            return None
        times = [self._subscribe_at, self._recovery_deadline]
        if self.link is Link.SUBSCRIBED:  # resends and heartbeats go out on a subscription only
            times += [self._heartbeat_at, *self._resend_at.values()]
        for task in self._tasks.values():
            if task.phase is TaskPhase.TERMINATED:
                continue
            if task.sigkill_at is not None and not task.sigkill_sent:
                times.append(task.sigkill_at)
            if task.completion_deadline is not None and not task.killed:
                times.append(task.completion_deadline)
        if self._ending is not None:
            if self._ending.hard_deadline is not None:
                times.append(self._ending.hard_deadline)
            if not self.live_task_ids:
                times.append(self._ending.started + TERMINAL_ACK_WAIT_SECONDS)
        elif self._idle_since is not None and self.link is Link.SUBSCRIBED:
            times.append(self._idle_deadline())
        present = [t for t in times if t is not None]
        return min(present) if present else None

    # -- entry points ----------------------------------------------------------------------------------

    def start(self, now: float) -> list[Instruction]:
        """The executor just started: subscribe."""
        out: list[Instruction] = []
        self._subscribe(out)
        return out

    def handle(self, event: AgentEvent | EdgeEvent, now: float, wall: float) -> list[Instruction]:
        """Apply ``event`` at monotonic time ``now`` (``wall``: epoch seconds, for status timestamps)."""
        if self.exited is not None:
            return []
        out: list[Instruction] = []
        handler = _HANDLERS.get(type(event))
        if handler is None:
            raise TypeError(f"WarmExecutorCore cannot handle {type(event).__name__}")
        handler(self, event, now, wall, out)
        self._on_time(now, wall, out)
        return out

    # -- connection ------------------------------------------------------------------------------------

    def _subscribe(self, out: list[Instruction]) -> None:
        self.link = Link.SUBSCRIBING
        self._subscribe_at = None
        tasks = [t.info for t in self._tasks.values() if not t.acknowledged and t.phase is not TaskPhase.TERMINATED]
        call = protocol.subscribe_call(self.config.framework_id, self.config.executor_id, tasks,
                                       list(self._unacked.values()))
        out.append(Subscribe(call))

    def _on_subscribed(self, event: SubscribedEvent, now: float, wall: float, out: list[Instruction]) -> None:
        if self.link is Link.SUBSCRIBED:
            out.append(Log("warning", "SUBSCRIBED again on a subscribed stream; ignored"))
            return
        first = not self._ever_subscribed
        self.link = Link.SUBSCRIBED
        self._ever_subscribed = True
        self._subscribe_at = None
        self._recovery_deadline = None
        # The SUBSCRIBE carried every unacknowledged update: nothing is waiting to be re-sent.
        self._resend_at.clear()
        self._killing_state = "TASK_KILLING_STATE" in event.framework_capabilities
        self._heartbeat_at = now + HEARTBEAT_CALL_SECONDS
        if first and not self._tasks and self._ending is None:
            self._idle_since = now
        out.append(Log("info", f"Subscribed on agent {event.agent_hostname or '?'}"
                               + ("" if first else " again (reconnected)")))

    def _on_subscribe_failed(self, event: SubscribeFailed, now: float, wall: float, out: list[Instruction]) -> None:
        if self.link is Link.SUBSCRIBED:
            return  # a stale answer from before the current stream
        if event.kind == "unavailable":
            out.append(Log("warning", f"SUBSCRIBE not taken yet ({event.reason}); retrying in "
                                      f"{SUBSCRIBE_RETRY_SECONDS:g} s"))
            self.link = Link.SUBSCRIBING
            self._subscribe_at = now + SUBSCRIBE_RETRY_SECONDS
            return
        if event.kind == "refused":
            out.append(Log("error", f"the agent refused the SUBSCRIBE: {event.reason}"))
            self._lose_agent(f"the agent refused the SUBSCRIBE ({event.reason})", now, wall, out)
            return
        self._disconnected(event.reason, now, wall, out)

    def _on_stream_closed(self, event: StreamClosed, now: float, wall: float, out: list[Instruction]) -> None:
        self._disconnected(event.reason, now, wall, out)

    def _disconnected(self, reason: str, now: float, wall: float, out: list[Instruction]) -> None:
        was_subscribed = self.link is Link.SUBSCRIBED
        self.link = Link.DISCONNECTED
        self._resend_at.clear()
        self._heartbeat_at = None
        if self._ending is not None:
            # Already on the way out (SHUTDOWN or idle): no reconnecting; the exit follows once no task runs.
            self._subscribe_at = None
            self._recovery_deadline = None
            return
        if self._recovery_deadline is not None:
            # Already recovering: the next attempt after a random share of the maximum backoff (and never at
            # once: a refused connection answers in microseconds, and each attempt is a thread at the edge).
            self._subscribe_at = now + max(MIN_RECONNECT_SECONDS, self.config.subscription_backoff_max * self._random())
            return
        if self.config.checkpoint and (was_subscribed or self._ever_subscribed):
            self._recovery_deadline = now + self.config.recovery_timeout
            out.append(Log("warning", f"disconnected from the agent ({reason}); reconnecting for up to "
                                      f"{self.config.recovery_timeout:g} s (MESOS_RECOVERY_TIMEOUT)"))
            self._subscribe(out)
            return
        why = (f"disconnected from the agent ({reason})" if was_subscribed or self._ever_subscribed
               else f"cannot reach the agent ({reason})")
        if not self.config.checkpoint:
            why += "; the framework does not checkpoint, so the executor shuts down"
        self._lose_agent(why, now, wall, out)

    def _lose_agent(self, why: str, now: float, wall: float, out: list[Instruction]) -> None:
        self.link = Link.DISCONNECTED
        self._subscribe_at = None
        self._recovery_deadline = None
        self._begin_ending(why, EXIT_AGENT_LOST, now, wall, out)

    # -- agent events ----------------------------------------------------------------------------------

    def _on_launch(self, event: LaunchEvent, now: float, wall: float, out: list[Instruction]) -> None:
        task_id = event.task_id
        if task_id in self._tasks:
            # A second process under one id would make every later update ambiguous; the first one's
            # updates stay the truth about that id.
            out.append(Log("error", f"LAUNCH of task {task_id} refused: this executor already holds a task "
                                    f"with that id ({self._tasks[task_id].phase.value})"))
            return
        if self._ending is not None and self._ending.idle:
            out.append(Log("info", f"task {task_id} arrived while going idle: staying up"))
            self._ending = None
        info = dict(event.task_info)
        task = _Task(task_id=task_id, info=info, kill_policy_grace=protocol.grace_seconds(info.get("kill_policy")),
                     completion_seconds=_completion_seconds(info))
        self._tasks[task_id] = task
        self._idle_since = None
        self._ever_launched = True
        problem = _valid_task_id(task_id)
        if self._ending is not None:
            problem = f"the executor is shutting down ({self._ending.why})"
        payload: TaskPayload | None = None
        if problem is None:
            try:
                payload = decode_task_data(info.get("data"))
            except PayloadError as exc:
                problem = str(exc)
        if problem is not None or payload is None:
            message = f"Failed to launch task: {problem}"
            out.append(Log("error", f"task {task_id}: {message}"))
            self._terminate(task, "TASK_FAILED", message, None, now, wall, out)
            return
        # The fork first, then the STARTING update: the edge POSTs updates one at a time on its one loop, and the
        # process' start need not wait for that round trip.  RUNNING still follows STARTING: the runner's
        # answer is handled only after these instructions are carried out.
        out.append(StartTask(task_id, payload))
        self._update(task, "TASK_STARTING", now, wall, out)

    def _on_launch_group(self, event: LaunchGroupEvent, now: float, wall: float, out: list[Instruction]) -> None:
        # Task groups belong to the default executor; this one runs Airflow workloads one per task.
        for task_id in event.task_ids:
            if task_id in self._tasks:
                continue
            task = _Task(task_id=task_id, info={"task_id": {"value": task_id}}, kill_policy_grace=None,
                         completion_seconds=None)
            self._tasks[task_id] = task
            self._terminate(task, "TASK_FAILED", "Failed to launch task: LAUNCH_GROUP is not supported by the "
                                                 "airflow-mesos warm executor", None, now, wall, out)

    def _on_kill(self, event: KillEvent, now: float, wall: float, out: list[Instruction]) -> None:
        task = self._tasks.get(event.task_id)
        if task is None or task.phase is TaskPhase.TERMINATED:
            out.append(Log("warning", f"KILL of task {event.task_id} ignored: it is not running here"))
            return
        grace = event.grace_seconds
        if grace is None:
            grace = task.kill_policy_grace if task.kill_policy_grace is not None else DEFAULT_KILL_GRACE_SECONDS
        self._kill(task, grace, now, wall, out)

    def _on_acknowledged(self, event: AcknowledgedEvent, now: float, wall: float, out: list[Instruction]) -> None:
        if self._unacked.pop(event.uuid, None) is None:
            out.append(Log("warning", f"ACKNOWLEDGED of an unknown update {event.uuid} (task {event.task_id})"))
            return
        self._resend_at.pop(event.uuid, None)
        task_id = self._update_task.pop(event.uuid, event.task_id)
        task = self._tasks.get(task_id)
        if task is not None:
            task.acknowledged = True
            task.unacked.discard(event.uuid)
            if task.phase is TaskPhase.TERMINATED and not task.unacked:
                del self._tasks[task_id]

    def _on_shutdown(self, event: ShutdownEvent, now: float, wall: float, out: list[Instruction]) -> None:
        if self._ending is not None and not self._ending.idle:
            return
        self._ending = None
        self._begin_ending("the agent asked for SHUTDOWN", EXIT_OK, now, wall, out)

    def _on_message(self, event: MessageEvent, now: float, wall: float, out: list[Instruction]) -> None:
        # Framework messages are not part of our contract; their content is not ours to print.
        out.append(Log("info", f"MESSAGE of {len(event.data)} bytes from the scheduler ignored"))

    def _on_error(self, event: ErrorEvent, now: float, wall: float, out: list[Instruction]) -> None:
        out.append(Log("error", f"ERROR from the agent: {event.message}"))

    def _on_heartbeat(self, event: HeartbeatEvent, now: float, wall: float, out: list[Instruction]) -> None:
        pass

    def _on_unknown(self, event: UnknownEvent, now: float, wall: float, out: list[Instruction]) -> None:
        out.append(Log("warning", f"event of unknown type {event.type!r} ignored"))

    # -- edge events ---------------------------------------------------------------------------------------

    def _on_update_send_failed(self, event: UpdateSendFailed, now: float, wall: float, out: list[Instruction]) -> None:
        if event.uuid not in self._unacked:
            return
        if event.retryable and self.link is Link.SUBSCRIBED:
            self._resend_at[event.uuid] = now + UPDATE_RETRY_SECONDS
            task = self._tasks.get(self._update_task.get(event.uuid, ""))
            if task is not None:
                # A task's updates must reach the agent in order: its later ones wait behind this one.  The
                # edge reports a failed send before it sends anything else, so none of them went out yet.
                later = False
                for uuid in self._unacked:
                    if uuid == event.uuid:
                        later = True
                    elif later and uuid in task.unacked:
                        self._resend_at[uuid] = now + UPDATE_RETRY_SECONDS
        else:
            out.append(Log("error", f"UPDATE {event.uuid} not taken ({event.reason}); it goes with the next "
                                    "SUBSCRIBE"))

    def _on_task_started(self, event: TaskStarted, now: float, wall: float, out: list[Instruction]) -> None:
        task = self._tasks.get(event.task_id)
        if task is None or task.phase is not TaskPhase.STARTING:
            return
        task.phase = TaskPhase.RUNNING
        task.pid = event.pid
        if task.killed:
            # Killed while its process was being started: the kill runs now, with the grace it was given.
            task.killed = False
            self._kill(task, task.kill_grace or 0.0, now, wall, out)
            return
        if task.completion_seconds is not None:
            task.completion_deadline = now + task.completion_seconds
        self._update(task, "TASK_RUNNING", now, wall, out)

    def _on_task_start_failed(self, event: TaskStartFailed, now: float, wall: float, out: list[Instruction]) -> None:
        task = self._tasks.get(event.task_id)
        if task is None or task.phase is TaskPhase.TERMINATED:
            return
        state = "TASK_KILLED" if task.killed else "TASK_FAILED"
        self._terminate(task, state, f"Failed to launch task: {event.message}", None, now, wall, out)

    def _on_task_exited(self, event: TaskExited, now: float, wall: float, out: list[Instruction]) -> None:
        task = self._tasks.get(event.task_id)
        if task is None or task.phase is TaskPhase.TERMINATED:
            return
        message = describe_exit(event.exit_code, event.signal)
        reason = None
        if task.completion_timed_out:
            state, reason = "TASK_FAILED", "REASON_MAX_COMPLETION_TIME_REACHED"
        elif task.killed:
            state = "TASK_KILLED"
        elif event.exit_code == 0 and event.signal is None:
            state = "TASK_FINISHED"
        else:
            state = "TASK_FAILED"
        self._terminate(task, state, message, reason, now, wall, out)

    def _on_tick(self, event: Tick, now: float, wall: float, out: list[Instruction]) -> None:
        pass

    # -- tasks -----------------------------------------------------------------------------------------------

    def _kill(self, task: _Task, grace: float, now: float, wall: float, out: list[Instruction]) -> None:
        grace = max(0.0, grace)
        if task.phase is TaskPhase.STARTING:
            task.killed = True
            task.kill_grace = grace if task.kill_grace is None else min(task.kill_grace, grace)
            return
        if task.killed:
            # Killed again: a shorter grace brings the SIGKILL forward, a longer one changes nothing.
            assert task.kill_started is not None
            if task.sigkill_sent or task.sigkill_at is None or task.kill_started + grace >= task.sigkill_at:
                return
            task.sigkill_at = task.kill_started + grace
            if task.sigkill_at <= now:
                self._sigkill(task, out)
            return
        task.killed = True
        task.kill_grace = grace
        task.kill_started = now
        task.sigkill_at = now + grace
        # As the command executor: TASK_KILLING only for frameworks that know the state, and not for a
        # max_completion_time kill (that one ends FAILED, not KILLED).
        if self._killing_state and not task.completion_timed_out:
            self._update(task, "TASK_KILLING", now, wall, out)
        out.append(SignalTask(task.task_id, signal_module.SIGTERM))
        if grace <= 0:
            self._sigkill(task, out)

    def _sigkill(self, task: _Task, out: list[Instruction]) -> None:
        task.sigkill_sent = True
        out.append(SignalTask(task.task_id, signal_module.SIGKILL))

    def _update(self, task: _Task, state: str, now: float, wall: float, out: list[Instruction], *,
                message: str | None = None, reason: str | None = None) -> None:
        uuid = self._new_uuid()
        status = protocol.task_status(task_id=task.task_id, state=state, uuid=uuid,
                                      executor_id=self.config.executor_id, timestamp=wall,
                                      message=message, reason=reason)
        call = protocol.update_call(self.config.framework_id, self.config.executor_id, status)
        self._unacked[uuid] = call["update"]
        self._update_task[uuid] = task.task_id
        task.unacked.add(uuid)
        waiting = [self._resend_at[u] for u in task.unacked if u in self._resend_at]
        if waiting:
            # An earlier update of this task waits to be sent again: this one goes after it, never before.
            self._resend_at[uuid] = max(waiting)
        elif self.link is Link.SUBSCRIBED:
            out.append(SendUpdate(uuid, task.task_id, state, call))
        # Not subscribed: the update waits in the unacknowledged ones the next SUBSCRIBE carries.

    def _terminate(self, task: _Task, state: str, message: str, reason: str | None, now: float, wall: float,
                   out: list[Instruction]) -> None:
        task.phase = TaskPhase.TERMINATED
        # The exit line first: whoever reads the log on the terminal update finds it complete.
        out.append(ReleaseTask(task.task_id, message))
        self._update(task, state, now, wall, out, message=message, reason=reason)
        if not self.live_task_ids:
            self._idle_since = now

    # -- ending ---------------------------------------------------------------------------------------------

    def _begin_ending(self, why: str, code: int, now: float, wall: float, out: list[Instruction], *,
                      idle: bool = False) -> None:
        if self._ending is not None and not self._ending.idle:
            return
        hard = None if idle else now + self.config.shutdown_grace
        self._ending = _Ending(why=why, code=code, started=now, hard_deadline=hard, idle=idle)
        out.append(Log("info", f"shutting down: {why}"))
        grace = max(0.0, self.config.shutdown_grace - SHUTDOWN_MARGIN_SECONDS)
        for task in list(self._tasks.values()):
            if task.phase is not TaskPhase.TERMINATED:
                self._kill(task, grace, now, wall, out)

    def _on_time(self, now: float, wall: float, out: list[Instruction]) -> None:
        """Everything that is due at ``now``; then exit if that is where we are."""
        if self.exited is not None:
            return
        if self._recovery_deadline is not None and now >= self._recovery_deadline:
            self._lose_agent(f"the agent did not come back within MESOS_RECOVERY_TIMEOUT "
                             f"({self.config.recovery_timeout:g} s)", now, wall, out)
        if self._subscribe_at is not None and now >= self._subscribe_at:
            self._subscribe(out)
        if self.link is Link.SUBSCRIBED:
            # In the order they were made (a task's updates must reach the agent in order).
            for uuid in [u for u in self._unacked if u in self._resend_at]:
                if now >= self._resend_at[uuid]:
                    del self._resend_at[uuid]
                    update = self._unacked.get(uuid)
                    if update is not None:
                        call = protocol.update_call(self.config.framework_id, self.config.executor_id,
                                                    update["status"])
                        out.append(SendUpdate(uuid, self._update_task.get(uuid, ""), update["status"]["state"],
                                              call))
            if self._heartbeat_at is not None and now >= self._heartbeat_at:
                self._heartbeat_at = now + HEARTBEAT_CALL_SECONDS
                out.append(SendCall(protocol.heartbeat_call(self.config.framework_id, self.config.executor_id)))
        for task in self._tasks.values():
            if task.phase is TaskPhase.TERMINATED:
                continue
            if task.completion_deadline is not None and not task.killed and now >= task.completion_deadline:
                task.completion_timed_out = True
                out.append(Log("info", f"task {task.task_id} exceeded its max_completion_time "
                                       f"({task.completion_seconds:g} s): killing it"))
                self._kill(task, 0.0, now, wall, out)
            elif task.sigkill_at is not None and not task.sigkill_sent and now >= task.sigkill_at:
                out.append(Log("info", f"task {task.task_id} did not end within {task.kill_grace:g} s of "
                                       "SIGTERM: SIGKILL"))
                self._sigkill(task, out)
        if (self._ending is None and self._idle_since is not None and self.link is Link.SUBSCRIBED
                and not self.live_task_ids and now >= self._idle_deadline()):
            self._begin_ending(f"no task for {self.config.idle_timeout:g} s (AIRFLOW_MESOS_WARM_IDLE_TIMEOUT)",
                               EXIT_OK, now, wall, out, idle=True)
        ending = self._ending
        if ending is None:
            return
        if ending.hard_deadline is not None and now >= ending.hard_deadline:
            for task in self._tasks.values():
                if task.phase is not TaskPhase.TERMINATED and not task.sigkill_sent:
                    self._sigkill(task, out)
            self._exit(ending.code, f"{ending.why}; the shutdown grace period "
                                    f"({self.config.shutdown_grace:g} s) is over", out)
            return
        if self.live_task_ids:
            return
        if not self._unacked or self.link is not Link.SUBSCRIBED:
            self._exit(ending.code, ending.why, out)
        elif now >= ending.started + TERMINAL_ACK_WAIT_SECONDS:
            self._exit(ending.code, f"{ending.why}; {len(self._unacked)} update(s) never acknowledged", out)

    def _idle_deadline(self) -> float:
        assert self._idle_since is not None
        wait = self.config.idle_timeout
        if not self._ever_launched:
            wait = max(wait, FIRST_TASK_GRACE_SECONDS)
        return self._idle_since + wait

    def _exit(self, code: int, reason: str, out: list[Instruction]) -> None:
        self.exited = Exit(code, reason)
        out.append(self.exited)


def _completion_seconds(info: Mapping[str, Any]) -> float | None:
    """``max_completion_time`` in seconds, or ``None`` when the task sets none (or none above zero)."""
    seconds = protocol.duration_seconds(info.get("max_completion_time"))
    return seconds if seconds is not None and seconds > 0 else None


_HANDLERS: dict[type, Callable[..., None]] = {
    SubscribedEvent: WarmExecutorCore._on_subscribed,
    LaunchEvent: WarmExecutorCore._on_launch,
    LaunchGroupEvent: WarmExecutorCore._on_launch_group,
    KillEvent: WarmExecutorCore._on_kill,
    AcknowledgedEvent: WarmExecutorCore._on_acknowledged,
    ShutdownEvent: WarmExecutorCore._on_shutdown,
    MessageEvent: WarmExecutorCore._on_message,
    ErrorEvent: WarmExecutorCore._on_error,
    HeartbeatEvent: WarmExecutorCore._on_heartbeat,
    UnknownEvent: WarmExecutorCore._on_unknown,
    SubscribeFailed: WarmExecutorCore._on_subscribe_failed,
    StreamClosed: WarmExecutorCore._on_stream_closed,
    UpdateSendFailed: WarmExecutorCore._on_update_send_failed,
    TaskStarted: WarmExecutorCore._on_task_started,
    TaskStartFailed: WarmExecutorCore._on_task_start_failed,
    TaskExited: WarmExecutorCore._on_task_exited,
    Tick: WarmExecutorCore._on_tick,
}
