"""The task supervisor's exit watch (airflow_mesos.supervisor_exit): a pidfd that wakes its select on exit."""

from __future__ import annotations

import os
import selectors

import pytest

from airflow_mesos import supervisor_exit

pytestmark = pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="pidfds are Linux 5.3+ and Python 3.9+")


def _child_waiting_on_a_pipe() -> tuple[int, int]:
    """A child that exits when the returned pipe end is closed: (pid, write end)."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(write)
        os.read(read, 1)
        os._exit(7)
    os.close(read)
    return pid, write


def test_the_watch_is_readable_only_once_the_process_has_exited_and_waitpid_then_finds_it():
    pid, release = _child_waiting_on_a_pipe()
    selector = selectors.DefaultSelector()
    try:
        watch = supervisor_exit.watch_exit(selector, pid)
        assert watch is not None
        assert selector.select(timeout=0) == []  # alive: nothing to say
        os.close(release)
        events = selector.select(timeout=60)
        assert [key.fileobj for key, _ in events] == [watch]
        # What the supervisor does next (its poll): the exit is there to be reaped, not a moment later.
        reaped, status = os.waitpid(pid, os.WNOHANG)
        assert reaped == pid and os.waitstatus_to_exitcode(status) == 7
    finally:
        selector.close()


def test_an_entry_is_handled_as_the_supervisor_handles_its_sockets_and_then_gone():
    pid, release = _child_waiting_on_a_pipe()
    selector = selectors.DefaultSelector()
    try:
        watch = supervisor_exit.watch_exit(selector, pid)
        os.close(release)
        (key, _), = selector.select(timeout=60)
        # Airflow's _service_subprocess: data is (handler, on_close); a False handler result closes the entry.
        handler, on_close = key.data
        assert handler(key.fileobj) is False
        on_close(key.fileobj)
        key.fileobj.close()
        assert selector.get_map() == {}
        assert watch.fileno() == -1
        os.waitpid(pid, 0)
    finally:
        selector.close()


def test_a_process_already_reaped_is_not_watched():
    pid, release = _child_waiting_on_a_pipe()
    os.close(release)
    os.waitpid(pid, 0)
    selector = selectors.DefaultSelector()
    try:
        assert supervisor_exit.watch_exit(selector, pid) is None
        assert selector.get_map() == {}
    finally:
        selector.close()


def test_install_wraps_the_supervisors_wait_once_and_watches_the_task_process(monkeypatch):
    from airflow.sdk.execution_time.supervisor import ActivitySubprocess

    calls = []

    def stand_in_wait(self):
        calls.append(self)
        return 0

    monkeypatch.setattr(ActivitySubprocess, "wait", stand_in_wait)
    assert supervisor_exit.install() is True
    assert supervisor_exit.install() is True  # a second call does not wrap the wrapper
    assert ActivitySubprocess.wait.__wrapped__ is stand_in_wait

    pid, release = _child_waiting_on_a_pipe()

    class Supervised:
        selector = selectors.DefaultSelector()
        _exit_code = None

        class _process:
            pass

    Supervised._process.pid = pid
    task = Supervised()
    try:
        assert ActivitySubprocess.wait(task) == 0
        assert calls == [task]
        watched = list(task.selector.get_map().values())
        assert len(watched) == 1 and isinstance(watched[0].fileobj, supervisor_exit._ExitWatch)
    finally:
        os.close(release)
        os.waitpid(pid, 0)
        task.selector.close()
