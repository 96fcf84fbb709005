"""Airflow's task supervisor learns of its task process' exit at once, not a heartbeat interval later.

Airflow 3.3's supervisor (``airflow.sdk.execution_time.supervisor.ActivitySubprocess``)
waits in ``select()`` on the task process' sockets and, after each wake-up, polls
``waitpid(WNOHANG)`` for its exit.  A process closes its descriptors a moment
before the kernel makes it a zombie; when the poll comes in that moment, the
next ``select()`` has no socket left to wake it, and sleeps until its timeout:
``[workers] min_heartbeat_interval``, 5 s, with the task already done.  The
moment is longer the larger the exiting process: forked from a process that has
imported Airflow and the DAG parser (as a warm executor's tasks are), it lost
that race in about half of the tasks of the 200-task fan-out, each then holding
its Mesos task and its Airflow slot 5 s longer (docs/warm-workers.md).

:func:`install` makes the supervisor also wait on a pidfd of the task process,
which becomes readable exactly when the process has exited, so the poll that
follows finds it.  It is called in our worker processes only (a fresh
interpreter's and a warm executor's tasks), never in Airflow's own components,
and does nothing where pidfds are unavailable (before Linux 5.3) or where
Airflow's class no longer has the shape this was written for.
"""

from __future__ import annotations

import os
import selectors

_INSTALLED = "_airflow_mesos_exit_watch"


class _ExitWatch:
    """A pidfd in the supervisor's selector, shaped as its sockets are (``fileno``, ``close``)."""

    def __init__(self, pidfd: int) -> None:
        self._fd = pidfd

    def fileno(self) -> int:
        return self._fd

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


def watch_exit(selector: selectors.BaseSelector, pid: int) -> _ExitWatch | None:
    """Register a pidfd of ``pid`` in ``selector`` with the ``(handler, on_close)`` data Airflow's
    supervisor expects of its entries: readable once, when the process has exited, and then removed."""
    if not hasattr(os, "pidfd_open"):
        return None
    try:
        watch = _ExitWatch(os.pidfd_open(pid))
    except OSError:
        return None  # already reaped, or no pidfds on this kernel

    def on_readable(_watch: _ExitWatch) -> bool:
        return False  # one event is all it carries: the supervisor then unregisters and closes it

    def on_close(entry: _ExitWatch) -> None:
        try:
            selector.unregister(entry)
        except (KeyError, ValueError):
            pass

    try:
        selector.register(watch, selectors.EVENT_READ, (on_readable, on_close))
    except (KeyError, ValueError, OSError):
        watch.close()
        return None
    return watch


def install() -> bool:
    """Wrap ``ActivitySubprocess.wait`` so that each task process is watched from its start; once."""
    try:
        from airflow.sdk.execution_time.supervisor import ActivitySubprocess
    except ImportError:
        return False
    original = ActivitySubprocess.wait
    if getattr(original, _INSTALLED, False):
        return True
    if not hasattr(os, "pidfd_open"):
        return False

    def wait(self, *args, **kwargs):
        selector = getattr(self, "selector", None)
        process = getattr(self, "_process", None)
        pid = getattr(process, "pid", None)
        if selector is not None and isinstance(pid, int) and getattr(self, "_exit_code", None) is None:
            watch_exit(selector, pid)
        return original(self, *args, **kwargs)

    setattr(wait, _INSTALLED, True)
    wait.__wrapped__ = original
    wait.__doc__ = original.__doc__
    ActivitySubprocess.wait = wait
    return True
