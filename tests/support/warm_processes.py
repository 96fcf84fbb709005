"""Finding the warm executors (``python -m airflow_mesos.warm``) that run as processes on this host."""

from __future__ import annotations

import os
from pathlib import Path


def warm_executor_pids(executor_id: str, sandbox: str | None = None) -> list[int]:
    """The processes that are the warm executor ``executor_id``; with ``sandbox``, only those whose sandbox it
    is (their working directory, or their ``MESOS_DIRECTORY``): one executor id runs on every agent."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            environ = Path(f"/proc/{entry}/environ").read_bytes().split(b"\0")
            cwd = os.readlink(f"/proc/{entry}/cwd") if sandbox is not None else None
        except OSError:
            continue
        if b"airflow_mesos.warm" not in cmdline or f"MESOS_EXECUTOR_ID={executor_id}".encode() not in environ:
            continue
        if sandbox is None or os.path.realpath(cwd) == os.path.realpath(sandbox) \
                or f"MESOS_DIRECTORY={sandbox}".encode() in environ:
            pids.append(int(entry))
    return pids
