"""The warm executor's edge: one loop that feeds the core and performs what it decides.

Everything that happens (an agent event from the stream's thread, a task's start
or exit from the runner's thread, a SIGTERM, a timer) goes through one queue to
the loop in :meth:`WarmExecutor.run`, which hands it to
:class:`~airflow_mesos.warm.core.WarmExecutorCore` with the time and carries out
the instructions: SUBSCRIBE and POST through :class:`~airflow_mesos.warm.agent_link.AgentLink`,
start/signal/release through the task runner, log, exit.  The clock, the
transport and the runner are injectable.

The executor's own log (stderr, the executor's sandbox ``stderr``) names tasks,
states and uuids, never a TaskInfo's ``data``, the token or a task's environment.
"""

from __future__ import annotations

import base64
import logging
import queue
import random as random_module
import signal
import threading
import uuid as uuid_module
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from airflow_mesos.clock import SYSTEM_CLOCK, Clock
from airflow_mesos.mesos.transport import HttpxTransport, Transport
from airflow_mesos.warm import core as c
from airflow_mesos.warm.agent_link import AgentLink
from airflow_mesos.warm.payload import TaskPayload
from airflow_mesos.warm.protocol import AcknowledgedEvent, AgentEvent, LaunchEvent, ShutdownEvent
from airflow_mesos.warm.runner import ForkServerRunner, TaskStartError
from airflow_mesos.warm.settings import ExecutorSettings

__all__ = ["TaskRunner", "WarmExecutor", "new_status_uuid"]

log = logging.getLogger("airflow_mesos.warm")


def new_status_uuid() -> str:
    """16 random bytes in base64, as ``id::UUID::random()`` in a JSON TaskStatus."""
    return base64.b64encode(uuid_module.uuid4().bytes).decode("ascii")


class TaskRunner(Protocol):
    def start_server(self) -> None: ...
    def start(self, task_id: str, payload: TaskPayload) -> None: ...
    def signal(self, task_id: str, sig: int) -> None: ...
    def release(self, task_id: str, line: str) -> None: ...
    def close(self) -> None: ...


class WarmExecutor:
    """The running executor.

    :param settings: from :func:`~airflow_mesos.warm.settings.settings_from_env`.
    :param base_environment: what every task's environment starts from (no secrets).
    :param transport: HTTP seam (default httpx).
    :param clock: time seam (default the system clock).
    :param runner_factory: ``runner_factory(sandbox, base_environment, report) -> TaskRunner``
        (default :class:`~airflow_mesos.warm.runner.ForkServerRunner`).
    """

    def __init__(self, settings: ExecutorSettings, base_environment: Mapping[str, str], *,
                 transport: Transport | None = None, clock: Clock | None = None,
                 runner_factory: Callable[..., TaskRunner] | None = None,
                 new_uuid: Callable[[], str] = new_status_uuid,
                 random: Callable[[], float] = random_module.random) -> None:
        self.settings = settings
        self.clock = clock or SYSTEM_CLOCK
        self._transport = transport or HttpxTransport()
        self._queue: queue.Queue[tuple[str, int, Any]] = queue.Queue()
        self.core = c.WarmExecutorCore(
            c.CoreConfig(framework_id=settings.framework_id, executor_id=settings.executor_id,
                         checkpoint=settings.checkpoint, recovery_timeout=settings.recovery_timeout,
                         subscription_backoff_max=settings.subscription_backoff_max,
                         shutdown_grace=settings.shutdown_grace, idle_timeout=settings.idle_timeout),
            new_uuid=new_uuid, random=random)
        self.link = AgentLink(settings.agent_url, self._transport,
                              lambda generation, event: self._queue.put(("agent", generation, event)),
                              auth_token=settings.auth_token)
        factory = runner_factory or ForkServerRunner
        self.runner = factory(settings.sandbox, base_environment, lambda event: self._queue.put(("edge", 0, event)))
        self._stream_generation = 0

    def request_shutdown(self) -> None:
        """As a SHUTDOWN from the agent (the executor got SIGTERM): kill the tasks gracefully, then exit."""
        self._queue.put(("edge", 0, ShutdownEvent()))

    def run(self) -> int:
        """Subscribe, serve until the core exits; the exit status."""
        log.info("warm executor %s of framework %s starting; agent %s; idle timeout %g s",
                 self.settings.executor_id, self.settings.framework_id, self.settings.agent_url,
                 self.settings.idle_timeout)
        try:
            self.runner.start_server()
            self._perform(self.core.start(self.clock.monotonic()))
            while self.core.exited is None:
                wake = self.core.next_wakeup()
                timeout = None if wake is None else max(0.0, wake - self.clock.monotonic())
                try:
                    source, generation, event = self._queue.get(timeout=timeout)
                except queue.Empty:
                    source, generation, event = "edge", 0, c.Tick()
                if source == "agent" and generation != self._stream_generation:
                    continue  # from a stream an newer SUBSCRIBE replaced
                self._describe(event)
                self._perform(self.core.handle(event, self.clock.monotonic(), self.clock.time()))
        finally:
            log.debug("closing the agent link")
            self.link.close()
            log.debug("stopping the fork server")
            self.runner.close()
            log.debug("closing the transport")
            self._transport.close()
        exited = self.core.exited
        assert exited is not None
        log.info("warm executor exits (%d): %s", exited.code, exited.reason)
        return exited.code

    def _describe(self, event: AgentEvent | c.EdgeEvent) -> None:
        if isinstance(event, c.Tick):
            return
        if isinstance(event, LaunchEvent):
            log.info("LAUNCH of task %s", event.task_id)  # never the TaskInfo: its data holds the token
        elif isinstance(event, AcknowledgedEvent):
            log.debug("%r", event)
        else:
            log.info("%r", event)

    def _perform(self, instructions: list[c.Instruction]) -> None:
        for instruction in instructions:
            if isinstance(instruction, c.Subscribe):
                self._stream_generation = self.link.subscribe(instruction.call)
            elif isinstance(instruction, c.SendUpdate):
                if self.core.waits_for_resend(instruction.uuid):
                    continue  # an earlier update of its task failed just now: it goes after that one
                log.info("UPDATE %s of task %s (uuid %s)", instruction.state, instruction.task_id, instruction.uuid)
                failed = self.link.post(instruction.call)
                if failed is not None:
                    log.warning("UPDATE %s not taken: %s", instruction.uuid, failed.reason)
                    # At once, before anything else is sent, so the task's later updates wait behind it.
                    self._perform(self.core.handle(failed, self.clock.monotonic(), self.clock.time()))
            elif isinstance(instruction, c.SendCall):
                failed = self.link.post(instruction.call)
                if failed is not None:
                    log.warning("%s call not taken: %s", instruction.call.get("type"), failed.reason)
            elif isinstance(instruction, c.StartTask):
                try:
                    self.runner.start(instruction.task_id, instruction.payload)
                except TaskStartError as exc:
                    self._queue.put(("edge", 0, c.TaskStartFailed(instruction.task_id, str(exc))))
            elif isinstance(instruction, c.SignalTask):
                log.info("signal %s to task %s", signal.Signals(instruction.signal).name, instruction.task_id)
                self.runner.signal(instruction.task_id, instruction.signal)
            elif isinstance(instruction, c.ReleaseTask):
                log.info("task %s: %s", instruction.task_id, instruction.line)
                self.runner.release(instruction.task_id, instruction.line)
            elif isinstance(instruction, c.Log):
                log.log(logging.getLevelName(instruction.level.upper()), "%s", instruction.message)
            elif isinstance(instruction, c.Exit):
                pass  # the loop ends on core.exited
            else:
                raise TypeError(f"unknown instruction {instruction!r}")


def install_sigterm(executor: WarmExecutor) -> None:
    """SIGTERM/SIGINT to the executor: a graceful shutdown (tasks killed with the shutdown grace)."""
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: executor.request_shutdown())
