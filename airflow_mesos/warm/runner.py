"""The warm executor's task runner: the executor's side of the fork server.

:class:`ForkServerRunner` starts ``python -m airflow_mesos.warm.forkserver`` once
(see that module: it imports Airflow's worker, then forks one process per task),
sends it a ``start`` per task and reports, through the callback it was given,
each task's start and exit as :mod:`~airflow_mesos.warm.core` events.

Each task gets ``$MESOS_SANDBOX/tasks/<task_id>/`` as its working directory,
with its ``stdout`` and ``stderr`` there (the agent's ``/files`` serves the
executor's sandbox, so the scheduler's ``get_task_log`` finds them); its stderr
begins with ``Starting task <id>`` and ends with the exit line, as the command
executor writes them.  Its environment is the executor's (the ExecutorInfo's
command environment and the agent's ``MESOS_*``) with ``MESOS_TASK_ID`` and the
payload's environment on top.

The fork server imported Airflow with the executor's environment, and Airflow
reads part of its configuration once, on import: which file (``AIRFLOW_HOME``,
``AIRFLOW_CONFIG``) and options kept in module constants (``[workers]
execution_api_retries`` and ``execution_api_timeout``, the heartbeat settings,
``[api] ssl_cert`` ...).  So a warm task's Airflow settings must be its
executor's: a payload that sets one of those variables or any ``AIRFLOW__*``
option to another value than the executor's environment fails with a message
naming it, instead of running with a setting silently not applied.  The
exceptions are the options that are read when a task runs
(:data:`PER_TASK_OPTIONS`).
"""

from __future__ import annotations

import logging
import os
import signal as signal_module
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Mapping
from pathlib import Path

from airflow_mesos.warm.core import EdgeEvent, TaskExited, TaskStarted, TaskStartFailed
from airflow_mesos.warm.forkserver import FrameReader, write_frame
from airflow_mesos.warm.payload import TaskPayload

__all__ = ["ENTRY_VAR", "ForkServerRunner", "IMPORT_TIME_VARS", "PER_TASK_OPTIONS", "TaskStartError",
           "import_time_conflict", "task_directory"]

log = logging.getLogger(__name__)

ENTRY_VAR = "AIRFLOW_MESOS_WARM_TASK_ENTRY"
"""A test and benchmark seam: ``module:function`` the fork server runs instead of the worker."""

IMPORT_TIME_VARS = ("AIRFLOW_HOME", "AIRFLOW_CONFIG")
"""Read once, when Airflow is imported (which configuration file it parses)."""

PER_TASK_OPTIONS = frozenset({
    "AIRFLOW__CORE__EXECUTION_API_SERVER_URL",  # read by run_workload (get_execution_api_server_url)
    "AIRFLOW__CORE__DAGS_FOLDER",  # re-read in each task (airflow.settings.configure_vars)
})
"""Airflow options a warm task may set for itself: Airflow reads them when the task runs."""

_FORKSERVER_MODULE = "airflow_mesos.warm.forkserver"


class TaskStartError(Exception):
    """A task cannot be started; the message says why (it becomes the TASK_FAILED message)."""


def task_directory(sandbox: str | os.PathLike, task_id: str) -> Path:
    return Path(sandbox) / "tasks" / task_id


def import_time_conflict(task_environment: Mapping[str, str], executor_environment: Mapping[str, str]) -> str | None:
    """Why the task's Airflow settings cannot be the warm executor's, or ``None`` when they are."""
    for name in sorted(task_environment):
        if name not in IMPORT_TIME_VARS and (not name.startswith("AIRFLOW__") or name in PER_TASK_OPTIONS):
            continue
        wanted, imported = task_environment[name], executor_environment.get(name)
        if wanted != imported:
            # Values are not shown: an AIRFLOW__ option may hold a secret (a connection URI, a key).
            shown = "unset" if imported is None else "another value"
            return (f"the task sets {name}, but its warm executor imported Airflow with {name} {shown}: Airflow "
                    "reads it once, on import, so a warm task's Airflow settings must be its executor's (give the "
                    "executor's ExecutorInfo the same environment, or run the task as a command task)")
    return None


def _append_line(path: Path, line: str) -> None:
    try:
        with open(path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
    except OSError as exc:
        log.warning("cannot write to %s: %s", path, exc)


class ForkServerRunner:
    """Starts, signals and watches the tasks, through one fork server process.

    :param sandbox: the executor's sandbox (``MESOS_SANDBOX``).
    :param base_environment: the environment every task starts from (the executor's, without secrets).
    :param report: called with each :class:`TaskStarted`, :class:`TaskStartFailed`, :class:`TaskExited`,
        from the runner's reader thread.
    :param python: the interpreter for the fork server.
    """

    def __init__(self, sandbox: str | os.PathLike, base_environment: Mapping[str, str],
                 report: Callable[[EdgeEvent], None], *, python: str = sys.executable) -> None:
        self.sandbox = Path(sandbox)
        self.base_environment = dict(base_environment)
        self._report = report
        self._python = python
        self._lock = threading.Lock()
        self._process: subprocess.Popen | None = None
        self._sock: socket.socket | None = None
        self._pending: set[str] = set()   # start sent, no answer yet
        self._running: dict[str, int] = {}  # started, not exited: task id -> pid (its process group's id)
        self._server_generation = 0
        self.ready = threading.Event()
        self.ready_info: dict = {}
        self._closing = False

    # -- the fork server ---------------------------------------------------------------------------------

    def start_server(self) -> None:
        """Start the fork server now (its imports run while the executor subscribes)."""
        with self._lock:
            self._ensure_server_locked()

    def _ensure_server_locked(self) -> socket.socket:
        if self._sock is not None and self._process is not None and self._process.poll() is None:
            return self._sock
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            # The socket is its stdin: nothing about the tasks is in its argv or environment.
            self._process = subprocess.Popen(
                [self._python, "-m", _FORKSERVER_MODULE], stdin=theirs, env=self.base_environment,
                cwd=self.sandbox, close_fds=True)
        finally:
            theirs.close()
        self._sock = ours
        self._server_generation += 1
        self.ready.clear()
        threading.Thread(target=self._read, args=(ours, self._process, self._server_generation),
                         name="warm-forkserver-reader", daemon=True).start()
        log.info("fork server started (pid %d)", self._process.pid)
        return ours

    def _read(self, sock: socket.socket, process: subprocess.Popen, generation: int) -> None:
        reader = FrameReader()
        try:
            while True:
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    break
                for message in reader.feed(data):
                    self._on_message(message)
        finally:
            code = process.wait()
            self._server_gone(generation, code)

    def _on_message(self, message: dict) -> None:
        op = message.get("op")
        task_id = str(message.get("task_id", ""))
        if op == "ready":
            self.ready_info = message
            if message.get("threads", 1) > 1:
                log.error("the fork server has %s threads after its imports: forking it is not safe",
                          message.get("threads"))
            log.info("fork server ready: imports took %.2f s (%.2f CPU-s), task entry %s",
                     message.get("preload_seconds", 0.0), message.get("preload_cpu_seconds", 0.0),
                     message.get("entry"))
            self.ready.set()
        elif op == "failed":
            log.error("fork server failed: %s", message.get("error"))
        elif op == "started":
            with self._lock:
                self._pending.discard(task_id)
                self._running[task_id] = int(message["pid"])
            self._report(TaskStarted(task_id, int(message["pid"])))
        elif op == "start_failed":
            with self._lock:
                self._pending.discard(task_id)
            self._report(TaskStartFailed(task_id, str(message.get("error"))))
        elif op == "exited":
            with self._lock:
                self._running.pop(task_id, None)
            self._report(TaskExited(task_id, message.get("exit_code"), message.get("signal")))

    def _server_gone(self, generation: int, code: int | None) -> None:
        with self._lock:
            if generation != self._server_generation:
                return
            pending, running = sorted(self._pending), dict(self._running)
            self._pending.clear()
            self._running.clear()
            self._sock = None
            self._process = None
        if pending or running or (code and not self._closing):
            log.error("the fork server exited (status %s) with %d task(s) starting and %d running",
                      code, len(pending), len(running))
        for task_id in pending:
            self._report(TaskStartFailed(task_id, f"the fork server exited with status {code} before "
                                                  "starting the task"))
        for task_id, pid in sorted(running.items()):
            # The task's first process got SIGKILL from its parent-death signal; what it started may live on
            # in its process group.  Linux hands out no pid that is still a group's id, so while anything of
            # that group lives the id is still theirs.
            try:
                os.killpg(pid, signal_module.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self._report(TaskExited(task_id, None, signal_module.SIGKILL))

    # -- tasks ----------------------------------------------------------------------------------------------

    def start(self, task_id: str, payload: TaskPayload) -> None:
        """Ask for the task's process; the answer comes through ``report``.

        :raises TaskStartError: the task cannot run here (the message says why).
        """
        problem = import_time_conflict(payload.environment, self.base_environment)
        if problem is not None:
            raise TaskStartError(problem)
        directory = task_directory(self.sandbox, task_id)
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise TaskStartError(f"cannot create the task directory {directory}: {exc.strerror}") from None
        _append_line(directory / "stderr", f"Starting task {task_id}")
        environment = {**self.base_environment, "MESOS_TASK_ID": task_id, **payload.environment}
        request = {"op": "start", "task_id": task_id, "cwd": str(directory),
                   "stdout": str(directory / "stdout"), "stderr": str(directory / "stderr"),
                   "environment": environment, "workload": payload.full_workload_json()}
        with self._lock:
            try:
                sock = self._ensure_server_locked()
                write_frame(sock, request)
            except OSError as exc:
                raise TaskStartError(f"cannot reach the fork server: {exc}") from None
            self._pending.add(task_id)

    def signal(self, task_id: str, sig: int) -> None:
        """Send ``sig`` to the task's process group (through the fork server, which knows it is alive)."""
        with self._lock:
            sock = self._sock
        if sock is None:
            return
        try:
            write_frame(sock, {"op": "signal", "task_id": task_id, "signal": int(sig)})
        except OSError as exc:
            log.warning("cannot signal task %s: %s", task_id, exc)

    def release(self, task_id: str, line: str) -> None:
        """The task is over: its exit line goes to its stderr."""
        directory = task_directory(self.sandbox, task_id)
        if "/" in task_id or task_id in (".", ".."):
            return
        try:
            directory.mkdir(parents=True, exist_ok=True)
        except OSError:
            return
        _append_line(directory / "stderr", line)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the fork server: closing its socket makes it SIGKILL whatever task is left, and exit."""
        with self._lock:
            self._closing = True
            sock, process = self._sock, self._process
        if process is not None and not self.ready.is_set():
            process.kill()  # still importing: it has no task to take down, nothing to wait for
        if sock is not None:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()
        if process is not None:
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()

    @property
    def server_pid(self) -> int | None:
        with self._lock:
            return self._process.pid if self._process is not None else None
