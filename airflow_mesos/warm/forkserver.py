"""The warm executor's fork server: imports Airflow's worker once, then forks one process per task.

``python -m airflow_mesos.warm.forkserver`` is started by the executor
(:class:`~airflow_mesos.warm.runner.ForkServerRunner`) with one end of a Unix
socket pair as its stdin; nothing else is in its argv or environment that the
executor's own environment does not hold.  It:

1. imports what running a workload needs (:func:`airflow_mesos.worker.preload`)
   and the task entry (:data:`DEFAULT_ENTRY`; ``AIRFLOW_MESOS_WARM_TASK_ENTRY`` is a
   seam for tests and benchmarks), and says ``ready``;
2. for each ``start`` request forks a task process that, before anything else,
   gets its own session (so a kill reaches its whole process group), a
   parent-death signal (SIGKILL when this server dies), its stdout/stderr
   appended to the files named in the request, the sandbox directory as working
   directory and the request's environment; then runs the entry with the
   workload JSON, which carries the token: the token goes from the executor to
   the task through this socket and the fork's memory only, never an
   environment variable, argument or file;
3. sends the executor's SIGTERM/SIGKILL to a task's process group (here, where the
   pid cannot have been reused: the child is not reaped yet), reaps its children
   (and, as a subreaper, the orphans they leave), reports each exit (code or
   signal), and SIGKILLs what a task left running in its process group, as Mesos
   destroys a task's container when its command ends;
4. when the executor's end of the socket closes (the executor exited or was
   killed), SIGKILLs the process group of every task still running and exits,
   so an executor that dies takes its tasks with it.

This process has a single thread, so fork is safe; ``ready`` reports the thread
count after the imports so that a module that started a thread is noticed.

Frames on the socket are a 4-byte big-endian length and a JSON object.
"""

from __future__ import annotations

import ctypes
import gc
import importlib
import json
import logging
import os
import selectors
import signal
import socket
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable

__all__ = ["DEFAULT_ENTRY", "FrameReader", "main", "resolve_entry", "write_frame"]

DEFAULT_ENTRY = "airflow_mesos.worker:run_workload_json"
"""What a task process runs: the fresh worker's own code path, given the workload JSON."""

_HEADER = struct.Struct(">I")
MAX_FRAME = 64 * 1024 * 1024
_PR_SET_PDEATHSIG = 1
_PR_SET_CHILD_SUBREAPER = 36
EXIT_ENTRY_RAISED = 1


def write_frame(sock: socket.socket, message: dict) -> None:
    body = json.dumps(message, separators=(",", ":")).encode()
    sock.sendall(_HEADER.pack(len(body)) + body)


class FrameReader:
    """Incremental frame decoder (sans I/O): ``feed(bytes) -> list[dict]``."""

    def __init__(self) -> None:
        self._buffer = bytearray()

    def feed(self, data: bytes) -> list[dict]:
        self._buffer += data
        frames = []
        while len(self._buffer) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(self._buffer)
            if size > MAX_FRAME:
                raise ValueError(f"fork server frame of {size} bytes is over the limit of {MAX_FRAME}")
            if len(self._buffer) < _HEADER.size + size:
                break
            body = bytes(self._buffer[_HEADER.size:_HEADER.size + size])
            del self._buffer[:_HEADER.size + size]
            frames.append(json.loads(body))
        return frames


def resolve_entry(spec: str) -> Callable[[str], int]:
    """``"package.module:function"`` -> the function (imported now, so forks start with it loaded)."""
    module_name, colon, attribute = spec.partition(":")
    if not colon or not module_name or not attribute:
        raise ValueError(f"task entry {spec!r} is not of the form 'package.module:function'")
    return getattr(importlib.import_module(module_name), attribute)


def _prctl(option: int, value: int) -> None:
    try:
        ctypes.CDLL(None, use_errno=True).prctl(option, value, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: the server's SIGKILL of the task groups on EOF still applies


def _set_parent_death_signal() -> None:
    _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def _run_task(request: dict, entry: Callable[[str], int], server_pid: int, close_fds: list[int]) -> None:
    """In the forked child: never returns."""
    code = EXIT_ENTRY_RAISED
    try:
        os.setsid()
        _set_parent_death_signal()
        if os.getppid() != server_pid:  # the server died between fork and prctl
            os._exit(EXIT_ENTRY_RAISED)
        for fd in close_fds:
            try:
                os.close(fd)
            except OSError:
                pass
        for sig in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        signal.set_wakeup_fd(-1)
        flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
        out = os.open(request["stdout"], flags, 0o644)
        err = os.open(request["stderr"], flags, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(out, 1)
        os.dup2(err, 2)
        for fd in (null, out, err):
            os.close(fd)
        os.chdir(request["cwd"])
        os.environ.clear()
        os.environ.update(request["environment"])
        _refresh_airflow_settings()
        workload_json = request.pop("workload")
        code = int(entry(workload_json) or 0)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else EXIT_ENTRY_RAISED)
    except BaseException:
        # As an uncaught exception in a fresh worker: through sys.excepthook, which the worker's logging
        # set-up replaced with one that logs it (JSON on stdout).
        try:
            sys.excepthook(*sys.exc_info())
        except BaseException:
            traceback.print_exc()
        code = EXIT_ENTRY_RAISED
    finally:
        # As a process of Airflow's own (the supervisor's task process, a LocalExecutor worker): no exit
        # handlers inherited from the parent, but the log handlers flushed and closed.
        try:
            logging.shutdown()
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _refresh_airflow_settings() -> None:
    """Re-read the module-level settings Airflow computed at import time from the task's environment.

    ``airflow.settings`` keeps ``DAGS_FOLDER`` (where the default bundle looks) and the database URL
    as globals set on import; the task's ``AIRFLOW__CORE__DAGS_FOLDER`` must win as in a fresh worker.
    Every other option is read from the environment when it is asked for.
    """
    settings = sys.modules.get("airflow.settings")
    if settings is not None and hasattr(settings, "configure_vars"):
        settings.configure_vars()


class _Server:
    def __init__(self, sock: socket.socket, entry: Callable[[str], int]) -> None:
        self.sock = sock
        self.entry = entry
        self.children: dict[int, str] = {}  # pid -> task id
        self.wake_r, self.wake_w = os.pipe()
        os.set_blocking(self.wake_r, False)
        os.set_blocking(self.wake_w, False)

    def serve(self) -> None:
        _prctl(_PR_SET_CHILD_SUBREAPER, 1)
        signal.signal(signal.SIGCHLD, lambda *_: None)
        signal.set_wakeup_fd(self.wake_w)
        # The executor's SIGTERM/SIGINT is for the executor; this server ends when its socket closes.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        selector = selectors.DefaultSelector()
        selector.register(self.sock, selectors.EVENT_READ)
        selector.register(self.wake_r, selectors.EVENT_READ)
        reader = FrameReader()
        try:
            while True:
                for key, _ in selector.select():
                    if key.fileobj is self.wake_r:
                        try:
                            while os.read(self.wake_r, 512):
                                pass
                        except BlockingIOError:
                            pass
                        self._reap()
                        continue
                    data = self.sock.recv(65536)
                    if not data:
                        return
                    for request in reader.feed(data):
                        if request.get("op") == "start":
                            self._start(request, selector)
                        elif request.get("op") == "signal":
                            self._signal(str(request.get("task_id")), int(request.get("signal", 0)))
                self._reap()
        finally:
            self._kill_all()

    def _start(self, request: dict, selector: selectors.BaseSelector) -> None:
        task_id = str(request.get("task_id"))
        # Nothing buffered in this process may be written again by each child.
        sys.stdout.flush()
        sys.stderr.flush()
        try:
            pid = os.fork()
        except OSError as exc:
            write_frame(self.sock, {"op": "start_failed", "task_id": task_id, "error": f"fork failed: {exc}"})
            return
        if pid == 0:
            close = [self.sock.fileno(), self.wake_r, self.wake_w]
            try:
                close.append(selector.fileno())
            except (AttributeError, NotImplementedError):
                pass
            _run_task(request, self.entry, os.getppid(), close)
        request.clear()  # the token leaves this process' data as soon as the child has it
        self.children[pid] = task_id
        write_frame(self.sock, {"op": "started", "task_id": task_id, "pid": pid})

    def _signal(self, task_id: str, sig: int) -> None:
        # Here and not in the executor: a child is not reaped before this loop reaps it, so its pid (its
        # process group's id) cannot have been reused by an unrelated process.
        for pid, child_task in self.children.items():
            if child_task == task_id:
                try:
                    os.killpg(pid, sig)
                except ProcessLookupError:
                    # Between fork and setsid there is no group of that id yet: signal the child alone.
                    try:
                        os.kill(pid, sig)
                    except ProcessLookupError:
                        pass
                return

    def _reap(self) -> None:
        # Also what a task left behind: as a subreaper this server is the parent of its tasks' orphans
        # (in a container the executor would otherwise be their init, and never reap them).
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            task_id = self.children.pop(pid, None)
            if task_id is None:
                continue
            # What the task left running in its group goes with it, as a Mesos task's container is destroyed
            # when its command ends (the group's id is not reused while any member lives).
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            message = {"op": "exited", "task_id": task_id, "pid": pid}
            if os.WIFSIGNALED(status):
                message["signal"] = os.WTERMSIG(status)
            else:
                message["exit_code"] = os.waitstatus_to_exitcode(status)
            write_frame(self.sock, message)

    def _kill_all(self) -> None:
        for pid in list(self.children):
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            except PermissionError:
                os.kill(pid, signal.SIGKILL)


def main() -> int:
    sock = socket.socket(fileno=os.dup(0))
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    started = time.monotonic()
    cpu = time.process_time()
    entry_spec = os.environ.get("AIRFLOW_MESOS_WARM_TASK_ENTRY") or DEFAULT_ENTRY
    try:
        from airflow_mesos import worker

        # No collection while importing, then everything imported moved out of the collector's reach
        # (gc.freeze): a task's collections would otherwise write to every page of these objects and copy
        # them all from this process (copy-on-write), as Airflow's LocalExecutor avoids for its workers.
        gc.disable()
        # Always the worker's imports, also under a test entry: what a task starts from is the same.
        worker.preload()
        entry = resolve_entry(entry_spec)
        gc.freeze()
        gc.enable()
    except BaseException as exc:
        traceback.print_exc()
        write_frame(sock, {"op": "failed", "error": f"cannot import the task entry {entry_spec!r}: "
                                                    f"{type(exc).__name__}: {exc}"})
        return 1
    try:
        write_frame(sock, {"op": "ready", "pid": os.getpid(), "threads": threading.active_count(),
                           "preload_seconds": round(time.monotonic() - started, 3),
                           "preload_cpu_seconds": round(time.process_time() - cpu, 3), "entry": entry_spec})
        _Server(sock, entry).serve()
    except (BrokenPipeError, ConnectionResetError):
        pass
    # No interpreter shutdown: the exit handlers here are those of the imports made for the tasks (Airflow's
    # dispose_orm and others), not this server's, and one of them was seen to hang for seconds in a container.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    raise SystemExit(main())
